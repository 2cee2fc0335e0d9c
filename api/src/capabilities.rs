//! What a capability of the server is made of, described in one value:
//! the aggregates its follow-ups command, its projectors, its reactions,
//! what its timers cause, its background workers and its plain HTTP
//! routes. The server starts from the one list,
//! [`crate::schema::capabilities`]; each capability's description sits in
//! its schema module.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::web::ServiceConfig;
use blobs::Blobs;
use commands::{AggregateHandle, Commands, Reaction, TimerReaction};
use mailer::Relay;
use projections::{Projector, ReadModelStore};
use tokio::sync::watch;

/// One capability of the server.
pub struct Capability {
    pub name: &'static str,
    /// The aggregates of the capability.
    pub aggregates: Vec<AggregateHandle>,
    pub projectors: Vec<Arc<dyn Projector>>,
    /// Its reactions to recorded events (fresh memory each time it is
    /// asked).
    pub reactions: fn() -> Vec<Reaction>,
    /// What its kinds of timers cause.
    pub timers: Vec<(&'static str, TimerReaction)>,
    pub workers: Vec<Worker>,
    /// Its HTTP routes besides GraphQL (downloads, say); their handlers
    /// find the backend as `web::Data<Arc<Backend>>`.
    pub routes: Option<fn(&mut ServiceConfig)>,
}

impl Capability {
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            name,
            aggregates: vec![],
            projectors: vec![],
            reactions: Vec::new,
            timers: vec![],
            workers: vec![],
            routes: None,
        }
    }
}

/// What a worker may use.
#[derive(Clone)]
pub struct WorkerContext {
    pub commands: Arc<Commands>,
    pub read_models: Arc<dyn ReadModelStore>,
    pub blobs: Arc<dyn Blobs>,
    pub relay: Option<Relay>,
    /// The key that signs checkpoints of the hash chain, and how often.
    pub checkpoints: crate::schema::Checkpointing,
    /// Seals personal payloads, and destroys the keys of the deleted.
    pub payloads: Arc<store::sealing::Sealer>,
    /// The log as stored (sealed payloads as ciphertext), over which the
    /// hash chain runs.
    pub stored: Arc<dyn store::EventStore>,
    /// Where workers make files before the blob store takes them, in the
    /// data directory; each worker keeps a folder of its own there.
    pub scratch: std::path::PathBuf,
    /// Where history older than the retention period goes, and how often.
    pub retention: crate::schema::Retaining,
    /// The aggregates of the capabilities, by category (to snapshot them).
    pub reactions: Arc<commands::Reactions>,
}

/// A started worker: how far into the log it has handled events, and what
/// keeps it running (dropping it stops it).
pub struct Running {
    pub handled: watch::Receiver<u64>,
    pub guard: Box<dyn std::any::Any + Send + Sync>,
}

pub type Starting = Pin<Box<dyn Future<Output = anyhow::Result<Running>> + Send>>;

/// A capability's worker: its name and how it starts.
#[derive(Clone, Copy)]
pub struct Worker {
    pub name: &'static str,
    pub start: fn(WorkerContext) -> Starting,
}

/// A task that ends with its owner.
pub struct Stopping(pub tokio::task::JoinHandle<()>);

impl Drop for Stopping {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `step` until it succeeds, with growing pauses, and gives what it
/// gave: what a worker finishes is recorded in the log, and its place
/// moves past the work only once it is, so it must happen.
pub(crate) async fn until_done<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    what: &str,
    mut step: impl FnMut() -> F,
) -> T {
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        match step().await {
            Ok(done) => return done,
            Err(e) => {
                tracing::warn!(error = %e, "{what}: not done yet; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(30));
            }
        }
    }
}

/// Runs a command until it is decided, applied or refused (a refusal says
/// why, and trying again would not change it), trying again with growing
/// pauses while the store fails.
pub(crate) async fn until_decided<A: domain::Aggregate>(
    commands: &Arc<Commands>,
    what: &str,
    (id, context, command): (uuid::Uuid, &commands::CommandContext, A::Command),
) where
    A::Command: Clone,
{
    let outcome = until_done(what, || async {
        match commands.execute::<A>(id, context, command.clone()).await {
            Err(commands::CommandError::Rejected(refused)) => Ok(Err(refused)),
            Ok(_) => Ok(Ok(())),
            Err(failed) => Err(failed),
        }
    })
    .await;
    if let Err(refused) = outcome {
        tracing::warn!(reason = %refused, "{what}: refused");
    }
}

/// How often a worker's place is written down while it moves.
const PLACE_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Where a worker that follows the log has handled it up to, kept as a
/// checkpoint of the read-model store (`worker <name>`), with what it
/// remembers of the log before (a row of `worker_memory`, in the same
/// commit): a restart goes on from there instead of the log's start.
/// Everything at or below it is done; what came after is done again, which
/// a worker's commands (ids derived from their cause) and work (looked up
/// before it is done) allow.
pub(crate) struct Place {
    store: Arc<dyn ReadModelStore>,
    name: String,
}

/// The table of what workers remember with their place.
const MEMORY: &str = "worker_memory";

impl Place {
    pub(crate) fn of(store: Arc<dyn ReadModelStore>, worker: &str) -> Self {
        Self { store, name: format!("worker {worker}") }
    }

    /// Where the worker had got to (0: nowhere yet), and what it
    /// remembered there (`null`: nothing).
    ///
    /// # Errors
    /// When the read-model store fails.
    pub(crate) async fn load(&self) -> Result<commands::Handled, projections::ProjectionError> {
        let position = self.store.checkpoint(&self.name).await?;
        let memory = self.store.get(MEMORY, &self.name).await?.unwrap_or_default();
        Ok(commands::Handled { position, memory: Arc::new(memory) })
    }

    /// Writes down where the worker is as `handled` moves, at most every
    /// [`PLACE_EVERY`], until it closes or the returned task is dropped.
    pub(crate) fn keep<T>(self, mut handled: watch::Receiver<T>, from: u64) -> Stopping
    where
        T: Clone + Into<commands::Handled> + Send + Sync + 'static,
    {
        Stopping(tokio::spawn(async move {
            let mut kept = from;
            while handled.changed().await.is_ok() {
                let now: commands::Handled = handled.borrow_and_update().clone().into();
                if now.position > kept {
                    let memory = (!now.memory.is_null()).then(|| projections::Change::Put {
                        table: MEMORY,
                        key: self.name.clone(),
                        value: (*now.memory).clone(),
                    });
                    match self.store.commit(&self.name, memory.into_iter().collect(), kept, now.position).await {
                        Ok(()) => kept = now.position,
                        // Another holder wrote it (a take-over): from theirs.
                        Err(projections::ProjectionError::CheckpointMoved { actual, .. }) => kept = actual,
                        Err(e) => tracing::warn!(worker = %self.name, error = %e, "the worker's place was not kept"),
                    }
                }
                tokio::time::sleep(PLACE_EVERY).await;
            }
        }))
    }
}

/// A worker that follows the log from its place: `pick` takes from each
/// event what there is to do, `work` does it, one at a time and in the log's
/// order, and the handled position moves, and is kept, once all before it
/// is done.
///
/// # Errors
/// When its place cannot be read.
pub(crate) async fn following<S, F>(
    store: Arc<dyn store::EventStore>,
    place: Place,
    mut pick: impl FnMut(&store::RecordedEvent) -> Option<S> + Send + 'static,
    mut work: impl FnMut(S) -> F + Send + 'static,
) -> anyhow::Result<Running>
where
    S: Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    /// What the worker takes from the log, in order.
    enum Step<S> {
        Do(S),
        /// Everything up to this position has been read.
        Reached(u64),
    }
    let from = place.load().await?.position;
    let (handled, position) = watch::channel(from);
    let keeping = place.keep(position.clone(), from);
    let (steps, mut next) = tokio::sync::mpsc::unbounded_channel();
    let follow = store::follow(store, from, move |batch| {
        for step in batch.iter().filter_map(&mut pick) {
            let _ = steps.send(Step::Do(step));
        }
        if let Some(last) = batch.last() {
            let _ = steps.send(Step::Reached(last.position));
        }
    });
    let run = async move {
        while let Some(step) = next.recv().await {
            match step {
                Step::Do(step) => work(step).await,
                Step::Reached(at) => {
                    handled.send_replace(at);
                }
            }
        }
    };
    // One task for both, so that stopping the worker stops its reading too.
    let task = tokio::spawn(async move {
        tokio::join!(follow, run);
    });
    Ok(Running { handled: position, guard: Box::new((Stopping(task), keeping)) })
}
