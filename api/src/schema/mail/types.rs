//! The GraphQL types of webmail, made from the mailboxes read model.

use async_graphql::{ComplexObject, Context, Enum, InputObject, Result, SimpleObject};
use chrono::{DateTime, Utc};
use domain::mail::{Attachment, Folder};
use projections::projectors::mailboxes::{self, EntryRow, FolderRow, ForwardingRow, MailRow, RecipientTracking};
use uuid::Uuid;

use crate::errors::ApiResult;
use crate::schema::backend;

/// A folder with its counts (rule E8).
#[derive(SimpleObject, Debug, Clone)]
pub struct MailFolder {
    /// `inbox`, `sent`, `drafts`, `scheduled`, `trash`, or a user folder's id.
    pub id: String,
    pub name: String,
    /// One of the five folders every mailbox has.
    pub system: bool,
    pub total: i64,
    pub unread: i64,
}

impl From<FolderRow> for MailFolder {
    fn from(row: FolderRow) -> Self {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Self {
            id: row.id.to_string(),
            name: row.name,
            system: row.system,
            total: count(row.total),
            unread: count(row.unread),
        }
    }
}

/// One mail in a folder's list.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct MailSummary {
    pub id: Uuid,
    /// `sent`, `forwarded`, `received`, `draft`, `scheduled` or `notice`.
    pub kind: String,
    pub folder: String,
    pub from: Option<String>,
    pub subject: String,
    pub snippet: String,
    /// When it was sent, received, saved or scheduled.
    pub at: DateTime<Utc>,
    pub read: bool,
    pub flagged: bool,
    pub has_attachments: bool,
    #[graphql(skip)]
    pub tenant: Uuid,
    /// Whether this is the sender's copy of a mail that left, which the
    /// sender tracks (rule E4).
    #[graphql(skip)]
    pub outgoing: bool,
}

impl MailSummary {
    /// The summary of an entry of a mailbox of `tenant`.
    pub fn new(tenant: Uuid, entry: EntryRow) -> Self {
        Self {
            id: entry.mail_id,
            kind: entry.kind.as_str().to_owned(),
            folder: entry.folder.to_string(),
            from: entry.from,
            subject: entry.subject,
            snippet: entry.snippet,
            at: entry.at,
            read: entry.read,
            flagged: entry.flagged,
            has_attachments: entry.has_attachments,
            tenant,
            outgoing: entry.kind.is_outgoing() && entry.folder == Folder::Sent,
        }
    }
}

#[ComplexObject]
impl MailSummary {
    /// Rule E4: per recipient, for mail the caller sent.
    async fn tracking(&self, ctx: &Context<'_>) -> Result<Option<Vec<RecipientStatus>>> {
        if !self.outgoing {
            return Ok(None);
        }
        Ok(Some(tracking(ctx, self.tenant, self.id).await?))
    }
}

/// Where one recipient's copy is (rules E3, E4).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "mailboxes::DeliveryState")]
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

#[derive(SimpleObject, Debug, Clone)]
pub struct RecipientStatus {
    pub address: String,
    /// `to`, `cc` or `bcc`.
    pub kind: String,
    /// The tenant's own user, for internal recipients.
    pub user_id: Option<Uuid>,
    pub state: DeliveryState,
    pub read_at: Option<DateTime<Utc>>,
    pub recalled_at: Option<DateTime<Utc>>,
    /// The relay's answer, for external recipients.
    pub reply: Option<String>,
}

impl From<RecipientTracking> for RecipientStatus {
    fn from(row: RecipientTracking) -> Self {
        Self {
            address: row.address.to_string(),
            kind: row.kind.as_str().to_owned(),
            user_id: row.user_id,
            state: row.state.into(),
            read_at: row.read_at,
            recalled_at: row.recalled_at,
            reply: row.reply,
        }
    }
}

#[ComplexObject]
impl Mail {
    /// Rule E4: per recipient, for mail the caller sent.
    async fn tracking(&self, ctx: &Context<'_>) -> Result<Option<Vec<RecipientStatus>>> {
        if !self.outgoing {
            return Ok(None);
        }
        Ok(Some(tracking(ctx, self.tenant, self.id).await?))
    }
}

/// Where each recipient's copy of `mail` is.
async fn tracking(ctx: &Context<'_>, tenant: Uuid, mail: Uuid) -> ApiResult<Vec<RecipientStatus>> {
    let rows = mailboxes::tracking(backend(ctx).read_models(), tenant, mail).await?;
    Ok(rows.into_iter().map(RecipientStatus::from).collect())
}

/// A file attached to a mail; `id` is its SHA-256 digest.
#[derive(SimpleObject, Debug, Clone)]
pub struct AttachmentInfo {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
}

impl From<Attachment> for AttachmentInfo {
    fn from(a: Attachment) -> Self {
        Self { id: a.sha256, name: a.name, content_type: a.content_type, size: a.size }
    }
}

/// A mail in full.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Mail {
    pub id: Uuid,
    pub kind: String,
    pub folder: String,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// Only the sender sees Bcc recipients.
    pub bcc: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<AttachmentInfo>,
    pub at: DateTime<Utc>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub read: bool,
    pub flagged: bool,
    #[graphql(skip)]
    pub tenant: Uuid,
    /// Whether `reader` sent this mail to its recipients: they track it
    /// (rule E4) and may recall it (rule E3).
    #[graphql(skip)]
    pub outgoing: bool,
}

impl Mail {
    /// The mail as `reader` of `tenant` sees it, with `entry` of their
    /// mailbox: only its sender sees its Bcc recipients.
    pub fn new(tenant: Uuid, reader: Uuid, row: MailRow, entry: &EntryRow) -> Self {
        let is_sender = row.sender_id == Some(reader);
        Self {
            id: row.id,
            kind: row.kind.as_str().to_owned(),
            folder: entry.folder.to_string(),
            from: row.from,
            to: row.to,
            cc: row.cc,
            bcc: if is_sender { row.bcc } else { vec![] },
            subject: row.subject,
            text: row.text,
            html: row.html,
            attachments: row.attachments.into_iter().map(AttachmentInfo::from).collect(),
            at: row.at,
            scheduled_for: row.scheduled_for,
            read: entry.read,
            flagged: entry.flagged,
            tenant,
            outgoing: is_sender && row.kind.is_outgoing(),
        }
    }
}

/// What a recall did (rule E3).
#[derive(SimpleObject, Debug, Clone)]
pub struct RecallResult {
    pub mail_id: Uuid,
    /// Internal recipients the mail was taken back from now.
    pub recalled: Vec<String>,
    /// Internal recipients it had been taken back from before.
    pub already_recalled: Vec<String>,
    /// External recipients: their copies have left the company.
    pub not_recallable: Vec<String>,
}

/// A user's forwarding (rule E5).
#[derive(SimpleObject, Debug, Clone, Default)]
pub struct MailForwarding {
    pub addresses: Vec<String>,
    pub keep_copy: bool,
    /// Set by an admin; the user cannot change it.
    pub admin_only: bool,
}

impl From<ForwardingRow> for MailForwarding {
    fn from(row: ForwardingRow) -> Self {
        Self { addresses: row.addresses, keep_copy: row.keep_copy, admin_only: row.admin_only }
    }
}

/// A DNS record a domain needs (rule T3).
#[derive(SimpleObject, Debug, Clone)]
pub struct DnsRecord {
    /// `MX`, `TXT` or `CNAME`.
    pub kind: String,
    pub name: String,
    pub value: String,
    pub priority: Option<u16>,
}

/// One of the company's mail domains (rule T3).
#[derive(SimpleObject, Debug, Clone)]
pub struct MailDomain {
    pub name: String,
    pub primary: bool,
    pub records: Vec<DnsRecord>,
}

/// A file uploaded before it is attached.
#[derive(InputObject, Debug, Clone)]
pub struct AttachmentInput {
    /// The id `uploadAttachment` returned (the file's SHA-256 digest).
    pub id: String,
    pub name: String,
    #[graphql(default_with = "String::from(\"application/octet-stream\")")]
    pub content_type: String,
}

/// A mail to compose: to send now, to schedule, or to keep as a draft.
#[derive(InputObject, Debug, Clone)]
pub struct ComposeInput {
    /// Which of the company's domains appears in From (rule T3); the
    /// primary one when not given. The local part is always the sender's ID.
    pub from_domain: Option<String>,
    #[graphql(default)]
    pub to: Vec<String>,
    #[graphql(default)]
    pub cc: Vec<String>,
    #[graphql(default)]
    pub bcc: Vec<String>,
    #[graphql(default)]
    pub subject: String,
    #[graphql(default)]
    pub text: String,
    pub html: Option<String>,
    #[graphql(default)]
    pub attachments: Vec<AttachmentInput>,
}
