//! The domain registry (rule T3): a mail domain belongs to one company at a
//! time, as its primary domain or as an additional one.
//!
//! Each domain name has a stream of its own, `domain-<UUID v5 of the name>`
//! (the id the company signing up with it gets, see
//! [`DomainName::tenant_id`]). A claim is appended with the stream's
//! expected version, so of two companies claiming one name at once exactly
//! one wins. Sign-up claims the primary domain before it opens the tenant,
//! and adding a domain claims it before the tenant records it; when the
//! tenant's step fails, the claim is released. Removing an additional domain
//! releases it after the tenant has dropped it. Who may do what is the
//! tenant's to decide; the registry only says whose a name is.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::DomainName;
use crate::{Actor, Aggregate, DomainError, DomainEvent, Sealing};

/// The company a domain belongs to, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainHolder {
    pub tenant: Uuid,
    /// Its primary domain (else an additional one).
    pub primary: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RegistryCommand {
    /// A company takes `domain`: its primary one at sign-up, or an
    /// additional one. `earlier` is who held the name before the registry
    /// recorded holders: the company that signed up with it, or the one
    /// whose additional domain it already is.
    Claim { domain: DomainName, holder: DomainHolder, earlier: Option<DomainHolder> },
    /// `tenant` gives `domain` up: an additional domain it removed, or a
    /// sign-up or addition that failed after the claim.
    Release { domain: DomainName, tenant: Uuid },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum RegistryEvent {
    #[serde(rename = "DomainClaimed")]
    Claimed { domain: DomainName, tenant_id: Uuid, primary: bool },
    #[serde(rename = "DomainReleased")]
    Released { domain: DomainName, tenant_id: Uuid },
}

impl DomainEvent for RegistryEvent {
    fn event_type(&self) -> &'static str {
        match self {
            RegistryEvent::Claimed { .. } => "DomainClaimed",
            RegistryEvent::Released { .. } => "DomainReleased",
        }
    }
}

/// One domain name's entry in the registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DomainRegistration {
    /// Who holds the name now, as far as the registry has recorded.
    pub holder: Option<DomainHolder>,
}

impl Aggregate for DomainRegistration {
    type Command = RegistryCommand;
    type Event = RegistryEvent;

    const CATEGORY: &'static str = "domain";
    const SNAPSHOT_VERSION: u32 = 1;
    const SEALING: Sealing = Sealing::Clear;

    fn authorize(&self, _actor: &Actor, _command: &RegistryCommand) -> Result<(), DomainError> {
        // The tenant's step that follows a claim checks who acts; a claim
        // whose tenant step is refused is released.
        Ok(())
    }

    fn decide(&self, command: &RegistryCommand, _now: DateTime<Utc>) -> Result<Vec<RegistryEvent>, DomainError> {
        match command {
            RegistryCommand::Claim { domain, holder, earlier } => match (self.holder, *earlier) {
                (Some(current), _) | (None, Some(current)) if current != *holder => {
                    if current.tenant == holder.tenant {
                        Err(DomainError::Conflict(format!("{domain} is already one of the company's domains"))
                            .by_rule("T3"))
                    } else {
                        Err(DomainError::Conflict(format!("{domain} is already a domain of another company"))
                            .by_rule("T3"))
                    }
                }
                (Some(_), _) => Ok(vec![]),
                // Free, or held by the claimant from before the registry,
                // which the registry now records.
                (None, _) => Ok(vec![RegistryEvent::Claimed {
                    domain: domain.clone(),
                    tenant_id: holder.tenant,
                    primary: holder.primary,
                }]),
            },
            RegistryCommand::Release { domain, tenant } => match self.holder {
                Some(current) if current.tenant == *tenant => {
                    Ok(vec![RegistryEvent::Released { domain: domain.clone(), tenant_id: *tenant }])
                }
                // Not the releasing company's: nothing of theirs to give up.
                _ => Ok(vec![]),
            },
        }
    }

    fn evolve(mut self, event: &RegistryEvent) -> Self {
        match event {
            RegistryEvent::Claimed { tenant_id, primary, .. } => {
                self.holder = Some(DomainHolder { tenant: *tenant_id, primary: *primary });
            }
            RegistryEvent::Released { .. } => self.holder = None,
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;

    fn victim() -> DomainName {
        DomainName::parse_company_owned("victim.co.kr").unwrap()
    }

    const A: Uuid = Uuid::from_u128(0xa);
    const B: Uuid = Uuid::from_u128(0xb);

    fn primary(tenant: Uuid) -> DomainHolder {
        DomainHolder { tenant, primary: true }
    }

    fn additional(tenant: Uuid) -> DomainHolder {
        DomainHolder { tenant, primary: false }
    }

    fn claim(holder: DomainHolder) -> RegistryCommand {
        RegistryCommand::Claim { domain: victim(), holder, earlier: None }
    }

    fn claimed(holder: DomainHolder) -> RegistryEvent {
        RegistryEvent::Claimed { domain: victim(), tenant_id: holder.tenant, primary: holder.primary }
    }

    fn another_company() -> DomainError {
        DomainError::Conflict("victim.co.kr is already a domain of another company".into()).by_rule("T3")
    }

    #[test]
    fn rule_t3_a_free_domain_is_claimed_by_the_first_company() {
        given::<DomainRegistration>(vec![]).when(Actor::Anonymous, claim(primary(A))).then(vec![claimed(primary(A))]);
        given::<DomainRegistration>(vec![])
            .when(Actor::User(B), claim(additional(B)))
            .then(vec![claimed(additional(B))]);
    }

    #[test]
    fn rule_t3_a_domain_another_company_holds_is_refused_as_additional_and_at_sign_up() {
        given::<DomainRegistration>(vec![claimed(primary(A))])
            .when(Actor::User(B), claim(additional(B)))
            .then_refused(another_company());
        given::<DomainRegistration>(vec![claimed(additional(A))])
            .when(Actor::User(B), claim(additional(B)))
            .then_refused(another_company());
        given::<DomainRegistration>(vec![claimed(additional(B))])
            .when(Actor::Anonymous, claim(primary(A)))
            .then_refused(another_company());
    }

    #[test]
    fn rule_t3_claiming_what_one_holds_changes_nothing_and_the_other_kind_is_refused() {
        given::<DomainRegistration>(vec![claimed(primary(A))]).when(Actor::Anonymous, claim(primary(A))).then(vec![]);
        given::<DomainRegistration>(vec![claimed(primary(A))]).when(Actor::User(A), claim(additional(A))).then_refused(
            DomainError::Conflict("victim.co.kr is already one of the company's domains".into()).by_rule("T3"),
        );
    }

    #[test]
    fn rule_t3_only_the_holder_releases_a_domain() {
        let release = |tenant| RegistryCommand::Release { domain: victim(), tenant };
        given::<DomainRegistration>(vec![claimed(primary(A))]).when(Actor::User(B), release(B)).then(vec![]);
        given::<DomainRegistration>(vec![claimed(additional(B))])
            .when(Actor::User(B), release(B))
            .then(vec![RegistryEvent::Released { domain: victim(), tenant_id: B }]);
        given::<DomainRegistration>(vec![]).when(Actor::User(B), release(B)).then(vec![]);
        // Released, the name is free again.
        let history = vec![claimed(additional(B)), RegistryEvent::Released { domain: victim(), tenant_id: B }];
        given::<DomainRegistration>(history).when(Actor::Anonymous, claim(primary(A))).then(vec![claimed(primary(A))]);
    }

    #[test]
    fn rule_t3_holders_from_before_the_registry_count() {
        let with_earlier =
            |holder, earlier| RegistryCommand::Claim { domain: victim(), holder, earlier: Some(earlier) };
        // A company that signed up with the domain before the registry.
        given::<DomainRegistration>(vec![])
            .when(Actor::User(B), with_earlier(additional(B), primary(A)))
            .then_refused(another_company());
        // A company that had added it before the registry.
        given::<DomainRegistration>(vec![])
            .when(Actor::Anonymous, with_earlier(primary(A), additional(B)))
            .then_refused(another_company());
        // The same company claiming it records it.
        given::<DomainRegistration>(vec![])
            .when(Actor::Anonymous, with_earlier(primary(A), primary(A)))
            .then(vec![claimed(primary(A))]);
    }

    #[test]
    fn events_round_trip_with_stable_names() {
        for e in [claimed(primary(A)), RegistryEvent::Released { domain: victim(), tenant_id: B }] {
            let json = serde_json::to_value(&e).unwrap();
            assert_eq!(json["type"], e.event_type());
            assert_eq!(serde_json::from_value::<RegistryEvent>(json).unwrap(), e);
        }
    }
}
