//! Read models rebuilt from position 0 equal the live ones.

use serde_json::json;
use tests::TestApp;

#[tokio::test]
async fn rebuilt_read_models_equal_the_live_ones() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("acme.com").await;
    let globex = app.sign_up("globex.com").await;
    let (kim, _) = app.create_user(&acme, "kim").await;
    let (lee, lee_token) = app.create_user(&acme, "lee").await;
    app.create_user(&globex, "park").await;
    app.gql(
        Some(&acme.admin_token),
        "mutation($id: UUID!) { grantRole(id: $id, role: DOCUMENT_ADMIN) { id } }",
        json!({ "id": lee }),
    )
    .await;
    app.gql(
        Some(&lee_token),
        "mutation { changePassword(currentPassword: \"user-pass-1\", newPassword: \"lee-new-pass-2\") }",
        json!({}),
    )
    .await;
    app.gql(Some(&acme.admin_token), "mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": kim })).await;

    let head = app.head().await;
    let services = {
        // The live read models, caught up with the head.
        let app = &app;
        let response = app
            .gql(Some(&acme.admin_token), "{ auditTrail(first: 1) { edges { node { position } } } }", json!({}))
            .await;
        assert_eq!(response["data"]["auditTrail"]["edges"][0]["node"]["position"], head);
        tests::live_services(app)
    };
    let live = tests::dump(services.read_models()).await;
    let rebuilt_store = projections::MemoryReadModels::default();
    let read =
        projections::rebuild(services.store.as_ref(), &rebuilt_store, &projections::projectors::all()).await.unwrap();
    assert_eq!(read, head);
    let rebuilt = tests::dump(&rebuilt_store).await;
    assert_eq!(live, rebuilt);
    assert!(live.iter().any(|(table, rows)| *table == "users" && rows.len() == 4), "{live:?}");
}
