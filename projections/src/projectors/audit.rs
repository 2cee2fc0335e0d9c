//! The audit trail: every event of a tenant with actor, time, type and
//! stream, newest first.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::RecordedEvent;
use uuid::Uuid;

use crate::{ProjectionError, Projector, ReadModelStore, Table, Transaction};

/// One event of a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRow {
    pub position: u64,
    pub event_id: Uuid,
    pub stream: String,
    pub version: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The user who caused the event; none for sign-up and the system.
    pub actor_id: Option<Uuid>,
    pub command_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
}

/// [`audit_key`] → the entry; under [`audit_prefix`], key order is newest
/// first.
pub const AUDIT: Table<AuditRow> = Table::new("audit");

/// The key of an entry: ascending keys list the newest entry first.
pub fn audit_key(tenant: Uuid, position: u64) -> String {
    format!("{tenant}/{:020}", u64::MAX - position)
}

/// The prefix of a tenant's entries.
pub fn audit_prefix(tenant: Uuid) -> String {
    format!("{tenant}/")
}

/// The entry of the event at `position`, if it is `tenant`'s.
///
/// # Errors
/// When the store fails or the row is not an [`AuditRow`].
pub async fn audit_entry(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    position: u64,
) -> Result<Option<AuditRow>, ProjectionError> {
    AUDIT.get(store, &audit_key(tenant, position)).await
}

pub struct AuditProjector;

#[async_trait]
impl Projector for AuditProjector {
    fn name(&self) -> &'static str {
        "audit.v1"
    }

    fn tables(&self) -> &'static [&'static str] {
        const TABLES: &[&str] = &[AUDIT.name()];
        TABLES
    }

    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError> {
        let Some(tenant) = event.metadata.tenant else { return Ok(()) };
        let row = AuditRow {
            position: event.position,
            event_id: event.id,
            stream: event.stream.clone(),
            version: event.version,
            event_type: event.event_type.clone(),
            actor_id: event.metadata.actor,
            command_id: event.metadata.command_id,
            occurred_at: event.metadata.occurred_at,
        };
        AUDIT.put(tx, audit_key(tenant, event.position), &row)
    }
}
