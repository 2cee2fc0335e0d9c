//! The organisation chart (rule U4): a tree of departments under the
//! company, a list of positions (직급), and where each user sits: a
//! department, a position, and whether they head it or manage its document
//! box. One stream per tenant (`organisation-<tenant>`), edited by admins.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Actor, Aggregate, DomainError, DomainEvent};

/// The longest name of a department or position.
const MAX_NAME: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct OrganisationCommand {
    /// The caller has checked that the acting user is an admin (roles live
    /// on the tenant).
    pub by_admin: bool,
    pub action: OrganisationAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OrganisationAction {
    /// `parent` none: directly under the company.
    CreateDepartment {
        department_id: Uuid,
        name: String,
        parent: Option<Uuid>,
    },
    RenameDepartment {
        department_id: Uuid,
        name: String,
    },
    MoveDepartment {
        department_id: Uuid,
        parent: Option<Uuid>,
    },
    /// Only a department without sub-departments and members.
    DeleteDepartment {
        department_id: Uuid,
    },
    /// `rank`: 1 is the highest.
    CreatePosition {
        position_id: Uuid,
        name: String,
        rank: u32,
    },
    RenamePosition {
        position_id: Uuid,
        name: String,
        rank: u32,
    },
    /// Only a position nobody holds.
    DeletePosition {
        position_id: Uuid,
    },
    /// The caller has checked that the user exists.
    Assign {
        user_id: Uuid,
        department_id: Uuid,
        position_id: Option<Uuid>,
    },
    Unassign {
        user_id: Uuid,
    },
    /// Marks or unmarks a member of the department as one of its heads.
    SetHead {
        department_id: Uuid,
        user_id: Uuid,
        head: bool,
    },
    /// Marks or unmarks a member as a manager of the department's box.
    SetBoxManager {
        department_id: Uuid,
        user_id: Uuid,
        manager: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum OrganisationEvent {
    #[serde(rename = "DepartmentCreated")]
    DepartmentCreated { department_id: Uuid, name: String, parent: Option<Uuid> },
    #[serde(rename = "DepartmentRenamed")]
    DepartmentRenamed { department_id: Uuid, name: String },
    #[serde(rename = "DepartmentMoved")]
    DepartmentMoved { department_id: Uuid, parent: Option<Uuid> },
    #[serde(rename = "DepartmentDeleted")]
    DepartmentDeleted { department_id: Uuid },
    #[serde(rename = "PositionCreated")]
    PositionCreated { position_id: Uuid, name: String, rank: u32 },
    #[serde(rename = "PositionChanged")]
    PositionChanged { position_id: Uuid, name: String, rank: u32 },
    #[serde(rename = "PositionDeleted")]
    PositionDeleted { position_id: Uuid },
    #[serde(rename = "MemberAssigned")]
    MemberAssigned { user_id: Uuid, department_id: Uuid, position_id: Option<Uuid> },
    #[serde(rename = "MemberUnassigned")]
    MemberUnassigned { user_id: Uuid },
    #[serde(rename = "DepartmentHeadSet")]
    HeadSet { department_id: Uuid, user_id: Uuid, head: bool },
    #[serde(rename = "BoxManagerSet")]
    BoxManagerSet { department_id: Uuid, user_id: Uuid, manager: bool },
}

impl DomainEvent for OrganisationEvent {
    fn event_type(&self) -> &'static str {
        match self {
            OrganisationEvent::DepartmentCreated { .. } => "DepartmentCreated",
            OrganisationEvent::DepartmentRenamed { .. } => "DepartmentRenamed",
            OrganisationEvent::DepartmentMoved { .. } => "DepartmentMoved",
            OrganisationEvent::DepartmentDeleted { .. } => "DepartmentDeleted",
            OrganisationEvent::PositionCreated { .. } => "PositionCreated",
            OrganisationEvent::PositionChanged { .. } => "PositionChanged",
            OrganisationEvent::PositionDeleted { .. } => "PositionDeleted",
            OrganisationEvent::MemberAssigned { .. } => "MemberAssigned",
            OrganisationEvent::MemberUnassigned { .. } => "MemberUnassigned",
            OrganisationEvent::HeadSet { .. } => "DepartmentHeadSet",
            OrganisationEvent::BoxManagerSet { .. } => "BoxManagerSet",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Department {
    pub name: String,
    pub parent: Option<Uuid>,
    pub heads: BTreeSet<Uuid>,
    pub box_managers: BTreeSet<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub name: String,
    pub rank: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    pub department: Uuid,
    pub position: Option<Uuid>,
}

/// The state of a tenant's organisation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Organisation {
    pub departments: BTreeMap<Uuid, Department>,
    pub positions: BTreeMap<Uuid, Position>,
    pub members: BTreeMap<Uuid, Membership>,
}

fn name(field: &'static str, input: &str) -> Result<String, DomainError> {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_NAME {
        return Err(DomainError::invalid(field, format!("a name has 1 to {MAX_NAME} characters")));
    }
    Ok(trimmed.to_owned())
}

impl Organisation {
    fn department(&self, id: Uuid) -> Result<&Department, DomainError> {
        self.departments.get(&id).ok_or_else(|| DomainError::NotFound(format!("department {id}")))
    }

    fn position(&self, id: Uuid) -> Result<&Position, DomainError> {
        self.positions.get(&id).ok_or_else(|| DomainError::NotFound(format!("position {id}")))
    }

    /// A sibling of `department` under `parent` already has `name`.
    fn check_sibling_name(&self, department: Uuid, parent: Option<Uuid>, name: &str) -> Result<(), DomainError> {
        let taken = self
            .departments
            .iter()
            .any(|(id, d)| *id != department && d.parent == parent && d.name.to_lowercase() == name.to_lowercase());
        if taken {
            return Err(DomainError::Conflict(format!("a department named `{name}` is already there")));
        }
        Ok(())
    }

    fn check_position_name(&self, position: Uuid, name: &str) -> Result<(), DomainError> {
        if self.positions.iter().any(|(id, p)| *id != position && p.name.to_lowercase() == name.to_lowercase()) {
            return Err(DomainError::Conflict(format!("a position named `{name}` already exists")));
        }
        Ok(())
    }

    /// Whether `ancestor` is `department` or above it.
    fn is_within(&self, department: Uuid, ancestor: Uuid) -> bool {
        let mut current = Some(department);
        while let Some(id) = current {
            if id == ancestor {
                return true;
            }
            current = self.departments.get(&id).and_then(|d| d.parent);
        }
        false
    }

    fn member_of(&self, user: Uuid, department: Uuid) -> Result<(), DomainError> {
        self.department(department)?;
        match self.members.get(&user) {
            Some(m) if m.department == department => Ok(()),
            _ => Err(DomainError::invalid("userId", format!("user {user} is not a member of department {department}"))),
        }
    }
}

impl Aggregate for Organisation {
    type Command = OrganisationCommand;
    type Event = OrganisationEvent;

    const CATEGORY: &'static str = "organisation";
    const SNAPSHOT_VERSION: u32 = 1;

    fn authorize(&self, actor: &Actor, command: &OrganisationCommand) -> Result<(), DomainError> {
        match actor {
            Actor::System => Ok(()),
            Actor::User(_) if command.by_admin => Ok(()),
            Actor::User(_) => {
                Err(DomainError::Forbidden("only an admin of the company edits the organisation".into()).by_rule("U4"))
            }
            Actor::Anonymous => Err(DomainError::Unauthenticated("log in first".into())),
        }
    }

    fn decide(
        &self,
        command: &OrganisationCommand,
        _now: DateTime<Utc>,
    ) -> Result<Vec<OrganisationEvent>, DomainError> {
        use OrganisationAction as A;
        use OrganisationEvent as E;
        let event = match &command.action {
            A::CreateDepartment { department_id, name: raw, parent } => {
                if self.departments.contains_key(department_id) {
                    return Err(DomainError::Conflict(format!("department {department_id} already exists")));
                }
                if let Some(parent) = parent {
                    self.department(*parent)?;
                }
                let name = name("name", raw)?;
                self.check_sibling_name(*department_id, *parent, &name)?;
                E::DepartmentCreated { department_id: *department_id, name, parent: *parent }
            }
            A::RenameDepartment { department_id, name: raw } => {
                let department = self.department(*department_id)?;
                let name = name("name", raw)?;
                self.check_sibling_name(*department_id, department.parent, &name)?;
                E::DepartmentRenamed { department_id: *department_id, name }
            }
            A::MoveDepartment { department_id, parent } => {
                let department = self.department(*department_id)?;
                if let Some(parent) = parent {
                    self.department(*parent)?;
                    if self.is_within(*parent, *department_id) {
                        return Err(DomainError::invalid(
                            "parentId",
                            "a department cannot move under itself or one of its sub-departments",
                        )
                        .by_rule("U4"));
                    }
                }
                self.check_sibling_name(*department_id, *parent, &department.name)?;
                E::DepartmentMoved { department_id: *department_id, parent: *parent }
            }
            A::DeleteDepartment { department_id } => {
                self.department(*department_id)?;
                if self.departments.values().any(|d| d.parent == Some(*department_id)) {
                    return Err(DomainError::Conflict(
                        "the department has sub-departments; move or delete them first".into(),
                    ));
                }
                if self.members.values().any(|m| m.department == *department_id) {
                    return Err(DomainError::Conflict("the department has members; move them first".into()));
                }
                E::DepartmentDeleted { department_id: *department_id }
            }
            A::CreatePosition { position_id, name: raw, rank } => {
                if self.positions.contains_key(position_id) {
                    return Err(DomainError::Conflict(format!("position {position_id} already exists")));
                }
                let name = name("name", raw)?;
                self.check_position_name(*position_id, &name)?;
                E::PositionCreated { position_id: *position_id, name, rank: *rank }
            }
            A::RenamePosition { position_id, name: raw, rank } => {
                self.position(*position_id)?;
                let name = name("name", raw)?;
                self.check_position_name(*position_id, &name)?;
                E::PositionChanged { position_id: *position_id, name, rank: *rank }
            }
            A::DeletePosition { position_id } => {
                self.position(*position_id)?;
                if self.members.values().any(|m| m.position == Some(*position_id)) {
                    return Err(DomainError::Conflict("somebody holds this position; change theirs first".into()));
                }
                E::PositionDeleted { position_id: *position_id }
            }
            A::Assign { user_id, department_id, position_id } => {
                self.department(*department_id)?;
                if let Some(position) = position_id {
                    self.position(*position)?;
                }
                E::MemberAssigned { user_id: *user_id, department_id: *department_id, position_id: *position_id }
            }
            A::Unassign { user_id } => {
                if !self.members.contains_key(user_id) {
                    return Err(DomainError::NotFound(format!("member {user_id}")));
                }
                E::MemberUnassigned { user_id: *user_id }
            }
            A::SetHead { department_id, user_id, head } => {
                self.member_of(*user_id, *department_id)?;
                E::HeadSet { department_id: *department_id, user_id: *user_id, head: *head }
            }
            A::SetBoxManager { department_id, user_id, manager } => {
                self.member_of(*user_id, *department_id)?;
                E::BoxManagerSet { department_id: *department_id, user_id: *user_id, manager: *manager }
            }
        };
        Ok(vec![event])
    }

    fn evolve(mut self, event: &OrganisationEvent) -> Self {
        use OrganisationEvent as E;
        match event {
            E::DepartmentCreated { department_id, name, parent } => {
                let department = Department {
                    name: name.clone(),
                    parent: *parent,
                    heads: BTreeSet::new(),
                    box_managers: BTreeSet::new(),
                };
                self.departments.insert(*department_id, department);
            }
            E::DepartmentRenamed { department_id, name } => {
                if let Some(d) = self.departments.get_mut(department_id) {
                    d.name = name.clone();
                }
            }
            E::DepartmentMoved { department_id, parent } => {
                if let Some(d) = self.departments.get_mut(department_id) {
                    d.parent = *parent;
                }
            }
            E::DepartmentDeleted { department_id } => {
                self.departments.remove(department_id);
            }
            E::PositionCreated { position_id, name, rank } | E::PositionChanged { position_id, name, rank } => {
                self.positions.insert(*position_id, Position { name: name.clone(), rank: *rank });
            }
            E::PositionDeleted { position_id } => {
                self.positions.remove(position_id);
            }
            E::MemberAssigned { user_id, department_id, position_id } => {
                // A member who changes department stops heading or managing
                // the one they leave.
                if let Some(old) = self.members.get(user_id).map(|m| m.department)
                    && old != *department_id
                    && let Some(d) = self.departments.get_mut(&old)
                {
                    d.heads.remove(user_id);
                    d.box_managers.remove(user_id);
                }
                self.members.insert(*user_id, Membership { department: *department_id, position: *position_id });
            }
            E::MemberUnassigned { user_id } => {
                if let Some(m) = self.members.remove(user_id)
                    && let Some(d) = self.departments.get_mut(&m.department)
                {
                    d.heads.remove(user_id);
                    d.box_managers.remove(user_id);
                }
            }
            E::HeadSet { department_id, user_id, head } => {
                if let Some(d) = self.departments.get_mut(department_id) {
                    if *head {
                        d.heads.insert(*user_id);
                    } else {
                        d.heads.remove(user_id);
                    }
                }
            }
            E::BoxManagerSet { department_id, user_id, manager } => {
                if let Some(d) = self.departments.get_mut(department_id) {
                    if *manager {
                        d.box_managers.insert(*user_id);
                    } else {
                        d.box_managers.remove(user_id);
                    }
                }
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;

    const ADMIN: Actor = Actor::User(Uuid::from_u128(1));

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn admin(action: OrganisationAction) -> OrganisationCommand {
        OrganisationCommand { by_admin: true, action }
    }

    fn created(n: u128, name: &str, parent: Option<u128>) -> OrganisationEvent {
        OrganisationEvent::DepartmentCreated { department_id: id(n), name: name.into(), parent: parent.map(id) }
    }

    /// 본사 (10) ⊃ 개발팀 (11) ⊃ 플랫폼파트 (12); 영업팀 (20).
    fn chart() -> Vec<OrganisationEvent> {
        vec![
            created(10, "본사", None),
            created(11, "개발팀", Some(10)),
            created(12, "플랫폼파트", Some(11)),
            created(20, "영업팀", None),
            OrganisationEvent::PositionCreated { position_id: id(50), name: "과장".into(), rank: 5 },
            OrganisationEvent::MemberAssigned { user_id: id(100), department_id: id(11), position_id: Some(id(50)) },
        ]
    }

    #[test]
    fn rule_u4_departments_form_a_tree_edited_by_admins() {
        let create =
            OrganisationAction::CreateDepartment {
                department_id: id(13), name: "QA파트".into(), parent: Some(id(11))
            };
        given::<Organisation>(chart()).when(ADMIN, admin(create.clone())).then(vec![created(13, "QA파트", Some(11))]);
        given::<Organisation>(chart())
            .when(Actor::User(id(100)), OrganisationCommand { by_admin: false, action: create })
            .then_refused(
                DomainError::Forbidden("only an admin of the company edits the organisation".into()).by_rule("U4"),
            );
        let duplicate = OrganisationAction::CreateDepartment {
            department_id: id(14),
            name: "플랫폼파트".into(),
            parent: Some(id(11)),
        };
        given::<Organisation>(chart())
            .when(ADMIN, admin(duplicate))
            .then_refused(DomainError::Conflict("a department named `플랫폼파트` is already there".into()));
        // The same name elsewhere in the tree is fine.
        let elsewhere = OrganisationAction::CreateDepartment {
            department_id: id(21),
            name: "플랫폼파트".into(),
            parent: Some(id(20)),
        };
        given::<Organisation>(chart()).when(ADMIN, admin(elsewhere)).then(vec![created(21, "플랫폼파트", Some(20))]);
    }

    #[test]
    fn rule_u4_a_department_cannot_move_under_itself() {
        let under_child = OrganisationAction::MoveDepartment { department_id: id(10), parent: Some(id(12)) };
        given::<Organisation>(chart()).when(ADMIN, admin(under_child)).then_refused(
            DomainError::invalid("parentId", "a department cannot move under itself or one of its sub-departments")
                .by_rule("U4"),
        );
        let to_top = OrganisationAction::MoveDepartment { department_id: id(12), parent: None };
        given::<Organisation>(chart())
            .when(ADMIN, admin(to_top))
            .then(vec![OrganisationEvent::DepartmentMoved { department_id: id(12), parent: None }]);
    }

    #[test]
    fn rule_u4_only_empty_departments_and_unheld_positions_are_deleted() {
        let delete = |n| admin(OrganisationAction::DeleteDepartment { department_id: id(n) });
        assert!(matches!(given_decide(chart(), delete(11)), Err(DomainError::Conflict(_))), "it has a sub-department");
        let mut without_child = chart();
        without_child.push(OrganisationEvent::DepartmentDeleted { department_id: id(12) });
        assert!(
            matches!(given_decide(without_child.clone(), delete(11)), Err(DomainError::Conflict(_))),
            "it has a member"
        );
        given::<Organisation>(chart())
            .when(ADMIN, delete(20))
            .then(vec![OrganisationEvent::DepartmentDeleted { department_id: id(20) }]);
        let position = admin(OrganisationAction::DeletePosition { position_id: id(50) });
        assert!(matches!(given_decide(chart(), position), Err(DomainError::Conflict(_))));
    }

    #[test]
    fn rule_u4_heads_and_box_managers_are_members_of_their_department() {
        let head = |dept| admin(OrganisationAction::SetHead { department_id: id(dept), user_id: id(100), head: true });
        given::<Organisation>(chart()).when(ADMIN, head(11)).then(vec![OrganisationEvent::HeadSet {
            department_id: id(11),
            user_id: id(100),
            head: true,
        }]);
        assert!(matches!(given_decide(chart(), head(20)), Err(DomainError::Invalid { .. })));
        // Moving to another department ends the headship of the old one.
        let mut history = chart();
        history.push(OrganisationEvent::HeadSet { department_id: id(11), user_id: id(100), head: true });
        history.push(OrganisationEvent::BoxManagerSet { department_id: id(11), user_id: id(100), manager: true });
        history.push(OrganisationEvent::MemberAssigned { user_id: id(100), department_id: id(20), position_id: None });
        let state = history.iter().fold(Organisation::default(), Organisation::evolve);
        assert!(state.departments[&id(11)].heads.is_empty());
        assert!(state.departments[&id(11)].box_managers.is_empty());
    }

    #[test]
    fn rule_u4_a_member_needs_an_existing_department_and_position() {
        let assign = |dept, pos| {
            admin(OrganisationAction::Assign { user_id: id(101), department_id: id(dept), position_id: pos })
        };
        assert!(matches!(given_decide(chart(), assign(99, None)), Err(DomainError::NotFound(_))));
        assert!(matches!(given_decide(chart(), assign(20, Some(id(99)))), Err(DomainError::NotFound(_))));
        given::<Organisation>(chart()).when(ADMIN, assign(20, Some(id(50)))).then(vec![
            OrganisationEvent::MemberAssigned { user_id: id(101), department_id: id(20), position_id: Some(id(50)) },
        ]);
    }

    fn given_decide(
        events: Vec<OrganisationEvent>,
        command: OrganisationCommand,
    ) -> Result<Vec<OrganisationEvent>, DomainError> {
        let state = events.iter().fold(Organisation::default(), Organisation::evolve);
        state
            .authorize(&ADMIN, &command)
            .and_then(|()| state.decide(&command, crate::testing::at("2026-11-26T09:00:00+09:00")))
    }
}
