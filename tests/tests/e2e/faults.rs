//! A PostgreSQL that goes away mid-run and comes back: commands fail clearly
//! while it is away, nothing acknowledged is lost, the read models resume
//! from their checkpoints.

use api::{EventStoreKind, ReadModelKind};
use serde_json::json;
use tests::{OwnPostgres, TestApp, TestStorage, code};

const CREATE: &str = "mutation($u: String!) { createUser(input: { userId: $u, name: \"사용자\", password: \"user-pass-1\" }) { userId } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_goes_away_and_comes_back_loses_nothing_acknowledged() {
    let Some(postgres) = OwnPostgres::start() else { return };
    let storage = TestStorage::new().await;
    let mut settings = storage.settings();
    settings.events = EventStoreKind::Postgres(postgres.url());
    settings.read_models = ReadModelKind::Postgres(postgres.url());
    let app = TestApp::spawn_with(settings).await;
    let acme = app.sign_up("fault.co.kr").await;
    app.create_user(&acme, "kim").await;

    postgres.stop();
    let refused = app.gql(Some(&acme.admin_token), CREATE, json!({ "u": "lee" })).await;
    assert_eq!(code(&refused), "INTERNAL", "{refused}");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("try again later"), "{refused}");

    postgres.resume();
    // The pools reconnect; the runners resume from their checkpoints.
    app.settle().await;
    let created = app.gql(Some(&acme.admin_token), CREATE, json!({ "u": "lee" })).await;
    assert_eq!(created["data"]["createUser"]["userId"], "lee", "{created}");
    // Everything acknowledged is there, and the read models caught up.
    let users = app
        .gql(Some(&acme.admin_token), "{ users { edges { node { userId } } } auditTrail { totalCount } }", json!({}))
        .await;
    assert_eq!(users["data"]["auditTrail"]["totalCount"], 4, "{users}");
    assert_eq!(
        users["data"]["users"]["edges"],
        json!([{ "node": { "userId": "admin" } }, { "node": { "userId": "kim" } }, { "node": { "userId": "lee" } }]),
        "{users}"
    );
    assert_eq!(users["data"]["auditTrail"]["totalCount"], 4, "{users}");
}
