//! Two server processes on one PostgreSQL: a command through one is visible
//! in queries through the other, and when one dies the other carries on
//! with every projector.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use store::postgres::TestDatabase;

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data_dir: &std::path::Path, database: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_groupware"))
        .args([
            "serve",
            "--port",
            "0",
            "--password-memory-kib",
            "1024",
            "--events",
            database,
            "--read-models",
            database,
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().expect("the server said where it listens").expect("stdout line");
        if let Some(url) = line.strip_prefix("groupware listening on ") {
            break url.trim().to_owned();
        }
    };
    // Keep reading, so the server never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, url }
}

async fn ready(client: &reqwest::Client, server: &Server) {
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("{}/healthz", server.url)).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{} never became ready", server.url);
}

async fn gql(client: &reqwest::Client, server: &Server, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request =
        client.post(format!("{}/graphql", server.url)).json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request").json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_store_and_one_carries_on_when_the_other_dies() {
    let Some(database) = TestDatabase::create().await else { return };
    let data_dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let a = start(data_dir.path(), &database.url);
    ready(&client, &a).await;
    let b = start(data_dir.path(), &database.url);
    ready(&client, &b).await;

    let signed = gql(
        &client,
        &a,
        None,
        "mutation { signUp(input: { domain: \"two.co.kr\", companyName: \"둘\", memberType: BUSINESS, billingCycleMonths: 1,
           adminUserId: \"admin\", adminName: \"관리자\", adminPassword: \"s3cret-pass\" }) { tenant { id } } }",
        json!({}),
    )
    .await;
    assert!(signed["data"]["signUp"]["tenant"]["id"].is_string(), "{signed}");
    // Written through A, read through B.
    let login = gql(
        &client,
        &b,
        None,
        "mutation { login(domain: \"two.co.kr\", userId: \"admin\", password: \"s3cret-pass\") { token } }",
        json!({}),
    )
    .await;
    let token = login["data"]["login"]["token"].as_str().unwrap_or_else(|| panic!("{login}")).to_owned();
    let create = "mutation($u: String!) { createUser(input: { userId: $u, name: \"사용자\", password: \"user-pass-1\" }) { userId } }";
    let created = gql(&client, &b, Some(&token), create, json!({ "u": "kim" })).await;
    assert_eq!(created["data"]["createUser"]["userId"], "kim", "{created}");
    let users = gql(&client, &a, Some(&token), "{ users { totalCount } }", json!({})).await;
    assert_eq!(users["data"]["users"]["totalCount"], 2, "{users}");

    // A dies without a word; B takes over whatever A was projecting.
    drop(a);
    let created = gql(&client, &b, Some(&token), create, json!({ "u": "lee" })).await;
    assert_eq!(created["data"]["createUser"]["userId"], "lee", "{created}");
    let trail = gql(&client, &b, Some(&token), "{ users { totalCount } auditTrail { totalCount } }", json!({})).await;
    assert_eq!(trail["data"]["users"]["totalCount"], 3, "{trail}");
    assert_eq!(trail["data"]["auditTrail"]["totalCount"], 4, "{trail}");
}

// rule H6: the check and the reservation of leave are one decision on the
// ledger's stream, whichever process takes the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_h6_two_leave_requests_through_two_processes_never_take_more_than_the_balance() {
    let Some(database) = TestDatabase::create().await else { return };
    let data_dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let a = start(data_dir.path(), &database.url);
    ready(&client, &a).await;
    let b = start(data_dir.path(), &database.url);
    ready(&client, &b).await;

    let signed = gql(
        &client,
        &a,
        None,
        "mutation { signUp(input: { domain: \"leave.co.kr\", companyName: \"연차\", memberType: BUSINESS, billingCycleMonths: 1,
           adminUserId: \"admin\", adminName: \"관리자\", adminPassword: \"s3cret-pass\" }) { tenant { id } } }",
        json!({}),
    )
    .await;
    assert!(signed["data"]["signUp"]["tenant"]["id"].is_string(), "{signed}");
    let login = |user: &'static str, password: &'static str| {
        let (client, a) = (&client, &a);
        async move {
            let query = "mutation($u: String!, $p: String!) { login(domain: \"leave.co.kr\", userId: $u, password: $p) { token } }";
            let answer = gql(client, a, None, query, json!({ "u": user, "p": password })).await;
            answer["data"]["login"]["token"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()
        }
    };
    let admin = login("admin", "s3cret-pass").await;
    let create = "mutation($u: String!) { createUser(input: { userId: $u, name: \"사용자\", password: \"user-pass-1\" }) { id } }";
    let kim = gql(&client, &a, Some(&admin), create, json!({ "u": "kim" })).await["data"]["createUser"]["id"].clone();
    let lee = gql(&client, &a, Some(&admin), create, json!({ "u": "lee" })).await["data"]["createUser"]["id"].clone();
    let me = gql(&client, &a, Some(&admin), "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    let grant = "mutation($id: UUID!) { grantRole(id: $id, role: HR_MANAGER) { id } }";
    gql(&client, &a, Some(&admin), grant, json!({ "id": me })).await;
    let card = "mutation($u: UUID!) { createHrCard(input: { employeeNo: \"E-1\", name: \"김사원\", userId: $u, hireDate: \"2020-03-02\" }) { id } }";
    let carded = gql(&client, &a, Some(&admin), card, json!({ "u": kim })).await;
    assert!(carded["errors"].is_null(), "{carded}");
    let set = "mutation($e: UUID!) { adjustLeave(employeeId: $e, days: 3, mode: SET, reason: \"이월\") { days } }";
    let three = gql(&client, &a, Some(&admin), set, json!({ "e": kim })).await;
    assert_eq!(three["data"]["adjustLeave"]["days"], 3.0, "{three}");
    let form = gql(
        &client,
        &a,
        Some(&admin),
        "mutation { createApprovalForm(input: { name: \"휴가신청서\", abbreviation: \"LV\", public: false, leaveRequest: true, fields: [
            { key: \"days\", label: \"일수\", type: NUMBER, required: true }] }) { id } }",
        json!({}),
    )
    .await["data"]["createApprovalForm"]["id"]
        .clone();
    let kim_token = login("kim", "user-pass-1").await;
    let submit = "mutation($input: DocumentInput!) { submitDocument(input: $input) { id } }";
    let request = json!({ "input": { "formId": form, "title": "연차 신청", "fields": { "days": 2 }, "line": { "approverIds": [lee] } } });
    // 2 days through each process at the same moment, with 3 days left.
    let (through_a, through_b) = tokio::join!(
        gql(&client, &a, Some(&kim_token), submit, request.clone()),
        gql(&client, &b, Some(&kim_token), submit, request.clone()),
    );
    let answers = [through_a, through_b];
    let accepted: Vec<&Value> = answers.iter().filter(|a| a["errors"].is_null()).collect();
    assert_eq!(accepted.len(), 1, "{answers:?}");
    let refused = answers.iter().find(|a| !a["errors"].is_null()).unwrap();
    assert_eq!(refused["errors"][0]["extensions"]["code"], "CONFLICT", "{refused}");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("only 1 are left"), "{refused}");
    // Approved through the other process, 1 day is left.
    let lee_token = login("lee", "user-pass-1").await;
    let approve = "mutation($id: UUID!) { approveDocument(id: $id) { status } }";
    let id = accepted[0]["data"]["submitDocument"]["id"].clone();
    let approved = gql(&client, &b, Some(&lee_token), approve, json!({ "id": id })).await;
    assert_eq!(approved["data"]["approveDocument"]["status"], "COMPLETED", "{approved}");
    let balance = gql(&client, &b, Some(&kim_token), "{ leaveBalance { days reservedDays } }", json!({})).await;
    assert_eq!(balance["data"]["leaveBalance"], json!({ "days": 1.0, "reservedDays": 0.0 }), "{balance}");
}
