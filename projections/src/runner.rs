//! Runners: one task per projector, subscribed from its checkpoint, that
//! applies each batch of events in one transaction and commits it together
//! with the new checkpoint.
//!
//! A runner that meets an event its projector cannot apply (the event cannot
//! be understood, or the store refuses what the projector made of it) stops
//! at that event: only that projector stops, with the event and the reason
//! in [`Progress::stopped`]; the others, and everything that waits for read
//! models, carry on. A restart tries it again. A store that fails (for
//! example PostgreSQL away for a while) is retried with back-off instead.

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

/// The event a projector stopped at, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub position: u64,
    pub stream: String,
    pub event_type: String,
    /// What went wrong, quoting nothing of the event.
    pub cause: &'static str,
    /// The whole error, for the log.
    pub reason: String,
}

/// How far a projector has got in this process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The position of the last event applied.
    pub checkpoint: u64,
    /// How many events this process has applied since it started: a
    /// restart on read models that are kept resumes at the checkpoint and
    /// applies only what it missed.
    pub applied: u64,
    /// Set when the projector met an event it cannot apply: it stays at
    /// `checkpoint` until the process restarts.
    pub stopped: Option<Arc<Stopped>>,
}

impl Progress {
    /// Whether nothing more need be awaited for `position`: the projector
    /// has applied it, or has stopped before it.
    fn settled(&self, position: u64) -> bool {
        self.checkpoint >= position || self.stopped.is_some()
    }
}

/// The running projectors and what they have applied.
pub struct Projections {
    store: Arc<dyn ReadModelStore>,
    progress: Vec<(&'static str, watch::Receiver<Progress>)>,
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
        let mut progress = Vec::new();
        let mut tasks = Vec::new();
        for projector in projectors {
            if store.empty_unstarted(projector.name(), projector.tables()).await? {
                tracing::info!(projector = projector.name(), "a new version builds its read model again from the log");
            }
            let start = store.checkpoint(projector.name()).await?;
            let (sender, receiver) = watch::channel(Progress { checkpoint: start, applied: 0, stopped: None });
            progress.push((projector.name(), receiver));
            tasks.push(tokio::spawn(run(events.clone(), store.clone(), projector, sender)));
        }
        Ok(Self { store, progress, tasks })
    }

    pub fn store(&self) -> &Arc<dyn ReadModelStore> {
        &self.store
    }

    /// The progress of every projector, stopped ones with their event.
    pub fn progress(&self) -> Vec<(&'static str, Progress)> {
        self.progress.iter().map(|(name, rx)| (*name, rx.borrow().clone())).collect()
    }

    /// How far the projector called `name` has got, as it moves.
    pub fn watch(&self, name: &str) -> Option<watch::Receiver<Progress>> {
        self.progress.iter().find(|(n, _)| *n == name).map(|(_, rx)| rx.clone())
    }

    /// The lowest checkpoint: every read model has applied the log up to it.
    pub fn position(&self) -> u64 {
        self.progress.iter().map(|(_, rx)| rx.borrow().checkpoint).min().unwrap_or(0)
    }

    /// Waits until every read model has applied the event at `position` or
    /// has stopped before it (a stopped projector is not waited for), or
    /// `timeout` has passed. Returns whether nothing is left to wait for.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> bool {
        let all = async {
            for (_, rx) in &self.progress {
                let mut rx = rx.clone();
                if rx.wait_for(|p| p.settled(position)).await.is_err() {
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

/// Why a runner left its projector.
enum Halt {
    /// A failure that may heal (the store, the log): try again.
    Failed(ProjectionError),
    /// An event the projector cannot apply: stop at it.
    Stopped(Stopped),
}

impl From<ProjectionError> for Halt {
    fn from(e: ProjectionError) -> Self {
        Halt::Failed(e)
    }
}

impl From<store::StoreError> for Halt {
    fn from(e: store::StoreError) -> Self {
        Halt::Failed(e.into())
    }
}

/// Runs one projector: in exactly one process at a time (the one that holds
/// the store's claim on it); the others mirror its checkpoint, so that their
/// requests can wait for read models another process writes, and take over
/// when the owner goes away. Ends when the projector stops at an event it
/// cannot apply (its claim is released: another process that takes it over
/// meets the same event and stops too, until a fixed version is deployed).
async fn run(
    events: Arc<dyn EventStore>,
    store: Arc<dyn ReadModelStore>,
    projector: Arc<dyn Projector>,
    progress: watch::Sender<Progress>,
) {
    let name = projector.name();
    let mut backoff = Duration::from_millis(50);
    // The checkpoint at the last failure logged: a failure is logged once,
    // not at every retry, until the runner has made progress again.
    let mut logged_at = None;
    loop {
        let checkpoint = progress.borrow().checkpoint;
        let failure = match store.try_claim(name).await {
            Ok(Some(claim)) => {
                let followed = follow(&events, store.as_ref(), projector.as_ref(), &progress).await;
                drop(claim);
                match followed {
                    Ok(()) => return,
                    Err(Halt::Stopped(stopped)) => {
                        tracing::error!(
                            projector = name,
                            position = stopped.position,
                            stream = %stopped.stream,
                            event_type = %stopped.event_type,
                            reason = %stopped.reason,
                            "projector stopped at an event it cannot apply; the other read models carry on, a restart tries it again"
                        );
                        progress.send_modify(|p| p.stopped = Some(Arc::new(stopped)));
                        return;
                    }
                    Err(Halt::Failed(e)) => e,
                }
            }
            Ok(None) => match mirror(&events, store.as_ref(), name, &progress).await {
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
                if logged_at != Some(checkpoint) || progress.borrow().checkpoint > checkpoint {
                    tracing::error!(projector = name, error = %failure, "projection failed; retrying from its checkpoint with back-off");
                    logged_at = Some(progress.borrow().checkpoint);
                    backoff = Duration::from_millis(50);
                } else {
                    tracing::debug!(projector = name, error = %failure, "projection failed again");
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
    progress: &watch::Sender<Progress>,
) -> Result<(), ProjectionError> {
    let mut head = events.head();
    let until = tokio::time::Instant::now() + CLAIM_EVERY;
    while tokio::time::Instant::now() < until {
        let position = store.checkpoint(projector).await?;
        progress.send_modify(|p| p.checkpoint = position);
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
    progress: &watch::Sender<Progress>,
) -> Result<(), Halt> {
    let from = store.checkpoint(projector.name()).await?;
    progress.send_modify(|p| p.checkpoint = from);
    let mut subscription = events.clone().subscribe_all(from);
    let mut done = from;
    while let Some(batch) = subscription.next_batch().await {
        let batch = batch?;
        if batch.is_empty() {
            continue;
        }
        match apply_batch(store, projector, &batch, done).await {
            Ok(to) => {
                done = to;
                progress.send_modify(|p| p.applied += batch.len() as u64);
            }
            // Which event? Each alone, in order, until the one that fails.
            Err(e) if e.is_permanent() => {
                for event in &batch {
                    match apply_batch(store, projector, std::slice::from_ref(event), done).await {
                        Ok(to) => done = to,
                        Err(e) if e.is_permanent() => {
                            return Err(Halt::Stopped(Stopped {
                                position: event.position,
                                stream: event.stream.clone(),
                                event_type: event.event_type.clone(),
                                cause: e.cause(),
                                reason: e.to_string(),
                            }));
                        }
                        Err(e) => return Err(e.into()),
                    }
                    progress.send_modify(|p| {
                        p.checkpoint = done;
                        p.applied += 1;
                    });
                }
            }
            Err(e) => return Err(e.into()),
        }
        progress.send_modify(|p| p.checkpoint = done);
    }
    Ok(())
}

/// Applies `batch` on top of checkpoint `from`; returns the new checkpoint.
#[tracing::instrument(level = "debug", skip_all, fields(projector = projector.name(), first = batch.first().map(|e| e.position), events = batch.len()))]
async fn apply_batch(
    store: &dyn ReadModelStore,
    projector: &dyn Projector,
    batch: &[RecordedEvent],
    from: u64,
) -> Result<u64, ProjectionError> {
    let mut tx = Transaction::new(store);
    for event in batch {
        match projector.apply(event, &mut tx).await {
            // Sealed with a key since destroyed: what it said is gone, and
            // a projector that needs to read it passes it by.
            Err(ProjectionError::Event { .. }) if event.is_shredded() => {}
            applied => applied?,
        }
        if let Some(company) = terminated(event) {
            forget_company(projector, &mut tx, company).await?;
        }
    }
    let to = batch.last().map_or(from, |e| e.position);
    store.commit(projector.name(), tx.into_changes(), from, to).await?;
    if batch.iter().any(erases) {
        store.erase_deleted().await?;
    }
    Ok(to)
}

/// Whether `event` erases a person (rule U1) or a company (rule B3): what
/// the read models deleted for it must leave no trace in their files.
fn erases(event: &RecordedEvent) -> bool {
    event.category() == <domain::tenant::Tenant as domain::Aggregate>::CATEGORY
        && [domain::tenant::USER_DELETED, domain::tenant::TERMINATED].contains(&event.event_type.as_str())
}

/// The company `event` terminates (rule B3), if it is a termination.
fn terminated(event: &RecordedEvent) -> Option<uuid::Uuid> {
    (event.category() == <domain::tenant::Tenant as domain::Aggregate>::CATEGORY
        && event.event_type == domain::tenant::TERMINATED)
        .then_some(event.metadata.tenant)
        .flatten()
}

/// Deletes every row of `company` from the projector's tables: every key
/// of a company's data starts with its id.
async fn forget_company(
    projector: &dyn Projector,
    tx: &mut Transaction<'_>,
    company: uuid::Uuid,
) -> Result<(), ProjectionError> {
    let prefix = company.to_string();
    for table in projector.tables() {
        for (key, _) in tx.scan_all(table, &prefix).await? {
            tx.delete(table, key);
        }
    }
    Ok(())
}

/// Every row of every table of `projectors`, table by table: what two
/// stores are compared by.
///
/// # Errors
/// When the store fails.
pub async fn dump(
    store: &dyn ReadModelStore,
    projectors: &[Arc<dyn Projector>],
) -> Result<Vec<(&'static str, Vec<crate::Row>)>, ProjectionError> {
    let mut tables = Vec::new();
    for projector in projectors {
        for table in projector.tables() {
            tables.push((*table, store.scan(table, "", None, usize::MAX).await?));
        }
    }
    Ok(tables)
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
    rebuild_with(events, store, projectors, &mut |_, _| {}).await
}

/// [`rebuild`], telling `progress` the position reached and the head after
/// every batch.
///
/// # Errors
/// As [`rebuild`].
pub async fn rebuild_with(
    events: &dyn EventStore,
    store: &dyn ReadModelStore,
    projectors: &[Arc<dyn Projector>],
    progress: &mut (dyn FnMut(u64, u64) + Send),
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
        progress(after, head);
    }
    Ok(read)
}
