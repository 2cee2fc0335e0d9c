//! Read models rebuilt from position 0 equal the live ones.

use serde_json::json;
use tests::TestApp;

#[tokio::test]
async fn rebuilt_read_models_equal_the_live_ones() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("acme.com").await;
    let globex = app.sign_up("globex.com").await;
    let (kim, _) = app.create_user(&acme, "kim").await;
    let (lee, lee_token) = app.create_user(&acme, "lee").await;
    app.create_user(&globex, "park").await;
    app.gql(
        Some(&acme.admin_token),
        "mutation($id: UUID!) { grantRole(id: $id, role: DOCUMENT_ADMIN) { id } }",
        json!({ "id": lee }),
    )
    .await;
    let changed = app
        .gql(
            Some(&lee_token),
            "mutation { changePassword(currentPassword: \"user-pass-1\", newPassword: \"fresh-pass-22\") }",
            json!({}),
        )
        .await;
    assert_eq!(changed["data"]["changePassword"], true, "{changed}");
    // Mail: sent, read, moved, recalled, drafted, forwarded.
    let lee_token = app.login("acme.com", "lee", "fresh-pass-22").await.unwrap();
    let send =
        "mutation($to: [String!]!, $s: String!) { sendMail(input: { to: $to, subject: $s, text: \"hello\" }) { id } }";
    let first =
        app.gql(Some(&acme.admin_token), send, json!({ "to": ["lee@acme.com", "kim@acme.com"], "s": "one" })).await;
    let first = first["data"]["sendMail"]["id"].as_str().unwrap().to_owned();
    let second =
        app.gql(Some(&acme.admin_token), send, json!({ "to": ["lee@acme.com", "x@partner.org"], "s": "two" })).await;
    let second = second["data"]["sendMail"]["id"].as_str().unwrap().to_owned();
    app.gql(Some(&lee_token), "mutation($id: UUID!) { markMailRead(id: $id) { read } }", json!({ "id": first })).await;
    app.gql(Some(&lee_token), "mutation($ids: [UUID!]!) { deleteMail(ids: $ids) }", json!({ "ids": [second] })).await;
    app.gql(
        Some(&acme.admin_token),
        "mutation($id: UUID!) { recallMail(id: $id) { recalled } }",
        json!({ "id": first }),
    )
    .await;
    app.gql(Some(&lee_token), "mutation { saveDraft(input: { subject: \"later\" }) { id } }", json!({})).await;
    app.gql(
        Some(&lee_token),
        "mutation { setMailForwarding(addresses: [\"far@partner.org\"]) { keepCopy } }",
        json!({}),
    )
    .await;
    app.gql(Some(&acme.admin_token), send, json!({ "to": ["lee@acme.com"], "s": "three" })).await;
    app.gql(Some(&acme.admin_token), "mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": kim })).await;

    // E-approval and HR: a form, a card with a ledger, an adjustment, a
    // document approved (numbered, boxes) and one recalled (a notice).
    let admin = Some(acme.admin_token.as_str());
    let grant = "mutation($id: UUID!) { grantRole(id: $id, role: HR_MANAGER) { id } }";
    app.gql(admin, grant, json!({ "id": lee })).await;
    let lee_token = app.login("acme.com", "lee", "fresh-pass-22").await.unwrap();
    let card = "mutation($u: UUID!) { createHrCard(input: { employeeNo: \"A-1\", name: \"관리자\", userId: $u, hireDate: \"2024-01-02\", residentNumber: \"800101-1234567\" }) { id } }";
    let carded = app.gql(Some(&lee_token), card, json!({ "u": acme.admin_id })).await;
    assert!(carded["errors"].is_null(), "{carded}");
    let adjust = "mutation($u: UUID!) { adjustLeave(employeeId: $u, days: 3.5, reason: \"이월\") { days } }";
    let adjusted = app.gql(Some(&lee_token), adjust, json!({ "u": acme.admin_id })).await;
    assert!(adjusted["errors"].is_null(), "{adjusted}");
    let form = app
        .gql(
            admin,
            "mutation { createApprovalForm(input: { name: \"보고\", abbreviation: \"RP\", fields: [] }) { id } }",
            json!({}),
        )
        .await["data"]["createApprovalForm"]["id"]
        .clone();
    let submit = "mutation($f: UUID!, $a: UUID!) { submitDocument(input: { formId: $f, title: \"t\", line: { approverIds: [$a] } }) { id } }";
    let approved = app.gql(admin, submit, json!({ "f": form, "a": lee })).await["data"]["submitDocument"]["id"].clone();
    let recalled = app.gql(admin, submit, json!({ "f": form, "a": lee })).await["data"]["submitDocument"]["id"].clone();
    let approve = "mutation($id: UUID!) { approveDocument(id: $id) { number } }";
    assert!(
        !app.gql(Some(&lee_token), approve, json!({ "id": approved })).await["data"]["approveDocument"]["number"]
            .is_null()
    );
    let recall = "mutation($id: UUID!) { recallDocument(id: $id, reason: \"again\") { status } }";
    app.gql(admin, recall, json!({ "id": recalled })).await;

    // The process managers follow on by themselves; wait until the log rests.
    app.settle().await;
    let head = app.head().await;
    let backend = {
        // The live read models, caught up with the head.
        let app = &app;
        let response = app
            .gql(Some(&acme.admin_token), "{ auditTrail(first: 1) { edges { node { position } } } }", json!({}))
            .await;
        assert_eq!(response["data"]["auditTrail"]["edges"][0]["node"]["position"], head);
        tests::live_backend(app)
    };
    let live = tests::dump(backend.read_models()).await;
    let rebuilt_store = projections::MemoryReadModels::default();
    let read = projections::rebuild(backend.store.as_ref(), &rebuilt_store, &api::projectors()).await.unwrap();
    assert_eq!(read, head);
    let rebuilt = tests::dump(&rebuilt_store).await;
    assert_eq!(live, rebuilt);
    assert!(live.iter().any(|(table, rows)| *table == "users" && rows.len() == 4), "{live:?}");
    assert!(live.iter().any(|(table, rows)| *table == "mail_tracking" && rows.len() == 4), "{live:?}");
    assert!(live.iter().any(|(table, rows)| *table == "approval_box_items" && !rows.is_empty()), "{live:?}");
    assert!(live.iter().any(|(table, rows)| *table == "leave_entries" && rows.len() == 1), "{live:?}");
}
