//! The real server for the HTTP benchmarks: the embedded default (events and read
//! models on disk), in this process; clients speak GraphQL to it over loopback.

use std::net::SocketAddr;
use std::time::Duration;

use api::{Application, Settings};
use serde_json::{Value, json};

/// The company every HTTP benchmark works in.
pub const DOMAIN: &str = "bench.co.kr";

pub struct BenchServer {
    pub address: SocketAddr,
    pub url: String,
    pub client: reqwest::Client,
    _data: tempfile::TempDir,
}

impl BenchServer {
    /// Starts the server and waits until it is ready.
    pub async fn start() -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let settings =
            Settings { data_dir: data.path().to_path_buf(), port: 0, password_memory_kib: 1024, ..Settings::default() };
        let app = Application::build(settings).await.expect("server");
        let address = SocketAddr::from(([127, 0, 0, 1], app.port()));
        let url = format!("http://{address}/graphql");
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if client.get(format!("http://{address}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { address, url, client, _data: data }
    }

    /// A GraphQL request that must succeed.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        gql(&self.client, &self.url, token, query, variables).await
    }

    pub async fn login(&self, user: &str, password: &str) -> String {
        let query =
            "mutation($d: String!, $u: String!, $p: String!) { login(domain: $d, userId: $u, password: $p) { token } }";
        let r = self.gql(None, query, json!({ "d": DOMAIN, "u": user, "p": password })).await;
        r["data"]["login"]["token"].as_str().expect("token").to_owned()
    }

    /// Signs the company up with `users` users `user0`, `user1`, ...; the
    /// admin's token and each user's id and token.
    pub async fn company(&self, users: usize) -> (String, Vec<(String, String)>) {
        self.gql(
            None,
            "mutation($d: String!) { signUp(input: { domain: $d, companyName: \"벤치\", memberType: BUSINESS,
               billingCycleMonths: 12, adminUserId: \"admin\", adminName: \"관리자\", adminPassword: \"s3cret-pass\" }) { tenant { id } } }",
            json!({ "d": DOMAIN }),
        )
        .await;
        let admin = self.login("admin", "s3cret-pass").await;
        let mut people = Vec::with_capacity(users);
        for i in 0..users {
            let user = format!("user{i}");
            let created = self
                .gql(
                    Some(&admin),
                    "mutation($u: String!) { createUser(input: { userId: $u, name: \"사용자\", password: \"user-pass-1\" }) { id } }",
                    json!({ "u": user }),
                )
                .await;
            let id = created["data"]["createUser"]["id"].as_str().expect("id").to_owned();
            people.push((id, self.login(&user, "user-pass-1").await));
        }
        (admin, people)
    }
}

/// A GraphQL request that must succeed, on any client.
pub async fn gql(client: &reqwest::Client, url: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = client.post(url).json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response: Value = request.send().await.expect("request").json().await.expect("json");
    assert!(response["errors"].is_null(), "{response}");
    response
}
