//! What survives a restart: every acknowledged write, and the memory of
//! command ids.

use serde_json::json;
use tests::{TestApp, TestStorage};

#[tokio::test]
async fn a_repeated_command_id_returns_the_first_result_and_appends_nothing_also_after_a_restart() {
    let storage = TestStorage::new().await;
    let app = TestApp::spawn_with(storage.settings()).await;
    let acme = app.sign_up("restart.com").await;
    let create = "mutation($c: UUID!, $u: String!) { createUser(input: { userId: $u, name: \"김\", password: \"user-pass-1\", commandId: $c }) { id userId } }";
    let command_id = uuid::Uuid::now_v7();
    let first = app.gql(Some(&acme.admin_token), create, json!({ "c": command_id, "u": "kim" })).await;
    let head = app.head().await;
    let again = app.gql(Some(&acme.admin_token), create, json!({ "c": command_id, "u": "kim" })).await;
    assert_eq!(again["data"], first["data"]);
    assert_eq!(app.head().await, head);
    app.stop().await;

    let app = TestApp::spawn_with(storage.settings()).await;
    assert_eq!(app.head().await, head);
    // The same token still works: the signing key is kept in the data folder.
    let users = app.gql(Some(&acme.admin_token), "{ users { totalCount } }", json!({})).await;
    assert_eq!(users["data"]["users"]["totalCount"], 2);
    let after = app.gql(Some(&acme.admin_token), create, json!({ "c": command_id, "u": "other" })).await;
    assert_eq!(after["data"], first["data"]);
    assert_eq!(app.head().await, head);
    assert!(app.login("restart.com", "kim", "user-pass-1").await.is_ok());
}
