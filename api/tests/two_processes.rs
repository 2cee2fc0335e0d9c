//! Two server processes on one PostgreSQL: a command through one is visible
//! in queries through the other, and when one dies the other carries on
//! with every projector; a command id sent to both at once has one effect
//! and one answer; contention between them is never the answer; and a
//! document completed through either carries its number.

mod common;

use common::{Server, gql, ready, start};
use serde_json::{Value, json};
use store::postgres::TestDatabase;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_store_and_one_carries_on_when_the_other_dies() {
    // Signed up through A, logged in through B.
    let Some(mut pair) = Pair::start("two.co.kr").await else { return };
    let created = pair.gql(&pair.b, &pair.admin, CREATE_USER, json!({ "c": null, "u": "kim" })).await;
    assert_eq!(created["data"]["createUser"]["userId"], "kim", "{created}");
    let users = pair.gql(&pair.a, &pair.admin, "{ users { totalCount } }", json!({})).await;
    assert_eq!(users["data"]["users"]["totalCount"], 2, "{users}");

    // A dies without a word; B takes over whatever A was projecting.
    pair.a.kill();
    let created = pair.gql(&pair.b, &pair.admin, CREATE_USER, json!({ "c": null, "u": "lee" })).await;
    assert_eq!(created["data"]["createUser"]["userId"], "lee", "{created}");
    let query = "{ users { totalCount } auditTrail { totalCount } }";
    let trail = pair.gql(&pair.b, &pair.admin, query, json!({})).await;
    assert_eq!(trail["data"]["users"]["totalCount"], 3, "{trail}");
    assert_eq!(trail["data"]["auditTrail"]["totalCount"], 4, "{trail}");
}

// rule H6: the check and the reservation of leave are one decision on the
// ledger's stream, whichever process takes the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_h6_two_leave_requests_through_two_processes_never_take_more_than_the_balance() {
    let Some(pair) = Pair::start("leave.co.kr").await else { return };
    let (a, admin) = (&pair.a, pair.admin.as_str());
    let (kim, kim_token) = pair.user("kim").await;
    let (lee, lee_token) = pair.user("lee").await;
    let me = pair.gql(a, admin, "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    let grant = "mutation($id: UUID!) { grantRole(id: $id, role: HR_MANAGER) { id } }";
    pair.gql(a, admin, grant, json!({ "id": me })).await;
    let card = "mutation($u: UUID!) { createHrCard(input: { employeeNo: \"E-1\", name: \"김사원\", userId: $u, hireDate: \"2020-03-02\" }) { id } }";
    let carded = pair.gql(a, admin, card, json!({ "u": kim })).await;
    assert!(carded["errors"].is_null(), "{carded}");
    let set = "mutation($e: UUID!) { adjustLeave(employeeId: $e, days: 3, mode: SET, reason: \"이월\") { days } }";
    let three = pair.gql(a, admin, set, json!({ "e": kim })).await;
    assert_eq!(three["data"]["adjustLeave"]["days"], 3.0, "{three}");
    let form = "mutation { createApprovalForm(input: { name: \"휴가신청서\", abbreviation: \"LV\", public: false, leaveRequest: true, fields: [
        { key: \"days\", label: \"일수\", type: NUMBER, required: true }] }) { id } }";
    let form = pair.gql(a, admin, form, json!({})).await["data"]["createApprovalForm"]["id"].clone();
    let submit = "mutation($input: DocumentInput!) { submitDocument(input: $input) { id } }";
    let request = json!({ "input": { "formId": form, "title": "연차 신청", "fields": { "days": 2 }, "line": { "approverIds": [lee] } } });
    // 2 days through each process at the same moment, with 3 days left.
    let (through_a, through_b) = tokio::join!(
        pair.gql(&pair.a, &kim_token, submit, request.clone()),
        pair.gql(&pair.b, &kim_token, submit, request.clone()),
    );
    let answers = [through_a, through_b];
    let accepted: Vec<&Value> = answers.iter().filter(|a| a["errors"].is_null()).collect();
    assert_eq!(accepted.len(), 1, "{answers:?}");
    let refused = answers.iter().find(|a| !a["errors"].is_null()).unwrap();
    assert_eq!(refused["errors"][0]["extensions"]["code"], "CONFLICT", "{refused}");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("only 1 are left"), "{refused}");
    // Approved through the other process, 1 day is left.
    let approve = "mutation($id: UUID!) { approveDocument(id: $id) { status } }";
    let id = accepted[0]["data"]["submitDocument"]["id"].clone();
    let approved = pair.gql(&pair.b, &lee_token, approve, json!({ "id": id })).await;
    assert_eq!(approved["data"]["approveDocument"]["status"], "COMPLETED", "{approved}");
    let balance = pair.gql(&pair.b, &kim_token, "{ leaveBalance { days reservedDays } }", json!({})).await;
    assert_eq!(balance["data"]["leaveBalance"], json!({ "days": 1.0, "reservedDays": 0.0 }), "{balance}");
}

/// Two processes on a fresh database, and a company signed up through the
/// first with its admin's token.
struct Pair {
    _database: TestDatabase,
    _data_dir: tempfile::TempDir,
    client: reqwest::Client,
    a: Server,
    b: Server,
    domain: String,
    admin: String,
}

impl Pair {
    async fn start(domain: &str) -> Option<Self> {
        let database = TestDatabase::create().await?;
        let data_dir = tempfile::tempdir().unwrap();
        let client = reqwest::Client::new();
        let stores = ["--events", &database.url, "--read-models", &database.url];
        let a = start(data_dir.path(), &stores);
        ready(&client, &a).await;
        let b = start(data_dir.path(), &stores);
        ready(&client, &b).await;
        common::sign_up(&client, &a, domain).await;
        let mut pair = Self {
            _database: database,
            _data_dir: data_dir,
            client,
            a,
            b,
            domain: domain.into(),
            admin: String::new(),
        };
        pair.admin = pair.login("admin", "s3cret-pass").await;
        Some(pair)
    }

    async fn login(&self, user: &str, password: &str) -> String {
        common::login(&self.client, &self.b, &self.domain, user, password).await
    }

    /// The first process for even `i`, the second for odd.
    fn server(&self, i: usize) -> &Server {
        if i.is_multiple_of(2) { &self.a } else { &self.b }
    }

    async fn gql(&self, server: &Server, token: &str, query: &str, variables: Value) -> Value {
        gql(&self.client, server, Some(token), query, variables).await
    }

    /// Creates `user` with password `user-pass-1` and logs them in: their id
    /// and token.
    async fn user(&self, user: &str) -> (String, String) {
        let created = self.gql(&self.a, &self.admin, CREATE_USER, json!({ "c": null, "u": user })).await;
        let id = created["data"]["createUser"]["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
        (id, self.login(user, "user-pass-1").await)
    }
}

const CREATE_USER: &str = "mutation($c: UUID, $u: String!) {
    createUser(input: { userId: $u, name: \"사용자\", password: \"user-pass-1\", commandId: $c }) { id userId } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_id_sent_to_both_processes_at_once_has_one_effect_and_one_answer() {
    let Some(pair) = Pair::start("once.co.kr").await else { return };
    pair.user("kim").await;
    let send = "mutation($c: UUID!) { sendMail(input: { to: [\"kim@once.co.kr\"], subject: \"한 번\", text: \"본문\" },
        commandId: $c) { id subject } }";
    for round in 0..20 {
        let command = Uuid::now_v7();
        let (a, b) = tokio::join!(
            pair.gql(&pair.a, &pair.admin, send, json!({ "c": command })),
            pair.gql(&pair.b, &pair.admin, send, json!({ "c": command })),
        );
        assert!(a["data"]["sendMail"]["id"].is_string(), "round {round}: {a}");
        assert_eq!(a, b, "round {round}: one answer");
    }
    let sent = pair.gql(&pair.a, &pair.admin, "{ mailbox(folder: \"sent\") { totalCount } }", json!({})).await;
    assert_eq!(sent["data"]["mailbox"]["totalCount"], 20, "one mail per command id: {sent}");

    for round in 0..20 {
        let command = Uuid::now_v7();
        let login = format!("user{round}");
        let variables = json!({ "c": command, "u": login });
        let (a, b) = tokio::join!(
            pair.gql(&pair.a, &pair.admin, CREATE_USER, variables.clone()),
            pair.gql(&pair.b, &pair.admin, CREATE_USER, variables.clone()),
        );
        assert_eq!(a["data"]["createUser"]["userId"], login.as_str(), "round {round}: {a}");
        assert_eq!(a, b, "round {round}: one answer, not \"already taken\"");
    }
    let users = pair.gql(&pair.b, &pair.admin, "{ users { totalCount } }", json!({})).await;
    assert_eq!(users["data"]["users"]["totalCount"], 22, "{users}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_under_contention_across_processes_is_a_decision() {
    let Some(pair) = Pair::start("busy.co.kr").await else { return };
    pair.user("kim").await;
    let send =
        "mutation($s: String!) { sendMail(input: { to: [\"kim@busy.co.kr\"], subject: $s, text: \"본문\" }) { id } }";
    // One sender's mailbox stream, written from both processes at once.
    let sends = (0..160).map(|i| {
        let pair = &pair;
        async move { pair.gql(pair.server(i), &pair.admin, send, json!({ "s": format!("메일 {i}") })).await }
    });
    let answers = futures::future::join_all(sends).await;
    let mut sent = 0;
    for answer in &answers {
        if answer["data"]["sendMail"]["id"].is_string() {
            sent += 1;
        } else {
            let code = answer["errors"][0]["extensions"]["code"].as_str();
            assert_eq!(code, Some("LIMIT_EXCEEDED"), "a decision, not {answer}");
        }
    }
    let mailbox = pair.gql(&pair.b, &pair.admin, "{ mailbox(folder: \"sent\") { totalCount } }", json!({})).await;
    assert_eq!(mailbox["data"]["mailbox"]["totalCount"], sent, "{mailbox}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_completed_through_either_process_answers_with_its_number() {
    let Some(pair) = Pair::start("numbered.co.kr").await else { return };
    let form = pair
        .gql(
            &pair.a,
            &pair.admin,
            "mutation($input: FormInput!) { createApprovalForm(input: $input) { id } }",
            json!({ "input": { "name": "업무보고", "abbreviation": "RP",
                "fields": [{ "key": "body", "label": "본문", "type": "TEXT", "required": true }] } }),
        )
        .await;
    let form = form["data"]["createApprovalForm"]["id"].as_str().unwrap_or_else(|| panic!("{form}")).to_owned();
    let (_, kim) = pair.user("kim").await;
    let (lee, lee_token) = pair.user("lee").await;
    let submit = "mutation($input: DocumentInput!) { submitDocument(input: $input) { id } }";
    let mut documents = Vec::new();
    for i in 0..12 {
        let input = json!({ "formId": form, "title": format!("보고 {i}"), "fields": { "body": "보고드립니다" },
            "line": { "approverIds": [lee] } });
        let submitted = pair.gql(&pair.a, &kim, submit, json!({ "input": input })).await;
        documents.push(
            submitted["data"]["submitDocument"]["id"].as_str().unwrap_or_else(|| panic!("{submitted}")).to_owned(),
        );
    }
    let approve = "mutation($id: UUID!) { approveDocument(id: $id) { status number } }";
    let approvals = documents.iter().enumerate().map(|(i, id)| {
        let (pair, lee_token) = (&pair, &lee_token);
        async move { pair.gql(pair.server(i), lee_token, approve, json!({ "id": id })).await }
    });
    let mut numbers = Vec::new();
    for answer in futures::future::join_all(approvals).await {
        assert_eq!(answer["data"]["approveDocument"]["status"], "COMPLETED", "{answer}");
        numbers.push(
            answer["data"]["approveDocument"]["number"]
                .as_str()
                .unwrap_or_else(|| panic!("no number in {answer}"))
                .to_owned(),
        );
    }
    numbers.sort();
    // Numbers carry the year of completion in the company's time zone.
    let year = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Seoul).format("%Y").to_string();
    let expected: Vec<String> = (1..=12).map(|n| format!("NUMBERED-{year}-{n:05}")).collect();
    assert_eq!(numbers, expected);
}
