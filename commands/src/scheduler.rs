//! The scheduler: fires timers when the clock reaches their time.
//!
//! Timers are aggregates (`timer-<id>` streams), so the schedule is as
//! durable as any event: at start the scheduler reads the pending timers from
//! the log, then follows the log for new ones. When one is due it runs the
//! handler registered for its kind, then records the firing. The handler is
//! given a command id derived from the timer: if the process dies between
//! the handler's effect and the record, the timer fires again after the
//! restart and the repeated command has no second effect.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::timer::{Timer, TimerCommand, TimerEvent, TimerStatus};
use domain::{Actor, Aggregate};
use store::{RecordedEvent, StoreError};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{CommandContext, CommandError, Commands, Outcome};

/// How long a failed handler waits before its timer is tried again.
const RETRY_AFTER: chrono::Duration = chrono::Duration::seconds(30);
/// The longest the scheduler sleeps on the wall clock before looking again.
const LONGEST_SLEEP: Duration = Duration::from_secs(60);

/// A timer that has gone off, as its handler gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredTimer {
    pub timer_id: Uuid,
    pub due: DateTime<Utc>,
    pub kind: String,
    pub payload: String,
    pub tenant: Option<Uuid>,
    /// The id the handler's command must carry, so that a repeated firing
    /// repeats no effect.
    pub command_id: Uuid,
}

/// What runs when a timer of one kind goes off.
pub type TimerHandler =
    Arc<dyn Fn(FiredTimer) -> Pin<Box<dyn Future<Output = Result<(), CommandError>> + Send>> + Send + Sync>;

#[derive(Debug, Clone)]
struct Pending {
    kind: String,
    payload: String,
    tenant: Option<Uuid>,
    due: DateTime<Utc>,
}

/// What became of a due timer.
enum Firing {
    Fired,
    /// Cancelled or fired meanwhile.
    Gone,
    /// To be tried again later.
    Retry,
}

struct Inner {
    commands: Arc<Commands>,
    handlers: HashMap<String, TimerHandler>,
    /// Pending timers by (when to try, id).
    pending: Mutex<BTreeMap<(DateTime<Utc>, Uuid), Pending>>,
    changed: Notify,
}

/// The running scheduler; dropping it stops it.
pub struct Scheduler {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Scheduler {
    /// Reads the pending timers from the log and starts following it and
    /// firing what is due.
    ///
    /// # Errors
    /// When the event store fails.
    pub async fn start(commands: Arc<Commands>, handlers: HashMap<String, TimerHandler>) -> Result<Self, StoreError> {
        let inner =
            Arc::new(Inner { commands, handlers, pending: Mutex::new(BTreeMap::new()), changed: Notify::new() });
        let store = inner.commands.store().clone();
        let mut after = 0;
        loop {
            let batch = store.read_all(after, 10_000).await?;
            let Some(last) = batch.last() else { break };
            after = last.position;
            inner.track(&batch);
        }
        let follower = {
            let inner = inner.clone();
            tokio::spawn(store::follow(store, after, move |batch| inner.track(batch)))
        };
        let firing = {
            let inner = inner.clone();
            tokio::spawn(async move { inner.run().await })
        };
        Ok(Self { inner, tasks: vec![follower, firing] })
    }

    /// Sets a timer of `kind` for `due`.
    ///
    /// # Errors
    /// As [`Commands::execute`].
    pub async fn schedule(
        &self,
        context: &CommandContext,
        timer_id: Uuid,
        due: DateTime<Utc>,
        kind: &str,
        payload: String,
    ) -> Result<Outcome<TimerEvent>, CommandError> {
        let command = TimerCommand::Schedule { timer_id, due, kind: kind.to_owned(), payload };
        self.inner.commands.execute::<Timer>(timer_id, context, command).await
    }

    /// Cancels a timer before its time.
    ///
    /// # Errors
    /// As [`Commands::execute`]; `CONFLICT` once the time has come.
    pub async fn cancel(&self, context: &CommandContext, timer_id: Uuid) -> Result<Outcome<TimerEvent>, CommandError> {
        self.inner.commands.execute::<Timer>(timer_id, context, TimerCommand::Cancel).await
    }

    /// Fires every timer due now; returns how many went off. The scheduler
    /// does this by itself; tests call it to know that nothing else is due.
    pub async fn fire_due(&self) -> usize {
        self.inner.fire_due().await
    }
}

impl Inner {
    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<(DateTime<Utc>, Uuid), Pending>> {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Follows timer events of the log.
    fn track(&self, batch: &[RecordedEvent]) {
        let mut changed = false;
        for event in batch.iter().filter(|e| e.category() == Timer::CATEGORY) {
            let Ok(timer) = event.decode::<TimerEvent>() else {
                tracing::error!(position = event.position, "unreadable timer event");
                continue;
            };
            let mut pending = self.pending();
            match timer {
                TimerEvent::Scheduled { timer_id, due, kind, payload } => {
                    pending.insert((due, timer_id), Pending { kind, payload, tenant: event.metadata.tenant, due });
                }
                TimerEvent::Fired { timer_id, .. } | TimerEvent::Cancelled { timer_id, .. } => {
                    pending.retain(|(_, id), _| *id != timer_id);
                }
            }
            changed = true;
        }
        if changed {
            self.changed.notify_one();
        }
    }

    async fn run(&self) {
        let clock = self.commands.clock().clone();
        let mut jumps = clock.jumps();
        loop {
            self.fire_due().await;
            let next = self.pending().keys().next().map(|(at, _)| *at);
            let sleep = next
                .map(|at| (at - clock.now()).to_std().unwrap_or(Duration::ZERO))
                .map_or(LONGEST_SLEEP, |d| d.min(LONGEST_SLEEP));
            let on_wall_clock = jumps.is_none();
            let jumped = async {
                match jumps.as_mut() {
                    Some(jumps) => drop(jumps.changed().await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.changed.notified() => {}
                () = jumped => {}
                () = tokio::time::sleep(sleep), if on_wall_clock => {}
            }
        }
    }

    async fn fire_due(&self) -> usize {
        let now = self.commands.clock().now();
        let due: Vec<_> = {
            let mut pending = self.pending();
            let later = pending.split_off(&(now, Uuid::max()));
            std::mem::replace(&mut *pending, later).into_iter().collect()
        };
        let mut fired = 0;
        for ((_, timer_id), timer) in due {
            match self.fire(timer_id, &timer).await {
                Firing::Fired => fired += 1,
                Firing::Gone => {}
                Firing::Retry => drop(self.pending().insert((now + RETRY_AFTER, timer_id), timer)),
            }
        }
        fired
    }

    async fn fire(&self, timer_id: Uuid, timer: &Pending) -> Firing {
        // The log decides, not what this process has followed so far: a
        // timer cancelled a moment ago must not go off. Once the time has
        // come it cannot be cancelled any more, so the check holds.
        match self.commands.load::<Timer>(timer_id).await {
            Ok(loaded) if loaded.state.status == TimerStatus::Pending => {}
            Ok(_) => return Firing::Gone,
            Err(e) => {
                tracing::warn!(%timer_id, error = %e, "timer not loaded; trying again later");
                return Firing::Retry;
            }
        }
        let Some(handler) = self.handlers.get(&timer.kind) else {
            tracing::error!(%timer_id, kind = timer.kind, "no handler for this kind of timer");
            return Firing::Retry;
        };
        let fired = FiredTimer {
            timer_id,
            due: timer.due,
            kind: timer.kind.clone(),
            payload: timer.payload.clone(),
            tenant: timer.tenant,
            command_id: Uuid::new_v5(&timer_id, b"handled"),
        };
        if let Err(e) = handler(fired).await {
            tracing::warn!(%timer_id, kind = timer.kind, error = %e, "timer handler failed; trying again later");
            return Firing::Retry;
        }
        let context = CommandContext::new(Uuid::new_v5(&timer_id, b"fired"), Actor::System, timer.tenant);
        match self.commands.execute::<Timer>(timer_id, &context, TimerCommand::Fire).await {
            Ok(_) => Firing::Fired,
            Err(e) => {
                tracing::warn!(%timer_id, error = %e, "timer firing not recorded; trying again later");
                Firing::Retry
            }
        }
    }
}
