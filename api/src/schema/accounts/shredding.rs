//! Deletion that deletes: once a user's deletion is in the log, the worker
//! destroys the key that sealed their own data (rule U1); once a company's
//! termination is, every key of the company, its blobs, and its hold on its
//! domains (rule B3).

use std::collections::BTreeSet;

use commands::CommandContext;
use domain::registry::{DomainRegistration, RegistryCommand};
use domain::tenant::{Tenant, TenantEvent};
use domain::values::DomainName;
use domain::{Actor, Aggregate};
use store::sealing::KeyRef;
use uuid::Uuid;

use crate::capabilities::{Place, Starting, Worker, WorkerContext, following, until_done};

/// The worker that destroys the keys of deleted users.
pub(super) const WORKER: Worker = Worker { name: "shredding", start: start_worker };

/// What a deletion leaves to do.
enum Deletion {
    User(KeyRef),
    Company { tenant: Uuid, domains: BTreeSet<DomainName> },
}

fn start_worker(context: WorkerContext) -> Starting {
    Box::pin(async move {
        let pick = |event: &store::RecordedEvent| {
            let tenant = event.metadata.tenant.filter(|_| event.category() == Tenant::CATEGORY)?;
            match event.decode::<TenantEvent>() {
                Ok(TenantEvent::UserDeleted { user_id }) => Some(Deletion::User(KeyRef { tenant, subject: user_id })),
                Ok(TenantEvent::Terminated { domains }) => Some(Deletion::Company { tenant, domains }),
                _ => None,
            }
        };
        let store = context.commands.store().clone();
        let place = Place::of(context.read_models.clone(), WORKER.name);
        following(store, place, pick, move |deletion| {
            let context = context.clone();
            async move {
                match deletion {
                    Deletion::User(key) => {
                        until_done("the deleted user's key", || context.payloads.destroy(key)).await;
                    }
                    Deletion::Company { tenant, domains } => terminate(&context, tenant, &domains).await,
                }
            }
        })
        .await
    })
}

/// What a termination leaves to do: the company's keys, its blobs, its
/// domains in the registry.
async fn terminate(context: &WorkerContext, tenant: Uuid, domains: &BTreeSet<DomainName>) {
    until_done("the terminated company's keys", || context.payloads.destroy_tenant(tenant)).await;
    until_done("the terminated company's blobs", || context.blobs.remove_tenant(tenant)).await;
    until_done("the terminated company's exports", || context.blobs.remove_tenant(blobs::exports_of(tenant))).await;
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
