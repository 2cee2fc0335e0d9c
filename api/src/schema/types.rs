//! The GraphQL object types of accounts and the audit trail, made from
//! read-model rows.

use async_graphql::{ComplexObject, Context, Enum, Json, Result, SimpleObject};
use chrono::{DateTime, Utc};
use projections::projectors::{audit::AuditRow, tenants::TenantRow, users::UserRow};
use uuid::Uuid;

/// The client a session is for.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientKind {
    #[default]
    Web,
    /// May only approve and reject documents (rule A11).
    Mobile,
}

/// A role beyond plain user.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "Role")]
pub enum RoleKind {
    Admin,
    HrManager,
    DocumentAdmin,
    /// Reads the audit trail, stream histories and past states; changes
    /// nothing.
    Auditor,
}

impl From<domain::values::Role> for RoleKind {
    fn from(role: domain::values::Role) -> Self {
        match role {
            domain::values::Role::Admin => RoleKind::Admin,
            domain::values::Role::HrManager => RoleKind::HrManager,
            domain::values::Role::DocumentAdmin => RoleKind::DocumentAdmin,
            domain::values::Role::Auditor => RoleKind::Auditor,
        }
    }
}

impl From<RoleKind> for domain::values::Role {
    fn from(role: RoleKind) -> Self {
        match role {
            RoleKind::Admin => domain::values::Role::Admin,
            RoleKind::HrManager => domain::values::Role::HrManager,
            RoleKind::DocumentAdmin => domain::values::Role::DocumentAdmin,
            RoleKind::Auditor => domain::values::Role::Auditor,
        }
    }
}

/// Business members get tax invoices, individual members cash receipts.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberType {
    Business,
    Individual,
}

impl From<MemberType> for domain::values::MemberType {
    fn from(m: MemberType) -> Self {
        match m {
            MemberType::Business => domain::values::MemberType::Business,
            MemberType::Individual => domain::values::MemberType::Individual,
        }
    }
}

impl From<domain::values::MemberType> for MemberType {
    fn from(m: domain::values::MemberType) -> Self {
        match m {
            domain::values::MemberType::Business => MemberType::Business,
            domain::values::MemberType::Individual => MemberType::Individual,
        }
    }
}

/// A company using the suite.
#[derive(SimpleObject, Debug, Clone)]
pub struct Tenant {
    pub id: Uuid,
    /// The primary domain, in IDNA ASCII form.
    pub domain: String,
    pub company_name: String,
    pub member_type: MemberType,
    pub billing_cycle_months: i32,
    /// IANA time zone of the company's calendar rules.
    pub time_zone: String,
    pub signed_up_at: DateTime<Utc>,
}

impl From<TenantRow> for Tenant {
    fn from(row: TenantRow) -> Self {
        Self {
            id: row.id,
            domain: row.domain.to_string(),
            company_name: row.company_name.as_str().to_owned(),
            member_type: row.member_type.into(),
            billing_cycle_months: i32::from(row.billing_cycle_months),
            time_zone: row.time_zone.as_str().to_owned(),
            signed_up_at: row.signed_up_at,
        }
    }
}

/// A user account.
#[derive(SimpleObject, Debug, Clone)]
pub struct User {
    pub id: Uuid,
    #[graphql(skip)]
    pub tenant_id: Uuid,
    /// The login ID: the local part of the user's address.
    #[graphql(name = "userId")]
    pub login: String,
    pub name: String,
    pub roles: Vec<RoleKind>,
    pub created_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            tenant_id: row.tenant_id,
            login: row.login.as_str().to_owned(),
            name: row.name.as_str().to_owned(),
            roles: row.roles.into_iter().map(RoleKind::from).collect(),
            created_at: row.created_at,
        }
    }
}

/// One event of the tenant, as auditors list it.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct AuditEntry {
    pub position: u64,
    pub event_id: Uuid,
    pub stream: String,
    pub version: u64,
    #[graphql(name = "type")]
    pub event_type: String,
    /// The user who caused the event; none for sign-up and the system.
    pub actor_id: Option<Uuid>,
    pub command_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
    #[graphql(skip)]
    pub tenant_id: Uuid,
}

impl AuditEntry {
    /// The entry of `tenant`'s trail that `row` holds.
    pub fn new(tenant: Uuid, row: AuditRow) -> Self {
        Self {
            position: row.position,
            event_id: row.event_id,
            stream: row.stream,
            version: row.version,
            event_type: row.event_type,
            actor_id: row.actor_id,
            command_id: row.command_id,
            occurred_at: row.occurred_at,
            tenant_id: tenant,
        }
    }
}

#[ComplexObject]
impl AuditEntry {
    /// The acting user, while their account exists.
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(actor) = self.actor_id else { return Ok(None) };
        Ok(super::load_user(super::backend(ctx), self.tenant_id, actor).await?)
    }
}

/// One stored event with its whole envelope.
#[derive(SimpleObject, Debug, Clone)]
pub struct StoredEvent {
    pub position: u64,
    pub version: u64,
    #[graphql(name = "type")]
    pub event_type: String,
    pub schema_version: u32,
    /// The payload; secrets such as password hashes are redacted. None when
    /// the caller may not read this stream's content.
    pub data: Option<Json<serde_json::Value>>,
    /// Whether the content is withheld from the caller (personal content is
    /// shown only to those who may read it elsewhere in the API).
    pub content_withheld: bool,
    /// Whether the content was deleted: sealed with the key of a person or
    /// company since deleted (rules U1, B3), it can no longer be read.
    pub content_deleted: bool,
    pub actor_id: Option<Uuid>,
    pub command_id: Option<Uuid>,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub client_address: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    /// The event's link in its company's hash chain (SHA-256,
    /// hexadecimal); none from a store that keeps no chain.
    pub chain: Option<String>,
}

impl StoredEvent {
    /// The event as the caller sees it: with its content when `shown`.
    pub fn from_recorded(event: &store::RecordedEvent, shown: bool) -> Self {
        let deleted = event.is_shredded();
        let data = (shown && !deleted).then(|| {
            let mut data = serde_json::from_slice(&event.data).unwrap_or(serde_json::Value::Null);
            redact(&mut data);
            Json(data)
        });
        Self {
            position: event.position,
            version: event.version,
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            data,
            content_withheld: !shown,
            content_deleted: deleted,
            actor_id: event.metadata.actor,
            command_id: event.metadata.command_id,
            correlation_id: event.metadata.correlation_id,
            causation_id: event.metadata.causation_id,
            client_address: event.metadata.client_address.clone(),
            occurred_at: event.metadata.occurred_at,
            recorded_at: event.recorded_at,
            chain: event.chain.map(|c| c.to_string()),
        }
    }
}

/// Hides every field whose name speaks of a password.
pub(crate) fn redact(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key.to_lowercase().contains("password") {
                    *v = serde_json::Value::String("[redacted]".into());
                } else {
                    redact(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// What a login returns.
#[derive(SimpleObject, Debug, Clone)]
pub struct Session {
    /// Send it as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

/// What a sign-up returns.
#[derive(SimpleObject, Debug, Clone)]
pub struct SignUpPayload {
    pub tenant: Tenant,
    pub admin: User,
}

/// How far a file made in the background has come, as its GraphQL types
/// show it.
pub struct FileFields {
    /// PREPARING, READY or FAILED.
    pub status: &'static str,
    pub items: Option<u64>,
    pub size: Option<u64>,
    pub failure: Option<String>,
}

impl FileFields {
    pub fn of(file: &domain::downloads::Download) -> Self {
        use domain::downloads::FileState;
        match &file.state {
            FileState::Preparing => Self { status: "PREPARING", items: None, size: None, failure: None },
            FileState::Ready { size, items, .. } => {
                Self { status: "READY", items: Some(*items), size: Some(*size), failure: None }
            }
            FileState::Failed { reason } => {
                Self { status: "FAILED", items: None, size: None, failure: Some(reason.clone()) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let mut v = serde_json::json!({ "password_hash": "x", "a": [{ "newPassword": "y", "b": 1 }] });
        super::redact(&mut v);
        assert_eq!(
            v,
            serde_json::json!({ "password_hash": "[redacted]", "a": [{ "newPassword": "[redacted]", "b": 1 }] })
        );
    }
}
