//! The organisation chart (rule U4): departments, positions and members.

use async_trait::async_trait;
use domain::Aggregate;
use domain::organisation::{Organisation, OrganisationEvent};
use serde_json::{Value, json};
use store::RecordedEvent;
use uuid::Uuid;

use super::unreadable;
use crate::{ProjectionError, Projector, Transaction};

/// `tenant/department id` → `{ id, name, parentId, members, heads, boxManagers }`
/// (user ids).
pub const ORG_DEPARTMENTS: &str = "org_departments";
/// `tenant/position id` → `{ id, name, rank }`.
pub const ORG_POSITIONS: &str = "org_positions";
/// `tenant/user id` → `{ userId, departmentId, positionId }`.
pub const ORG_MEMBERS: &str = "org_members";

pub struct OrganisationProjector;

/// Adds `user` to or removes it from the list `field` of a department row.
async fn mark(
    tx: &mut Transaction<'_>,
    event: &RecordedEvent,
    key: String,
    field: &str,
    user: Uuid,
    on: bool,
) -> Result<(), ProjectionError> {
    let mut row = tx.get(ORG_DEPARTMENTS, &key).await?.ok_or_else(|| unreadable(event, format!("no {key}")))?;
    let mut users: Vec<Uuid> = serde_json::from_value(row[field].clone()).map_err(|e| unreadable(event, e))?;
    users.retain(|u| *u != user);
    if on {
        users.push(user);
        users.sort();
    }
    row[field] = json!(users);
    tx.put(ORG_DEPARTMENTS, key, row);
    Ok(())
}

/// Takes `user` off the members, heads and box managers of the department
/// it leaves.
async fn leave(
    tx: &mut Transaction<'_>,
    event: &RecordedEvent,
    tenant: Uuid,
    user: Uuid,
) -> Result<(), ProjectionError> {
    let Some(member) = tx.get(ORG_MEMBERS, &format!("{tenant}/{user}")).await? else { return Ok(()) };
    let Some(department) = member["departmentId"].as_str() else { return Ok(()) };
    let key = format!("{tenant}/{department}");
    if tx.get(ORG_DEPARTMENTS, &key).await?.is_some() {
        for field in ["members", "heads", "boxManagers"] {
            mark(tx, event, key.clone(), field, user, false).await?;
        }
    }
    Ok(())
}

/// Sets one field of a department row.
async fn set_field(
    tx: &mut Transaction<'_>,
    event: &RecordedEvent,
    key: String,
    field: &str,
    value: Value,
) -> Result<(), ProjectionError> {
    let mut row = tx.get(ORG_DEPARTMENTS, &key).await?.ok_or_else(|| unreadable(event, format!("no {key}")))?;
    row[field] = value;
    tx.put(ORG_DEPARTMENTS, key, row);
    Ok(())
}

#[async_trait]
impl Projector for OrganisationProjector {
    fn name(&self) -> &'static str {
        "organisation.v1"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[ORG_DEPARTMENTS, ORG_POSITIONS, ORG_MEMBERS]
    }

    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError> {
        if event.category() != Organisation::CATEGORY {
            return Ok(());
        }
        let tenant = event.metadata.tenant.ok_or_else(|| unreadable(event, "no tenant in metadata"))?;
        let decoded = event.decode::<OrganisationEvent>().map_err(|e| unreadable(event, e))?;
        let department_key = |id: Uuid| format!("{tenant}/{id}");
        match decoded {
            OrganisationEvent::DepartmentCreated { department_id, name, parent } => {
                tx.put(
                    ORG_DEPARTMENTS,
                    department_key(department_id),
                    json!({ "id": department_id, "name": name, "parentId": parent, "members": [], "heads": [], "boxManagers": [] }),
                );
            }
            OrganisationEvent::DepartmentRenamed { department_id, name } => {
                set_field(tx, event, department_key(department_id), "name", json!(name)).await?;
            }
            OrganisationEvent::DepartmentMoved { department_id, parent } => {
                set_field(tx, event, department_key(department_id), "parentId", json!(parent)).await?;
            }
            OrganisationEvent::DepartmentDeleted { department_id } => {
                tx.delete(ORG_DEPARTMENTS, department_key(department_id))
            }
            OrganisationEvent::PositionCreated { position_id, name, rank }
            | OrganisationEvent::PositionChanged { position_id, name, rank } => {
                tx.put(
                    ORG_POSITIONS,
                    format!("{tenant}/{position_id}"),
                    json!({ "id": position_id, "name": name, "rank": rank }),
                );
            }
            OrganisationEvent::PositionDeleted { position_id } => {
                tx.delete(ORG_POSITIONS, format!("{tenant}/{position_id}"))
            }
            OrganisationEvent::MemberAssigned { user_id, department_id, position_id } => {
                let moved = tx
                    .get(ORG_MEMBERS, &format!("{tenant}/{user_id}"))
                    .await?
                    .is_some_and(|m| m["departmentId"] != json!(department_id));
                if moved {
                    leave(tx, event, tenant, user_id).await?;
                }
                mark(tx, event, department_key(department_id), "members", user_id, true).await?;
                tx.put(
                    ORG_MEMBERS,
                    format!("{tenant}/{user_id}"),
                    json!({ "userId": user_id, "departmentId": department_id, "positionId": position_id }),
                );
            }
            OrganisationEvent::MemberUnassigned { user_id } => {
                leave(tx, event, tenant, user_id).await?;
                tx.delete(ORG_MEMBERS, format!("{tenant}/{user_id}"));
            }
            OrganisationEvent::HeadSet { department_id, user_id, head } => {
                mark(tx, event, department_key(department_id), "heads", user_id, head).await?;
            }
            OrganisationEvent::BoxManagerSet { department_id, user_id, manager } => {
                mark(tx, event, department_key(department_id), "boxManagers", user_id, manager).await?;
            }
        }
        Ok(())
    }
}
