//! Deletion that deletes (rule U1): a deleted user's own mail is sealed
//! with their key, which goes with them, so that no byte of it is left in
//! the data directory or in PostgreSQL, while the log stays whole and the
//! copies colleagues hold stay theirs; the mail index's files keep none of
//! its words.

use serde_json::{Value, json};
use tests::{TestApp, TestStorage};

const SEND: &str = "mutation($input: ComposeInput!) { sendMail(input: $input) { id } }";
const INBOX: &str = "{ mailbox(folder: \"inbox\") { totalCount edges { node { id subject } } } }";
const HISTORY: &str = "query($s: String!) { streamHistory(streamId: $s) { edges { node { type data contentWithheld contentDeleted } } } }";

/// Subjects only the deleted user's own mail carries.
const OUT: &str = "Lee-only-outbound-7d1f";
const IN: &str = "Lee-only-inbound-92ab";
const DRAFT: &str = "Lee-only-draft-c04e";
/// A word only the deleted user's own outbound mail holds, as the mail
/// index keeps its terms (lower-case, one term).
const WORD: &str = "qzvxlkwjht";
/// A subject the deleted user sent to a colleague, who keeps it.
const SHARED: &str = "Shared-with-kim-5e77";

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes())) {
                found.push(path);
            }
        }
    }
    found
}

/// The tables of the PostgreSQL database at `url` that hold `needle` in
/// any column, as text or as the hexadecimal of bytes.
async fn tables_holding(url: &str, needle: &str) -> Vec<String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    let driver = tokio::spawn(connection);
    let tables = client
        .query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>();
    let hex = hex::encode(needle);
    let mut found = Vec::new();
    for table in tables {
        let query =
            format!("SELECT count(*) FROM \"{table}\" t WHERE strpos(t::text, $1) > 0 OR strpos(t::text, $2) > 0");
        let count: i64 = client.query_one(&query, &[&needle, &hex]).await.unwrap().get(0);
        if count > 0 {
            found.push(table);
        }
    }
    driver.abort();
    found
}

/// Where `needle` is found: files of the data directory and PostgreSQL
/// tables.
async fn places_holding(storage: &TestStorage, needle: &str) -> Vec<String> {
    let mut places: Vec<String> =
        files_holding(storage.dir(), needle).iter().map(|p| p.display().to_string()).collect();
    if let Some(url) = storage.database_url() {
        places.extend(tables_holding(url, needle).await);
    }
    places
}

/// Whether the mail index's files hold a term of `word`, once the index has
/// caught up with the log.
async fn index_holds(app: &TestApp, word: &str) -> bool {
    let head = app.head().await;
    let backend = tests::live_backend(app);
    assert!(backend.mail_index.wait_for(head, std::time::Duration::from_secs(30)).await, "the mail index lags");
    backend.mail_index.holds_terms_of(word).unwrap()
}

fn subjects(inbox: &Value) -> Vec<String> {
    inbox["data"]["mailbox"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{inbox}"))
        .iter()
        .map(|e| e["node"]["subject"].as_str().unwrap().to_owned())
        .collect()
}

// rule U1
#[tokio::test]
async fn rule_u1_a_deleted_users_mail_leaves_no_byte_in_the_data_or_the_database() {
    let storage = TestStorage::new().await;
    let mut settings = storage.settings();
    settings.inbound_secret = Some("mta-secret".into());
    // Snapshots of the mailbox after every other event: they are sealed too.
    settings.snapshot_every = 2;
    let app = TestApp::spawn_with(settings.clone()).await;
    app.clock(json!({ "now": "2026-11-26T09:00:00+09:00" })).await;
    let acme = app.sign_up("shred.kr").await;
    let (_, kim) = app.create_user(&acme, "kim").await;
    let (lee_id, lee) = app.create_user(&acme, "lee").await;

    let send = |subject: &str, to: &str| json!({ "input": { "to": [to], "subject": subject, "text": format!("body of {subject}: {}", if subject == OUT { WORD } else { "" }) } });
    for (subject, to) in [(OUT, "friend@partner.org"), (SHARED, "kim@shred.kr")] {
        let r = app.gql(Some(&lee), SEND, send(subject, to)).await;
        assert!(r["errors"].is_null(), "{r}");
    }
    let draft = app
        .gql(
            Some(&lee),
            "mutation($input: ComposeInput!) { saveDraft(input: $input) { id } }",
            json!({ "input": { "to": ["kim@shred.kr"], "subject": DRAFT, "text": "unsent" } }),
        )
        .await;
    assert!(draft["errors"].is_null(), "{draft}");
    let raw = format!(
        "From: Park <park@partner.org>\r\nTo: lee@shred.kr\r\nSubject: {IN}\r\nMessage-ID: <u1@partner.org>\r\n\r\nHello Lee.\r\n"
    );
    let inbound =
        app.client.post(format!("{}/inbound", app.address)).bearer_auth("mta-secret").body(raw).send().await.unwrap();
    assert_eq!(inbound.status(), 200);
    app.settle().await;
    assert_eq!(subjects(&app.gql(Some(&lee), INBOX, json!({})).await), [IN]);
    // What the API reads, and the clear parts of the log, are found where
    // this test looks: PostgreSQL's read models hold the subjects, and
    // every store keeps the company's domain in clear (its registry).
    assert!(!places_holding(&storage, "shred.kr").await.is_empty());
    if storage.database_url().is_some() {
        assert!(!places_holding(&storage, OUT).await.is_empty(), "read models in PostgreSQL hold it before");
    }
    assert!(index_holds(&app, WORD).await, "the mail index holds the word before");

    let deleted =
        app.gql(Some(&acme.admin_token), "mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": lee_id })).await;
    assert!(deleted["errors"].is_null(), "{deleted}");
    app.settle().await;

    for subject in [OUT, IN, DRAFT] {
        assert_eq!(places_holding(&storage, subject).await, Vec::<String>::new(), "{subject} is still stored");
    }
    assert!(!index_holds(&app, WORD).await, "the mail index's files still hold the word");
    // The colleague keeps the mail the deleted user sent them.
    assert_eq!(subjects(&app.gql(Some(&kim), INBOX, json!({})).await), [SHARED]);
    // The history keeps every event, its own content gone.
    let history =
        app.gql(Some(&acme.admin_token), HISTORY, json!({ "s": format!("mailbox-{}", lee_id.replace('-', "")) })).await;
    let events = history["data"]["streamHistory"]["edges"].as_array().unwrap_or_else(|| panic!("{history}")).clone();
    assert!(events.len() >= 3, "{history}");
    let gone: Vec<_> = events.iter().filter(|e| e["node"]["contentDeleted"] == true).collect();
    assert!(gone.len() >= 3 && gone.iter().all(|e| e["node"]["data"].is_null()), "{history}");
    // The chain is over the stored bytes: the log still verifies.
    let verified = api::cli::verify(&settings, None, None).await.unwrap();
    assert!(verified.starts_with("verified"), "{verified}");

    // After a restart the read models are built again from the log: the
    // same outcome.
    app.stop().await;
    let app = TestApp::spawn_with(settings).await;
    app.clock(json!({ "now": "2026-11-26T10:00:00+09:00" })).await;
    assert_eq!(subjects(&app.gql(Some(&kim), INBOX, json!({})).await), [SHARED]);
    let kim_sees = app.gql(Some(&kim), "{ mailFolders { id total } }", json!({})).await;
    assert_eq!(kim_sees["data"]["mailFolders"][0], json!({ "id": "inbox", "total": 1 }), "{kim_sees}");
    app.settle().await;
    for subject in [OUT, IN, DRAFT] {
        assert_eq!(places_holding(&storage, subject).await, Vec::<String>::new(), "{subject} came back");
    }
}

/// A subject only the terminated company's mail carries, and bytes only its
/// attachment holds.
const COMPANY: &str = "Ended-company-plans-3b9d";
const FILE: &[u8] = b"%PDF-1.4 ended-company-figures-a81c";

// rule B3
#[tokio::test]
async fn rule_b3_a_terminated_company_leaves_no_byte_and_frees_its_domain() {
    let storage = TestStorage::new().await;
    let settings = storage.settings();
    let app = TestApp::spawn_with(settings.clone()).await;
    app.clock(json!({ "now": "2026-11-30T09:00:00+09:00" })).await;
    let ended = app.sign_up("ended.kr").await;
    let (_, kim) = app.create_user(&ended, "kim").await;
    app.create_user(&ended, "lee").await;
    let operations = json!({ "query": "mutation($file: Upload!) { uploadAttachment(file: $file) { id } }", "variables": { "file": null } });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(FILE.to_vec()).file_name("plans.pdf").mime_str("application/pdf").unwrap(),
        );
    let uploaded: Value = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&kim)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let file = uploaded["data"]["uploadAttachment"]["id"].as_str().unwrap_or_else(|| panic!("{uploaded}")).to_owned();
    let mail = json!({ "input": { "to": ["lee@ended.kr"], "subject": COMPANY, "text": format!("the plans {WORD}"), "attachments": [{ "id": file, "name": "plans.pdf", "contentType": "application/pdf" }] } });
    let sent = app.gql(Some(&kim), SEND, mail).await;
    assert!(sent["errors"].is_null(), "{sent}");
    let other = app.sign_up("other.kr").await;
    app.settle().await;
    assert!(!files_holding(storage.dir(), std::str::from_utf8(FILE).unwrap()).is_empty(), "the blob is stored before");
    assert!(index_holds(&app, WORD).await, "the mail index holds the word before");

    // The provider terminates the company (billing's dates will ask for it).
    let backend = tests::live_backend(&app);
    let tenant: uuid::Uuid = ended.id.parse().unwrap();
    let context = commands::CommandContext::new(uuid::Uuid::now_v7(), domain::Actor::System, Some(tenant));
    backend
        .execute::<domain::tenant::Tenant>(tenant, &context, domain::tenant::TenantCommand::Terminate)
        .await
        .unwrap();
    // The server's backend goes when the server stops, below.
    drop(backend);
    app.settle().await;

    for needle in [COMPANY, std::str::from_utf8(FILE).unwrap()] {
        assert_eq!(places_holding(&storage, needle).await, Vec::<String>::new(), "{needle} is still stored");
    }
    assert!(!index_holds(&app, WORD).await, "the mail index's files still hold the word");
    let me = app.gql(Some(&kim), "{ me { userId } }", json!({})).await;
    assert_eq!(tests::code(&me), "UNAUTHENTICATED", "{me}");
    assert!(app.login("ended.kr", "admin", "s3cret-pass").await.is_err());
    // Its domain is free again; the other company is untouched.
    let add = "mutation($d: String!) { addMailDomain(domain: $d) { name } }";
    let taken = app.gql(Some(&other.admin_token), add, json!({ "d": "ended.kr" })).await;
    assert_eq!(taken["data"]["addMailDomain"]["name"], "ended.kr", "{taken}");
    // The log is whole: every link still holds.
    let verified = api::cli::verify(&settings, None, None).await.unwrap();
    assert!(verified.starts_with("verified"), "{verified}");

    app.stop().await;
    let app = TestApp::spawn_with(settings).await;
    app.clock(json!({ "now": "2026-11-30T10:00:00+09:00" })).await;
    // The domain is the other company's now; the ended company's users are
    // gone with it.
    assert!(app.login("ended.kr", "kim", "user-pass-1").await.is_err());
    assert!(app.login("other.kr", "admin", "s3cret-pass").await.is_ok());
    app.settle().await;
    assert_eq!(places_holding(&storage, COMPANY).await, Vec::<String>::new());
}

// A data directory restored without its key file is refused, rather than
// given new keys beside payloads nothing could open again.
#[tokio::test]
async fn a_log_with_sealed_data_does_not_start_without_its_keys() {
    let storage = TestStorage::new().await;
    if storage.database_url().is_some() {
        eprintln!("the keys are in the database here; the key file is the embedded store's");
        return;
    }
    let app = TestApp::spawn_with(storage.settings()).await;
    app.sign_up("keys.kr").await;
    app.stop().await;
    std::fs::rename(storage.dir().join("keys.db"), storage.dir().join("keys.db.away")).unwrap();
    let refused = api::Application::build(storage.settings()).await.err().expect("refused without its keys");
    assert!(format!("{refused:#}").contains("keys.db is missing"), "{refused:#}");
    std::fs::rename(storage.dir().join("keys.db.away"), storage.dir().join("keys.db")).unwrap();
    let app = TestApp::spawn_with(storage.settings()).await;
    assert!(app.login("keys.kr", "admin", "s3cret-pass").await.is_ok());
}
