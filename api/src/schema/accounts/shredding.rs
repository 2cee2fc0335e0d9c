//! Deletion that deletes: once a user's deletion is in the log, the worker
//! destroys the key that sealed their own data (rule U1); once a company's
//! termination is, every key of the company, its blobs, and its hold on its
//! domains (rule B3).

use std::time::Duration;

use std::collections::BTreeSet;

use commands::CommandContext;
use domain::registry::{DomainRegistration, RegistryCommand};
use domain::tenant::{Tenant, TenantEvent};
use domain::values::DomainName;
use domain::{Actor, Aggregate};
use store::sealing::KeyRef;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::capabilities::{Running, Starting, Stopping, Worker, WorkerContext};

/// The worker that destroys the keys of deleted users.
pub(super) const WORKER: Worker = Worker { name: "shredding", start: start_worker };

enum Step {
    Deleted(KeyRef),
    Terminated { tenant: Uuid, domains: BTreeSet<DomainName> },
    Reached(u64),
}

fn start_worker(context: WorkerContext) -> Starting {
    Box::pin(async move {
        let (handled, position) = watch::channel(0);
        let (steps, mut next) = mpsc::unbounded_channel();
        let follow = store::follow(context.commands.store().clone(), 0, move |batch| {
            for event in batch.iter().filter(|e| e.category() == Tenant::CATEGORY) {
                let Some(tenant) = event.metadata.tenant else { continue };
                match event.decode::<TenantEvent>() {
                    Ok(TenantEvent::UserDeleted { user_id }) => {
                        let _ = steps.send(Step::Deleted(KeyRef { tenant, subject: user_id }));
                    }
                    Ok(TenantEvent::Terminated { domains }) => {
                        let _ = steps.send(Step::Terminated { tenant, domains });
                    }
                    _ => {}
                }
            }
            if let Some(last) = batch.last() {
                let _ = steps.send(Step::Reached(last.position));
            }
        });
        let work = async move {
            while let Some(step) = next.recv().await {
                match step {
                    Step::Deleted(key) => until_done("the deleted user's key", || context.payloads.destroy(key)).await,
                    Step::Terminated { tenant, domains } => terminate(&context, tenant, &domains).await,
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

/// What a termination leaves to do: the company's keys, its blobs, its
/// domains in the registry.
async fn terminate(context: &WorkerContext, tenant: Uuid, domains: &BTreeSet<DomainName>) {
    until_done("the terminated company's keys", || context.payloads.destroy_tenant(tenant)).await;
    until_done("the terminated company's blobs", || context.blobs.remove_tenant(tenant)).await;
    for domain in domains {
        let release = RegistryCommand::Release { domain: domain.clone(), tenant };
        // Registry events belong to no company; the id makes a retry one.
        let id = Uuid::new_v5(&tenant, format!("terminated/{domain}").as_bytes());
        let command = CommandContext::new(id, Actor::System, None);
        until_done("the terminated company's domain", || {
            context.commands.execute::<DomainRegistration>(domain.tenant_id(), &command, release.clone())
        })
        .await;
    }
}

/// Runs `step` until it succeeds, with growing pauses: what it finishes is
/// recorded in the log, so it must happen.
async fn until_done<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    mut step: impl FnMut() -> F,
) {
    let mut pause = Duration::from_millis(100);
    while let Err(e) = step().await {
        tracing::warn!(error = %e, "{what}: not done yet; trying again");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}
