//! Signing checkpoints: at intervals for every company whose chain moved
//! since its last checkpoint, and when an admin asks.

use std::sync::Arc;
use std::time::Duration;

use audit::CheckpointKey;
use commands::{Commands, stream_name};
use domain::audit::{Checkpoint, CheckpointCommand, CheckpointEvent, Checkpoints};
use store::Direction;
use store::chain::ChainHead;
use uuid::Uuid;

use crate::capabilities::{Running, Starting, Stopping, Worker, WorkerContext};
use crate::errors::{ApiError, ApiResult};

/// The signing key and how often the worker signs.
#[derive(Clone)]
pub struct Checkpointing {
    pub key: Arc<CheckpointKey>,
    pub every: Duration,
}

/// The worker that signs every company's chain at intervals.
pub(super) const WORKER: Worker = Worker { name: "checkpoints", start: start_worker };

fn start_worker(context: WorkerContext) -> Starting {
    Box::pin(async move {
        // It follows no events: whatever is in the log is handled.
        let handled = context.commands.store().head();
        let task = tokio::spawn(async move {
            // The first round one interval after start: a start appends
            // nothing of its own.
            let every = context.checkpoints.every;
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(e) = sign_every_company(&context.commands, &context.checkpoints.key).await {
                    tracing::warn!(error = %e.message, "checkpoints not signed; trying again at the next interval");
                }
            }
        });
        Ok(Running { handled, guard: Box::new(Stopping(task)) })
    })
}

async fn sign_every_company(commands: &Arc<Commands>, key: &CheckpointKey) -> ApiResult<()> {
    let Some(heads) = commands.store().chain_heads().await? else { return Ok(()) };
    for head in heads.iter().filter(|h| !h.chain.is_nil()) {
        if let Signing::Due(checkpoint) = signing_at(commands, key, head).await? {
            let context = crate::backend::context(None, domain::Actor::System, head.chain, None);
            commands
                .execute::<Checkpoints>(head.chain, &context, CheckpointCommand { by_admin: false, checkpoint })
                .await?;
        }
    }
    Ok(())
}

/// Whether a company's chain needs a checkpoint.
pub(super) enum Signing {
    /// The company has no events.
    Empty,
    /// The newest checkpoint covers everything but itself.
    Covered(Checkpoint),
    /// A checkpoint of the chain's head, signed now, to record.
    Due(Checkpoint),
}

/// Signs `tenant`'s chain at its head unless its newest checkpoint covers
/// everything but itself.
///
/// # Errors
/// `NOT_FOUND` from a store that keeps no chain; the store's failure.
pub(super) async fn signing(commands: &Commands, key: &CheckpointKey, tenant: Uuid) -> ApiResult<Signing> {
    let heads = commands
        .store()
        .chain_heads()
        .await?
        .ok_or_else(|| ApiError::not_found("this event store keeps no hash chain"))?;
    match heads.iter().find(|h| h.chain == tenant) {
        Some(head) => signing_at(commands, key, head).await,
        None => Ok(Signing::Empty),
    }
}

/// [`signing`] of the chain whose head is `head`.
async fn signing_at(commands: &Commands, key: &CheckpointKey, head: &ChainHead) -> ApiResult<Signing> {
    let tenant = head.chain;
    let newest =
        commands.store().read_stream(&stream_name::<Checkpoints>(tenant), Direction::Backwards, None, 1).await?;
    if let Some(newest) = newest.first()
        && newest.position >= head.position
    {
        let CheckpointEvent::Signed(checkpoint) = newest.decode().map_err(ApiError::internal)?;
        return Ok(Signing::Covered(checkpoint));
    }
    Ok(Signing::Due(key.sign(tenant, head.position, &head.hash, commands.clock().now())))
}
