//! Sign-up, login and account management as a front end drives them.

use serde_json::json;
use tests::{TestApp, code, snapshot_settings};

#[tokio::test]
async fn rule_t1_t4_a_company_signs_up_logs_in_adds_a_user_and_reads_its_audit_trail() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("Acme.CO.kr").await;
    assert_eq!(acme.domain, "Acme.CO.kr");
    // The domain was normalised; login accepts any case of it.
    let me = app
        .gql(
            Some(&acme.admin_token),
            "{ me { userId name roles } tenant { domain companyName memberType billingCycleMonths timeZone } }",
            json!({}),
        )
        .await;
    assert_eq!(
        me["data"],
        json!({
            "me": { "userId": "admin", "name": "관리자", "roles": ["ADMIN"] },
            "tenant": { "domain": "acme.co.kr", "companyName": "주식회사 테스트", "memberType": "BUSINESS", "billingCycleMonths": 12, "timeZone": "Asia/Seoul" }
        })
    );
    let (kim, kim_token) = app.create_user(&acme, "Kim.Minsu").await;
    let users = app.gql(Some(&kim_token), "{ users { totalCount edges { node { userId roles } } } }", json!({})).await;
    assert_eq!(
        users["data"]["users"],
        json!({ "totalCount": 2, "edges": [
            { "node": { "userId": "admin", "roles": ["ADMIN"] } },
            { "node": { "userId": "kim.minsu", "roles": [] } }
        ]})
    );
    let one = app.gql(Some(&kim_token), "query($id: UUID!) { user(id: $id) { userId } }", json!({ "id": kim })).await;
    assert_eq!(one["data"]["user"]["userId"], "kim.minsu");

    let trail = app
        .gql(
            Some(&acme.admin_token),
            "{ auditTrail { totalCount edges { node { type stream actor { userId } } } } }",
            json!({}),
        )
        .await;
    let trail = &trail["data"]["auditTrail"];
    assert_eq!(trail["totalCount"], 3);
    let types: Vec<_> =
        trail["edges"].as_array().unwrap().iter().map(|e| e["node"]["type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["UserCreated", "UserCreated", "TenantSignedUp"], "newest first");
    assert_eq!(trail["edges"][0]["node"]["actor"]["userId"], "admin");
    assert_eq!(trail["edges"][2]["node"]["actor"], serde_json::Value::Null);
}

#[tokio::test]
async fn the_audit_trail_pages_newest_first_with_cursors() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("paging.com").await;
    for i in 0..5 {
        app.create_user(&acme, &format!("user{i}")).await;
    }
    let query = "query($after: String) { auditTrail(first: 3, after: $after) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { position } } } }";
    let first = app.gql(Some(&acme.admin_token), query, json!({})).await;
    let page = &first["data"]["auditTrail"];
    assert_eq!(page["totalCount"], 7);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    assert_eq!(page["pageInfo"]["hasPreviousPage"], false);
    let positions: Vec<u64> =
        page["edges"].as_array().unwrap().iter().map(|e| e["node"]["position"].as_u64().unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] > w[1]));
    let second = app.gql(Some(&acme.admin_token), query, json!({ "after": page["pageInfo"]["endCursor"] })).await;
    let page2 = &second["data"]["auditTrail"];
    assert_eq!(page2["pageInfo"]["hasPreviousPage"], true);
    let more: Vec<u64> =
        page2["edges"].as_array().unwrap().iter().map(|e| e["node"]["position"].as_u64().unwrap()).collect();
    assert_eq!(more.len(), 3);
    assert!(more[0] < positions[2]);
    let third = app.gql(Some(&acme.admin_token), query, json!({ "after": page2["pageInfo"]["endCursor"] })).await;
    assert_eq!(third["data"]["auditTrail"]["edges"].as_array().unwrap().len(), 1);
    assert_eq!(third["data"]["auditTrail"]["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn rule_u2_passwords_are_changed_by_their_owner_and_reset_by_an_admin() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("passwords.com").await;
    let (kim, kim_token) = app.create_user(&acme, "kim").await;
    let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";
    let wrong = app.gql(Some(&kim_token), change, json!({ "c": "not-my-pass-1", "n": "brand-new-2" })).await;
    assert_eq!(code(&wrong), "FORBIDDEN");
    let changed = app.gql(Some(&kim_token), change, json!({ "c": "user-pass-1", "n": "brand-new-2" })).await;
    assert_eq!(changed["data"]["changePassword"], true);
    assert_eq!(app.login("passwords.com", "kim", "user-pass-1").await, Err("UNAUTHENTICATED".into()));
    assert!(app.login("passwords.com", "kim", "brand-new-2").await.is_ok());

    // A reset logs out every session the user had.
    let kim_token = app.login("passwords.com", "kim", "brand-new-2").await.unwrap();
    app.clock(json!({ "advance": "PT1S" })).await;
    let reset = "mutation($id: UUID!, $p: String!) { resetPassword(id: $id, newPassword: $p) }";
    let by_admin = app.gql(Some(&acme.admin_token), reset, json!({ "id": kim, "p": "from-admin-3" })).await;
    assert_eq!(by_admin["data"]["resetPassword"], true);
    let old_session = app.gql(Some(&kim_token), "{ me { userId } }", json!({})).await;
    assert_eq!(code(&old_session), "UNAUTHENTICATED");
    assert!(old_session["errors"][0]["message"].as_str().unwrap().contains("password was changed"));
    assert!(app.login("passwords.com", "kim", "from-admin-3").await.is_ok());
    assert_eq!(app.login("passwords.com", "kim", "brand-new-2").await, Err("UNAUTHENTICATED".into()));
}

#[tokio::test]
async fn rule_u3_roles_are_granted_and_revoked_and_the_last_admin_stays() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("roles.com").await;
    let (kim, kim_token) = app.create_user(&acme, "kim").await;
    let grant = "mutation($id: UUID!, $r: Role!) { grantRole(id: $id, role: $r) { roles } }";
    let revoke = "mutation($id: UUID!, $r: Role!) { revokeRole(id: $id, role: $r) { roles } }";
    let last = app.gql(Some(&acme.admin_token), revoke, json!({ "id": acme.admin_id, "r": "ADMIN" })).await;
    assert_eq!(code(&last), "CONFLICT");
    let granted = app.gql(Some(&acme.admin_token), grant, json!({ "id": kim, "r": "ADMIN" })).await;
    assert_eq!(granted["data"]["grantRole"]["roles"], json!(["ADMIN"]));
    let hr = app.gql(Some(&kim_token), grant, json!({ "id": kim, "r": "HR_MANAGER" })).await;
    assert_eq!(hr["data"]["grantRole"]["roles"], json!(["ADMIN", "HR_MANAGER"]));
    // Kim, now an admin, takes the first admin's rights away.
    let revoked = app.gql(Some(&kim_token), revoke, json!({ "id": acme.admin_id, "r": "ADMIN" })).await;
    assert_eq!(revoked["data"]["revokeRole"]["roles"], json!([]));
    let no_longer = app.gql(Some(&acme.admin_token), "{ auditTrail { totalCount } }", json!({})).await;
    assert_eq!(code(&no_longer), "FORBIDDEN");
}

#[tokio::test]
async fn rule_u1_a_deleted_user_can_neither_log_in_nor_use_a_token() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("delete.com").await;
    let (kim, kim_token) = app.create_user(&acme, "kim").await;
    let own = app
        .gql(Some(&acme.admin_token), "mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": acme.admin_id }))
        .await;
    assert_eq!(code(&own), "FORBIDDEN");
    let deleted =
        app.gql(Some(&acme.admin_token), "mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": kim })).await;
    assert_eq!(deleted["data"]["deleteUser"], kim);
    let me = app.gql(Some(&kim_token), "{ me { userId } }", json!({})).await;
    assert_eq!(code(&me), "UNAUTHENTICATED");
    assert_eq!(app.login("delete.com", "kim", "user-pass-1").await, Err("UNAUTHENTICATED".into()));
    let again =
        app.gql(Some(&acme.admin_token), "mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": kim })).await;
    assert_eq!(code(&again), "NOT_FOUND");
}

#[tokio::test]
async fn five_failed_logins_lock_the_account_from_that_address_for_fifteen_minutes() {
    let app = TestApp::spawn().await;
    app.sign_up("throttle.com").await;
    for _ in 0..5 {
        assert_eq!(app.login("throttle.com", "admin", "wrong-pass-1").await, Err("UNAUTHENTICATED".into()));
    }
    assert_eq!(app.login("throttle.com", "admin", "s3cret-pass").await, Err("LIMIT_EXCEEDED".into()));
    // Unknown accounts are throttled alike, and others are not touched.
    assert_eq!(app.login("throttle.com", "ghost", "wrong-pass-1").await, Err("UNAUTHENTICATED".into()));
    app.clock(json!({ "advance": "PT15M" })).await;
    assert!(app.login("throttle.com", "admin", "s3cret-pass").await.is_ok());
}

// Every request of a test comes from 127.0.0.1: guesses spread over many
// IDs are stopped by the per-address count.
#[tokio::test]
async fn guesses_from_one_address_across_many_ids_are_limited() {
    let app = TestApp::spawn().await;
    app.sign_up("guessing.com").await;
    for i in 0..30 {
        let id = format!("user{i}");
        assert_eq!(app.login("guessing.com", &id, "wrong-pass-1").await, Err("UNAUTHENTICATED".into()), "{id}");
    }
    assert_eq!(app.login("guessing.com", "user30", "wrong-pass-1").await, Err("LIMIT_EXCEEDED".into()));
    assert_eq!(app.login("guessing.com", "admin", "s3cret-pass").await, Err("LIMIT_EXCEEDED".into()));
    app.clock(json!({ "advance": "PT15M" })).await;
    assert!(app.login("guessing.com", "admin", "s3cret-pass").await.is_ok());
}

#[tokio::test]
async fn wrong_current_passwords_of_a_password_change_are_throttled_like_logins() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("change-throttle.com").await;
    let (_, kim) = app.create_user(&acme, "kim").await;
    let change = "mutation($c: String!) { changePassword(currentPassword: $c, newPassword: \"brand-new-2\") }";
    for _ in 0..5 {
        assert_eq!(code(&app.gql(Some(&kim), change, json!({ "c": "wrong-pass-1" })).await), "FORBIDDEN");
    }
    assert_eq!(code(&app.gql(Some(&kim), change, json!({ "c": "user-pass-1" })).await), "LIMIT_EXCEEDED");
    // The same count as the account's logins from here.
    assert_eq!(app.login("change-throttle.com", "kim", "user-pass-1").await, Err("LIMIT_EXCEEDED".into()));
    app.clock(json!({ "advance": "PT15M" })).await;
    let changed = app.gql(Some(&kim), change, json!({ "c": "user-pass-1" })).await;
    assert_eq!(changed["data"]["changePassword"], true, "{changed}");
}

// Tokens carry the number of password changes and resets they were issued
// after, so a change in the same second as the login still ends it.
#[tokio::test]
async fn a_password_change_in_the_same_second_ends_earlier_sessions() {
    let app = TestApp::spawn().await;
    app.clock(json!({ "now": "2026-11-26T09:00:00+09:00" })).await;
    let acme = app.sign_up("same-second.com").await;
    let (kim, old) = app.create_user(&acme, "kim").await;
    let change = "mutation { changePassword(currentPassword: \"user-pass-1\", newPassword: \"brand-new-2\") }";
    assert_eq!(app.gql(Some(&old), change, json!({})).await["data"]["changePassword"], true);
    assert_eq!(code(&app.gql(Some(&old), "{ me { userId } }", json!({})).await), "UNAUTHENTICATED");
    let new = app.login("same-second.com", "kim", "brand-new-2").await.expect("the new password logs in");
    assert_eq!(app.gql(Some(&new), "{ me { userId } }", json!({})).await["data"]["me"]["userId"], "kim");
    // A reset by an admin, at the same instant, ends that session too.
    let reset = "mutation($id: UUID!) { resetPassword(id: $id, newPassword: \"from-admin-3\") }";
    let by_admin = app.gql(Some(&acme.admin_token), reset, json!({ "id": kim })).await;
    assert_eq!(by_admin["data"]["resetPassword"], true, "{by_admin}");
    assert_eq!(code(&app.gql(Some(&new), "{ me { userId } }", json!({})).await), "UNAUTHENTICATED");
    let newest = app.login("same-second.com", "kim", "from-admin-3").await.expect("the reset password logs in");
    assert_eq!(app.gql(Some(&newest), "{ me { userId } }", json!({})).await["data"]["me"]["userId"], "kim");
}

#[tokio::test]
async fn tokens_expire_when_the_clock_passes_their_lifetime() {
    let app = TestApp::spawn().await;
    app.clock(json!({ "now": "2026-11-26T09:00:00+09:00" })).await;
    let acme = app.sign_up("expiry.com").await;
    app.clock(json!({ "advance": "PT11H59M" })).await;
    let fine = app.gql(Some(&acme.admin_token), "{ me { userId } }", json!({})).await;
    assert_eq!(fine["data"]["me"]["userId"], "admin");
    app.clock(json!({ "advance": "PT2M" })).await;
    let expired = app.gql(Some(&acme.admin_token), "{ me { userId } }", json!({})).await;
    assert_eq!(code(&expired), "UNAUTHENTICATED");
    assert!(expired["errors"][0]["message"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn stream_history_shows_each_event_with_its_metadata_and_no_secrets() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("history.com").await;
    app.create_user(&acme, "kim").await;
    let stream = format!("tenant-{}", acme.id.replace('-', ""));
    let history = app
        .gql(
            Some(&acme.admin_token),
            "query($s: String!) { streamHistory(streamId: $s) { totalCount edges { cursor node { version type data actorId commandId occurredAt } } } }",
            json!({ "s": stream }),
        )
        .await;
    let history = &history["data"]["streamHistory"];
    assert_eq!(history["totalCount"], 3);
    let node = &history["edges"][2]["node"];
    assert_eq!(node["type"], "UserCreated");
    assert_eq!(node["version"], 2);
    assert_eq!(node["actorId"], acme.admin_id.as_str());
    assert_eq!(node["data"]["password_hash"], "[redacted]");
    assert_eq!(node["data"]["login"], "kim");
    assert!(node["commandId"].is_string());
    snapshot_settings().bind(|| {
        insta::assert_json_snapshot!(
            "stream_history_types",
            history["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| json!({
                    "cursor": e["cursor"], "type": e["node"]["type"], "version": e["node"]["version"]
                }))
                .collect::<Vec<_>>()
        );
    });
}

#[tokio::test]
async fn wrong_passwords_sent_side_by_side_get_no_more_tries_than_one_after_another() {
    let app = TestApp::spawn().await;
    app.sign_up("parallel.com").await;
    let guesses = (0..20).map(|i| {
        let app = &app;
        async move { app.login("parallel.com", "admin", &format!("guess-{i}-pass")).await.unwrap_err() }
    });
    let answers = futures::future::join_all(guesses).await;
    let tried = answers.iter().filter(|c| *c == "UNAUTHENTICATED").count();
    assert_eq!(tried, 5, "{answers:?}");
    assert!(answers.iter().all(|c| c == "UNAUTHENTICATED" || c == "LIMIT_EXCEEDED"), "{answers:?}");
}
