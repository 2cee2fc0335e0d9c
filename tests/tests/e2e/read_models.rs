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
    let changed = app
        .gql(
            Some(&lee_token),
            "mutation { changePassword(currentPassword: \"user-pass-1\", newPassword: \"fresh-pass-22\") }",
            json!({}),
        )
        .await;
    assert_eq!(changed["data"]["changePassword"], true, "{changed}");
    // Mail: sent, read, moved, recalled, drafted, forwarded.
    let lee_token = app.login("acme.com", "lee", "fresh-pass-22").await.unwrap();
    let send =
        "mutation($to: [String!]!, $s: String!) { sendMail(input: { to: $to, subject: $s, text: \"hello\" }) { id } }";
    let first =
        app.gql(Some(&acme.admin_token), send, json!({ "to": ["lee@acme.com", "kim@acme.com"], "s": "one" })).await;
    let first = first["data"]["sendMail"]["id"].as_str().unwrap().to_owned();
    let second =
        app.gql(Some(&acme.admin_token), send, json!({ "to": ["lee@acme.com", "x@partner.org"], "s": "two" })).await;
    let second = second["data"]["sendMail"]["id"].as_str().unwrap().to_owned();
    app.gql(Some(&lee_token), "mutation($id: UUID!) { markMailRead(id: $id) { read } }", json!({ "id": first })).await;
    app.gql(Some(&lee_token), "mutation($ids: [UUID!]!) { deleteMail(ids: $ids) }", json!({ "ids": [second] })).await;
    app.gql(
        Some(&acme.admin_token),
        "mutation($id: UUID!) { recallMail(id: $id) { recalled } }",
        json!({ "id": first }),
    )
    .await;
    app.gql(Some(&lee_token), "mutation { saveDraft(input: { subject: \"later\" }) { id } }", json!({})).await;
    app.gql(
        Some(&lee_token),
        "mutation { setMailForwarding(addresses: [\"far@partner.org\"]) { keepCopy } }",
        json!({}),
    )
    .await;
    app.gql(Some(&acme.admin_token), send, json!({ "to": ["lee@acme.com"], "s": "three" })).await;
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
    assert!(live.iter().any(|(table, rows)| *table == "mail_tracking" && rows.len() == 4), "{live:?}");
}
