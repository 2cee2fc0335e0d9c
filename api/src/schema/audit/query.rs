//! Queries of auditors (and admins): the audit trail, stream histories,
//! the checkpoints of the company's hash chain and the key that signs them.

use async_graphql::{Context, Object, Result, SimpleObject};
use domain::audit::Checkpoints;
use projections::projectors::audit;

use super::Checkpoint;
use super::stream_history::stream_history;
use crate::schema::pagination::{Page, PageRequest, page};
use crate::schema::types::{AuditEntry, StoredEvent};
use crate::schema::{backend, caller};

#[derive(Default)]
pub struct AuditQuery;

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
    /// Every event of the company, newest first (admins and auditors).
    async fn audit_trail(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Page<AuditEntry>> {
        let caller = caller(ctx).await?;
        caller.require_auditing()?;
        let prefix = audit::audit_prefix(caller.tenant);
        let request = PageRequest::new(first, after, last, before);
        Ok(page(backend(ctx), audit::AUDIT, &prefix, &request, |row| Ok(AuditEntry::new(caller.tenant, row))).await?)
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
}
