//! What auditors read over GraphQL — the audit trail, stream histories,
//! the signed checkpoints of the company's hash chain and archives of its
//! history — and the workers that sign those checkpoints at intervals and
//! make the archives.

mod archives;
mod mutation;
mod query;
mod retention;
mod signer;
mod stream_history;

use std::sync::Arc;

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};
use commands::AggregateHandle;
use domain::audit::Checkpoints;
use domain::audit::archives::Archives;
use domain::audit::retention::Retention;
use projections::projectors::audit;

pub use mutation::AuditMutation;
pub use query::AuditQuery;
pub use retention::Retaining;
pub use signer::Checkpointing;

use crate::capabilities::Capability;

/// The audit trail, the checkpoints of the hash chain and the archives.
pub(crate) fn capability() -> Capability {
    Capability {
        aggregates: vec![
            AggregateHandle::of::<Checkpoints>(),
            AggregateHandle::of::<Archives>(),
            AggregateHandle::of::<Retention>(),
        ],
        projectors: vec![Arc::new(audit::AuditProjector)],
        workers: vec![signer::WORKER, archives::WORKER, retention::WORKER],
        routes: Some(archives::routes),
        ..Capability::new("audit")
    }
}

/// The server's signed statement that the company's hash chain had `chain`
/// at the company's event at `position`, at `signedAt`.
#[derive(SimpleObject, Debug, Clone)]
pub struct Checkpoint {
    pub position: u64,
    /// The chain's SHA-256 hash there, hexadecimal.
    pub chain: String,
    pub signed_at: DateTime<Utc>,
    /// The Ed25519 public key that signed, hexadecimal.
    pub public_key: String,
    /// The Ed25519 signature, hexadecimal.
    pub signature: String,
}

impl From<domain::audit::Checkpoint> for Checkpoint {
    fn from(c: domain::audit::Checkpoint) -> Self {
        Self { position: c.position, chain: c.chain, signed_at: c.signed_at, public_key: c.key, signature: c.signature }
    }
}
