//! Deleting a user deletes their own data (rule U1): the worker destroys
//! the key that sealed it once the deletion is in the log.

use std::sync::Arc;
use std::time::Duration;

use domain::Aggregate;
use domain::tenant::{Tenant, TenantEvent};
use store::sealing::{KeyRef, Sealer};
use tokio::sync::{mpsc, watch};

use crate::capabilities::{Running, Starting, Stopping, Worker, WorkerContext};

/// The worker that destroys the keys of deleted users.
pub(super) const WORKER: Worker = Worker { name: "shredding", start: start_worker };

enum Step {
    Deleted(KeyRef),
    Reached(u64),
}

fn start_worker(context: WorkerContext) -> Starting {
    Box::pin(async move {
        let (handled, position) = watch::channel(0);
        let (steps, mut next) = mpsc::unbounded_channel();
        let follow = store::follow(context.commands.store().clone(), 0, move |batch| {
            for event in batch.iter().filter(|e| e.category() == Tenant::CATEGORY) {
                if let (Some(tenant), Ok(TenantEvent::UserDeleted { user_id })) =
                    (event.metadata.tenant, event.decode::<TenantEvent>())
                {
                    let _ = steps.send(Step::Deleted(KeyRef { tenant, subject: user_id }));
                }
            }
            if let Some(last) = batch.last() {
                let _ = steps.send(Step::Reached(last.position));
            }
        });
        let payloads = context.payloads;
        let work = async move {
            while let Some(step) = next.recv().await {
                match step {
                    Step::Deleted(key) => destroy(&payloads, key).await,
                    Step::Reached(at) => {
                        handled.send_replace(at);
                    }
                }
            }
        };
        // One task for both, so that stopping the worker stops its reading too.
        let task = tokio::spawn(async move {
            tokio::join!(follow, work);
        });
        Ok(Running { handled: position, guard: Box::new(Stopping(task)) })
    })
}

/// Destroys `key`, trying again until the key store answers: the deletion
/// is recorded, so its key must go.
async fn destroy(payloads: &Arc<Sealer>, key: KeyRef) {
    let mut pause = Duration::from_millis(100);
    while let Err(e) = payloads.destroy(key).await {
        tracing::warn!(error = %e, user = %key.subject, "the deleted user's key is not destroyed yet; trying again");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}
