//! `kill -9` of a server under load and of a rebuild, on the embedded
//! default: no read-model checkpoint is ahead of what the log committed,
//! and after a restart the read models equal a full rebuild of the log,
//! and the mail index finds what they hold.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{login, ready, sign_up, start};
use domain::mail::Folder;
use projections::{MemoryReadModels, ReadModelStore, SqliteReadModels};
use serde_json::json;
use uuid::Uuid;

/// Every projector's checkpoint in the data directory's read models is at
/// or below the head of its log; then a restart on it catches up, and
/// what it holds equals the whole log replayed into fresh read models.
async fn restart_equals_a_full_rebuild(data_dir: &Path) {
    let head = {
        let events = store::sqlite::SqliteEventStore::open(data_dir.join("events.db"), store::system_now()).unwrap();
        *store::EventStore::head(&events).borrow()
    };
    {
        let models = SqliteReadModels::open(data_dir.join("read_models.db")).unwrap();
        for projector in api::projectors() {
            let checkpoint = models.checkpoint(projector.name()).await.unwrap();
            assert!(checkpoint <= head, "{} at {checkpoint}, past the log's head {head}", projector.name());
        }
    }
    // Read-only: the restart applies what the read models missed and
    // writes nothing to the log, so both sides read the same log.
    let settings = api::Settings { data_dir: data_dir.to_path_buf(), port: 0, read_only: true, ..Default::default() };
    let app = api::Application::build(settings).await.expect("restarts");
    let backend = app.backend().clone();
    assert_eq!(*backend.store.head().borrow(), head);
    assert!(backend.projections.wait_for(head, Duration::from_secs(60)).await, "the restart never caught up");
    let kept = projections::dump(backend.read_models(), &api::projectors()).await.unwrap();
    let fresh = MemoryReadModels::default();
    projections::rebuild(backend.store.as_ref(), &fresh, &api::projectors()).await.unwrap();
    let rebuilt = projections::dump(&fresh, &api::projectors()).await.unwrap();
    assert_eq!(kept, rebuilt);
    assert!(kept.iter().any(|(table, rows)| *table == "users" && rows.len() > 1), "{kept:?}");
    index_matches_the_mailboxes(&backend, head, &kept).await;
}

/// Every mail of `user`'s that `search` finds, page by page.
fn found(backend: &api::Backend, tenant: Uuid, user: Uuid, search: &search::MailSearch) -> BTreeSet<Uuid> {
    let mut found = BTreeSet::new();
    loop {
        let page = backend.mail_index.search(tenant, user, search, found.len(), search::MAX_LIMIT).unwrap();
        found.extend(page.mails.iter().copied());
        if page.mails.is_empty() || found.len() >= page.total {
            return found;
        }
    }
}

/// The mail index holds one document per mail that the read models hold,
/// and finds each mailbox's mails, folder by folder, as the read models
/// list them.
async fn index_matches_the_mailboxes(backend: &api::Backend, head: u64, kept: &[(&str, Vec<projections::Row>)]) {
    assert!(backend.mail_index.wait_for(head, Duration::from_secs(60)).await, "the mail index never caught up");
    let rows = |name: &str| &kept.iter().find(|(table, _)| *table == name).unwrap().1;
    let mut folders: BTreeMap<(Uuid, Uuid, Folder), BTreeSet<Uuid>> = BTreeMap::new();
    for (key, entry) in rows("mail_entries") {
        let ids: Vec<Uuid> = key.split('/').map(|id| id.parse().unwrap()).collect();
        let folder: Folder = entry["folder"].as_str().unwrap().parse().unwrap();
        folders.entry((ids[0], ids[1], folder)).or_default().insert(ids[2]);
    }
    assert!(!folders.is_empty(), "the load sent mail");
    assert_eq!(backend.mail_index.documents().unwrap(), rows("mails").len());
    let mut mailboxes: BTreeMap<(Uuid, Uuid), BTreeSet<Uuid>> = BTreeMap::new();
    for (&(tenant, user, folder), mails) in &folders {
        let search = search::MailSearch { folder: Some(folder), ..Default::default() };
        assert_eq!(&found(backend, tenant, user, &search), mails, "{user}'s {folder}");
        mailboxes.entry((tenant, user)).or_default().extend(mails);
    }
    for ((tenant, user), mails) in mailboxes {
        assert_eq!(found(backend, tenant, user, &search::MailSearch::default()), mails, "{user}'s mailbox");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_models_equal_a_full_rebuild_after_a_kill_under_load_and_during_a_rebuild() {
    let data_dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut server = start(data_dir.path(), &[]);
    ready(&client, &server).await;
    sign_up(&client, &server, "crash.co.kr").await;
    let admin = login(&client, &server, "crash.co.kr", "admin", "s3cret-pass").await;

    // Four writers create users and send them mail until the server dies
    // under them.
    let answered = Arc::new(AtomicUsize::new(0));
    let url = Arc::new(server.url.clone());
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (client, admin, answered, url) = (client.clone(), admin.clone(), answered.clone(), url.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let user = format!("w{writer}u{i}");
                    let create = json!({
                        "query": "mutation($u: String!) { createUser(input: { userId: $u, name: \"사용자\", password: \"user-pass-1\" }) { id } }",
                        "variables": { "u": user },
                    });
                    let send = json!({
                        "query": "mutation($to: [String!]!) { sendMail(input: { to: $to, subject: \"안녕\", text: \"본문\" }) { id } }",
                        "variables": { "to": [format!("{user}@crash.co.kr")] },
                    });
                    for body in [create, send] {
                        let sent = client.post(format!("{url}/graphql")).bearer_auth(&admin).json(&body).send().await;
                        if sent.is_err() {
                            return;
                        }
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    while answered.load(Ordering::SeqCst) < 60 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill();
    for writer in writers {
        writer.await.unwrap();
    }
    restart_equals_a_full_rebuild(data_dir.path()).await;

    // A rebuild killed wherever it is leaves the serving file whole; one
    // that runs to the end replaces it.
    let rebuild = || {
        Command::new(env!("CARGO_BIN_EXE_groupware"))
            .args(["rebuild", "--data-dir"])
            .arg(data_dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("rebuild starts")
    };
    for moment in [0, 10, 30, 60, 100, 200] {
        let mut killed = rebuild();
        tokio::time::sleep(Duration::from_millis(moment)).await;
        let _ = killed.kill();
        let _ = killed.wait();
        restart_equals_a_full_rebuild(data_dir.path()).await;
    }
    let finished = rebuild().wait_with_output().unwrap();
    assert!(finished.status.success());
    assert!(String::from_utf8_lossy(&finished.stdout).contains("rebuilt read models from"));
    assert!(!data_dir.path().join("read_models.db.rebuilding").exists());
    restart_equals_a_full_rebuild(data_dir.path()).await;
}
