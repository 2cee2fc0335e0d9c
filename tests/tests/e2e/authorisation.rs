//! Every resolver authorises: no crossing tenants, no admin operation for
//! plain users.

use serde_json::{Value, json};
use tests::{TestApp, code};
use uuid::Uuid;

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

/// Acts as globex's admin (also an HR manager) on acme's things and on ids
/// nobody has: both answer `NOT_FOUND`, so "not yours" and "not there"
/// cannot be told apart, and nothing is written.
#[tokio::test]
async fn another_companys_ids_read_as_missing_for_every_action() {
    let app = TestApp::spawn().await;
    app.clock(json!({ "now": "2026-11-26T09:00:00+09:00" })).await;
    let acme = app.sign_up("acme.com").await;
    let globex = app.sign_up("globex.com").await;
    let (kim, kim_token) = app.create_user(&acme, "kim").await;
    let (lee, _) = app.create_user(&acme, "lee").await;
    let acme_admin = Some(acme.admin_token.as_str());
    let hr = "mutation($id: UUID!) { grantRole(id: $id, role: HR_MANAGER) { id } }";
    app.gql(acme_admin, hr, json!({ "id": acme.admin_id })).await;
    let globex_token = Some(globex.admin_token.as_str());
    app.gql(globex_token, hr, json!({ "id": globex.admin_id })).await;
    let acme_admin_token = app.login("acme.com", "admin", "s3cret-pass").await.unwrap();
    let globex_token = app.login("globex.com", "admin", "s3cret-pass").await.unwrap();
    let globex_token = Some(globex_token.as_str());

    let form = "mutation { createApprovalForm(input: { name: \"보고\", abbreviation: \"RP\", fields: [{ key: \"body\", label: \"본문\", type: TEXT }] }) { id } }";
    let acme_form = app.gql(acme_admin, form, json!({})).await["data"]["createApprovalForm"]["id"].clone();
    let globex_form = app.gql(globex_token, form, json!({})).await["data"]["createApprovalForm"]["id"].clone();
    let submit = "mutation($input: DocumentInput!) { submitDocument(input: $input) { id } }";
    let input =
        json!({ "formId": acme_form, "title": "보고", "fields": { "body": "내용" }, "line": { "approverIds": [lee] } });
    let document = app.gql(Some(&kim_token), submit, json!({ "input": input })).await;
    let document = document["data"]["submitDocument"]["id"].as_str().unwrap_or_else(|| panic!("{document}")).to_owned();
    let card = "mutation($u: UUID!) { createHrCard(input: { employeeNo: \"E1\", name: \"김\", userId: $u, hireDate: \"2025-01-02\" }) { id } }";
    let card = app.gql(Some(&acme_admin_token), card, json!({ "u": kim })).await;
    let card = card["data"]["createHrCard"]["id"].as_str().unwrap_or_else(|| panic!("{card}")).to_owned();
    let department = app.gql(acme_admin, "mutation { createDepartment(name: \"영업\") { id } }", json!({})).await;
    let department = department["data"]["createDepartment"]["id"].as_str().unwrap().to_owned();
    let certificate = "mutation { requestCertificate(kind: EMPLOYMENT, purpose: \"제출용\") { id } }";
    let certificate = app.gql(Some(&kim_token), certificate, json!({})).await;
    let certificate =
        certificate["data"]["requestCertificate"]["id"].as_str().unwrap_or_else(|| panic!("{certificate}")).to_owned();
    let (park, _) = app.create_user(&globex, "park").await;
    let own = json!({ "formId": globex_form, "title": "보고", "fields": { "body": "내용" }, "line": { "approverIds": [park] } });
    let own = app.gql(globex_token, submit, json!({ "input": own })).await;
    let own = own["data"]["submitDocument"]["id"].as_str().unwrap_or_else(|| panic!("{own}")).to_owned();
    let globex_department =
        app.gql(globex_token, "mutation { createDepartment(name: \"영업\") { id } }", json!({})).await;
    let globex_department = globex_department["data"]["createDepartment"]["id"].as_str().unwrap().to_owned();
    let mail = "mutation { sendMail(input: { to: [\"lee@acme.com\"], subject: \"안녕\" }) { id } }";
    let mail = app.gql(Some(&kim_token), mail, json!({})).await;
    let mail = mail["data"]["sendMail"]["id"].as_str().unwrap_or_else(|| panic!("{mail}")).to_owned();
    let head = app.head().await;

    let draft =
        json!({ "formId": globex_form, "title": "x", "fields": { "body": "x" }, "line": { "approverIds": [park] } });
    let document_actions = [
        "mutation($id: UUID!) { approveDocument(id: $id) { id } }",
        "mutation($id: UUID!) { approveDocument(id: $id, mode: FINAL) { id } }",
        "mutation($id: UUID!) { approveDocument(id: $id, mode: AHEAD) { id } }",
        "mutation($id: UUID!) { rejectDocument(id: $id) { id } }",
        "mutation($id: UUID!) { holdDocument(id: $id) { id } }",
        "mutation($id: UUID!) { confirmDocumentReview(id: $id) { id } }",
        "mutation($id: UUID!) { agreeDocument(id: $id) { id } }",
        "mutation($id: UUID!) { refuseDocumentAgreement(id: $id) { id } }",
        "mutation($id: UUID!) { receiveDocument(id: $id) { id } }",
        "mutation($id: UUID!) { recallDocument(id: $id, reason: \"x\") { id } }",
        "mutation($id: UUID!) { cancelLeaveRequest(id: $id, reason: \"x\") { id } }",
        "mutation($id: UUID!) { discardDocumentDraft(id: $id) }",
        "query($id: UUID!) { document(id: $id) { id } }",
    ];
    let mut cases: Vec<(String, Value, Value)> = document_actions
        .iter()
        .map(|q| ((*q).to_owned(), json!({ "id": document }), json!({ "id": Uuid::now_v7() })))
        .collect();
    let by_id = |q: &str, foreign: &str| (q.to_owned(), json!({ "id": foreign }), json!({ "id": Uuid::now_v7() }));
    for q in [
        "query($id: UUID!) { userMailForwarding(userId: $id) { addresses } }",
        "mutation($id: UUID!) { setUserMailForwarding(userId: $id, addresses: [\"x@partner.org\"]) { addresses } }",
        "query($id: UUID!) { leaveBalance(employeeId: $id) { days } }",
        "query($id: UUID!) { leaveHistory(employeeId: $id) { totalCount } }",
        "mutation($id: UUID!) { adjustLeave(employeeId: $id, days: 1, reason: \"x\") { days } }",
        "mutation($id: UUID!) { adjustLeaveFor(employeeIds: [$id], deltaDays: 1, reason: \"x\") }",
        "mutation($id: UUID!) { requestCertificate(employeeId: $id, kind: EMPLOYMENT, purpose: \"x\") { id } }",
        "mutation($id: UUID!) { deleteUser(id: $id) }",
    ] {
        cases.push(by_id(q, &kim));
    }
    for q in [
        "query($id: UUID!) { hrCard(id: $id) { id } }",
        "mutation($id: UUID!) { updateHrCard(id: $id, input: { employeeNo: \"E9\", name: \"x\" }) { id } }",
        "mutation($id: UUID!) { changeEmploymentStatus(id: $id, status: RETIRED, on: \"2026-11-26\") { id } }",
    ] {
        cases.push(by_id(q, &card));
    }
    for q in [
        "mutation($id: UUID!) { renameDepartment(id: $id, name: \"x\") { id } }",
        "mutation($id: UUID!) { moveDepartment(id: $id) { id } }",
        "mutation($id: UUID!) { deleteDepartment(id: $id) }",
    ] {
        cases.push(by_id(q, &department));
    }
    cases.push(by_id("mutation($id: UUID!) { issueCertificate(id: $id) { id } }", &certificate));
    for q in [
        "query($id: UUID!) { mail(id: $id) { id } }",
        "mutation($id: UUID!) { markMailRead(id: $id) { id } }",
        "mutation($id: UUID!) { flagMail(id: $id, flagged: true) { id } }",
        "mutation($id: UUID!) { recallMail(id: $id) { recalled } }",
        "mutation($id: UUID!) { cancelScheduledMail(id: $id) { id } }",
        "mutation($id: UUID!) { deleteDraft(id: $id) }",
    ] {
        cases.push(by_id(q, &mail));
    }

    // A draft or submission under another company's document id (a new id
    // is where a new document goes).
    for query in [
        "mutation($id: UUID, $input: DocumentInput!) { saveDocumentDraft(id: $id, input: $input) { id } }",
        "mutation($id: UUID, $input: DocumentInput!) { submitDocument(id: $id, input: $input) { id } }",
    ] {
        let theirs = app.gql(globex_token, query, json!({ "id": document, "input": draft })).await;
        assert_eq!(code(&theirs), "NOT_FOUND", "another company's: {query}: {theirs}");
    }
    // Acting for an absent approver (대결) of another company.
    for query in [
        "mutation($id: UUID!, $for: UUID) { approveDocument(id: $id, onBehalfOf: $for) { id } }",
        "mutation($id: UUID!, $for: UUID) { rejectDocument(id: $id, onBehalfOf: $for) { id } }",
    ] {
        for (whose, absent) in [("another company's", json!(kim)), ("nobody's", json!(Uuid::now_v7()))] {
            let r = app.gql(globex_token, query, json!({ "id": own, "for": absent })).await;
            assert_eq!(code(&r), "NOT_FOUND", "{whose}: {query}: {r}");
        }
    }
    // Another company's user named beside one's own things.
    for query in [
        "mutation($u: UUID!, $d: UUID!) { assignMember(userId: $u, departmentId: $d) { departmentId } }",
        "mutation($u: UUID!, $d: UUID!) { setDepartmentHead(departmentId: $d, userId: $u) { id } }",
        "mutation($u: UUID!, $d: UUID!) { setBoxManager(departmentId: $d, userId: $u) { id } }",
        "mutation($u: UUID!) { unassignMember(userId: $u) }",
        "mutation($u: UUID!) { registerAbsence(from: \"2026-11-27T00:00:00Z\", to: \"2026-11-28T00:00:00Z\", reason: \"x\", delegateId: $u) { id } }",
        "mutation($u: UUID!) { createHrCard(input: { employeeNo: \"G1\", name: \"x\", userId: $u }) { id } }",
    ] {
        // Named as an input, the user is refused as one that does not
        // exist would be: the same answer either way.
        let theirs = app.gql(globex_token, query, json!({ "u": kim, "d": globex_department })).await;
        let nobodys = app.gql(globex_token, query, json!({ "u": Uuid::now_v7(), "d": globex_department })).await;
        assert!(["NOT_FOUND", "VALIDATION"].contains(&code(&theirs).as_str()), "{query}: {theirs}");
        assert_eq!(code(&theirs), code(&nobodys), "{query}");
    }
    // The whole answer is the same, but for the id it names.
    let shown = |r: &Value, variables: &Value| {
        let id = variables["id"].as_str().unwrap_or_default();
        r["errors"][0]["message"].as_str().unwrap_or_default().replace(id, "<id>")
    };
    for (query, foreign, random) in cases {
        let theirs = app.gql(globex_token, &query, foreign.clone()).await;
        assert_eq!(code(&theirs), "NOT_FOUND", "another company's: {query}: {theirs}");
        let nobodys = app.gql(globex_token, &query, random.clone()).await;
        assert_eq!(code(&nobodys), "NOT_FOUND", "nobody's: {query}: {nobodys}");
        assert_eq!(shown(&theirs, &foreign), shown(&nobodys, &random), "{query}");
    }
    // Nothing was written for globex (acme's own processes may follow on
    // from its setup meanwhile).
    let globex_id: Uuid = globex.id.parse().unwrap();
    let written = tests::live_backend(&app).store.read_all(head, usize::MAX).await.unwrap();
    let by_globex: Vec<_> = written
        .iter()
        .filter(|e| e.metadata.tenant != Some(acme.id.parse().unwrap()))
        .map(|e| (e.stream.clone(), e.event_type.clone(), e.metadata.tenant == Some(globex_id)))
        .collect();
    assert_eq!(by_globex, vec![], "something was written");
}
