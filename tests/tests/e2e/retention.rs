//! Retention (rule E7 keeps 60 months): a company's history older than its
//! retention period leaves the live log for an archive file once that
//! file verifies, and everything goes on reading it — the mailboxes, the
//! history as of a past time, a restart that builds the read models
//! again, `groupware verify`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use store::EventStore;
use tests::{TestApp, TestStorage, code};

const RETENTION: &str =
    "{ retention { months keepsFrom movedOut { from to firstPosition lastPosition events file sha256 } } }";
const SET: &str = "mutation($m: Int!) { setRetention(months: $m) { months keepsFrom } }";
const SENT: &str = "{ mailbox(folder: \"sent\") { totalCount edges { node { subject } } } }";
const INBOX: &str = "{ mailbox(folder: \"inbox\") { totalCount edges { node { subject } } } }";
const PAST: &str = "query($s: String!, $at: DateTime) { historicalState(streamId: $s, at: $at) { state } }";

fn stream(category: &str, id: &str) -> String {
    format!("{category}-{}", id.replace('-', ""))
}

/// Waits for the retention worker to have moved something of the
/// caller's company out; its answer.
async fn moved_out(app: &TestApp, token: &str) -> serde_json::Value {
    for _ in 0..400 {
        let r = app.gql(Some(token), RETENTION, json!({})).await;
        if r["data"]["retention"]["movedOut"].as_array().is_some_and(|m| !m.is_empty()) {
            return r["data"]["retention"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing left the log");
}

/// The company's events still in the live log, read from the store as
/// stored, without its cold history.
async fn live_events(storage: &TestStorage, tenant: &str) -> Vec<store::RecordedEvent> {
    let live: Arc<dyn EventStore> = match storage.database_url() {
        Some(url) => Arc::new(store::postgres::PostgresEventStore::connect(url, store::system_now()).await.unwrap()),
        None => Arc::new(
            store::sqlite::SqliteEventStore::open(storage.dir().join("events.db"), store::system_now()).unwrap(),
        ),
    };
    let tenant: uuid::Uuid = tenant.parse().unwrap();
    let all = live.read_all(0, 1_000_000).await.unwrap();
    all.into_iter().filter(|e| e.metadata.tenant == Some(tenant)).collect()
}

#[tokio::test]
async fn e7_history_older_than_the_retention_period_leaves_the_log_and_is_still_read_everywhere() {
    let storage = TestStorage::new().await;
    let settings = api::Settings { retention_every: Duration::from_millis(100), ..storage.settings() };
    let app = TestApp::spawn_with(settings.clone()).await;
    app.clock(json!({ "now": "2026-01-15T09:00:00+09:00" })).await;
    let acme = app.sign_up("retained.com").await;
    let (_, kim_token) = app.create_user(&acme, "kim").await;
    let (auditor, _) = app.create_user(&acme, "audit").await;
    let grant = "mutation($id: UUID!) { grantRole(id: $id, role: AUDITOR) { id } }";
    assert!(app.gql(Some(&acme.admin_token), grant, json!({ "id": auditor })).await["errors"].is_null());
    let send = |subject: &str| {
        format!(
            "mutation {{ sendMail(input: {{ to: [\"admin@retained.com\"], subject: \"{subject}\", text: \"본문\" }}) {{ id }} }}"
        )
    };
    assert!(app.gql(Some(&kim_token), &send("오래된 메일"), json!({})).await["errors"].is_null());

    // The period: 60 months by default, more if an admin says so, never
    // less, and only an admin says so.
    let shown = app.gql(Some(&acme.admin_token), RETENTION, json!({})).await;
    assert_eq!(shown["data"]["retention"]["months"], 60, "{shown}");
    assert_eq!(shown["data"]["retention"]["keepsFrom"], "2021-02");
    let short = app.gql(Some(&acme.admin_token), SET, json!({ "m": 59 })).await;
    assert_eq!(code(&short), "VALIDATION", "{short}");
    let by_kim = app.gql(Some(&kim_token), SET, json!({ "m": 72 })).await;
    assert_eq!(code(&by_kim), "FORBIDDEN", "{by_kim}");
    let by_kim = app.gql(Some(&kim_token), RETENTION, json!({})).await;
    assert_eq!(code(&by_kim), "FORBIDDEN", "{by_kim}");
    let longer = app.gql(Some(&acme.admin_token), SET, json!({ "m": 61 })).await;
    assert_eq!(longer["data"]["setRetention"]["keepsFrom"], "2021-01", "{longer}");
    let back = app.gql(Some(&acme.admin_token), SET, json!({ "m": 60 })).await;
    assert_eq!(back["data"]["setRetention"]["months"], 60, "{back}");
    app.clock(json!({ "now": "2026-03-10T09:00:00+09:00" })).await;
    let kim_token = app.login("retained.com", "kim", "user-pass-1").await.unwrap();
    assert!(app.gql(Some(&kim_token), &send("3월 메일"), json!({})).await["errors"].is_null());

    // Five years on, January and February 2026 fall out of the 60 months
    // (March 2026 to February 2031).
    app.clock(json!({ "now": "2031-02-15T09:00:00+09:00" })).await;
    let admin = app.login("retained.com", "admin", "s3cret-pass").await.unwrap();
    let kim_token = app.login("retained.com", "kim", "user-pass-1").await.unwrap();
    assert!(app.gql(Some(&kim_token), &send("새 메일"), json!({})).await["errors"].is_null());
    let retention = moved_out(&app, &admin).await;
    let moved = &retention["movedOut"][0];
    assert_eq!((moved["from"].as_str(), moved["to"].as_str()), (Some("2026-01"), Some("2026-02")), "{retention}");
    assert_eq!(retention["keepsFrom"], "2026-03");
    let (first, last) = (moved["firstPosition"].as_u64().unwrap(), moved["lastPosition"].as_u64().unwrap());
    let file = storage.dir().join("cold").join(moved["file"].as_str().unwrap());
    let verified = api::cli::archive_verify(&file, None).unwrap();
    assert!(verified.starts_with("verified"), "{verified}");

    // Everything reads as before: the mailboxes, the company as it was.
    let sent = app.gql(Some(&kim_token), SENT, json!({})).await;
    assert_eq!(sent["data"]["mailbox"]["totalCount"], 3, "{sent}");
    assert!(sent.to_string().contains("오래된 메일"), "{sent}");
    let inbox = app.gql(Some(&admin), INBOX, json!({})).await;
    assert!(inbox.to_string().contains("오래된 메일"), "{inbox}");
    let company = json!({ "s": stream("tenant", &acme.id), "at": "2026-01-20T00:00:00Z" });
    let past = app.gql(Some(&admin), PAST, company).await;
    let logins: Vec<String> = past["data"]["historicalState"]["state"]["logins"]
        .as_object()
        .unwrap_or_else(|| panic!("{past}"))
        .keys()
        .cloned()
        .collect();
    assert_eq!(logins, ["admin", "audit", "kim"], "{past}");
    // And the aggregates load from their snapshots: they still take commands.
    assert!(app.gql(Some(&kim_token), &send("그 후의 메일"), json!({})).await["errors"].is_null());
    let head = app.head().await;
    app.stop().await;

    // Gone from the live log, in a file of its own.
    let live = live_events(&storage, &acme.id).await;
    assert!(live.iter().all(|e| e.position > last), "the moved events are not live");
    assert!(live.iter().any(|e| e.position > last), "the newer ones are");
    assert!(first >= 1 && std::fs::metadata(&file).unwrap().len() > 0);

    // The whole log verifies, the moved history with it; a restart builds
    // the read models from it again and resumes.
    let verified = api::cli::verify(&settings, Some("retained.com"), None).await.unwrap();
    assert!(verified.starts_with("verified"), "{verified}");
    let app = TestApp::spawn_with(settings.clone()).await;
    app.clock(json!({ "now": "2031-02-16T09:00:00+09:00" })).await;
    assert!(app.head().await >= head);
    let admin = app.login("retained.com", "admin", "s3cret-pass").await.unwrap();
    let kim_token = app.login("retained.com", "kim", "user-pass-1").await.unwrap();
    let sent = app.gql(Some(&kim_token), SENT, json!({})).await;
    assert_eq!(sent["data"]["mailbox"]["totalCount"], 4, "{sent}");
    assert!(sent.to_string().contains("오래된 메일"), "{sent}");
    let history = app
        .gql(
            Some(&admin),
            "query($s: String!) { streamHistory(streamId: $s, first: 1) { edges { node { type position } } } }",
            json!({ "s": stream("tenant", &acme.id) }),
        )
        .await;
    assert_eq!(history["data"]["streamHistory"]["edges"][0]["node"]["type"], "TenantSignedUp", "{history}");
    // Nothing more to move: the next rounds add nothing.
    app.settle().await;
    let again = app.gql(Some(&admin), RETENTION, json!({})).await;
    assert_eq!(again["data"]["retention"]["movedOut"].as_array().unwrap().len(), 1, "{again}");

    // A month later March 2026 goes on from the first move's anchor; a file
    // a stopped move left behind is cleared away.
    let orphan = storage.dir().join("cold").join(format!("{}-2026-02-2026-03.zip", acme.id));
    std::fs::write(&orphan, b"half made").unwrap();
    app.clock(json!({ "now": "2031-03-16T09:00:00+09:00" })).await;
    let admin = app.login("retained.com", "admin", "s3cret-pass").await.unwrap();
    let mut second = serde_json::Value::Null;
    for _ in 0..400 {
        second = app.gql(Some(&admin), RETENTION, json!({})).await;
        if second["data"]["retention"]["movedOut"].as_array().is_some_and(|m| m.len() == 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let moved = &second["data"]["retention"]["movedOut"][1];
    assert_eq!((moved["from"].as_str(), moved["to"].as_str()), (Some("2026-03"), Some("2026-03")), "{second}");
    assert!(moved["firstPosition"].as_u64().unwrap() > last, "{second}");
    assert!(!orphan.exists(), "the file no segment names is gone");
    let kim_token = app.login("retained.com", "kim", "user-pass-1").await.unwrap();
    let sent = app.gql(Some(&kim_token), SENT, json!({})).await;
    assert_eq!(sent["data"]["mailbox"]["totalCount"], 4, "{sent}");
    assert!(sent.to_string().contains("3월 메일"), "{sent}");
    app.stop().await;
    let verified = api::cli::verify(&settings, Some("retained.com"), None).await.unwrap();
    assert!(verified.starts_with("verified"), "{verified}");
}
