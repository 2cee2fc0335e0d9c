//! Every resolver authorises: no crossing tenants, no admin operation for
//! plain users.

use serde_json::json;
use tests::{TestApp, code};

#[tokio::test]
async fn a_user_of_one_tenant_can_never_read_or_change_anything_of_another() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("acme.com").await;
    let globex = app.sign_up("globex.com").await;
    let (acme_kim, _) = app.create_user(&acme, "kim").await;
    let head = app.head().await;

    let users =
        app.gql(Some(&globex.admin_token), "{ users { totalCount edges { node { userId } } } }", json!({})).await;
    assert_eq!(users["data"]["users"]["totalCount"], 1, "{users}");
    let user = app
        .gql(Some(&globex.admin_token), "query($id: UUID!) { user(id: $id) { userId } }", json!({ "id": acme_kim }))
        .await;
    assert_eq!(user["data"]["user"], serde_json::Value::Null);
    let trail =
        app.gql(Some(&globex.admin_token), "{ auditTrail { totalCount edges { node { stream } } } }", json!({})).await;
    assert_eq!(trail["data"]["auditTrail"]["totalCount"], 2);
    let acme_stream = format!("tenant-{}", acme.id.replace('-', ""));
    let history = app
        .gql(
            Some(&globex.admin_token),
            "query($s: String!) { streamHistory(streamId: $s) { totalCount } }",
            json!({ "s": acme_stream }),
        )
        .await;
    assert_eq!(code(&history), "NOT_FOUND");

    for (mutation, variables) in [
        ("mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": acme_kim })),
        ("mutation($id: UUID!) { resetPassword(id: $id, newPassword: \"hijack-pass-1\") }", json!({ "id": acme_kim })),
        ("mutation($id: UUID!) { grantRole(id: $id, role: ADMIN) { userId } }", json!({ "id": acme_kim })),
        ("mutation($id: UUID!) { revokeRole(id: $id, role: ADMIN) { userId } }", json!({ "id": acme.admin_id })),
    ] {
        let r = app.gql(Some(&globex.admin_token), mutation, variables).await;
        assert_eq!(code(&r), "NOT_FOUND", "{mutation}: {r}");
    }
    assert_eq!(app.head().await, head, "something was written");
    assert!(app.login("acme.com", "kim", "user-pass-1").await.is_ok());
    // An ID exists per tenant: the same ID on another domain is another user.
    assert_eq!(app.login("globex.com", "kim", "user-pass-1").await, Err("UNAUTHENTICATED".into()));
}

#[tokio::test]
async fn a_non_admin_cannot_call_admin_operations() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("acme.com").await;
    let (kim, kim_token) = app.create_user(&acme, "kim").await;
    let (lee, _) = app.create_user(&acme, "lee").await;
    let head = app.head().await;
    for (operation, variables) in [
        (
            "mutation { createUser(input: { userId: \"park\", name: \"박\", password: \"park-pass-1\" }) { id } }",
            json!({}),
        ),
        ("mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": lee })),
        ("mutation($id: UUID!) { resetPassword(id: $id, newPassword: \"other-pass-1\") }", json!({ "id": lee })),
        ("mutation($id: UUID!) { grantRole(id: $id, role: ADMIN) { userId } }", json!({ "id": kim })),
        ("mutation($id: UUID!) { revokeRole(id: $id, role: ADMIN) { userId } }", json!({ "id": acme.admin_id })),
        ("{ auditTrail { totalCount } }", json!({})),
        (
            "query($s: String!) { streamHistory(streamId: $s) { totalCount } }",
            json!({ "s": format!("tenant-{}", acme.id.replace('-', "")) }),
        ),
    ] {
        let r = app.gql(Some(&kim_token), operation, variables).await;
        assert_eq!(code(&r), "FORBIDDEN", "{operation}: {r}");
    }
    assert_eq!(app.head().await, head, "something was written");
}

#[tokio::test]
async fn without_a_genuine_token_nothing_but_sign_up_and_login_answers() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("acme.com").await;
    let forged = {
        let mut parts: Vec<String> = acme.admin_token.split('.').map(str::to_owned).collect();
        parts[2] = "c2lnbmF0dXJlLW9mLWFuLWF0dGFja2Vy".into();
        parts.join(".")
    };
    for token in [None, Some("garbage"), Some(forged.as_str())] {
        for query in ["{ me { userId } }", "{ users { totalCount } }", "{ tenant { domain } }"] {
            let r = app.gql(token, query, json!({})).await;
            assert_eq!(code(&r), "UNAUTHENTICATED", "{query} with {token:?}: {r}");
        }
    }
    let head = app.head().await;
    let r = app
        .gql(
            Some(&forged),
            "mutation { createUser(input: { userId: \"x\", name: \"x\", password: \"x-pass-123\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&r), "UNAUTHENTICATED");
    assert_eq!(app.head().await, head);
}
