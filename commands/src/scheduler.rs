//! The scheduler: fires timers when the clock reaches their time.
//!
//! Timers are aggregates (`timer-<id>` streams), so the schedule is as
//! durable as any event: the scheduler starts from the pending timers as a
//! read model has them at a position (or from none at position 0), then
//! follows the log after it for new ones. Following again what the read
//! model already holds changes nothing, and a timer gone meanwhile is found
//! gone when its time comes (the log decides). When one is due it carries
//! out what the reaction of its kind calls for, then records the firing.
//! The reaction's commands carry an id derived from the timer: if the
//! process dies between their effect and the record, the timer fires again
//! after the restart and the repeated command has no second effect.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::timer::{Timer, TimerCommand, TimerEvent, TimerStatus};
use domain::{Actor, Aggregate};
use store::RecordedEvent;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::reactions::{Origin, Reactions, TimerReaction};
use crate::{CommandContext, CommandError, Commands, Outcome};

/// How long a failed handler waits before its timer is tried again.
const RETRY_AFTER: chrono::Duration = chrono::Duration::seconds(30);
/// The longest the scheduler sleeps on the wall clock before looking again.
const LONGEST_SLEEP: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
struct Pending {
    kind: String,
    payload: String,
    tenant: Option<Uuid>,
}

/// A timer waiting for its time, as a read model knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub timer_id: Uuid,
    pub due: DateTime<Utc>,
    pub kind: String,
    pub payload: String,
    pub tenant: Option<Uuid>,
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
    /// What each kind of timer causes.
    timers: HashMap<String, TimerReaction>,
    reactions: Arc<Reactions>,
    /// Pending timers by (when to try, id).
    pending: Mutex<BTreeMap<(DateTime<Utc>, Uuid), Pending>>,
    changed: Notify,
    /// The position of the last event followed.
    followed: watch::Sender<u64>,
    /// Held while timers fire, so that one who asks to fire what is due
    /// finds the firings under way finished.
    firing: tokio::sync::Mutex<()>,
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
    /// Starts from the timers `waiting` as of position `after` (every
    /// timer pending then among them), following the log after it and
    /// firing what is due.
    pub fn start(
        commands: Arc<Commands>,
        timers: HashMap<String, TimerReaction>,
        reactions: Arc<Reactions>,
        (after, waiting): (u64, Vec<Waiting>),
    ) -> Self {
        let pending = waiting
            .into_iter()
            .map(|w| ((w.due, w.timer_id), Pending { kind: w.kind, payload: w.payload, tenant: w.tenant }))
            .collect();
        let inner = Arc::new(Inner {
            commands,
            timers,
            reactions,
            pending: Mutex::new(pending),
            changed: Notify::new(),
            followed: watch::channel(after).0,
            firing: tokio::sync::Mutex::new(()),
        });
        let store = inner.commands.store().clone();
        let follower = {
            let inner = inner.clone();
            tokio::spawn(store::follow(store, after, move |batch| inner.track(batch)))
        };
        let firing = {
            let inner = inner.clone();
            tokio::spawn(async move { inner.run().await })
        };
        Self { inner, tasks: vec![follower, firing] }
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

    /// Fires every timer due now, after the firings under way; returns how
    /// many went off. The scheduler does this by itself; one who waits for
    /// the system to settle calls it to know that nothing else is due.
    pub async fn fire_due(&self) -> usize {
        self.inner.fire_due().await
    }

    /// The position of the last event the scheduler has followed: timers
    /// set up to it are known to it.
    pub fn followed(&self) -> watch::Receiver<u64> {
        self.inner.followed.subscribe()
    }
}

impl Inner {
    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<(DateTime<Utc>, Uuid), Pending>> {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Follows timer events of the log.
    fn track(&self, batch: &[RecordedEvent]) {
        let Some(last) = batch.last() else { return };
        let mut changed = false;
        // A timer of a terminated company reads as shredded: it fires no more.
        for event in batch.iter().filter(|e| e.category() == Timer::CATEGORY && !e.is_shredded()) {
            let Ok(timer) = event.decode::<TimerEvent>() else {
                tracing::error!(position = event.position, "unreadable timer event");
                continue;
            };
            let mut pending = self.pending();
            match timer {
                TimerEvent::Scheduled { timer_id, due, kind, payload } => {
                    pending.insert((due, timer_id), Pending { kind, payload, tenant: event.metadata.tenant });
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
        self.followed.send_replace(last.position);
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
        let _firing = self.firing.lock().await;
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
        let Some(react) = self.timers.get(&timer.kind) else {
            tracing::error!(%timer_id, kind = timer.kind, "no reaction to this kind of timer");
            return Firing::Retry;
        };
        // The firing's commands carry an id derived from the timer: a
        // timer that fires again after a crash repeats no effect.
        let command_id = Uuid::new_v5(&timer_id, b"handled");
        let origin = Origin { tenant: timer.tenant, ..Origin::default() };
        for follow_up in react(&timer.payload, command_id) {
            match self.reactions.carry_out(&self.commands, &origin, &follow_up).await {
                Ok(_) => {}
                Err(CommandError::Rejected(e)) => {
                    tracing::info!(%timer_id, kind = timer.kind, reason = %e, "a timer's command was refused");
                }
                Err(e) => {
                    tracing::warn!(%timer_id, kind = timer.kind, error = %e, "a timer's command failed; trying again later");
                    return Firing::Retry;
                }
            }
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
