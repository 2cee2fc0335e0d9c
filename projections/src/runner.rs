//! Runners: one task per projector, subscribed from its checkpoint, that
//! applies each batch of events in one transaction and commits it together
//! with the new checkpoint.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use store::{EventStore, RecordedEvent};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{ProjectionError, ReadModelStore, Transaction};

/// Event → read-model change, written once for every store.
#[async_trait]
pub trait Projector: Send + Sync + 'static {
    /// The stable name of the projector and the version of what it writes.
    fn name(&self) -> &'static str;

    /// The read-model tables it writes (and only it).
    fn tables(&self) -> &'static [&'static str];

    /// Records the effect of `event` in `tx`.
    ///
    /// # Errors
    /// When the event cannot be understood or the store fails.
    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError>;
}

/// The running projectors and what they have applied.
pub struct Projections {
    store: Arc<dyn ReadModelStore>,
    checkpoints: Vec<(&'static str, watch::Receiver<u64>)>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Projections {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Projections {
    /// Starts one runner per projector.
    ///
    /// # Errors
    /// When a checkpoint cannot be read.
    pub async fn start(
        events: Arc<dyn EventStore>,
        store: Arc<dyn ReadModelStore>,
        projectors: Vec<Arc<dyn Projector>>,
    ) -> Result<Self, ProjectionError> {
        let mut checkpoints = Vec::new();
        let mut tasks = Vec::new();
        for projector in projectors {
            let start = store.checkpoint(projector.name()).await?;
            let (sender, receiver) = watch::channel(start);
            checkpoints.push((projector.name(), receiver));
            tasks.push(tokio::spawn(run(events.clone(), store.clone(), projector, sender)));
        }
        Ok(Self { store, checkpoints, tasks })
    }

    pub fn store(&self) -> &Arc<dyn ReadModelStore> {
        &self.store
    }

    /// The checkpoint of every projector.
    pub fn checkpoints(&self) -> Vec<(&'static str, u64)> {
        self.checkpoints.iter().map(|(name, rx)| (*name, *rx.borrow())).collect()
    }

    /// The lowest checkpoint: every read model has applied the log up to it.
    pub fn position(&self) -> u64 {
        self.checkpoints.iter().map(|(_, rx)| *rx.borrow()).min().unwrap_or(0)
    }

    /// Waits until every read model has applied the event at `position`, or
    /// `timeout` has passed. Returns whether they have.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> bool {
        let all = async {
            for (_, rx) in &self.checkpoints {
                let mut rx = rx.clone();
                if rx.wait_for(|c| *c >= position).await.is_err() {
                    return false;
                }
            }
            true
        };
        tokio::time::timeout(timeout, all).await.unwrap_or(false)
    }
}

/// Events read per step of a rebuild.
const REBUILD_BATCH: usize = 8192;

/// How long a runner that does not own its projector mirrors the owner's
/// checkpoint before it tries to take the projector over.
const CLAIM_EVERY: Duration = Duration::from_secs(1);

/// Runs one projector: in exactly one process at a time (the one that holds
/// the store's claim on it); the others mirror its checkpoint, so that their
/// requests can wait for read models another process writes, and take over
/// when the owner goes away.
async fn run(
    events: Arc<dyn EventStore>,
    store: Arc<dyn ReadModelStore>,
    projector: Arc<dyn Projector>,
    checkpoint: watch::Sender<u64>,
) {
    let name = projector.name();
    let mut backoff = Duration::from_millis(50);
    loop {
        let progress = *checkpoint.borrow();
        let failure = match store.try_claim(name).await {
            Ok(Some(claim)) => {
                let followed = follow(&events, store.as_ref(), projector.as_ref(), &checkpoint).await;
                drop(claim);
                match followed {
                    Ok(()) => return,
                    Err(e) => e,
                }
            }
            Ok(None) => match mirror(&events, store.as_ref(), name, &checkpoint).await {
                Ok(()) => continue,
                Err(e) => e,
            },
            Err(e) => e,
        };
        match failure {
            // Another runner, or a rebuild taking over, moved the checkpoint:
            // nothing is wrong, resume at once.
            ProjectionError::CheckpointMoved { .. } => {
                tracing::info!(projector = name, reason = %failure, "resuming from the checkpoint");
                backoff = Duration::from_millis(50);
            }
            _ => {
                tracing::error!(projector = name, error = %failure, "projection stopped; resuming from its checkpoint");
                if *checkpoint.borrow() > progress {
                    // It had been working: a new failure, not the same one again.
                    backoff = Duration::from_millis(50);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Follows another process's progress on `projector` for a while.
async fn mirror(
    events: &Arc<dyn EventStore>,
    store: &dyn ReadModelStore,
    projector: &str,
    checkpoint: &watch::Sender<u64>,
) -> Result<(), ProjectionError> {
    let mut head = events.head();
    let until = tokio::time::Instant::now() + CLAIM_EVERY;
    while tokio::time::Instant::now() < until {
        let position = store.checkpoint(projector).await?;
        checkpoint.send_replace(position);
        if position < *head.borrow_and_update() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        } else {
            let _ = tokio::time::timeout_at(until, head.changed()).await;
        }
    }
    Ok(())
}

/// Applies the log from the projector's checkpoint on; returns when the event
/// store has shut down.
async fn follow(
    events: &Arc<dyn EventStore>,
    store: &dyn ReadModelStore,
    projector: &dyn Projector,
    checkpoint: &watch::Sender<u64>,
) -> Result<(), ProjectionError> {
    let from = store.checkpoint(projector.name()).await?;
    let mut subscription = events.clone().subscribe_all(from);
    let mut done = from;
    while let Some(batch) = subscription.next_batch().await {
        let batch = batch?;
        if batch.is_empty() {
            continue;
        }
        done = apply_batch(store, projector, &batch, done).await?;
        checkpoint.send_replace(done);
    }
    Ok(())
}

/// Applies `batch` on top of checkpoint `from`; returns the new checkpoint.
async fn apply_batch(
    store: &dyn ReadModelStore,
    projector: &dyn Projector,
    batch: &[RecordedEvent],
    from: u64,
) -> Result<u64, ProjectionError> {
    let mut tx = Transaction::new(store);
    for event in batch {
        projector.apply(event, &mut tx).await?;
    }
    let to = batch.last().map_or(from, |e| e.position);
    store.commit(projector.name(), tx.into_changes(), from, to).await?;
    Ok(to)
}

/// Replays the log from each projector's checkpoint (position 0 for a fresh
/// store) up to the head as it is now, and returns how many events were read.
///
/// # Errors
/// When a store fails or an event cannot be projected.
pub async fn rebuild(
    events: &dyn EventStore,
    store: &dyn ReadModelStore,
    projectors: &[Arc<dyn Projector>],
) -> Result<u64, ProjectionError> {
    let head = *events.head().borrow();
    let mut read = 0;
    let mut done = Vec::with_capacity(projectors.len());
    for projector in projectors {
        done.push(store.checkpoint(projector.name()).await?);
    }
    let after = done.iter().copied().min().unwrap_or(u64::MAX);
    if after >= head {
        return Ok(0);
    }
    let mut batch = events.read_all(after, REBUILD_BATCH).await?;
    while let Some(last) = batch.last() {
        let after = last.position;
        read += batch.len() as u64;
        // The next batch is read while this one is applied, and the
        // projectors (each with its own tables and checkpoint) apply it at
        // once: a store that answers over the network is kept busy.
        let applied = futures::future::try_join_all(projectors.iter().zip(&done).map(|(projector, done)| {
            let fresh = &batch[batch.partition_point(|e| e.position <= *done)..];
            async move {
                match fresh.last() {
                    Some(_) => apply_batch(store, projector.as_ref(), fresh, *done).await,
                    None => Ok(*done),
                }
            }
        }));
        let reading = async { if after < head { events.read_all(after, REBUILD_BATCH).await } else { Ok(Vec::new()) } };
        let (applied, next) = futures::join!(applied, reading);
        done = applied?;
        batch = next?;
    }
    Ok(read)
}
