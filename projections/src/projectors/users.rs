//! The user directory: each tenant's users by ID, and their credentials
//! (kept apart so that no directory query can reach a password hash).

use async_trait::async_trait;
use domain::tenant::TenantEvent;
use serde_json::{Value, json};
use store::RecordedEvent;
use uuid::Uuid;

use super::{tenant_event, unreadable};
use crate::{ProjectionError, Projector, Transaction};

/// `tenant/login` → the user.
pub const USERS: &str = "users";
/// `tenant/user id` → `{ "login": .. }`.
pub const USER_IDS: &str = "user_ids";
/// `tenant/user id` → `{ "passwordHash": .., "changedAt": .., "sessions": .. }`;
/// `sessions` counts the password changes and resets, so that a token
/// issued before the latest one can be told apart however close in time.
pub const CREDENTIALS: &str = "credentials";

pub struct UsersProjector;

fn user_key(tenant: Uuid, login: &str) -> String {
    format!("{tenant}/{login}")
}

fn id_key(tenant: Uuid, user: Uuid) -> String {
    format!("{tenant}/{user}")
}

async fn login_of(
    tx: &Transaction<'_>,
    event: &RecordedEvent,
    tenant: Uuid,
    user: Uuid,
) -> Result<String, ProjectionError> {
    tx.get(USER_IDS, &id_key(tenant, user))
        .await?
        .and_then(|v| v["login"].as_str().map(str::to_owned))
        .ok_or_else(|| unreadable(event, format!("unknown user {user}")))
}

async fn update_user(
    tx: &mut Transaction<'_>,
    event: &RecordedEvent,
    tenant: Uuid,
    user: Uuid,
    change: impl FnOnce(&mut Value),
) -> Result<(), ProjectionError> {
    let login = login_of(tx, event, tenant, user).await?;
    let key = user_key(tenant, &login);
    let mut row = tx.get(USERS, &key).await?.ok_or_else(|| unreadable(event, format!("no row for {key}")))?;
    change(&mut row);
    tx.put(USERS, key, row);
    Ok(())
}

#[async_trait]
impl Projector for UsersProjector {
    fn name(&self) -> &'static str {
        "users.v2"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[USERS, USER_IDS, CREDENTIALS]
    }

    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError> {
        let Some((tenant, tenant_event)) = tenant_event(event)? else { return Ok(()) };
        let at = event.metadata.occurred_at;
        match tenant_event {
            TenantEvent::UserCreated { user_id, login, name, password_hash, roles } => {
                tx.put(
                    USERS,
                    user_key(tenant, login.as_str()),
                    json!({ "id": user_id, "tenantId": tenant, "login": login, "name": name, "roles": roles, "createdAt": at }),
                );
                tx.put(USER_IDS, id_key(tenant, user_id), json!({ "login": login }));
                tx.put(
                    CREDENTIALS,
                    id_key(tenant, user_id),
                    json!({ "passwordHash": password_hash, "changedAt": at, "sessions": 0 }),
                );
            }
            TenantEvent::PasswordChanged { user_id, password_hash }
            | TenantEvent::PasswordReset { user_id, password_hash } => {
                let key = id_key(tenant, user_id);
                let row =
                    tx.get(CREDENTIALS, &key).await?.ok_or_else(|| unreadable(event, format!("no row for {key}")))?;
                let sessions = row["sessions"].as_u64().unwrap_or(0) + 1;
                tx.put(
                    CREDENTIALS,
                    key,
                    json!({ "passwordHash": password_hash, "changedAt": at, "sessions": sessions }),
                );
            }
            TenantEvent::RoleGranted { user_id, role } | TenantEvent::RoleRevoked { user_id, role } => {
                let granted = matches!(tenant_event, TenantEvent::RoleGranted { .. });
                update_user(tx, event, tenant, user_id, |row| {
                    let mut roles: std::collections::BTreeSet<domain::values::Role> =
                        serde_json::from_value(row["roles"].clone()).unwrap_or_default();
                    if granted {
                        roles.insert(role);
                    } else {
                        roles.remove(&role);
                    }
                    row["roles"] = json!(roles);
                })
                .await?;
            }
            TenantEvent::UserDeleted { user_id } => {
                let login = login_of(tx, event, tenant, user_id).await?;
                tx.delete(USERS, user_key(tenant, &login));
                tx.delete(USER_IDS, id_key(tenant, user_id));
                tx.delete(CREDENTIALS, id_key(tenant, user_id));
            }
            TenantEvent::SignedUp { .. } | TenantEvent::DomainAdded { .. } | TenantEvent::DomainRemoved { .. } => {}
        }
        Ok(())
    }
}
