//! A user's mailbox: everything the user does with mail, and what the system
//! does on their behalf (scheduled delivery, forwarding, delivery reports).
//!
//! One stream per user. A sent mail is one event on its sender's stream;
//! internal recipients' inboxes are read models built from it, so sending
//! costs one append whatever the number of recipients. What a recipient then
//! does with their copy (read, move, flag, delete) is an event on the
//! recipient's own stream. The rules that need a consistent count — the
//! daily quota (E1), the recall window (E3), the forwarding loop guard (E5) —
//! all live on the one stream they count.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::MailAddress;
use super::message::{Content, Draft, Folder, OutgoingMail, QuotaUse, Recipient, RecipientKind};
use crate::values::TimeZone;
use crate::{Actor, Aggregate, DomainError, DomainEvent, Sealing};

/// Rule E1: recipients of one send.
pub const MAX_RECIPIENTS: usize = 100;
/// Rule E1: recipient deliveries per user per day.
pub const DAILY_DELIVERIES: u32 = 500;
/// Rule E5: forwarding addresses per user.
pub const MAX_FORWARDING: usize = 20;
/// The longest name of a user folder.
const MAX_FOLDER_NAME: usize = 100;

/// Rule E1: the subject of the notice that offers the one-time reset.
pub const QUOTA_NOTICE_SUBJECT: &str = "Your daily sending limit is reached";

/// Rule E1: the ids of the reset a mail over the daily limit offers: the
/// one-time token and the notice that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetOffer {
    pub token: Uuid,
    pub notice_id: Uuid,
}

/// Rule E1: the refusal of a mail over the daily limit.
pub fn daily_limit_reached() -> DomainError {
    DomainError::LimitExceeded(format!(
        "the daily limit of {DAILY_DELIVERIES} recipient deliveries is reached; it resets at midnight, \
         or use the reset link sent to your inbox"
    ))
    .by_rule("E1")
}

/// Rule E1: the text of the notice that offers the one-time reset `token`
/// on `day`, the day whose limit was reached.
pub fn quota_notice_text(token: Uuid, day: NaiveDate) -> String {
    format!(
        "You have sent to {DAILY_DELIVERIES} recipients today ({day}), the daily limit. The limit resets at midnight. \
         To send more today, use this one-time reset link: /mail/reset-quota?token={token} \
         (or the resetSendQuota mutation with token \"{token}\"). It is valid until midnight."
    )
}

/// Rule E3: how long after sending a mail can be recalled.
pub fn recall_window() -> Duration {
    Duration::hours(24)
}

/// How long a mailbox remembers the mails it forwarded (by root), so that
/// a loop between users who forward to each other ends after one round
/// (rule E5): a round takes moments; a month is the horizon.
pub fn forwarding_guard() -> Duration {
    Duration::days(30)
}

/// Where a user's incoming mail is forwarded (rule E5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Forwarding {
    /// The forwarding user's address, the From of forwarded copies.
    pub from: Option<MailAddress>,
    /// The addresses, resolved like a send's recipients; empty: off.
    pub to: Vec<Recipient>,
    /// Whether the user keeps their own copy.
    pub keep_copy: bool,
    /// Set by an admin: the user cannot change it.
    pub admin_only: bool,
}

/// A mail from outside, as the inbound endpoint parsed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncomingMail {
    pub mail_id: Uuid,
    /// The From header as sent.
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub content: Content,
}

/// What the relay answered for one external recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum DeliveryReport {
    Sent { reply: String },
    Failed { reply: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct MailboxCommand {
    /// The user whose mailbox this is (the stream's id).
    pub owner: Uuid,
    pub action: MailboxAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MailboxAction {
    SaveDraft {
        draft_id: Uuid,
        draft: Draft,
    },
    DeleteDraft {
        draft_id: Uuid,
    },
    /// Rule E1. `time_zone` is the tenant's, for the daily count; `offer`
    /// names the reset offered if the mail is over the daily limit.
    Send {
        mail: OutgoingMail,
        time_zone: TimeZone,
        offer: ResetOffer,
    },
    /// Rule E2 (and E1, as [`MailboxAction::Send`]).
    Schedule {
        mail: OutgoingMail,
        due: DateTime<Utc>,
        time_zone: TimeZone,
        offer: ResetOffer,
    },
    /// Rule E2: only before its time.
    CancelScheduled {
        mail_id: Uuid,
    },
    /// The scheduler: a scheduled mail's time has come.
    DeliverScheduled {
        mail_id: Uuid,
    },
    /// Rule E3: `None` recalls from every internal recipient.
    Recall {
        mail_id: Uuid,
        recipients: Option<BTreeSet<Uuid>>,
    },
    /// The outbox: how delivery to an external recipient ended.
    ReportDelivery {
        mail_id: Uuid,
        address: MailAddress,
        report: DeliveryReport,
    },
    /// Rule E1: the reset restores the full count for the day.
    ResetQuota {
        token: Uuid,
        time_zone: TimeZone,
    },
    /// Rule E1: after a refusal for the daily limit, the user gets a notice
    /// with a one-time reset token, once a day.
    OfferQuotaReset {
        offer: ResetOffer,
        time_zone: TimeZone,
    },
    /// A notice from the system (a recalled approval document, for one).
    DeliverNotice {
        notice_id: Uuid,
        subject: String,
        text: String,
    },
    /// A mail from outside for this user.
    Receive {
        mail: IncomingMail,
    },
    /// Rule E5: forward an incoming mail. `root` is the mail the chain of
    /// forwards started from.
    Forward {
        mail_id: Uuid,
        source: Uuid,
        root: Uuid,
        content: Content,
    },
    MarkRead {
        mail_id: Uuid,
        read: bool,
    },
    Flag {
        mail_id: Uuid,
        flagged: bool,
    },
    /// Rule E8: drafts and scheduled mail stay where they are. The caller
    /// has checked that the mails are in this mailbox.
    Move {
        mail_ids: Vec<Uuid>,
        to: Folder,
    },
    /// Permanent deletion (from the trash).
    Purge {
        mail_ids: Vec<Uuid>,
    },
    CreateFolder {
        folder_id: Uuid,
        name: String,
    },
    RenameFolder {
        folder_id: Uuid,
        name: String,
    },
    /// `mail_count` is what the folder holds now.
    DeleteFolder {
        folder_id: Uuid,
        mail_count: usize,
    },
    /// Rule E5. `by_admin` when an admin of the tenant sets it.
    SetForwarding {
        forwarding: Forwarding,
        by_admin: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum MailboxEvent {
    #[serde(rename = "DraftSaved")]
    DraftSaved { draft_id: Uuid, draft: Draft },
    #[serde(rename = "DraftDeleted")]
    DraftDeleted { draft_id: Uuid },
    #[serde(rename = "MailSent")]
    MailSent {
        mail: OutgoingMail,
        sent_at: DateTime<Utc>,
        /// The day the deliveries count on; none when counted at scheduling.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quota: Option<QuotaUse>,
    },
    #[serde(rename = "MailScheduled")]
    MailScheduled { mail: OutgoingMail, due: DateTime<Utc>, quota: QuotaUse },
    #[serde(rename = "ScheduledMailCancelled")]
    ScheduleCancelled { mail_id: Uuid, draft: Draft },
    #[serde(rename = "MailRecalled")]
    MailRecalled { mail_id: Uuid, recipients: Vec<Uuid> },
    #[serde(rename = "ExternalDeliveryReported")]
    DeliveryReported { mail_id: Uuid, address: MailAddress, report: DeliveryReport },
    #[serde(rename = "SendQuotaResetOffered")]
    QuotaResetOffered { token: Uuid, day: NaiveDate, notice_id: Uuid },
    #[serde(rename = "SendQuotaReset")]
    QuotaReset { token: Uuid, day: NaiveDate },
    #[serde(rename = "NoticeDelivered")]
    NoticeDelivered { notice_id: Uuid, subject: String, text: String },
    #[serde(rename = "MailReceived")]
    MailReceived { mail: IncomingMail, received_at: DateTime<Utc> },
    #[serde(rename = "MailForwarded")]
    MailForwarded { mail: OutgoingMail, source: Uuid, root: Uuid, keep_copy: bool, sent_at: DateTime<Utc> },
    #[serde(rename = "MailMarkedRead")]
    MarkedRead { mail_id: Uuid, read: bool },
    #[serde(rename = "MailFlagged")]
    Flagged { mail_id: Uuid, flagged: bool },
    #[serde(rename = "MailsMoved")]
    Moved { mail_ids: Vec<Uuid>, to: Folder },
    #[serde(rename = "MailsPurged")]
    Purged { mail_ids: Vec<Uuid> },
    #[serde(rename = "MailFolderCreated")]
    FolderCreated { folder_id: Uuid, name: String },
    #[serde(rename = "MailFolderRenamed")]
    FolderRenamed { folder_id: Uuid, name: String },
    #[serde(rename = "MailFolderDeleted")]
    FolderDeleted { folder_id: Uuid },
    #[serde(rename = "ForwardingSet")]
    ForwardingSet { forwarding: Forwarding },
}

impl DomainEvent for MailboxEvent {
    fn event_type(&self) -> &'static str {
        match self {
            MailboxEvent::DraftSaved { .. } => "DraftSaved",
            MailboxEvent::DraftDeleted { .. } => "DraftDeleted",
            MailboxEvent::MailSent { .. } => "MailSent",
            MailboxEvent::MailScheduled { .. } => "MailScheduled",
            MailboxEvent::ScheduleCancelled { .. } => "ScheduledMailCancelled",
            MailboxEvent::MailRecalled { .. } => "MailRecalled",
            MailboxEvent::DeliveryReported { .. } => "ExternalDeliveryReported",
            MailboxEvent::QuotaResetOffered { .. } => "SendQuotaResetOffered",
            MailboxEvent::QuotaReset { .. } => "SendQuotaReset",
            MailboxEvent::NoticeDelivered { .. } => "NoticeDelivered",
            MailboxEvent::MailReceived { .. } => "MailReceived",
            MailboxEvent::MailForwarded { .. } => "MailForwarded",
            MailboxEvent::MarkedRead { .. } => "MailMarkedRead",
            MailboxEvent::Flagged { .. } => "MailFlagged",
            MailboxEvent::Moved { .. } => "MailsMoved",
            MailboxEvent::Purged { .. } => "MailsPurged",
            MailboxEvent::FolderCreated { .. } => "MailFolderCreated",
            MailboxEvent::FolderRenamed { .. } => "MailFolderRenamed",
            MailboxEvent::FolderDeleted { .. } => "MailFolderDeleted",
            MailboxEvent::ForwardingSet { .. } => "ForwardingSet",
        }
    }

    /// A mail sent or forwarded to colleagues is theirs too: it is sealed
    /// with the company's mail key, so that deleting its sender (rule U1) leaves
    /// the copies in the colleagues' mailboxes — and so is its recall,
    /// which takes those copies back. Everything else in a mailbox (a mail
    /// to oneself included) is its owner's alone.
    fn sealing(&self, owner: Uuid) -> Option<Sealing> {
        match self {
            MailboxEvent::MailSent { mail, .. } | MailboxEvent::MailForwarded { mail, .. }
                if mail.internal_users().any(|user| user != owner) =>
            {
                Some(Sealing::CompanyMail)
            }
            MailboxEvent::MailRecalled { .. } => Some(Sealing::CompanyMail),
            _ => None,
        }
    }
}

/// A mail arriving in a user's inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxDelivery {
    pub user: Uuid,
    pub mail_id: Uuid,
    /// The mail a chain of forwards started from (rule E5).
    pub root: Uuid,
    /// System notices are not forwarded.
    pub forwardable: bool,
}

impl MailboxEvent {
    /// The mails that this event, on `owner`'s stream, puts into inboxes.
    pub fn inbox_deliveries(&self, owner: Uuid) -> Vec<InboxDelivery> {
        let to_users = |mail: &OutgoingMail, root: Uuid| {
            let users: BTreeSet<Uuid> = mail.internal_users().collect();
            users
                .into_iter()
                .map(|user| InboxDelivery { user, mail_id: mail.mail_id, root, forwardable: true })
                .collect()
        };
        match self {
            MailboxEvent::MailSent { mail, .. } => to_users(mail, mail.mail_id),
            MailboxEvent::MailForwarded { mail, root, .. } => to_users(mail, *root),
            MailboxEvent::MailReceived { mail, .. } => {
                vec![InboxDelivery { user: owner, mail_id: mail.mail_id, root: mail.mail_id, forwardable: true }]
            }
            MailboxEvent::QuotaResetOffered { notice_id, .. } | MailboxEvent::NoticeDelivered { notice_id, .. } => {
                vec![InboxDelivery { user: owner, mail_id: *notice_id, root: *notice_id, forwardable: false }]
            }
            _ => vec![],
        }
    }

    /// The mails whose content, or whose place in some mailbox, this event
    /// changes (read and flag marks aside): a draft a sent mail replaces,
    /// the source of a forward that does not keep its copy, and so on.
    pub fn mail_ids(&self) -> Vec<Uuid> {
        let outgoing = |mail: &OutgoingMail| std::iter::once(mail.mail_id).chain(mail.draft_id).collect();
        match self {
            MailboxEvent::DraftSaved { draft_id: id, .. }
            | MailboxEvent::DraftDeleted { draft_id: id }
            | MailboxEvent::ScheduleCancelled { mail_id: id, .. }
            | MailboxEvent::MailRecalled { mail_id: id, .. }
            | MailboxEvent::QuotaResetOffered { notice_id: id, .. }
            | MailboxEvent::NoticeDelivered { notice_id: id, .. } => vec![*id],
            MailboxEvent::MailSent { mail, .. } | MailboxEvent::MailScheduled { mail, .. } => outgoing(mail),
            MailboxEvent::MailForwarded { mail, source, .. } => {
                let mut ids: Vec<Uuid> = outgoing(mail);
                ids.push(*source);
                ids
            }
            MailboxEvent::MailReceived { mail, .. } => vec![mail.mail_id],
            MailboxEvent::Moved { mail_ids, .. } | MailboxEvent::Purged { mail_ids } => mail_ids.clone(),
            MailboxEvent::DeliveryReported { .. }
            | MailboxEvent::QuotaReset { .. }
            | MailboxEvent::MarkedRead { .. }
            | MailboxEvent::Flagged { .. }
            | MailboxEvent::FolderCreated { .. }
            | MailboxEvent::FolderRenamed { .. }
            | MailboxEvent::FolderDeleted { .. }
            | MailboxEvent::ForwardingSet { .. } => vec![],
        }
    }
}

/// A mail this user sent, as far as recall needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentMail {
    pub sent_at: DateTime<Utc>,
    pub internal: BTreeSet<Uuid>,
    pub recalled: BTreeSet<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledMail {
    pub mail: OutgoingMail,
    pub due: DateTime<Utc>,
}

/// The state of one user's mailbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mailbox {
    pub drafts: BTreeMap<Uuid, Draft>,
    pub scheduled: BTreeMap<Uuid, ScheduledMail>,
    /// The mails sent inside the recall window of the newest one (rule
    /// E3): older ones can no longer be recalled and are not kept, so the
    /// state does not grow with years of mail.
    pub sent: BTreeMap<Uuid, SentMail>,
    /// Set once a sent mail has been let go: a mail not kept was sent
    /// before it, outside the recall window.
    pub sent_kept_from: Option<DateTime<Utc>>,
    pub folders: BTreeMap<Uuid, String>,
    pub quota: Option<QuotaUse>,
    /// Unused reset tokens by the day they are for.
    pub reset_offers: BTreeMap<Uuid, NaiveDate>,
    pub forwarding: Forwarding,
    /// The mails (by root) this user has forwarded inside the
    /// [`forwarding_guard`] horizon, with when.
    pub forwarded: BTreeMap<Uuid, DateTime<Utc>>,
}

impl Mailbox {
    /// Deliveries already counted on `day`.
    fn used_on(&self, day: NaiveDate) -> u32 {
        self.quota.filter(|q| q.day == day).map_or(0, |q| q.deliveries)
    }

    fn is_known(&self, mail_id: Uuid) -> bool {
        self.sent.contains_key(&mail_id) || self.scheduled.contains_key(&mail_id)
    }

    /// Rule E1: the checks every outgoing mail passes, and the count it adds.
    fn admit(&self, mail: &OutgoingMail, now: DateTime<Utc>, time_zone: &TimeZone) -> Result<QuotaUse, DomainError> {
        let count = mail.recipients.len();
        if count == 0 {
            return Err(DomainError::invalid("recipients", "a mail needs at least one recipient"));
        }
        check_recipient_count(count)?;
        if self.is_known(mail.mail_id) {
            return Err(DomainError::Conflict(format!("mail {} was already sent", mail.mail_id)));
        }
        if let Some(draft) = mail.draft_id
            && !self.drafts.contains_key(&draft)
        {
            return Err(DomainError::NotFound(format!("draft {draft}")));
        }
        let day = today(now, time_zone);
        let deliveries = self.used_on(day) + u32::try_from(count).unwrap_or(u32::MAX);
        if deliveries > DAILY_DELIVERIES {
            return Err(daily_limit_reached());
        }
        Ok(QuotaUse { day, deliveries })
    }

    /// Rule E3: what recall needs of a mail that left; the mails that can
    /// no longer be recalled are let go.
    fn record_sent(&mut self, mail: &OutgoingMail, sent_at: DateTime<Utc>) {
        let record = SentMail { sent_at, internal: mail.internal_users().collect(), recalled: BTreeSet::new() };
        self.sent.insert(mail.mail_id, record);
        let from = sent_at - recall_window();
        let kept = self.sent.len();
        self.sent.retain(|_, sent| sent.sent_at >= from);
        if self.sent.len() < kept {
            self.sent_kept_from = Some(from);
        }
    }

    fn check_folder_name(&self, folder_id: Uuid, name: &str) -> Result<String, DomainError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_FOLDER_NAME {
            return Err(DomainError::invalid("name", format!("a folder name has 1 to {MAX_FOLDER_NAME} characters")));
        }
        let taken = self.folders.iter().any(|(id, n)| *id != folder_id && n.to_lowercase() == name.to_lowercase());
        if taken {
            return Err(DomainError::Conflict(format!("a folder named `{name}` already exists")));
        }
        Ok(name.to_owned())
    }

    /// Rule E8: a draft or a scheduled mail does not move between folders
    /// (it leaves its folder when it is sent, cancelled or deleted).
    fn check_movable(&self, mail_ids: &[Uuid]) -> Result<(), DomainError> {
        for id in mail_ids {
            let kind = if self.drafts.contains_key(id) {
                "draft"
            } else if self.scheduled.contains_key(id) {
                "scheduled mail"
            } else {
                continue;
            };
            return Err(DomainError::invalid(
                "ids",
                format!("mail {id} is a {kind}; it does not move between folders"),
            )
            .by_rule("E8"));
        }
        Ok(())
    }

    fn folder(&self, folder_id: Uuid) -> Result<(), DomainError> {
        if self.folders.contains_key(&folder_id) {
            Ok(())
        } else {
            Err(DomainError::NotFound(format!("folder {folder_id}")))
        }
    }
}

/// The tenant's calendar day at `now`.
fn today(now: DateTime<Utc>, time_zone: &TimeZone) -> NaiveDate {
    now.with_timezone(&time_zone.tz()).date_naive()
}

/// Rule E1: at most 100 recipients in one mail.
fn check_recipient_count(count: usize) -> Result<(), DomainError> {
    if count > MAX_RECIPIENTS {
        return Err(DomainError::LimitExceeded(format!(
            "a mail goes to at most {MAX_RECIPIENTS} recipients; this one has {count}"
        ))
        .by_rule("E1"));
    }
    Ok(())
}

fn not_empty(mail_ids: &[Uuid]) -> Result<(), DomainError> {
    if mail_ids.is_empty() {
        return Err(DomainError::invalid("mailIds", "name at least one mail"));
    }
    Ok(())
}

/// A draft holding what `mail` held, for a cancelled scheduled mail.
fn as_draft(mail: &OutgoingMail) -> Draft {
    let of = |kind| mail.recipients.iter().filter(|r| r.kind == kind).map(|r| r.address.clone()).collect();
    Draft {
        from: Some(mail.from.clone()),
        to: of(RecipientKind::To),
        cc: of(RecipientKind::Cc),
        bcc: of(RecipientKind::Bcc),
        content: mail.content.clone(),
    }
}

impl Aggregate for Mailbox {
    type Command = MailboxCommand;
    type Event = MailboxEvent;

    const CATEGORY: &'static str = "mailbox";
    const SNAPSHOT_VERSION: u32 = 2;
    /// A mailbox's stream id is its owner's id.
    const SEALING: Sealing = Sealing::Owner;

    fn authorize(&self, actor: &Actor, command: &MailboxCommand) -> Result<(), DomainError> {
        use MailboxAction as A;
        let by_system = matches!(
            command.action,
            A::DeliverScheduled { .. }
                | A::ReportDelivery { .. }
                | A::OfferQuotaReset { .. }
                | A::DeliverNotice { .. }
                | A::Receive { .. }
                | A::Forward { .. }
        );
        match actor {
            Actor::System => Ok(()),
            Actor::Anonymous => Err(DomainError::Unauthenticated("log in first".into())),
            Actor::User(_) if by_system => Err(DomainError::Forbidden("only the system does this".into())),
            Actor::User(_) if matches!(command.action, A::SetForwarding { by_admin: true, .. }) => Ok(()),
            Actor::User(id) if *id == command.owner => match command.action {
                A::SetForwarding { .. } if self.forwarding.admin_only => Err(DomainError::Forbidden(
                    "your forwarding was set by an admin and only an admin may change it".into(),
                )
                .by_rule("E5")),
                _ => Ok(()),
            },
            Actor::User(_) => Err(DomainError::Forbidden("a mailbox is only its owner's".into())),
        }
    }

    /// Rule E1: a mail refused for the daily limit offers the reset its
    /// command names (the day's first refusal only; see `OfferQuotaReset`).
    fn after_refusal(&self, command: &MailboxCommand, refusal: &DomainError) -> Option<MailboxCommand> {
        let (MailboxAction::Send { time_zone, offer, .. } | MailboxAction::Schedule { time_zone, offer, .. }) =
            &command.action
        else {
            return None;
        };
        (*refusal == daily_limit_reached()).then(|| MailboxCommand {
            owner: command.owner,
            action: MailboxAction::OfferQuotaReset { offer: *offer, time_zone: time_zone.clone() },
        })
    }

    fn decide(&self, command: &MailboxCommand, now: DateTime<Utc>) -> Result<Vec<MailboxEvent>, DomainError> {
        use MailboxAction as A;
        let events = match &command.action {
            A::SaveDraft { draft_id, draft } => {
                let recipients = draft.to.len() + draft.cc.len() + draft.bcc.len();
                check_recipient_count(recipients)?;
                vec![MailboxEvent::DraftSaved { draft_id: *draft_id, draft: draft.clone() }]
            }
            A::DeleteDraft { draft_id } => {
                if !self.drafts.contains_key(draft_id) {
                    return Err(DomainError::NotFound(format!("draft {draft_id}")));
                }
                vec![MailboxEvent::DraftDeleted { draft_id: *draft_id }]
            }
            A::Send { mail, time_zone, .. } => {
                let quota = self.admit(mail, now, time_zone)?;
                vec![MailboxEvent::MailSent { mail: mail.clone(), sent_at: now, quota: Some(quota) }]
            }
            A::Schedule { mail, due, time_zone, .. } => {
                if *due <= now {
                    return Err(
                        DomainError::invalid("sendAt", "a mail can only be scheduled for a future time").by_rule("E2")
                    );
                }
                let quota = self.admit(mail, now, time_zone)?;
                vec![MailboxEvent::MailScheduled { mail: mail.clone(), due: *due, quota }]
            }
            A::OfferQuotaReset { offer, time_zone } => {
                let day = today(now, time_zone);
                if self.reset_offers.values().any(|d| *d == day) {
                    vec![]
                } else {
                    vec![MailboxEvent::QuotaResetOffered { token: offer.token, day, notice_id: offer.notice_id }]
                }
            }
            A::CancelScheduled { mail_id } => {
                if self.sent.contains_key(mail_id) {
                    return Err(DomainError::Conflict(
                        "the mail was already delivered at its scheduled time; it can no longer be cancelled".into(),
                    )
                    .by_rule("E2"));
                }
                let scheduled = self
                    .scheduled
                    .get(mail_id)
                    .ok_or_else(|| DomainError::NotFound(format!("scheduled mail {mail_id}")))?;
                if now >= scheduled.due {
                    return Err(DomainError::Conflict(format!(
                        "the mail's scheduled time {} has come; it can no longer be cancelled",
                        scheduled.due.to_rfc3339()
                    ))
                    .by_rule("E2"));
                }
                vec![MailboxEvent::ScheduleCancelled { mail_id: *mail_id, draft: as_draft(&scheduled.mail) }]
            }
            A::DeliverScheduled { mail_id } => match self.scheduled.get(mail_id) {
                None => vec![],
                Some(scheduled) if now < scheduled.due => {
                    return Err(DomainError::Conflict(format!("mail {mail_id} is not due yet")).by_rule("E2"));
                }
                Some(scheduled) => {
                    vec![MailboxEvent::MailSent { mail: scheduled.mail.clone(), sent_at: now, quota: None }]
                }
            },
            A::Recall { mail_id, recipients } => {
                let too_late = || {
                    DomainError::Conflict("a mail can be recalled only within 24 hours of sending (rule E3)".into())
                        .by_rule("E3")
                };
                let sent = match (self.sent.get(mail_id), self.sent_kept_from) {
                    (Some(sent), _) => sent,
                    // Let go: sent outside the window.
                    (None, Some(_)) if !self.scheduled.contains_key(mail_id) => return Err(too_late()),
                    (None, _) => return Err(DomainError::NotFound(format!("sent mail {mail_id}"))),
                };
                if now - sent.sent_at > recall_window() {
                    return Err(too_late());
                }
                let targets = match recipients {
                    None => sent.internal.clone(),
                    Some(chosen) => {
                        if let Some(stranger) = chosen.iter().find(|u| !sent.internal.contains(u)) {
                            return Err(DomainError::invalid(
                                "recipients",
                                format!("user {stranger} is not an internal recipient of this mail"),
                            )
                            .by_rule("E3"));
                        }
                        chosen.clone()
                    }
                };
                let new: Vec<Uuid> = targets.difference(&sent.recalled).copied().collect();
                if new.is_empty() {
                    vec![]
                } else {
                    vec![MailboxEvent::MailRecalled { mail_id: *mail_id, recipients: new }]
                }
            }
            A::ReportDelivery { mail_id, address, report } => {
                vec![MailboxEvent::DeliveryReported {
                    mail_id: *mail_id,
                    address: address.clone(),
                    report: report.clone(),
                }]
            }
            A::DeliverNotice { notice_id, subject, text } => {
                vec![MailboxEvent::NoticeDelivered {
                    notice_id: *notice_id,
                    subject: subject.clone(),
                    text: text.clone(),
                }]
            }
            A::ResetQuota { token, time_zone } => {
                let day = *self.reset_offers.get(token).ok_or_else(|| {
                    DomainError::invalid("token", "this reset link is not valid or was already used").by_rule("E1")
                })?;
                if day != today(now, time_zone) {
                    return Err(DomainError::Conflict(format!(
                        "this reset link was for {day} and expired at midnight"
                    ))
                    .by_rule("E1"));
                }
                vec![MailboxEvent::QuotaReset { token: *token, day }]
            }
            A::Receive { mail } => vec![MailboxEvent::MailReceived { mail: mail.clone(), received_at: now }],
            A::Forward { mail_id, source, root, content } => {
                let Some(from) = self.forwarding.from.clone() else { return Ok(vec![]) };
                if self.forwarding.to.is_empty() || self.forwarded.contains_key(root) || self.is_known(*mail_id) {
                    return Ok(vec![]);
                }
                vec![MailboxEvent::MailForwarded {
                    mail: OutgoingMail {
                        mail_id: *mail_id,
                        from,
                        recipients: self.forwarding.to.clone(),
                        content: content.clone(),
                        draft_id: None,
                    },
                    source: *source,
                    root: *root,
                    keep_copy: self.forwarding.keep_copy,
                    sent_at: now,
                }]
            }
            A::MarkRead { mail_id, read } => vec![MailboxEvent::MarkedRead { mail_id: *mail_id, read: *read }],
            A::Flag { mail_id, flagged } => vec![MailboxEvent::Flagged { mail_id: *mail_id, flagged: *flagged }],
            A::Move { mail_ids, to } => {
                not_empty(mail_ids)?;
                if !to.accepts_moves() {
                    return Err(DomainError::invalid("folder", format!("mail cannot be moved into {to}")).by_rule("E8"));
                }
                if let Folder::User(id) = to {
                    self.folder(*id)?;
                }
                self.check_movable(mail_ids)?;
                vec![MailboxEvent::Moved { mail_ids: mail_ids.clone(), to: *to }]
            }
            A::Purge { mail_ids } => {
                not_empty(mail_ids)?;
                vec![MailboxEvent::Purged { mail_ids: mail_ids.clone() }]
            }
            A::CreateFolder { folder_id, name } => {
                if self.folders.contains_key(folder_id) {
                    return Err(DomainError::Conflict(format!("folder {folder_id} already exists")));
                }
                let name = self.check_folder_name(*folder_id, name)?;
                vec![MailboxEvent::FolderCreated { folder_id: *folder_id, name }]
            }
            A::RenameFolder { folder_id, name } => {
                self.folder(*folder_id)?;
                let name = self.check_folder_name(*folder_id, name)?;
                vec![MailboxEvent::FolderRenamed { folder_id: *folder_id, name }]
            }
            A::DeleteFolder { folder_id, mail_count } => {
                self.folder(*folder_id)?;
                if *mail_count > 0 {
                    return Err(DomainError::Conflict(format!(
                        "the folder holds {mail_count} mails; only an empty folder can be deleted"
                    )));
                }
                vec![MailboxEvent::FolderDeleted { folder_id: *folder_id }]
            }
            A::SetForwarding { forwarding, .. } => {
                if forwarding.to.len() > MAX_FORWARDING {
                    return Err(DomainError::LimitExceeded(format!(
                        "mail is forwarded to at most {MAX_FORWARDING} addresses; {} were given",
                        forwarding.to.len()
                    ))
                    .by_rule("E5"));
                }
                if forwarding.to.iter().any(|r| r.user == Some(command.owner)) {
                    return Err(DomainError::invalid("addresses", "a mailbox cannot forward to itself"));
                }
                let unique: BTreeSet<&MailAddress> = forwarding.to.iter().map(|r| &r.address).collect();
                if unique.len() != forwarding.to.len() {
                    return Err(DomainError::invalid("addresses", "an address is named twice"));
                }
                vec![MailboxEvent::ForwardingSet { forwarding: forwarding.clone() }]
            }
        };
        Ok(events)
    }

    fn evolve(mut self, event: &MailboxEvent) -> Self {
        match event {
            MailboxEvent::DraftSaved { draft_id, draft } => {
                self.drafts.insert(*draft_id, draft.clone());
            }
            MailboxEvent::DraftDeleted { draft_id } => {
                self.drafts.remove(draft_id);
            }
            MailboxEvent::MailSent { mail, sent_at, quota } => {
                if let Some(draft) = mail.draft_id {
                    self.drafts.remove(&draft);
                }
                self.scheduled.remove(&mail.mail_id);
                if quota.is_some() {
                    self.quota = *quota;
                }
                self.record_sent(mail, *sent_at);
            }
            MailboxEvent::MailScheduled { mail, due, quota } => {
                if let Some(draft) = mail.draft_id {
                    self.drafts.remove(&draft);
                }
                self.quota = Some(*quota);
                self.scheduled.insert(mail.mail_id, ScheduledMail { mail: mail.clone(), due: *due });
            }
            MailboxEvent::ScheduleCancelled { mail_id, draft } => {
                self.scheduled.remove(mail_id);
                self.drafts.insert(*mail_id, draft.clone());
            }
            MailboxEvent::MailRecalled { mail_id, recipients } => {
                if let Some(sent) = self.sent.get_mut(mail_id) {
                    sent.recalled.extend(recipients.iter().copied());
                }
            }
            MailboxEvent::QuotaResetOffered { token, day, .. } => {
                self.reset_offers.retain(|_, d| *d >= *day);
                self.reset_offers.insert(*token, *day);
            }
            MailboxEvent::QuotaReset { token, day } => {
                self.reset_offers.remove(token);
                if let Some(quota) = self.quota.as_mut()
                    && quota.day == *day
                {
                    quota.deliveries = 0;
                }
            }
            MailboxEvent::MailForwarded { mail, root, sent_at, .. } => {
                let horizon = *sent_at - forwarding_guard();
                self.forwarded.retain(|_, at| *at >= horizon);
                self.forwarded.insert(*root, *sent_at);
                self.record_sent(mail, *sent_at);
            }
            MailboxEvent::FolderCreated { folder_id, name } | MailboxEvent::FolderRenamed { folder_id, name } => {
                self.folders.insert(*folder_id, name.clone());
            }
            MailboxEvent::FolderDeleted { folder_id } => {
                self.folders.remove(folder_id);
            }
            MailboxEvent::ForwardingSet { forwarding } => self.forwarding = forwarding.clone(),
            MailboxEvent::DeliveryReported { .. }
            | MailboxEvent::NoticeDelivered { .. }
            | MailboxEvent::MailReceived { .. }
            | MailboxEvent::MarkedRead { .. }
            | MailboxEvent::Flagged { .. }
            | MailboxEvent::Moved { .. }
            | MailboxEvent::Purged { .. } => {}
        }
        self
    }
}

#[cfg(test)]
#[path = "mailbox_tests.rs"]
mod tests;
