//! A command id names one command: sent again it answers as the first
//! time; used for another mutation it is refused with `CONFLICT` and writes
//! nothing.

use serde_json::{Value, json};
use tests::{TestApp, code};
use uuid::Uuid;

const CREATE_USER: &str = "mutation($c: UUID!, $u: String!) {
    createUser(input: { userId: $u, name: \"김\", password: \"user-pass-1\", commandId: $c }) { id userId } }";
const DELETE_USER: &str = "mutation($c: UUID!, $id: UUID!) { deleteUser(id: $id, commandId: $c) }";
const CREATE_DEPARTMENT: &str = "mutation($c: UUID!) { createDepartment(name: \"영업\", commandId: $c) { id } }";
const RENAME_DEPARTMENT: &str =
    "mutation($c: UUID!, $id: UUID!) { renameDepartment(id: $id, name: \"영업2\", commandId: $c) { id name } }";
const SEND_MAIL: &str = "mutation($c: UUID!) {
    sendMail(input: { to: [\"admin@acme.co.kr\"], subject: \"제목\", text: \"본문\" }, commandId: $c) { id } }";
const SAVE_DRAFT: &str = "mutation($c: UUID!) {
    saveDraft(input: { to: [\"admin@acme.co.kr\"], subject: \"제목\", text: \"본문\" }, commandId: $c) { id } }";

#[tokio::test]
async fn a_command_id_reused_for_another_mutation_is_a_conflict_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("acme.co.kr").await;
    let token = Some(acme.admin_token.as_str());
    let refused = |r: Value| {
        assert_eq!(code(&r), "CONFLICT", "{r}");
        assert!(r["errors"][0]["message"].as_str().unwrap().contains("already used"), "{r}");
    };

    // Created by one mutation; then another stream's, and the same
    // stream's, mutations with the same id.
    let user_command = Uuid::now_v7();
    let created = app.gql(token, CREATE_USER, json!({ "c": user_command, "u": "kim" })).await;
    let user = created["data"]["createUser"]["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    let head = app.head().await;
    refused(app.gql(token, CREATE_DEPARTMENT, json!({ "c": user_command })).await);
    refused(app.gql(token, SEND_MAIL, json!({ "c": user_command })).await);
    refused(app.gql(token, DELETE_USER, json!({ "c": user_command, "id": user })).await);
    // The same mutation again is the same command: its first answer.
    let again = app.gql(token, CREATE_USER, json!({ "c": user_command, "u": "kim" })).await;
    assert_eq!(again["data"], created["data"], "{again}");

    let mail_command = Uuid::now_v7();
    let sent = app.gql(token, SEND_MAIL, json!({ "c": mail_command })).await;
    assert!(sent["data"]["sendMail"]["id"].is_string(), "{sent}");
    let head_after_mail = app.head().await;
    assert!(head_after_mail > head);
    refused(app.gql(token, SAVE_DRAFT, json!({ "c": mail_command })).await);
    refused(app.gql(token, CREATE_USER, json!({ "c": mail_command, "u": "lee" })).await);

    let department_command = Uuid::now_v7();
    let department = app.gql(token, CREATE_DEPARTMENT, json!({ "c": department_command })).await;
    let department = department["data"]["createDepartment"]["id"].as_str().unwrap().to_owned();
    let head = app.head().await;
    refused(app.gql(token, RENAME_DEPARTMENT, json!({ "c": department_command, "id": department })).await);
    assert_eq!(app.head().await, head, "a refused command id writes nothing");
}
