//! Mailboxes (rule E8): each user's folders and the mail in them, the
//! content of every mail, the sender's per-recipient tracking (E3, E4) and
//! forwarding settings (E5).
//!
//! A mail's content is one row however many mailboxes hold it; a mailbox
//! holds entries (folder, read and flag state, the list fields). Entries are
//! kept twice: by mail id, to find one, and by folder and time, to list a
//! folder newest first. Folder rows keep their total and unread counts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::Aggregate;
use domain::mail::{
    Content, DeliveryReport, Draft, Folder, IncomingMail, MailboxEvent, OutgoingMail, Recipient, RecipientKind,
};
use serde_json::{Value, json};
use store::RecordedEvent;
use uuid::Uuid;

use super::unreadable;
use crate::{ProjectionError, Projector, Transaction};

/// `tenant/mail id` → the mail's content.
pub const MAILS: &str = "mails";
/// `tenant/user/mail id` → the user's entry for the mail.
pub const MAIL_ENTRIES: &str = "mail_entries";
/// `tenant/user/folder/sort key` → the entry, for folder lists (newest first).
pub const FOLDER_ITEMS: &str = "mail_folder_items";
/// `tenant/user/folder` → `{ id, name, system, total, unread }`.
pub const MAIL_FOLDERS: &str = "mail_folders";
/// `tenant/mail id` → `{ recipients: [..] }`: per-recipient delivery state.
pub const MAIL_TRACKING: &str = "mail_tracking";
/// `tenant/user` → the user's forwarding settings.
pub const MAIL_FORWARDING: &str = "mail_forwarding";

/// The address system notices come from.
pub const NOTICE_SENDER: &str = "postmaster";

pub fn entry_key(tenant: Uuid, user: Uuid, mail: Uuid) -> String {
    format!("{tenant}/{user}/{mail}")
}

/// The prefix of one folder's list.
pub fn folder_items_prefix(tenant: Uuid, user: Uuid, folder: &str) -> String {
    format!("{tenant}/{user}/{folder}/")
}

pub fn folder_key(tenant: Uuid, user: Uuid, folder: &str) -> String {
    format!("{tenant}/{user}/{folder}")
}

pub fn mail_key(tenant: Uuid, mail: Uuid) -> String {
    format!("{tenant}/{mail}")
}

/// Newest first: the key sorts by inverted time, then by id.
fn sort_key(at: DateTime<Utc>, mail: Uuid) -> String {
    format!("{:019}/{mail}", i64::MAX - at.timestamp_millis())
}

/// The row of a notice from the system, with `extra` fields.
fn notice_row(id: Uuid, subject: &str, text: &str, at: DateTime<Utc>, extra: Value) -> Value {
    let content = Content { subject: subject.to_owned(), text: text.to_owned(), html: None, attachments: vec![] };
    let row = json!({ "id": id, "kind": "notice", "from": NOTICE_SENDER, "to": [], "cc": [], "bcc": [], "at": at });
    merged(merged(row, extra), content_fields(&content))
}

pub struct MailboxesProjector;

/// One event with what every handler needs.
struct Applying<'e> {
    event: &'e RecordedEvent,
    tenant: Uuid,
    owner: Uuid,
    at: DateTime<Utc>,
}

fn content_fields(content: &Content) -> Value {
    json!({
        "subject": content.subject,
        "text": content.text,
        "html": content.html,
        "snippet": content.snippet(),
        "attachments": content.attachments,
    })
}

fn addresses(mail: &OutgoingMail, kind: RecipientKind) -> Vec<String> {
    mail.recipients.iter().filter(|r| r.kind == kind).map(|r| r.address.to_string()).collect()
}

fn merged(mut base: Value, more: Value) -> Value {
    if let (Some(base), Value::Object(more)) = (base.as_object_mut(), more) {
        base.extend(more);
    }
    base
}

fn outgoing_row(mail: &OutgoingMail, kind: &str, sender: Uuid, at: DateTime<Utc>) -> Value {
    merged(
        json!({
            "id": mail.mail_id,
            "kind": kind,
            "from": mail.from.to_string(),
            "senderId": sender,
            "to": addresses(mail, RecipientKind::To),
            "cc": addresses(mail, RecipientKind::Cc),
            "bcc": addresses(mail, RecipientKind::Bcc),
            "at": at,
        }),
        content_fields(&mail.content),
    )
}

fn draft_row(id: Uuid, draft: &Draft, sender: Uuid, at: DateTime<Utc>) -> Value {
    let list = |a: &[domain::mail::MailAddress]| a.iter().map(ToString::to_string).collect::<Vec<_>>();
    merged(
        json!({
            "id": id,
            "kind": "draft",
            "from": draft.from.as_ref().map(ToString::to_string),
            "senderId": sender,
            "to": list(&draft.to),
            "cc": list(&draft.cc),
            "bcc": list(&draft.bcc),
            "at": at,
        }),
        content_fields(&draft.content),
    )
}

fn incoming_row(mail: &IncomingMail, at: DateTime<Utc>) -> Value {
    merged(
        json!({ "id": mail.mail_id, "kind": "received", "from": mail.from, "to": mail.to, "cc": mail.cc, "bcc": [], "at": at }),
        content_fields(&mail.content),
    )
}

/// An entry of a mailbox, built from the mail's row.
fn entry(row: &Value, folder: Folder, read: bool) -> Value {
    json!({
        "mailId": row["id"],
        "kind": row["kind"],
        "folder": folder,
        "from": row["from"],
        "subject": row["subject"],
        "snippet": row["snippet"],
        "at": row["at"],
        "read": read,
        "flagged": false,
        "hasAttachments": row["attachments"].as_array().is_some_and(|a| !a.is_empty()),
    })
}

fn tracking(recipient: &Recipient, at: DateTime<Utc>) -> Value {
    json!({
        "address": recipient.address.to_string(),
        "kind": recipient.kind,
        "userId": recipient.user,
        "state": if recipient.is_internal() { "delivered" } else { "queued" },
        "at": at,
    })
}

fn is_unread(entry: &Value) -> i64 {
    i64::from(!entry["read"].as_bool().unwrap_or(true))
}

impl Applying<'_> {
    fn fail(&self, reason: impl ToString) -> ProjectionError {
        unreadable(self.event, reason)
    }

    async fn count(
        &self,
        tx: &mut Transaction<'_>,
        user: Uuid,
        folder: &str,
        total: i64,
        unread: i64,
    ) -> Result<(), ProjectionError> {
        let key = folder_key(self.tenant, user, folder);
        let mut row = match tx.get(MAIL_FOLDERS, &key).await? {
            Some(row) => row,
            // System folders appear with their first mail.
            None => {
                let name = folder.parse::<Folder>().ok().and_then(Folder::system_name).unwrap_or(folder);
                json!({ "id": folder, "name": name, "system": true, "total": 0, "unread": 0 })
            }
        };
        let add = |v: &Value, d: i64| json!((v.as_i64().unwrap_or(0) + d).max(0));
        row["total"] = add(&row["total"], total);
        row["unread"] = add(&row["unread"], unread);
        tx.put(MAIL_FOLDERS, key, row);
        Ok(())
    }

    /// Puts `entry` into `user`'s mailbox, replacing any entry for its mail.
    async fn place(&self, tx: &mut Transaction<'_>, user: Uuid, mut entry: Value) -> Result<(), ProjectionError> {
        let mail: Uuid = serde_json::from_value(entry["mailId"].clone()).map_err(|e| self.fail(e))?;
        self.remove(tx, user, mail).await?;
        let at: DateTime<Utc> = serde_json::from_value(entry["at"].clone()).map_err(|e| self.fail(e))?;
        let folder = entry["folder"].as_str().ok_or_else(|| self.fail("an entry without a folder"))?.to_owned();
        let sort = sort_key(at, mail);
        entry["sort"] = json!(sort);
        self.count(tx, user, &folder, 1, is_unread(&entry)).await?;
        tx.put(FOLDER_ITEMS, format!("{}{sort}", folder_items_prefix(self.tenant, user, &folder)), entry.clone());
        tx.put(MAIL_ENTRIES, entry_key(self.tenant, user, mail), entry);
        Ok(())
    }

    /// Takes `mail` out of `user`'s mailbox; the entry it had, if any.
    async fn remove(&self, tx: &mut Transaction<'_>, user: Uuid, mail: Uuid) -> Result<Option<Value>, ProjectionError> {
        let key = entry_key(self.tenant, user, mail);
        let Some(old) = tx.get(MAIL_ENTRIES, &key).await? else { return Ok(None) };
        let folder = old["folder"].as_str().unwrap_or_default().to_owned();
        let sort = old["sort"].as_str().unwrap_or_default();
        tx.delete(FOLDER_ITEMS, format!("{}{sort}", folder_items_prefix(self.tenant, user, &folder)));
        tx.delete(MAIL_ENTRIES, key);
        self.count(tx, user, &folder, -1, -is_unread(&old)).await?;
        Ok(Some(old))
    }

    /// Changes the owner's entry for `mail`, if the mailbox holds it.
    async fn update(
        &self,
        tx: &mut Transaction<'_>,
        mail: Uuid,
        change: impl FnOnce(&mut Value),
    ) -> Result<(), ProjectionError> {
        let Some(mut entry) = tx.get(MAIL_ENTRIES, &entry_key(self.tenant, self.owner, mail)).await? else {
            return Ok(());
        };
        change(&mut entry);
        self.place(tx, self.owner, entry).await
    }

    async fn update_tracking(
        &self,
        tx: &mut Transaction<'_>,
        mail: Uuid,
        mut change: impl FnMut(&mut Value),
    ) -> Result<(), ProjectionError> {
        let key = mail_key(self.tenant, mail);
        let Some(mut row) = tx.get(MAIL_TRACKING, &key).await? else { return Ok(()) };
        if let Some(recipients) = row["recipients"].as_array_mut() {
            recipients.iter_mut().for_each(&mut change);
        }
        tx.put(MAIL_TRACKING, key, row);
        Ok(())
    }

    /// A sent or forwarded mail: the sender's copy, the internal
    /// recipients' copies and the tracking rows.
    async fn send(
        &self,
        tx: &mut Transaction<'_>,
        mail: &OutgoingMail,
        kind: &str,
        event: &MailboxEvent,
    ) -> Result<(), ProjectionError> {
        if let Some(draft) = mail.draft_id {
            self.remove(tx, self.owner, draft).await?;
            if draft != mail.mail_id {
                tx.delete(MAILS, mail_key(self.tenant, draft));
            }
        }
        let row = outgoing_row(mail, kind, self.owner, self.at);
        let deliveries = event.inbox_deliveries(self.owner);
        // A mail to oneself has one copy, in the inbox.
        if !deliveries.iter().any(|d| d.user == self.owner) {
            self.place(tx, self.owner, entry(&row, Folder::Sent, true)).await?;
        }
        for delivery in deliveries {
            self.place(tx, delivery.user, entry(&row, Folder::Inbox, false)).await?;
        }
        let recipients: Vec<Value> = mail.recipients.iter().map(|r| tracking(r, self.at)).collect();
        tx.put(MAIL_TRACKING, mail_key(self.tenant, mail.mail_id), json!({ "recipients": recipients }));
        tx.put(MAILS, mail_key(self.tenant, mail.mail_id), row);
        Ok(())
    }

    async fn apply(&self, tx: &mut Transaction<'_>, event: &MailboxEvent) -> Result<(), ProjectionError> {
        let (tenant, owner, at) = (self.tenant, self.owner, self.at);
        match event {
            MailboxEvent::DraftSaved { draft_id, draft } => {
                let row = draft_row(*draft_id, draft, owner, at);
                self.place(tx, owner, entry(&row, Folder::Drafts, true)).await?;
                tx.put(MAILS, mail_key(tenant, *draft_id), row);
            }
            MailboxEvent::DraftDeleted { draft_id } => {
                self.remove(tx, owner, *draft_id).await?;
                tx.delete(MAILS, mail_key(tenant, *draft_id));
            }
            MailboxEvent::MailSent { mail, .. } => {
                self.remove(tx, owner, mail.mail_id).await?;
                self.send(tx, mail, "sent", event).await?;
            }
            MailboxEvent::MailScheduled { mail, due, .. } => {
                if let Some(draft) = mail.draft_id {
                    self.remove(tx, owner, draft).await?;
                }
                let mut row = outgoing_row(mail, "scheduled", owner, at);
                row["scheduledFor"] = json!(due);
                self.place(tx, owner, entry(&row, Folder::Scheduled, true)).await?;
                tx.put(MAILS, mail_key(tenant, mail.mail_id), row);
            }
            MailboxEvent::ScheduleCancelled { mail_id, draft } => {
                let row = draft_row(*mail_id, draft, owner, at);
                self.place(tx, owner, entry(&row, Folder::Drafts, true)).await?;
                tx.put(MAILS, mail_key(tenant, *mail_id), row);
            }
            MailboxEvent::MailRecalled { mail_id, recipients } => {
                for user in recipients {
                    self.remove(tx, *user, *mail_id).await?;
                }
                self.update_tracking(tx, *mail_id, |r| {
                    let recalled = r["userId"]
                        .as_str()
                        .and_then(|u| Uuid::parse_str(u).ok())
                        .is_some_and(|u| recipients.contains(&u));
                    if recalled {
                        r["state"] = json!("recalled");
                        r["recalledAt"] = json!(at);
                    }
                })
                .await?;
            }
            MailboxEvent::DeliveryReported { mail_id, address, report } => {
                let (state, reply) = match report {
                    DeliveryReport::Sent { reply } => ("sent", reply),
                    DeliveryReport::Failed { reply } => ("failed", reply),
                };
                let address = address.to_string();
                self.update_tracking(tx, *mail_id, |r| {
                    if r["address"] == address.as_str() && r["userId"].is_null() {
                        r["state"] = json!(state);
                        r["reply"] = json!(reply);
                        r["at"] = json!(at);
                    }
                })
                .await?;
            }
            MailboxEvent::QuotaResetOffered { token, day, notice_id } => {
                let subject = "Your daily sending limit is reached";
                let text = format!(
                    "You have sent to {} recipients today ({day}), the daily limit. The limit resets at midnight. \
                     To send more today, use this one-time reset link: /mail/reset-quota?token={token} \
                     (or the resetSendQuota mutation with token \"{token}\"). It is valid until midnight.",
                    domain::mail::DAILY_DELIVERIES
                );
                let row = notice_row(*notice_id, subject, &text, at, json!({ "resetToken": token }));
                self.place(tx, owner, entry(&row, Folder::Inbox, false)).await?;
                tx.put(MAILS, mail_key(tenant, *notice_id), row);
            }
            MailboxEvent::NoticeDelivered { notice_id, subject, text } => {
                let row = notice_row(*notice_id, subject, text, at, json!({}));
                self.place(tx, owner, entry(&row, Folder::Inbox, false)).await?;
                tx.put(MAILS, mail_key(tenant, *notice_id), row);
            }
            MailboxEvent::MailReceived { mail, .. } => {
                let row = incoming_row(mail, at);
                self.place(tx, owner, entry(&row, Folder::Inbox, false)).await?;
                tx.put(MAILS, mail_key(tenant, mail.mail_id), row);
            }
            MailboxEvent::MailForwarded { mail, source, keep_copy, .. } => {
                if !keep_copy {
                    self.remove(tx, owner, *source).await?;
                }
                self.send(tx, mail, "forwarded", event).await?;
            }
            MailboxEvent::MarkedRead { mail_id, read } => {
                self.update(tx, *mail_id, |e| e["read"] = json!(read)).await?;
                if *read {
                    self.update_tracking(tx, *mail_id, |r| {
                        let mine = r["userId"] == json!(owner);
                        if mine && r["state"] == "delivered" {
                            r["state"] = json!("read");
                            r["readAt"] = json!(at);
                        }
                    })
                    .await?;
                }
            }
            MailboxEvent::Flagged { mail_id, flagged } => {
                self.update(tx, *mail_id, |e| e["flagged"] = json!(flagged)).await?;
            }
            MailboxEvent::Moved { mail_ids, to } => {
                for mail in mail_ids {
                    self.update(tx, *mail, |e| e["folder"] = json!(to)).await?;
                }
            }
            MailboxEvent::Purged { mail_ids } => {
                for mail in mail_ids {
                    self.remove(tx, owner, *mail).await?;
                }
            }
            MailboxEvent::FolderCreated { folder_id, name } => {
                tx.put(
                    MAIL_FOLDERS,
                    folder_key(tenant, owner, &folder_id.to_string()),
                    json!({ "id": folder_id, "name": name, "system": false, "total": 0, "unread": 0 }),
                );
            }
            MailboxEvent::FolderRenamed { folder_id, name } => {
                let key = folder_key(tenant, owner, &folder_id.to_string());
                let mut row =
                    tx.get(MAIL_FOLDERS, &key).await?.ok_or_else(|| self.fail(format!("no folder {folder_id}")))?;
                row["name"] = json!(name);
                tx.put(MAIL_FOLDERS, key, row);
            }
            MailboxEvent::FolderDeleted { folder_id } => {
                tx.delete(MAIL_FOLDERS, folder_key(tenant, owner, &folder_id.to_string()));
            }
            MailboxEvent::ForwardingSet { forwarding } => {
                let addresses: Vec<String> = forwarding.to.iter().map(|r| r.address.to_string()).collect();
                tx.put(
                    MAIL_FORWARDING,
                    format!("{tenant}/{owner}"),
                    json!({ "addresses": addresses, "keepCopy": forwarding.keep_copy, "adminOnly": forwarding.admin_only, "at": at }),
                );
            }
            MailboxEvent::QuotaReset { .. } => {}
        }
        Ok(())
    }
}

#[async_trait]
impl Projector for MailboxesProjector {
    fn name(&self) -> &'static str {
        "mailboxes.v1"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[MAILS, MAIL_ENTRIES, FOLDER_ITEMS, MAIL_FOLDERS, MAIL_TRACKING, MAIL_FORWARDING]
    }

    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError> {
        if event.category() != domain::mail::Mailbox::CATEGORY {
            return Ok(());
        }
        let tenant = event.metadata.tenant.ok_or_else(|| unreadable(event, "no tenant in metadata"))?;
        let owner = event.stream_id().ok_or_else(|| unreadable(event, "the stream is not a mailbox"))?;
        let decoded = event.decode::<MailboxEvent>().map_err(|e| unreadable(event, e))?;
        Applying { event, tenant, owner, at: event.metadata.occurred_at }.apply(tx, &decoded).await
    }
}
