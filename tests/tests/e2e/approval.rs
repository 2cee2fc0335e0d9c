//! E-approval over HTTP (rules A1–A11): whole lines with 전결, 선결 and
//! 대결, recall, leave cancellation, boxes, numbering, mobile sessions.

use serde_json::{Value, json};
use tests::{Tenant, TestApp, code, rule};

/// Everything a document test needs: a company with a form and people.
struct Office {
    app: TestApp,
    acme: Tenant,
    form: String,
    /// user id and token by login.
    people: std::collections::HashMap<&'static str, (String, String)>,
}

const DOCUMENT_FIELDS: &str = "id number title status version fields
    drafter { user { userId } }
    line { approvers { approver { user { userId } } state label held postReview actedBy { user { userId } } }
           agreers { agreer { user { userId } } state } agreement
           receivers { user { user { userId } } departmentId takenBy { user { userId } } } reception
           readers { user { userId } } circulation { user { userId } } references { user { userId } } }
    history { action by { user { userId } } onBehalfOf { user { userId } } comment version }";

impl Office {
    async fn open(domain: &str) -> Self {
        let app = TestApp::spawn().await;
        app.clock(json!({ "now": "2026-11-26T09:00:00+09:00" })).await;
        let acme = app.sign_up(domain).await;
        let mut people = std::collections::HashMap::new();
        for login in ["kim", "lee", "park", "choi", "dae", "reader", "circ", "ref", "stranger"] {
            people.insert(login, app.create_user(&acme, login).await);
        }
        let admin = Some(acme.admin_token.as_str());
        let create = "mutation($input: FormInput!) { createApprovalForm(input: $input) { id name fields { key type required } } }";
        let form = app
            .gql(
                admin,
                create,
                json!({ "input": { "name": "업무보고", "abbreviation": "RP", "fields": [
                    { "key": "body", "label": "본문", "type": "TEXT", "required": true },
                    { "key": "cost", "label": "금액", "type": "NUMBER" }
                ] } }),
            )
            .await;
        let form = form["data"]["createApprovalForm"]["id"].as_str().unwrap_or_else(|| panic!("{form}")).to_owned();
        Office { app, acme, form, people }
    }

    fn id(&self, login: &str) -> &str {
        &self.people[login].0
    }

    fn token(&self, login: &str) -> Option<&str> {
        Some(self.people[login].1.as_str())
    }

    async fn gql(&self, login: &str, query: &str, variables: Value) -> Value {
        self.app.gql(self.token(login), query, variables).await
    }

    /// kim submits a report to `approvers` (logins) with `extra` line fields.
    async fn submit(&self, approvers: &[&str], extra: Value) -> Value {
        let mut line = json!({ "approverIds": approvers.iter().map(|a| self.id(a)).collect::<Vec<_>>() });
        if let (Some(line), Value::Object(extra)) = (line.as_object_mut(), extra) {
            line.extend(extra);
        }
        let query =
            format!("mutation($input: DocumentInput!) {{ submitDocument(input: $input) {{ {DOCUMENT_FIELDS} }} }}");
        let input = json!({ "formId": self.form, "title": "3분기 보고", "fields": { "body": "보고드립니다", "cost": 1200 }, "line": line });
        let submitted = self.gql("kim", &query, json!({ "input": input })).await;
        assert!(submitted["errors"].is_null(), "{submitted}");
        submitted["data"]["submitDocument"].clone()
    }

    async fn approve(&self, login: &str, document: &str, mode: &str, on_behalf: Option<&str>) -> Value {
        let query = format!(
            "mutation($id: UUID!, $mode: ApprovalMode!, $for: UUID) {{ approveDocument(id: $id, mode: $mode, onBehalfOf: $for, comment: \"확인\") {{ {DOCUMENT_FIELDS} }} }}"
        );
        let on_behalf = on_behalf.map(|l| self.id(l).to_owned());
        self.gql(login, &query, json!({ "id": document, "mode": mode, "for": on_behalf })).await
    }

    async fn document(&self, login: &str, id: &str) -> Value {
        let query = format!("query($id: UUID!) {{ document(id: $id) {{ {DOCUMENT_FIELDS} }} }}");
        self.gql(login, &query, json!({ "id": id })).await
    }

    /// The titles and statuses in one of `login`'s boxes, with its count.
    async fn in_box(&self, login: &str, kind: &str) -> (i64, Vec<String>) {
        let query = "query($b: DocumentBox!) { documentBox(box: $b) { totalCount edges { node { id } } } }";
        let page = self.gql(login, query, json!({ "b": kind })).await;
        let ids = page["data"]["documentBox"]["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{page}"))
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect();
        (page["data"]["documentBox"]["totalCount"].as_i64().unwrap(), ids)
    }
}

fn doc_id(document: &Value) -> String {
    document["id"].as_str().unwrap_or_else(|| panic!("no document in {document}")).to_owned()
}

fn slot(document: &Value, index: usize) -> &Value {
    &document["line"]["approvers"][index]
}

/// A document without its generated id, for snapshots.
fn readable(document: &Value) -> Value {
    let mut document = document.clone();
    document.as_object_mut().unwrap().remove("id");
    document
}

// rules A1, A3 (전결), A5, A8
#[tokio::test]
async fn rule_a3_a_full_line_with_final_approval_completes_and_numbers_the_document() {
    let office = Office::open("approval.kr").await;
    let line = json!({ "readerIds": [office.id("reader")], "circulationIds": [office.id("circ")], "referenceIds": [office.id("ref")] });
    let document = office.submit(&["lee", "park", "choi"], line).await;
    let id = doc_id(&document);
    assert_eq!(document["status"], "IN_PROGRESS");
    assert_eq!(office.in_box("lee", "PENDING").await, (1, vec![id.clone()]));
    assert_eq!(office.in_box("park", "PENDING").await.0, 0);
    // 열람 and 참조 read from submission; 공람 only once completed.
    assert_eq!(office.in_box("reader", "REFERENCE").await.0, 1);
    assert_eq!(code(&office.document("circ", &id).await), "NOT_FOUND");
    assert_eq!(code(&office.document("stranger", &id).await), "NOT_FOUND");

    let approved = office.approve("lee", &id, "NORMAL", None).await;
    assert_eq!(slot(&approved["data"]["approveDocument"], 0)["label"], "결재", "{approved}");
    // Out of turn, and twice: refused, nothing changes.
    let head = office.app.head().await;
    assert_eq!(code(&office.approve("choi", &id, "NORMAL", None).await), "CONFLICT");
    assert_eq!(code(&office.approve("lee", &id, "NORMAL", None).await), "CONFLICT");
    assert_eq!(code(&office.approve("stranger", &id, "NORMAL", None).await), "FORBIDDEN");
    assert_eq!(office.app.head().await, head);

    let done = office.approve("park", &id, "FINAL", None).await;
    let done = &done["data"]["approveDocument"];
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["number"], "APPROVAL-2026-00001");
    assert_eq!(slot(done, 1)["label"], "전결");
    assert_eq!(slot(done, 2)["state"], "SKIPPED");
    assert_eq!(slot(done, 2)["label"], "전결");
    for login in ["kim", "lee", "park", "choi"] {
        assert_eq!(office.in_box(login, "COMPLETED").await, (1, vec![id.clone()]), "{login}");
    }
    assert_eq!(office.in_box("circ", "REFERENCE").await.0, 1);
    assert!(office.document("circ", &id).await["errors"].is_null());
    assert_eq!(code(&office.document("stranger", &id).await), "NOT_FOUND");
    // Everybody who reads it reads its history.
    let history = office.document("ref", &id).await;
    let actions: Vec<&str> = history["data"]["document"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["SUBMITTED", "APPROVED", "APPROVED_FINAL", "COMPLETED"]);
    tests::snapshot_settings().bind(|| insta::assert_json_snapshot!("approval_final_document", readable(done)));
}

// rule A3 (선결, 후열)
#[tokio::test]
async fn rule_a3_approving_ahead_leaves_the_earlier_approver_a_post_review() {
    let office = Office::open("ahead.kr").await;
    let id = doc_id(&office.submit(&["lee", "park", "choi"], json!({})).await);
    let ahead = office.approve("park", &id, "AHEAD", None).await;
    let ahead = &ahead["data"]["approveDocument"];
    assert_eq!(slot(ahead, 0)["state"], "PASSED_OVER", "{ahead}");
    assert_eq!(slot(ahead, 0)["label"], "후열");
    assert_eq!(slot(ahead, 1)["label"], "선결");
    assert_eq!(office.in_box("lee", "POST_REVIEW").await, (1, vec![id.clone()]));
    assert_eq!(office.in_box("lee", "PENDING").await.0, 0);
    assert_eq!(office.in_box("choi", "PENDING").await.0, 1);
    assert_eq!(code(&office.approve("lee", &id, "NORMAL", None).await), "CONFLICT");
    let confirm = "mutation($id: UUID!) { confirmDocumentReview(id: $id, comment: \"확인했습니다\") { line { approvers { postReview } } } }";
    let confirmed = office.gql("lee", confirm, json!({ "id": id })).await;
    assert_eq!(confirmed["data"]["confirmDocumentReview"]["line"]["approvers"][0]["postReview"], "CONFIRMED");
    assert_eq!(code(&office.gql("lee", confirm, json!({ "id": id })).await), "CONFLICT");
    assert_eq!(office.in_box("lee", "POST_REVIEW").await.0, 0);
    let done = office.approve("choi", &id, "NORMAL", None).await;
    assert_eq!(done["data"]["approveDocument"]["status"], "COMPLETED");
    assert_eq!(done["data"]["approveDocument"]["number"], "AHEAD-2026-00001");
}

// rules A3 (대결), A4
#[tokio::test]
async fn rule_a4_a_delegate_approves_during_the_absence_only() {
    let office = Office::open("delegate.kr").await;
    let register = "mutation($from: DateTime!, $to: DateTime!, $d: UUID!) { registerAbsence(from: $from, to: $to, reason: \"출장\", delegateId: $d) { id delegateId } }";
    let absence = office
        .gql(
            "lee",
            register,
            json!({ "from": "2026-11-26T00:00:00+09:00", "to": "2026-11-27T00:00:00+09:00", "d": office.id("dae") }),
        )
        .await;
    assert_eq!(absence["data"]["registerAbsence"]["delegateId"], office.id("dae"), "{absence}");
    // park is away later, not now.
    office
        .gql(
            "park",
            register,
            json!({ "from": "2026-11-28T00:00:00+09:00", "to": "2026-11-29T00:00:00+09:00", "d": office.id("dae") }),
        )
        .await;
    let empty_reason = "mutation($d: UUID!) { registerAbsence(from: \"2026-12-01T00:00:00Z\", to: \"2026-12-02T00:00:00Z\", reason: \" \", delegateId: $d) { id } }";
    assert_eq!(code(&office.gql("lee", empty_reason, json!({ "d": office.id("dae") })).await), "VALIDATION");

    let id = doc_id(&office.submit(&["lee", "park"], json!({})).await);
    // The delegate finds what waits for lee, and may read it.
    let waiting =
        office.gql("dae", "{ delegatedDocuments { onBehalfOf { user { userId } } document { id } } }", json!({})).await;
    assert_eq!(waiting["data"]["delegatedDocuments"][0]["document"]["id"], id.as_str(), "{waiting}");
    assert_eq!(waiting["data"]["delegatedDocuments"][0]["onBehalfOf"]["user"]["userId"], "lee");
    assert!(office.document("dae", &id).await["errors"].is_null());
    assert_eq!(code(&office.document("choi", &id).await), "NOT_FOUND");
    // Not lee's delegate: refused.
    assert_eq!(code(&office.approve("choi", &id, "NORMAL", Some("lee")).await), "FORBIDDEN");
    let delegated = office.approve("dae", &id, "NORMAL", Some("lee")).await;
    let delegated = &delegated["data"]["approveDocument"];
    assert_eq!(slot(delegated, 0)["label"], "대결", "{delegated}");
    assert_eq!(slot(delegated, 0)["actedBy"]["user"]["userId"], "dae");
    assert_eq!(delegated["history"][1]["onBehalfOf"]["user"]["userId"], "lee");
    assert_eq!(office.in_box("lee", "POST_REVIEW").await.0, 1);
    assert_eq!(office.in_box("dae", "IN_PROGRESS").await.0, 1);
    // park's absence has not begun: a delegate outside the period is refused.
    let head = office.app.head().await;
    assert_eq!(code(&office.approve("dae", &id, "NORMAL", Some("park")).await), "FORBIDDEN");
    assert_eq!(office.app.head().await, head);
    // During it, dae may act; at its end, no more.
    office.app.clock(json!({ "now": "2026-11-29T00:00:00+09:00" })).await;
    let dae = office.app.login("delegate.kr", "dae", "user-pass-1").await.unwrap();
    let reject = "mutation($id: UUID!, $for: UUID) { rejectDocument(id: $id, onBehalfOf: $for) { status } }";
    let late = office.app.gql(Some(&dae), reject, json!({ "id": id, "for": office.id("park") })).await;
    assert_eq!(code(&late), "FORBIDDEN");
    office.app.clock(json!({ "now": "2026-11-28T23:59:59+09:00" })).await;
    let rejected = office.app.gql(Some(&dae), reject, json!({ "id": id, "for": office.id("park") })).await;
    assert_eq!(rejected["data"]["rejectDocument"]["status"], "REJECTED", "{rejected}");
}

// rule A7
#[tokio::test]
async fn rule_a7_a_recall_needs_a_reason_and_tells_everyone_on_the_line() {
    let office = Office::open("recall.kr").await;
    let id = doc_id(&office.submit(&["lee", "park"], json!({ "referenceIds": [office.id("ref")] })).await);
    let recall = "mutation($id: UUID!, $r: String!) { recallDocument(id: $id, reason: $r) { status } }";
    let head = office.app.head().await;
    assert_eq!(code(&office.gql("kim", recall, json!({ "id": id, "r": "  " })).await), "VALIDATION");
    assert_eq!(code(&office.gql("lee", recall, json!({ "id": id, "r": "mine now" })).await), "FORBIDDEN");
    assert_eq!(office.app.head().await, head);
    let recalled = office.gql("kim", recall, json!({ "id": id, "r": "금액 오류" })).await;
    assert_eq!(recalled["data"]["recallDocument"]["status"], "RECALLED", "{recalled}");
    assert_eq!(office.in_box("lee", "PENDING").await.0, 0);
    assert_eq!(office.in_box("kim", "RECALLED").await, (1, vec![id.clone()]));
    assert_eq!(code(&office.document("lee", &id).await), "NOT_FOUND");
    // The notice reaches each one on the line through webmail.
    office.app.settle().await;
    for login in ["lee", "park", "ref"] {
        let inbox =
            office.gql(login, "{ mailbox(folder: \"inbox\") { edges { node { subject kind } } } }", json!({})).await;
        let subjects = inbox["data"]["mailbox"]["edges"].as_array().unwrap().clone();
        assert_eq!(subjects.len(), 1, "{login}");
        assert_eq!(subjects[0]["node"]["subject"], "An approval document was recalled");
    }
    // Resubmitted, it is a new version; completed, it cannot be recalled.
    let resubmit = format!(
        "mutation($id: UUID!, $input: DocumentInput!) {{ submitDocument(id: $id, input: $input) {{ {DOCUMENT_FIELDS} }} }}"
    );
    let input = json!({ "formId": office.form, "title": "3분기 보고 (수정)", "fields": { "body": "수정본" }, "line": { "approverIds": [office.id("lee")] } });
    let again = office.gql("kim", &resubmit, json!({ "id": id, "input": input })).await;
    assert_eq!(again["data"]["submitDocument"]["version"], 2, "{again}");
    office.approve("lee", &id, "NORMAL", None).await;
    assert_eq!(code(&office.gql("kim", recall, json!({ "id": id, "r": "too late" })).await), "CONFLICT");
}

// rules A2 (parallel agreement, reception), A6, A8
#[tokio::test]
async fn rule_a6_boxes_follow_the_organisation_and_nobody_sees_foreign_documents() {
    let office = Office::open("boxes.kr").await;
    let admin = Some(office.acme.admin_token.as_str());
    let create = "mutation($n: String!) { createDepartment(name: $n) { id } }";
    let sales = office.app.gql(admin, create, json!({ "n": "영업팀" })).await["data"]["createDepartment"]["id"].clone();
    let legal = office.app.gql(admin, create, json!({ "n": "법무팀" })).await["data"]["createDepartment"]["id"].clone();
    let assign = "mutation($u: UUID!, $d: UUID!) { assignMember(userId: $u, departmentId: $d) { departmentId } }";
    for (login, department) in [("kim", &sales), ("reader", &sales), ("dae", &legal), ("choi", &legal)] {
        office.app.gql(admin, assign, json!({ "u": office.id(login), "d": department })).await;
    }
    office
        .app
        .gql(
            admin,
            "mutation($d: UUID!, $u: UUID!) { setDepartmentHead(departmentId: $d, userId: $u) { id } }",
            json!({ "d": legal, "u": office.id("dae") }),
        )
        .await;
    office
        .app
        .gql(
            admin,
            "mutation($d: UUID!, $u: UUID!) { setBoxManager(departmentId: $d, userId: $u) { id } }",
            json!({ "d": legal, "u": office.id("choi") }),
        )
        .await;

    let line = json!({ "agreerIds": [office.id("park"), office.id("ref")], "agreement": "PARALLEL", "receivers": [{ "departmentId": legal }] });
    let id = doc_id(&office.submit(&["lee"], line).await);
    assert_eq!(office.in_box("park", "PENDING").await.0, 1);
    assert_eq!(office.in_box("ref", "PENDING").await.0, 1);
    assert_eq!(office.in_box("lee", "PENDING").await.0, 0);
    let agree = "mutation($id: UUID!) { agreeDocument(id: $id) { line { agreers { state } } } }";
    office.gql("ref", agree, json!({ "id": id })).await;
    office.gql("park", agree, json!({ "id": id })).await;
    assert_eq!(office.in_box("lee", "PENDING").await.0, 1);
    office.approve("lee", &id, "NORMAL", None).await;

    // The department box: members of the drafter's department only.
    assert_eq!(office.in_box("reader", "DEPARTMENT").await, (1, vec![id.clone()]));
    assert!(office.document("reader", &id).await["errors"].is_null());
    assert_eq!(code(&office.document("stranger", &id).await), "NOT_FOUND");
    let department_box = "query($d: UUID) { documentBox(box: DEPARTMENT, departmentId: $d) { totalCount } }";
    assert_eq!(code(&office.gql("stranger", department_box, json!({ "d": sales })).await), "FORBIDDEN");

    // Received by the legal team: its head and box manager see it until one takes it.
    let received = "{ documentBox(box: DEPARTMENT_RECEIVED) { totalCount } }";
    assert_eq!(office.gql("choi", received, json!({})).await["data"]["documentBox"]["totalCount"], 1);
    assert_eq!(office.gql("dae", received, json!({})).await["data"]["documentBox"]["totalCount"], 1);
    let take =
        "mutation($id: UUID!) { receiveDocument(id: $id) { line { receivers { takenBy { user { userId } } } } } }";
    assert_eq!(code(&office.gql("stranger", take, json!({ "id": id })).await), "FORBIDDEN");
    let taken = office.gql("choi", take, json!({ "id": id })).await;
    assert_eq!(
        taken["data"]["receiveDocument"]["line"]["receivers"][0]["takenBy"]["user"]["userId"], "choi",
        "{taken}"
    );
    assert_eq!(office.gql("dae", received, json!({})).await["data"]["documentBox"]["totalCount"], 0);
    assert_eq!(office.in_box("choi", "RECEIVED").await.0, 1);
    assert_eq!(code(&office.gql("dae", take, json!({ "id": id })).await), "CONFLICT");

    // Document admins see every document of the company.
    let all = "{ allDocuments { totalCount } }";
    assert_eq!(code(&office.gql("stranger", all, json!({})).await), "FORBIDDEN");
    let grant = "mutation($id: UUID!) { grantRole(id: $id, role: DOCUMENT_ADMIN) { id } }";
    office.app.gql(admin, grant, json!({ "id": office.id("stranger") })).await;
    let stranger = office.app.login("boxes.kr", "stranger", "user-pass-1").await.unwrap();
    assert_eq!(office.app.gql(Some(&stranger), all, json!({})).await["data"]["allDocuments"]["totalCount"], 1);
    assert!(
        office.app.gql(Some(&stranger), &format!("{{ document(id: \"{id}\") {{ id }} }}"), json!({})).await["errors"]
            .is_null()
    );

    let counts = office.gql("kim", "{ documentBoxCounts { box count } }", json!({})).await;
    tests::snapshot_settings().bind(|| insta::assert_json_snapshot!("approval_box_counts", counts["data"]));
}

// The number sequence under concurrent completions.
#[tokio::test]
async fn concurrent_completions_get_gap_free_numbers() {
    let office = Office::open("numbers.kr").await;
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(doc_id(&office.submit(&["lee"], json!({})).await));
    }
    let approvals = ids.iter().map(|id| office.approve("lee", id, "NORMAL", None));
    let results = futures::future::join_all(approvals).await;
    let mut numbers: Vec<String> = results
        .iter()
        .map(|r| r["data"]["approveDocument"]["number"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned())
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1..=8).map(|n| format!("NUMBERS-2026-{n:05}")).collect();
    assert_eq!(numbers, expected);
}

// rule A11
#[tokio::test]
async fn rule_a11_a_mobile_session_only_approves_and_rejects() {
    let office = Office::open("mobile.kr").await;
    let id = doc_id(&office.submit(&["lee", "park"], json!({})).await);
    let login = "mutation { login(domain: \"mobile.kr\", userId: \"lee\", password: \"user-pass-1\", client: MOBILE) { token } }";
    let mobile = office.app.gql(None, login, json!({})).await["data"]["login"]["token"].as_str().unwrap().to_owned();
    // Reading is allowed; drafting and other actions are not.
    let pending = office.app.gql(Some(&mobile), "{ documentBox(box: PENDING) { totalCount } }", json!({})).await;
    assert_eq!(pending["data"]["documentBox"]["totalCount"], 1, "{pending}");
    let submit = "mutation($input: DocumentInput!) { submitDocument(input: $input) { id } }";
    let input = json!({ "formId": office.form, "title": "모바일", "fields": { "body": "x" }, "line": { "approverIds": [office.id("park")] } });
    assert_eq!(code(&office.app.gql(Some(&mobile), submit, json!({ "input": input })).await), "FORBIDDEN");
    let hold = "mutation($id: UUID!) { holdDocument(id: $id) { status } }";
    assert_eq!(code(&office.app.gql(Some(&mobile), hold, json!({ "id": id })).await), "FORBIDDEN");
    let approve = "mutation($id: UUID!) { approveDocument(id: $id) { status } }";
    let approved = office.app.gql(Some(&mobile), approve, json!({ "id": id })).await;
    assert_eq!(approved["data"]["approveDocument"]["status"], "IN_PROGRESS", "{approved}");
}

// Bad input changes nothing.
#[tokio::test]
async fn bad_documents_are_refused_and_change_nothing() {
    let office = Office::open("refuse.kr").await;
    let submit = "mutation($input: DocumentInput!) { submitDocument(input: $input) { id } }";
    let unknown = uuid::Uuid::now_v7().to_string();
    let head = office.app.head().await;
    let cases = [
        (
            json!({ "formId": office.form, "title": "t", "fields": { "body": "x" }, "line": { "approverIds": [unknown] } }),
            "VALIDATION",
        ),
        (
            json!({ "formId": office.form, "title": "t", "fields": { "body": "x" }, "line": { "approverIds": [] } }),
            "VALIDATION",
        ),
        (
            json!({ "formId": office.form, "title": " ", "fields": { "body": "x" }, "line": { "approverIds": [office.id("lee")] } }),
            "VALIDATION",
        ),
        (
            json!({ "formId": office.form, "title": "t", "fields": {}, "line": { "approverIds": [office.id("lee")] } }),
            "VALIDATION",
        ),
        (
            json!({ "formId": office.form, "title": "t", "fields": { "body": "x" }, "line": { "approverIds": [office.id("kim")] } }),
            "VALIDATION",
        ),
        (
            json!({ "formId": unknown, "title": "t", "fields": { "body": "x" }, "line": { "approverIds": [office.id("lee")] } }),
            "NOT_FOUND",
        ),
        (
            json!({ "formId": office.form, "title": "t", "fields": { "body": "x" }, "line": { "approverIds": [office.id("lee")], "receivers": [{ "departmentId": unknown }] } }),
            "VALIDATION",
        ),
    ];
    for (input, expected) in cases {
        let response = office.gql("kim", submit, json!({ "input": input })).await;
        assert_eq!(code(&response), expected, "{input}");
    }
    let form = "mutation { createApprovalForm(input: { name: \"x\", abbreviation: \"x\", fields: [] }) { id } }";
    assert_eq!(code(&office.gql("kim", form, json!({})).await), "FORBIDDEN");
    assert_eq!(office.app.head().await, head);
}

// rule A10
#[tokio::test]
async fn rule_a10_a_backup_is_made_in_the_background_and_kept_for_30_days() {
    let office = Office::open("backup.kr").await;
    let done = doc_id(&office.submit(&["lee"], json!({})).await);
    office.approve("lee", &done, "NORMAL", None).await;
    office.submit(&["lee", "park"], json!({})).await;
    let admin = Some(office.acme.admin_token.as_str());
    let request = "mutation($f: String!, $t: String!) { requestDocumentBackup(from: $f, to: $t) { id status from to expiresAt downloadPath } }";
    assert_eq!(code(&office.gql("kim", request, json!({ "f": "20261126", "t": "20261126" })).await), "FORBIDDEN");
    for (from, to) in [("2026-11-26", "20261126"), ("20261127", "20261126"), ("20261301", "20261301")] {
        assert_eq!(code(&office.app.gql(admin, request, json!({ "f": from, "t": to })).await), "VALIDATION", "{from}");
    }
    let requested = office.app.gql(admin, request, json!({ "f": "20261101", "t": "20261126" })).await;
    let backup = &requested["data"]["requestDocumentBackup"];
    assert_eq!(backup["expiresAt"], "2026-12-26T00:00:00+00:00", "{requested}");
    let path = backup["downloadPath"].as_str().unwrap().to_owned();
    office.app.settle().await;
    let status = office.app.gql(admin, "{ documentBackups { status documents failure } }", json!({})).await;
    assert_eq!(status["data"]["documentBackups"][0]["status"], "READY", "{status}");
    assert_eq!(status["data"]["documentBackups"][0]["documents"], 2, "{status}");
    let client = reqwest::Client::new();
    let download = |token: String| {
        let (client, url) = (client.clone(), format!("{}{path}", office.app.address));
        async move { client.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let kim = download(office.people["kim"].1.clone()).await;
    assert_eq!(kim.status(), 403);
    let archive = download(office.acme.admin_token.clone()).await;
    assert_eq!(archive.status(), 200);
    let bytes = archive.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.expect("name").into_owned()).collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"BACKUP-2026-00001.html".to_owned()) && names.contains(&"index.html".to_owned()));
    let mut page = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("BACKUP-2026-00001.html").unwrap(), &mut page).unwrap();
    assert!(page.contains("결재 이력") && page.contains("APPROVED") && page.contains("3분기 보고"), "{page}");

    // 30 days after the request: the last second still works, then no more.
    office.app.clock(json!({ "now": "2026-12-26T08:59:59+09:00" })).await;
    let token = office.app.login("backup.kr", "admin", "s3cret-pass").await.unwrap();
    assert_eq!(download(token.clone()).await.status(), 200);
    office.app.clock(json!({ "now": "2026-12-26T09:00:00+09:00" })).await;
    let expired = download(token).await;
    assert_eq!(expired.status(), 409);
    let body: Value = expired.json().await.unwrap();
    assert_eq!((code(&body), rule(&body)), ("CONFLICT".into(), "A10".into()), "{body}");
}

#[tokio::test]
async fn rule_a6_a_documents_stream_history_shows_content_only_to_those_who_may_open_it() {
    let office = Office::open("dochistory.com").await;
    let document = office.submit(&["lee"], json!({})).await;
    let stream = format!("document-{}", document["id"].as_str().unwrap().replace('-', ""));
    let history =
        "query($s: String!) { streamHistory(streamId: $s) { edges { node { type actorId data contentWithheld } } } }";
    let admin = Some(office.acme.admin_token.as_str());
    // The admin has no part in the document and is no document admin.
    let seen = office.app.gql(admin, history, json!({ "s": stream })).await;
    let nodes = seen["data"]["streamHistory"]["edges"].as_array().unwrap_or_else(|| panic!("{seen}")).clone();
    assert!(!nodes.is_empty());
    assert!(nodes.iter().all(|e| e["node"]["contentWithheld"] == true && e["node"]["data"].is_null()), "{seen}");
    assert_eq!(nodes[0]["node"]["actorId"], office.id("kim"));
    assert!(!seen.to_string().contains("3분기 보고"), "{seen}");
    // A document admin may open every document, and so read its history.
    let grant = "mutation($id: UUID!) { grantRole(id: $id, role: DOCUMENT_ADMIN) { id } }";
    office.app.gql(admin, grant, json!({ "id": office.acme.admin_id })).await;
    let seen = office.app.gql(admin, history, json!({ "s": stream })).await;
    assert!(seen.to_string().contains("3분기 보고"), "{seen}");
}

// rule U1: a document waiting for a deleted approver is not stuck: a
// document admin finds it and gives the place to another user, who
// approves; the history shows who acted and the deleted user as deleted.
#[tokio::test]
async fn rule_u1_a_deleted_approvers_place_is_given_to_another_user() {
    let office = Office::open("reassign.kr").await;
    let id = doc_id(&office.submit(&["lee", "park"], json!({})).await);
    assert_eq!(office.approve("lee", &id, "NORMAL", None).await["errors"], Value::Null);
    let admin = Some(office.acme.admin_token.as_str());
    let grant = "mutation($id: UUID!) { grantRole(id: $id, role: DOCUMENT_ADMIN) { roles } }";
    let granted = office.app.gql(admin, grant, json!({ "id": office.id("choi") })).await;
    assert!(granted["errors"].is_null(), "{granted}");
    let choi = office.app.login("reassign.kr", "choi", "user-pass-1").await.unwrap();
    let reassign = "mutation($id: UUID!, $from: UUID!, $to: UUID!) { reassignDocument(id: $id, from: $from, to: $to) {
        line { approvers { approver { id user { userId } } state } } } }";
    let waiting = "query($u: UUID!) { documentsWaitingFor(userId: $u) { totalCount edges { node { id } } } }";
    let vars = json!({ "id": id, "from": office.id("park"), "to": office.id("dae") });

    // Park is still a user: nothing is taken from them.
    let head = office.app.head().await;
    assert_eq!(code(&office.app.gql(Some(&choi), reassign, vars.clone()).await), "VALIDATION");
    let deleted =
        office.app.gql(admin, "mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": office.id("park") })).await;
    assert!(deleted["errors"].is_null(), "{deleted}");
    // Only a document admin reassigns, or sees what waits for another.
    assert_eq!(code(&office.gql("kim", reassign, vars.clone()).await), "FORBIDDEN");
    assert_eq!(code(&office.gql("kim", waiting, json!({ "u": office.id("park") })).await), "FORBIDDEN");
    let to_stranger = json!({ "id": id, "from": office.id("park"), "to": uuid::Uuid::now_v7() });
    assert_eq!(code(&office.app.gql(Some(&choi), reassign, to_stranger).await), "NOT_FOUND");
    let to_lee = json!({ "id": id, "from": office.id("park"), "to": office.id("lee") });
    assert_eq!(code(&office.app.gql(Some(&choi), reassign, to_lee).await), "CONFLICT");
    assert_eq!(office.app.head().await, head + 1, "the deletion only");

    let stuck = office.app.gql(Some(&choi), waiting, json!({ "u": office.id("park") })).await;
    assert_eq!(stuck["data"]["documentsWaitingFor"]["edges"][0]["node"]["id"], id.as_str(), "{stuck}");
    let moved = office.app.gql(Some(&choi), reassign, vars).await;
    let approvers = &moved["data"]["reassignDocument"]["line"]["approvers"];
    assert_eq!(approvers[1]["approver"]["id"], office.id("dae"), "{moved}");
    assert_eq!(office.in_box("dae", "PENDING").await, (1, vec![id.clone()]));
    let approved = office.approve("dae", &id, "NORMAL", None).await;
    assert_eq!(approved["data"]["approveDocument"]["status"], "COMPLETED", "{approved}");
    let history = &approved["data"]["approveDocument"]["history"];
    let actions: Vec<_> = history.as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["SUBMITTED", "APPROVED", "REASSIGNED", "APPROVED", "COMPLETED"]);
    let entry = office
        .app
        .gql(
            Some(&choi),
            "query($id: UUID!) { document(id: $id) { history {
        action reassignedFrom { id user { userId } } reassignedTo { id user { userId } } } } }",
            json!({ "id": id }),
        )
        .await;
    let reassigned = &entry["data"]["document"]["history"][2];
    assert_eq!(
        reassigned["reassignedFrom"],
        json!({ "id": office.id("park"), "user": null }),
        "the deleted user shows as deleted"
    );
    assert_eq!(reassigned["reassignedTo"]["user"]["userId"], "dae");
}
