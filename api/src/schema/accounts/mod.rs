//! Companies, their domains and user accounts over GraphQL: sign-up,
//! log-in, users and roles.

mod mutation;
mod query;
mod shredding;

use std::sync::Arc;

use commands::AggregateHandle;
use projections::projectors::{tenants, timers, users};

pub use mutation::AccountsMutation;
pub(crate) use mutation::{release_domain, with_domain_claimed};
pub use query::AccountsQuery;

use crate::capabilities::Capability;

/// Companies, their domains and user accounts, and the timers every
/// capability uses.
pub(crate) fn capability() -> Capability {
    use domain::registry::DomainRegistration;
    use domain::tenant::Tenant;
    use domain::timer::Timer;
    Capability {
        aggregates: vec![
            AggregateHandle::of::<Tenant>(),
            AggregateHandle::of::<DomainRegistration>(),
            AggregateHandle::of::<Timer>(),
        ],
        projectors: vec![
            Arc::new(tenants::TenantsProjector),
            Arc::new(users::UsersProjector),
            Arc::new(timers::TimersProjector),
        ],
        workers: vec![shredding::WORKER],
        ..Capability::new("accounts")
    }
}
