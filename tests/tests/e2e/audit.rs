//! Auditors: a role that reads the audit trail, stream histories and
//! checkpoints and changes nothing; checkpoints signed on demand with a key
//! auditors can hold; a log that verifies until one byte or one row of it
//! is changed.

use serde_json::json;
use tests::{TestApp, TestStorage, code};

const HISTORY: &str = "query($s: String!) { streamHistory(streamId: $s) { edges { node { position type data contentWithheld chain } } } }";
const GRANT: &str = "mutation($id: UUID!, $r: Role!) { grantRole(id: $id, role: $r) { id roles } }";
const SIGN: &str = "mutation { signCheckpoint { position chain signedAt publicKey signature } }";

fn stream(category: &str, id: &str) -> String {
    format!("{category}-{}", id.replace('-', ""))
}

#[tokio::test]
async fn an_auditor_reads_the_trail_and_histories_without_mail_content_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("auditors.com").await;
    let (kim, kim_token) = app.create_user(&acme, "kim").await;
    let (auditor, _) = app.create_user(&acme, "audit").await;
    let granted = app.gql(Some(&acme.admin_token), GRANT, json!({ "id": auditor, "r": "AUDITOR" })).await;
    assert_eq!(granted["data"]["grantRole"]["roles"], json!(["AUDITOR"]), "{granted}");
    let token = app.login("auditors.com", "audit", "user-pass-1").await.unwrap();
    let send = "mutation($s: String!) { sendMail(input: { to: [\"admin@auditors.com\"], subject: $s, text: \"본문 비밀\" }) { id } }";
    let sent = app.gql(Some(&kim_token), send, json!({ "s": "연봉 협상" })).await;
    assert!(sent["errors"].is_null(), "{sent}");

    // The trail and the company's own streams, whole.
    let trail =
        app.gql(Some(&token), "{ auditTrail(first: 50) { totalCount edges { node { type } } } }", json!({})).await;
    assert!(trail["data"]["auditTrail"]["totalCount"].as_u64().unwrap() > 3, "{trail}");
    let tenant = app.gql(Some(&token), HISTORY, json!({ "s": stream("tenant", &acme.id) })).await;
    let events = tenant["data"]["streamHistory"]["edges"].as_array().unwrap_or_else(|| panic!("{tenant}"));
    assert!(events.iter().all(|e| e["node"]["contentWithheld"] == false), "{tenant}");
    // Every event shows its link in the chain.
    assert!(events.iter().all(|e| e["node"]["chain"].as_str().is_some_and(|c| c.len() == 64)), "{tenant}");
    // Mail is its owner's: the auditor sees that kim sent one, not what.
    let mailbox = app.gql(Some(&token), HISTORY, json!({ "s": stream("mailbox", &kim) })).await;
    assert!(mailbox["data"]["streamHistory"]["edges"].as_array().is_some_and(|e| !e.is_empty()), "{mailbox}");
    assert!(!mailbox.to_string().contains("연봉") && !mailbox.to_string().contains("비밀"), "{mailbox}");

    // Nothing an auditor asks to change is done.
    let head = app.head().await;
    for (mutation, variables) in [
        (send, json!({ "s": "감사인의 메일" })),
        (GRANT, json!({ "id": kim, "r": "ADMIN" })),
        (SIGN, json!({})),
        ("mutation { createUser(input: { userId: \"x\", name: \"x\", password: \"user-pass-1\" }) { id } }", json!({})),
    ] {
        let refused = app.gql(Some(&token), mutation, variables).await;
        assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
    }
    assert_eq!(app.head().await, head);
    // The role goes alone: an auditor is made no admin, an admin no auditor.
    let mixed = app.gql(Some(&acme.admin_token), GRANT, json!({ "id": auditor, "r": "ADMIN" })).await;
    assert_eq!(code(&mixed), "CONFLICT", "{mixed}");
    let mixed = app.gql(Some(&acme.admin_token), GRANT, json!({ "id": acme.admin_id, "r": "AUDITOR" })).await;
    assert_eq!(code(&mixed), "CONFLICT", "{mixed}");
    // A plain user reads neither the trail nor histories.
    let trail = app.gql(Some(&kim_token), "{ auditTrail { totalCount } }", json!({})).await;
    assert_eq!(code(&trail), "FORBIDDEN");
    let key = app.gql(Some(&kim_token), "{ auditKey { publicKey } }", json!({})).await;
    assert_eq!(code(&key), "FORBIDDEN");
}

#[tokio::test]
async fn a_signed_checkpoint_verifies_with_the_exported_key_until_the_log_is_changed() {
    let storage = TestStorage::new().await;
    let app = TestApp::spawn_with(storage.settings()).await;
    let acme = app.sign_up("checkpoints.com").await;
    app.create_user(&acme, "kim").await;
    let signed = app.gql(Some(&acme.admin_token), SIGN, json!({})).await;
    let checkpoint = signed["data"]["signCheckpoint"].clone();
    assert!(checkpoint["chain"].as_str().is_some_and(|c| c.len() == 64), "{signed}");
    let key = app.gql(Some(&acme.admin_token), "{ auditKey { algorithm publicKey } }", json!({})).await;
    assert_eq!(key["data"]["auditKey"]["algorithm"], "Ed25519");
    let public_key = key["data"]["auditKey"]["publicKey"].as_str().unwrap().to_owned();
    assert_eq!(checkpoint["publicKey"], public_key.as_str());
    // Nothing new since: the same checkpoint.
    let again = app.gql(Some(&acme.admin_token), SIGN, json!({})).await;
    assert_eq!(again["data"]["signCheckpoint"], checkpoint, "{again}");
    let last = app.gql(Some(&acme.admin_token), "{ lastCheckpoint { position chain } }", json!({})).await;
    assert_eq!(last["data"]["lastCheckpoint"]["position"], checkpoint["position"]);
    let company = app.gql(Some(&acme.admin_token), HISTORY, json!({ "s": stream("tenant", &acme.id) })).await;
    let signed_up_at = company["data"]["streamHistory"]["edges"][0]["node"]["position"].as_u64().unwrap();
    app.stop().await;

    let settings = storage.settings();
    let verified = api::cli::verify(&settings, Some("checkpoints.com"), Some(&public_key)).await.unwrap();
    assert!(verified.contains("1 signed checkpoints match"), "{verified}");
    let everything = api::cli::verify(&settings, None, None).await.unwrap();
    assert!(everything.starts_with("verified"), "{everything}");
    let other_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let refused = api::cli::verify(&settings, None, Some(other_key)).await.unwrap_err();
    assert!(refused.to_string().contains("another key"), "{refused}");

    // One stored byte changed, or one row removed: verification names it.
    let broken = match storage.database_url() {
        None => {
            change_one_byte(&storage.dir().join("events.db"), signed_up_at);
            format!("position {signed_up_at} ")
        }
        Some(url) => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
            let driver = tokio::spawn(connection);
            let deleted = client
                .execute("DELETE FROM es_events WHERE position = $1", &[&i64::try_from(signed_up_at).unwrap()])
                .await
                .unwrap();
            assert_eq!(deleted, 1);
            driver.abort();
            format!("positions {signed_up_at} to {signed_up_at} are missing")
        }
    };
    let failed = api::cli::verify(&settings, None, Some(&public_key)).await.unwrap_err().to_string();
    assert!(failed.contains(&broken), "{failed}");
    let failed = api::cli::verify(&settings, Some("checkpoints.com"), Some(&public_key)).await.unwrap_err();
    assert!(failed.to_string().contains(&broken), "{failed}");
}

/// Flips one bit of the stored payload of the event at `position` where
/// the SQLite file holds it, once the write-ahead log is moved into it.
fn change_one_byte(file: &std::path::Path, position: u64) {
    let conn = rusqlite::Connection::open(file).unwrap();
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0)).unwrap();
    assert_eq!(busy, 0, "the write-ahead log could not be moved into the file");
    let stored: Vec<u8> = conn
        .query_row("SELECT data FROM events WHERE position = ?1", [i64::try_from(position).unwrap()], |r| r.get(0))
        .unwrap();
    drop(conn);
    let mut bytes = std::fs::read(file).unwrap();
    let needle = &stored[..];
    let at = bytes.windows(needle.len()).position(|w| w == needle).expect("the payload is in the file");
    bytes[at] ^= 0x01;
    std::fs::write(file, bytes).unwrap();
}

#[tokio::test]
async fn the_server_signs_each_company_s_chain_at_intervals() {
    let storage = TestStorage::new().await;
    let settings = api::Settings { checkpoint_every: std::time::Duration::from_millis(100), ..storage.settings() };
    let app = TestApp::spawn_with(settings).await;
    let acme = app.sign_up("intervals.com").await;
    let head = app.head().await;
    let mut last = serde_json::Value::Null;
    for _ in 0..200 {
        let r = app.gql(Some(&acme.admin_token), "{ lastCheckpoint { position } }", json!({})).await;
        last = r["data"]["lastCheckpoint"].clone();
        if last["position"].as_u64().is_some_and(|p| p >= head - 1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(last["position"].as_u64().is_some(), "no checkpoint was signed: {last}");
    // With nothing new, the signer adds nothing more.
    let settled = app.head().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.head().await, settled);
}

#[tokio::test]
async fn the_audit_trail_filters_by_time_type_actor_and_stream_and_pages_both_ways() {
    let app = TestApp::spawn().await;
    app.clock(json!({ "now": "2026-11-02T09:00:00+09:00" })).await;
    let mut acme = app.sign_up("trailfilter.com").await;
    let (kim, _) = app.create_user(&acme, "kim").await;
    app.clock(json!({ "now": "2026-11-20T09:00:00+09:00" })).await;
    acme.admin_token = app.login("trailfilter.com", "admin", "s3cret-pass").await.unwrap();
    for user in ["lee", "park", "choi"] {
        app.create_user(&acme, user).await;
    }
    app.gql(Some(&acme.admin_token), GRANT, json!({ "id": kim, "r": "HR_MANAGER" })).await;
    const TRAIL: &str = "query($f: AuditFilter, $first: Int, $after: String, $last: Int, $before: String) {
        auditTrail(filter: $f, first: $first, after: $after, last: $last, before: $before) {
          totalCount pageInfo { hasNextPage hasPreviousPage endCursor startCursor }
          edges { node { type stream actorId occurredAt } } } }";
    let trail = |filter: serde_json::Value| {
        let app = &app;
        let token = acme.admin_token.clone();
        async move { app.gql(Some(&token), TRAIL, json!({ "f": filter })).await }
    };
    let types = |r: &serde_json::Value| -> Vec<String> {
        r["data"]["auditTrail"]["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{r}"))
            .iter()
            .map(|e| e["node"]["type"].as_str().unwrap().to_owned())
            .collect()
    };

    // The admin made at sign-up, kim, and three more.
    let created = trail(json!({ "eventType": "UserCreated" })).await;
    assert_eq!(created["data"]["auditTrail"]["totalCount"], 5, "{created}");
    assert!(types(&created).iter().all(|t| t == "UserCreated"));
    let granted = trail(json!({ "eventType": "RoleGranted", "actorId": acme.admin_id })).await;
    assert_eq!(types(&granted), vec!["RoleGranted"]);
    let by_kim = trail(json!({ "actorId": kim })).await;
    assert_eq!(by_kim["data"]["auditTrail"]["totalCount"], 0, "{by_kim}");
    let tenant_stream = stream("tenant", &acme.id);
    let of_tenant = trail(json!({ "streamId": tenant_stream, "eventType": "UserCreated" })).await;
    assert_eq!(of_tenant["data"]["auditTrail"]["totalCount"], 5, "{of_tenant}");
    // Early November: the admin and kim; not the three made on the 20th.
    let early = trail(json!({ "eventType": "UserCreated", "until": "2026-11-10T00:00:00Z" })).await;
    assert_eq!(early["data"]["auditTrail"]["totalCount"], 2, "{early}");
    let late = trail(json!({ "from": "2026-11-10T00:00:00Z" })).await;
    assert!(types(&late).iter().all(|t| t != "TenantSignedUp"), "{late}");
    assert_eq!(types(&late).iter().filter(|t| *t == "UserCreated").count(), 3, "{late}");

    // Pages of a filtered trail, forwards then back.
    let first =
        app.gql(Some(&acme.admin_token), TRAIL, json!({ "f": { "eventType": "UserCreated" }, "first": 3 })).await;
    assert_eq!(types(&first).len(), 3);
    assert_eq!(first["data"]["auditTrail"]["pageInfo"]["hasNextPage"], true);
    let end = first["data"]["auditTrail"]["pageInfo"]["endCursor"].clone();
    let rest = app
        .gql(Some(&acme.admin_token), TRAIL, json!({ "f": { "eventType": "UserCreated" }, "first": 3, "after": end }))
        .await;
    assert_eq!(types(&rest).len(), 2);
    assert_eq!(rest["data"]["auditTrail"]["pageInfo"]["hasNextPage"], false);
    let start = rest["data"]["auditTrail"]["pageInfo"]["startCursor"].clone();
    let back = app
        .gql(Some(&acme.admin_token), TRAIL, json!({ "f": { "eventType": "UserCreated" }, "last": 2, "before": start }))
        .await;
    assert_eq!(types(&back).len(), 2);
    assert_eq!(back["data"]["auditTrail"]["pageInfo"]["hasPreviousPage"], true);

    let reversed = trail(json!({ "from": "2026-11-20T00:00:00Z", "until": "2026-11-01T00:00:00Z" })).await;
    assert_eq!(code(&reversed), "VALIDATION", "{reversed}");
}

#[tokio::test]
async fn history_as_of_a_time_or_position_replays_the_log_not_the_read_models() {
    const PAST: &str =
        "query($s: String!, $at: DateTime, $p: Int) { historicalState(streamId: $s, at: $at, position: $p) {
        version position occurredAt state contentWithheld } }";
    let app = TestApp::spawn().await;
    app.clock(json!({ "now": "2026-11-02T09:00:00+09:00" })).await;
    let mut acme = app.sign_up("pastroles.com").await;
    let (kim, _) = app.create_user(&acme, "kim").await;
    let (auditor, _) = app.create_user(&acme, "audit").await;
    app.gql(Some(&acme.admin_token), GRANT, json!({ "id": auditor, "r": "AUDITOR" })).await;
    app.clock(json!({ "now": "2026-11-10T09:00:00+09:00" })).await;
    acme.admin_token = app.login("pastroles.com", "admin", "s3cret-pass").await.unwrap();
    let granted = app.gql(Some(&acme.admin_token), GRANT, json!({ "id": kim, "r": "HR_MANAGER" })).await;
    assert!(granted["errors"].is_null(), "{granted}");
    let granted_at = app.head().await;
    app.clock(json!({ "now": "2026-11-20T09:00:00+09:00" })).await;
    acme.admin_token = app.login("pastroles.com", "admin", "s3cret-pass").await.unwrap();
    let revoke = "mutation($id: UUID!) { revokeRole(id: $id, role: HR_MANAGER) { id } }";
    let revoked = app.gql(Some(&acme.admin_token), revoke, json!({ "id": kim })).await;
    assert!(revoked["errors"].is_null(), "{revoked}");
    let token = app.login("pastroles.com", "audit", "user-pass-1").await.unwrap();
    let kim_token = app.login("pastroles.com", "kim", "user-pass-1").await.unwrap();
    let company = stream("tenant", &acme.id);
    let past = |variables: serde_json::Value| {
        let (app, token) = (&app, token.clone());
        async move { app.gql(Some(&token), PAST, variables).await }
    };
    let kim_roles = |r: &serde_json::Value| r["data"]["historicalState"]["state"]["accounts"][&kim]["roles"].clone();

    let before = past(json!({ "s": company, "at": "2026-11-05T00:00:00Z" })).await;
    assert_eq!(kim_roles(&before), json!([]), "{before}");
    let during = past(json!({ "s": company, "at": "2026-11-15T00:00:00Z" })).await;
    assert_eq!(kim_roles(&during), json!(["HrManager"]), "{during}");
    let now = past(json!({ "s": company, "at": "2026-11-25T00:00:00Z" })).await;
    assert_eq!(kim_roles(&now), json!([]), "{now}");
    let at_grant = past(json!({ "s": company, "p": granted_at })).await;
    assert_eq!(kim_roles(&at_grant), json!(["HrManager"]), "{at_grant}");
    assert_eq!(at_grant["data"]["historicalState"]["position"], granted_at);
    let just_before = past(json!({ "s": company, "p": granted_at - 1 })).await;
    assert_eq!(kim_roles(&just_before), json!([]), "{just_before}");
    // Secrets stay out of past states too.
    assert!(!during.to_string().contains("argon2"), "{during}");

    // Mail stays its owner's in the past as well.
    let send =
        "mutation { sendMail(input: { to: [\"admin@pastroles.com\"], subject: \"옛날 비밀\", text: \"x\" }) { id } }";
    assert!(app.gql(Some(&kim_token), send, json!({})).await["errors"].is_null());
    let mailbox = past(json!({ "s": stream("mailbox", &kim), "at": "2026-11-30T00:00:00Z" })).await;
    assert_eq!(mailbox["data"]["historicalState"]["contentWithheld"], true, "{mailbox}");
    assert!(mailbox["data"]["historicalState"]["state"].is_null());
    assert!(!mailbox.to_string().contains("옛날"), "{mailbox}");

    // Before the company existed, both points, neither point, another
    // company's stream: clear refusals.
    let early = past(json!({ "s": company, "at": "2026-10-01T00:00:00Z" })).await;
    assert_eq!(code(&early), "VALIDATION", "{early}");
    assert!(early["errors"][0]["message"].as_str().unwrap().contains("did not exist yet"), "{early}");
    let both = past(json!({ "s": company, "at": "2026-11-05T00:00:00Z", "p": 3 })).await;
    assert_eq!(code(&both), "VALIDATION");
    let neither = past(json!({ "s": company })).await;
    assert_eq!(code(&neither), "VALIDATION");
    let other = app.sign_up("otherpast.com").await;
    let foreign = past(json!({ "s": stream("tenant", &other.id), "at": "2026-11-25T00:00:00Z" })).await;
    assert_eq!(code(&foreign), "NOT_FOUND", "{foreign}");
    // Spelled otherwise, a stream is not another name for the same one.
    for spelling in [format!("tenant-{}", other.id), format!("tenant-{}", acme.id), company.to_uppercase()] {
        let r = past(json!({ "s": spelling, "at": "2026-11-25T00:00:00Z" })).await;
        assert_eq!(code(&r), "NOT_FOUND", "{spelling}: {r}");
    }
    let unknown = past(json!({ "s": "nothing-here", "at": "2026-11-25T00:00:00Z" })).await;
    assert_eq!(code(&unknown), "NOT_FOUND", "{unknown}");
    let plain = app.gql(Some(&kim_token), PAST, json!({ "s": company, "at": "2026-11-25T00:00:00Z" })).await;
    assert_eq!(code(&plain), "FORBIDDEN");
}

#[tokio::test]
async fn an_archive_exports_verifies_offline_and_replays_into_a_read_only_server() {
    let storage = TestStorage::new().await;
    let settings = api::Settings { inbound_secret: Some("mta-secret".into()), ..storage.settings() };
    let app = TestApp::spawn_with(settings).await;
    app.clock(json!({ "now": "2026-10-15T09:00:00+09:00" })).await;
    let acme = app.sign_up("archived.com").await;
    let (_, kim_token) = app.create_user(&acme, "kim").await;
    let send = "mutation { sendMail(input: { to: [\"admin@archived.com\"], subject: \"보관할 메일\", text: \"본문\" }) { id } }";
    assert!(app.gql(Some(&kim_token), send, json!({})).await["errors"].is_null());
    // A mail from outside to both of them, naming no recipient (Bcc).
    let blind = "From: Park Ji <park@partner.org>\r\nSubject: 공지\r\nMessage-ID: <b1@partner.org>\r\n\r\nTo all.\r\n";
    let inbound = format!("{}/inbound?to=kim@archived.com&to=admin@archived.com", app.address);
    let delivered = app.client.post(inbound).bearer_auth("mta-secret").body(blind).send().await.unwrap();
    assert_eq!(delivered.status(), 200);
    let key = app.gql(Some(&acme.admin_token), "{ auditKey { publicKey } }", json!({})).await;
    let public_key = key["data"]["auditKey"]["publicKey"].as_str().unwrap().to_owned();
    app.stop().await;

    let settings = storage.settings();
    let out = storage.dir().join("archived.zip");
    let exported = api::cli::archive_export(&settings, "archived.com", ("2026-10", "2026-11"), &out).await.unwrap();
    assert!(exported.starts_with("archived ") && exported.contains("from 2026-10 to 2026-11"), "{exported}");
    let verified = api::cli::archive_verify(&out, Some(&public_key)).unwrap();
    assert!(verified.contains("in 2 files"), "{verified}");
    // Whoever holds the data directory holds the keys: the mail is in it
    // as an RFC 5322 message too.
    let files = unzipped(&std::fs::read(&out).unwrap());
    let messages: Vec<mail_parser::Message> = files
        .iter()
        .filter(|(name, _)| name.starts_with("renderings/mail/2026-10/"))
        .map(|(_, m)| mail_parser::MessageParser::default().parse(m.as_slice()).unwrap().into_owned())
        .collect();
    // Kim's mail, and the one from outside in each of the two mailboxes.
    assert_eq!(messages.len(), 3, "{:?}", files.keys());
    assert_eq!(messages.iter().filter(|m| m.subject() == Some("공지")).count(), 2);
    let message = messages.iter().find(|m| m.subject() == Some("보관할 메일")).unwrap();
    assert_eq!(message.from().and_then(|f| f.first()).and_then(|a| a.address()), Some("kim@archived.com"));
    assert_eq!(message.body_text(0).as_deref(), Some("본문"));
    // Bad ranges make nothing.
    let reversed = api::cli::archive_export(&settings, "archived.com", ("2026-11", "2026-10"), &out).await.unwrap_err();
    assert!(reversed.to_string().contains("reversed"), "{reversed}");
    let empty = api::cli::archive_export(&settings, "archived.com", ("2020-01", "2020-02"), &out).await.unwrap_err();
    assert!(empty.to_string().contains("nothing to archive"), "{empty}");
    let wrong_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    assert!(api::cli::archive_verify(&out, Some(wrong_key)).is_err());

    // Years later: the archive alone, replayed and served read-only.
    let replay_dir = tempfile::tempdir().unwrap();
    let replayed = api::cli::archive_replay(&out, replay_dir.path(), Some(&public_key)).await.unwrap();
    assert!(replayed.contains("serve --read-only"), "{replayed}");
    let again = api::cli::archive_replay(&out, replay_dir.path(), Some(&public_key)).await.unwrap_err();
    assert!(again.to_string().contains("exists already"), "{again}");
    let read_only = api::Settings {
        data_dir: replay_dir.path().to_path_buf(),
        events: api::EventStoreKind::Embedded,
        read_models: api::ReadModelKind::Memory,
        read_only: true,
        ..storage.settings()
    };
    let replay = TestApp::spawn_with(read_only).await;
    replay.clock(json!({ "now": "2026-11-20T09:00:00+09:00" })).await;
    let token = replay.login("archived.com", "kim", "user-pass-1").await.unwrap();
    let inbox = replay
        .gql(Some(&token), "{ mailbox(folder: \"sent\") { totalCount edges { node { subject } } } }", json!({}))
        .await;
    assert!(inbox.to_string().contains("보관할 메일"), "{inbox}");
    let head = replay.head().await;
    let refused = replay.gql(Some(&token), send, json!({})).await;
    assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
    assert_eq!(replay.head().await, head);
    // The replayed log verifies as a log of its own.
    replay.stop().await;
    let replayed_settings = api::Settings { data_dir: replay_dir.path().to_path_buf(), ..api::Settings::default() };
    let own = api::cli::verify(&replayed_settings, Some("archived.com"), Some(wrong_key)).await.unwrap();
    assert!(own.starts_with("verified"), "{own}");
}

/// Every file of an archive, by name, decompressed.
fn unzipped(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut file = zip.by_index(i).unwrap();
            let mut content = Vec::new();
            std::io::Read::read_to_end(&mut file, &mut content).unwrap();
            (file.name().unwrap().into_owned(), content)
        })
        .collect()
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn an_admin_or_auditor_asks_for_an_archive_over_graphql_which_holds_no_mail_and_verifies_offline() {
    let storage = TestStorage::new().await;
    // What a stopped process left half made goes at the start.
    let scratch = storage.dir().join("scratch").join("archives");
    std::fs::create_dir_all(scratch.join(".tmp-left")).unwrap();
    std::fs::write(scratch.join(".tmp-left").join("archive.zip"), b"half").unwrap();
    let app = TestApp::spawn_with(storage.settings()).await;
    app.clock(json!({ "now": "2026-10-15T09:00:00+09:00" })).await;
    let acme = app.sign_up("archives.kr").await;
    let admin = Some(acme.admin_token.as_str());
    let (kim, kim_token) = app.create_user(&acme, "kim").await;
    let (lee, lee_token) = app.create_user(&acme, "lee").await;
    let (auditor, _) = app.create_user(&acme, "audit").await;
    app.gql(admin, GRANT, json!({ "id": auditor, "r": "AUDITOR" })).await;
    let token = app.login("archives.kr", "audit", "user-pass-1").await.unwrap();
    let send = "mutation { sendMail(input: { to: [\"lee@archives.kr\", \"partner@outside.org\"], subject: \"기밀 메일\", text: \"연봉 본문\" }) { id } }";
    assert!(app.gql(Some(&kim_token), send, json!({})).await["errors"].is_null());
    // A document lee approves, and a leave history.
    let form = app
        .gql(
            admin,
            "mutation($input: FormInput!) { createApprovalForm(input: $input) { id } }",
            json!({ "input": { "name": "업무보고", "abbreviation": "RP", "fields": [{ "key": "body", "label": "본문", "type": "TEXT", "required": true }] } }),
        )
        .await;
    let form = form["data"]["createApprovalForm"]["id"].as_str().unwrap_or_else(|| panic!("{form}")).to_owned();
    let submit = "mutation($input: DocumentInput!) { submitDocument(input: $input) { id } }";
    let input = json!({ "formId": form, "title": "4분기 계획", "fields": { "body": "계획입니다" }, "line": { "approverIds": [lee] } });
    let submitted = app.gql(Some(&kim_token), submit, json!({ "input": input })).await;
    let document =
        submitted["data"]["submitDocument"]["id"].as_str().unwrap_or_else(|| panic!("{submitted}")).to_owned();
    let approved = app
        .gql(
            Some(&lee_token),
            "mutation($id: UUID!) { approveDocument(id: $id) { status } }",
            json!({ "id": document }),
        )
        .await;
    assert_eq!(approved["data"]["approveDocument"]["status"], "COMPLETED", "{approved}");
    app.gql(
        admin,
        "mutation($id: UUID!) { grantRole(id: $id, role: HR_MANAGER) { id } }",
        json!({ "id": acme.admin_id }),
    )
    .await;
    let card = "mutation($input: HrCardInput!) { createHrCard(input: $input) { id } }";
    let input =
        json!({ "employeeNo": "E-1", "name": "김사원", "userId": kim, "hireDate": "2020-03-02", "duties": "영업" });
    assert!(app.gql(admin, card, json!({ "input": input })).await["errors"].is_null());
    let adjust =
        "mutation($e: UUID!) { adjustLeave(employeeId: $e, days: 10, mode: SET, reason: \"=1+1 이월\") { days } }";
    let adjusted = app.gql(admin, adjust, json!({ "e": kim })).await;
    assert_eq!(adjusted["data"]["adjustLeave"]["days"], 10.0, "{adjusted}");

    // Refusals change nothing: a plain user, months badly written,
    // reversed, before the company began, not yet begun.
    let request = "mutation($f: String!, $t: String!) { requestArchive(from: $f, to: $t) { id status from to expiresAt downloadPath } }";
    let head = app.head().await;
    assert_eq!(code(&app.gql(Some(&kim_token), request, json!({ "f": "2026-10", "t": "2026-10" })).await), "FORBIDDEN");
    for (from, to, says) in [
        ("2026-1", "2026-10", "not a month"),
        ("2026-10", "2026-09", "reversed"),
        ("2025-01", "2026-09", "began in 2026-10"),
        ("2026-11", "2026-12", "has not begun"),
    ] {
        let refused = app.gql(Some(&token), request, json!({ "f": from, "t": to })).await;
        assert_eq!(code(&refused), "VALIDATION", "{from} {to}: {refused}");
        assert!(refused["errors"][0]["message"].as_str().unwrap().contains(says), "{refused}");
    }
    assert_eq!(app.head().await, head);

    // The auditor asks; the archive is made in the background.
    let requested = app.gql(Some(&token), request, json!({ "f": "2026-10", "t": "2026-10" })).await;
    let archive = &requested["data"]["requestArchive"];
    assert_eq!(archive["expiresAt"], "2026-11-14T00:00:00+00:00", "{requested}");
    let path = archive["downloadPath"].as_str().unwrap().to_owned();
    // An admin's holds the records sealed.
    let by_admin = app.gql(admin, request, json!({ "f": "2026-10", "t": "2026-10" })).await;
    let admin_path = by_admin["data"]["requestArchive"]["downloadPath"].as_str().unwrap().to_owned();
    app.settle().await;
    let listed = app.gql(admin, "{ archives { status events failure from to records } }", json!({})).await;
    let listed = listed["data"]["archives"].as_array().unwrap_or_else(|| panic!("{listed}")).clone();
    assert!(listed.iter().all(|a| a["status"] == "READY" && a["events"].as_u64().unwrap() > 10), "{listed:?}");
    assert_eq!(listed.iter().map(|a| a["records"].clone()).collect::<Vec<_>>(), vec![json!(false), json!(true)]);
    // Made, they are in the blob store alone; what was left before the
    // start is gone too.
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
    assert_eq!(code(&app.gql(Some(&kim_token), "{ archives { id } }", json!({})).await), "FORBIDDEN");
    // What an auditor's archive is (its blob's digest) is the auditors'.
    let requests = stream("archives", &acme.id);
    let to_admin = app.gql(admin, HISTORY, json!({ "s": requests })).await;
    let edges = to_admin["data"]["streamHistory"]["edges"].as_array().unwrap_or_else(|| panic!("{to_admin}")).clone();
    assert!(edges.iter().all(|e| e["node"]["contentWithheld"] == true), "{to_admin}");
    let to_auditor = app.gql(Some(&token), HISTORY, json!({ "s": requests })).await;
    assert!(to_auditor.to_string().contains("sha256"), "{to_auditor}");
    // Nor does the digest make it a mail's attachment: exports are kept
    // apart from what people upload.
    let digest = to_auditor["data"]["streamHistory"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e["node"]["data"]["sha256"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("{to_auditor}"));
    let attach = "mutation($a: String!) { sendMail(input: { to: [\"admin@archives.kr\"], subject: \"x\", text: \"x\", attachments: [{ id: $a, name: \"a.zip\" }] }) { id } }";
    let refused = app.gql(admin, attach, json!({ "a": digest })).await;
    assert_eq!(code(&refused), "VALIDATION", "{refused}");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("no uploaded file"), "{refused}");

    let client = reqwest::Client::new();
    let download = |token: String| {
        let (client, url) = (client.clone(), format!("{}{path}", app.address));
        async move { client.get(url).bearer_auth(token).send().await.unwrap() }
    };
    assert_eq!(download(kim_token.clone()).await.status(), 403);
    // The auditor's opens the records: not for an admin.
    assert_eq!(download(acme.admin_token.clone()).await.status(), 403);
    let fetched = download(token.clone()).await;
    assert_eq!(fetched.status(), 200);
    let bytes = fetched.bytes().await.unwrap().to_vec();

    // It verifies offline with the key the auditor holds.
    let key = app.gql(Some(&token), "{ auditKey { publicKey } }", json!({})).await;
    let public_key = key["data"]["auditKey"]["publicKey"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("archive.zip");
    std::fs::write(&file, &bytes).unwrap();
    let verified = api::cli::archive_verify(&file, Some(&public_key)).unwrap();
    assert!(verified.starts_with("verified"), "{verified}");

    // It renders the document and the leave history, and no mail: the
    // mail's words are nowhere in it, its payloads sealed with keys it
    // does not hold.
    let files = unzipped(&bytes);
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest["withheld"], json!(["mailbox"]), "{manifest}");
    // Every event type it holds comes with the JSON Schema of its payload.
    let types: Vec<&String> = manifest["countsByType"].as_object().unwrap().keys().collect();
    let schemas: Vec<&str> =
        manifest["schemas"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(schemas, types.iter().map(|t| format!("schemas/{t}.json")).collect::<Vec<_>>(), "{manifest}");
    let sent: serde_json::Value = serde_json::from_slice(&files["schemas/MailSent.json"]).unwrap();
    assert_eq!(sent["title"], "MailSent", "{sent}");
    let page = files.iter().find(|(name, _)| name.starts_with("renderings/documents/")).map(|(_, page)| page);
    let page = String::from_utf8(page.expect("a document page").clone()).unwrap();
    assert!(page.contains("4분기 계획") && page.contains("APPROVED"), "{page}");
    let leave = String::from_utf8(files["renderings/leave/kim.csv"].clone()).unwrap();
    assert!(leave.starts_with("at,kind,days,before,after,reason,by,document") && leave.contains("ADJUSTED"), "{leave}");
    // Typed text is never a formula to a spreadsheet.
    assert!(leave.contains(",'=1+1 이월,"), "{leave}");
    assert!(files.keys().all(|name| !name.starts_with("renderings/mail/")), "{:?}", files.keys());
    // In no file as text (the events' payloads are base64 in their lines:
    // that they stay sealed, the replay below shows).
    for (name, content) in files.iter().filter(|(name, _)| !name.starts_with("events/")) {
        assert!(!holds(content, "기밀 메일") && !holds(content, "연봉 본문"), "{name} holds the mail");
    }
    let keys: Vec<serde_json::Value> = serde_json::from_slice(&files["keys.json"]).unwrap();
    assert_eq!(keys.len(), 1, "only the company's records' key: {keys:?}");
    assert_eq!(keys[0]["subject"], json!(acme.id), "{keys:?}");

    // Replayed, the archive serves the company's records and no mail: the
    // colleague's copy is sealed with a key it does not hold.
    let replay_dir = tempfile::tempdir().unwrap();
    api::cli::archive_replay(&file, replay_dir.path(), Some(&public_key)).await.unwrap();
    let read_only = api::Settings {
        data_dir: replay_dir.path().to_path_buf(),
        events: api::EventStoreKind::Embedded,
        read_models: api::ReadModelKind::Memory,
        read_only: true,
        clock: api::ClockKind::Manual,
        port: 0,
        password_memory_kib: 1024,
        ..api::Settings::default()
    };
    let replay = TestApp::spawn_with(read_only).await;
    replay.clock(json!({ "now": "2026-10-20T09:00:00+09:00" })).await;
    let lee_there = replay.login("archives.kr", "lee", "user-pass-1").await.unwrap();
    let inbox = replay.gql(Some(&lee_there), "{ mailbox(folder: \"inbox\") { totalCount } }", json!({})).await;
    assert_eq!(inbox["data"]["mailbox"]["totalCount"], 0, "{inbox}");
    let opened = replay
        .gql(Some(&lee_there), "query($id: UUID!) { document(id: $id) { title status } }", json!({ "id": document }))
        .await;
    assert_eq!(opened["data"]["document"]["title"], "4분기 계획", "{opened}");
    replay.stop().await;

    // The admin's: verified, no key, the documents rendered (an admin
    // backs them up whole, rule A10), no leave history.
    let url = format!("{}{admin_path}", app.address);
    let fetched = client.get(url).bearer_auth(&acme.admin_token).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    let admins = fetched.bytes().await.unwrap().to_vec();
    std::fs::write(&file, &admins).unwrap();
    assert!(api::cli::archive_verify(&file, Some(&public_key)).unwrap().starts_with("verified"));
    let files = unzipped(&admins);
    assert_eq!(
        serde_json::from_slice::<Vec<serde_json::Value>>(&files["keys.json"]).unwrap(),
        Vec::<serde_json::Value>::new()
    );
    assert!(files.keys().any(|name| name.starts_with("renderings/documents/")), "{:?}", files.keys());
    assert!(files.keys().all(|name| !name.starts_with("renderings/leave/")), "{:?}", files.keys());

    // 30 days after the request, it is gone.
    app.clock(json!({ "now": "2026-11-14T09:00:00+09:00" })).await;
    let token = app.login("archives.kr", "audit", "user-pass-1").await.unwrap();
    let expired = download(token).await;
    assert_eq!(expired.status(), 409);
}
