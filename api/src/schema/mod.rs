//! The GraphQL schema, built once and shared by every request.

mod accounts;
mod approval;
mod audit;
mod hr;
pub(crate) mod mail;
mod organisation;
mod pagination;
mod subscription;
mod types;

use std::sync::Arc;

use async_graphql::{Context, MergedObject, Schema};
use domain::values::Role;
use projections::projectors::users;
use uuid::Uuid;

use crate::backend::Backend;
use crate::capabilities::Capability;
use crate::errors::{ApiError, ApiResult};
use commands::CommandContext;

pub use audit::{Checkpointing, Retaining};
pub use subscription::SubscriptionRoot;
pub use types::User;

/// Declares the capabilities, in the order they start: each one's
/// description (see [`Capability`]) and its root queries and mutations.
/// Adding a capability is one line here (and its module above).
macro_rules! capabilities {
    ($($capability:expr => $query:ty, $mutation:ty;)*) => {
        /// Every query, by capability.
        #[derive(MergedObject, Default)]
        #[graphql(name = "QueryRoot")]
        pub struct Query($($query),*);

        /// Every mutation, by capability.
        #[derive(MergedObject, Default)]
        #[graphql(name = "MutationRoot")]
        pub struct Mutation($($mutation),*);

        /// Every capability of the server, in the order they start.
        pub fn capabilities() -> Vec<Capability> {
            vec![$($capability),*]
        }
    };
}

/// Every projector of every capability.
pub fn projectors() -> Vec<Arc<dyn projections::Projector>> {
    capabilities().into_iter().flat_map(|c| c.projectors).collect()
}

/// The JSON Schema of every event type of every capability's aggregates,
/// by the type's stored name (for archives), made once.
pub(crate) fn event_schemas() -> &'static std::collections::BTreeMap<String, serde_json::Value> {
    static SCHEMAS: std::sync::LazyLock<std::collections::BTreeMap<String, serde_json::Value>> =
        std::sync::LazyLock::new(|| {
            let aggregates = capabilities().into_iter().flat_map(|c| c.aggregates);
            aggregates.flat_map(|a| a.event_schemas()).collect()
        });
    &SCHEMAS
}

capabilities! {
    accounts::capability() => accounts::AccountsQuery, accounts::AccountsMutation;
    mail::capability() => mail::MailQuery, mail::MailMutation;
    organisation::capability() => organisation::OrganisationQuery, organisation::OrganisationMutation;
    approval::capability() => approval::ApprovalQuery, approval::ApprovalMutation;
    hr::capability() => hr::HrQueries, hr::HrMutations;
    audit::capability() => audit::AuditQuery, audit::AuditMutation;
}

pub type AppSchema = Schema<Query, Mutation, SubscriptionRoot>;

/// What the HTTP layer knows of a request.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub token: Option<String>,
    pub client_address: Option<String>,
}

/// The schema, built once per use with its limits.
#[derive(Clone)]
pub struct Schemas {
    /// For HTTP: the boundary's checks run in the handler
    /// ([`crate::boundary::admit`]), so no extension costs anything per
    /// field resolved.
    pub http: AppSchema,
    /// For HTTP requests that only introspect the schema: deeper.
    pub introspection: AppSchema,
    /// For WebSocket, whose messages only an extension sees: the boundary
    /// as an extension.
    pub websocket: AppSchema,
}

/// The schemas with their limits.
pub fn build_schemas(backend: Arc<Backend>) -> Schemas {
    let (depth, complexity) = (backend.settings.max_query_depth, backend.settings.max_query_complexity);
    let base = || {
        Schema::build(Query::default(), Mutation::default(), SubscriptionRoot)
            .data(backend.clone())
            .limit_complexity(complexity)
    };
    Schemas {
        http: base().limit_depth(depth).finish(),
        introspection: base().limit_depth(depth.max(crate::boundary::INTROSPECTION_DEPTH)).finish(),
        // The depth limit lives in the boundary, which lets introspection
        // nest deeper.
        websocket: base().extension(crate::boundary::Boundary::new(depth)).finish(),
    }
}

/// The schema's SDL, without any service behind it.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), SubscriptionRoot).finish().sdl()
}

pub(crate) fn backend<'a>(ctx: &Context<'a>) -> &'a Arc<Backend> {
    ctx.data_unchecked::<Arc<Backend>>()
}

pub(crate) fn request<'a>(ctx: &Context<'a>) -> Option<&'a RequestInfo> {
    ctx.data_opt::<RequestInfo>()
}

/// The context of a command the caller issues from this request.
pub(crate) fn caller_context(ctx: &Context<'_>, caller: &Caller, command_id: Option<Uuid>) -> CommandContext {
    let client = request(ctx).and_then(|r| r.client_address.clone());
    crate::backend::context(command_id, domain::Actor::User(caller.user.id), caller.tenant, client)
}

/// The logged-in user a request speaks for.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: Uuid,
    pub user: User,
    /// A mobile session (rule A11).
    pub mobile: bool,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.user.roles.contains(&role.into())
    }

    /// # Errors
    /// `FORBIDDEN` unless the caller is an admin.
    pub fn require_admin(&self) -> ApiResult<()> {
        if self.has(Role::Admin) {
            Ok(())
        } else {
            Err(ApiError::forbidden("only an admin of the company may do this"))
        }
    }

    /// # Errors
    /// `FORBIDDEN` unless the caller is an admin or an auditor.
    pub fn require_auditing(&self) -> ApiResult<()> {
        if self.has(Role::Admin) || self.has(Role::Auditor) {
            Ok(())
        } else {
            Err(ApiError::forbidden("only an admin or an auditor of the company may read this"))
        }
    }
}

/// The caller, from the bearer token: genuine, unexpired, and of a user
/// that still exists.
///
/// # Errors
/// `UNAUTHENTICATED` otherwise.
pub(crate) async fn caller(ctx: &Context<'_>) -> ApiResult<Caller> {
    let token = request(ctx)
        .and_then(|r| r.token.as_deref())
        .ok_or_else(|| ApiError::unauthenticated("log in first: send the token as `Authorization: Bearer <token>`"))?;
    let caller = authenticate(backend(ctx), token).await?;
    if caller.mobile && !mutations_within(ctx, &MOBILE_MUTATIONS) {
        return Err(ApiError::forbidden("the mobile app may only approve and reject documents; use the web client"));
    }
    if caller.has(Role::Auditor) && !mutations_within(ctx, &AUDITOR_MUTATIONS) {
        return Err(ApiError::forbidden("an auditor's account reads only; it changes nothing"));
    }
    Ok(caller)
}

/// The mutations a mobile session may run (rule A11); it reads as the web
/// client does.
const MOBILE_MUTATIONS: [&str; 2] = ["approveDocument", "rejectDocument"];

/// The mutations an auditor may run: their own account's password, and
/// asking for an archive (which changes nothing of the company's).
const AUDITOR_MUTATIONS: [&str; 2] = ["changePassword", "requestArchive"];

/// Whether the request's operation is a query, or a mutation whose every
/// root field is one of `allowed`.
fn mutations_within(ctx: &Context<'_>, allowed: &[&str]) -> bool {
    use async_graphql::parser::types::{OperationType, Selection};
    let operation = &ctx.query_env.operation.node;
    operation.ty != OperationType::Mutation
        || operation.selection_set.node.items.iter().all(|item| match &item.node {
            Selection::Field(field) => allowed.contains(&field.node.name.node.as_str()),
            _ => false,
        })
}

/// The user a token speaks for, checked now: genuine, unexpired, issued
/// since the user's last password change or reset, and of a user that
/// still exists.
///
/// # Errors
/// `UNAUTHENTICATED` otherwise.
pub(crate) async fn authenticate(backend: &Backend, token: &str) -> ApiResult<Caller> {
    let claims = backend.auth.verify(token, backend.clock.now())?;
    let gone = || ApiError::unauthenticated("this account no longer exists");
    let user = load_user(backend, claims.tid, claims.sub).await?.ok_or_else(gone)?;
    let credentials = credentials(backend, claims.tid, user.id).await?.ok_or_else(gone)?;
    // A password change or reset logs every earlier session out.
    if credentials.sessions != claims.sessions {
        return Err(ApiError::unauthenticated("the password was changed after this login; log in again"));
    }
    Ok(Caller { tenant: claims.tid, user, mobile: claims.client == crate::auth::MOBILE })
}

/// A user's credentials: the password hash, and how many times it was
/// changed or reset.
pub(crate) async fn credentials(
    backend: &Backend,
    tenant: Uuid,
    user: Uuid,
) -> ApiResult<Option<users::CredentialsRow>> {
    Ok(users::credentials(backend.read_models(), tenant, user).await?)
}

/// A user of `tenant` by id, from the directory.
pub(crate) async fn load_user(backend: &Backend, tenant: Uuid, id: Uuid) -> ApiResult<Option<User>> {
    Ok(users::user_by_id(backend.read_models(), tenant, id).await?.map(User::from))
}

/// A user of `tenant` by login, from the directory.
pub(crate) async fn load_user_by_login(backend: &Backend, tenant: Uuid, login: &str) -> ApiResult<Option<User>> {
    Ok(users::user(backend.read_models(), tenant, login).await?.map(User::from))
}
