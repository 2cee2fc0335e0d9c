//! Carrying reactions out: the capabilities' pure reactions
//! ([`domain::reaction`]) turn recorded events into follow-ups; this module
//! reads the states they ask for and runs the commands they name, for the
//! background processes ([`crate::Processes`]), the scheduler's timers and
//! a request that wants an event's follow-ups done before it answers.

use std::any::Any;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use domain::reaction::{Cause, FollowUp};
use domain::{Actor, Aggregate, DomainError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use store::RecordedEvent;
use uuid::Uuid;

use crate::{AsOf, CommandContext, CommandError, Commands, Past};

type Future<'a, T> = Pin<Box<dyn std::future::Future<Output = Result<T, CommandError>> + Send + 'a>>;
type State = Arc<dyn Any + Send + Sync>;
/// A state and the version of its stream it is at (`None`: no events).
type Versioned = (State, Option<u64>);
type Command = dyn Any + Send + Sync;

/// How to read and command one aggregate's streams without naming its type.
#[derive(Clone, Copy)]
pub struct AggregateHandle {
    category: &'static str,
    kept: for<'a> fn(&'a Arc<Commands>, Uuid) -> Future<'a, Versioned>,
    stored: for<'a> fn(&'a Arc<Commands>, Uuid) -> Future<'a, Versioned>,
    newest: for<'a> fn(&'a Arc<Commands>, Uuid) -> Future<'a, u64>,
    as_of: for<'a> fn(&'a Arc<Commands>, Uuid, AsOf) -> Future<'a, Past<serde_json::Value>>,
    execute: for<'a> fn(&'a Arc<Commands>, Uuid, &'a CommandContext, &'a Command) -> Future<'a, u64>,
    snapshot: for<'a> fn(&'a Arc<Commands>, Uuid, Uuid) -> Future<'a, ()>,
    schemas: fn() -> Vec<(String, serde_json::Value)>,
}

impl AggregateHandle {
    /// The handle of `A`.
    pub fn of<A: Aggregate>() -> Self
    where
        A::Command: Clone,
    {
        Self {
            category: A::CATEGORY,
            kept: kept::<A>,
            stored: stored::<A>,
            newest: newest::<A>,
            as_of: as_of::<A>,
            execute: execute::<A>,
            snapshot: snapshot::<A>,
            schemas: domain::event_schemas::<A::Event>,
        }
    }

    /// The JSON Schema of each of the aggregate's event types, by name.
    pub fn event_schemas(&self) -> Vec<(String, serde_json::Value)> {
        (self.schemas)()
    }
}

fn as_of<A: Aggregate>(commands: &Arc<Commands>, id: Uuid, at: AsOf) -> Future<'_, Past<serde_json::Value>> {
    Box::pin(async move {
        let past = commands.load_as_of::<A>(id, at).await?;
        let state = serde_json::to_value(&past.state).map_err(|e| CommandError::Encoding(e.to_string()))?;
        Ok(Past { state, version: past.version, position: past.position, occurred_at: past.occurred_at })
    })
}

fn kept<A: Aggregate>(commands: &Arc<Commands>, id: Uuid) -> Future<'_, Versioned> {
    Box::pin(async move {
        let kept = commands.load_kept::<A>(id).await?;
        Ok((kept.state as State, kept.version))
    })
}

fn stored<A: Aggregate>(commands: &Arc<Commands>, id: Uuid) -> Future<'_, Versioned> {
    Box::pin(async move {
        let stored = commands.load_stored::<A>(id).await?;
        Ok((stored.state as State, stored.version))
    })
}

fn snapshot<A: Aggregate>(commands: &Arc<Commands>, tenant: Uuid, id: Uuid) -> Future<'_, ()> {
    Box::pin(commands.snapshot_now::<A>(tenant, id))
}

fn newest<A: Aggregate>(commands: &Arc<Commands>, id: Uuid) -> Future<'_, u64> {
    Box::pin(commands.newest_position::<A>(id))
}

fn execute<'a, A: Aggregate>(
    commands: &'a Arc<Commands>,
    id: Uuid,
    context: &'a CommandContext,
    command: &'a Command,
) -> Future<'a, u64>
where
    A::Command: Clone,
{
    Box::pin(async move {
        let command = command
            .downcast_ref::<A::Command>()
            .ok_or_else(|| DomainError::invalid("command", format!("not a command of {}", A::CATEGORY)))?;
        Ok(commands.execute::<A>(id, context, command.clone()).await?.position)
    })
}

/// Decodes an event and reacts to it; `None` when it cannot be decoded.
type React = Box<dyn Fn(&Cause, &RecordedEvent) -> Option<Vec<FollowUp>> + Send + Sync>;

/// What a remembering reaction keeps: written down as JSON with the
/// process managers' place, and read back when they resume from it.
struct Memory {
    save: Box<dyn Fn() -> serde_json::Value + Send + Sync>,
    restore: Box<dyn Fn(serde_json::Value) -> Result<(), serde_json::Error> + Send + Sync>,
}

/// A capability's reaction to the events of one aggregate.
pub struct Reaction {
    category: &'static str,
    react: React,
    memory: Option<Memory>,
}

impl Reaction {
    /// `react` to every event of `A`.
    pub fn on<A: Aggregate>(react: fn(&Cause, &A::Event) -> Vec<FollowUp>) -> Self {
        Self {
            category: A::CATEGORY,
            react: Box::new(move |cause, event| event.decode::<A::Event>().ok().map(|e| react(cause, &e))),
            memory: None,
        }
    }

    /// `react` to every event of `A`, remembering what it needs of earlier
    /// ones in an `S` (only this reaction waits for another's turn). The
    /// memory is kept with the place of whoever follows the log with it, so
    /// that following on from there needs none of the events before.
    pub fn remembering<A, S>(react: fn(&mut S, &Cause, &A::Event) -> Vec<FollowUp>) -> Self
    where
        A: Aggregate,
        S: Default + Serialize + DeserializeOwned + Send + 'static,
    {
        fn lock<S>(memory: &Mutex<S>) -> std::sync::MutexGuard<'_, S> {
            memory.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
        }
        let memory = Arc::new(Mutex::new(S::default()));
        let (kept, saved, restored) = (memory.clone(), memory.clone(), memory);
        Self {
            category: A::CATEGORY,
            react: Box::new(move |cause, event| {
                let event = event.decode::<A::Event>().ok()?;
                Some(react(&mut lock(&kept), cause, &event))
            }),
            memory: Some(Memory {
                // A memory that cannot be written reads as none: the next
                // start follows the log from its start instead.
                save: Box::new(move || serde_json::to_value(&*lock(&saved)).unwrap_or_default()),
                restore: Box::new(move |value| {
                    *lock(&restored) = serde_json::from_value(value)?;
                    Ok(())
                }),
            }),
        }
    }
}

/// What a timer of one kind causes when it goes off, given its payload and
/// the command id of the firing.
pub type TimerReaction = fn(&str, Uuid) -> Vec<FollowUp>;

/// Where a follow-up comes from: the tenant its commands are for, and the
/// event (if any) that caused them.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub tenant: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub correlation_id: Option<Uuid>,
    /// The causing event's aggregate category, stream id and version.
    pub cause: Option<(String, Uuid, u64)>,
}

impl Origin {
    pub fn of(event: &RecordedEvent) -> Self {
        Self {
            tenant: event.metadata.tenant,
            causation_id: Some(event.id),
            correlation_id: event.metadata.correlation_id.or(event.metadata.command_id),
            cause: event.stream_id().map(|id| (event.category().to_owned(), id, event.version)),
        }
    }

    fn context(&self, command_id: Uuid) -> CommandContext {
        let mut context = CommandContext::new(command_id, Actor::System, self.tenant);
        context.causation_id = self.causation_id;
        context.correlation_id = self.correlation_id;
        context
    }

    /// The version of the causing event, when it is of `category`'s
    /// stream `id`.
    fn version_in(&self, category: &str, id: Uuid) -> Option<u64> {
        let (cause_category, cause_id, version) = self.cause.as_ref()?;
        (cause_category == category && *cause_id == id).then_some(*version)
    }
}

/// Every capability's reactions, and the aggregates their follow-ups name.
pub struct Reactions {
    handles: HashMap<&'static str, AggregateHandle>,
    reactions: Vec<Reaction>,
}

impl Reactions {
    pub fn new(handles: impl IntoIterator<Item = AggregateHandle>, reactions: Vec<Reaction>) -> Self {
        let handles = handles.into_iter().map(|h| (h.category, h)).collect();
        Self { handles, reactions }
    }

    /// What the remembering reactions remember, one entry per reaction
    /// (by its place in the list).
    pub fn memory(&self) -> serde_json::Value {
        let entries = self.reactions.iter().enumerate().filter_map(|(i, r)| {
            let memory = r.memory.as_ref()?;
            Some((format!("{}#{i}", r.category), (memory.save)()))
        });
        serde_json::Value::Object(entries.collect())
    }

    /// Gives the remembering reactions back what [`Reactions::memory`]
    /// gave; false, saying why, when a reaction has no entry or one it
    /// cannot read (written by another version): the caller must then
    /// follow the log from its start to rebuild what they remember.
    pub fn restore(&self, saved: &serde_json::Value) -> bool {
        let mut restored = true;
        for (i, reaction) in self.reactions.iter().enumerate() {
            let Some(memory) = &reaction.memory else { continue };
            let name = format!("{}#{i}", reaction.category);
            match saved.get(&name).cloned().map(|value| (memory.restore)(value)) {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    tracing::warn!(reaction = name, error = %e, "a reaction's memory could not be read");
                    restored = false;
                }
                None => {
                    tracing::warn!(reaction = name, "a reaction's memory was not kept");
                    restored = false;
                }
            }
        }
        restored
    }

    /// The follow-ups `event` calls for (none when no reaction is about its
    /// aggregate, or it cannot be read).
    pub fn react(&self, event: &RecordedEvent) -> Vec<FollowUp> {
        // Sealed with a key since destroyed: what it said is gone, and so
        // is anything it could still cause.
        if event.is_shredded() {
            return Vec::new();
        }
        let Some(stream_id) = event.stream_id() else { return Vec::new() };
        let cause =
            Cause { event_id: event.id, stream_id, tenant: event.metadata.tenant, recorded_at: event.recorded_at };
        let mut follow_ups = Vec::new();
        for reaction in self.reactions.iter().filter(|r| r.category == event.category()) {
            match (reaction.react)(&cause, event) {
                Some(more) => follow_ups.extend(more),
                None => tracing::error!(position = event.position, "an unreadable event; no reaction to it"),
            }
        }
        follow_ups
    }

    /// Carries `follow_up` out: reads what it reads, runs what it commands.
    ///
    /// # Errors
    /// The first command's refusal or failure; what ran before it stays
    /// done, and carrying the follow-up out again does not repeat it.
    pub async fn carry_out(
        &self,
        commands: &Arc<Commands>,
        origin: &Origin,
        follow_up: &FollowUp,
    ) -> Result<CarriedOut, CommandError> {
        let mut carried = CarriedOut::default();
        let mut pending = vec![Pending::Borrowed(follow_up)];
        while let Some(next) = pending.pop() {
            match next.get() {
                FollowUp::Issue(issue) => {
                    let handle = self.handle(issue.category)?;
                    (handle.execute)(commands, issue.stream_id, &origin.context(issue.command_id), &*issue.command)
                        .await?;
                    carried.ran.push(issue.command_id);
                }
                FollowUp::Read(read) => {
                    let handle = self.handle(read.category)?;
                    // A kept state may lack what another process wrote since,
                    // and follow-ups decided on it would be the wrong ones: it
                    // is read only when it is the stream of the event being
                    // followed and holds that event (later events follow on
                    // by themselves); else the stored state is.
                    let caused_at = origin.version_in(read.category, read.stream_id);
                    let mut kept = None;
                    if let Some(caused_at) = caused_at {
                        let (state, version) = (handle.kept)(commands, read.stream_id).await?;
                        kept = (version >= Some(caused_at)).then_some((state, version));
                    }
                    let (state, version) = match kept {
                        Some(kept) => kept,
                        None => (handle.stored)(commands, read.stream_id).await?,
                    };
                    let then = read.then(&*state);
                    if then.is_empty() && (caused_at.is_none() || version != caused_at) {
                        carried.needless.push((read.category, read.stream_id));
                    }
                    // Depth first, in the order the reaction gave them.
                    pending.extend(then.into_iter().rev().map(Pending::Owned));
                }
            }
        }
        Ok(carried)
    }

    /// The log position of the newest event of `category`'s stream `id`; 0
    /// when it has none.
    ///
    /// # Errors
    /// When the aggregate is unknown or the store fails.
    pub async fn newest_position(
        &self,
        commands: &Arc<Commands>,
        category: &str,
        id: Uuid,
    ) -> Result<u64, CommandError> {
        (self.handle(category)?.newest)(commands, id).await
    }

    /// The state of `category`'s aggregate `id` as it was at `at`, as JSON.
    ///
    /// # Errors
    /// When the aggregate is unknown, the store fails or an event does not
    /// decode.
    pub async fn state_as_of(
        &self,
        commands: &Arc<Commands>,
        category: &str,
        id: Uuid,
        at: AsOf,
    ) -> Result<Past<serde_json::Value>, CommandError> {
        (self.handle(category)?.as_of)(commands, id, at).await
    }

    /// Saves a snapshot of `category`'s aggregate `id` of `tenant` as it
    /// stands now (see [`Commands::snapshot_now`]); a category no
    /// capability keeps is passed by.
    ///
    /// # Errors
    /// When the store fails or an event does not decode.
    pub async fn snapshot_now(
        &self,
        commands: &Arc<Commands>,
        category: &str,
        tenant: Uuid,
        id: Uuid,
    ) -> Result<(), CommandError> {
        match self.handles.get(category) {
            Some(handle) => (handle.snapshot)(commands, tenant, id).await,
            None => Ok(()),
        }
    }

    fn handle(&self, category: &str) -> Result<&AggregateHandle, CommandError> {
        self.handles.get(category).ok_or_else(|| {
            CommandError::Rejected(DomainError::invalid("follow-up", format!("no aggregate `{category}` is known")))
        })
    }
}

/// What carrying a follow-up out did.
#[derive(Debug, Default)]
pub struct CarriedOut {
    /// The ids of the commands it ran, in order.
    pub ran: Vec<Uuid>,
    /// The streams whose state showed a follow-up needless (another process
    /// may have just done it), beyond the state the causing event left:
    /// what a reader waits for.
    pub needless: Vec<(&'static str, Uuid)>,
}

enum Pending<'a> {
    Borrowed(&'a FollowUp),
    Owned(FollowUp),
}

impl Pending<'_> {
    fn get(&self) -> &FollowUp {
        match self {
            Pending::Borrowed(f) => f,
            Pending::Owned(f) => f,
        }
    }
}
