//! The GraphQL types of webmail, read from the mailboxes read model.

use async_graphql::{ComplexObject, Context, Enum, InputObject, Result, SimpleObject};
use chrono::{DateTime, Utc};
use projections::projectors::{MAIL_TRACKING, mail_key};
use serde::Deserialize;
use uuid::Uuid;

use crate::errors::ApiError;
use crate::schema::services;

/// A folder with its counts (rule E8).
#[derive(SimpleObject, Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailFolder {
    /// `inbox`, `sent`, `drafts`, `scheduled`, `trash`, or a user folder's id.
    pub id: String,
    pub name: String,
    /// One of the five folders every mailbox has.
    pub system: bool,
    pub total: i64,
    pub unread: i64,
}

impl MailFolder {
    pub fn empty_system(folder: domain::mail::Folder) -> Self {
        let name = folder.system_name().unwrap_or_default().to_owned();
        Self { id: folder.to_string(), name, system: true, total: 0, unread: 0 }
    }
}

/// One mail in a folder's list.
#[derive(SimpleObject, Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[graphql(complex)]
pub struct MailSummary {
    #[serde(rename = "mailId")]
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
    #[serde(skip)]
    pub tenant: Uuid,
}

#[ComplexObject]
impl MailSummary {
    /// Rule E4: per recipient, for mail the caller sent.
    async fn tracking(&self, ctx: &Context<'_>) -> Result<Option<Vec<RecipientStatus>>> {
        if !matches!(self.kind.as_str(), "sent" | "forwarded") || self.folder != "sent" {
            return Ok(None);
        }
        Ok(Some(tracking(ctx, self.tenant, self.id).await?))
    }
}

/// Where one recipient's copy is (rules E3, E4).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

#[derive(SimpleObject, Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
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

impl RecipientStatus {
    pub fn internal(&self) -> bool {
        self.user_id.is_some()
    }
}

#[ComplexObject]
impl Mail {
    /// Rule E4: per recipient, for mail the caller sent.
    async fn tracking(&self, ctx: &Context<'_>) -> Result<Option<Vec<RecipientStatus>>> {
        if !self.is_sender || !matches!(self.kind.as_str(), "sent" | "forwarded") {
            return Ok(None);
        }
        Ok(Some(tracking(ctx, self.tenant, self.id).await?))
    }
}

pub async fn tracking(ctx: &Context<'_>, tenant: Uuid, mail: Uuid) -> crate::errors::ApiResult<Vec<RecipientStatus>> {
    let row = services(ctx).read_models().get(MAIL_TRACKING, &mail_key(tenant, mail)).await?;
    let Some(row) = row else { return Ok(vec![]) };
    serde_json::from_value(row["recipients"].clone()).map_err(ApiError::internal)
}

/// A file attached to a mail; `id` is its SHA-256 digest.
#[derive(SimpleObject, Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentInfo {
    #[serde(rename = "sha256")]
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
}

/// A mail in full.
#[derive(SimpleObject, Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[graphql(complex)]
pub struct Mail {
    pub id: Uuid,
    pub kind: String,
    #[serde(default)]
    pub folder: String,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// Only the sender sees Bcc recipients.
    pub bcc: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentInfo>,
    pub at: DateTime<Utc>,
    pub scheduled_for: Option<DateTime<Utc>>,
    #[serde(default)]
    pub read: bool,
    #[serde(default)]
    pub flagged: bool,
    #[graphql(skip)]
    #[serde(default)]
    pub sender_id: Option<Uuid>,
    #[graphql(skip)]
    #[serde(skip)]
    pub is_sender: bool,
    #[graphql(skip)]
    #[serde(skip)]
    pub tenant: Uuid,
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
#[derive(SimpleObject, Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailForwarding {
    pub addresses: Vec<String>,
    pub keep_copy: bool,
    /// Set by an admin; the user cannot change it.
    pub admin_only: bool,
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
