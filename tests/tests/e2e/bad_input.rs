//! Bad input gets its error code, a message a person understands, and
//! changes nothing.

use serde_json::{Value, json};
use tests::{TestApp, code, rule};

const SIGN_UP: &str = "mutation($i: SignUpInput!) { signUp(input: $i) { tenant { id } } }";

fn sign_up_input(domain: &str, user: &str, password: &str, months: i32) -> Value {
    json!({ "i": { "domain": domain, "companyName": "회사", "memberType": "INDIVIDUAL", "billingCycleMonths": months,
                   "adminUserId": user, "adminName": "관리자", "adminPassword": password } })
}

fn message(r: &Value) -> String {
    r["errors"][0]["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn rule_t2_malformed_empty_and_public_portal_domains_ids_and_passwords_are_refused() {
    let app = TestApp::spawn().await;
    let cases = [
        (sign_up_input("", "admin", "s3cret-pass", 1), "VALIDATION", "empty", None),
        (sign_up_input("not a domain", "admin", "s3cret-pass", 1), "VALIDATION", "not a valid domain", None),
        (sign_up_input("localhost", "admin", "s3cret-pass", 1), "VALIDATION", "two labels", None),
        (sign_up_input("naver.com", "admin", "s3cret-pass", 1), "VALIDATION", "public portal", Some("T2")),
        (sign_up_input("GMAIL.com", "admin", "s3cret-pass", 1), "VALIDATION", "public portal", Some("T2")),
        (sign_up_input("daum.net", "admin", "s3cret-pass", 1), "VALIDATION", "public portal", Some("T2")),
        (sign_up_input("acme.com", "", "s3cret-pass", 1), "VALIDATION", "ID is empty", None),
        (sign_up_input("acme.com", "ad min", "s3cret-pass", 1), "VALIDATION", "not a valid ID", None),
        (sign_up_input("acme.com", "admin@acme.com", "s3cret-pass", 1), "VALIDATION", "not a valid ID", None),
        (sign_up_input("acme.com", "admin", "", 1), "VALIDATION", "at least 8", None),
        (sign_up_input("acme.com", "admin", "short1", 1), "VALIDATION", "at least 8", None),
        (sign_up_input("acme.com", "admin", "lettersonly", 1), "VALIDATION", "letter and a digit", None),
        (sign_up_input("acme.com", "admin", "admin12345", 1), "VALIDATION", "ID", None),
        (sign_up_input("acme.com", "admin", "s3cret-pass", 6), "VALIDATION", "1, 12 or 24", None),
    ];
    for (input, expected, words, refused_by) in cases {
        let r = app.gql(None, SIGN_UP, input.clone()).await;
        assert_eq!(code(&r), expected, "{input}: {r}");
        assert!(message(&r).contains(words), "{input}: message {:?} lacks {words:?}", message(&r));
        assert_eq!(r["errors"][0]["extensions"]["rule"].as_str(), refused_by, "{input}: {r}");
    }
    assert_eq!(app.head().await, 0, "a refused sign-up wrote something");
    let missing = app.gql(None, SIGN_UP, json!({ "i": { "domain": "acme.com" } })).await;
    assert_eq!(code(&missing), "VALIDATION");
}

#[tokio::test]
async fn rule_t1_a_domain_already_signed_up_is_a_conflict() {
    let app = TestApp::spawn().await;
    app.sign_up("acme.com").await;
    let head = app.head().await;
    let again = app.gql(None, SIGN_UP, sign_up_input("ACME.com", "boss", "s3cret-pass", 24)).await;
    assert_eq!((code(&again), rule(&again)), ("CONFLICT".into(), "T1".into()));
    assert_eq!(app.head().await, head);
}

#[tokio::test]
async fn a_duplicate_user_id_a_wrong_password_and_bad_logins_are_refused() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("acme.com").await;
    app.create_user(&acme, "kim").await;
    let head = app.head().await;
    let duplicate = app
        .gql(
            Some(&acme.admin_token),
            "mutation { createUser(input: { userId: \"KIM\", name: \"김\", password: \"other-pass-1\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!((code(&duplicate), rule(&duplicate)), ("CONFLICT".into(), "T4".into()));
    let weak = app
        .gql(
            Some(&acme.admin_token),
            "mutation { createUser(input: { userId: \"lee\", name: \"이\", password: \"weak\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&weak), "VALIDATION");
    assert_eq!(weak["errors"][0]["extensions"]["field"], "password");
    assert_eq!(app.head().await, head);

    assert_eq!(app.login("acme.com", "kim", "wrong-pass-1").await, Err("UNAUTHENTICATED".into()));
    assert_eq!(app.login("acme.com", "nobody", "user-pass-1").await, Err("UNAUTHENTICATED".into()));
    assert_eq!(app.login("unknown.com", "kim", "user-pass-1").await, Err("UNAUTHENTICATED".into()));
    assert_eq!(app.login("", "kim", "user-pass-1").await, Err("VALIDATION".into()));
    assert_eq!(app.login("acme.com", "", "user-pass-1").await, Err("VALIDATION".into()));
    assert_eq!(app.login("acme.com", "kim", "").await, Err("VALIDATION".into()));
    assert_eq!(app.head().await, head);
}

#[tokio::test]
async fn an_oversized_body_and_a_too_deep_or_broken_query_are_refused() {
    let app = TestApp::spawn().await;
    let url = format!("{}/graphql", app.address);
    let huge = json!({ "query": "{ __typename }", "variables": { "pad": "x".repeat(2 * 1024 * 1024) } });
    let r = app.client.post(&url).json(&huge).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "LIMIT_EXCEEDED");

    let too_deep = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(17),
        "}".repeat(17)
    );
    let r = app.gql(None, &too_deep, json!({})).await;
    assert_eq!(code(&r), "LIMIT_EXCEEDED", "{r}");
    assert!(message(&r).to_lowercase().contains("deep"));

    let broken = app.gql(None, "{ me { ", json!({})).await;
    assert_eq!(code(&broken), "VALIDATION");
    let unknown = app.gql(None, "{ nothingHere }", json!({})).await;
    assert_eq!(code(&unknown), "VALIDATION");
    let not_json =
        app.client.post(&url).header("content-type", "application/json").body("{not json").send().await.unwrap();
    assert_eq!(not_json.status(), 400);
    let body: Value = not_json.json().await.unwrap();
    assert_eq!(code(&body), "VALIDATION");
    assert_eq!(app.head().await, 0);
}

#[tokio::test]
async fn a_too_complex_query_is_refused() {
    let app = TestApp::spawn().await;
    let fields: String = (0..300).map(|i| format!("a{i}: users {{ totalCount }} ")).collect();
    let r = app.gql(None, &format!("{{ {fields} }}"), json!({})).await;
    assert_eq!(code(&r), "LIMIT_EXCEEDED", "{r}");
    assert!(message(&r).to_lowercase().contains("complex"));
}

#[tokio::test]
async fn oversized_batches_and_cursors_are_refused() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("cursors.com").await;
    let stream = format!("tenant-{}", acme.id.replace('-', ""));
    for cursor in ["18446744073709551615", "9223372036854775807", "-1", "abc"] {
        let r = app
            .gql(
                Some(&acme.admin_token),
                "query($s: String!, $a: String) { streamHistory(streamId: $s, after: $a) { totalCount } }",
                json!({ "s": stream, "a": cursor }),
            )
            .await;
        assert_eq!(code(&r), "VALIDATION", "{cursor}: {r}");
    }
    for first in [-1, 101] {
        let r = app
            .gql(Some(&acme.admin_token), "query($f: Int) { users(first: $f) { totalCount } }", json!({ "f": first }))
            .await;
        assert_eq!(code(&r), if first < 0 { "VALIDATION" } else { "LIMIT_EXCEEDED" });
    }
    let batch: Vec<_> = (0..11).map(|_| json!({ "query": "{ __typename }" })).collect();
    let r = app.client.post(format!("{}/graphql", app.address)).json(&batch).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(&r.json().await.unwrap()), "LIMIT_EXCEEDED");
    let small: Vec<_> = (0..2).map(|_| json!({ "query": "{ __typename }" })).collect();
    let r: Value =
        app.client.post(format!("{}/graphql", app.address)).json(&small).send().await.unwrap().json().await.unwrap();
    assert_eq!(r, json!([{ "data": { "__typename": "QueryRoot" } }, { "data": { "__typename": "QueryRoot" } }]));
}
