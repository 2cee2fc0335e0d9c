//! The process managers: every recorded event, in log order, goes through
//! the capabilities' reactions ([`Reactions`]) and their follow-ups are
//! carried out.
//!
//! Every command a follow-up issues carries an id derived from the event
//! that caused it. The processes read the log from its start each time
//! they start: what they already did is found in the command log and not
//! done again.

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
    handled: watch::Receiver<u64>,
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Processes {
    /// Starts reading the log from its start.
    pub fn start(commands: Arc<Commands>, reactions: Arc<Reactions>) -> Self {
        let (handled, receiver) = watch::channel(0);
        Self { task: tokio::spawn(run(commands, reactions, handled)), handled: receiver }
    }

    /// The position of the last event whose follow-ups are all carried out.
    pub fn handled(&self) -> watch::Receiver<u64> {
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

async fn run(commands: Arc<Commands>, reactions: Arc<Reactions>, handled: watch::Sender<u64>) {
    let mut after = 0;
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
            handled.send_replace(after);
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
