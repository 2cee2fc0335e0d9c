//! What survives a restart: every acknowledged write, the memory of
//! command ids, and the read models and the mail index with their
//! checkpoints.

use serde_json::json;
use tests::{TestApp, TestStorage};

#[tokio::test]
async fn a_repeated_command_id_returns_the_first_result_and_appends_nothing_also_after_a_restart() {
    let storage = TestStorage::new().await;
    let app = TestApp::spawn_with(storage.settings()).await;
    let acme = app.sign_up("restart.com").await;
    let create = "mutation($c: UUID!, $u: String!) { createUser(input: { userId: $u, name: \"김\", password: \"user-pass-1\", commandId: $c }) { id userId } }";
    let command_id = uuid::Uuid::now_v7();
    let first = app.gql(Some(&acme.admin_token), create, json!({ "c": command_id, "u": "kim" })).await;
    let head = app.head().await;
    let again = app.gql(Some(&acme.admin_token), create, json!({ "c": command_id, "u": "kim" })).await;
    assert_eq!(again["data"], first["data"]);
    assert_eq!(app.head().await, head);
    app.stop().await;

    let app = TestApp::spawn_with(storage.settings()).await;
    assert_eq!(app.head().await, head);
    // The same token still works: the signing key is kept in the data folder.
    let users = app.gql(Some(&acme.admin_token), "{ users { totalCount } }", json!({})).await;
    assert_eq!(users["data"]["users"]["totalCount"], 2);
    let after = app.gql(Some(&acme.admin_token), create, json!({ "c": command_id, "u": "other" })).await;
    assert_eq!(after["data"], first["data"]);
    assert_eq!(app.head().await, head);
    assert!(app.login("restart.com", "kim", "user-pass-1").await.is_ok());
}

/// Each projector's `groupware_projector_events_applied` figure.
fn applied(metrics: &str) -> Vec<(String, u64)> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("groupware_projector_events_applied{projector=\""))
        .filter_map(|l| l.split_once("\"} "))
        .map(|(projector, n)| (projector.to_owned(), n.trim().parse().unwrap()))
        .collect()
}

#[tokio::test]
async fn read_models_outlive_a_restart_and_the_projectors_apply_only_what_they_missed() {
    let storage = TestStorage::new().await;
    let app = TestApp::spawn_with(storage.settings()).await;
    let acme = app.sign_up("resume.com").await;
    app.create_user(&acme, "kim").await;
    let send = "mutation { sendMail(input: { to: [\"kim@resume.com\"], subject: \"kept\", text: \"hi\" }) { id } }";
    assert!(app.gql(Some(&acme.admin_token), send, json!({})).await["errors"].is_null());
    let sent = app.head().await;
    app.settle().await;
    let head = app.head().await;
    let before = applied(&app.metrics().await);
    assert!(before.len() >= 7 && before.iter().all(|(_, n)| *n == head), "{before:?}");
    app.stop().await;

    // Nothing was missed: no projector applies an event again, and every
    // read model answers as before.
    let app = TestApp::spawn_with(storage.settings()).await;
    let index_from = tests::live_backend(&app).mail_index.position();
    assert!(index_from >= sent, "the mail index starts again at {index_from}, before the mail at {sent}");
    app.settle().await;
    assert_eq!(app.head().await, head);
    let after = applied(&app.metrics().await);
    assert_eq!(after.len(), before.len());
    assert!(after.iter().all(|(_, n)| *n == 0), "{after:?}");
    let users = app.gql(Some(&acme.admin_token), "{ users { totalCount } }", json!({})).await;
    assert_eq!(users["data"]["users"]["totalCount"], 2, "{users}");
    let kim = app.login("resume.com", "kim", "user-pass-1").await.unwrap();
    let inbox = app.gql(Some(&kim), "{ mailbox(folder: \"inbox\") { edges { node { subject } } } }", json!({})).await;
    assert_eq!(inbox["data"]["mailbox"]["edges"][0]["node"]["subject"], "kept", "{inbox}");
    let search = app.gql(Some(&kim), "{ searchMail(query: \"kept\") { edges { node { subject } } } }", json!({})).await;
    assert_eq!(search["data"]["searchMail"]["edges"][0]["node"]["subject"], "kept", "{search}");

    // What comes after is applied once, by every projector.
    app.create_user(&acme, "lee").await;
    app.settle().await;
    let new = app.head().await - head;
    let after = applied(&app.metrics().await);
    assert!(new > 0 && after.iter().all(|(_, n)| *n == new), "{new}: {after:?}");
}

// rule E5: the process managers resume where they stopped, and with them
// what they remember of the log before (who forwards), so mail that
// reaches a forwarder after a restart is forwarded.
#[tokio::test]
async fn rule_e5_forwarding_set_before_a_restart_still_forwards_after_it() {
    let storage = TestStorage::new().await;
    let app = TestApp::spawn_with(storage.settings()).await;
    let acme = app.sign_up("forwards.com").await;
    let (_, kim) = app.create_user(&acme, "kim").await;
    let (_, lee) = app.create_user(&acme, "lee").await;
    let (_, park) = app.create_user(&acme, "park").await;
    let forward = "mutation { setMailForwarding(addresses: [\"park@forwards.com\"]) { addresses } }";
    assert!(app.gql(Some(&lee), forward, json!({})).await["errors"].is_null());
    app.settle().await;
    // The processes' place is written down a moment after they move.
    let (head, backend) = (app.head().await, tests::live_backend(&app));
    let deadline = std::time::Instant::now() + tests::SETTLE_DEADLINE;
    while backend.read_models().checkpoint("worker processes").await.unwrap() < head {
        assert!(std::time::Instant::now() < deadline, "the processes' place never reached {head}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // This process's server goes with its last handle (and its claims on
    // a shared database with it).
    drop(backend);
    app.stop().await;

    let app = TestApp::spawn_with(storage.settings()).await;
    let send =
        "mutation { sendMail(input: { to: [\"lee@forwards.com\"], subject: \"pass it on\", text: \"hi\" }) { id } }";
    assert!(app.gql(Some(&kim), send, json!({})).await["errors"].is_null());
    app.settle().await;
    let inbox = "{ mailbox(folder: \"inbox\") { totalCount edges { node { subject } } } }";
    let parks = app.gql(Some(&park), inbox, json!({})).await;
    assert_eq!(parks["data"]["mailbox"]["totalCount"], 1, "{parks}");
    assert_eq!(parks["data"]["mailbox"]["edges"][0]["node"]["subject"], "pass it on");
}

// rule E4: copies queued while no relay was configured are sent once a
// restart brings one, and a later restart sends none of them again: the
// outbox starts from the copies its read model holds as waiting.
#[tokio::test]
async fn rule_e4_copies_queued_before_a_restart_are_sent_after_it_once() {
    let storage = TestStorage::new().await;
    let app = TestApp::spawn_with(storage.settings()).await;
    let acme = app.sign_up("queued.com").await;
    let send = "mutation { sendMail(input: { to: [\"friend@partner.org\", \"other@partner.org\"], subject: \"later\", text: \"hi\" }) { id } }";
    let sent = app.gql(Some(&acme.admin_token), send, json!({})).await;
    let id = sent["data"]["sendMail"]["id"].as_str().unwrap_or_else(|| panic!("{sent}")).to_owned();
    app.settle().await;
    app.stop().await;

    let relay = tests::smtp::SmtpServer::start();
    let mut settings = storage.settings();
    settings.smtp_relay = Some(relay.url.clone());
    let app = TestApp::spawn_with(settings.clone()).await;
    app.settle().await;
    assert_eq!(relay.received().len(), 2);
    let tracking = app
        .gql(Some(&acme.admin_token), "query($id: UUID!) { mail(id: $id) { tracking { state } } }", json!({ "id": id }))
        .await;
    let states = tracking["data"]["mail"]["tracking"].as_array().unwrap_or_else(|| panic!("{tracking}")).clone();
    assert!(states.iter().all(|s| s["state"] == "SENT"), "{tracking}");
    app.stop().await;

    let app = TestApp::spawn_with(settings).await;
    app.settle().await;
    assert_eq!(relay.received().len(), 2, "a copy reported before the restart went again");
}
