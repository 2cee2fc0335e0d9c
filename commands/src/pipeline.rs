//! The path of a command: authorise → load (snapshot + newer events) →
//! decide with `now` → append with the exact expected version → on conflict
//! read the newer events and decide again, with jittered back-off, until the command is
//! decided or its deadline passes → result.
//!
//! A command id has one effect and one answer, also across processes that
//! share a store: the events of a command get ids derived from the command
//! id, so a second process that decides the same command appends events the
//! store already holds (an idempotent repetition) or conflicts; either way
//! the answer is the stored events. A refusal, a decision to do nothing and a
//! conflict each first look in the stream for the command's events that the
//! command log has not learned yet.

use std::any::Any;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use domain::{Actor, Aggregate, DomainError, DomainEvent, Sealing};
use snapshots::{Loaded, Snapshot, SnapshotError, SnapshotPolicy, SnapshotStore};
use store::sealing::KeyRef;
use store::{Direction, EventData, EventStore, ExpectedVersion, Metadata, RecordedEvent, StoreError};
use uuid::Uuid;

use crate::batches::{Batches, Waiting};
use crate::command_log::Written;
use crate::hot_streams::HotStreams;
use crate::{Clock, CommandLog};

/// Who sends a command, and the ids that tie it to others.
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// The command's own id: the same id again has no second effect.
    pub command_id: Uuid,
    pub actor: Actor,
    pub tenant: Option<Uuid>,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub client_address: Option<String>,
}

impl CommandContext {
    pub fn new(command_id: Uuid, actor: Actor, tenant: Option<Uuid>) -> Self {
        Self { command_id, actor, tenant, correlation_id: None, causation_id: None, client_address: None }
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<E> {
    pub stream: String,
    /// The events the command appended (none when it changed nothing).
    pub events: Vec<E>,
    /// The global position of its last event (0 when it appended none).
    pub position: u64,
    /// Whether this is the answer to an earlier command with the same id.
    pub repeated: bool,
}

/// Why a command did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A business rule said no; nothing was written.
    #[error(transparent)]
    Rejected(#[from] DomainError),
    /// Other writers kept changing the stream until the command's deadline
    /// passed.
    #[error("the stream `{0}` kept changing; try again")]
    Contention(String),
    /// The command id was used before for another command: of another kind,
    /// by another user, or on another stream.
    #[error("the command id {0} was already used for another command")]
    CommandIdReused(Uuid),
    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored events could not be read back into the aggregate.
    #[error(transparent)]
    Corrupt(#[from] SnapshotError),
    /// A decided event could not be written as JSON (a fault of ours, not
    /// of the request).
    #[error("an event could not be encoded: {0}")]
    Encoding(String),
}

/// The stream of an aggregate instance: `<category>-<id>`.
pub fn stream_name<A: Aggregate>(id: Uuid) -> String {
    format!("{}-{}", A::CATEGORY, id.simple())
}

/// A state shared with the ones the pipeline keeps, and the version of its
/// stream it is at (`None`: no events).
#[derive(Debug)]
pub struct Shared<A> {
    pub state: Arc<A>,
    pub version: Option<u64>,
}

/// The command pipeline.
pub struct Commands {
    store: Arc<dyn EventStore>,
    snapshots: Option<Arc<dyn SnapshotStore>>,
    policy: SnapshotPolicy,
    clock: Arc<dyn Clock>,
    log: Arc<CommandLog>,
    /// Following the log for command ids, when the store does not index them.
    follower: Option<tokio::task::JoinHandle<()>>,
    in_flight: Mutex<HashSet<Uuid>>,
    deadline: Duration,
    states: StateCache,
    hot: HotStreams,
    batches: Batches,
}

/// How many aggregate states the pipeline keeps between commands.
const CACHED_STATES: usize = 10_000;

/// The state each stream had after the last command this process wrote to
/// it, so that the next command on it needs no read. A cached state can be
/// stale when another process wrote since: the append then conflicts, and
/// the retry loads from the store. When full, the least used make room.
struct StateCache {
    entries: quick_cache::sync::Cache<String, CachedState>,
}

/// A stream's version and its state (an `A` of the stream's aggregate).
type CachedState = (u64, Arc<dyn Any + Send + Sync>);

impl Default for StateCache {
    fn default() -> Self {
        Self { entries: quick_cache::sync::Cache::new(CACHED_STATES) }
    }
}

impl StateCache {
    /// A copy of the kept state of `stream`, to decide on and change.
    fn get<A: Aggregate>(&self, stream: &str) -> Option<Loaded<A>> {
        let kept = self.shared::<A>(stream)?;
        Some(Loaded { state: A::clone(&kept.state), version: kept.version, snapshot_version: None })
    }

    /// The kept state of `stream`, shared rather than copied.
    fn shared<A: Aggregate>(&self, stream: &str) -> Option<Shared<A>> {
        let (version, state) = self.entries.get(stream)?;
        Some(Shared { state: state.downcast::<A>().ok()?, version: Some(version) })
    }

    fn put<A: Aggregate>(&self, stream: &str, version: u64, state: A) {
        self.put_shared(stream, version, Arc::new(state));
    }

    /// Keeps `state` unless a newer one is kept already.
    fn put_shared<A: Aggregate>(&self, stream: &str, version: u64, state: Arc<A>) {
        if self.entries.get(stream).is_some_and(|(kept, _)| kept > version) {
            return;
        }
        self.entries.insert(stream.to_owned(), (version, state));
    }

    fn forget(&self, stream: &str) {
        self.entries.remove(stream);
    }
}

impl Drop for Commands {
    fn drop(&mut self) {
        if let Some(follower) = &self.follower {
            follower.abort();
        }
    }
}

impl Commands {
    /// A pipeline whose commands decide again after a concurrent change
    /// until `deadline` has passed since they started.
    ///
    /// # Errors
    /// When the command log cannot be recovered from the store.
    pub async fn new(
        store: Arc<dyn EventStore>,
        snapshots: Option<Arc<dyn SnapshotStore>>,
        policy: SnapshotPolicy,
        clock: Arc<dyn Clock>,
        deadline: Duration,
    ) -> Result<Self, StoreError> {
        let (log, follower) = CommandLog::open(store.clone()).await?;
        Ok(Self {
            store,
            snapshots,
            policy,
            clock,
            log,
            follower,
            in_flight: Mutex::new(HashSet::new()),
            deadline,
            states: StateCache::default(),
            hot: HotStreams::default(),
            batches: Batches::default(),
        })
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// Loads the current state of aggregate `id`.
    ///
    /// # Errors
    /// When the store fails or an event cannot be decoded.
    pub async fn load<A: Aggregate>(&self, id: Uuid) -> Result<Loaded<A>, CommandError> {
        self.load_stream::<A>(&stream_name::<A>(id), true).await
    }

    /// The state of aggregate `id` as this process last wrote or read it,
    /// loading it when it has neither. It can lag behind what another
    /// process wrote since; commands never rely on it, they check the
    /// stream's version when they append.
    ///
    /// # Errors
    /// When the store fails or an event cannot be decoded.
    pub async fn load_latest<A: Aggregate>(&self, id: Uuid) -> Result<Arc<A>, CommandError> {
        Ok(self.load_kept::<A>(id).await?.state)
    }

    /// [`Self::load_latest`] with the version of the state; the state is
    /// shared with the kept one, not copied.
    ///
    /// # Errors
    /// When the store fails or an event cannot be decoded.
    pub async fn load_kept<A: Aggregate>(&self, id: Uuid) -> Result<Shared<A>, CommandError> {
        let stream = stream_name::<A>(id);
        if let Some(kept) = self.states.shared::<A>(&stream) {
            return Ok(kept);
        }
        let loaded = self.load_stream::<A>(&stream, true).await?;
        Ok(self.keep(&stream, loaded))
    }

    /// The stored state of aggregate `id`, kept for [`Self::load_latest`]:
    /// the kept state when the store holds no newer event (one empty read),
    /// else the kept state with the newer events.
    ///
    /// # Errors
    /// When the store fails or an event cannot be decoded.
    pub async fn load_stored<A: Aggregate>(&self, id: Uuid) -> Result<Shared<A>, CommandError> {
        let stream = stream_name::<A>(id);
        let Some(kept) = self.states.shared::<A>(&stream) else {
            let loaded = self.load_stream::<A>(&stream, true).await?;
            return Ok(self.keep(&stream, loaded));
        };
        if !self.store.has_events_after(&stream, kept.version).await? {
            return Ok(kept);
        }
        let older = Loaded { state: A::clone(&kept.state), version: kept.version, snapshot_version: None };
        match self.catch_up::<A>(&stream, older).await {
            Ok(loaded) => Ok(self.keep(&stream, loaded)),
            Err(e) => {
                self.states.forget(&stream);
                Err(e)
            }
        }
    }

    /// Keeps `loaded` (when the stream has events) and hands it out shared.
    fn keep<A: Aggregate>(&self, stream: &str, loaded: Loaded<A>) -> Shared<A> {
        let state = Arc::new(loaded.state);
        if let Some(version) = loaded.version {
            self.states.put_shared(stream, version, state.clone());
        }
        Shared { state, version: loaded.version }
    }

    /// The events command `command_id` recorded, as stored; none when this
    /// process does not know it or it recorded nothing.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn recorded(&self, command_id: Uuid) -> Result<Vec<RecordedEvent>, CommandError> {
        let Some(written) = self.log.get(command_id).await? else { return Ok(Vec::new()) };
        self.read_written(&written).await
    }

    /// The events `written` names, as stored.
    async fn read_written(&self, written: &Written) -> Result<Vec<RecordedEvent>, CommandError> {
        let count = usize::try_from(written.count).unwrap_or(usize::MAX);
        Ok(self.store.read_appended(&written.stream, written.first_version, count, written.position).await?)
    }

    /// The log position of aggregate `id`'s newest event; 0 when it has none.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn newest_position<A: Aggregate>(&self, id: Uuid) -> Result<u64, CommandError> {
        let newest = self.store.read_stream(&stream_name::<A>(id), Direction::Backwards, None, 1).await?;
        Ok(newest.first().map_or(0, |e| e.position))
    }

    /// Saves a snapshot of aggregate `id` of `tenant` as it stands now,
    /// whatever the policy says (nothing without a snapshot store, or for
    /// a stream without events): its loads begin there from then on, and
    /// read none of the events before it, which may leave the live log.
    ///
    /// # Errors
    /// When the store fails, an event does not decode or the snapshot is
    /// not saved.
    pub async fn snapshot_now<A: Aggregate>(&self, tenant: Uuid, id: Uuid) -> Result<(), CommandError> {
        let Some(snapshots) = &self.snapshots else { return Ok(()) };
        let stream = stream_name::<A>(id);
        let loaded = self.load_stream::<A>(&stream, true).await?;
        let Some(version) = loaded.version.filter(|v| loaded.snapshot_version != Some(*v)) else { return Ok(()) };
        let state = serde_json::to_vec(&loaded.state).map_err(|e| CommandError::Encoding(e.to_string()))?;
        let seal = seal_key(id, Some(tenant), A::SEALING);
        let snapshot = Snapshot { stream, version, schema_version: A::SNAPSHOT_VERSION, state, seal };
        snapshots.save(snapshot).await?;
        Ok(())
    }

    /// Loads state from the events alone, without any snapshot.
    ///
    /// # Errors
    /// When the store fails or an event cannot be decoded.
    pub async fn load_without_snapshot<A: Aggregate>(&self, id: Uuid) -> Result<Loaded<A>, CommandError> {
        self.load_stream::<A>(&stream_name::<A>(id), false).await
    }

    async fn load_stream<A: Aggregate>(&self, stream: &str, use_snapshot: bool) -> Result<Loaded<A>, CommandError> {
        let snapshots = if use_snapshot { self.snapshots.as_deref() } else { None };
        Ok(snapshots::load(self.store.as_ref(), snapshots, stream, A::SNAPSHOT_VERSION, fold::<A>).await?)
    }

    /// `loaded`, a state `stream` once had, with the events stored since.
    async fn catch_up<A: Aggregate>(&self, stream: &str, loaded: Loaded<A>) -> Result<Loaded<A>, CommandError> {
        Ok(snapshots::catch_up(self.store.as_ref(), stream, loaded, fold::<A>).await?)
    }

    /// Runs `command` against aggregate `id`.
    ///
    /// The command runs in a task of its own: a caller that goes away (a
    /// client that disconnects) cannot stop it between the append and the
    /// command log, so a retry with the same id finds it.
    ///
    /// # Errors
    /// [`CommandError::Rejected`] when a rule refuses it; the other variants
    /// when it could not be carried out. Either way nothing was written.
    pub async fn execute<A: Aggregate>(
        self: &Arc<Self>,
        id: Uuid,
        context: &CommandContext,
        command: A::Command,
    ) -> Result<Outcome<A::Event>, CommandError> {
        let this = self.clone();
        let context = context.clone();
        tokio::spawn(async move { this.run::<A>(id, &context, command).await })
            .await
            .map_err(|e| CommandError::Store(StoreError::Unavailable(format!("command task failed: {e}"))))?
    }

    async fn run<A: Aggregate>(
        &self,
        id: Uuid,
        context: &CommandContext,
        command: A::Command,
    ) -> Result<Outcome<A::Event>, CommandError> {
        if A::BATCHES {
            self.run_batched::<A>(id, context, command).await
        } else {
            self.run_alone::<A>(id, context, command).await
        }
    }

    /// Queues the command for its stream's next batch (see [`Batches`]);
    /// whoever gets the stream's lock first appends what waits then.
    async fn run_batched<A: Aggregate>(
        &self,
        id: Uuid,
        context: &CommandContext,
        command: A::Command,
    ) -> Result<Outcome<A::Event>, CommandError> {
        // A command the log knows answers as before; the callers ask at
        // once, not the batch one by one.
        if self.log.get(context.command_id).await?.is_some() {
            return self.run_alone::<A>(id, context, command).await;
        }
        let stream = stream_name::<A>(id);
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        let appending = self.batches.push(&stream, Waiting { context: context.clone(), command, reply });
        loop {
            tokio::select! {
                biased;
                answered = &mut answer => {
                    return answered.map_err(|_| CommandError::Store(StoreError::Unavailable("a batch was dropped".into())))?;
                }
                _turn = appending.lock() => {
                    let batch = self.batches.take::<A::Command, A::Event>(&stream, &appending);
                    if !batch.is_empty() {
                        self.append_batch::<A>(id, &stream, batch).await;
                    }
                    self.batches.done(&stream, &appending);
                }
            }
        }
    }

    /// Decides the commands of `batch` in turn on the stream's state and
    /// appends all their events at once. A command that is refused or finds
    /// nothing to do, and the whole batch when the append meets another
    /// writer (or its own events), run alone afterwards, as any command
    /// does, and answer from there.
    async fn append_batch<A: Aggregate>(&self, id: Uuid, stream: &str, batch: Vec<Waiting<A::Command, A::Event>>) {
        let mut alone = Vec::new();
        let mut decided = Vec::new();
        let mut data = Vec::new();
        let loaded = match self.states.get::<A>(stream) {
            Some(kept) => Ok(kept),
            None => self.load_stream::<A>(stream, true).await,
        };
        let Ok(loaded) = loaded else {
            return self.run_each_alone::<A>(id, batch).await;
        };
        let (mut state, version) = (loaded.state, loaded.version);
        let now = self.clock.now();
        for waiting in batch {
            // A command id known meanwhile meets its own events' ids in the
            // store: the append conflicts, and it answers alone.
            let events = state
                .authorize(&waiting.context.actor, &waiting.command)
                .and_then(|()| state.decide(&waiting.command, now))
                .unwrap_or_default();
            if events.is_empty() {
                alone.push(waiting);
                continue;
            }
            match enveloped::<A>(id, &waiting.context, &events, now) {
                Ok(enveloped) => {
                    state = events.iter().fold(state, |s, e| s.evolve(e));
                    data.extend(enveloped);
                    decided.push((waiting, events));
                }
                Err(_) => alone.push(waiting),
            }
        }
        if !decided.is_empty() {
            let expected = version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
            let count = data.len();
            let appended = match self.store.append(stream, expected, data).await {
                Ok(result) if !result.repeated => {
                    let first = result.version + 1 - count as u64;
                    self.store.read_appended(stream, first, count, result.position).await.map(|read| (result, read))
                }
                Ok(_) => Err(StoreError::Conflict { stream: stream.to_owned(), expected, actual: None }),
                Err(e) => Err(e),
            };
            match appended {
                Ok((result, read)) if read.len() == count => {
                    self.states.put(stream, result.version, state.clone());
                    let seal = seal_key(id, decided[0].0.context.tenant, A::SEALING);
                    self.snapshot_if_due(stream, version, state, result.version, seal);
                    let mut events_read = read.into_iter();
                    for (waiting, events) in decided {
                        let mine: Vec<_> = events_read.by_ref().take(events.len()).collect();
                        let (first, last) = (mine[0].version, mine[mine.len() - 1].position);
                        let written = Written {
                            stream: stream.to_owned(),
                            first_version: first,
                            count: mine.len() as u64,
                            position: last,
                        };
                        self.log.record(waiting.context.command_id, written);
                        let outcome = Outcome { stream: stream.to_owned(), events, position: last, repeated: false };
                        let _ = waiting.reply.send(Ok(outcome));
                    }
                }
                // Another writer came between, or the store failed: each
                // alone, as any command.
                _ => {
                    self.states.forget(stream);
                    alone.extend(decided.into_iter().map(|(waiting, _)| waiting));
                }
            }
        }
        self.run_each_alone::<A>(id, alone).await;
    }

    async fn run_each_alone<A: Aggregate>(&self, id: Uuid, batch: Vec<Waiting<A::Command, A::Event>>) {
        for waiting in batch {
            let answer = self.run_alone::<A>(id, &waiting.context, waiting.command).await;
            let _ = waiting.reply.send(answer);
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(aggregate = A::CATEGORY, %id, command_id = %context.command_id))]
    async fn run_alone<A: Aggregate>(
        &self,
        id: Uuid,
        context: &CommandContext,
        command: A::Command,
    ) -> Result<Outcome<A::Event>, CommandError> {
        let stream = stream_name::<A>(id);
        let _guard = self.claim(context.command_id).await;
        if let Some(written) = self.log.get(context.command_id).await? {
            return self.replay::<A>(&stream, context, &command, written).await;
        }
        let deadline = tokio::time::Instant::now() + self.deadline;
        let mut turn = self.hot.turn_if_hot(&stream).await;
        let mut attempt = 0;
        let mut waits = backoff();
        // The kept state, trusted for a first decision only; then a state
        // read from the store, which other writers may have outrun (and
        // whether it conflicted).
        let mut kept = self.states.get::<A>(&stream);
        let mut read: Option<(Loaded<A>, bool)> = None;
        loop {
            attempt += 1;
            let from_cache = kept.is_some();
            let loaded = match (kept.take(), read.take()) {
                (Some(kept), _) => kept,
                // A store that holds nothing newer than a state that
                // conflicted disagrees with it: read it whole.
                (None, Some((read, conflicted))) => {
                    let decided_on = read.version;
                    let caught_up = self.catch_up::<A>(&stream, read).await?;
                    if conflicted && caught_up.version == decided_on {
                        self.load_stream::<A>(&stream, true).await?
                    } else {
                        caught_up
                    }
                }
                (None, None) => self.load_stream::<A>(&stream, true).await?,
            };
            let now = self.clock.now();
            let decided =
                loaded.state.authorize(&context.actor, &command).and_then(|()| loaded.state.decide(&command, now));
            let events = match decided {
                Ok(events) if !events.is_empty() => events,
                // A kept state may lack what another process wrote since:
                // only the stored state may refuse, or find nothing to do.
                _ if from_cache => {
                    self.states.forget(&stream);
                    read = Some((loaded, false));
                    continue;
                }
                // Refused, or nothing to do: perhaps because another process
                // has just carried out this very command.
                other => {
                    if let Some(done) = self.find::<A>(&stream, context, &command).await? {
                        return Ok(done);
                    }
                    let events = match other {
                        Ok(events) => events,
                        Err(refusal) => {
                            let called_for = loaded.state.after_refusal(&command, &refusal);
                            drop(turn);
                            if let Some(called_for) = called_for {
                                self.after_refusal::<A>(id, context, called_for).await;
                            }
                            return Err(refusal.into());
                        }
                    };
                    return Ok(Outcome { stream, events, position: 0, repeated: false });
                }
            };
            let data = enveloped::<A>(id, context, &events, now)?;
            let expected = loaded.version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
            match self.store.append(&stream, expected, data).await {
                // Another process appended this command's events first.
                Ok(result) if result.repeated => {
                    self.states.forget(&stream);
                    return self.find::<A>(&stream, context, &command).await?.ok_or_else(|| {
                        CommandError::Store(StoreError::Unavailable(format!(
                            "the events of command {} are stored but cannot be read",
                            context.command_id
                        )))
                    });
                }
                Ok(result) => {
                    let count = events.len() as u64;
                    self.log.record(
                        context.command_id,
                        Written {
                            stream: stream.clone(),
                            first_version: result.version + 1 - count,
                            count,
                            position: result.position,
                        },
                    );
                    let loaded_version = loaded.version;
                    let state = events.iter().fold(loaded.state, |s, e| s.evolve(e));
                    self.states.put(&stream, result.version, state.clone());
                    let seal = seal_key(id, context.tenant, A::SEALING);
                    self.snapshot_if_due(&stream, loaded_version, state, result.version, seal);
                    return Ok(Outcome { stream, events, position: result.position, repeated: false });
                }
                Err(StoreError::Conflict { .. }) => {
                    self.states.forget(&stream);
                    if let Some(done) = self.find::<A>(&stream, context, &command).await? {
                        return Ok(done);
                    }
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        return Err(CommandError::Contention(stream));
                    }
                    tracing::debug!(stream, attempt, "conflict; deciding again");
                    read = Some((loaded, true));
                    let wait = waits.next().unwrap_or(Duration::from_millis(128));
                    tokio::time::sleep(wait.min(deadline - now)).await;
                    if turn.is_none() {
                        turn = Some(self.hot.turn(&stream).await);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Runs what a refusal of the command `refused` called for (see
    /// [`Aggregate::after_refusal`]), as the system, under an id derived
    /// from the refused command's: a retry of it changes nothing more, and
    /// the refused command's own id stays unused. It runs alone, never in a
    /// batch: the refused command may be answering inside its stream's
    /// batch, whose turn it holds.
    async fn after_refusal<A: Aggregate>(&self, id: Uuid, refused: &CommandContext, command: A::Command) {
        let mut context = CommandContext::new(after_refusal_id(refused.command_id), Actor::System, refused.tenant);
        context.causation_id = Some(refused.command_id);
        context.correlation_id = refused.correlation_id.or(Some(refused.command_id));
        context.client_address.clone_from(&refused.client_address);
        if let Err(e) = Box::pin(self.run_alone::<A>(id, &context, command)).await {
            tracing::warn!(error = %e, "what a refusal called for was not done");
        }
    }

    /// The log position of what a refusal of command `refused` called for,
    /// when it recorded anything.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn after_refusal_position(&self, refused: Uuid) -> Result<Option<u64>, CommandError> {
        Ok(self.log.get(after_refusal_id(refused)).await?.map(|written| written.position))
    }

    /// Makes concurrent commands with one id run one after the other, so the
    /// second sees the first in the log.
    async fn claim(&self, command: Uuid) -> ClaimGuard<'_> {
        loop {
            let claimed = self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(command);
            if claimed {
                return ClaimGuard { set: &self.in_flight, command };
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    /// The answer already given to this command id, if it has had its
    /// effect: from the command log, or from the newest events of `stream`,
    /// which the log may not have learned yet (another process's, moments
    /// old).
    async fn find<A: Aggregate>(
        &self,
        stream: &str,
        context: &CommandContext,
        command: &A::Command,
    ) -> Result<Option<Outcome<A::Event>>, CommandError> {
        let id = context.command_id;
        let (written, known) = self.log.lookup(id).await?;
        if let Some(written) = written {
            return self.replay::<A>(stream, context, command, written).await.map(Some);
        }
        let mut found = Vec::new();
        let mut from = None;
        'pages: loop {
            let page = self.store.read_stream(stream, Direction::Backwards, from, UNLEARNED_PAGE).await?;
            for event in &page {
                if event.position <= known {
                    break 'pages;
                }
                if event.metadata.command_id == Some(id) {
                    found.push(event.clone());
                }
            }
            match page.last() {
                Some(last) if page.len() == UNLEARNED_PAGE && last.version > 0 => from = Some(last.version - 1),
                _ => break,
            }
        }
        if found.is_empty() {
            // Learned meanwhile (on another stream, say)?
            return match self.log.get(id).await? {
                Some(written) => self.replay::<A>(stream, context, command, written).await.map(Some),
                None => Ok(None),
            };
        }
        found.reverse();
        let (first, last) = (&found[0], &found[found.len() - 1]);
        let written = Written {
            stream: stream.to_owned(),
            first_version: first.version,
            count: found.len() as u64,
            position: last.position,
        };
        self.log.record(id, written.clone());
        self.answer::<A>(context, command, written, &found).await.map(Some)
    }

    /// The answer to a command whose id the log knows.
    async fn replay<A: Aggregate>(
        &self,
        stream: &str,
        context: &CommandContext,
        command: &A::Command,
        written: Written,
    ) -> Result<Outcome<A::Event>, CommandError> {
        // A command id names one command: reused for another stream (of
        // another aggregate or tenant) it is refused.
        if written.stream != stream {
            return Err(CommandError::CommandIdReused(context.command_id));
        }
        let stored = self.read_written(&written).await?;
        self.answer::<A>(context, command, written, &stored).await
    }

    /// The stored events of `command`'s id as its answer, once they are
    /// known to be this command's: written for the same user, and, for a
    /// command id a client chose, what this command decides on the state
    /// they were decided on (the same kinds of events). Ids the system
    /// derives name one thing each and are taken as they are.
    async fn answer<A: Aggregate>(
        &self,
        context: &CommandContext,
        command: &A::Command,
        written: Written,
        stored: &[RecordedEvent],
    ) -> Result<Outcome<A::Event>, CommandError> {
        let reused = || CommandError::CommandIdReused(context.command_id);
        let Some(first) = stored.first() else { return Err(reused()) };
        if stored.iter().any(|e| e.metadata.actor != context.actor.user()) {
            return Err(reused());
        }
        // Sealed with a key since destroyed, what the command wrote is gone:
        // its id and envelope still say it was carried out, and nothing is
        // left to answer with.
        if stored.iter().any(RecordedEvent::is_shredded) {
            return Ok(Outcome {
                stream: written.stream,
                events: Vec::new(),
                position: written.position,
                repeated: true,
            });
        }
        let events = stored.iter().map(decode::<A>).collect::<Result<Vec<_>, _>>().map_err(|_| reused())?;
        if context.actor != Actor::System {
            let before = self.load_before::<A>(&written.stream, written.first_version).await?;
            let decided = before.decide(command, first.metadata.occurred_at).map_err(|_| reused())?;
            let kinds = |events: &[A::Event]| events.iter().map(DomainEvent::event_type).collect::<Vec<_>>();
            if kinds(&decided) != kinds(&events) {
                return Err(reused());
            }
        }
        Ok(Outcome { stream: written.stream, events, position: written.position, repeated: true })
    }

    /// The state of aggregate `id` as it was at `as_of`: its stream's events
    /// up to that point folded, from a snapshot whose last event lies
    /// before it when there is one, never from a state that has moved on.
    ///
    /// # Errors
    /// When the store fails or an event does not decode.
    pub async fn load_as_of<A: Aggregate>(&self, id: Uuid, as_of: AsOf) -> Result<Past<A>, CommandError> {
        let stream = stream_name::<A>(id);
        let mut past = Past { state: A::default(), version: None, position: None, occurred_at: None };
        let mut next = 0;
        if let Some(snapshots) = &self.snapshots
            && let Ok(Some(snapshot)) = snapshots.load(&stream).await
            && snapshot.schema_version == A::SNAPSHOT_VERSION
            && let Some(last) =
                self.store.read_stream(&stream, Direction::Forwards, Some(snapshot.version), 1).await?.first()
            && last.version == snapshot.version
            && as_of.includes(last)
            && let Ok(kept) = serde_json::from_slice::<A>(&snapshot.state)
        {
            past = Past {
                state: kept,
                version: Some(last.version),
                position: Some(last.position),
                occurred_at: Some(last.metadata.occurred_at),
            };
            next = snapshot.version + 1;
        }
        loop {
            let page = self.store.read_stream(&stream, Direction::Forwards, Some(next), BEFORE_PAGE).await?;
            let full = page.len() == BEFORE_PAGE;
            for event in &page {
                if !as_of.includes(event) {
                    return Ok(past);
                }
                past.state = fold(std::mem::take(&mut past.state), event).map_err(|reason| SnapshotError::Fold {
                    stream: stream.clone(),
                    position: event.position,
                    reason,
                })?;
                past.version = Some(event.version);
                past.position = Some(event.position);
                past.occurred_at = Some(event.metadata.occurred_at);
                next = event.version + 1;
            }
            if !full {
                return Ok(past);
            }
        }
    }

    /// The state of `stream` just before `version`: from the snapshot when it
    /// is older, else from the start.
    async fn load_before<A: Aggregate>(&self, stream: &str, version: u64) -> Result<A, CommandError> {
        let mut state = A::default();
        let mut next = 0;
        if let Some(snapshots) = &self.snapshots
            && let Ok(Some(snapshot)) = snapshots.load(stream).await
            && snapshot.schema_version == A::SNAPSHOT_VERSION
            && snapshot.version < version
            && let Ok(kept) = serde_json::from_slice::<A>(&snapshot.state)
        {
            state = kept;
            next = snapshot.version + 1;
        }
        while next < version {
            let wanted = usize::try_from(version - next).unwrap_or(usize::MAX).min(BEFORE_PAGE);
            let page = self.store.read_stream(stream, Direction::Forwards, Some(next), wanted).await?;
            let Some(last) = page.last() else { break };
            next = last.version + 1;
            for event in page.iter().filter(|e| e.version < version) {
                state = fold(state, event).map_err(|reason| SnapshotError::Fold {
                    stream: stream.to_owned(),
                    position: event.position,
                    reason,
                })?;
            }
        }
        Ok(state)
    }

    /// Saves `state` (at `version`, loaded at `loaded`), sealed with `seal`,
    /// when the policy says so.
    fn snapshot_if_due<A: Aggregate>(
        &self,
        stream: &str,
        loaded: Option<u64>,
        state: A,
        version: u64,
        seal: Option<KeyRef>,
    ) {
        let Some(snapshots) = self.snapshots.clone() else { return };
        if !self.policy.due(loaded, version) {
            return;
        }
        let stream = stream.to_owned();
        tokio::spawn(async move {
            let state = match serde_json::to_vec(&state) {
                Ok(s) => s,
                Err(e) => return tracing::warn!(stream, error = %e, "snapshot not encoded"),
            };
            let snapshot =
                Snapshot { stream: stream.clone(), version, schema_version: A::SNAPSHOT_VERSION, state, seal };
            if let Err(e) = snapshots.save(snapshot).await {
                tracing::warn!(stream, error = %e, "snapshot not saved");
            }
        });
    }
}

struct ClaimGuard<'a> {
    set: &'a Mutex<HashSet<Uuid>>,
    command: Uuid,
}

impl Drop for ClaimGuard<'_> {
    fn drop(&mut self) {
        self.set.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.command);
    }
}

fn decode<A: Aggregate>(event: &RecordedEvent) -> Result<A::Event, String> {
    serde_json::from_slice(&event.data).map_err(|e| format!("{} v{}: {e}", event.event_type, event.schema_version))
}

/// A point in a stream's past: up to a position of the log, or up to a
/// time (the events that occurred at or before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    Position(u64),
    Time(chrono::DateTime<chrono::Utc>),
}

impl AsOf {
    fn includes(self, event: &RecordedEvent) -> bool {
        match self {
            AsOf::Position(position) => event.position <= position,
            AsOf::Time(time) => event.metadata.occurred_at <= time,
        }
    }
}

/// An aggregate's state at a point in its past, and the last event folded
/// into it (none: the stream had no events yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Past<A> {
    pub state: A,
    pub version: Option<u64>,
    pub position: Option<u64>,
    pub occurred_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The id of what a refusal of command `refused` calls for.
fn after_refusal_id(refused: Uuid) -> Uuid {
    Uuid::new_v5(&refused, b"after-refusal")
}

/// `state` with `event` applied. An event sealed with a key since
/// destroyed leaves the state as it is: what it said is gone.
///
/// # Errors
/// When the event does not decode as one of `A`'s.
pub fn fold<A: Aggregate>(state: A, event: &RecordedEvent) -> Result<A, String> {
    if event.is_shredded() {
        return Ok(state);
    }
    decode::<A>(event).map(|event| state.evolve(&event))
}

/// How many of a stream's newest events are read at a time when looking for
/// a command's events that the command log has not learned yet.
const UNLEARNED_PAGE: usize = 16;

/// How many events are read at a time when folding an earlier state.
const BEFORE_PAGE: usize = 1_000;

/// The namespace of the ids of commands' events.
const EVENT_IDS: Uuid = Uuid::from_u128(0x5d0c_7a3e_2f41_4b8e_9c6d_1e8f_0a7b_3c52);

/// The id of the `index`th event of `command`: the same in every process,
/// so the store's unique event ids let a command id have one effect.
fn event_id(command: Uuid, index: u32) -> Uuid {
    let mut name = [0; 20];
    name[..16].copy_from_slice(command.as_bytes());
    name[16..].copy_from_slice(&index.to_be_bytes());
    Uuid::new_v5(&EVENT_IDS, &name)
}

/// How long to wait before each new decision after a conflict: a time that
/// doubles from 1 ms to 128 ms plus a random part up to as much again, so
/// that writers in several processes fall out of step.
fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(1))
        .with_max_delay(Duration::from_millis(128))
        .with_jitter()
        .without_max_times()
        .build()
}

/// The key that seals what `sealing` names in the stream of `id` of
/// `tenant` (nothing outside a company).
fn seal_key(id: Uuid, tenant: Option<Uuid>, sealing: Sealing) -> Option<KeyRef> {
    let tenant = tenant?;
    match sealing {
        Sealing::Company => Some(KeyRef::company(tenant)),
        Sealing::CompanyMail => Some(KeyRef::company_mail(tenant)),
        Sealing::Owner => Some(KeyRef { tenant, subject: id }),
        Sealing::Clear => None,
    }
}

/// The events a command of aggregate `id` decided, as stored: each with
/// an id derived from the command's and sealed as its aggregate says.
fn enveloped<A: Aggregate>(
    id: Uuid,
    context: &CommandContext,
    events: &[A::Event],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<EventData>, CommandError> {
    (0..)
        .zip(events)
        .map(|(index, e)| {
            let seal = seal_key(id, context.tenant, e.sealing(id).unwrap_or(A::SEALING));
            envelope(event_id(context.command_id, index), e, context, now).map(|e| e.sealed_with(seal))
        })
        .collect()
}

fn envelope<E: DomainEvent>(
    id: Uuid,
    event: &E,
    context: &CommandContext,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<EventData, CommandError> {
    let metadata = Metadata {
        tenant: context.tenant,
        actor: context.actor.user(),
        command_id: Some(context.command_id),
        correlation_id: Some(context.correlation_id.unwrap_or(context.command_id)),
        causation_id: context.causation_id,
        client_address: context.client_address.clone(),
        occurred_at: now,
    };
    EventData::json(id, event.event_type(), event.schema_version(), event, metadata)
        .map_err(|e| CommandError::Encoding(e.to_string()))
}
