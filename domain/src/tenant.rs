//! The tenant: a company, its primary domain, and its user accounts.
//!
//! User accounts live inside the tenant's consistency boundary because the
//! rules that bind them span accounts: an ID is unique within the tenant
//! (T4), and a tenant always keeps at least one admin (U3). One stream per
//! tenant makes both hold under concurrency without cross-stream
//! coordination; snapshots keep loading it cheap.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{BillingCycle, DomainName, LoginId, MemberType, Name, PasswordHash, Role, TimeZone};
use crate::{Actor, Aggregate, DomainError, DomainEvent, Sealing};

/// A new account as the commands that create one carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAccount {
    pub user_id: Uuid,
    pub login: LoginId,
    pub name: Name,
    pub password_hash: PasswordHash,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TenantCommand {
    /// Rule T1: a company signs up with its own domain and first admin.
    SignUp {
        domain: DomainName,
        company_name: Name,
        member_type: MemberType,
        billing_cycle: BillingCycle,
        time_zone: TimeZone,
        admin: NewAccount,
    },
    /// Rule U1: an admin adds a user.
    CreateUser { account: NewAccount, roles: BTreeSet<Role> },
    /// A user changes their own password (the current one was verified).
    ChangePassword { user_id: Uuid, password_hash: PasswordHash },
    /// Rule U2: an admin resets a user's password.
    ResetPassword { user_id: Uuid, password_hash: PasswordHash },
    /// Rule U3: an admin grants a role.
    GrantRole { user_id: Uuid, role: Role },
    /// Rule U3: an admin revokes a role.
    RevokeRole { user_id: Uuid, role: Role },
    /// Rule U1: an admin deletes a user.
    DeleteUser { user_id: Uuid },
    /// Rule T3: an admin adds a domain beside the primary one. The caller
    /// has claimed it in the registry first (`crate::registry`).
    AddDomain { domain: DomainName },
    /// Rule T3: an admin removes an additional domain.
    RemoveDomain { domain: DomainName },
    /// Rule B3: the provider terminates the company (the system only):
    /// everything it kept is deleted, its domains are free again.
    Terminate,
}

/// The stored name of [`TenantEvent::Terminated`], which whatever a
/// company leaves behind looks for.
pub const TERMINATED: &str = "CompanyTerminated";

/// The stored name of [`TenantEvent::UserDeleted`], after which nothing of
/// the person's own content may remain (rule U1).
pub const USER_DELETED: &str = "UserDeleted";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum TenantEvent {
    #[serde(rename = "TenantSignedUp")]
    SignedUp {
        tenant_id: Uuid,
        domain: DomainName,
        company_name: Name,
        member_type: MemberType,
        billing_cycle: BillingCycle,
        time_zone: TimeZone,
        signed_up_at: DateTime<Utc>,
    },
    #[serde(rename = "UserCreated")]
    UserCreated { user_id: Uuid, login: LoginId, name: Name, password_hash: PasswordHash, roles: BTreeSet<Role> },
    #[serde(rename = "PasswordChanged")]
    PasswordChanged { user_id: Uuid, password_hash: PasswordHash },
    #[serde(rename = "PasswordReset")]
    PasswordReset { user_id: Uuid, password_hash: PasswordHash },
    #[serde(rename = "RoleGranted")]
    RoleGranted { user_id: Uuid, role: Role },
    #[serde(rename = "RoleRevoked")]
    RoleRevoked { user_id: Uuid, role: Role },
    #[serde(rename = "UserDeleted")]
    UserDeleted { user_id: Uuid },
    #[serde(rename = "TenantDomainAdded")]
    DomainAdded { domain: DomainName },
    #[serde(rename = "TenantDomainRemoved")]
    DomainRemoved { domain: DomainName },
    /// Rule B3: the company is gone; `domains` are the ones it held.
    #[serde(rename = "CompanyTerminated")]
    Terminated { domains: BTreeSet<DomainName> },
}

impl DomainEvent for TenantEvent {
    fn event_type(&self) -> &'static str {
        match self {
            TenantEvent::SignedUp { .. } => "TenantSignedUp",
            TenantEvent::UserCreated { .. } => "UserCreated",
            TenantEvent::PasswordChanged { .. } => "PasswordChanged",
            TenantEvent::PasswordReset { .. } => "PasswordReset",
            TenantEvent::RoleGranted { .. } => "RoleGranted",
            TenantEvent::RoleRevoked { .. } => "RoleRevoked",
            TenantEvent::UserDeleted { .. } => USER_DELETED,
            TenantEvent::DomainAdded { .. } => "TenantDomainAdded",
            TenantEvent::DomainRemoved { .. } => "TenantDomainRemoved",
            TenantEvent::Terminated { .. } => TERMINATED,
        }
    }

    /// A termination stays readable once the company's key is destroyed:
    /// what it leaves behind must know that the company is gone.
    fn sealing(&self, _: Uuid) -> Option<Sealing> {
        matches!(self, TenantEvent::Terminated { .. }).then_some(Sealing::Clear)
    }
}

/// One user account of the tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub login: LoginId,
    pub name: Name,
    pub password_hash: PasswordHash,
    pub roles: BTreeSet<Role>,
}

/// The state of a tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: Option<Uuid>,
    pub domain: Option<DomainName>,
    pub company_name: Option<Name>,
    pub time_zone: TimeZone,
    /// Rule T3: the domains beside the primary one.
    #[serde(default)]
    pub additional_domains: BTreeSet<DomainName>,
    /// Live accounts by user id; deleted ones are gone.
    pub accounts: BTreeMap<Uuid, Account>,
    /// Live accounts by ID, for uniqueness.
    pub logins: BTreeMap<LoginId, Uuid>,
    /// Rule B3: terminated, for good.
    #[serde(default)]
    pub terminated: bool,
}

/// Whether one account may hold `roles` together: an auditor only reads,
/// so the role goes with no power to change anything and is held alone.
///
/// # Errors
/// [`DomainError::Conflict`] for the auditor's role beside another.
fn compatible(roles: &BTreeSet<Role>) -> Result<(), DomainError> {
    if roles.contains(&Role::Auditor) && roles.len() > 1 {
        return Err(DomainError::Conflict(
            "an auditor's account holds no other role: revoke the other roles first, or use another account".into(),
        ));
    }
    Ok(())
}

impl Tenant {
    fn is_admin(&self, user: Uuid) -> bool {
        self.accounts.get(&user).is_some_and(|a| a.roles.contains(&Role::Admin))
    }

    fn admin_count(&self) -> usize {
        self.accounts.values().filter(|a| a.roles.contains(&Role::Admin)).count()
    }

    fn account(&self, user_id: Uuid) -> Result<&Account, DomainError> {
        self.accounts.get(&user_id).ok_or_else(|| DomainError::NotFound(format!("user {user_id}")))
    }

    fn signed_up(&self) -> Result<(), DomainError> {
        match self.id {
            Some(_) => Ok(()),
            None => Err(DomainError::NotFound("tenant".into())),
        }
    }

    fn check_new_account(&self, account: &NewAccount) -> Result<(), DomainError> {
        if self.logins.contains_key(&account.login) {
            return Err(DomainError::Conflict(format!("the ID `{}` is already taken", account.login)).by_rule("T4"));
        }
        if self.accounts.contains_key(&account.user_id) {
            return Err(DomainError::Conflict(format!("user {} already exists", account.user_id)));
        }
        Ok(())
    }

    fn created(account: &NewAccount, roles: BTreeSet<Role>) -> TenantEvent {
        TenantEvent::UserCreated {
            user_id: account.user_id,
            login: account.login.clone(),
            name: account.name.clone(),
            password_hash: account.password_hash.clone(),
            roles,
        }
    }
}

impl Aggregate for Tenant {
    type Command = TenantCommand;
    type Event = TenantEvent;

    const CATEGORY: &'static str = "tenant";
    const SNAPSHOT_VERSION: u32 = 1;

    fn authorize(&self, actor: &Actor, command: &TenantCommand) -> Result<(), DomainError> {
        // `rule`: the rule that makes it an admin's to do.
        let need_admin = |rule: &'static str| match actor {
            Actor::System => Ok(()),
            Actor::User(id) if self.is_admin(*id) => Ok(()),
            Actor::User(_) => {
                Err(DomainError::Forbidden("only an admin of the company may do this".into()).by_rule(rule))
            }
            Actor::Anonymous => Err(DomainError::Unauthenticated("log in first".into())),
        };
        match command {
            TenantCommand::SignUp { .. } => Ok(()),
            TenantCommand::ChangePassword { user_id, .. } => match actor {
                Actor::User(id) if id == user_id => Ok(()),
                Actor::Anonymous => Err(DomainError::Unauthenticated("log in first".into())),
                _ => Err(DomainError::Forbidden("only the user may change their own password".into()).by_rule("U2")),
            },
            TenantCommand::DeleteUser { user_id } if actor.user() == Some(*user_id) => {
                Err(DomainError::Forbidden("you cannot delete your own account".into()).by_rule("U1"))
            }
            TenantCommand::CreateUser { .. } | TenantCommand::DeleteUser { .. } => need_admin("U1"),
            TenantCommand::ResetPassword { .. } => need_admin("U2"),
            TenantCommand::GrantRole { .. } | TenantCommand::RevokeRole { .. } => need_admin("U3"),
            TenantCommand::AddDomain { .. } | TenantCommand::RemoveDomain { .. } => need_admin("T3"),
            TenantCommand::Terminate => match actor {
                Actor::System => Ok(()),
                _ => Err(DomainError::Forbidden("only the provider terminates a company".into()).by_rule("B3")),
            },
        }
    }

    fn decide(&self, command: &TenantCommand, now: DateTime<Utc>) -> Result<Vec<TenantEvent>, DomainError> {
        if self.terminated {
            return match command {
                TenantCommand::Terminate => Ok(vec![]),
                _ => Err(DomainError::NotFound("the company was terminated; nothing of it can be restored".into())
                    .by_rule("B3")),
            };
        }
        match command {
            TenantCommand::SignUp { domain, company_name, member_type, billing_cycle, time_zone, admin } => {
                if self.id.is_some() {
                    return Err(
                        DomainError::Conflict(format!("the domain {domain} is already signed up")).by_rule("T1")
                    );
                }
                Ok(vec![
                    TenantEvent::SignedUp {
                        tenant_id: domain.tenant_id(),
                        domain: domain.clone(),
                        company_name: company_name.clone(),
                        member_type: *member_type,
                        billing_cycle: *billing_cycle,
                        time_zone: time_zone.clone(),
                        signed_up_at: now,
                    },
                    Self::created(admin, BTreeSet::from([Role::Admin])),
                ])
            }
            TenantCommand::CreateUser { account, roles } => {
                self.signed_up()?;
                self.check_new_account(account)?;
                compatible(roles)?;
                Ok(vec![Self::created(account, roles.clone())])
            }
            TenantCommand::ChangePassword { user_id, password_hash } => {
                self.account(*user_id)?;
                Ok(vec![TenantEvent::PasswordChanged { user_id: *user_id, password_hash: password_hash.clone() }])
            }
            TenantCommand::ResetPassword { user_id, password_hash } => {
                self.account(*user_id)?;
                Ok(vec![TenantEvent::PasswordReset { user_id: *user_id, password_hash: password_hash.clone() }])
            }
            TenantCommand::GrantRole { user_id, role } => {
                let account = self.account(*user_id)?;
                if account.roles.contains(role) {
                    return Ok(vec![]);
                }
                compatible(&account.roles.iter().chain([role]).copied().collect())?;
                Ok(vec![TenantEvent::RoleGranted { user_id: *user_id, role: *role }])
            }
            TenantCommand::RevokeRole { user_id, role } => {
                let account = self.account(*user_id)?;
                if !account.roles.contains(role) {
                    return Ok(vec![]);
                }
                if *role == Role::Admin && self.admin_count() == 1 {
                    return Err(DomainError::Conflict("the company must keep at least one admin".into()).by_rule("U3"));
                }
                Ok(vec![TenantEvent::RoleRevoked { user_id: *user_id, role: *role }])
            }
            TenantCommand::DeleteUser { user_id } => {
                let account = self.account(*user_id)?;
                if account.roles.contains(&Role::Admin) && self.admin_count() == 1 {
                    return Err(DomainError::Conflict("the company must keep at least one admin".into()).by_rule("U3"));
                }
                Ok(vec![TenantEvent::UserDeleted { user_id: *user_id }])
            }
            TenantCommand::AddDomain { domain } => {
                self.signed_up()?;
                if self.domain.as_ref() == Some(domain) || self.additional_domains.contains(domain) {
                    return Err(DomainError::Conflict(format!("{domain} is already one of the company's domains"))
                        .by_rule("T3"));
                }
                Ok(vec![TenantEvent::DomainAdded { domain: domain.clone() }])
            }
            TenantCommand::RemoveDomain { domain } => {
                self.signed_up()?;
                if self.domain.as_ref() == Some(domain) {
                    return Err(DomainError::Conflict(format!("{domain} is the primary domain and cannot be removed"))
                        .by_rule("T3"));
                }
                if !self.additional_domains.contains(domain) {
                    return Err(DomainError::NotFound(format!("additional domain {domain}")));
                }
                Ok(vec![TenantEvent::DomainRemoved { domain: domain.clone() }])
            }
            TenantCommand::Terminate => {
                self.signed_up()?;
                let domains = self.domain.iter().chain(&self.additional_domains).cloned().collect();
                Ok(vec![TenantEvent::Terminated { domains }])
            }
        }
    }

    fn evolve(mut self, event: &TenantEvent) -> Self {
        match event {
            TenantEvent::SignedUp { tenant_id, domain, company_name, time_zone, .. } => {
                self.id = Some(*tenant_id);
                self.domain = Some(domain.clone());
                self.company_name = Some(company_name.clone());
                self.time_zone = time_zone.clone();
            }
            TenantEvent::UserCreated { user_id, login, name, password_hash, roles } => {
                self.logins.insert(login.clone(), *user_id);
                self.accounts.insert(
                    *user_id,
                    Account {
                        login: login.clone(),
                        name: name.clone(),
                        password_hash: password_hash.clone(),
                        roles: roles.clone(),
                    },
                );
            }
            TenantEvent::PasswordChanged { user_id, password_hash }
            | TenantEvent::PasswordReset { user_id, password_hash } => {
                if let Some(a) = self.accounts.get_mut(user_id) {
                    a.password_hash = password_hash.clone();
                }
            }
            TenantEvent::RoleGranted { user_id, role } => {
                if let Some(a) = self.accounts.get_mut(user_id) {
                    a.roles.insert(*role);
                }
            }
            TenantEvent::RoleRevoked { user_id, role } => {
                if let Some(a) = self.accounts.get_mut(user_id) {
                    a.roles.remove(role);
                }
            }
            TenantEvent::UserDeleted { user_id } => {
                if let Some(a) = self.accounts.remove(user_id) {
                    self.logins.remove(&a.login);
                }
            }
            TenantEvent::DomainAdded { domain } => {
                self.additional_domains.insert(domain.clone());
            }
            TenantEvent::DomainRemoved { domain } => {
                self.additional_domains.remove(domain);
            }
            // What it kept is gone, as it reads once the company's key is.
            TenantEvent::Terminated { .. } => return Self { terminated: true, ..Self::default() },
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, given};

    fn domain() -> DomainName {
        DomainName::parse("acme.co.kr").unwrap()
    }

    fn account(n: u128, login: &str) -> NewAccount {
        NewAccount {
            user_id: Uuid::from_u128(n),
            login: LoginId::parse(login).unwrap(),
            name: Name::parse("name", "김민수").unwrap(),
            password_hash: PasswordHash(format!("hash-{login}")),
        }
    }

    fn sign_up() -> TenantCommand {
        TenantCommand::SignUp {
            domain: domain(),
            company_name: Name::parse("companyName", "주식회사 에이크미").unwrap(),
            member_type: MemberType::Business,
            billing_cycle: BillingCycle::parse(12).unwrap(),
            time_zone: TimeZone::default(),
            admin: account(1, "admin"),
        }
    }

    fn signed_up() -> Vec<TenantEvent> {
        Tenant::default().decide(&sign_up(), at("2026-11-26T09:00:00+09:00")).unwrap()
    }

    const ADMIN: Actor = Actor::User(Uuid::from_u128(1));

    #[test]
    fn rule_t1_sign_up_opens_the_tenant_with_its_first_admin() {
        given::<Tenant>(vec![]).when(Actor::Anonymous, sign_up()).then(vec![
            TenantEvent::SignedUp {
                tenant_id: domain().tenant_id(),
                domain: domain(),
                company_name: Name::parse("companyName", "주식회사 에이크미").unwrap(),
                member_type: MemberType::Business,
                billing_cycle: BillingCycle::parse(12).unwrap(),
                time_zone: TimeZone::default(),
                signed_up_at: at("2026-11-26T09:00:00+09:00"),
            },
            TenantEvent::UserCreated {
                user_id: Uuid::from_u128(1),
                login: LoginId::parse("admin").unwrap(),
                name: Name::parse("name", "김민수").unwrap(),
                password_hash: PasswordHash("hash-admin".into()),
                roles: BTreeSet::from([Role::Admin]),
            },
        ]);
    }

    #[test]
    fn rule_t1_a_domain_signs_up_once() {
        given::<Tenant>(signed_up())
            .when(Actor::Anonymous, sign_up())
            .then_refused(DomainError::Conflict("the domain acme.co.kr is already signed up".into()).by_rule("T1"));
    }

    #[test]
    fn rule_u1_an_admin_adds_a_user_whose_id_is_unique() {
        let create = TenantCommand::CreateUser { account: account(2, "kim"), roles: BTreeSet::new() };
        given::<Tenant>(signed_up()).when(ADMIN, create.clone()).then(vec![TenantEvent::UserCreated {
            user_id: Uuid::from_u128(2),
            login: LoginId::parse("kim").unwrap(),
            name: Name::parse("name", "김민수").unwrap(),
            password_hash: PasswordHash("hash-kim".into()),
            roles: BTreeSet::new(),
        }]);
        let mut events = signed_up();
        events.push(Tenant::created(&account(2, "kim"), BTreeSet::new()));
        let again = TenantCommand::CreateUser { account: account(3, "KIM"), roles: BTreeSet::new() };
        given::<Tenant>(events)
            .when(ADMIN, again)
            .then_refused(DomainError::Conflict("the ID `kim` is already taken".into()).by_rule("T4"));
    }

    #[test]
    fn rule_u1_only_admins_add_and_delete_users() {
        let mut events = signed_up();
        events.push(Tenant::created(&account(2, "kim"), BTreeSet::new()));
        let create = TenantCommand::CreateUser { account: account(3, "lee"), roles: BTreeSet::new() };
        given::<Tenant>(events.clone())
            .when(Actor::User(Uuid::from_u128(2)), create.clone())
            .then_refused(DomainError::Forbidden("only an admin of the company may do this".into()).by_rule("U1"));
        given::<Tenant>(events.clone())
            .when(Actor::Anonymous, create)
            .then_refused(DomainError::Unauthenticated("log in first".into()));
        given::<Tenant>(events)
            .when(ADMIN, TenantCommand::DeleteUser { user_id: Uuid::from_u128(2) })
            .then(vec![TenantEvent::UserDeleted { user_id: Uuid::from_u128(2) }]);
    }

    #[test]
    fn rule_u1_a_deleted_users_id_can_be_given_again() {
        let mut events = signed_up();
        events.push(Tenant::created(&account(2, "kim"), BTreeSet::new()));
        events.push(TenantEvent::UserDeleted { user_id: Uuid::from_u128(2) });
        let create = TenantCommand::CreateUser { account: account(3, "kim"), roles: BTreeSet::new() };
        given::<Tenant>(events.clone())
            .when(ADMIN, create)
            .then(vec![Tenant::created(&account(3, "kim"), BTreeSet::new())]);
        given::<Tenant>(events)
            .when(
                ADMIN,
                TenantCommand::ResetPassword { user_id: Uuid::from_u128(2), password_hash: PasswordHash("x".into()) },
            )
            .then_refused(DomainError::NotFound(format!("user {}", Uuid::from_u128(2))));
    }

    #[test]
    fn rule_u2_an_admin_resets_a_password_and_a_user_changes_only_their_own() {
        let mut events = signed_up();
        events.push(Tenant::created(&account(2, "kim"), BTreeSet::new()));
        let kim = Uuid::from_u128(2);
        given::<Tenant>(events.clone())
            .when(ADMIN, TenantCommand::ResetPassword { user_id: kim, password_hash: PasswordHash("new".into()) })
            .then(vec![TenantEvent::PasswordReset { user_id: kim, password_hash: PasswordHash("new".into()) }]);
        given::<Tenant>(events.clone())
            .when(
                Actor::User(kim),
                TenantCommand::ResetPassword { user_id: Uuid::from_u128(1), password_hash: PasswordHash("x".into()) },
            )
            .then_refused(DomainError::Forbidden("only an admin of the company may do this".into()).by_rule("U2"));
        given::<Tenant>(events.clone())
            .when(
                Actor::User(kim),
                TenantCommand::ChangePassword { user_id: kim, password_hash: PasswordHash("mine".into()) },
            )
            .then(vec![TenantEvent::PasswordChanged { user_id: kim, password_hash: PasswordHash("mine".into()) }]);
        given::<Tenant>(events)
            .when(ADMIN, TenantCommand::ChangePassword { user_id: kim, password_hash: PasswordHash("x".into()) })
            .then_refused(DomainError::Forbidden("only the user may change their own password".into()).by_rule("U2"));
    }

    #[test]
    fn rule_u3_admin_rights_are_granted_to_several_users_and_revoked() {
        let mut events = signed_up();
        events.push(Tenant::created(&account(2, "kim"), BTreeSet::new()));
        let kim = Uuid::from_u128(2);
        given::<Tenant>(events.clone())
            .when(ADMIN, TenantCommand::GrantRole { user_id: kim, role: Role::Admin })
            .then(vec![TenantEvent::RoleGranted { user_id: kim, role: Role::Admin }]);
        events.push(TenantEvent::RoleGranted { user_id: kim, role: Role::Admin });
        // Granting a role held already changes nothing.
        given::<Tenant>(events.clone())
            .when(ADMIN, TenantCommand::GrantRole { user_id: kim, role: Role::Admin })
            .then(vec![]);
        // With two admins, one may lose the role, even the first admin.
        given::<Tenant>(events.clone())
            .when(Actor::User(kim), TenantCommand::RevokeRole { user_id: Uuid::from_u128(1), role: Role::Admin })
            .then(vec![TenantEvent::RoleRevoked { user_id: Uuid::from_u128(1), role: Role::Admin }]);
        given::<Tenant>(events)
            .when(ADMIN, TenantCommand::GrantRole { user_id: kim, role: Role::HrManager })
            .then(vec![TenantEvent::RoleGranted { user_id: kim, role: Role::HrManager }]);
    }

    #[test]
    fn an_auditor_is_granted_like_other_roles_and_holds_no_other() {
        let mut events = signed_up();
        events.push(Tenant::created(&account(2, "kim"), BTreeSet::new()));
        events.push(Tenant::created(&account(3, "lee"), BTreeSet::from([Role::HrManager])));
        let (kim, lee) = (Uuid::from_u128(2), Uuid::from_u128(3));
        given::<Tenant>(events.clone())
            .when(ADMIN, TenantCommand::GrantRole { user_id: kim, role: Role::Auditor })
            .then(vec![TenantEvent::RoleGranted { user_id: kim, role: Role::Auditor }]);
        // Not beside a role that changes things, either way round.
        given::<Tenant>(events.clone())
            .when(ADMIN, TenantCommand::GrantRole { user_id: lee, role: Role::Auditor })
            .then_refused_as(crate::ErrorKind::Conflict, None);
        given::<Tenant>(events.clone())
            .when(Actor::User(kim), TenantCommand::GrantRole { user_id: kim, role: Role::Auditor })
            .then_refused_as(crate::ErrorKind::Forbidden, None);
        events.push(TenantEvent::RoleGranted { user_id: kim, role: Role::Auditor });
        given::<Tenant>(events.clone())
            .when(ADMIN, TenantCommand::GrantRole { user_id: kim, role: Role::Admin })
            .then_refused_as(crate::ErrorKind::Conflict, None);
        given::<Tenant>(events.clone())
            .when(ADMIN, TenantCommand::RevokeRole { user_id: kim, role: Role::Auditor })
            .then(vec![TenantEvent::RoleRevoked { user_id: kim, role: Role::Auditor }]);
        // Nor made with one.
        given::<Tenant>(events)
            .when(
                ADMIN,
                TenantCommand::CreateUser {
                    account: account(4, "park"),
                    roles: BTreeSet::from([Role::Admin, Role::Auditor]),
                },
            )
            .then_refused_as(crate::ErrorKind::Conflict, None);
    }

    #[test]
    fn rule_u3_the_tenant_always_keeps_one_admin() {
        let admin = Uuid::from_u128(1);
        let keep = DomainError::Conflict("the company must keep at least one admin".into()).by_rule("U3");
        given::<Tenant>(signed_up())
            .when(ADMIN, TenantCommand::RevokeRole { user_id: admin, role: Role::Admin })
            .then_refused(keep.clone());
        given::<Tenant>(signed_up())
            .when(Actor::System, TenantCommand::DeleteUser { user_id: admin })
            .then_refused(keep);
    }

    #[test]
    fn rule_u1_an_admin_cannot_delete_their_own_account() {
        let mut events = signed_up();
        events.push(Tenant::created(&account(2, "kim"), BTreeSet::from([Role::Admin])));
        given::<Tenant>(events)
            .when(ADMIN, TenantCommand::DeleteUser { user_id: Uuid::from_u128(1) })
            .then_refused(DomainError::Forbidden("you cannot delete your own account".into()).by_rule("U1"));
    }

    #[test]
    fn rule_t3_an_admin_adds_and_removes_additional_domains() {
        let extra = DomainName::parse_company_owned("acme.kr").unwrap();
        given::<Tenant>(signed_up())
            .when(ADMIN, TenantCommand::AddDomain { domain: extra.clone() })
            .then(vec![TenantEvent::DomainAdded { domain: extra.clone() }]);
        let mut history = signed_up();
        history.push(TenantEvent::DomainAdded { domain: extra.clone() });
        given::<Tenant>(history.clone()).when(ADMIN, TenantCommand::AddDomain { domain: extra.clone() }).then_refused(
            DomainError::Conflict("acme.kr is already one of the company's domains".into()).by_rule("T3"),
        );
        given::<Tenant>(history.clone()).when(ADMIN, TenantCommand::RemoveDomain { domain: domain() }).then_refused(
            DomainError::Conflict("acme.co.kr is the primary domain and cannot be removed".into()).by_rule("T3"),
        );
        given::<Tenant>(history.clone())
            .when(ADMIN, TenantCommand::RemoveDomain { domain: extra.clone() })
            .then(vec![TenantEvent::DomainRemoved { domain: extra.clone() }]);
        let mut user = signed_up();
        user.push(Tenant::created(&account(2, "kim"), BTreeSet::new()));
        given::<Tenant>(user)
            .when(Actor::User(Uuid::from_u128(2)), TenantCommand::AddDomain { domain: extra })
            .then_refused(DomainError::Forbidden("only an admin of the company may do this".into()).by_rule("T3"));
    }

    // rule B3
    #[test]
    fn rule_b3_the_provider_terminates_a_company_for_good() {
        let extra = DomainName::parse_company_owned("acme.kr").unwrap();
        let mut history = signed_up();
        history.push(TenantEvent::DomainAdded { domain: extra.clone() });
        given::<Tenant>(history.clone())
            .when(ADMIN, TenantCommand::Terminate)
            .then_refused(DomainError::Forbidden("only the provider terminates a company".into()).by_rule("B3"));
        let terminated = TenantEvent::Terminated { domains: BTreeSet::from([domain(), extra]) };
        given::<Tenant>(history.clone()).when(Actor::System, TenantCommand::Terminate).then(vec![terminated.clone()]);
        let clear = terminated.sealing(Uuid::from_u128(1));
        assert_eq!(clear, Some(Sealing::Clear), "it stays readable once the company's key is gone");
        history.push(terminated.clone());
        given::<Tenant>(history.clone()).when(Actor::System, TenantCommand::Terminate).then(vec![]);
        given::<Tenant>(history.clone())
            .when(Actor::System, TenantCommand::CreateUser { account: account(3, "lee"), roles: BTreeSet::new() })
            .then_refused(
                DomainError::NotFound("the company was terminated; nothing of it can be restored".into()).by_rule("B3"),
            );
        // With the company's key destroyed, the termination alone is read.
        let state = Tenant::default().evolve(&terminated);
        assert!(state.terminated && state.accounts.is_empty());
        given::<Tenant>(vec![terminated]).when(Actor::Anonymous, sign_up()).then_refused(
            DomainError::NotFound("the company was terminated; nothing of it can be restored".into()).by_rule("B3"),
        );
        given::<Tenant>(vec![])
            .when(Actor::System, TenantCommand::Terminate)
            .then_refused(DomainError::NotFound("tenant".into()));
    }

    #[test]
    fn state_follows_the_events() {
        let mut events = signed_up();
        events.push(Tenant::created(&account(2, "kim"), BTreeSet::new()));
        events.push(TenantEvent::RoleGranted { user_id: Uuid::from_u128(2), role: Role::DocumentAdmin });
        events.push(TenantEvent::PasswordChanged {
            user_id: Uuid::from_u128(2),
            password_hash: PasswordHash("p2".into()),
        });
        let state = events.iter().fold(Tenant::default(), Tenant::evolve);
        let kim = &state.accounts[&Uuid::from_u128(2)];
        assert_eq!(kim.roles, BTreeSet::from([Role::DocumentAdmin]));
        assert_eq!(kim.password_hash, PasswordHash("p2".into()));
        assert_eq!(state.logins[&LoginId::parse("kim").unwrap()], Uuid::from_u128(2));
        assert_eq!(state.time_zone.as_str(), "Asia/Seoul");
        // Events round-trip through their stored JSON form with stable names.
        for e in &events {
            let json = serde_json::to_value(e).unwrap();
            assert_eq!(json["type"], e.event_type());
            assert_eq!(&serde_json::from_value::<TenantEvent>(json).unwrap(), e);
        }
    }
}
