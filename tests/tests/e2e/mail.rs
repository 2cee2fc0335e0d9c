//! Webmail end to end, over HTTP as a front end speaks: sending, the
//! recipient's inbox, read tracking, recall, scheduled send across a
//! restart, quotas, forwarding, folders, domains, attachments, the SMTP
//! relay and inbound mail.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tests::smtp::SmtpServer;
use tests::{Tenant, TestApp, TestStorage, code, rule};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SEND: &str = "mutation($input: ComposeInput!, $at: DateTime, $draft: UUID) {
    sendMail(input: $input, sendAt: $at, draftId: $draft) { id kind folder from to cc bcc subject scheduledFor } }";

const MAILBOX: &str = "query($folder: String!) { mailbox(folder: $folder) { totalCount edges { node {
    id kind folder from subject snippet at read flagged hasAttachments } } } }";

const MAIL: &str = "query($id: UUID!) { mail(id: $id) { id kind folder from to cc bcc subject text html read
    attachments { id name contentType size }
    tracking { address kind state readAt recalledAt reply } } }";

/// A company on a fixed morning with three users.
struct Office {
    app: TestApp,
    acme: Tenant,
    kim: String,
    lee: (String, String),
    park: (String, String),
}

async fn office(app: TestApp, domain: &str) -> Office {
    app.clock(json!({ "now": "2026-11-26T09:00:00+09:00" })).await;
    let acme = app.sign_up(domain).await;
    let (_, kim) = app.create_user(&acme, "kim").await;
    let lee = app.create_user(&acme, "lee").await;
    let park = app.create_user(&acme, "park").await;
    Office { app, acme, kim, lee, park }
}

async fn send(app: &TestApp, token: &str, input: Value) -> Value {
    app.gql(Some(token), SEND, json!({ "input": input })).await
}

/// Sends and returns the new mail's id.
async fn sent(app: &TestApp, token: &str, input: Value) -> String {
    let r = send(app, token, input).await;
    r["data"]["sendMail"]["id"].as_str().unwrap_or_else(|| panic!("sendMail failed: {r}")).to_owned()
}

async fn folder(app: &TestApp, token: &str, folder: &str) -> Value {
    let r = app.gql(Some(token), MAILBOX, json!({ "folder": folder })).await;
    assert!(r["errors"].is_null(), "{r}");
    r["data"]["mailbox"].clone()
}

fn ids(page: &Value) -> Vec<String> {
    page["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()).collect()
}

async fn mail(app: &TestApp, token: &str, id: &str) -> Value {
    app.gql(Some(token), MAIL, json!({ "id": id })).await
}

fn externals(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("friend{i}@partner.org")).collect()
}

// rules E3, E4, E8: send → the recipients' inboxes → read → the sender's
// tracking → recall → gone.
#[tokio::test]
async fn rule_e4_a_mail_is_delivered_read_tracked_and_recalled() {
    let Office { app, acme: _, kim, lee, park } = office(TestApp::spawn().await, "acme.kr").await;
    let id = sent(
        &app,
        &kim,
        json!({ "to": ["lee@acme.kr", "friend@partner.org"], "cc": ["park@acme.kr"], "bcc": ["admin@acme.kr"],
                "subject": "Weekly meeting", "text": "Room 3, at ten.\n\nBring the figures.", "html": "<p>Room 3, at ten.</p>" }),
    )
    .await;

    let inbox = folder(&app, &lee.1, "inbox").await;
    tests::snapshot_settings().bind(|| {
        insta::assert_json_snapshot!("mail_recipient_inbox", inbox, { ".edges[].node.id" => "[mail id]" });
    });
    // Bcc is the sender's alone.
    let seen_by_lee = mail(&app, &lee.1, &id).await;
    assert_eq!(seen_by_lee["data"]["mail"]["bcc"], json!([]));
    assert_eq!(seen_by_lee["data"]["mail"]["tracking"], Value::Null);
    assert_eq!(mail(&app, &kim, &id).await["data"]["mail"]["bcc"], json!(["admin@acme.kr"]));

    app.clock(json!({ "advance": "PT30M" })).await;
    let read =
        app.gql(Some(&lee.1), "mutation($id: UUID!) { markMailRead(id: $id) { read } }", json!({ "id": id })).await;
    assert_eq!(read["data"]["markMailRead"]["read"], true);
    let folders = app.gql(Some(&lee.1), "{ mailFolders { id total unread } }", json!({})).await;
    assert_eq!(folders["data"]["mailFolders"][0], json!({ "id": "inbox", "total": 1, "unread": 0 }));

    let tracking = mail(&app, &kim, &id).await["data"]["mail"]["tracking"].clone();
    tests::snapshot_settings().bind(|| insta::assert_json_snapshot!("mail_sender_tracking", tracking));
    // The sent box lists the same tracking; marking unread does not undo a read.
    let sent_box = app
        .gql(Some(&kim), "{ mailbox(folder: \"sent\") { edges { node { id tracking { state } } } } }", json!({}))
        .await;
    assert_eq!(sent_box["data"]["mailbox"]["edges"][0]["node"]["tracking"][0]["state"], "READ", "{sent_box}");
    let unread = app
        .gql(Some(&lee.1), "mutation($id: UUID!) { markMailRead(id: $id, read: false) { read } }", json!({ "id": id }))
        .await;
    assert_eq!(unread["data"]["markMailRead"]["read"], false);
    assert_eq!(mail(&app, &kim, &id).await["data"]["mail"]["tracking"][0]["state"], "READ");

    // rule E3: 23:59:59 after sending it can still be recalled. (Sessions
    // last 12 hours: log in again.)
    app.clock(json!({ "now": "2026-11-27T08:59:59+09:00" })).await;
    let kim = app.login("acme.kr", "kim", "user-pass-1").await.unwrap();
    let lee = (lee.0, app.login("acme.kr", "lee", "user-pass-1").await.unwrap());
    let park = (park.0, app.login("acme.kr", "park", "user-pass-1").await.unwrap());
    let recall = app
        .gql(
            Some(&kim),
            "mutation($id: UUID!) { recallMail(id: $id) { recalled alreadyRecalled notRecallable } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        recall["data"]["recallMail"],
        json!({ "recalled": ["lee@acme.kr", "park@acme.kr", "admin@acme.kr"], "alreadyRecalled": [], "notRecallable": ["friend@partner.org"] })
    );
    assert_eq!(folder(&app, &lee.1, "inbox").await["totalCount"], 0);
    assert_eq!(folder(&app, &park.1, "inbox").await["totalCount"], 0);
    assert_eq!(code(&mail(&app, &lee.1, &id).await), "NOT_FOUND");
    let states: Vec<Value> = mail(&app, &kim, &id).await["data"]["mail"]["tracking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!([r["address"], r["state"]]))
        .collect();
    assert_eq!(
        states,
        [
            json!(["lee@acme.kr", "RECALLED"]),
            json!(["friend@partner.org", "QUEUED"]),
            json!(["park@acme.kr", "RECALLED"]),
            json!(["admin@acme.kr", "RECALLED"])
        ]
    );
}

// rule E3: 24:00:01 after sending it is too late; per-recipient recall.
#[tokio::test]
async fn rule_e3_recall_is_refused_after_24_hours_and_works_per_recipient() {
    let Office { app, acme: _, kim, lee, park } = office(TestApp::spawn().await, "recall.kr").await;
    let late = sent(&app, &kim, json!({ "to": ["lee@recall.kr"], "subject": "late" })).await;
    let early = sent(&app, &kim, json!({ "to": ["lee@recall.kr", "park@recall.kr"], "subject": "early" })).await;
    let recall = "mutation($id: UUID!, $r: [String!]) { recallMail(id: $id, recipients: $r) { recalled alreadyRecalled notRecallable } }";
    let one = app.gql(Some(&kim), recall, json!({ "id": early, "r": ["park@recall.kr"] })).await;
    assert_eq!(one["data"]["recallMail"]["recalled"], json!(["park@recall.kr"]));
    assert_eq!(ids(&folder(&app, &lee.1, "inbox").await).len(), 2);
    assert_eq!(folder(&app, &park.1, "inbox").await["totalCount"], 0);
    let again = app.gql(Some(&kim), recall, json!({ "id": early, "r": ["park@recall.kr"] })).await;
    assert_eq!(again["data"]["recallMail"]["alreadyRecalled"], json!(["park@recall.kr"]));
    // Someone else's mail is not the caller's to recall.
    assert_eq!(code(&app.gql(Some(&lee.1), recall, json!({ "id": early })).await), "NOT_FOUND");

    app.clock(json!({ "now": "2026-11-27T09:00:01+09:00" })).await;
    let kim = app.login("recall.kr", "kim", "user-pass-1").await.unwrap();
    let lee = (lee.0, app.login("recall.kr", "lee", "user-pass-1").await.unwrap());
    let head = app.head().await;
    let too_late = app.gql(Some(&kim), recall, json!({ "id": late })).await;
    assert_eq!(code(&too_late), "CONFLICT");
    assert_eq!(rule(&too_late), "E3");
    assert_eq!(app.head().await, head);
    assert_eq!(ids(&folder(&app, &lee.1, "inbox").await).len(), 2);
}

// rule E1: 100 recipients pass, 101 do not; 500 deliveries a day pass, the
// 501st does not, the notice's reset link restores them, midnight resets.
#[tokio::test]
async fn rule_e1_recipient_and_daily_limits_with_the_reset_link() {
    let app = TestApp::spawn().await;
    app.clock(json!({ "now": "2026-11-26T09:00:00+09:00" })).await;
    let acme = app.sign_up("quota.kr").await;
    let token = acme.admin_token.clone();
    let head = app.head().await;
    let over = send(&app, &token, json!({ "to": externals(101), "subject": "too many" })).await;
    assert_eq!((code(&over), rule(&over)), ("LIMIT_EXCEEDED".into(), "E1".into()));
    assert_eq!(app.head().await, head);
    for _ in 0..5 {
        sent(&app, &token, json!({ "to": externals(100), "subject": "hundred" })).await;
    }
    // The 501st, with the client's own command id.
    let send_with_id = "mutation($input: ComposeInput!, $c: UUID!) { sendMail(input: $input, commandId: $c) { id } }";
    let command_id = "0195f0c2-0000-7000-8000-000000000501";
    let input = json!({ "to": ["one@partner.org"], "subject": "501st" });
    let refused = app.gql(Some(&token), send_with_id, json!({ "input": input, "c": command_id })).await;
    assert_eq!((code(&refused), rule(&refused)), ("LIMIT_EXCEEDED".into(), "E1".into()));
    let notice = folder(&app, &token, "inbox").await;
    assert_eq!(notice["totalCount"], 1);
    assert_eq!(notice["edges"][0]["node"]["kind"], "notice");
    let notice_id = ids(&notice)[0].clone();
    let text = mail(&app, &token, &notice_id).await["data"]["mail"]["text"].as_str().unwrap().to_owned();
    let reset_token = text.split("token=").nth(1).unwrap()[..36].to_owned();
    // A second refusal the same day sends no second notice.
    assert_eq!(code(&send(&app, &token, json!({ "to": ["one@partner.org"] })).await), "LIMIT_EXCEEDED");
    assert_eq!(folder(&app, &token, "inbox").await["totalCount"], 1);

    let reset = "mutation($t: UUID!) { resetSendQuota(token: $t) }";
    assert_eq!(app.gql(Some(&token), reset, json!({ "t": reset_token })).await["data"]["resetSendQuota"], true);
    // The refused send left no trace: its command id now sends.
    let again = app.gql(Some(&token), send_with_id, json!({ "input": input, "c": command_id })).await;
    assert!(again["data"]["sendMail"]["id"].is_string(), "{again}");
    sent(&app, &token, json!({ "to": externals(99), "subject": "after the reset" })).await;
    assert_eq!(code(&app.gql(Some(&token), reset, json!({ "t": reset_token })).await), "VALIDATION");
    for _ in 0..4 {
        sent(&app, &token, json!({ "to": externals(100) })).await;
    }
    app.clock(json!({ "now": "2026-11-26T23:59:59+09:00" })).await;
    let token = app.login("quota.kr", "admin", "s3cret-pass").await.unwrap();
    assert_eq!(code(&send(&app, &token, json!({ "to": ["one@partner.org"] })).await), "LIMIT_EXCEEDED");
    app.clock(json!({ "now": "2026-11-27T00:00:00+09:00" })).await;
    sent(&app, &token, json!({ "to": ["one@partner.org"], "subject": "a new day" })).await;
}

const CANCEL: &str = "mutation($id: UUID!) { cancelScheduledMail(id: $id) { id kind folder } }";

// rule E2: delivered at its time, also after a restart; cancelled only
// before it.
#[tokio::test]
async fn rule_e2_a_scheduled_mail_is_delivered_after_a_restart_and_cancelled_only_before_its_time() {
    let storage = TestStorage::new().await;
    let Office { app, acme: _, kim, lee, park: _ } =
        office(TestApp::spawn_with(storage.settings()).await, "later.kr").await;
    let past = app
        .gql(Some(&kim), SEND, json!({ "input": { "to": ["lee@later.kr"] }, "at": "2026-11-26T08:59:59+09:00" }))
        .await;
    assert_eq!(code(&past), "VALIDATION");
    let scheduled = app
        .gql(Some(&kim), SEND, json!({ "input": { "to": ["lee@later.kr"], "subject": "tomorrow's agenda" }, "at": "2026-11-26T18:00:00+09:00" }))
        .await;
    assert_eq!(scheduled["data"]["sendMail"]["folder"], "scheduled", "{scheduled}");
    let id = scheduled["data"]["sendMail"]["id"].as_str().unwrap().to_owned();
    let to_cancel = app
        .gql(
            Some(&kim),
            SEND,
            json!({ "input": { "to": ["lee@later.kr"], "subject": "never mind" }, "at": "2026-11-26T17:00:00+09:00" }),
        )
        .await["data"]["sendMail"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = app.gql(Some(&kim), CANCEL, json!({ "id": to_cancel })).await;
    assert_eq!(cancelled["data"]["cancelScheduledMail"]["folder"], "drafts");
    assert_eq!(folder(&app, &lee.1, "inbox").await["totalCount"], 0);
    app.stop().await;

    // The settable clock starts where the test needs it, before the
    // scheduler looks at its timers.
    let mut settings = storage.settings();
    settings.clock_start = Some("2026-11-26T17:00:00+09:00".parse().unwrap());
    let app = TestApp::spawn_with(settings).await;
    app.clock(json!({ "now": "2026-11-26T17:59:59+09:00" })).await;
    assert_eq!(folder(&app, &lee.1, "inbox").await["totalCount"], 0);
    app.clock(json!({ "now": "2026-11-26T18:00:00+09:00" })).await;
    app.settle().await;
    let delivered = folder(&app, &lee.1, "inbox").await;
    assert_eq!(ids(&delivered), std::slice::from_ref(&id));
    assert_eq!(folder(&app, &kim, "sent").await["edges"][0]["node"]["id"], id.as_str());
    assert_eq!(folder(&app, &kim, "scheduled").await["totalCount"], 0);
    let late = app.gql(Some(&kim), CANCEL, json!({ "id": id })).await;
    assert_eq!(code(&late), "CONFLICT");
    assert_eq!(rule(&late), "E2");
}

const FORWARD: &str = "mutation($a: [String!]!) { setMailForwarding(addresses: $a) { addresses keepCopy adminOnly } }";

// rule E5: at most 20 addresses; a loop between two users ends; admin-only
// forwarding locks the user out.
#[tokio::test]
async fn rule_e5_forwarding_limits_loops_and_admin_lock() {
    let Office { app, acme, kim, lee, park } = office(TestApp::spawn().await, "fwd.kr").await;
    let twenty_one: Vec<String> = externals(21);
    assert_eq!(code(&app.gql(Some(&lee.1), FORWARD, json!({ "a": twenty_one })).await), "LIMIT_EXCEEDED");
    let mut twenty = twenty_one[..19].to_vec();
    twenty.push("park@fwd.kr".to_owned());
    let twenty = app.gql(Some(&lee.1), FORWARD, json!({ "a": twenty })).await;
    assert_eq!(twenty["data"]["setMailForwarding"]["addresses"].as_array().unwrap().len(), 20);
    // Park forwards back to lee: a loop.
    app.gql(Some(&park.1), FORWARD, json!({ "a": ["lee@fwd.kr"] })).await;

    let id = sent(&app, &kim, json!({ "to": ["lee@fwd.kr"], "subject": "round and round" })).await;
    app.settle().await;
    let lee_inbox = folder(&app, &lee.1, "inbox").await;
    // The original, and park's forward of lee's forward; then it stops.
    assert_eq!(lee_inbox["totalCount"], 2, "{lee_inbox}");
    assert!(ids(&lee_inbox).contains(&id));
    let park_inbox = folder(&app, &park.1, "inbox").await;
    assert_eq!(park_inbox["totalCount"], 1);
    assert_eq!(park_inbox["edges"][0]["node"]["subject"], "round and round");
    let lee_sent = folder(&app, &lee.1, "sent").await;
    assert_eq!(lee_sent["totalCount"], 1, "lee forwarded once: {lee_sent}");

    let admin_set = "mutation($u: UUID!) { setUserMailForwarding(userId: $u, addresses: [\"archive@partner.org\"], adminOnly: true) { addresses adminOnly } }";
    let set = app.gql(Some(&acme.admin_token), admin_set, json!({ "u": lee.0 })).await;
    assert_eq!(set["data"]["setUserMailForwarding"]["adminOnly"], true);
    assert_eq!(code(&app.gql(Some(&lee.1), FORWARD, json!({ "a": [] })).await), "FORBIDDEN");
    assert_eq!(code(&app.gql(Some(&kim), admin_set, json!({ "u": lee.0 })).await), "FORBIDDEN");
    let own = app.gql(Some(&lee.1), "{ mailForwarding { addresses adminOnly } }", json!({})).await;
    assert_eq!(own["data"]["mailForwarding"], json!({ "addresses": ["archive@partner.org"], "adminOnly": true }));
}

// rule E8: user folders, moves, flags, trash.
#[tokio::test]
async fn rule_e8_folders_moves_and_trash() {
    let Office { app, acme: _, kim, lee, park } = office(TestApp::spawn().await, "folders.kr").await;
    let id = sent(&app, &kim, json!({ "to": ["lee@folders.kr"], "subject": "keep this" })).await;
    let other = sent(&app, &kim, json!({ "to": ["lee@folders.kr"], "subject": "throw this away" })).await;
    let create =
        app.gql(Some(&lee.1), "mutation { createMailFolder(name: \"Projects\") { id name total } }", json!({})).await;
    let projects = create["data"]["createMailFolder"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        code(&app.gql(Some(&lee.1), "mutation { createMailFolder(name: \"projects\") { id } }", json!({})).await),
        "CONFLICT"
    );
    let moved = app
        .gql(
            Some(&lee.1),
            "mutation($ids: [UUID!]!, $f: String!) { moveMail(ids: $ids, folder: $f) { folder } }",
            json!({ "ids": [id], "f": projects }),
        )
        .await;
    assert_eq!(moved["data"]["moveMail"][0]["folder"], projects.as_str());
    let flagged = app
        .gql(Some(&lee.1), "mutation($id: UUID!) { flagMail(id: $id, flagged: true) { flagged } }", json!({ "id": id }))
        .await;
    assert_eq!(flagged["data"]["flagMail"]["flagged"], true);
    let delete_folder = "mutation($id: UUID!) { deleteMailFolder(id: $id) }";
    assert_eq!(code(&app.gql(Some(&lee.1), delete_folder, json!({ "id": projects })).await), "CONFLICT");
    // Another user's folder is not a place for one's mail.
    let into_other = app
        .gql(
            Some(&park.1),
            "mutation($ids: [UUID!]!, $f: String!) { moveMail(ids: $ids, folder: $f) { folder } }",
            json!({ "ids": [id], "f": projects }),
        )
        .await;
    assert_eq!(code(&into_other), "NOT_FOUND");
    let folders = app.gql(Some(&lee.1), "{ mailFolders { id name total unread } }", json!({})).await;
    tests::snapshot_settings().bind(|| {
        insta::assert_json_snapshot!("mail_folders", folders, { ".data.mailFolders[5].id" => "[folder id]" });
    });

    let deleted =
        app.gql(Some(&lee.1), "mutation($ids: [UUID!]!) { deleteMail(ids: $ids) }", json!({ "ids": [other] })).await;
    assert_eq!(deleted["data"]["deleteMail"], 1);
    assert_eq!(ids(&folder(&app, &lee.1, "trash").await), std::slice::from_ref(&other));
    assert_eq!(
        code(
            &app.gql(Some(&lee.1), "mutation($ids: [UUID!]!) { deleteMailForever(ids: $ids) }", json!({ "ids": [id] }))
                .await
        ),
        "VALIDATION"
    );
    assert_eq!(app.gql(Some(&lee.1), "mutation { emptyTrash }", json!({})).await["data"]["emptyTrash"], 1);
    assert_eq!(folder(&app, &lee.1, "trash").await["totalCount"], 0);
    assert_eq!(code(&mail(&app, &lee.1, &other).await), "NOT_FOUND");
    // The sender's copy is untouched.
    assert_eq!(mail(&app, &kim, &other).await["data"]["mail"]["folder"], "sent");

    app.gql(
        Some(&lee.1),
        "mutation($ids: [UUID!]!) { moveMail(ids: $ids, folder: \"inbox\") { folder } }",
        json!({ "ids": [id] }),
    )
    .await;
    let renamed = app
        .gql(
            Some(&lee.1),
            "mutation($id: UUID!) { renameMailFolder(id: $id, name: \"Archive\") { name } }",
            json!({ "id": projects }),
        )
        .await;
    assert_eq!(renamed["data"]["renameMailFolder"]["name"], "Archive");
    assert_eq!(app.gql(Some(&lee.1), delete_folder, json!({ "id": projects })).await["data"]["deleteMailFolder"], true);
}

// Drafts are saved, edited, sent and deleted; search finds by sender,
// subject and body words.
#[tokio::test]
async fn rule_e8_drafts_and_search() {
    let Office { app, acme: _, kim, lee, park: _ } = office(TestApp::spawn().await, "drafts.kr").await;
    let save =
        "mutation($input: ComposeInput!, $id: UUID) { saveDraft(input: $input, id: $id) { id folder subject to } }";
    let draft =
        app.gql(Some(&kim), save, json!({ "input": { "to": ["lee@drafts.kr"], "subject": "first try" } })).await;
    let draft_id = draft["data"]["saveDraft"]["id"].as_str().unwrap().to_owned();
    let edited = app.gql(Some(&kim), save, json!({ "id": draft_id, "input": { "to": ["lee@drafts.kr"], "subject": "Budget 2027", "text": "the quarterly budget" } })).await;
    assert_eq!(edited["data"]["saveDraft"]["subject"], "Budget 2027");
    assert_eq!(folder(&app, &kim, "drafts").await["totalCount"], 1);
    let from_draft = app
        .gql(Some(&kim), SEND, json!({ "draft": draft_id, "input": { "to": ["lee@drafts.kr"], "subject": "Budget 2027", "text": "the quarterly budget" } }))
        .await;
    assert_eq!(from_draft["data"]["sendMail"]["folder"], "sent", "{from_draft}");
    assert_eq!(folder(&app, &kim, "drafts").await["totalCount"], 0);
    let other = app.gql(Some(&kim), save, json!({ "input": { "subject": "scratch" } })).await;
    let other_id = other["data"]["saveDraft"]["id"].as_str().unwrap().to_owned();
    // A draft does not move between folders, not even to the trash.
    let to_trash = "mutation($ids: [UUID!]!) { deleteMail(ids: $ids) }";
    assert_eq!(code(&app.gql(Some(&kim), to_trash, json!({ "ids": [other_id] })).await), "VALIDATION");
    assert_eq!(folder(&app, &kim, "drafts").await["totalCount"], 1);
    assert_eq!(
        app.gql(Some(&kim), "mutation($id: UUID!) { deleteDraft(id: $id) }", json!({ "id": other_id })).await["data"]["deleteDraft"],
        true
    );

    sent(&app, &kim, json!({ "to": ["lee@drafts.kr"], "subject": "Lunch", "text": "noodles at noon" })).await;
    let search = "query($q: String!) { searchMail(query: $q) { totalCount edges { node { subject } } } }";
    let found = app.gql(Some(&lee.1), search, json!({ "q": "QUARTERLY budget" })).await;
    assert_eq!(found["data"]["searchMail"]["edges"][0]["node"]["subject"], "Budget 2027");
    assert_eq!(found["data"]["searchMail"]["totalCount"], 1);
    let by_sender = app.gql(Some(&lee.1), search, json!({ "q": "kim@drafts.kr" })).await;
    assert_eq!(by_sender["data"]["searchMail"]["totalCount"], 2);
    // Only one's own mailbox is searched.
    let nothing = app.gql(Some(&kim), search, json!({ "q": "noodles" })).await;
    assert_eq!(nothing["data"]["searchMail"]["totalCount"], 1, "the sender's own sent copy");
    assert_eq!(code(&app.gql(Some(&lee.1), search, json!({ "q": "  " })).await), "VALIDATION");
}

const SEARCH: &str = "query($q: String, $sender: String, $recipient: String, $subject: String, $body: String,
    $since: DateTime, $until: DateTime, $folder: String, $first: Int, $after: String) {
    searchMail(query: $q, sender: $sender, recipient: $recipient, subject: $subject, body: $body,
        since: $since, until: $until, folder: $folder, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id folder } } } }";

/// The ids a search finds, newest first, checking that the whole count
/// matches when everything fits the first page.
async fn found(app: &TestApp, token: &str, search: Value) -> Vec<String> {
    let r = app.gql(Some(token), SEARCH, search.clone()).await;
    assert!(r["errors"].is_null(), "{r}");
    let page = &r["data"]["searchMail"];
    let found = ids(page);
    if search.get("after").is_none() && page["pageInfo"]["hasNextPage"] == false {
        assert_eq!(page["totalCount"], found.len(), "{search}: {r}");
    }
    found
}

// rule E8: mail search with an index: Korean words inside longer words and
// before particles, each part in its own field, dates and folders, pages,
// and a mail that leaves a mailbox (to the trash, recalled, deleted
// forever) leaves its search.
#[tokio::test]
async fn rule_e8_search_finds_korean_words_by_part_date_and_folder() {
    let Office { app, acme: _, kim, lee, park } = office(TestApp::spawn().await, "search.kr").await;
    let budget = sent(
        &app,
        &kim,
        json!({ "to": ["lee@search.kr"], "cc": ["park@search.kr"], "subject": "3분기 예산 회의록",
                "text": "회의록을 첨부합니다. Quarterly meeting notes" }),
    )
    .await;
    app.clock(json!({ "now": "2026-11-26T09:30:00+09:00" })).await;
    let report = sent(
        &app,
        &park.1,
        json!({ "to": ["lee@search.kr"], "subject": "Q3보고서 초안", "text": "김 과장님 검토 부탁드립니다" }),
    )
    .await;
    let other = app.sign_up("elsewhere.kr").await;
    let (_, someone) = app.create_user(&other, "someone").await;
    sent(&app, &someone, json!({ "to": ["someone@elsewhere.kr"], "subject": "회의록", "text": "회의록" })).await;

    let lee_finds = |search: Value| found(&app, &lee.1, search);
    assert_eq!(lee_finds(json!({ "q": "회의록" })).await, [budget.as_str()], "another company's mail is not searched");
    assert_eq!(lee_finds(json!({ "q": "보고서" })).await, [report.as_str()], "inside a longer word");
    assert_eq!(lee_finds(json!({ "q": "검토" })).await, [report.as_str()]);
    assert_eq!(lee_finds(json!({ "q": "meet notes" })).await, [budget.as_str()], "the start of a word");
    assert_eq!(lee_finds(json!({ "q": "회의록 보고서" })).await, Vec::<String>::new(), "every word");
    assert_eq!(lee_finds(json!({ "sender": "park@search.kr" })).await, [report.as_str()]);
    assert_eq!(lee_finds(json!({ "recipient": "park" })).await, [budget.as_str()], "a Cc recipient");
    assert_eq!(lee_finds(json!({ "subject": "예산" })).await, [budget.as_str()]);
    assert_eq!(lee_finds(json!({ "body": "예산" })).await, Vec::<String>::new(), "only in the subject");
    assert_eq!(lee_finds(json!({ "since": "2026-11-26T09:15:00+09:00" })).await, [report.as_str()]);
    assert_eq!(lee_finds(json!({ "until": "2026-11-26T09:15:00+09:00" })).await, [budget.as_str()]);
    let inbox = lee_finds(json!({ "folder": "inbox" })).await;
    assert_eq!(inbox, [report.as_str(), budget.as_str()], "newest first");

    // Pages of hits.
    let first = app.gql(Some(&lee.1), SEARCH, json!({ "folder": "inbox", "first": 1 })).await;
    let page = &first["data"]["searchMail"];
    assert_eq!((page["totalCount"].clone(), page["pageInfo"]["hasNextPage"].clone()), (json!(2), json!(true)));
    let cursor = page["pageInfo"]["endCursor"].clone();
    assert_eq!(lee_finds(json!({ "folder": "inbox", "first": 1, "after": cursor })).await, [budget.as_str()]);

    // To the trash: the folder changes in the index.
    let to_trash = "mutation($ids: [UUID!]!) { deleteMail(ids: $ids) }";
    app.gql(Some(&lee.1), to_trash, json!({ "ids": [budget] })).await;
    assert_eq!(lee_finds(json!({ "folder": "inbox" })).await, [report.as_str()]);
    assert_eq!(lee_finds(json!({ "q": "회의록", "folder": "trash" })).await, [budget.as_str()]);
    // Recalled (rule E3): gone from the recipient's search, still in the
    // sender's.
    let recall = "mutation($id: UUID!) { recallMail(id: $id) { recalled } }";
    app.gql(Some(&park.1), recall, json!({ "id": report })).await;
    assert_eq!(lee_finds(json!({ "q": "보고서" })).await, Vec::<String>::new());
    assert_eq!(found(&app, &park.1, json!({ "q": "보고서" })).await, [report.as_str()]);
    // Deleted forever by one holder: the others still find it.
    let forever = "mutation($ids: [UUID!]!) { deleteMailForever(ids: $ids) }";
    app.gql(Some(&lee.1), forever, json!({ "ids": [budget] })).await;
    assert_eq!(lee_finds(json!({ "q": "회의록" })).await, Vec::<String>::new());
    assert_eq!(found(&app, &kim, json!({ "q": "회의록" })).await, [budget.as_str()]);
    assert_eq!(found(&app, &park.1, json!({ "q": "회의록", "folder": "inbox" })).await, [budget.as_str()]);

    // Bad searches change nothing and say why.
    let bad = [
        (json!({}), "VALIDATION"),
        (json!({ "q": " ,. " }), "VALIDATION"),
        (json!({ "q": "x".repeat(501) }), "VALIDATION"),
        (json!({ "since": "2026-11-27T00:00:00Z", "until": "2026-11-26T00:00:00Z" }), "VALIDATION"),
        (json!({ "folder": "bogus" }), "VALIDATION"),
        (json!({ "folder": "00000000-0000-0000-0000-000000000001" }), "NOT_FOUND"),
        (json!({ "q": "a", "after": "garbage" }), "VALIDATION"),
    ];
    for (search, expected) in bad {
        assert_eq!(code(&app.gql(Some(&lee.1), SEARCH, search.clone()).await), expected, "{search}");
    }
}

// rule T3: additional domains, their DNS records, delivery and From.
#[tokio::test]
async fn rule_t3_additional_domains_route_to_the_same_users() {
    let Office { app, acme, kim, lee, park: _ } = office(TestApp::spawn().await, "multi.kr").await;
    let add =
        "mutation($d: String!) { addMailDomain(domain: $d) { name primary records { kind name value priority } } }";
    let added = app.gql(Some(&acme.admin_token), add, json!({ "d": "multi.co.kr" })).await;
    tests::snapshot_settings().bind(|| insta::assert_json_snapshot!("mail_domain_records", added["data"]));
    assert_eq!(code(&app.gql(Some(&kim), add, json!({ "d": "other.kr" })).await), "FORBIDDEN");
    assert_eq!(code(&app.gql(Some(&acme.admin_token), add, json!({ "d": "gmail.com" })).await), "VALIDATION");
    let rival = app.sign_up("rival.kr").await;
    assert_eq!(code(&app.gql(Some(&rival.admin_token), add, json!({ "d": "multi.co.kr" })).await), "CONFLICT");

    let r = send(
        &app,
        &kim,
        json!({ "fromDomain": "multi.co.kr", "to": ["lee@multi.co.kr"], "subject": "via the second domain" }),
    )
    .await;
    assert_eq!(r["data"]["sendMail"]["from"], "kim@multi.co.kr", "{r}");
    assert_eq!(folder(&app, &lee.1, "inbox").await["edges"][0]["node"]["from"], "kim@multi.co.kr");
    assert_eq!(
        code(&send(&app, &kim, json!({ "fromDomain": "rival.kr", "to": ["lee@multi.kr"] })).await),
        "VALIDATION"
    );
    assert!(app.login("multi.co.kr", "lee", "user-pass-1").await.is_ok(), "rule T4 on an additional domain");

    let domains = app.gql(Some(&kim), "{ mailDomains { name primary } }", json!({})).await;
    assert_eq!(
        domains["data"]["mailDomains"],
        json!([{ "name": "multi.kr", "primary": true }, { "name": "multi.co.kr", "primary": false }])
    );
    let remove = "mutation($d: String!) { removeMailDomain(domain: $d) }";
    assert_eq!(code(&app.gql(Some(&acme.admin_token), remove, json!({ "d": "multi.kr" })).await), "CONFLICT");
    assert_eq!(
        app.gql(Some(&acme.admin_token), remove, json!({ "d": "multi.co.kr" })).await["data"]["removeMailDomain"],
        true
    );
    // Now an outside address: no longer delivered internally.
    let outside = send(&app, &kim, json!({ "to": ["lee@multi.co.kr"] })).await;
    assert_eq!(
        mail(&app, &kim, outside["data"]["sendMail"]["id"].as_str().unwrap()).await["data"]["mail"]["tracking"][0]["state"],
        "QUEUED"
    );
}

async fn upload(app: &TestApp, token: &str, name: &str, bytes: Vec<u8>) -> Value {
    let operations = json!({ "query": "mutation($file: Upload!) { uploadAttachment(file: $file) { id name contentType size } }", "variables": { "file": null } });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()).mime_str("application/pdf").unwrap(),
        );
    let response =
        app.client.post(format!("{}/graphql", app.address)).bearer_auth(token).multipart(form).send().await.unwrap();
    response.json().await.unwrap()
}

// External copies go through a real SMTP relay with per-recipient states;
// attachments travel with them and are downloaded by internal recipients.
#[tokio::test]
async fn external_mail_goes_through_the_smtp_relay_with_its_attachments() {
    let relay = SmtpServer::start();
    let storage = TestStorage::new().await;
    let mut settings = storage.settings();
    settings.smtp_relay = Some(relay.url.clone());
    settings.attachment_limit = 1000;
    let Office { app, acme, kim, lee, park: _ } = office(TestApp::spawn_with(settings).await, "relay.kr").await;
    let file = upload(&app, &kim, "report.pdf", b"%PDF-1.4 quarterly figures".to_vec()).await;
    let attachment = &file["data"]["uploadAttachment"];
    assert_eq!(attachment["size"], 26, "{file}");
    assert_eq!(code(&upload(&app, &kim, "big.pdf", vec![b'x'; 1001]).await), "LIMIT_EXCEEDED");
    let input = json!({
        "to": ["friend@partner.org", "reject-me@partner.org", "lee@relay.kr"], "bcc": ["hidden@partner.org"],
        "subject": "Figures", "text": "See the attachment.",
        "attachments": [{ "id": attachment["id"], "name": "report.pdf", "contentType": "application/pdf" }]
    });
    let id = sent(&app, &kim, input).await;
    app.settle().await;
    let received = relay.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|m| m.data.contains("Subject: Figures") && m.data.contains("report.pdf")));
    assert!(received.iter().all(|m| !m.data.to_lowercase().contains("bcc:")), "Bcc is never in the message");
    let states = mail(&app, &kim, &id).await["data"]["mail"]["tracking"].clone();
    let by_address = |a: &str| states.as_array().unwrap().iter().find(|r| r["address"] == a).unwrap().clone();
    assert_eq!(by_address("friend@partner.org")["state"], "SENT");
    assert_eq!(by_address("hidden@partner.org")["state"], "SENT");
    assert_eq!(by_address("reject-me@partner.org")["state"], "FAILED");
    assert!(by_address("reject-me@partner.org")["reply"].as_str().unwrap().contains("550"));
    assert_eq!(by_address("lee@relay.kr")["state"], "DELIVERED");

    let url = format!("{}/mail/{id}/attachments/{}", app.address, attachment["id"].as_str().unwrap());
    let download = app.client.get(&url).bearer_auth(&lee.1).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"%PDF-1.4 quarterly figures");
    let (_, stranger) = app.create_user(&acme, "stranger").await;
    assert_eq!(app.client.get(&url).bearer_auth(&stranger).send().await.unwrap().status(), 404);
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);
}

// A download is streamed from the blob store in pieces; a file of several
// pieces arrives whole, with its length announced.
#[tokio::test]
async fn a_file_larger_than_one_read_is_downloaded_whole() {
    let Office { app, acme: _, kim, lee, park: _ } = office(TestApp::spawn().await, "largefile.kr").await;
    let bytes: Vec<u8> = (0..1_000_003u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let file = upload(&app, &kim, "figures.pdf", bytes.clone()).await;
    let attachment = &file["data"]["uploadAttachment"];
    assert_eq!(attachment["size"], bytes.len(), "{file}");
    let input = json!({
        "to": ["lee@largefile.kr"], "subject": "Figures",
        "attachments": [{ "id": attachment["id"], "name": "figures.pdf", "contentType": "application/pdf" }]
    });
    let id = sent(&app, &kim, input).await;
    let url = format!("{}/mail/{id}/attachments/{}", app.address, attachment["id"].as_str().unwrap());
    let download = app.client.get(&url).bearer_auth(&lee.1).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.content_length(), Some(bytes.len() as u64));
    assert_eq!(download.headers()["content-type"], "application/pdf");
    let downloaded = download.bytes().await.unwrap();
    assert!(downloaded.as_ref() == bytes.as_slice(), "{} bytes came back", downloaded.len());
}

const RAW: &str = "From: Park Ji <park@partner.org>\r\nTo: lee@inbound.kr\r\nSubject: Hello from outside\r\nMessage-ID: <m1@partner.org>\r\n\r\nA plain message.\r\n";

// Inbound mail from the company's MTA: delivered to the addressed users,
// unknown recipients answered so that the MTA can bounce.
#[tokio::test]
async fn inbound_mail_reaches_the_addressed_user_and_unknown_recipients_bounce() {
    let storage = TestStorage::new().await;
    let mut settings = storage.settings();
    settings.inbound_secret = Some("mta-secret".into());
    let Office { app, acme: _, kim: _, lee, park: _ } = office(TestApp::spawn_with(settings).await, "inbound.kr").await;
    let post = |body: &'static str, secret: &'static str, query: &'static str| {
        app.client.post(format!("{}/inbound{query}", app.address)).bearer_auth(secret).body(body).send()
    };
    assert_eq!(post(RAW, "wrong", "").await.unwrap().status(), 401);
    let head = app.head().await;
    let malformed = post("this is not a message", "mta-secret", "").await.unwrap();
    assert_eq!(malformed.status(), 400);
    let unknown = post(RAW, "mta-secret", "?to=lee@inbound.kr&to=nobody@inbound.kr").await.unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(code(&body), "NOT_FOUND");
    let recipients = &body["errors"][0]["extensions"]["recipients"];
    assert_eq!(recipients[0]["address"], "nobody@inbound.kr");
    assert!(recipients[0]["smtp"].as_str().unwrap().starts_with("550"));
    assert_eq!(app.head().await, head, "nothing was delivered");

    let delivered = post(RAW, "mta-secret", "").await.unwrap();
    assert_eq!(delivered.status(), 200);
    // The MTA retries: delivered once.
    assert_eq!(post(RAW, "mta-secret", "").await.unwrap().status(), 200);
    let inbox = folder(&app, &lee.1, "inbox").await;
    assert_eq!(inbox["totalCount"], 1);
    assert_eq!(inbox["edges"][0]["node"]["from"], "Park Ji <park@partner.org>");
    assert_eq!(inbox["edges"][0]["node"]["kind"], "received");
}

// rule E8: a logged-in user hears of new mail over a WebSocket subscription.
#[tokio::test]
async fn rule_e8_new_mail_is_announced_over_a_subscription() {
    let Office { app, acme: _, kim, lee, park: _ } = office(TestApp::spawn().await, "live.kr").await;
    let mut request = format!("{}/graphql", app.address.replace("http://", "ws://")).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send_ws = |v: Value| Message::Text(v.to_string().into());
    ws.send(send_ws(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", lee.1) } })))
        .await
        .unwrap();
    let ack = ws.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"));
    ws.send(send_ws(json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { mailReceived { subject from folder } }" } })))
        .await
        .unwrap();
    // The subscription starts at the head it sees; keep sending until it
    // reports a mail.
    for i in 0..50 {
        sent(&app, &kim, json!({ "to": ["lee@live.kr"], "subject": format!("ping {i}") })).await;
        let Ok(Some(Ok(message))) = tokio::time::timeout(std::time::Duration::from_millis(500), ws.next()).await else {
            continue;
        };
        let message: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        let received = &message["payload"]["data"]["mailReceived"];
        assert_eq!(received["from"], "kim@live.kr", "{message}");
        assert_eq!(received["folder"], "inbox");
        return;
    }
    panic!("no mail was announced");
}

// Bad input changes nothing and says why.
#[tokio::test]
async fn bad_mail_input_is_refused_with_its_code_and_changes_nothing() {
    let Office { app, acme: _, kim, lee: _, park: _ } = office(TestApp::spawn().await, "strict.kr").await;
    let head = app.head().await;
    for (input, expected) in [
        (json!({ "to": ["not an address"] }), "VALIDATION"),
        (json!({ "to": [] }), "VALIDATION"),
        (json!({ "to": ["ghost@strict.kr"] }), "VALIDATION"),
        (json!({ "to": ["lee@strict.kr"], "subject": "two\nlines" }), "VALIDATION"),
        (json!({ "to": ["lee@strict.kr"], "text": "x".repeat(600 * 1024) }), "LIMIT_EXCEEDED"),
        (json!({ "to": ["lee@strict.kr"], "attachments": [{ "id": "0".repeat(64), "name": "a.pdf" }] }), "VALIDATION"),
        (json!({ "to": ["lee@strict.kr"], "attachments": [{ "id": "../etc/passwd", "name": "a.pdf" }] }), "VALIDATION"),
    ] {
        let r = send(&app, &kim, input.clone()).await;
        assert_eq!(code(&r), expected, "{input}: {r}");
    }
    let unauthenticated = app.gql(None, SEND, json!({ "input": { "to": ["lee@strict.kr"] } })).await;
    assert_eq!(code(&unauthenticated), "UNAUTHENTICATED");
    assert_eq!(app.head().await, head);
}
