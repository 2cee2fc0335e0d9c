//! The organisation chart over HTTP (rule U4).

use serde_json::{Value, json};
use tests::{TestApp, code};

fn id(response: &Value, field: &str) -> String {
    response["data"][field]["id"].as_str().unwrap_or_else(|| panic!("{field} failed: {response}")).to_owned()
}

// rule U4
#[tokio::test]
async fn rule_u4_admins_edit_the_organisation_and_everyone_reads_it() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("org.kr").await;
    let (kim, kim_token) = app.create_user(&acme, "kim").await;
    let admin = Some(acme.admin_token.as_str());
    let create = "mutation($n: String!, $p: UUID) { createDepartment(name: $n, parentId: $p) { id name parentId } }";
    let head_office = id(&app.gql(admin, create, json!({ "n": "본사" })).await, "createDepartment");
    let dev = id(&app.gql(admin, create, json!({ "n": "개발팀", "p": head_office })).await, "createDepartment");
    let platform = id(&app.gql(admin, create, json!({ "n": "플랫폼파트", "p": dev })).await, "createDepartment");
    assert_eq!(code(&app.gql(Some(&kim_token), create, json!({ "n": "비밀팀" })).await), "FORBIDDEN");
    assert_eq!(code(&app.gql(admin, create, json!({ "n": "개발팀", "p": head_office })).await), "CONFLICT");
    let move_under = "mutation($id: UUID!, $p: UUID) { moveDepartment(id: $id, parentId: $p) { parentId } }";
    assert_eq!(code(&app.gql(admin, move_under, json!({ "id": head_office, "p": platform })).await), "VALIDATION");

    let position = "mutation($n: String!, $r: Int!) { createPosition(name: $n, rank: $r) { id name rank } }";
    let manager = id(&app.gql(admin, position, json!({ "n": "과장", "r": 5 })).await, "createPosition");
    assert_eq!(code(&app.gql(admin, position, json!({ "n": "부장", "r": -1 })).await), "VALIDATION");
    let assign = "mutation($u: UUID!, $d: UUID!, $p: UUID) { assignMember(userId: $u, departmentId: $d, positionId: $p) { departmentId position { name } user { userId } } }";
    let assigned = app.gql(admin, assign, json!({ "u": kim, "d": dev, "p": manager })).await;
    assert_eq!(assigned["data"]["assignMember"]["position"]["name"], "과장", "{assigned}");
    let stranger = uuid::Uuid::now_v7();
    assert_eq!(code(&app.gql(admin, assign, json!({ "u": stranger, "d": dev })).await), "NOT_FOUND");
    let head =
        "mutation($d: UUID!, $u: UUID!) { setDepartmentHead(departmentId: $d, userId: $u) { heads { userId } } }";
    assert_eq!(
        app.gql(admin, head, json!({ "d": dev, "u": kim })).await["data"]["setDepartmentHead"]["heads"][0]["userId"],
        "kim"
    );
    assert_eq!(code(&app.gql(admin, head, json!({ "d": platform, "u": kim })).await), "VALIDATION");
    let box_manager =
        "mutation($d: UUID!, $u: UUID!) { setBoxManager(departmentId: $d, userId: $u) { boxManagers { userId } } }";
    app.gql(admin, box_manager, json!({ "d": dev, "u": kim })).await;
    let delete = "mutation($id: UUID!) { deleteDepartment(id: $id) }";
    assert_eq!(code(&app.gql(admin, delete, json!({ "id": dev })).await), "CONFLICT");
    assert_eq!(
        code(&app.gql(admin, "mutation($id: UUID!) { deletePosition(id: $id) }", json!({ "id": manager })).await),
        "CONFLICT"
    );

    // Everyone of the company reads the chart.
    let chart = app
        .gql(
            Some(&kim_token),
            "{ departments { id name parentId heads { userId } boxManagers { userId } members { user { userId } position { name } } } positions { name rank } }",
            json!({}),
        )
        .await;
    let named = |name: &str| {
        chart["data"]["departments"].as_array().unwrap().iter().find(|d| d["name"] == name).unwrap().clone()
    };
    assert_eq!(named("플랫폼파트")["parentId"], dev.as_str());
    assert_eq!(named("개발팀")["parentId"], head_office.as_str());
    // Parents by name, so that the snapshot holds no generated ids.
    let mut readable = chart["data"].clone();
    let names: std::collections::HashMap<String, Value> = readable["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].as_str().unwrap().to_owned(), d["name"].clone()))
        .collect();
    for department in readable["departments"].as_array_mut().unwrap() {
        let parent = department["parentId"].as_str().map(|p| names[p].clone()).unwrap_or(Value::Null);
        department["parent"] = parent;
        department.as_object_mut().unwrap().remove("parentId");
        department.as_object_mut().unwrap().remove("id");
    }
    tests::snapshot_settings().bind(|| insta::assert_json_snapshot!("organisation_chart", readable));
    assert_eq!(app.gql(admin, delete, json!({ "id": platform })).await["data"]["deleteDepartment"], true);
}
