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
    Attachment, Content, DeliveryReport, Draft, Folder, IncomingMail, MailAddress, MailboxEvent, OutgoingMail,
    Recipient, RecipientKind,
};
use domain::tenant::TenantEvent;
use serde::{Deserialize, Serialize};
use store::RecordedEvent;
use uuid::Uuid;

use super::unreadable;
use crate::{ProjectionError, Projector, ReadModelStore, Table, Transaction};

/// What a mail is in the mailbox holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailKind {
    Sent,
    Forwarded,
    Received,
    Draft,
    Scheduled,
    /// From the system, such as the daily-limit notice (rule E1).
    Notice,
}

impl MailKind {
    /// The name it is stored and shown with.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Sent => "sent",
            MailKind::Forwarded => "forwarded",
            MailKind::Received => "received",
            MailKind::Draft => "draft",
            MailKind::Scheduled => "scheduled",
            MailKind::Notice => "notice",
        }
    }

    /// Whether the mail left its sender for its recipients: the sender
    /// tracks it (rule E4) and may recall it (rule E3).
    pub fn is_outgoing(self) -> bool {
        matches!(self, MailKind::Sent | MailKind::Forwarded)
    }
}

/// Where one recipient's copy is (rules E3, E4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// In the internal recipient's mailbox, not yet read.
    Delivered,
    Read,
    Recalled,
    /// An external copy waiting for the relay.
    Queued,
    /// The relay took the external copy.
    Sent,
    /// The relay refused it, or every attempt failed.
    Failed,
}

/// A mail's content, one row however many mailboxes hold it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailRow {
    pub id: Uuid,
    pub kind: MailKind,
    /// The From header; none for a draft without one.
    pub from: Option<String>,
    /// The user who wrote it, for sent, forwarded, scheduled and draft mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<Uuid>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    /// When it was sent, received, saved or scheduled.
    pub at: DateTime<Utc>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub snippet: String,
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<DateTime<Utc>>,
    /// The one-time token a daily-limit notice offers (rule E1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_token: Option<Uuid>,
}

/// A mail in one user's mailbox: its folder, its state and the fields of
/// folder lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryRow {
    pub mail_id: Uuid,
    pub kind: MailKind,
    pub folder: Folder,
    pub from: Option<String>,
    pub subject: String,
    pub snippet: String,
    pub at: DateTime<Utc>,
    pub read: bool,
    pub flagged: bool,
    pub has_attachments: bool,
    /// Its place in its folder's list (see [`folder_items_prefix`]).
    pub sort: String,
}

/// A folder of a mailbox with its counts (rule E8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderRow {
    pub id: Folder,
    pub name: String,
    /// One of the folders every mailbox has.
    pub system: bool,
    pub total: u64,
    pub unread: u64,
}

impl FolderRow {
    /// A system folder before its first mail.
    pub fn empty_system(folder: Folder) -> Self {
        let name = folder.system_name().map_or_else(|| folder.to_string(), str::to_owned);
        Self { id: folder, name, system: true, total: 0, unread: 0 }
    }
}

/// The sender's tracking of a mail: one line per recipient (rules E3, E4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackingRow {
    pub recipients: Vec<RecipientTracking>,
}

/// Where one recipient's copy is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientTracking {
    pub address: MailAddress,
    pub kind: RecipientKind,
    /// The tenant's own user, for internal recipients.
    pub user_id: Option<Uuid>,
    pub state: DeliveryState,
    /// When the state last changed by delivery or relay.
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recalled_at: Option<DateTime<Utc>>,
    /// The relay's answer, for external recipients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

impl RecipientTracking {
    pub fn is_internal(&self) -> bool {
        self.user_id.is_some()
    }
}

/// A user's forwarding settings (rule E5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardingRow {
    pub addresses: Vec<String>,
    pub keep_copy: bool,
    /// Set by an admin; the user cannot change it.
    pub admin_only: bool,
    pub at: DateTime<Utc>,
}

/// [`mail_key`] → the mail's content.
pub const MAILS: Table<MailRow> = Table::new("mails");
/// [`entry_key`] → the user's entry for the mail; [`mailbox_prefix`] lists
/// a mailbox's entries.
pub const MAIL_ENTRIES: Table<EntryRow> = Table::new("mail_entries");
/// Under [`folder_items_prefix`], a folder's entries newest first.
pub const FOLDER_ITEMS: Table<EntryRow> = Table::new("mail_folder_items");
/// [`folder_key`] → the folder; [`mailbox_prefix`] lists a mailbox's folders.
pub const MAIL_FOLDERS: Table<FolderRow> = Table::new("mail_folders");
/// [`mail_key`] → per-recipient delivery state.
pub const MAIL_TRACKING: Table<TrackingRow> = Table::new("mail_tracking");
/// [`forwarding_key`] → the user's forwarding settings.
pub const MAIL_FORWARDING: Table<ForwardingRow> = Table::new("mail_forwarding");
/// [`holder_key`] → the user whose mailbox holds the mail: a mail's
/// content and tracking go when the last mailbox holding it lets go.
pub const MAIL_HOLDERS: Table<Uuid> = Table::new("mail_holders");

/// The name of the mailboxes' projector.
pub const PROJECTOR: &str = "mailboxes.v2";

/// The address system notices come from.
pub const NOTICE_SENDER: &str = "postmaster";

pub fn mail_key(tenant: Uuid, mail: Uuid) -> String {
    format!("{tenant}/{mail}")
}

pub fn entry_key(tenant: Uuid, user: Uuid, mail: Uuid) -> String {
    format!("{tenant}/{user}/{mail}")
}

/// The prefix of a mailbox's entries and of its folders.
pub fn mailbox_prefix(tenant: Uuid, user: Uuid) -> String {
    format!("{tenant}/{user}/")
}

pub fn folder_key(tenant: Uuid, user: Uuid, folder: Folder) -> String {
    format!("{tenant}/{user}/{folder}")
}

/// The prefix of one folder's list, in [`FOLDER_ITEMS`].
pub fn folder_items_prefix(tenant: Uuid, user: Uuid, folder: Folder) -> String {
    format!("{tenant}/{user}/{folder}/")
}

pub fn forwarding_key(tenant: Uuid, user: Uuid) -> String {
    format!("{tenant}/{user}")
}

/// The key of `user` among the holders of `mail`, under
/// [`holders_prefix`].
pub fn holder_key(tenant: Uuid, mail: Uuid, user: Uuid) -> String {
    format!("{tenant}/{mail}/{user}")
}

pub fn holders_prefix(tenant: Uuid, mail: Uuid) -> String {
    format!("{tenant}/{mail}/")
}

/// A mail's content.
///
/// # Errors
/// When the store fails or the row is not a [`MailRow`].
pub async fn mail(store: &dyn ReadModelStore, tenant: Uuid, mail: Uuid) -> Result<Option<MailRow>, ProjectionError> {
    MAILS.get(store, &mail_key(tenant, mail)).await
}

/// `user`'s entry for `mail`, if their mailbox holds it.
///
/// # Errors
/// When the store fails or the row is not an [`EntryRow`].
pub async fn entry(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    user: Uuid,
    mail: Uuid,
) -> Result<Option<EntryRow>, ProjectionError> {
    MAIL_ENTRIES.get(store, &entry_key(tenant, user, mail)).await
}

/// Every user whose mailbox holds `mail`, with their entry for it.
///
/// # Errors
/// When the store fails or a row is not what its table holds.
pub async fn holders(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    mail: Uuid,
) -> Result<Vec<(Uuid, EntryRow)>, ProjectionError> {
    let prefix = holders_prefix(tenant, mail);
    let mut holders = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = MAIL_HOLDERS.scan(store, &prefix, after.as_deref(), HOLDERS_PAGE).await?;
        for (_, user) in &page {
            if let Some(entry) = entry(store, tenant, *user, mail).await? {
                holders.push((*user, entry));
            }
        }
        match page.last() {
            Some((key, _)) if page.len() == HOLDERS_PAGE => after = Some(key.clone()),
            _ => return Ok(holders),
        }
    }
}

/// How many holders [`holders`] reads at a time.
const HOLDERS_PAGE: usize = 1000;

/// Up to `limit` entries of `user`'s mailbox, in mail id order.
///
/// # Errors
/// When the store fails or a row is not an [`EntryRow`].
pub async fn entries(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    user: Uuid,
    limit: usize,
) -> Result<Vec<EntryRow>, ProjectionError> {
    let rows = MAIL_ENTRIES.scan(store, &mailbox_prefix(tenant, user), None, limit).await?;
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

/// Up to `limit` entries of one folder of `user`'s, newest first.
///
/// # Errors
/// When the store fails or a row is not an [`EntryRow`].
pub async fn folder_entries(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    user: Uuid,
    folder: Folder,
    limit: usize,
) -> Result<Vec<EntryRow>, ProjectionError> {
    let rows = FOLDER_ITEMS.scan(store, &folder_items_prefix(tenant, user, folder), None, limit).await?;
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

/// One folder of `user`'s, once it has a row (a system folder has one
/// from its first mail on).
///
/// # Errors
/// When the store fails or the row is not a [`FolderRow`].
pub async fn folder(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    user: Uuid,
    folder: Folder,
) -> Result<Option<FolderRow>, ProjectionError> {
    MAIL_FOLDERS.get(store, &folder_key(tenant, user, folder)).await
}

/// Up to `limit` folders of `user`'s that have a row.
///
/// # Errors
/// When the store fails or a row is not a [`FolderRow`].
pub async fn folders(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    user: Uuid,
    limit: usize,
) -> Result<Vec<FolderRow>, ProjectionError> {
    let rows = MAIL_FOLDERS.scan(store, &mailbox_prefix(tenant, user), None, limit).await?;
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

/// Where each recipient's copy of a sent or forwarded mail is; none for
/// other mail.
///
/// # Errors
/// When the store fails or the row is not a [`TrackingRow`].
pub async fn tracking(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    mail: Uuid,
) -> Result<Vec<RecipientTracking>, ProjectionError> {
    Ok(MAIL_TRACKING.get(store, &mail_key(tenant, mail)).await?.map(|row| row.recipients).unwrap_or_default())
}

/// `user`'s forwarding settings, once they were set.
///
/// # Errors
/// When the store fails or the row is not a [`ForwardingRow`].
pub async fn forwarding(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    user: Uuid,
) -> Result<Option<ForwardingRow>, ProjectionError> {
    MAIL_FORWARDING.get(store, &forwarding_key(tenant, user)).await
}

/// Newest first: the key sorts by inverted time, then by id.
fn sort_key(at: DateTime<Utc>, mail: Uuid) -> String {
    format!("{:019}/{mail}", i64::MAX - at.timestamp_millis())
}

impl MailRow {
    /// A mail of `content` with no addresses yet.
    fn new(id: Uuid, kind: MailKind, at: DateTime<Utc>, content: &Content) -> Self {
        Self {
            id,
            kind,
            from: None,
            sender_id: None,
            to: vec![],
            cc: vec![],
            bcc: vec![],
            at,
            subject: content.subject.clone(),
            text: content.text.clone(),
            html: content.html.clone(),
            snippet: content.snippet(),
            attachments: content.attachments.clone(),
            scheduled_for: None,
            reset_token: None,
        }
    }

    /// A notice from the system.
    fn notice(id: Uuid, subject: &str, text: &str, at: DateTime<Utc>) -> Self {
        let content = Content { subject: subject.to_owned(), text: text.to_owned(), html: None, attachments: vec![] };
        Self { from: Some(NOTICE_SENDER.to_owned()), ..Self::new(id, MailKind::Notice, at, &content) }
    }

    fn outgoing(mail: &OutgoingMail, kind: MailKind, sender: Uuid, at: DateTime<Utc>) -> Self {
        let addresses =
            |kind| mail.recipients.iter().filter(|r| r.kind == kind).map(|r| r.address.to_string()).collect();
        Self {
            from: Some(mail.from.to_string()),
            sender_id: Some(sender),
            to: addresses(RecipientKind::To),
            cc: addresses(RecipientKind::Cc),
            bcc: addresses(RecipientKind::Bcc),
            ..Self::new(mail.mail_id, kind, at, &mail.content)
        }
    }

    fn draft(id: Uuid, draft: &Draft, sender: Uuid, at: DateTime<Utc>) -> Self {
        let list = |a: &[MailAddress]| a.iter().map(ToString::to_string).collect();
        Self {
            from: draft.from.as_ref().map(ToString::to_string),
            sender_id: Some(sender),
            to: list(&draft.to),
            cc: list(&draft.cc),
            bcc: list(&draft.bcc),
            ..Self::new(id, MailKind::Draft, at, &draft.content)
        }
    }

    fn incoming(mail: &IncomingMail, at: DateTime<Utc>) -> Self {
        Self {
            from: Some(mail.from.clone()),
            to: mail.to.clone(),
            cc: mail.cc.clone(),
            ..Self::new(mail.mail_id, MailKind::Received, at, &mail.content)
        }
    }

    /// An entry for this mail in `folder`.
    fn entry(&self, folder: Folder, read: bool) -> EntryRow {
        EntryRow {
            mail_id: self.id,
            kind: self.kind,
            folder,
            from: self.from.clone(),
            subject: self.subject.clone(),
            snippet: self.snippet.clone(),
            at: self.at,
            read,
            flagged: false,
            has_attachments: !self.attachments.is_empty(),
            sort: sort_key(self.at, self.id),
        }
    }
}

impl RecipientTracking {
    fn new(recipient: &Recipient, at: DateTime<Utc>) -> Self {
        Self {
            address: recipient.address.clone(),
            kind: recipient.kind,
            user_id: recipient.user,
            state: if recipient.is_internal() { DeliveryState::Delivered } else { DeliveryState::Queued },
            at,
            read_at: None,
            recalled_at: None,
            reply: None,
        }
    }
}

pub struct MailboxesProjector;

/// One event with what every handler needs.
struct MailboxChange<'e> {
    event: &'e RecordedEvent,
    tenant: Uuid,
    owner: Uuid,
    at: DateTime<Utc>,
}

impl MailboxChange<'_> {
    fn fail(&self, reason: impl ToString) -> ProjectionError {
        unreadable(self.event, reason)
    }

    /// Adds `total` and `unread` to the counts of `user`'s `folder`.
    async fn count(
        &self,
        tx: &mut Transaction<'_>,
        user: Uuid,
        folder: Folder,
        total: i64,
        unread: i64,
    ) -> Result<(), ProjectionError> {
        let key = folder_key(self.tenant, user, folder);
        // System folders appear with their first mail.
        let mut row = MAIL_FOLDERS.read(tx, &key).await?.unwrap_or_else(|| FolderRow::empty_system(folder));
        row.total = row.total.saturating_add_signed(total);
        row.unread = row.unread.saturating_add_signed(unread);
        MAIL_FOLDERS.put(tx, key, &row)
    }

    /// Puts `entry` into `user`'s mailbox, replacing any entry for its mail.
    async fn place(&self, tx: &mut Transaction<'_>, user: Uuid, entry: EntryRow) -> Result<(), ProjectionError> {
        self.take_out(tx, user, entry.mail_id).await?;
        // Put every time: rows written before holders were kept gain theirs.
        MAIL_HOLDERS.put(tx, holder_key(self.tenant, entry.mail_id, user), &user)?;
        self.count(tx, user, entry.folder, 1, i64::from(!entry.read)).await?;
        let item = format!("{}{}", folder_items_prefix(self.tenant, user, entry.folder), entry.sort);
        FOLDER_ITEMS.put(tx, item, &entry)?;
        MAIL_ENTRIES.put(tx, entry_key(self.tenant, user, entry.mail_id), &entry)
    }

    /// Takes the entry for `mail` out of `user`'s folder lists; whether
    /// there was one.
    async fn take_out(&self, tx: &mut Transaction<'_>, user: Uuid, mail: Uuid) -> Result<bool, ProjectionError> {
        let key = entry_key(self.tenant, user, mail);
        let Some(old) = MAIL_ENTRIES.read(tx, &key).await? else { return Ok(false) };
        FOLDER_ITEMS.delete(tx, format!("{}{}", folder_items_prefix(self.tenant, user, old.folder), old.sort));
        MAIL_ENTRIES.delete(tx, key);
        self.count(tx, user, old.folder, -1, -i64::from(!old.read)).await?;
        Ok(true)
    }

    /// Takes `mail` out of `user`'s mailbox; the mail's content and
    /// tracking go with the last mailbox that held it.
    async fn remove(&self, tx: &mut Transaction<'_>, user: Uuid, mail: Uuid) -> Result<(), ProjectionError> {
        if !self.take_out(tx, user, mail).await? {
            return Ok(());
        }
        MAIL_HOLDERS.delete(tx, holder_key(self.tenant, mail, user));
        if !MAIL_HOLDERS.any(tx, &holders_prefix(self.tenant, mail)).await? {
            MAILS.delete(tx, mail_key(self.tenant, mail));
            MAIL_TRACKING.delete(tx, mail_key(self.tenant, mail));
        }
        Ok(())
    }

    /// Everything of `user`'s mailbox, for a deleted user (rule U1): their
    /// entries (with the content only they held), folders, lists and
    /// forwarding.
    async fn forget(&self, tx: &mut Transaction<'_>, user: Uuid) -> Result<(), ProjectionError> {
        let mailbox = mailbox_prefix(self.tenant, user);
        for (_, entry) in MAIL_ENTRIES.read_all(tx, &mailbox).await? {
            self.remove(tx, user, entry.mail_id).await?;
        }
        for (key, _) in MAIL_FOLDERS.read_all(tx, &mailbox).await? {
            MAIL_FOLDERS.delete(tx, key);
        }
        for (key, _) in FOLDER_ITEMS.read_all(tx, &mailbox).await? {
            FOLDER_ITEMS.delete(tx, key);
        }
        MAIL_FORWARDING.delete(tx, forwarding_key(self.tenant, user));
        Ok(())
    }

    /// Changes the owner's entry for `mail`, if the mailbox holds it.
    async fn update(
        &self,
        tx: &mut Transaction<'_>,
        mail: Uuid,
        change: impl FnOnce(&mut EntryRow),
    ) -> Result<(), ProjectionError> {
        let Some(mut entry) = MAIL_ENTRIES.read(tx, &entry_key(self.tenant, self.owner, mail)).await? else {
            return Ok(());
        };
        change(&mut entry);
        self.place(tx, self.owner, entry).await
    }

    async fn update_tracking(
        &self,
        tx: &mut Transaction<'_>,
        mail: Uuid,
        change: impl FnMut(&mut RecipientTracking),
    ) -> Result<(), ProjectionError> {
        let key = mail_key(self.tenant, mail);
        let Some(mut row) = MAIL_TRACKING.read(tx, &key).await? else { return Ok(()) };
        row.recipients.iter_mut().for_each(change);
        MAIL_TRACKING.put(tx, key, &row)
    }

    /// A mail and its entry in the owner's `folder`.
    async fn keep(
        &self,
        tx: &mut Transaction<'_>,
        row: &MailRow,
        folder: Folder,
        read: bool,
    ) -> Result<(), ProjectionError> {
        self.place(tx, self.owner, row.entry(folder, read)).await?;
        MAILS.put(tx, mail_key(self.tenant, row.id), row)
    }

    /// A sent or forwarded mail: the sender's copy, the internal
    /// recipients' copies and the tracking rows.
    async fn send(
        &self,
        tx: &mut Transaction<'_>,
        mail: &OutgoingMail,
        kind: MailKind,
        event: &MailboxEvent,
    ) -> Result<(), ProjectionError> {
        if let Some(draft) = mail.draft_id {
            self.remove(tx, self.owner, draft).await?;
            if draft != mail.mail_id {
                MAILS.delete(tx, mail_key(self.tenant, draft));
            }
        }
        let row = MailRow::outgoing(mail, kind, self.owner, self.at);
        let deliveries = event.inbox_deliveries(self.owner);
        // A mail to oneself has one copy, in the inbox.
        if !deliveries.iter().any(|d| d.user == self.owner) {
            self.place(tx, self.owner, row.entry(Folder::Sent, true)).await?;
        }
        for delivery in deliveries {
            self.place(tx, delivery.user, row.entry(Folder::Inbox, false)).await?;
        }
        let recipients = mail.recipients.iter().map(|r| RecipientTracking::new(r, self.at)).collect();
        MAIL_TRACKING.put(tx, mail_key(self.tenant, mail.mail_id), &TrackingRow { recipients })?;
        MAILS.put(tx, mail_key(self.tenant, mail.mail_id), &row)
    }

    async fn apply(&self, tx: &mut Transaction<'_>, event: &MailboxEvent) -> Result<(), ProjectionError> {
        let (tenant, owner, at) = (self.tenant, self.owner, self.at);
        match event {
            MailboxEvent::DraftSaved { draft_id, draft } => {
                self.keep(tx, &MailRow::draft(*draft_id, draft, owner, at), Folder::Drafts, true).await?;
            }
            MailboxEvent::DraftDeleted { draft_id } => {
                self.remove(tx, owner, *draft_id).await?;
                MAILS.delete(tx, mail_key(tenant, *draft_id));
            }
            MailboxEvent::MailSent { mail, .. } => {
                self.remove(tx, owner, mail.mail_id).await?;
                self.send(tx, mail, MailKind::Sent, event).await?;
            }
            MailboxEvent::MailScheduled { mail, due, .. } => {
                if let Some(draft) = mail.draft_id {
                    self.remove(tx, owner, draft).await?;
                }
                let row =
                    MailRow { scheduled_for: Some(*due), ..MailRow::outgoing(mail, MailKind::Scheduled, owner, at) };
                self.keep(tx, &row, Folder::Scheduled, true).await?;
            }
            MailboxEvent::ScheduleCancelled { mail_id, draft } => {
                self.keep(tx, &MailRow::draft(*mail_id, draft, owner, at), Folder::Drafts, true).await?;
            }
            MailboxEvent::MailRecalled { mail_id, recipients } => {
                for user in recipients {
                    self.remove(tx, *user, *mail_id).await?;
                }
                self.update_tracking(tx, *mail_id, |r| {
                    if r.user_id.is_some_and(|u| recipients.contains(&u)) {
                        r.state = DeliveryState::Recalled;
                        r.recalled_at = Some(at);
                    }
                })
                .await?;
            }
            MailboxEvent::DeliveryReported { mail_id, address, report } => {
                let (state, reply) = match report {
                    DeliveryReport::Sent { reply } => (DeliveryState::Sent, reply),
                    DeliveryReport::Failed { reply } => (DeliveryState::Failed, reply),
                };
                self.update_tracking(tx, *mail_id, |r| {
                    if r.address == *address && r.user_id.is_none() {
                        r.state = state;
                        r.reply = Some(reply.clone());
                        r.at = at;
                    }
                })
                .await?;
            }
            MailboxEvent::QuotaResetOffered { token, day, notice_id } => {
                let text = domain::mail::quota_notice_text(*token, *day);
                let row = MailRow {
                    reset_token: Some(*token),
                    ..MailRow::notice(*notice_id, domain::mail::QUOTA_NOTICE_SUBJECT, &text, at)
                };
                self.keep(tx, &row, Folder::Inbox, false).await?;
            }
            MailboxEvent::NoticeDelivered { notice_id, subject, text } => {
                self.keep(tx, &MailRow::notice(*notice_id, subject, text, at), Folder::Inbox, false).await?;
            }
            MailboxEvent::MailReceived { mail, .. } => {
                self.keep(tx, &MailRow::incoming(mail, at), Folder::Inbox, false).await?;
            }
            MailboxEvent::MailForwarded { mail, source, keep_copy, .. } => {
                if !keep_copy {
                    self.remove(tx, owner, *source).await?;
                }
                self.send(tx, mail, MailKind::Forwarded, event).await?;
            }
            MailboxEvent::MarkedRead { mail_id, read } => {
                self.update(tx, *mail_id, |e| e.read = *read).await?;
                if *read {
                    self.update_tracking(tx, *mail_id, |r| {
                        if r.user_id == Some(owner) && r.state == DeliveryState::Delivered {
                            r.state = DeliveryState::Read;
                            r.read_at = Some(at);
                        }
                    })
                    .await?;
                }
            }
            MailboxEvent::Flagged { mail_id, flagged } => {
                self.update(tx, *mail_id, |e| e.flagged = *flagged).await?;
            }
            MailboxEvent::Moved { mail_ids, to } => {
                for mail in mail_ids {
                    self.update(tx, *mail, |e| e.folder = *to).await?;
                }
            }
            MailboxEvent::Purged { mail_ids } => {
                for mail in mail_ids {
                    self.remove(tx, owner, *mail).await?;
                }
            }
            MailboxEvent::FolderCreated { folder_id, name } => {
                let folder = Folder::User(*folder_id);
                let row = FolderRow { id: folder, name: name.clone(), system: false, total: 0, unread: 0 };
                MAIL_FOLDERS.put(tx, folder_key(tenant, owner, folder), &row)?;
            }
            MailboxEvent::FolderRenamed { folder_id, name } => {
                let key = folder_key(tenant, owner, Folder::User(*folder_id));
                let mut row =
                    MAIL_FOLDERS.read(tx, &key).await?.ok_or_else(|| self.fail(format!("no folder {folder_id}")))?;
                row.name.clone_from(name);
                MAIL_FOLDERS.put(tx, key, &row)?;
            }
            MailboxEvent::FolderDeleted { folder_id } => {
                MAIL_FOLDERS.delete(tx, folder_key(tenant, owner, Folder::User(*folder_id)));
            }
            MailboxEvent::ForwardingSet { forwarding } => {
                let row = ForwardingRow {
                    addresses: forwarding.to.iter().map(|r| r.address.to_string()).collect(),
                    keep_copy: forwarding.keep_copy,
                    admin_only: forwarding.admin_only,
                    at,
                };
                MAIL_FORWARDING.put(tx, forwarding_key(tenant, owner), &row)?;
            }
            MailboxEvent::QuotaReset { .. } => {}
        }
        Ok(())
    }
}

#[async_trait]
impl Projector for MailboxesProjector {
    fn name(&self) -> &'static str {
        PROJECTOR
    }

    fn tables(&self) -> &'static [&'static str] {
        const TABLES: &[&str] = &[
            MAILS.name(),
            MAIL_ENTRIES.name(),
            FOLDER_ITEMS.name(),
            MAIL_FOLDERS.name(),
            MAIL_TRACKING.name(),
            MAIL_FORWARDING.name(),
            MAIL_HOLDERS.name(),
        ];
        TABLES
    }

    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError> {
        if event.category() == domain::tenant::Tenant::CATEGORY {
            let tenant = event.metadata.tenant.ok_or_else(|| unreadable(event, "no tenant in metadata"))?;
            if let Ok(TenantEvent::UserDeleted { user_id }) = event.decode::<TenantEvent>() {
                let change = MailboxChange { event, tenant, owner: user_id, at: event.metadata.occurred_at };
                change.forget(tx, user_id).await?;
            }
            return Ok(());
        }
        if event.category() != domain::mail::Mailbox::CATEGORY {
            return Ok(());
        }
        let tenant = event.metadata.tenant.ok_or_else(|| unreadable(event, "no tenant in metadata"))?;
        let owner = event.stream_id().ok_or_else(|| unreadable(event, "the stream is not a mailbox"))?;
        let decoded = event.decode::<MailboxEvent>().map_err(|e| unreadable(event, e))?;
        MailboxChange { event, tenant, owner, at: event.metadata.occurred_at }.apply(tx, &decoded).await
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use domain::DomainEvent;
    use domain::mail::message::DEFAULT_ATTACHMENT_LIMIT;
    use store::Metadata;

    use super::*;
    use crate::MemoryReadModels;

    const TENANT: Uuid = Uuid::from_u128(1);
    const KIM: Uuid = Uuid::from_u128(2);
    const LEE: Uuid = Uuid::from_u128(3);
    const MAIL: Uuid = Uuid::from_u128(10);

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
    }

    /// A store and how many events it has applied.
    #[derive(Default)]
    struct Projected {
        store: MemoryReadModels,
        position: u64,
    }

    impl Projected {
        /// Applies `event` of `owner`'s mailbox as one batch.
        async fn apply(&mut self, owner: Uuid, event: MailboxEvent) {
            let (from, to) = (self.position, self.position + 1);
            let occurred_at = at("2026-11-26T09:00:00+09:00");
            let recorded = RecordedEvent {
                id: Uuid::from_u128(u128::from(to)),
                stream: format!("mailbox-{owner}"),
                version: from,
                position: to,
                event_type: event.event_type().to_owned(),
                schema_version: 1,
                data: serde_json::to_vec(&event).unwrap(),
                metadata: Metadata { tenant: Some(TENANT), occurred_at, ..Metadata::default() },
                recorded_at: occurred_at,
                chain: None,
            };
            let mut tx = Transaction::new(&self.store);
            MailboxesProjector.apply(&recorded, &mut tx).await.unwrap();
            self.store.commit(PROJECTOR, tx.into_changes(), from, to).await.unwrap();
            self.position = to;
        }

        async fn entry(&self, user: Uuid) -> Option<EntryRow> {
            entry(&self.store, TENANT, user, MAIL).await.unwrap()
        }

        /// A folder's total and unread counts.
        async fn counts(&self, user: Uuid, folder: Folder) -> (u64, u64) {
            let row = super::folder(&self.store, TENANT, user, folder).await.unwrap();
            row.map_or((0, 0), |f| (f.total, f.unread))
        }

        async fn states(&self) -> Vec<DeliveryState> {
            tracking(&self.store, TENANT, MAIL).await.unwrap().into_iter().map(|r| r.state).collect()
        }
    }

    fn address(s: &str) -> MailAddress {
        MailAddress::parse(s).unwrap()
    }

    /// Kim's mail to Lee, with an external Cc.
    fn sent() -> MailboxEvent {
        let recipients = vec![
            Recipient { address: address("lee@example.com"), kind: RecipientKind::To, user: Some(LEE) },
            Recipient { address: address("friend@elsewhere.org"), kind: RecipientKind::Cc, user: None },
        ];
        let content = Content::parse("Budget", "the quarterly budget", None, vec![], DEFAULT_ATTACHMENT_LIMIT).unwrap();
        let mail =
            OutgoingMail { mail_id: MAIL, from: address("kim@example.com"), recipients, content, draft_id: None };
        MailboxEvent::MailSent { mail, sent_at: at("2026-11-26T09:00:00+09:00"), quota: None }
    }

    // rule E8: a sent mail is in the sender's Sent folder and the internal
    // recipient's inbox, and the folders count it.
    #[tokio::test]
    async fn rule_e8_a_sent_mail_is_filed_in_both_mailboxes() {
        let mut projected = Projected::default();
        projected.apply(KIM, sent()).await;
        let kims = projected.entry(KIM).await.unwrap();
        assert_eq!((kims.kind, kims.folder, kims.read), (MailKind::Sent, Folder::Sent, true));
        let lees = projected.entry(LEE).await.unwrap();
        assert_eq!((lees.kind, lees.folder, lees.read), (MailKind::Sent, Folder::Inbox, false));
        assert_eq!(projected.counts(KIM, Folder::Sent).await, (1, 0));
        assert_eq!(projected.counts(LEE, Folder::Inbox).await, (1, 1));
        let listed = folder_entries(&projected.store, TENANT, LEE, Folder::Inbox, 10).await.unwrap();
        assert_eq!(listed, vec![lees]);
        let content = mail(&projected.store, TENANT, MAIL).await.unwrap().unwrap();
        assert_eq!((content.sender_id, content.cc), (Some(KIM), vec!["friend@elsewhere.org".to_owned()]));
    }

    // rule E8: moving an entry moves its counts with it.
    #[tokio::test]
    async fn rule_e8_a_moved_mail_counts_in_its_new_folder() {
        let mut projected = Projected::default();
        projected.apply(KIM, sent()).await;
        projected.apply(LEE, MailboxEvent::Moved { mail_ids: vec![MAIL], to: Folder::Trash }).await;
        assert_eq!(projected.entry(LEE).await.unwrap().folder, Folder::Trash);
        assert_eq!(projected.counts(LEE, Folder::Inbox).await, (0, 0));
        assert_eq!(projected.counts(LEE, Folder::Trash).await, (1, 1));
        assert!(folder_entries(&projected.store, TENANT, LEE, Folder::Inbox, 10).await.unwrap().is_empty());
    }

    // rules E3, E4: the sender's tracking follows reading, the relay and
    // recall, recipient by recipient.
    #[tokio::test]
    async fn rules_e3_e4_tracking_follows_each_recipient() {
        let mut projected = Projected::default();
        projected.apply(KIM, sent()).await;
        assert_eq!(projected.states().await, vec![DeliveryState::Delivered, DeliveryState::Queued]);
        projected.apply(LEE, MailboxEvent::MarkedRead { mail_id: MAIL, read: true }).await;
        let report = DeliveryReport::Sent { reply: "250 ok".into() };
        let address = address("friend@elsewhere.org");
        projected.apply(KIM, MailboxEvent::DeliveryReported { mail_id: MAIL, address, report }).await;
        assert_eq!(projected.states().await, vec![DeliveryState::Read, DeliveryState::Sent]);
        assert_eq!(projected.counts(LEE, Folder::Inbox).await, (1, 0));
        projected.apply(KIM, MailboxEvent::MailRecalled { mail_id: MAIL, recipients: vec![LEE] }).await;
        assert_eq!(projected.states().await, vec![DeliveryState::Recalled, DeliveryState::Sent]);
        assert_eq!(projected.entry(LEE).await, None);
        assert_eq!(projected.counts(LEE, Folder::Inbox).await, (0, 0));
    }

    // rule E1: the daily-limit notice is a system mail in the inbox with
    // the domain's words and the one-time token.
    #[tokio::test]
    async fn rule_e1_the_quota_notice_lands_in_the_inbox() {
        let mut projected = Projected::default();
        let (token, day) = (Uuid::from_u128(7), NaiveDate::from_ymd_opt(2026, 11, 26).unwrap());
        projected.apply(KIM, MailboxEvent::QuotaResetOffered { token, day, notice_id: MAIL }).await;
        let entry = projected.entry(KIM).await.unwrap();
        assert_eq!((entry.kind, entry.folder, entry.read), (MailKind::Notice, Folder::Inbox, false));
        let notice = mail(&projected.store, TENANT, MAIL).await.unwrap().unwrap();
        assert_eq!(notice.from.as_deref(), Some(NOTICE_SENDER));
        assert_eq!(notice.reset_token, Some(token));
        assert_eq!(notice.text, domain::mail::quota_notice_text(token, day));
    }

    #[test]
    fn kinds_and_states_keep_their_stored_names() {
        assert_eq!(serde_json::to_value(MailKind::Forwarded).unwrap(), "forwarded");
        assert_eq!(MailKind::Notice.as_str(), "notice");
        assert_eq!(serde_json::to_value(DeliveryState::Recalled).unwrap(), "recalled");
    }
}
