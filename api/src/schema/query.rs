//! Queries: every one reads read models (or, for auditors, the log itself),
//! always within the caller's tenant.

use async_graphql::connection::Edge;
use async_graphql::{Context, Object, Result};
use projections::projectors::{AUDIT, TENANTS, USERS};
use store::Direction;
use uuid::Uuid;

use super::pagination::{Counted, Page, page, page_size};
use super::types::{AuditEntry, StoredEvent, Tenant};
use super::{User, caller, load_user, services};
use crate::errors::{ApiError, ApiResult};

#[derive(Default)]
pub struct CoreQuery;

#[Object]
impl CoreQuery {
    /// The logged-in user.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        Ok(caller(ctx).await?.user)
    }

    /// The caller's company.
    async fn tenant(&self, ctx: &Context<'_>) -> Result<Tenant> {
        let caller = caller(ctx).await?;
        let row = services(ctx)
            .read_models()
            .get(TENANTS, &caller.tenant.to_string())
            .await?
            .ok_or_else(|| ApiError::not_found("company not found"))?;
        Ok(serde_json::from_value(row).map_err(ApiError::internal)?)
    }

    /// The company's users, by ID.
    async fn users(&self, ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> Result<Page<User>> {
        let caller = caller(ctx).await?;
        let prefix = format!("{}/", caller.tenant);
        Ok(page(services(ctx), USERS, &prefix, first, after, |row| {
            serde_json::from_value(row).map_err(ApiError::internal)
        })
        .await?)
    }

    /// One user of the company.
    async fn user(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<User>> {
        let caller = caller(ctx).await?;
        Ok(load_user(services(ctx), caller.tenant, id).await?)
    }

    /// Every event of the company, newest first (admins only).
    async fn audit_trail(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<AuditEntry>> {
        let caller = caller(ctx).await?;
        caller.require_admin()?;
        let prefix = format!("{}/", caller.tenant);
        Ok(page(services(ctx), AUDIT, &prefix, first, after, |row| {
            let mut entry: AuditEntry = serde_json::from_value(row).map_err(ApiError::internal)?;
            entry.tenant_id = caller.tenant;
            Ok(entry)
        })
        .await?)
    }

    /// The full history of one stream of the company, oldest first, with
    /// each event's metadata (admins only). Cursors are stream versions.
    async fn stream_history(
        &self,
        ctx: &Context<'_>,
        stream_id: String,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<StoredEvent>> {
        let caller = caller(ctx).await?;
        caller.require_admin()?;
        Ok(stream_history(ctx, caller.tenant, &stream_id, first, after).await?)
    }
}

async fn stream_history(
    ctx: &Context<'_>,
    tenant: Uuid,
    stream: &str,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<Page<StoredEvent>> {
    let size = page_size(first)?;
    let from = match &after {
        None => 0,
        Some(cursor) => cursor
            .parse::<u64>()
            .ok()
            .and_then(|v| v.checked_add(1))
            .filter(|v| i64::try_from(*v).is_ok())
            .ok_or_else(|| ApiError::new(crate::errors::Code::Validation, "`after` is not a cursor of this list"))?,
    };
    let store = &services(ctx).store;
    let not_found = || ApiError::not_found(format!("stream `{stream}`"));
    // A stream is the tenant's when its events say so; another tenant's
    // stream reads as missing.
    let last = store.read_stream(stream, Direction::Backwards, None, 1).await.map_err(ApiError::internal)?;
    let Some(last) = last.first() else { return Err(not_found()) };
    if last.metadata.tenant != Some(tenant) {
        return Err(not_found());
    }
    let mut events =
        store.read_stream(stream, Direction::Forwards, Some(from), size + 1).await.map_err(ApiError::internal)?;
    if events.iter().any(|e| e.metadata.tenant != Some(tenant)) {
        return Err(not_found());
    }
    let has_next = events.len() > size;
    events.truncate(size);
    let total_count = usize::try_from(last.version + 1).unwrap_or(usize::MAX);
    let mut connection = Page::with_additional_fields(after.is_some(), has_next, Counted { total_count });
    connection.edges.extend(events.iter().map(|e| Edge::new(e.version.to_string(), StoredEvent::from_recorded(e))));
    Ok(connection)
}
