//! Stream histories show content only to those who may read it elsewhere
//! in the API: a mailbox to its owner, HR streams to HR managers (and a
//! ledger to its owner); anyone else sees type, actor and times.

use serde_json::{Value, json};
use tests::{TestApp, code};

const HISTORY: &str = "query($s: String!) { streamHistory(streamId: $s) { totalCount edges { node { type actorId occurredAt data contentWithheld } } } }";

fn stream(category: &str, id: &str) -> String {
    format!("{category}-{}", id.replace('-', ""))
}

fn nodes(history: &Value) -> Vec<Value> {
    let edges = history["data"]["streamHistory"]["edges"].as_array().unwrap_or_else(|| panic!("{history}"));
    edges.iter().map(|e| e["node"].clone()).collect()
}

#[tokio::test]
async fn an_admin_reads_no_one_elses_mail_from_a_mailbox_stream() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("mailhistory.com").await;
    let (kim, kim_token) = app.create_user(&acme, "kim").await;
    let send = "mutation($to: [String!]!, $s: String!) { sendMail(input: { to: $to, subject: $s, text: \"급여 명세서입니다\" }) { id } }";
    let sent = app.gql(Some(&kim_token), send, json!({ "to": ["admin@mailhistory.com"], "s": "개인 상담" })).await;
    assert!(sent["errors"].is_null(), "{sent}");
    let sent = app.gql(Some(&acme.admin_token), send, json!({ "to": ["kim@mailhistory.com"], "s": "공지" })).await;
    assert!(sent["errors"].is_null(), "{sent}");

    // kim's mailbox: the admin sees that kim sent a mail, and when, not what.
    let history = app.gql(Some(&acme.admin_token), HISTORY, json!({ "s": stream("mailbox", &kim) })).await;
    let events = nodes(&history);
    let mail = events.iter().find(|n| n["type"] == "MailSent").unwrap_or_else(|| panic!("{history}"));
    assert_eq!(mail["actorId"], kim.as_str());
    assert!(mail["occurredAt"].is_string());
    assert_eq!(mail["data"], Value::Null);
    assert_eq!(mail["contentWithheld"], true);
    assert!(!history.to_string().contains("개인 상담"));
    assert!(!history.to_string().contains("급여"));

    // The admin's own mailbox is theirs to read.
    let own = app.gql(Some(&acme.admin_token), HISTORY, json!({ "s": stream("mailbox", &acme.admin_id) })).await;
    let mail = nodes(&own).into_iter().find(|n| n["type"] == "MailSent").unwrap_or_else(|| panic!("{own}"));
    assert_eq!(mail["contentWithheld"], false);
    assert!(mail["data"].to_string().contains("공지"), "{mail}");

    // Stream history stays an admin's tool.
    let r = app.gql(Some(&kim_token), HISTORY, json!({ "s": stream("mailbox", &kim) })).await;
    assert_eq!(code(&r), "FORBIDDEN");
}

#[tokio::test]
async fn rule_h1_hr_streams_show_their_content_to_hr_managers_only() {
    let app = TestApp::spawn().await;
    app.clock(json!({ "now": "2026-11-26T09:00:00+09:00" })).await;
    let acme = app.sign_up("hrhistory.com").await;
    let (hr, _) = app.create_user(&acme, "hr").await;
    let (kim, _) = app.create_user(&acme, "kim").await;
    let grant = "mutation($id: UUID!, $r: Role!) { grantRole(id: $id, role: $r) { id } }";
    app.gql(Some(&acme.admin_token), grant, json!({ "id": hr, "r": "HR_MANAGER" })).await;
    let hr_token = app.login("hrhistory.com", "hr", "user-pass-1").await.unwrap();
    let card = "mutation($input: HrCardInput!) { createHrCard(input: $input) { id } }";
    let input = json!({ "employeeNo": "E-7", "name": "김사원", "userId": kim, "hireDate": "2026-01-02", "residentNumber": "711231-1234567", "duties": "영업" });
    let created = app.gql(Some(&hr_token), card, json!({ "input": input })).await;
    assert!(created["errors"].is_null(), "{created}");

    // The admin is no HR manager: cards and the ledger are withheld.
    for s in [stream("personnel", &acme.id), stream("leave", &kim)] {
        let history = app.gql(Some(&acme.admin_token), HISTORY, json!({ "s": s })).await;
        let events = nodes(&history);
        assert!(!events.is_empty(), "{history}");
        assert!(events.iter().all(|n| n["contentWithheld"] == true && n["data"].is_null()), "{history}");
        assert!(!history.to_string().contains("E-7"), "{history}");
    }
    // Once an HR manager, the admin reads them.
    app.gql(Some(&acme.admin_token), grant, json!({ "id": acme.admin_id, "r": "HR_MANAGER" })).await;
    let history = app.gql(Some(&acme.admin_token), HISTORY, json!({ "s": stream("personnel", &acme.id) })).await;
    assert!(history.to_string().contains("E-7"), "{history}");
    assert!(nodes(&history).iter().all(|n| n["contentWithheld"] == false));
}
