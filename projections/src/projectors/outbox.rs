//! The external copies of mail waiting for their delivery to be reported
//! (rule E4), for the outbox to start from instead of the log's start.

use async_trait::async_trait;
use domain::Aggregate;
use domain::mail::{Mailbox, MailboxEvent};
use domain::tenant::{Tenant, TenantEvent};
use serde::{Deserialize, Serialize};
use store::RecordedEvent;
use uuid::Uuid;

use super::unreadable;
use crate::{ProjectionError, Projector, ReadModelStore, Table, Transaction};

/// A copy waiting: the event that asked for it names the mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingCopyRow {
    pub mail_id: Uuid,
    pub address: String,
    /// The position of the event that sent the mail.
    pub position: u64,
}

/// [`copy_key`] → a copy waiting for its delivery to be reported.
pub const OUTBOX_WAITING: Table<WaitingCopyRow> = Table::new("outbox_waiting");

/// By company, then sender (a deleted sender's copies go with them), then
/// mail and address.
pub fn copy_key(tenant: Uuid, sender: Uuid, mail: Uuid, address: &str) -> String {
    format!("{tenant}/{sender}/{mail}/{address}")
}

/// Every copy waiting, as of the projector's checkpoint.
///
/// # Errors
/// When the store fails or a row is not a [`WaitingCopyRow`].
pub async fn waiting(store: &dyn ReadModelStore) -> Result<Vec<WaitingCopyRow>, ProjectionError> {
    OUTBOX_WAITING.all(store, "").await
}

pub struct OutboxProjector;

#[async_trait]
impl Projector for OutboxProjector {
    fn name(&self) -> &'static str {
        "outbox.v1"
    }

    fn tables(&self) -> &'static [&'static str] {
        const TABLES: &[&str] = &[OUTBOX_WAITING.name()];
        TABLES
    }

    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError> {
        let category = event.category();
        if category != Mailbox::CATEGORY && category != Tenant::CATEGORY {
            return Ok(());
        }
        let tenant = event.metadata.tenant.ok_or_else(|| unreadable(event, "no tenant in metadata"))?;
        if category == Tenant::CATEGORY {
            // A deleted sender's copies are not sent (rule U1).
            if let Ok(TenantEvent::UserDeleted { user_id }) = event.decode::<TenantEvent>() {
                for (key, _) in tx.scan_all(OUTBOX_WAITING.name(), &format!("{tenant}/{user_id}/")).await? {
                    OUTBOX_WAITING.delete(tx, key);
                }
            }
            return Ok(());
        }
        let sender = event.stream_id().ok_or_else(|| unreadable(event, "the stream is not a mailbox"))?;
        match event.decode::<MailboxEvent>().map_err(|e| unreadable(event, e))? {
            MailboxEvent::MailSent { mail, .. } | MailboxEvent::MailForwarded { mail, .. } => {
                for recipient in mail.external() {
                    let address = recipient.address.to_string();
                    let key = copy_key(tenant, sender, mail.mail_id, &address);
                    let row = WaitingCopyRow { mail_id: mail.mail_id, address, position: event.position };
                    OUTBOX_WAITING.put(tx, key, &row)?;
                }
            }
            MailboxEvent::DeliveryReported { mail_id, address, .. } => {
                OUTBOX_WAITING.delete(tx, copy_key(tenant, sender, mail_id, &address.to_string()));
            }
            _ => {}
        }
        Ok(())
    }
}
