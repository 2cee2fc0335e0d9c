//! The audit trail: every event of a tenant with actor, time, type and
//! stream, newest first.

use async_trait::async_trait;
use serde_json::json;
use store::RecordedEvent;

use crate::{ProjectionError, Projector, Transaction};

/// `tenant/<inverted position>` → the entry; key order is newest first.
pub const AUDIT: &str = "audit";

pub struct AuditProjector;

/// The key of an entry: ascending keys list the newest entry first.
pub fn audit_key(tenant: &uuid::Uuid, position: u64) -> String {
    format!("{tenant}/{:020}", u64::MAX - position)
}

#[async_trait]
impl Projector for AuditProjector {
    fn name(&self) -> &'static str {
        "audit.v1"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[AUDIT]
    }

    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError> {
        let Some(tenant) = event.metadata.tenant else { return Ok(()) };
        tx.put(
            AUDIT,
            audit_key(&tenant, event.position),
            json!({
                "position": event.position,
                "eventId": event.id,
                "stream": event.stream,
                "version": event.version,
                "type": event.event_type,
                "actorId": event.metadata.actor,
                "commandId": event.metadata.command_id,
                "occurredAt": event.metadata.occurred_at,
            }),
        );
        Ok(())
    }
}
