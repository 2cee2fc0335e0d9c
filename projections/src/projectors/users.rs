//! The user directory: each tenant's users by ID, and their credentials
//! (kept apart so that no directory query can reach a password hash).

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::tenant::TenantEvent;
use domain::values::{LoginId, Name, PasswordHash, Role};
use serde::{Deserialize, Serialize};
use store::RecordedEvent;
use uuid::Uuid;

use super::{tenant_event, unreadable};
use crate::{Counts, ProjectionError, Projector, ReadModelStore, Table, Transaction};

/// A user of a company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub login: LoginId,
    pub name: Name,
    pub roles: BTreeSet<Role>,
    pub created_at: DateTime<Utc>,
}

/// The login of a user, to find their [`UserRow`] by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserIdRow {
    pub login: LoginId,
}

/// A user's password hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsRow {
    pub password_hash: PasswordHash,
    pub changed_at: DateTime<Utc>,
    /// How many times the password was changed or reset, so that a token
    /// issued before the latest one can be told apart however close in time.
    pub sessions: u64,
}

/// [`user_key`] → the user; [`users_prefix`] lists a company's users by ID.
pub const USERS: Table<UserRow> = Table::new("users");
/// [`user_id_key`] → the user's login.
pub const USER_IDS: Table<UserIdRow> = Table::new("user_ids");
/// [`user_id_key`] → the user's credentials.
pub const CREDENTIALS: Table<CredentialsRow> = Table::new("credentials");

pub fn user_key(tenant: Uuid, login: &str) -> String {
    format!("{tenant}/{login}")
}

/// The prefix of a company's users, in [`USERS`].
pub fn users_prefix(tenant: Uuid) -> String {
    format!("{tenant}/")
}

/// How many users each company has, under [`users_prefix`].
pub const USER_COUNTS: Counts = Counts::new("users_counts");

/// How many users `tenant` has, without counting them.
///
/// # Errors
/// When the store fails.
pub async fn user_count(store: &dyn ReadModelStore, tenant: Uuid) -> Result<usize, ProjectionError> {
    USER_COUNTS.get(store, USERS.name(), &users_prefix(tenant)).await
}

pub fn user_id_key(tenant: Uuid, user: Uuid) -> String {
    format!("{tenant}/{user}")
}

/// A user of `tenant` by login.
///
/// # Errors
/// When the store fails or the row is not a [`UserRow`].
pub async fn user(store: &dyn ReadModelStore, tenant: Uuid, login: &str) -> Result<Option<UserRow>, ProjectionError> {
    USERS.get(store, &user_key(tenant, login)).await
}

/// A user of `tenant` by id.
///
/// # Errors
/// When the store fails or a row is not of its table's type.
pub async fn user_by_id(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<UserRow>, ProjectionError> {
    let Some(ids) = USER_IDS.get(store, &user_id_key(tenant, id)).await? else { return Ok(None) };
    user(store, tenant, ids.login.as_str()).await
}

/// A user's credentials.
///
/// # Errors
/// When the store fails or the row is not a [`CredentialsRow`].
pub async fn credentials(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    user: Uuid,
) -> Result<Option<CredentialsRow>, ProjectionError> {
    CREDENTIALS.get(store, &user_id_key(tenant, user)).await
}

pub struct UsersProjector;

async fn login_of(
    tx: &Transaction<'_>,
    event: &RecordedEvent,
    tenant: Uuid,
    user: Uuid,
) -> Result<LoginId, ProjectionError> {
    let row = USER_IDS.read(tx, &user_id_key(tenant, user)).await?;
    row.map(|r| r.login).ok_or_else(|| unreadable(event, format!("unknown user {user}")))
}

#[async_trait]
impl Projector for UsersProjector {
    fn name(&self) -> &'static str {
        "users.v3"
    }

    fn tables(&self) -> &'static [&'static str] {
        const TABLES: &[&str] = &[USERS.name(), USER_IDS.name(), CREDENTIALS.name(), USER_COUNTS.name()];
        TABLES
    }

    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError> {
        let Some((tenant, tenant_event)) = tenant_event(event)? else { return Ok(()) };
        let at = event.metadata.occurred_at;
        match tenant_event {
            TenantEvent::UserCreated { user_id, login, name, password_hash, roles } => {
                let key = user_key(tenant, login.as_str());
                let ids = UserIdRow { login: login.clone() };
                let user = UserRow { id: user_id, tenant_id: tenant, login, name, roles, created_at: at };
                USERS.put_counted(tx, USER_COUNTS, key, &user, &[&users_prefix(tenant)]).await?;
                USER_IDS.put(tx, user_id_key(tenant, user_id), &ids)?;
                let credentials = CredentialsRow { password_hash, changed_at: at, sessions: 0 };
                CREDENTIALS.put(tx, user_id_key(tenant, user_id), &credentials)?;
            }
            TenantEvent::PasswordChanged { user_id, password_hash }
            | TenantEvent::PasswordReset { user_id, password_hash } => {
                let key = user_id_key(tenant, user_id);
                let row =
                    CREDENTIALS.read(tx, &key).await?.ok_or_else(|| unreadable(event, format!("no row for {key}")))?;
                let credentials = CredentialsRow { password_hash, changed_at: at, sessions: row.sessions + 1 };
                CREDENTIALS.put(tx, key, &credentials)?;
            }
            TenantEvent::RoleGranted { user_id, role } | TenantEvent::RoleRevoked { user_id, role } => {
                let granted = matches!(tenant_event, TenantEvent::RoleGranted { .. });
                let login = login_of(tx, event, tenant, user_id).await?;
                let key = user_key(tenant, login.as_str());
                let mut row =
                    USERS.read(tx, &key).await?.ok_or_else(|| unreadable(event, format!("no row for {key}")))?;
                if granted {
                    row.roles.insert(role);
                } else {
                    row.roles.remove(&role);
                }
                USERS.put(tx, key, &row)?;
            }
            TenantEvent::UserDeleted { user_id } => {
                let login = login_of(tx, event, tenant, user_id).await?;
                USERS
                    .delete_counted(tx, USER_COUNTS, user_key(tenant, login.as_str()), &[&users_prefix(tenant)])
                    .await?;
                USER_IDS.delete(tx, user_id_key(tenant, user_id));
                CREDENTIALS.delete(tx, user_id_key(tenant, user_id));
            }
            // A termination's rows go with every projector's (the runner).
            TenantEvent::SignedUp { .. }
            | TenantEvent::DomainAdded { .. }
            | TenantEvent::DomainRemoved { .. }
            | TenantEvent::Terminated { .. } => {}
        }
        Ok(())
    }
}
