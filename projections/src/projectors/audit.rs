//! The audit trail: every event of a tenant with actor, time, type and
//! stream, newest first; and the same entries by event type, by actor and
//! by stream, so that a filtered trail reads only what it shows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::RecordedEvent;
use uuid::Uuid;

use crate::{Counts, ProjectionError, Projector, ReadModelStore, Table, Transaction};

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

/// [`by_type_prefix`] + position → the entry's position, newest first
/// (the entry itself is read from [`AUDIT`]: an index row costs a number,
/// not a second copy of the entry).
pub const AUDIT_BY_TYPE: Table<u64> = Table::new("audit_by_type");
/// [`by_actor_prefix`] + position → the entry's position, newest first.
pub const AUDIT_BY_ACTOR: Table<u64> = Table::new("audit_by_actor");
/// [`by_stream_prefix`] + position → the entry's position, newest first.
pub const AUDIT_BY_STREAM: Table<u64> = Table::new("audit_by_stream");

/// How many entries each list has: a company's under [`audit_prefix`] in
/// [`AUDIT`], and those of one type, actor or stream under their prefix
/// in their index.
pub const AUDIT_COUNTS: Counts = Counts::new("audit_counts");

/// How many entries `table` (the trail or one of its indexes) holds under
/// `prefix`, without counting them.
///
/// # Errors
/// When the store fails.
pub async fn entry_count(store: &dyn ReadModelStore, table: &str, prefix: &str) -> Result<usize, ProjectionError> {
    AUDIT_COUNTS.get(store, table, prefix).await
}

/// The key of an entry: ascending keys list the newest entry first.
pub fn audit_key(tenant: Uuid, position: u64) -> String {
    format!("{}{}", audit_prefix(tenant), newest_first(position))
}

fn newest_first(position: u64) -> String {
    format!("{:020}", u64::MAX - position)
}

/// The prefix of a tenant's entries.
pub fn audit_prefix(tenant: Uuid) -> String {
    format!("{tenant}/")
}

/// A name inside a key, with `/` (and `%`, which escapes it) escaped, so
/// that one name's prefix never covers another's.
fn component(name: &str) -> String {
    name.replace('%', "%25").replace('/', "%2F")
}

/// The prefix of a tenant's entries of one event type.
pub fn by_type_prefix(tenant: Uuid, event_type: &str) -> String {
    format!("{tenant}/{}/", component(event_type))
}

/// The prefix of a tenant's entries caused by `actor` (`None`: sign-up and
/// the system).
pub fn by_actor_prefix(tenant: Uuid, actor: Option<Uuid>) -> String {
    match actor {
        Some(actor) => format!("{tenant}/{actor}/"),
        None => format!("{tenant}/system/"),
    }
}

/// The prefix of a tenant's entries of one stream.
pub fn by_stream_prefix(tenant: Uuid, stream: &str) -> String {
    format!("{tenant}/{}/", component(stream))
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
        "audit.v3"
    }

    fn tables(&self) -> &'static [&'static str] {
        const TABLES: &[&str] =
            &[AUDIT.name(), AUDIT_BY_TYPE.name(), AUDIT_BY_ACTOR.name(), AUDIT_BY_STREAM.name(), AUDIT_COUNTS.name()];
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
        // Each event once: every entry is new, and counted.
        let key = newest_first(event.position);
        let position = &event.position;
        let lists = [
            (AUDIT_BY_TYPE, by_type_prefix(tenant, &row.event_type)),
            (AUDIT_BY_ACTOR, by_actor_prefix(tenant, row.actor_id)),
            (AUDIT_BY_STREAM, by_stream_prefix(tenant, &row.stream)),
        ];
        for (index, prefix) in lists {
            AUDIT_COUNTS.add(tx, index.name(), &prefix, 1).await?;
            index.put(tx, format!("{prefix}{key}"), position)?;
        }
        AUDIT_COUNTS.add(tx, AUDIT.name(), &audit_prefix(tenant), 1).await?;
        AUDIT.put(tx, audit_key(tenant, event.position), &row)
    }
}
