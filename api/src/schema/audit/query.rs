//! Queries of auditors (and admins): the audit trail, stream histories,
//! the checkpoints of the company's hash chain and the key that signs them.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use commands::AsOf;
use domain::DomainError;
use domain::audit::Checkpoints;
use projections::projectors::audit::{self, AuditRow};
use uuid::Uuid;

use super::Checkpoint;
use super::archives::{self, CompanyArchive};
use super::retention::{self, CompanyRetention};
use super::stream_history::{HistoricalState, historical_state, stream_history};
use crate::errors::{ApiError, ApiResult};
use crate::schema::pagination::{Page, PageRequest, counted_page, filtered_page};
use crate::schema::types::{AuditEntry, StoredEvent};
use crate::schema::{Caller, backend, caller};

#[derive(Default)]
pub struct AuditQuery;

/// Which events of the audit trail to list; every condition given must
/// hold.
#[derive(InputObject, Default)]
pub struct AuditFilter {
    /// Events that occurred at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Events that occurred before this time.
    pub until: Option<DateTime<Utc>>,
    /// Events of this type (`MailSent`, `RoleGranted`, ...).
    pub event_type: Option<String>,
    /// Events this user caused.
    pub actor_id: Option<Uuid>,
    /// Events of this stream.
    pub stream_id: Option<String>,
}

/// The trail as `filter` narrows it: read from the entries of its stream,
/// its actor or its type when it names one, so that the rows read are
/// mostly the rows shown.
async fn audit_trail(
    ctx: &Context<'_>,
    caller: &Caller,
    filter: AuditFilter,
    request: &PageRequest,
) -> ApiResult<Page<AuditEntry>> {
    if let (Some(from), Some(until)) = (filter.from, filter.until)
        && from > until
    {
        return Err(domain::DomainError::invalid("filter", "the time range ends before it starts").into());
    }
    let (tenant, backend) = (caller.tenant, backend(ctx));
    let to_node = |row| Ok(AuditEntry::new(tenant, row));
    let keep = |row: &AuditRow| {
        filter.from.is_none_or(|from| row.occurred_at >= from)
            && filter.until.is_none_or(|until| row.occurred_at < until)
            && filter.event_type.as_ref().is_none_or(|t| &row.event_type == t)
            && filter.actor_id.is_none_or(|a| row.actor_id == Some(a))
            && filter.stream_id.as_ref().is_none_or(|s| &row.stream == s)
    };
    let (index, prefix) = match (&filter.stream_id, filter.actor_id, &filter.event_type) {
        (Some(stream), _, _) => (audit::AUDIT_BY_STREAM, audit::by_stream_prefix(tenant, stream)),
        (None, Some(actor), _) => (audit::AUDIT_BY_ACTOR, audit::by_actor_prefix(tenant, Some(actor))),
        (None, None, Some(event_type)) => (audit::AUDIT_BY_TYPE, audit::by_type_prefix(tenant, event_type)),
        (None, None, None) => {
            let prefix = audit::audit_prefix(tenant);
            if filter.from.is_none() && filter.until.is_none() {
                let total = audit::entry_count(backend.read_models(), audit::AUDIT.name(), &prefix).await?;
                return counted_page(backend, audit::AUDIT, &prefix, request, total, to_node).await;
            }
            let itself = |row| std::future::ready(Ok(Some(row)));
            return filtered_page(backend, audit::AUDIT, &prefix, request, None, itself, keep, to_node).await;
        }
    };
    // One condition, the index's own: every entry is kept.
    let conditions = [
        filter.from.is_some(),
        filter.until.is_some(),
        filter.event_type.is_some(),
        filter.actor_id.is_some(),
        filter.stream_id.is_some(),
    ]
    .into_iter()
    .filter(|given| *given)
    .count();
    let total_count = if conditions == 1 {
        Some(audit::entry_count(backend.read_models(), index.name(), &prefix).await?)
    } else {
        None
    };
    let models = backend.read_models();
    let entry = |position| async move { Ok(audit::audit_entry(models, tenant, position).await?) };
    filtered_page(backend, index, &prefix, request, total_count, entry, keep, to_node).await
}

/// The key that signs the checkpoints, for auditors to keep.
#[derive(SimpleObject)]
pub struct AuditKey {
    /// Always `Ed25519`.
    pub algorithm: String,
    /// The public key, hexadecimal (32 bytes).
    pub public_key: String,
}

#[Object]
impl AuditQuery {
    /// Every event of the company, newest first, or those the filter
    /// names (admins and auditors).
    async fn audit_trail(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Page<AuditEntry>> {
        let caller = caller(ctx).await?;
        caller.require_auditing()?;
        let request = PageRequest::new(first, after, last, before);
        Ok(audit_trail(ctx, &caller, filter.unwrap_or_default(), &request).await?)
    }

    /// The full history of one stream of the company, oldest first, with
    /// each event's metadata and link in the hash chain (admins and
    /// auditors). Content the caller may not read elsewhere in the API is
    /// withheld.
    async fn stream_history(
        &self,
        ctx: &Context<'_>,
        stream_id: String,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Page<StoredEvent>> {
        let caller = caller(ctx).await?;
        caller.require_auditing()?;
        let request = PageRequest::new(first, after, last, before);
        Ok(stream_history(backend(ctx), &caller, &stream_id, &request).await?)
    }

    /// A stream's aggregate as it was at a time (the events that occurred
    /// by then) or at a log position, replayed from the log (admins and
    /// auditors): a document with its line and history, a user's roles on
    /// the company's stream, a leave ledger. Give `at` or `position`.
    /// Content follows the rules of `streamHistory`.
    async fn historical_state(
        &self,
        ctx: &Context<'_>,
        stream_id: String,
        at: Option<DateTime<Utc>>,
        position: Option<u64>,
    ) -> Result<HistoricalState> {
        let caller = caller(ctx).await?;
        caller.require_auditing()?;
        let as_of = match (at, position) {
            (Some(at), None) => AsOf::Time(at),
            (None, Some(position)) => AsOf::Position(position),
            _ => return Err(ApiError::from(DomainError::invalid("at", "give either `at` or `position`")).into()),
        };
        Ok(historical_state(backend(ctx), &caller, &stream_id, as_of).await?)
    }

    /// The public key that signs the company's checkpoints (admins and
    /// auditors); `groupware verify --public-key` checks a log with it.
    async fn audit_key(&self, ctx: &Context<'_>) -> Result<AuditKey> {
        caller(ctx).await?.require_auditing()?;
        let public_key = backend(ctx).checkpoints.key.public().to_string();
        Ok(AuditKey { algorithm: "Ed25519".into(), public_key })
    }

    /// The company's newest signed checkpoint (admins and auditors); the
    /// others are in `streamHistory` of `checkpoints-<company id>`.
    async fn last_checkpoint(&self, ctx: &Context<'_>) -> Result<Option<Checkpoint>> {
        let caller = caller(ctx).await?;
        caller.require_auditing()?;
        let state = backend(ctx).commands.load_latest::<Checkpoints>(caller.tenant).await?;
        Ok(state.last.clone().map(Checkpoint::from))
    }

    /// The company's archives asked for over the API, newest first (admins
    /// and auditors).
    async fn archives(&self, ctx: &Context<'_>) -> Result<Vec<CompanyArchive>> {
        let caller = caller(ctx).await?;
        Ok(archives::list(backend(ctx), &caller).await?)
    }

    /// How long the company keeps its history in the live log, and what
    /// has left it for archive files (admins and auditors).
    async fn retention(&self, ctx: &Context<'_>) -> Result<CompanyRetention> {
        let caller = caller(ctx).await?;
        Ok(retention::retention(backend(ctx), &caller).await?)
    }
}
