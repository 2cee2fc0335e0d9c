//! The organisation chart (rule U4): departments, positions and members.

use async_trait::async_trait;
use domain::Aggregate;
use domain::organisation::{Organisation, OrganisationEvent};
use serde::{Deserialize, Serialize};
use store::RecordedEvent;
use uuid::Uuid;

use super::unreadable;
use crate::{ProjectionError, Projector, ReadModelStore, Table, Transaction};

/// A department, with the users in each of its roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepartmentRow {
    pub id: Uuid,
    pub name: String,
    /// None: directly under the company.
    pub parent_id: Option<Uuid>,
    /// Sorted, as are `heads` and `box_managers`.
    pub members: Vec<Uuid>,
    pub heads: Vec<Uuid>,
    pub box_managers: Vec<Uuid>,
}

impl DepartmentRow {
    /// Whether `user` heads the department or manages its box.
    pub fn is_handled_by(&self, user: Uuid) -> bool {
        self.heads.contains(&user) || self.box_managers.contains(&user)
    }

    /// The list of users holding `role`.
    fn holders(&mut self, role: Role) -> &mut Vec<Uuid> {
        match role {
            Role::Member => &mut self.members,
            Role::Head => &mut self.heads,
            Role::BoxManager => &mut self.box_managers,
        }
    }
}

/// A position (직급); rank 1 is the highest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionRow {
    pub id: Uuid,
    pub name: String,
    pub rank: u32,
}

/// Where a user sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRow {
    pub user_id: Uuid,
    pub department_id: Uuid,
    pub position_id: Option<Uuid>,
}

/// `tenant/department id` → the department.
pub const ORG_DEPARTMENTS: Table<DepartmentRow> = Table::new("org_departments");
/// `tenant/position id` → the position.
pub const ORG_POSITIONS: Table<PositionRow> = Table::new("org_positions");
/// `tenant/user id` → where the user sits.
pub const ORG_MEMBERS: Table<MemberRow> = Table::new("org_members");

const TABLES: &[&str] = &[ORG_DEPARTMENTS.name(), ORG_POSITIONS.name(), ORG_MEMBERS.name()];

/// The most rows one listing of a tenant reads.
const MAX_ROWS: usize = 10_000;

pub fn department_key(tenant: Uuid, department: Uuid) -> String {
    format!("{tenant}/{department}")
}

pub fn position_key(tenant: Uuid, position: Uuid) -> String {
    format!("{tenant}/{position}")
}

pub fn member_key(tenant: Uuid, user: Uuid) -> String {
    format!("{tenant}/{user}")
}

/// The prefix of every row of a tenant in these tables.
fn tenant_prefix(tenant: Uuid) -> String {
    format!("{tenant}/")
}

/// One department.
///
/// # Errors
/// When the store fails or the row is not a department.
pub async fn department(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<DepartmentRow>, ProjectionError> {
    ORG_DEPARTMENTS.get(store, &department_key(tenant, id)).await
}

/// Every department of a tenant, in no particular order.
///
/// # Errors
/// When the store fails or a row is not a department.
pub async fn departments(store: &dyn ReadModelStore, tenant: Uuid) -> Result<Vec<DepartmentRow>, ProjectionError> {
    let rows = ORG_DEPARTMENTS.scan(store, &tenant_prefix(tenant), None, MAX_ROWS).await?;
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

/// One position.
///
/// # Errors
/// When the store fails or the row is not a position.
pub async fn position(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<PositionRow>, ProjectionError> {
    ORG_POSITIONS.get(store, &position_key(tenant, id)).await
}

/// Every position of a tenant, in no particular order.
///
/// # Errors
/// When the store fails or a row is not a position.
pub async fn positions(store: &dyn ReadModelStore, tenant: Uuid) -> Result<Vec<PositionRow>, ProjectionError> {
    let rows = ORG_POSITIONS.scan(store, &tenant_prefix(tenant), None, MAX_ROWS).await?;
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

/// Where `user` sits; none when not assigned.
///
/// # Errors
/// When the store fails or the row is not a member.
pub async fn member(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    user: Uuid,
) -> Result<Option<MemberRow>, ProjectionError> {
    ORG_MEMBERS.get(store, &member_key(tenant, user)).await
}

pub struct OrganisationProjector;

/// A role a user holds in a department.
#[derive(Debug, Clone, Copy)]
enum Role {
    Member,
    Head,
    BoxManager,
}

/// The department row under `key`, which the event needs.
async fn existing(tx: &Transaction<'_>, event: &RecordedEvent, key: &str) -> Result<DepartmentRow, ProjectionError> {
    ORG_DEPARTMENTS.read(tx, key).await?.ok_or_else(|| unreadable(event, format!("no {key}")))
}

/// Gives `user` the `role` in a department or takes it away.
async fn mark(
    tx: &mut Transaction<'_>,
    event: &RecordedEvent,
    key: String,
    role: Role,
    user: Uuid,
    on: bool,
) -> Result<(), ProjectionError> {
    let mut row = existing(tx, event, &key).await?;
    let users = row.holders(role);
    users.retain(|u| *u != user);
    if on {
        users.push(user);
        users.sort();
    }
    ORG_DEPARTMENTS.put(tx, key, &row)
}

/// Takes `user` off the members, heads and box managers of the department
/// it leaves.
async fn leave(tx: &mut Transaction<'_>, tenant: Uuid, user: Uuid) -> Result<(), ProjectionError> {
    let Some(member) = ORG_MEMBERS.read(tx, &member_key(tenant, user)).await? else { return Ok(()) };
    let key = department_key(tenant, member.department_id);
    let Some(mut row) = ORG_DEPARTMENTS.read(tx, &key).await? else { return Ok(()) };
    for role in [Role::Member, Role::Head, Role::BoxManager] {
        row.holders(role).retain(|u| *u != user);
    }
    ORG_DEPARTMENTS.put(tx, key, &row)
}

#[async_trait]
impl Projector for OrganisationProjector {
    fn name(&self) -> &'static str {
        "organisation.v1"
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError> {
        if event.category() != Organisation::CATEGORY {
            return Ok(());
        }
        let tenant = event.metadata.tenant.ok_or_else(|| unreadable(event, "no tenant in metadata"))?;
        let decoded = event.decode::<OrganisationEvent>().map_err(|e| unreadable(event, e))?;
        let department_key = |id: Uuid| department_key(tenant, id);
        match decoded {
            OrganisationEvent::DepartmentCreated { department_id, name, parent } => {
                let row = DepartmentRow {
                    id: department_id,
                    name,
                    parent_id: parent,
                    members: Vec::new(),
                    heads: Vec::new(),
                    box_managers: Vec::new(),
                };
                ORG_DEPARTMENTS.put(tx, department_key(department_id), &row)?;
            }
            OrganisationEvent::DepartmentRenamed { department_id, name } => {
                let key = department_key(department_id);
                let row = DepartmentRow { name, ..existing(tx, event, &key).await? };
                ORG_DEPARTMENTS.put(tx, key, &row)?;
            }
            OrganisationEvent::DepartmentMoved { department_id, parent } => {
                let key = department_key(department_id);
                let row = DepartmentRow { parent_id: parent, ..existing(tx, event, &key).await? };
                ORG_DEPARTMENTS.put(tx, key, &row)?;
            }
            OrganisationEvent::DepartmentDeleted { department_id } => {
                ORG_DEPARTMENTS.delete(tx, department_key(department_id))
            }
            OrganisationEvent::PositionCreated { position_id, name, rank }
            | OrganisationEvent::PositionChanged { position_id, name, rank } => {
                let row = PositionRow { id: position_id, name, rank };
                ORG_POSITIONS.put(tx, position_key(tenant, position_id), &row)?;
            }
            OrganisationEvent::PositionDeleted { position_id } => {
                ORG_POSITIONS.delete(tx, position_key(tenant, position_id))
            }
            OrganisationEvent::MemberAssigned { user_id, department_id, position_id } => {
                let moved = ORG_MEMBERS
                    .read(tx, &member_key(tenant, user_id))
                    .await?
                    .is_some_and(|m| m.department_id != department_id);
                if moved {
                    leave(tx, tenant, user_id).await?;
                }
                mark(tx, event, department_key(department_id), Role::Member, user_id, true).await?;
                let row = MemberRow { user_id, department_id, position_id };
                ORG_MEMBERS.put(tx, member_key(tenant, user_id), &row)?;
            }
            OrganisationEvent::MemberUnassigned { user_id } => {
                leave(tx, tenant, user_id).await?;
                ORG_MEMBERS.delete(tx, member_key(tenant, user_id));
            }
            OrganisationEvent::HeadSet { department_id, user_id, head } => {
                mark(tx, event, department_key(department_id), Role::Head, user_id, head).await?;
            }
            OrganisationEvent::BoxManagerSet { department_id, user_id, manager } => {
                mark(tx, event, department_key(department_id), Role::BoxManager, user_id, manager).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use domain::DomainEvent;
    use store::Metadata;

    use super::*;
    use crate::MemoryReadModels;

    /// Applies `events` to the organisation of `tenant`, one batch each,
    /// after the `applied` events before them.
    async fn project(store: &MemoryReadModels, tenant: Uuid, applied: u64, events: &[OrganisationEvent]) {
        for (version, event) in (applied..).zip(events) {
            let position = version + 1;
            let recorded = RecordedEvent {
                id: Uuid::from_u128(u128::from(position)),
                stream: format!("{}-{tenant}", Organisation::CATEGORY),
                version,
                position,
                event_type: event.event_type().to_owned(),
                schema_version: 1,
                data: serde_json::to_vec(event).unwrap(),
                metadata: Metadata { tenant: Some(tenant), ..Metadata::default() },
                recorded_at: chrono::Utc::now(),
                chain: None,
            };
            let mut tx = Transaction::new(store);
            OrganisationProjector.apply(&recorded, &mut tx).await.unwrap();
            store.commit("organisation.v1", tx.into_changes(), version, position).await.unwrap();
        }
    }

    /// Rule U4: heads and box managers are members of their department, and
    /// leaving it ends both.
    #[tokio::test]
    async fn a_member_who_moves_leaves_every_role_in_the_old_department() {
        let store = MemoryReadModels::default();
        let (tenant, user) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let (sales, support) = (Uuid::from_u128(3), Uuid::from_u128(4));
        use OrganisationEvent as E;
        project(
            &store,
            tenant,
            0,
            &[
                E::DepartmentCreated { department_id: sales, name: "Sales".into(), parent: None },
                E::DepartmentCreated { department_id: support, name: "Support".into(), parent: Some(sales) },
                E::MemberAssigned { user_id: user, department_id: sales, position_id: None },
                E::HeadSet { department_id: sales, user_id: user, head: true },
                E::BoxManagerSet { department_id: sales, user_id: user, manager: true },
            ],
        )
        .await;
        let before = department(&store, tenant, sales).await.unwrap().unwrap();
        assert_eq!(
            (before.members.clone(), before.heads.clone(), before.box_managers.clone()),
            (vec![user], vec![user], vec![user])
        );
        assert!(before.is_handled_by(user));

        project(&store, tenant, 5, &[E::MemberAssigned { user_id: user, department_id: support, position_id: None }])
            .await;
        let after = department(&store, tenant, sales).await.unwrap().unwrap();
        assert!(after.members.is_empty() && after.heads.is_empty() && after.box_managers.is_empty(), "{after:?}");
        assert_eq!(department(&store, tenant, support).await.unwrap().unwrap().members, vec![user]);
        assert_eq!(member(&store, tenant, user).await.unwrap().map(|m| m.department_id), Some(support));
        assert_eq!(departments(&store, tenant).await.unwrap().len(), 2);
        assert!(departments(&store, Uuid::from_u128(5)).await.unwrap().is_empty(), "another tenant's chart is empty");
    }
}
