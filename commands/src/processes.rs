//! The process managers: every recorded event, in log order, goes through
//! the capabilities' reactions ([`Reactions`]) and their follow-ups are
//! carried out.
//!
//! Every command a follow-up issues carries an id derived from the event
//! that caused it. The processes read the log from where they are told to
//! start (where they had handled it up to, as their owner kept it): what
//! they already did after it is found in the command log and not done
//! again.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use store::RecordedEvent;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::reactions::{Origin, Reactions};
use crate::{CommandError, Commands};

/// The running processes; dropping them stops them.
pub struct Processes {
    task: JoinHandle<()>,
    handled: watch::Receiver<Handled>,
}

/// Where the processes have handled the log up to, and what their
/// reactions remember of it ([`Reactions::memory`]): together, where to
/// resume from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Handled {
    pub position: u64,
    pub memory: Arc<serde_json::Value>,
}

/// A position that comes with nothing remembered.
impl From<u64> for Handled {
    fn from(position: u64) -> Self {
        Self { position, memory: Arc::default() }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Processes {
    /// Starts reading the log after `from.position`, every event up to it
    /// handled already, with the reactions remembering `from.memory`.
    /// Without that memory (another version's, or none) they start from the
    /// log's start, so that the reactions remember all they need.
    pub fn start(commands: Arc<Commands>, reactions: Arc<Reactions>, from: Handled) -> Self {
        let from = if from.position == 0 || reactions.restore(&from.memory) {
            from
        } else {
            tracing::warn!(place = from.position, "the process managers follow the log from its start again");
            Handled::default()
        };
        let (handled, receiver) = watch::channel(from);
        Self { task: tokio::spawn(run(commands, reactions, handled)), handled: receiver }
    }

    /// The last event whose follow-ups are all carried out, and what the
    /// reactions remembered then.
    pub fn handled(&self) -> watch::Receiver<Handled> {
        self.handled.clone()
    }
}

/// Waits between tries of what failed: from 50 ms doubling to 10 s, for
/// as long as it takes.
fn retries() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(10))
        .without_max_times()
}

async fn run(commands: Arc<Commands>, reactions: Arc<Reactions>, handled: watch::Sender<Handled>) {
    let mut after = handled.borrow().position;
    let mut waits = retries().build();
    loop {
        let mut subscription = commands.store().clone().subscribe_all(after);
        while let Some(batch) = subscription.next_batch().await {
            let Ok(batch) = batch.inspect_err(|e| tracing::warn!(error = %e, after, "processes: log failed")) else {
                break;
            };
            for event in &batch {
                follow(&commands, &reactions, event).await;
                after = event.position;
            }
            handled.send_replace(Handled { position: after, memory: Arc::new(reactions.memory()) });
            waits = retries().build();
        }
        tokio::time::sleep(waits.next().unwrap_or(Duration::from_secs(10))).await;
    }
}

/// Carries out `event`'s follow-ups until each is done or refused; a store
/// that fails is tried again, with back-off, so no follow-up is lost.
async fn follow(commands: &Arc<Commands>, reactions: &Reactions, event: &RecordedEvent) {
    let origin = Origin::of(event);
    for follow_up in reactions.react(event) {
        let carried_out = (|| reactions.carry_out(commands, &origin, &follow_up))
            .retry(retries())
            .when(|e| !matches!(e, CommandError::Rejected(_)))
            .notify(|e, _| tracing::warn!(position = event.position, error = %e, "process: failed; trying again"))
            .await;
        if let Err(e) = carried_out {
            tracing::info!(position = event.position, reason = %e, "process: refused");
        }
    }
}
