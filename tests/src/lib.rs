//! Helpers of the end-to-end tests: a real server on port 0 with fresh
//! storage and a manual clock, and a GraphQL client that speaks to it over
//! HTTP as a front end does.

use api::{Application, ClockKind, EventStoreKind, ReadModelKind, Settings};
use serde_json::{Value, json};

pub mod bench_server;
mod own_postgres;
pub mod smtp;
pub mod workload;

pub use own_postgres::OwnPostgres;

/// How long [`TestApp::settle`] waits for the system.
pub const SETTLE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// A running server.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    backend: std::sync::Arc<api::Backend>,
    _storage: Option<TestStorage>,
}

/// Fresh storage for one test: a data folder, and with
/// `GROUPWARE_TEST_STORE=postgres` a PostgreSQL database of its own for the
/// events and the read models.
pub struct TestStorage {
    dir: tempfile::TempDir,
    database: Option<store::postgres::TestDatabase>,
}

impl TestStorage {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = match std::env::var("GROUPWARE_TEST_STORE").as_deref() {
            // Asked for PostgreSQL, a test never quietly runs on the
            // embedded store instead.
            Ok("postgres") => Some(
                store::postgres::TestDatabase::create()
                    .await
                    .expect("GROUPWARE_TEST_STORE=postgres, but PostgreSQL at DATABASE_URL is not reachable"),
            ),
            _ => None,
        };
        Self { dir, database }
    }

    /// The data folder.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The PostgreSQL database of the events, when the tests run on it.
    pub fn database_url(&self) -> Option<&str> {
        self.database.as_ref().map(|d| d.url.as_str())
    }

    /// Settings for a test server on this storage: any free port, manual
    /// clock, cheap password hashing.
    pub fn settings(&self) -> Settings {
        let (events, read_models) = match &self.database {
            Some(db) => (EventStoreKind::Postgres(db.url.clone()), ReadModelKind::Postgres(db.url.clone())),
            None => (EventStoreKind::Embedded, ReadModelKind::Embedded),
        };
        Settings {
            data_dir: self.dir.path().to_path_buf(),
            events,
            read_models,
            port: 0,
            clock: ClockKind::Manual,
            password_memory_kib: 1024,
            ..Settings::default()
        }
    }
}

impl TestApp {
    /// A server with fresh storage.
    pub async fn spawn() -> Self {
        let storage = TestStorage::new().await;
        let mut app = Self::spawn_with(storage.settings()).await;
        app._storage = Some(storage);
        app
    }

    /// A server with the given settings.
    pub async fn spawn_with(settings: Settings) -> Self {
        let app = Application::build(settings).await.expect("server starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        let backend = app.backend().clone();
        tokio::spawn(app.run_until_stopped());
        let test_app = Self { address, client: reqwest::Client::new(), handle, backend, _storage: None };
        test_app.wait_until_ready().await;
        test_app
    }

    /// Stops the server, once it has caught up with itself
    /// ([`Self::settle`]) when it runs the workers: stopping ends its HTTP
    /// side only, and a second server on the same data folder must not
    /// start while this one's follow-ups are still being written (two
    /// writers of one embedded store hand out the same positions).
    pub async fn stop(self) {
        if self.backend.workers.handled().is_some() {
            self.settle().await;
        }
        self.handle.stop(true).await;
    }

    async fn wait_until_ready(&self) {
        for _ in 0..600 {
            if let Ok(r) = self.client.get(format!("{}/healthz", self.address)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("server never became ready");
    }

    /// Posts a GraphQL request and returns the JSON response.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        response.json().await.expect("JSON response")
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.client.get(format!("{}/metrics", self.address)).send().await.expect("metrics").text().await.expect("text")
    }

    /// The position of the newest event in the store.
    pub async fn head(&self) -> u64 {
        let health: Value =
            self.client.get(format!("{}/healthz", self.address)).send().await.unwrap().json().await.unwrap();
        health["head"].as_u64().expect("head")
    }

    /// Waits until the system has caught up with itself: every projector,
    /// the mail index, the process managers, the scheduler and the other
    /// workers have handled the log up to its head, and no timer is due at
    /// the clock's time. Fails the test, naming what lags, after [`SETTLE_DEADLINE`].
    pub async fn settle(&self) {
        let deadline = std::time::Instant::now() + SETTLE_DEADLINE;
        loop {
            let head = *self.backend.store.head().borrow();
            let fired = self.backend.workers.fire_due().await;
            let behind = self.backend.behind(head);
            if fired == Some(0) && behind.is_empty() && head == *self.backend.store.head().borrow() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the system did not catch up with the log's head ({head}) within {SETTLE_DEADLINE:?}: {}",
                if fired.is_none() {
                    "this process does not run the workers".to_owned()
                } else {
                    format!("behind: {behind:?}; timers fired in the last look: {fired:?}")
                }
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Moves the server's clock (`{"now": ..}` or `{"advance": ..}`).
    pub async fn clock(&self, change: Value) -> Value {
        let response = self.client.post(format!("{}/test/clock", self.address)).json(&change).send().await.unwrap();
        assert!(response.status().is_success(), "clock change refused: {}", response.status());
        response.json().await.unwrap()
    }

    /// Signs up `domain` with admin `admin` / `s3cret-pass` and logs in.
    pub async fn sign_up(&self, domain: &str) -> Tenant {
        let signed = self
            .gql(
                None,
                "mutation($domain: String!) { signUp(input: { domain: $domain, companyName: \"주식회사 테스트\", memberType: BUSINESS,
                   billingCycleMonths: 12, adminUserId: \"admin\", adminName: \"관리자\", adminPassword: \"s3cret-pass\" })
                   { tenant { id } admin { id } } }",
                json!({ "domain": domain }),
            )
            .await;
        let id = signed["data"]["signUp"]["tenant"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("sign-up failed: {signed}"))
            .to_owned();
        let admin_id = signed["data"]["signUp"]["admin"]["id"].as_str().unwrap().to_owned();
        let token = self.login(domain, "admin", "s3cret-pass").await.expect("admin logs in");
        Tenant { id, domain: domain.to_owned(), admin_id, admin_token: token }
    }

    /// Logs in; the token, or the error code.
    pub async fn login(&self, domain: &str, user_id: &str, password: &str) -> Result<String, String> {
        let r = self
            .gql(
                None,
                "mutation($d: String!, $u: String!, $p: String!) { login(domain: $d, userId: $u, password: $p) { token } }",
                json!({ "d": domain, "u": user_id, "p": password }),
            )
            .await;
        match r["data"]["login"]["token"].as_str() {
            Some(t) => Ok(t.to_owned()),
            None => Err(code(&r)),
        }
    }

    /// Creates a user with password `user-pass-1` and logs them in.
    pub async fn create_user(&self, tenant: &Tenant, user_id: &str) -> (String, String) {
        let r = self
            .gql(
                Some(&tenant.admin_token),
                "mutation($u: String!) { createUser(input: { userId: $u, name: \"사용자\", password: \"user-pass-1\" }) { id } }",
                json!({ "u": user_id }),
            )
            .await;
        let id = r["data"]["createUser"]["id"].as_str().unwrap_or_else(|| panic!("createUser failed: {r}")).to_owned();
        let token = self.login(&tenant.domain, user_id, "user-pass-1").await.expect("user logs in");
        (id, token)
    }
}

/// A signed-up company and its logged-in admin.
pub struct Tenant {
    pub id: String,
    pub domain: String,
    pub admin_id: String,
    pub admin_token: String,
}

/// The `extensions.code` of the first error of a response.
pub fn code(response: &Value) -> String {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {response}"))
        .to_owned()
}

/// The `extensions.rule` of the first error of a response: the id of the
/// specification's rule that refused (`E3`).
pub fn rule(response: &Value) -> String {
    response["errors"][0]["extensions"]["rule"].as_str().unwrap_or_else(|| panic!("no rule in {response}")).to_owned()
}

/// Insta settings that keep snapshots under `tests/snapshots/`.
pub fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings
}

/// The backend of a running test server.
pub fn live_backend(app: &TestApp) -> std::sync::Arc<api::Backend> {
    app.backend.clone()
}

/// Every row of every read-model table, for comparisons.
pub async fn dump(models: &dyn projections::ReadModelStore) -> Vec<(&'static str, Vec<projections::Row>)> {
    projections::dump(models, &api::projectors()).await.expect("dump")
}
