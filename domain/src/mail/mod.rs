//! Webmail: addresses, messages and the mailbox aggregate (rules E1–E5, E8).

mod address;
pub mod dns;
pub mod mailbox;
pub mod message;
pub mod reactions;

pub use address::MailAddress;
pub use mailbox::{
    DAILY_DELIVERIES, DeliveryReport, Forwarding, InboxDelivery, IncomingMail, MAX_FORWARDING, MAX_RECIPIENTS, Mailbox,
    MailboxAction, MailboxCommand, MailboxEvent, QUOTA_NOTICE_SUBJECT, ResetOffer, daily_limit_reached,
    quota_notice_text, recall_window,
};
pub use message::{
    Attachment, Content, Draft, Folder, OCTET_STREAM, OutgoingMail, QuotaUse, Recipient, RecipientKind, media_type,
    safe_file_name,
};
