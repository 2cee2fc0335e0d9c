//! Relay paging: opaque cursors that a list checks, forwards and backwards.

use serde_json::{Value, json};
use tests::{TestApp, code};

fn logins(page: &Value) -> Vec<String> {
    let edges = page["edges"].as_array().unwrap_or_else(|| panic!("{page}"));
    edges.iter().map(|e| e["node"]["userId"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn every_list_refuses_cursors_that_are_not_its_own() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("cursors.kr").await;
    let admin = Some(acme.admin_token.as_str());
    let audit = app.gql(admin, "{ auditTrail(first: 1) { edges { cursor } } }", json!({})).await;
    let audit_cursor = audit["data"]["auditTrail"]["edges"][0]["cursor"].as_str().unwrap().to_owned();
    assert!(!audit_cursor.chars().all(|c| c.is_ascii_digit()), "cursors are opaque: {audit_cursor}");
    let lists = [
        "query($c: String) { users(after: $c) { totalCount } }",
        "query($c: String) { users(before: $c, last: 2) { totalCount } }",
        "query($c: String) { auditTrail(after: $c) { totalCount } }",
        "query($c: String) { mailbox(folder: \"inbox\", after: $c) { totalCount } }",
        "query($c: String) { searchMail(query: \"x\", after: $c) { totalCount } }",
        "query($c: String) { documentBox(box: PENDING, after: $c) { totalCount } }",
        "query($c: String) { leaveHistory(after: $c) { totalCount } }",
    ];
    for list in lists {
        for cursor in ["garbage", "", "zzzz", "dXNlcnM6"] {
            let r = app.gql(admin, list, json!({ "c": cursor })).await;
            assert_eq!(code(&r), "VALIDATION", "{list} with {cursor:?}: {r}");
        }
    }
    // One list's cursor is not another's.
    let r = app.gql(admin, lists[0], json!({ "c": audit_cursor })).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    // Paging forwards and backwards at once is refused.
    let r = app.gql(admin, "{ users(first: 2, last: 2) { totalCount } }", json!({})).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
}

#[tokio::test]
async fn lists_page_backwards_with_last_and_before() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("backwards.kr").await;
    for login in ["u1", "u2", "u3", "u4"] {
        app.create_user(&acme, login).await;
    }
    let admin = Some(acme.admin_token.as_str());
    let query = "query($l: Int, $b: String) { users(last: $l, before: $b) { totalCount pageInfo { hasPreviousPage hasNextPage startCursor } edges { node { userId } } } }";
    let last = app.gql(admin, query, json!({ "l": 2 })).await;
    let page = &last["data"]["users"];
    assert_eq!(logins(page), vec!["u3", "u4"], "in list order: {last}");
    assert_eq!(page["totalCount"], 5);
    assert_eq!(page["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(page["pageInfo"]["hasNextPage"], false);
    let before = app.gql(admin, query, json!({ "l": 2, "b": page["pageInfo"]["startCursor"] })).await;
    let page = &before["data"]["users"];
    assert_eq!(logins(page), vec!["u1", "u2"], "{before}");
    assert_eq!(page["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let first = app.gql(admin, query, json!({ "l": 2, "b": page["pageInfo"]["startCursor"] })).await;
    let page = &first["data"]["users"];
    assert_eq!(logins(page), vec!["admin"], "{first}");
    assert_eq!(page["pageInfo"]["hasPreviousPage"], false);

    // The audit trail (newest first) and a stream's history page back too.
    let trail = app.gql(admin, "{ auditTrail(last: 1) { edges { node { type } } } }", json!({})).await;
    assert_eq!(trail["data"]["auditTrail"]["edges"][0]["node"]["type"], "TenantSignedUp", "{trail}");
    let stream = format!("tenant-{}", acme.id.replace('-', ""));
    let history = "query($s: String!, $b: String) { streamHistory(streamId: $s, last: 2, before: $b) { pageInfo { startCursor } edges { node { version } } } }";
    let end = app.gql(admin, history, json!({ "s": stream })).await;
    let versions = |r: &Value| -> Vec<u64> {
        r["data"]["streamHistory"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["version"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(versions(&end), vec![4, 5], "{end}");
    let cursor = end["data"]["streamHistory"]["pageInfo"]["startCursor"].clone();
    let earlier = app.gql(admin, history, json!({ "s": stream, "b": cursor })).await;
    assert_eq!(versions(&earlier), vec![2, 3], "{earlier}");
}
