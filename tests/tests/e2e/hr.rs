//! HR and leave over HTTP (rules H1–H6): cards, the leave ledger and its
//! accrual by the scheduler, adjustments by CSV, bulk, partial and direct,
//! and a leave request approved, then cancelled.

use commands::CommandContext;
use domain::Actor;
use domain::approval::{Document, DocumentAction, DocumentCommand};
use domain::hr::LeaveLedger;
use serde_json::{Value, json};
use store::Direction;
use tests::{Tenant, TestApp, code, rule};
use uuid::Uuid;

struct Company {
    app: TestApp,
    acme: Tenant,
    hr: String,
    kim: (String, String),
    lee: (String, String),
}

const CARD: &str = "mutation($input: HrCardInput!) { createHrCard(input: $input) { id employeeNo name userId hireDate birthDate hasResidentNumber status history { status on reason } } }";
const BALANCE: &str = "query($e: UUID) { leaveBalance(employeeId: $e) { days quarterDays hireDate nextDue } }";

async fn company(domain: &str, now: &str) -> Company {
    let app = TestApp::spawn().await;
    app.clock(json!({ "now": now })).await;
    let acme = app.sign_up(domain).await;
    let (hr_id, _) = app.create_user(&acme, "hr").await;
    let grant = "mutation($id: UUID!) { grantRole(id: $id, role: HR_MANAGER) { id } }";
    app.gql(Some(&acme.admin_token), grant, json!({ "id": hr_id })).await;
    let hr = app.login(domain, "hr", "user-pass-1").await.unwrap();
    let kim = app.create_user(&acme, "kim").await;
    let lee = app.create_user(&acme, "lee").await;
    Company { app, acme, hr, kim, lee }
}

impl Company {
    async fn card(&self, number: &str, user: Option<&str>, hire: Option<&str>) -> Value {
        let input = json!({ "employeeNo": number, "name": "김사원", "userId": user, "hireDate": hire, "residentNumber": "711231-1234567", "duties": "영업" });
        let card = self.app.gql(Some(&self.hr), CARD, json!({ "input": input })).await;
        assert!(card["errors"].is_null(), "{card}");
        card["data"]["createHrCard"].clone()
    }

    /// A leave request form: the request of a number of days, approved by
    /// lee.
    async fn leave_request(&self) -> impl Fn(f64) -> Value {
        let form = self
            .app
            .gql(
                Some(&self.acme.admin_token),
                "mutation { createApprovalForm(input: { name: \"휴가신청서\", abbreviation: \"LV\", public: false, leaveRequest: true, fields: [
                    { key: \"days\", label: \"일수\", type: NUMBER, required: true },
                    { key: \"period\", label: \"기간\", type: DATE_RANGE, required: true }] }) { id } }",
                json!({}),
            )
            .await["data"]["createApprovalForm"]["id"]
            .clone();
        let lee = self.lee.0.clone();
        move |days: f64| json!({ "input": { "formId": form, "title": "연차 신청", "fields": { "days": days, "period": { "from": "2026-12-01", "to": "2026-12-02" } }, "line": { "approverIds": [lee] } } })
    }

    /// Kim's reserved days, once the process managers have caught up
    /// (they release them), are `expected`.
    async fn reserved_becomes(&self, expected: f64) {
        self.app.settle().await;
        let held = self.app.gql(Some(&self.kim.1), HELD, json!({})).await;
        assert_eq!(held["data"]["leaveBalance"]["reservedDays"].as_f64(), Some(expected), "{held}");
    }

    /// A balance once the processes have caught up: `expected` days.
    async fn balance_becomes(&self, token: &str, expected: f64) -> Value {
        self.app.settle().await;
        let balance = self.app.gql(Some(token), BALANCE, json!({})).await;
        assert_eq!(balance["data"]["leaveBalance"]["days"].as_f64(), Some(expected), "{balance}");
        balance["data"]["leaveBalance"].clone()
    }
}

// rules H1, H2, H3, H4
#[tokio::test]
async fn rule_h2_hr_managers_keep_cards_for_everyone_and_only_account_holders_get_leave() {
    let co = company("cards.kr", "2026-11-26T09:00:00+09:00").await;
    let input = json!({ "employeeNo": "E-1", "name": "김사원", "userId": co.kim.0 });
    assert_eq!(code(&co.app.gql(Some(&co.kim.1), CARD, json!({ "input": input })).await), "FORBIDDEN");
    let kim = co.card("E-1", Some(&co.kim.0), Some("2020-03-02")).await;
    assert_eq!(kim["birthDate"], "1971-12-31");
    assert_eq!(kim["hasResidentNumber"], true);
    let intern = co.card("I-1", None, Some("2026-09-01")).await;
    let duplicate = json!({ "employeeNo": "E-1", "name": "박인턴" });
    assert_eq!(code(&co.app.gql(Some(&co.hr), CARD, json!({ "input": duplicate })).await), "CONFLICT");
    let bad_number = json!({ "employeeNo": "E-9", "name": "박인턴", "residentNumber": "711331-1234567" });
    assert_eq!(code(&co.app.gql(Some(&co.hr), CARD, json!({ "input": bad_number })).await), "VALIDATION");
    // H4: the intern has a card but no leave.
    let intern_leave = co.app.gql(Some(&co.hr), BALANCE, json!({ "e": intern["id"] })).await;
    assert_eq!(code(&intern_leave), "NOT_FOUND");
    // H3: status changes are recorded; a retired card stays.
    let retire = "mutation($id: UUID!) { changeEmploymentStatus(id: $id, status: RETIRED, on: \"2026-11-30\", reason: \"계약 만료\") { status history { status on reason } } }";
    let retired = co.app.gql(Some(&co.hr), retire, json!({ "id": intern["id"] })).await;
    assert_eq!(retired["data"]["changeEmploymentStatus"]["status"], "RETIRED", "{retired}");
    assert_eq!(retired["data"]["changeEmploymentStatus"]["history"][1]["reason"], "계약 만료");
    // Everyone reads their own card, not somebody else's.
    let own = co
        .app
        .gql(Some(&co.kim.1), "query($id: UUID!) { hrCard(id: $id) { employeeNo } }", json!({ "id": co.kim.0 }))
        .await;
    assert_eq!(own["data"]["hrCard"]["employeeNo"], "E-1");
    let other = co
        .app
        .gql(Some(&co.lee.1), "query($id: UUID!) { hrCard(id: $id) { employeeNo } }", json!({ "id": co.kim.0 }))
        .await;
    assert_eq!(code(&other), "FORBIDDEN");
    assert_eq!(code(&co.app.gql(Some(&co.kim.1), "{ hrCards { id } }", json!({})).await), "FORBIDDEN");
    let cards = co.app.gql(Some(&co.hr), "{ hrCards { employeeNo status } }", json!({})).await;
    tests::snapshot_settings().bind(|| insta::assert_json_snapshot!("hr_cards", cards["data"]));
}

// rule H4: accrual by the scheduler, on the right day in the company's time zone
#[tokio::test]
async fn rule_h4_leave_accrues_monthly_on_the_right_day_and_never_twice() {
    let co = company("accrual.kr", "2026-11-26T09:00:00+09:00").await;
    // Hired a month ago today: the first monthly day is due now.
    co.card("E-1", Some(&co.kim.0), Some("2026-10-26")).await;
    let balance = co.balance_becomes(&co.kim.1, 1.0).await;
    assert_eq!(balance["nextDue"], "2026-12-26");
    // One second before midnight in Seoul: nothing; at midnight: the next day.
    co.app.clock(json!({ "now": "2026-12-25T23:59:59+09:00" })).await;
    co.app.settle().await;
    let kim = co.app.login("accrual.kr", "kim", "user-pass-1").await.unwrap();
    assert_eq!(co.app.gql(Some(&kim), BALANCE, json!({})).await["data"]["leaveBalance"]["days"], 1.0);
    co.app.clock(json!({ "now": "2026-12-26T00:00:00+09:00" })).await;
    co.balance_becomes(&kim, 2.0).await;
    // The clock moving on without a new due date grants nothing more.
    co.app.clock(json!({ "now": "2026-12-26T08:00:00+09:00" })).await;
    co.app.settle().await;
    let history = co
        .app
        .gql(Some(&kim), "{ leaveHistory { totalCount edges { node { kind quarters before after } } } }", json!({}))
        .await;
    assert_eq!(history["data"]["leaveHistory"]["totalCount"], 2, "{history}");
}

// rules H5, H6, A7 (a leave request is cancelled, never recalled)
#[tokio::test]
async fn rule_h6_a_leave_request_approved_then_cancelled() {
    let co = company("leave.kr", "2026-11-26T09:00:00+09:00").await;
    co.card("E-1", Some(&co.kim.0), Some("2020-03-02")).await;
    let adjust = "mutation($e: UUID!, $d: Float!, $m: AdjustMode!) { adjustLeave(employeeId: $e, days: $d, mode: $m, reason: \"이월\") { days } }";
    let set = co.app.gql(Some(&co.hr), adjust, json!({ "e": co.kim.0, "d": 10, "m": "SET" })).await;
    assert_eq!(set["data"]["adjustLeave"]["days"], 10.0, "{set}");
    let request = co.leave_request().await;
    // A day count not in quarter days, beyond the balance, or from lee, who
    // has no ledger at all: refused.
    assert_eq!(code(&co.app.gql(Some(&co.kim.1), SUBMIT, request(0.3)).await), "VALIDATION");
    assert_eq!(code(&co.app.gql(Some(&co.kim.1), SUBMIT, request(10.25)).await), "CONFLICT");
    assert_eq!(code(&co.app.gql(Some(&co.lee.1), SUBMIT, request(1.0)).await), "CONFLICT");
    let submitted = co.app.gql(Some(&co.kim.1), SUBMIT, request(1.5)).await;
    let id = submitted["data"]["submitDocument"]["id"].as_str().unwrap_or_else(|| panic!("{submitted}")).to_owned();
    assert_eq!(co.app.gql(Some(&co.kim.1), BALANCE, json!({})).await["data"]["leaveBalance"]["days"], 10.0);
    // The request in progress counts against what is left.
    assert_eq!(code(&co.app.gql(Some(&co.kim.1), SUBMIT, request(9.0)).await), "CONFLICT");
    let approve = "mutation($id: UUID!) { approveDocument(id: $id) { status } }";
    assert_eq!(
        co.app.gql(Some(&co.lee.1), approve, json!({ "id": id })).await["data"]["approveDocument"]["status"],
        "COMPLETED"
    );
    assert_eq!(co.app.gql(Some(&co.kim.1), BALANCE, json!({})).await["data"]["leaveBalance"]["days"], 8.5);
    let recall = "mutation($id: UUID!) { recallDocument(id: $id, reason: \"변경\") { status } }";
    assert_eq!(code(&co.app.gql(Some(&co.kim.1), recall, json!({ "id": id })).await), "CONFLICT");
    let cancel = "mutation($id: UUID!) { cancelLeaveRequest(id: $id, reason: \"일정 변경\") { status } }";
    assert_eq!(
        co.app.gql(Some(&co.kim.1), cancel, json!({ "id": id })).await["data"]["cancelLeaveRequest"]["status"],
        "CANCELLED"
    );
    assert_eq!(co.app.gql(Some(&co.kim.1), BALANCE, json!({})).await["data"]["leaveBalance"]["days"], 10.0);
    // A rejected request deducts nothing.
    let rejected = co.app.gql(Some(&co.kim.1), SUBMIT, request(2.0)).await;
    let rejected = rejected["data"]["submitDocument"]["id"].clone();
    let reject = "mutation($id: UUID!) { rejectDocument(id: $id, comment: \"다른 날로\") { status } }";
    assert_eq!(
        co.app.gql(Some(&co.lee.1), reject, json!({ "id": rejected })).await["data"]["rejectDocument"]["status"],
        "REJECTED"
    );
    assert_eq!(co.app.gql(Some(&co.kim.1), BALANCE, json!({})).await["data"]["leaveBalance"]["days"], 10.0);
    let history = co
        .app
        .gql(Some(&co.kim.1), "{ leaveHistory { edges { node { kind quarters before after reason } } } }", json!({}))
        .await;
    tests::snapshot_settings().bind(|| insta::assert_json_snapshot!("leave_history_after_cancel", history["data"]));
}

const SUBMIT: &str = "mutation($input: DocumentInput!) { submitDocument(input: $input) { id status } }";
const ADJUST: &str = "mutation($e: UUID!, $d: Float!, $m: AdjustMode!) { adjustLeave(employeeId: $e, days: $d, mode: $m, reason: \"정정\") { days } }";
const HELD: &str = "{ leaveBalance { days reservedDays } }";

// rule H6: the check and the reservation are one decision on the ledger
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_h6_concurrent_leave_requests_never_take_more_than_the_balance() {
    let co = company("reserve.kr", "2026-11-26T09:00:00+09:00").await;
    co.card("E-1", Some(&co.kim.0), Some("2020-03-02")).await;
    let set = co.app.gql(Some(&co.hr), ADJUST, json!({ "e": co.kim.0, "d": 3, "m": "SET" })).await;
    assert_eq!(set["data"]["adjustLeave"]["days"], 3.0, "{set}");
    let request = co.leave_request().await;
    // Eight requests of 2 days at the same moment, with 3 days left.
    let answers = futures::future::join_all((0..8).map(|_| co.app.gql(Some(&co.kim.1), SUBMIT, request(2.0)))).await;
    let accepted: Vec<&Value> = answers.iter().filter(|a| a["errors"].is_null()).collect();
    assert_eq!(accepted.len(), 1, "{answers:?}");
    for refused in answers.iter().filter(|a| !a["errors"].is_null()) {
        assert_eq!(code(refused), "CONFLICT", "{refused}");
        assert_eq!(rule(refused), "H6", "{refused}");
    }
    let id = accepted[0]["data"]["submitDocument"]["id"].clone();
    let held = co.app.gql(Some(&co.kim.1), HELD, json!({})).await;
    assert_eq!(held["data"]["leaveBalance"], json!({ "days": 3.0, "reservedDays": 2.0 }), "{held}");
    // HR cannot lower the balance below what the request holds.
    let head = co.app.head().await;
    let lowered = co.app.gql(Some(&co.hr), ADJUST, json!({ "e": co.kim.0, "d": -2, "m": "DELTA" })).await;
    assert_eq!(code(&lowered), "CONFLICT", "{lowered}");
    let csv = "mutation($csv: String!) { uploadLeaveAdjustments(csv: $csv) }";
    let low = co.app.gql(Some(&co.hr), csv, json!({ "csv": "employee_no,balance_days,reason\nE-1,1,정정\n" })).await;
    assert_eq!(code(&low), "VALIDATION", "{low}");
    let everyone = "mutation { adjustLeaveForEveryone(deltaDays: -1.5, reason: \"정정\") }";
    assert_eq!(code(&co.app.gql(Some(&co.hr), everyone, json!({})).await), "CONFLICT");
    assert_eq!(co.app.head().await, head, "nothing was written");
    // The approval takes the reserved days: 1 day is left.
    let approve = "mutation($id: UUID!) { approveDocument(id: $id) { status } }";
    let approved = co.app.gql(Some(&co.lee.1), approve, json!({ "id": id })).await;
    assert_eq!(approved["data"]["approveDocument"]["status"], "COMPLETED", "{approved}");
    let held = co.app.gql(Some(&co.kim.1), HELD, json!({})).await;
    assert_eq!(held["data"]["leaveBalance"], json!({ "days": 1.0, "reservedDays": 0.0 }), "{held}");
    // A rejected request releases its day at once, so it may be asked for
    // again; a request beyond what is left reserves nothing.
    assert_eq!(code(&co.app.gql(Some(&co.kim.1), SUBMIT, request(1.25)).await), "CONFLICT");
    let one = co.app.gql(Some(&co.kim.1), SUBMIT, request(1.0)).await;
    let one = one["data"]["submitDocument"]["id"].clone();
    assert_eq!(co.app.gql(Some(&co.kim.1), HELD, json!({})).await["data"]["leaveBalance"]["reservedDays"], 1.0);
    let reject = "mutation($id: UUID!) { rejectDocument(id: $id) { status } }";
    assert_eq!(
        co.app.gql(Some(&co.lee.1), reject, json!({ "id": one })).await["data"]["rejectDocument"]["status"],
        "REJECTED"
    );
    let held = co.app.gql(Some(&co.kim.1), HELD, json!({})).await;
    assert_eq!(held["data"]["leaveBalance"], json!({ "days": 1.0, "reservedDays": 0.0 }), "{held}");
    // Resubmitted (a second submission) it reserves again; cancelled, it
    // releases again.
    let resubmit = "mutation($id: UUID!, $input: DocumentInput!) { submitDocument(id: $id, input: $input) { status } }";
    let mut again = request(1.0);
    again["id"] = one.clone();
    let again = co.app.gql(Some(&co.kim.1), resubmit, again).await;
    assert_eq!(again["data"]["submitDocument"]["status"], "IN_PROGRESS", "{again}");
    assert_eq!(co.app.gql(Some(&co.kim.1), HELD, json!({})).await["data"]["leaveBalance"]["reservedDays"], 1.0);
    let cancel = "mutation($id: UUID!) { cancelLeaveRequest(id: $id, reason: \"일정 변경\") { status } }";
    assert_eq!(
        co.app.gql(Some(&co.kim.1), cancel, json!({ "id": one })).await["data"]["cancelLeaveRequest"]["status"],
        "CANCELLED"
    );
    let held = co.app.gql(Some(&co.kim.1), HELD, json!({})).await;
    assert_eq!(held["data"]["leaveBalance"], json!({ "days": 1.0, "reservedDays": 0.0 }), "{held}");
    // A submission refused after its days were reserved (a blank title)
    // releases them.
    let mut blank = request(1.0);
    blank["input"]["title"] = json!(" ");
    assert_eq!(code(&co.app.gql(Some(&co.kim.1), SUBMIT, blank).await), "VALIDATION");
    let held = co.app.gql(Some(&co.kim.1), HELD, json!({})).await;
    assert_eq!(held["data"]["leaveBalance"], json!({ "days": 1.0, "reservedDays": 0.0 }), "{held}");
    let ledger = commands::stream_name::<LeaveLedger>(co.kim.0.parse().unwrap());
    let events = tests::live_backend(&co.app).store.read_stream(&ledger, Direction::Backwards, None, 2).await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["LeaveReservationReleased", "LeaveReserved"]);
    // A rejection the API did not follow up (its process stopped in
    // between) is released by the process managers.
    let last = co.app.gql(Some(&co.kim.1), SUBMIT, request(1.0)).await;
    let last: Uuid = serde_json::from_value(last["data"]["submitDocument"]["id"].clone()).expect("submitted");
    let lee: Uuid = co.lee.0.parse().unwrap();
    let context = CommandContext::new(Uuid::now_v7(), Actor::User(lee), Some(co.acme.id.parse().unwrap()));
    let reject = DocumentCommand { by: lee, action: DocumentAction::Reject { comment: None, on_behalf: None } };
    tests::live_backend(&co.app).commands.execute::<Document>(last, &context, reject).await.expect("rejected");
    co.reserved_becomes(0.0).await;
}

// rule H6: each reservation has its own release
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_h6_a_document_refused_then_submitted_and_rejected_releases_what_it_holds() {
    let co = company("release.kr", "2026-11-26T09:00:00+09:00").await;
    co.card("E-1", Some(&co.kim.0), Some("2020-03-02")).await;
    co.app.gql(Some(&co.hr), ADJUST, json!({ "e": co.kim.0, "d": 3, "m": "SET" })).await;
    let request = co.leave_request().await;
    let resubmit = "mutation($id: UUID!, $input: DocumentInput!) { submitDocument(id: $id, input: $input) { status } }";
    let id = Uuid::now_v7();
    // The first submission of the document fails after reserving (a blank
    // title): its reservation is released.
    let mut blank = request(1.0);
    blank["id"] = json!(id);
    blank["input"]["title"] = json!(" ");
    assert_eq!(code(&co.app.gql(Some(&co.kim.1), resubmit, blank).await), "VALIDATION");
    let held = co.app.gql(Some(&co.kim.1), HELD, json!({})).await;
    assert_eq!(held["data"]["leaveBalance"]["reservedDays"], 0.0, "{held}");
    // Fixed, the same document is submitted as its first submission again,
    // and reserves again; its rejection releases this reservation too.
    let mut fixed = request(1.0);
    fixed["id"] = json!(id);
    let submitted = co.app.gql(Some(&co.kim.1), resubmit, fixed).await;
    assert_eq!(submitted["data"]["submitDocument"]["status"], "IN_PROGRESS", "{submitted}");
    let held = co.app.gql(Some(&co.kim.1), HELD, json!({})).await;
    assert_eq!(held["data"]["leaveBalance"]["reservedDays"], 1.0, "{held}");
    let reject = "mutation($id: UUID!) { rejectDocument(id: $id) { status } }";
    let rejected = co.app.gql(Some(&co.lee.1), reject, json!({ "id": id })).await;
    assert_eq!(rejected["data"]["rejectDocument"]["status"], "REJECTED", "{rejected}");
    let held = co.app.gql(Some(&co.kim.1), HELD, json!({})).await;
    assert_eq!(held["data"]["leaveBalance"], json!({ "days": 3.0, "reservedDays": 0.0 }), "{held}");
    let ledger = commands::stream_name::<LeaveLedger>(co.kim.0.parse().unwrap());
    let events = tests::live_backend(&co.app).store.read_stream(&ledger, Direction::Forwards, None, 100).await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).filter(|t| t.contains("Reserv")).collect();
    assert_eq!(types, ["LeaveReserved", "LeaveReservationReleased", "LeaveReserved", "LeaveReservationReleased"]);
}

// rule H6: one submission's reservations count once, with the most days
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_h6_one_draft_submitted_twice_at_once_with_other_days_never_takes_more_than_the_balance() {
    let co = company("twice.kr", "2026-11-26T09:00:00+09:00").await;
    co.card("E-1", Some(&co.kim.0), Some("2020-03-02")).await;
    co.app.gql(Some(&co.hr), ADJUST, json!({ "e": co.kim.0, "d": 3, "m": "SET" })).await;
    let request = co.leave_request().await;
    let submit =
        "mutation($id: UUID!, $input: DocumentInput!) { submitDocument(id: $id, input: $input) { status fields } }";
    let id = Uuid::now_v7();
    let with_days = |days: f64| {
        let mut r = request(days);
        r["id"] = json!(id);
        r
    };
    let answers = futures::future::join(
        co.app.gql(Some(&co.kim.1), submit, with_days(3.0)),
        co.app.gql(Some(&co.kim.1), submit, with_days(2.0)),
    )
    .await;
    let answers = [answers.0, answers.1];
    let accepted: Vec<&Value> = answers.iter().filter(|a| a["errors"].is_null()).collect();
    assert_eq!(accepted.len(), 1, "{answers:?}");
    let days = accepted[0]["data"]["submitDocument"]["fields"]["days"].as_f64().expect("days");
    // Whichever was submitted, the document holds the larger one's days
    // while it is decided: nothing else fits.
    let held = co.app.gql(Some(&co.kim.1), HELD, json!({})).await;
    assert_eq!(held["data"]["leaveBalance"], json!({ "days": 3.0, "reservedDays": 3.0 }), "{held}");
    assert_eq!(code(&co.app.gql(Some(&co.kim.1), SUBMIT, request(1.0)).await), "CONFLICT");
    let approve = "mutation($id: UUID!) { approveDocument(id: $id) { status } }";
    let approved = co.app.gql(Some(&co.lee.1), approve, json!({ "id": id })).await;
    assert_eq!(approved["data"]["approveDocument"]["status"], "COMPLETED", "{approved}");
    let held = co.app.gql(Some(&co.kim.1), HELD, json!({})).await;
    assert_eq!(held["data"]["leaveBalance"], json!({ "days": 3.0 - days, "reservedDays": 0.0 }), "{held}");
}

// rule H6: a command id has one answer
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_h6_a_resubmission_sent_again_with_its_command_id_gets_the_first_answer() {
    let co = company("retry.kr", "2026-11-26T09:00:00+09:00").await;
    co.card("E-1", Some(&co.kim.0), Some("2020-03-02")).await;
    co.app.gql(Some(&co.hr), ADJUST, json!({ "e": co.kim.0, "d": 3, "m": "SET" })).await;
    let request = co.leave_request().await;
    let first = co.app.gql(Some(&co.kim.1), SUBMIT, request(2.0)).await;
    let id = first["data"]["submitDocument"]["id"].clone();
    let reject = "mutation($id: UUID!) { rejectDocument(id: $id) { status } }";
    assert_eq!(
        co.app.gql(Some(&co.lee.1), reject, json!({ "id": id })).await["data"]["rejectDocument"]["status"],
        "REJECTED"
    );
    let resubmit = "mutation($id: UUID!, $input: DocumentInput!, $c: UUID!) { submitDocument(id: $id, input: $input, commandId: $c) { id status version } }";
    let mut again = request(2.0);
    again["id"] = id.clone();
    again["c"] = json!(Uuid::now_v7());
    let answer = co.app.gql(Some(&co.kim.1), resubmit, again.clone()).await;
    assert_eq!(answer["data"]["submitDocument"]["status"], "IN_PROGRESS", "{answer}");
    assert_eq!(answer["data"]["submitDocument"]["version"], 2, "{answer}");
    let head = co.app.head().await;
    let held = co.app.gql(Some(&co.kim.1), HELD, json!({})).await;
    assert_eq!(held["data"]["leaveBalance"], json!({ "days": 3.0, "reservedDays": 2.0 }), "{held}");
    // The same request again, with the same command id: the same answer,
    // nothing more written, nothing more reserved.
    let retried = co.app.gql(Some(&co.kim.1), resubmit, again).await;
    assert_eq!(retried, answer);
    assert_eq!(co.app.head().await, head, "nothing more was written");
    let held = co.app.gql(Some(&co.kim.1), HELD, json!({})).await;
    assert_eq!(held["data"]["leaveBalance"], json!({ "days": 3.0, "reservedDays": 2.0 }), "{held}");
}

// rule H5
#[tokio::test]
async fn rule_h5_a_csv_with_a_bad_row_applies_nothing_and_names_the_line() {
    let co = company("csv.kr", "2026-11-26T09:00:00+09:00").await;
    co.card("E-1", Some(&co.kim.0), Some("2020-03-02")).await;
    co.card("E-2", Some(&co.lee.0), Some("2021-05-10")).await;
    co.card("I-1", None, Some("2026-09-01")).await;
    let template =
        reqwest::get(format!("{}/hr/leave-adjustments.csv", co.app.address)).await.unwrap().text().await.unwrap();
    assert!(template.starts_with("employee_no,balance_days,reason\n"), "{template}");
    let upload = "mutation($csv: String!) { uploadLeaveAdjustments(csv: $csv) }";
    let balances = || async {
        let mut all = Vec::new();
        for id in [&co.kim.0, &co.lee.0] {
            all.push(
                co.app.gql(Some(&co.hr), BALANCE, json!({ "e": id })).await["data"]["leaveBalance"]["quarterDays"]
                    .clone(),
            );
        }
        all
    };
    let before = balances().await;
    let bad = "employee_no,balance_days,reason\nE-1,12,이월\nE-2,3.3,이월\nI-1,5,인턴\nE-404,1,없음\n";
    let refused = co.app.gql(Some(&co.hr), upload, json!({ "csv": bad })).await;
    assert_eq!((code(&refused), rule(&refused)), ("VALIDATION".into(), "H5".into()));
    // Every bad row is named by its line, and only those.
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("line 3") && message.contains("line 4") && message.contains("line 5"), "{message}");
    assert!(!message.contains("line 2"), "{message}");
    assert_eq!(balances().await, before, "nothing was applied");
    let malformed = "employee_no,balance_days\nE-1,12\n";
    assert_eq!(code(&co.app.gql(Some(&co.hr), upload, json!({ "csv": malformed })).await), "VALIDATION");

    let good = "employee_no,balance_days,reason\nE-1,12,이월\nE-2,3.25,이월\n";
    assert_eq!(co.app.gql(Some(&co.hr), upload, json!({ "csv": good })).await["data"]["uploadLeaveAdjustments"], 2);
    let lee_balance = co.app.gql(Some(&co.hr), BALANCE, json!({ "e": co.lee.0 })).await;
    assert_eq!(lee_balance["data"]["leaveBalance"]["days"], 3.25);
    // Bulk, partial, and an overflow that changes nothing.
    let everyone = "mutation { adjustLeaveForEveryone(deltaDays: 1, reason: \"창립기념\") }";
    assert_eq!(co.app.gql(Some(&co.hr), everyone, json!({})).await["data"]["adjustLeaveForEveryone"], 2);
    let some =
        "mutation($ids: [UUID!]!, $d: Float!) { adjustLeaveFor(employeeIds: $ids, deltaDays: $d, reason: \"포상\") }";
    assert_eq!(
        co.app.gql(Some(&co.hr), some, json!({ "ids": [co.lee.0], "d": 0.5 })).await["data"]["adjustLeaveFor"],
        1
    );
    let head = co.app.head().await;
    assert_eq!(
        code(&co.app.gql(Some(&co.hr), some, json!({ "ids": [co.lee.0, co.kim.0], "d": 999 })).await),
        "LIMIT_EXCEEDED"
    );
    assert_eq!(code(&co.app.gql(Some(&co.kim.1), everyone, json!({})).await), "FORBIDDEN");
    assert_eq!(co.app.head().await, head);
    let history = co.app.gql(Some(&co.hr), "query($e: UUID) { leaveHistory(employeeId: $e) { edges { node { kind source quarters before after reason by } } } }", json!({ "e": co.lee.0 })).await;
    let entries = history["data"]["leaveHistory"]["edges"].as_array().unwrap();
    let last = &entries.last().unwrap()["node"];
    assert_eq!(
        (last["source"].as_str(), last["before"].as_i64(), last["after"].as_i64()),
        (Some("Partial"), Some(17), Some(19))
    );
    assert!(!last["by"].is_null());
}

// rule H7
#[tokio::test]
async fn rule_h7_certificates_wait_for_an_hr_manager_and_show_the_resident_number_masked() {
    let co = company("certs.kr", "2026-11-26T09:00:00+09:00").await;
    co.card("E-1", Some(&co.kim.0), Some("2020-03-02")).await;
    let intern = co.card("I-1", None, Some("2025-01-02")).await;
    let retire =
        "mutation($id: UUID!) { changeEmploymentStatus(id: $id, status: RETIRED, on: \"2026-06-30\") { status } }";
    co.app.gql(Some(&co.hr), retire, json!({ "id": intern["id"] })).await;
    let ask = "mutation($e: UUID, $k: CertificateKind!, $d: Int!) { requestCertificate(employeeId: $e, kind: $k, shownDigits: $d, purpose: \"은행 제출용\", copies: 2) { id status serial html } }";
    let mine = co.app.gql(Some(&co.kim.1), ask, json!({ "k": "EMPLOYMENT", "d": 7 })).await;
    let mine = &mine["data"]["requestCertificate"];
    assert_eq!((mine["status"].as_str(), &mine["html"]), (Some("PENDING"), &Value::Null), "{mine}");
    // Only for oneself, unless an HR manager asks; a bad digit count is refused.
    assert_eq!(
        code(&co.app.gql(Some(&co.lee.1), ask, json!({ "e": co.kim.0, "k": "EMPLOYMENT", "d": 0 })).await),
        "FORBIDDEN"
    );
    assert_eq!(code(&co.app.gql(Some(&co.kim.1), ask, json!({ "k": "EMPLOYMENT", "d": 14 })).await), "VALIDATION");
    let retired = co.app.gql(Some(&co.hr), ask, json!({ "e": intern["id"], "k": "CAREER", "d": 0 })).await;
    let retired = &retired["data"]["requestCertificate"];
    let issue = "mutation($id: UUID!) { issueCertificate(id: $id) { status serial html } }";
    assert_eq!(code(&co.app.gql(Some(&co.kim.1), issue, json!({ "id": mine["id"] })).await), "FORBIDDEN");
    let issued = co.app.gql(Some(&co.hr), issue, json!({ "id": mine["id"] })).await;
    let issued = &issued["data"]["issueCertificate"];
    assert_eq!((issued["status"].as_str(), issued["serial"].as_u64()), (Some("ISSUED"), Some(1)), "{issued}");
    let html = issued["html"].as_str().unwrap();
    assert!(html.contains("711231-1******") && !html.contains("1234567"), "{html}");
    assert_eq!(code(&co.app.gql(Some(&co.hr), issue, json!({ "id": mine["id"] })).await), "CONFLICT");
    let career = co.app.gql(Some(&co.hr), issue, json!({ "id": retired["id"] })).await;
    let career = &career["data"]["issueCertificate"];
    assert_eq!(career["serial"], 2);
    let career_html = career["html"].as_str().unwrap();
    assert!(career_html.contains("2026-06-30") && career_html.contains("영업") && !career_html.contains("711231"));
    tests::snapshot_settings().bind(|| insta::assert_snapshot!("employment_certificate", html));
    // Each sees their own; the HR manager sees all.
    let list = "{ certificates { status } }";
    assert_eq!(co.app.gql(Some(&co.kim.1), list, json!({})).await["data"]["certificates"].as_array().unwrap().len(), 1);
    assert_eq!(co.app.gql(Some(&co.hr), list, json!({})).await["data"]["certificates"].as_array().unwrap().len(), 2);
}

// rule H4: the yearly grant survives a restart and is made once
#[tokio::test]
async fn rule_h4_the_yearly_grant_is_made_after_a_restart_and_only_once() {
    let storage = tests::TestStorage::new().await;
    let app = TestApp::spawn_with(storage.settings()).await;
    app.clock(json!({ "now": "2026-11-26T09:00:00+09:00" })).await;
    let acme = app.sign_up("restart-leave.kr").await;
    let (hr_id, _) = app.create_user(&acme, "hr").await;
    let grant = "mutation($id: UUID!) { grantRole(id: $id, role: HR_MANAGER) { id } }";
    app.gql(Some(&acme.admin_token), grant, json!({ "id": hr_id })).await;
    let hr = app.login("restart-leave.kr", "hr", "user-pass-1").await.unwrap();
    let (kim, _) = app.create_user(&acme, "kim").await;
    // Hired two years ago tomorrow: the second yearly grant (15 days) is due
    // at midnight.
    let input = json!({ "employeeNo": "E-1", "name": "김사원", "userId": kim, "hireDate": "2024-11-27" });
    assert!(app.gql(Some(&hr), CARD, json!({ "input": input })).await["errors"].is_null());
    let balance = app.gql(Some(&hr), BALANCE, json!({ "e": kim })).await;
    assert_eq!(balance["data"]["leaveBalance"]["nextDue"], "2026-11-27", "{balance}");
    // The timer is set before the server stops.
    app.settle().await;
    let timers = tests::live_backend(&app).store.read_all(0, 10_000).await.unwrap();
    assert!(timers.iter().any(|e| e.event_type == "TimerScheduled"));
    app.stop().await;

    let mut settings = storage.settings();
    settings.clock_start = Some("2026-11-27T00:00:00+09:00".parse().unwrap());
    let app = TestApp::spawn_with(settings).await;
    let kim_token = app.login("restart-leave.kr", "kim", "user-pass-1").await.unwrap();
    let co = Company { app, acme, hr, kim: (kim, kim_token.clone()), lee: (String::new(), String::new()) };
    co.balance_becomes(&kim_token, 15.0).await;
    co.app.stop().await;
    // Another restart on the same day grants nothing twice.
    let mut settings = storage.settings();
    settings.clock_start = Some("2026-11-27T08:00:00+09:00".parse().unwrap());
    let app = TestApp::spawn_with(settings).await;
    app.settle().await;
    let kim_token = app.login("restart-leave.kr", "kim", "user-pass-1").await.unwrap();
    let balance = app.gql(Some(&kim_token), BALANCE, json!({})).await;
    assert_eq!(balance["data"]["leaveBalance"]["days"], 15.0, "{balance}");
    assert_eq!(balance["data"]["leaveBalance"]["nextDue"], "2027-11-27");
}
