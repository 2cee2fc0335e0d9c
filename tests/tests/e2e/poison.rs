//! What must not stall the read models or reach the log: NUL from outside
//! senders (kept, on every store), an event a projector cannot apply (that
//! projector stops alone, visibly), and inputs that are refused with
//! `VALIDATION` and write nothing (media types, photo digests, NUL in
//! stream ids and cursors). Run them on PostgreSQL too with
//! `GROUPWARE_TEST_STORE=postgres`.

use chrono::Utc;
use serde_json::{Value, json};
use store::{Direction, EventData, ExpectedVersion, Metadata};
use tests::{Tenant, TestApp, TestStorage, code, live_backend};
use uuid::Uuid;

const MAILBOX: &str =
    "query($folder: String!) { mailbox(folder: $folder) { totalCount edges { node { id subject } } } }";
const MAIL: &str = "query($id: UUID!) { mail(id: $id) { subject text attachments { id contentType } } }";
const SEND: &str = "mutation($input: ComposeInput!) { sendMail(input: $input) { id } }";

fn user_id_of(users: &Value) -> Vec<String> {
    users["data"]["users"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{users}"))
        .iter()
        .map(|e| e["node"]["userId"].as_str().unwrap().to_owned())
        .collect()
}

async fn health(app: &TestApp) -> (u16, Value) {
    let response = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// The value of the metric line that starts with `series`.
fn metric(text: &str, series: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(series).map(|v| v.trim().to_owned()))
}

// Inbound mail is kept as sent, NUL included: the recipient reads it, and
// every read model (on PostgreSQL too) and every company carry on.
#[tokio::test]
async fn a_nul_in_inbound_mail_is_kept_and_stalls_nothing() {
    let storage = TestStorage::new().await;
    let mut settings = storage.settings();
    settings.inbound_secret = Some("mta-secret".into());
    let app = TestApp::spawn_with(settings).await;
    let acme = app.sign_up("nul.kr").await;
    let (_, lee) = app.create_user(&acme, "lee").await;
    let other = app.sign_up("other-nul.kr").await;

    let raw = "From: Park <park@partner.org>\r\nTo: lee@nul.kr\r\nSubject: Hello\0there\r\nMessage-ID: <nul@partner.org>\r\n\r\nA\0B\r\n";
    let delivered =
        app.client.post(format!("{}/inbound", app.address)).bearer_auth("mta-secret").body(raw).send().await.unwrap();
    assert_eq!(delivered.status(), 200);

    let inbox = app.gql(Some(&lee), MAILBOX, json!({ "folder": "inbox" })).await;
    assert_eq!(inbox["data"]["mailbox"]["totalCount"], 1, "{inbox}");
    let node = &inbox["data"]["mailbox"]["edges"][0]["node"];
    assert_eq!(node["subject"], "Hello\u{0}there");
    let mail = app.gql(Some(&lee), MAIL, json!({ "id": node["id"] })).await;
    assert!(mail["data"]["mail"]["text"].as_str().unwrap().contains("A\u{0}B"), "{mail}");

    // The next command of another company is applied and read back.
    app.create_user(&other, "kim").await;
    let users = app.gql(Some(&other.admin_token), "{ users { edges { node { userId } } } }", json!({})).await;
    assert_eq!(user_id_of(&users), ["admin", "kim"]);
    let (status, body) = health(&app).await;
    assert_eq!((status, &body["stopped"]), (200, &json!([])), "{body}");
    assert_eq!(
        metric(&app.metrics().await, "groupware_projector_stopped{projector=\"mailboxes.v2\"}").as_deref(),
        Some("0")
    );
}

/// Appends, as a faulty earlier version might have, an organisation event
/// no projector can read; returns its position.
async fn append_unreadable_event(app: &TestApp, tenant: &Tenant) -> u64 {
    let backend = live_backend(app);
    let stream = format!("organisation-{}", Uuid::now_v7().simple());
    let metadata =
        Metadata { tenant: Some(tenant.id.parse().unwrap()), occurred_at: Utc::now(), ..Metadata::default() };
    let event = EventData::json(Uuid::now_v7(), "DepartmentCreated", 1, &json!({ "garbage": true }), metadata).unwrap();
    backend.store.append(&stream, ExpectedVersion::NoStream, vec![event]).await.unwrap().position
}

// A projector that meets an event it cannot apply stops alone: commands of
// every company carry on and read their writes, the server stays ready,
// /healthz names the stopped projector and /metrics the event and the
// reason; after a restart it tries again and the server becomes ready.
#[tokio::test]
async fn a_projector_that_cannot_apply_an_event_stops_alone_and_says_where() {
    let storage = TestStorage::new().await;
    let app = TestApp::spawn_with(storage.settings()).await;
    let acme = app.sign_up("poison.kr").await;
    let other = app.sign_up("unharmed.kr").await;
    let position = append_unreadable_event(&app, &acme).await;

    app.create_user(&other, "kim").await;
    app.create_user(&acme, "lee").await;
    let users = app.gql(Some(&other.admin_token), "{ users { edges { node { userId } } } }", json!({})).await;
    assert_eq!(user_id_of(&users), ["admin", "kim"]);

    let (status, body) = health(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["stopped"], json!([{ "projector": "organisation.v1", "position": position }]));
    let text = app.metrics().await;
    assert_eq!(metric(&text, "groupware_projector_stopped{projector=\"organisation.v1\"}").as_deref(), Some("1"));
    assert_eq!(metric(&text, "groupware_projector_stopped{projector=\"audit.v3\"}").as_deref(), Some("0"));
    let stop = text
        .lines()
        .find(|l| l.starts_with("groupware_projector_stopped_event{projector=\"organisation.v1\""))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(stop.contains("stream=\"organisation-") && stop.contains("type=\"DepartmentCreated\""), "{stop}");
    // The reason says what went wrong without quoting the event (metrics
    // are for anyone who can reach them; the log has the whole error).
    assert!(stop.contains("reason=\"the projector cannot read the event\""), "{stop}");
    assert!(stop.ends_with(&format!(" {position}")), "{stop}");
    let lag = metric(&text, "groupware_projection_lag_events{projector=\"organisation.v1\"}").unwrap();
    assert!(lag.parse::<u64>().unwrap() >= 1, "{text}");
    assert_eq!(
        metric(&text, "groupware_projector_checkpoint{projector=\"organisation.v1\"}"),
        Some((position - 1).to_string())
    );
    app.stop().await;

    // A restart tries again (the same event stops it again) and is ready.
    let app = TestApp::spawn_with(storage.settings()).await;
    let (status, body) = health(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stopped"][0]["projector"], "organisation.v1");
    let users = app.gql(Some(&acme.admin_token), "{ users { edges { node { userId } } } }", json!({})).await;
    assert_eq!(user_id_of(&users), ["admin", "lee"]);
}

/// Uploads `bytes` as `name` with the part type `mime`.
async fn upload(app: &TestApp, token: &str, mime: &str) -> Value {
    let operations = json!({ "query": "mutation($file: Upload!) { uploadAttachment(file: $file) { id contentType } }", "variables": { "file": null } });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part("0", reqwest::multipart::Part::bytes(b"hello".to_vec()).file_name("a.txt").mime_str(mime).unwrap());
    let response =
        app.client.post(format!("{}/graphql", app.address)).bearer_auth(token).multipart(form).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    body["data"]["uploadAttachment"].clone()
}

// An attachment's contentType is a media type or the send is refused; a
// type stored before the check is served as bytes, never a 500.
#[tokio::test]
async fn attachment_content_types_are_media_types_and_downloads_never_fail_on_a_stored_one() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("mime.kr").await;
    let (kim_id, kim) = app.create_user(&acme, "kim").await;
    let (_, lee) = app.create_user(&acme, "lee").await;
    let file = upload(&app, &kim, "text/plain; charset=utf-8").await;
    assert_eq!(file["contentType"], "text/plain; charset=utf-8");
    let id = file["id"].as_str().unwrap().to_owned();

    let head = app.head().await;
    for bad in ["text/plain\r\nX-Injected: 1", &"x".repeat(900_000), "pdf", "text/plain\u{7}", ""] {
        let attachments = json!([{ "id": id, "name": "a.txt", "contentType": bad }]);
        let r =
            app.gql(Some(&kim), SEND, json!({ "input": { "to": ["lee@mime.kr"], "attachments": attachments } })).await;
        assert_eq!(code(&r), "VALIDATION", "{r}");
        let drafted = app
            .gql(
                Some(&kim),
                "mutation($input: ComposeInput!) { saveDraft(input: $input) { id } }",
                json!({ "input": { "to": ["lee@mime.kr"], "attachments": attachments } }),
            )
            .await;
        assert_eq!(code(&drafted), "VALIDATION", "{drafted}");
    }
    assert_eq!(app.head().await, head, "nothing was written");

    let good = json!([{ "id": id, "name": "a.txt", "contentType": "Text/Plain; charset=\"utf-8\"" }]);
    let sent = app.gql(Some(&kim), SEND, json!({ "input": { "to": ["lee@mime.kr"], "attachments": good } })).await;
    let mail_id = sent["data"]["sendMail"]["id"].as_str().unwrap_or_else(|| panic!("{sent}")).to_owned();
    let read = app.gql(Some(&lee), MAIL, json!({ "id": mail_id })).await;
    assert_eq!(read["data"]["mail"]["attachments"][0]["contentType"], "text/plain; charset=\"utf-8\"");

    // A mail stored before types were checked, with CR LF in its type.
    let backend = live_backend(&app);
    let stream = format!("mailbox-{}", kim_id.replace('-', ""));
    let stored = backend.store.read_stream(&stream, Direction::Backwards, None, 1).await.unwrap().remove(0);
    let old_id = Uuid::now_v7();
    let mut data: Value = stored.decode().unwrap();
    rewrite(&mut data, &old_id.to_string());
    let event = EventData::json(Uuid::now_v7(), &stored.event_type, 1, &data, stored.metadata.clone()).unwrap();
    backend.store.append(&stream, ExpectedVersion::Any, vec![event]).await.unwrap();
    app.settle().await;
    let url = format!("{}/mail/{old_id}/attachments/{id}", app.address);
    let download = app.client.get(&url).bearer_auth(&lee).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/octet-stream");
    let disposition = download.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.contains("a__X-Injected: 1.txt"), "{disposition}");
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"hello");
}

/// Gives a stored mail event a new mail id, and its attachment a type and
/// a name with CR LF.
fn rewrite(value: &mut Value, mail_id: &str) {
    match value {
        Value::Object(fields) => {
            let attachment = fields.contains_key("contentType");
            for (name, field) in fields.iter_mut() {
                match name.as_str() {
                    "mailId" => *field = json!(mail_id),
                    "contentType" => *field = json!("text/plain\r\nX-Injected: 1"),
                    "name" if attachment => *field = json!("../a\r\nX-Injected: 1.txt"),
                    _ => rewrite(field, mail_id),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| rewrite(item, mail_id)),
        _ => {}
    }
}

// A photo is named by its SHA-256 digest: anything else is VALIDATION.
#[tokio::test]
async fn an_hr_card_photo_that_is_not_a_digest_is_refused() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("photo.kr").await;
    let grant = "mutation($id: UUID!) { grantRole(id: $id, role: HR_MANAGER) { id } }";
    app.gql(Some(&acme.admin_token), grant, json!({ "id": acme.admin_id })).await;
    let head = app.head().await;
    let card = "mutation($input: HrCardInput!) { createHrCard(input: $input) { id } }";
    for photo in ["not-a-digest", &"A".repeat(64), &"0".repeat(63), "../../etc/passwd"] {
        let input = json!({ "employeeNo": "E1", "name": "김사원", "photoSha256": photo });
        let r = app.gql(Some(&acme.admin_token), card, json!({ "input": input })).await;
        assert_eq!(code(&r), "VALIDATION", "{photo}: {r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], "photoSha256", "{r}");
    }
    assert_eq!(app.head().await, head, "nothing was written");
}

// NUL in a stream id or a cursor is refused with VALIDATION (on PostgreSQL
// too, where the store cannot even look such a name up).
#[tokio::test]
async fn nul_in_a_stream_id_or_a_cursor_is_refused() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("nulid.kr").await;
    let head = app.head().await;
    let history = "query($s: String!, $a: String) { streamHistory(streamId: $s, after: $a) { totalCount } }";
    let stream = format!("tenant-{}", acme.id.replace('-', ""));
    for (s, after) in [("tenant-\u{0}", None), (stream.as_str(), Some("1\u{0}"))] {
        let r = app.gql(Some(&acme.admin_token), history, json!({ "s": s, "a": after })).await;
        assert_eq!(code(&r), "VALIDATION", "{r}");
    }
    let users = "query($a: String) { users(after: $a) { totalCount } }";
    let r = app.gql(Some(&acme.admin_token), users, json!({ "a": "\u{0}" })).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert_eq!(app.head().await, head, "nothing was written");
}

// A file name is one line of text: control characters are refused when
// sending, and an inbound message's file names are made safe rather than
// refusing the message; every file downloads.
#[tokio::test]
async fn attachment_names_with_control_characters_are_refused_and_inbound_ones_made_safe() {
    let storage = TestStorage::new().await;
    let mut settings = storage.settings();
    settings.inbound_secret = Some("mta-secret".into());
    let app = TestApp::spawn_with(settings).await;
    let acme = app.sign_up("names.kr").await;
    let (_, kim) = app.create_user(&acme, "kim").await;
    let (_, lee) = app.create_user(&acme, "lee").await;
    let id = upload(&app, &kim, "text/plain").await["id"].as_str().unwrap().to_owned();
    let head = app.head().await;
    for name in ["a\r\nX-Injected: 1.txt", "a\u{0}.txt", "tab\t.txt", "../a.txt"] {
        let attachments = json!([{ "id": id, "name": name }]);
        let r =
            app.gql(Some(&kim), SEND, json!({ "input": { "to": ["lee@names.kr"], "attachments": attachments } })).await;
        assert_eq!(code(&r), "VALIDATION", "{name:?}: {r}");
    }
    assert_eq!(app.head().await, head, "nothing was written");

    let raw = "From: Park <park@partner.org>\r\nTo: lee@names.kr\r\nSubject: files\r\nMessage-ID: <names@partner.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"../../etc/\\\\pass\twd.pdf\"\r\n\r\n%PDF-1.4\r\n--b1--\r\n";
    let delivered =
        app.client.post(format!("{}/inbound", app.address)).bearer_auth("mta-secret").body(raw).send().await.unwrap();
    assert_eq!(delivered.status(), 200, "{}", delivered.text().await.unwrap());
    let inbox = app.gql(Some(&lee), MAILBOX, json!({ "folder": "inbox" })).await;
    let mail_id =
        inbox["data"]["mailbox"]["edges"][0]["node"]["id"].as_str().unwrap_or_else(|| panic!("{inbox}")).to_owned();
    let mail = app.gql(Some(&lee), MAIL, json!({ "id": mail_id })).await;
    let file = &mail["data"]["mail"]["attachments"][0];
    let url = format!("{}/mail/{mail_id}/attachments/{}", app.address, file["id"].as_str().unwrap());
    let download = app.client.get(&url).bearer_auth(&lee).send().await.unwrap();
    assert_eq!(download.status(), 200);
}
