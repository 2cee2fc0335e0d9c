//! The background workers: the process managers, the scheduler and the
//! capabilities' workers (the outbox, the backups). Several processes may
//! serve one database; the workers run in one of them at a time, the one
//! holding their claim (two outboxes would send every external copy
//! twice, two schedulers fire every timer twice). Another process takes
//! over when the holder stops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use commands::{Processes, Reactions, Scheduler};
use projections::Projector;
use tokio::sync::watch;

use crate::capabilities::{Capability, Place, Stopping, Worker, WorkerContext};

/// How long a process that does not hold the workers waits before it
/// tries to take them over.
const WORKERS_RETRY: Duration = Duration::from_secs(5);

/// Where the workers stand, in the process that runs them.
#[derive(Default)]
struct Held {
    scheduler: Option<Arc<Scheduler>>,
    handled: Vec<(&'static str, watch::Receiver<u64>)>,
}

/// The workers of this process: running while it holds their claim.
pub struct Workers {
    held: Arc<Mutex<Held>>,
    _task: Stopping,
}

impl Workers {
    /// Tries to claim the workers now and then until it holds them, and
    /// runs them while it does.
    pub fn start(context: WorkerContext, capabilities: &[Capability], reactions: Arc<Reactions>) -> Self {
        let held = Arc::new(Mutex::new(Held::default()));
        let timers: HashMap<String, commands::TimerReaction> = capabilities
            .iter()
            .flat_map(|c| c.timers.iter().map(|(kind, react)| ((*kind).to_owned(), *react)))
            .collect();
        let workers: Vec<Worker> = capabilities.iter().flat_map(|c| c.workers.iter().copied()).collect();
        let task = tokio::spawn(run(context, timers, workers, reactions, held.clone()));
        Self { held, _task: Stopping(task) }
    }

    /// No workers at all (a read-only server).
    pub fn none() -> Self {
        Self { held: Arc::default(), _task: Stopping(tokio::spawn(async {})) }
    }

    /// How far each worker has handled the log: `None` while another
    /// process runs them.
    pub fn handled(&self) -> Option<Vec<(&'static str, u64)>> {
        let held = self.held();
        held.scheduler.as_ref()?;
        Some(held.handled.iter().map(|(name, handled)| (*name, *handled.borrow())).collect())
    }

    /// Fires the timers due now, after those firing; how many went off
    /// (`None` while another process runs the scheduler).
    pub async fn fire_due(&self) -> Option<usize> {
        let scheduler = self.held().scheduler.clone()?;
        Some(scheduler.fire_due().await)
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn run(
    context: WorkerContext,
    timers: HashMap<String, commands::TimerReaction>,
    workers: Vec<Worker>,
    reactions: Arc<Reactions>,
    held: Arc<Mutex<Held>>,
) {
    loop {
        match context.read_models.try_claim("workers").await {
            Ok(Some(claim)) => match start_all(&context, &timers, &workers, &reactions).await {
                Ok((scheduler, handled, guards)) => {
                    *held.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                        Held { scheduler: Some(scheduler), handled };
                    // Held for the life of the process.
                    std::future::pending::<()>().await;
                    drop((claim, guards));
                }
                Err(e) => tracing::error!(error = %e, "the workers did not start; trying again"),
            },
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "the workers' claim could not be checked"),
        }
        tokio::time::sleep(WORKERS_RETRY).await;
    }
}

type Started = (Arc<Scheduler>, Vec<(&'static str, watch::Receiver<u64>)>, Vec<Box<dyn std::any::Any + Send + Sync>>);

/// The timers waiting for their time as the read model has them, and the
/// position it has them at: the checkpoint is read first, so the rows hold
/// at least what it says (following the log on from it again changes
/// nothing).
async fn waiting(context: &WorkerContext) -> anyhow::Result<(u64, Vec<commands::Waiting>)> {
    use projections::projectors::timers;
    let at = context.read_models.checkpoint(timers::TimersProjector.name()).await?;
    let rows = timers::pending(context.read_models.as_ref()).await?;
    let waiting = rows
        .into_iter()
        .map(|row| commands::Waiting {
            timer_id: row.timer_id,
            due: row.due,
            kind: row.kind,
            payload: row.payload,
            tenant: row.tenant,
        })
        .collect();
    Ok((at, waiting))
}

/// The positions of `handled`, as they move.
fn positions(mut handled: watch::Receiver<commands::Handled>) -> watch::Receiver<u64> {
    let (sender, positions) = watch::channel(handled.borrow().position);
    tokio::spawn(async move {
        while handled.changed().await.is_ok() {
            let position = handled.borrow_and_update().position;
            if sender.send(position).is_err() {
                return;
            }
        }
    });
    positions
}

async fn start_all(
    context: &WorkerContext,
    timers: &HashMap<String, commands::TimerReaction>,
    workers: &[Worker],
    reactions: &Arc<Reactions>,
) -> anyhow::Result<Started> {
    let scheduler = Arc::new(Scheduler::start(
        context.commands.clone(),
        timers.clone(),
        reactions.clone(),
        waiting(context).await?,
    ));
    let place = Place::of(context.read_models.clone(), "processes");
    let from = place.load().await?;
    let position = from.position;
    let processes = Processes::start(context.commands.clone(), reactions.clone(), from);
    let keeping = place.keep(processes.handled(), position);
    let positions = positions(processes.handled());
    let mut handled = vec![("scheduler", scheduler.followed()), ("processes", positions)];
    let mut guards: Vec<Box<dyn std::any::Any + Send + Sync>> = vec![Box::new((processes, keeping))];
    for worker in workers {
        let running = (worker.start)(context.clone()).await?;
        handled.push((worker.name, running.handled));
        guards.push(running.guard);
    }
    Ok((scheduler, handled, guards))
}
