//! Mutations: each one is a command. Inputs are parsed into domain values
//! first, so bad input is refused before anything is written.

use std::collections::BTreeSet;

use async_graphql::{Context, InputObject, Object, Result};
use commands::{CommandContext, Outcome};
use domain::Actor;
use domain::registry::{DomainHolder, DomainRegistration, RegistryCommand};
use domain::tenant::{NewAccount, Tenant, TenantCommand, TenantEvent};
use domain::values::{BillingCycle, DomainName, LoginId, Name, Password, PasswordHash, TimeZone};
use projections::projectors::tenants;
use uuid::Uuid;

use crate::backend::{Backend, context};
use crate::errors::{ApiError, ApiResult};
use crate::schema::types::{ClientKind, MemberType, RoleKind, Session, SignUpPayload, Tenant as TenantView};
use crate::schema::{Caller, User, backend, caller, credentials, load_user, load_user_by_login, request};

#[derive(Default)]
pub struct AccountsMutation;

/// A company's application for the service (rule T1).
#[derive(InputObject)]
pub struct SignUpInput {
    /// The company's own mail domain (public portal domains are refused).
    pub domain: String,
    pub company_name: String,
    pub member_type: MemberType,
    /// 1, 12 or 24.
    pub billing_cycle_months: i32,
    /// IANA time zone; `Asia/Seoul` when not given.
    pub time_zone: Option<String>,
    /// The first admin's ID (the local part of their address).
    pub admin_user_id: String,
    pub admin_name: String,
    pub admin_password: String,
    /// Sending the same id again returns the first result.
    pub command_id: Option<Uuid>,
}

/// A new user of the company (rule U1).
#[derive(InputObject)]
pub struct CreateUserInput {
    pub user_id: String,
    pub name: String,
    pub password: String,
    #[graphql(default)]
    pub roles: Vec<RoleKind>,
    pub command_id: Option<Uuid>,
}

fn client(ctx: &Context<'_>) -> Option<String> {
    request(ctx).and_then(|r| r.client_address.clone())
}

/// Who the login throttle counts a password check for: the account (its
/// company's id and its ID) and the client's address.
fn throttled(ctx: &Context<'_>, tenant: Uuid, login: &LoginId) -> (String, String) {
    (format!("{tenant}/{login}"), client(ctx).unwrap_or_else(|| "unknown".into()))
}

fn wrong_login() -> ApiError {
    ApiError::unauthenticated("the domain, ID or password is wrong")
}

async fn user_after(backend: &Backend, tenant: Uuid, user: Uuid) -> ApiResult<User> {
    load_user(backend, tenant, user).await?.ok_or_else(|| ApiError::not_found(format!("user {user}")))
}

/// The user an outcome created.
fn created_user(events: &[TenantEvent]) -> ApiResult<Uuid> {
    events
        .iter()
        .find_map(|e| match e {
            TenantEvent::UserCreated { user_id, .. } => Some(*user_id),
            _ => None,
        })
        .ok_or_else(|| ApiError::internal("the command created no user"))
}

async fn run(
    ctx: &Context<'_>,
    caller: &Caller,
    command_id: Option<Uuid>,
    command: TenantCommand,
) -> ApiResult<Vec<TenantEvent>> {
    let backend = backend(ctx);
    let context = context(command_id, Actor::User(caller.user.id), caller.tenant, client(ctx));
    Ok(backend.execute::<Tenant>(caller.tenant, &context, command).await?.events)
}

/// Who held `domain` before the registry recorded holders: the company
/// that signed up with it (its tenant stream exists), or the one whose
/// additional domain the read model says it is.
async fn held_before(backend: &Backend, domain: &DomainName) -> ApiResult<Option<DomainHolder>> {
    let signed_up = domain.tenant_id();
    if backend.commands.load::<Tenant>(signed_up).await?.state.id.is_some() {
        return Ok(Some(DomainHolder { tenant: signed_up, primary: true }));
    }
    let holder = tenants::domain_holder(backend.read_models(), domain).await?;
    Ok(holder.map(|h| DomainHolder { tenant: h.tenant_id, primary: false }))
}

/// The context of a registry command taken on behalf of `tenant_command`.
/// The registry is nobody's tenant data, so it carries no tenant.
fn registry_context(tenant_command: &CommandContext) -> CommandContext {
    let mut context = CommandContext::new(Uuid::now_v7(), tenant_command.actor, None);
    context.correlation_id = Some(tenant_command.command_id);
    context.client_address.clone_from(&tenant_command.client_address);
    context
}

/// Runs `tenant_command` on `tenant` after claiming `domain` for it in the
/// registry (rule T3), and releases the claim when the tenant's step fails
/// and leaves the tenant without the domain.
pub(crate) async fn with_domain_claimed(
    backend: &Backend,
    domain: &DomainName,
    holder: DomainHolder,
    context: &CommandContext,
    tenant_command: TenantCommand,
) -> ApiResult<Outcome<TenantEvent>> {
    let earlier = held_before(backend, domain).await?;
    let claim = RegistryCommand::Claim { domain: domain.clone(), holder, earlier };
    backend.execute::<DomainRegistration>(domain.tenant_id(), &registry_context(context), claim).await?;
    let failure = match backend.execute::<Tenant>(holder.tenant, context, tenant_command).await {
        Ok(outcome) => return Ok(outcome),
        Err(e) => e,
    };
    let tenant = backend.commands.load::<Tenant>(holder.tenant).await?.state;
    if tenant.domain.as_ref() != Some(domain) && !tenant.additional_domains.contains(domain) {
        release_domain(backend, domain, holder.tenant, context).await?;
    }
    Err(failure)
}

/// Gives `domain` up in the registry, if `tenant` holds it (rule T3).
pub(crate) async fn release_domain(
    backend: &Backend,
    domain: &DomainName,
    tenant: Uuid,
    context: &CommandContext,
) -> ApiResult<()> {
    let release = RegistryCommand::Release { domain: domain.clone(), tenant };
    backend.execute::<DomainRegistration>(domain.tenant_id(), &registry_context(context), release).await?;
    Ok(())
}

async fn login_of(backend: &Backend, tenant: Uuid, id: Uuid) -> ApiResult<LoginId> {
    let user = user_after(backend, tenant, id).await?;
    Ok(LoginId::parse(&user.login)?)
}

#[Object]
impl AccountsMutation {
    /// Signs a company up with its first admin (rules T1, T2).
    async fn sign_up(&self, ctx: &Context<'_>, input: SignUpInput) -> Result<SignUpPayload> {
        Ok(sign_up(ctx, input).await?)
    }

    /// Logs a user in with their company's domain, their ID and password
    /// (rule T4); returns a bearer token.
    /// A MOBILE session may only approve and reject documents (rule A11).
    async fn login(
        &self,
        ctx: &Context<'_>,
        domain: String,
        user_id: String,
        password: String,
        #[graphql(default)] client: ClientKind,
    ) -> Result<Session> {
        Ok(login(ctx, domain, user_id, password, client).await?)
    }

    /// Adds a user (admins only; rule U1).
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> Result<User> {
        Ok(create_user(ctx, input).await?)
    }

    /// Deletes a user (admins only; rule U1). Returns the deleted user's id.
    async fn delete_user(&self, ctx: &Context<'_>, id: Uuid, command_id: Option<Uuid>) -> Result<Uuid> {
        Ok(delete_user(ctx, id, command_id).await?)
    }

    /// Changes the caller's own password.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
        command_id: Option<Uuid>,
    ) -> Result<bool> {
        Ok(change_password(ctx, current_password, new_password, command_id).await?)
    }

    /// Sets a new password for a user (admins only; rule U2).
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        new_password: String,
        command_id: Option<Uuid>,
    ) -> Result<bool> {
        Ok(reset_password(ctx, id, new_password, command_id).await?)
    }

    /// Grants a role (admins only; rule U3).
    async fn grant_role(&self, ctx: &Context<'_>, id: Uuid, role: RoleKind, command_id: Option<Uuid>) -> Result<User> {
        Ok(grant_role(ctx, id, role, command_id).await?)
    }

    /// Revokes a role (admins only; rule U3). The last admin keeps theirs.
    async fn revoke_role(&self, ctx: &Context<'_>, id: Uuid, role: RoleKind, command_id: Option<Uuid>) -> Result<User> {
        Ok(revoke_role(ctx, id, role, command_id).await?)
    }
}

async fn sign_up(ctx: &Context<'_>, input: SignUpInput) -> ApiResult<SignUpPayload> {
    let backend = backend(ctx);
    let domain = DomainName::parse_company_owned(&input.domain)?;
    let company_name = Name::parse("companyName", &input.company_name)?;
    let billing_cycle = BillingCycle::parse(i64::from(input.billing_cycle_months))?;
    let time_zone = input.time_zone.as_deref().map(TimeZone::parse).transpose()?.unwrap_or_default();
    let login = LoginId::parse(&input.admin_user_id)?;
    let name = Name::parse("adminName", &input.admin_name)?;
    let password = Password::parse(&input.admin_password, &login)?;
    let password_hash = PasswordHash(backend.auth.hash_password(password.expose()).await?);
    let tenant = domain.tenant_id();
    let command = TenantCommand::SignUp {
        domain: domain.clone(),
        company_name,
        member_type: input.member_type.into(),
        billing_cycle,
        time_zone,
        admin: NewAccount { user_id: Uuid::now_v7(), login, name, password_hash },
    };
    let context = context(input.command_id, Actor::Anonymous, tenant, client(ctx));
    let holder = DomainHolder { tenant, primary: true };
    let outcome = with_domain_claimed(backend, &domain, holder, &context, command).await?;
    let admin = user_after(backend, tenant, created_user(&outcome.events)?).await?;
    let row = tenants::tenant(backend.read_models(), tenant)
        .await?
        .ok_or_else(|| ApiError::internal("the new company is not in the read model"))?;
    Ok(SignUpPayload { tenant: TenantView::from(row), admin })
}

async fn login(
    ctx: &Context<'_>,
    domain: String,
    user_id: String,
    password: String,
    client: ClientKind,
) -> ApiResult<Session> {
    let backend = backend(ctx);
    let domain = DomainName::parse(&domain)?;
    let login = LoginId::parse(&user_id)?;
    if password.is_empty() {
        return Err(ApiError::from(domain::DomainError::invalid("password", "the password is empty")));
    }
    let now = backend.clock.now();
    let tenant = tenants::domain_holder(backend.read_models(), &domain).await?.map(|h| h.tenant_id);
    // One count per account, whichever of its company's domains is named.
    let (account, address) = throttled(ctx, tenant.unwrap_or_else(|| domain.tenant_id()), &login);
    backend.auth.throttle.attempt(&account, &address, now)?;
    let user = match tenant {
        Some(tenant) => load_user_by_login(backend, tenant, login.as_str()).await?,
        None => None,
    };
    let known = match (tenant, &user) {
        (Some(tenant), Some(user)) => credentials(backend, tenant, user.id).await?.map(|c| (tenant, c)),
        _ => None,
    };
    // An unknown domain or ID costs as much time as a wrong password, so the
    // answer's timing does not tell which accounts exist.
    let matched =
        backend.auth.verify_password(known.as_ref().map(|(_, c)| c.password_hash.0.as_str()), &password).await;
    match (known, user) {
        (Some((tenant, credentials)), Some(user)) if matched => {
            backend.auth.throttle.succeeded(&account, &address, now);
            let kind = match client {
                ClientKind::Web => crate::auth::WEB,
                ClientKind::Mobile => crate::auth::MOBILE,
            };
            let (token, expires_at) = backend.auth.issue(tenant, user.id, credentials.sessions, now, kind)?;
            Ok(Session { token, expires_at, user })
        }
        _ => Err(wrong_login()),
    }
}

async fn create_user(ctx: &Context<'_>, input: CreateUserInput) -> ApiResult<User> {
    let caller = caller(ctx).await?;
    caller.require_admin()?;
    let backend = backend(ctx);
    let login = LoginId::parse(&input.user_id)?;
    let name = Name::parse("name", &input.name)?;
    let password = Password::parse(&input.password, &login)?;
    let password_hash = PasswordHash(backend.auth.hash_password(password.expose()).await?);
    let roles: BTreeSet<_> = input.roles.into_iter().map(Into::into).collect();
    let account = NewAccount { user_id: Uuid::now_v7(), login, name, password_hash };
    let events = run(ctx, &caller, input.command_id, TenantCommand::CreateUser { account, roles }).await?;
    user_after(backend, caller.tenant, created_user(&events)?).await
}

async fn delete_user(ctx: &Context<'_>, id: Uuid, command_id: Option<Uuid>) -> ApiResult<Uuid> {
    let caller = caller(ctx).await?;
    run(ctx, &caller, command_id, TenantCommand::DeleteUser { user_id: id }).await?;
    Ok(id)
}

async fn change_password(
    ctx: &Context<'_>,
    current_password: String,
    new_password: String,
    command_id: Option<Uuid>,
) -> ApiResult<bool> {
    let caller = caller(ctx).await?;
    let backend = backend(ctx);
    let login = LoginId::parse(&caller.user.login)?;
    let now = backend.clock.now();
    let (account, address) = throttled(ctx, caller.tenant, &login);
    backend.auth.throttle.attempt(&account, &address, now)?;
    let current = credentials(backend, caller.tenant, caller.user.id)
        .await?
        .ok_or_else(|| ApiError::internal("no credentials for a logged-in user"))?;
    if !backend.auth.verify_password(Some(&current.password_hash.0), &current_password).await {
        return Err(ApiError::forbidden("the current password is wrong"));
    }
    backend.auth.throttle.succeeded(&account, &address, now);
    let password = Password::parse(&new_password, &login)?;
    let password_hash = PasswordHash(backend.auth.hash_password(password.expose()).await?);
    let command = TenantCommand::ChangePassword { user_id: caller.user.id, password_hash };
    run(ctx, &caller, command_id, command).await?;
    Ok(true)
}

async fn reset_password(
    ctx: &Context<'_>,
    id: Uuid,
    new_password: String,
    command_id: Option<Uuid>,
) -> ApiResult<bool> {
    let caller = caller(ctx).await?;
    caller.require_admin()?;
    let backend = backend(ctx);
    let login = login_of(backend, caller.tenant, id).await?;
    let password = Password::parse(&new_password, &login)?;
    let password_hash = PasswordHash(backend.auth.hash_password(password.expose()).await?);
    run(ctx, &caller, command_id, TenantCommand::ResetPassword { user_id: id, password_hash }).await?;
    Ok(true)
}

async fn grant_role(ctx: &Context<'_>, id: Uuid, role: RoleKind, command_id: Option<Uuid>) -> ApiResult<User> {
    let caller = caller(ctx).await?;
    run(ctx, &caller, command_id, TenantCommand::GrantRole { user_id: id, role: role.into() }).await?;
    user_after(backend(ctx), caller.tenant, id).await
}

async fn revoke_role(ctx: &Context<'_>, id: Uuid, role: RoleKind, command_id: Option<Uuid>) -> ApiResult<User> {
    let caller = caller(ctx).await?;
    run(ctx, &caller, command_id, TenantCommand::RevokeRole { user_id: id, role: role.into() }).await?;
    user_after(backend(ctx), caller.tenant, id).await
}
