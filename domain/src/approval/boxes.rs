//! Which document boxes a document sits in (rules A5, A6, A8), and who may
//! read it. The read model files each document by these; the rules live
//! here so that they are tested with the document.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::document::{Document, Status};
use super::line::{AgreerState, Receiver, Review, SlotState};

/// A document box (rule A8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DocBox {
    /// The drafter's unsubmitted drafts.
    Drafts,
    /// Waiting for my approval or agreement.
    Pending,
    /// In progress: drafted by me, or acted on by me.
    InProgress,
    Completed,
    Rejected,
    /// My documents I recalled, or leave requests I cancelled.
    Recalled,
    /// Received by me, or taken by me for my department.
    Received,
    /// 참조 and 열람 from submission, 공람 once completed.
    Reference,
    /// 후열 to confirm.
    PostReview,
    /// A department's completed public documents (rule A6).
    Department,
    /// Received by a department and not yet taken by one of its heads or
    /// box managers.
    DepartmentReceived,
}

/// Whose box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id")]
pub enum Owner {
    User(Uuid),
    Department(Uuid),
}

/// Who may read a document, besides the company's document admins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    pub users: BTreeSet<Uuid>,
    /// Every member of these departments (the department box).
    pub member_departments: BTreeSet<Uuid>,
    /// The heads and box managers of these departments (reception).
    pub handler_departments: BTreeSet<Uuid>,
}

impl Access {
    /// Whether a user who is a member of `department` and handles the
    /// departments `handles` may read the document.
    pub fn lets(&self, user: Uuid, department: Option<Uuid>, handles: &BTreeSet<Uuid>) -> bool {
        self.users.contains(&user)
            || department.is_some_and(|d| self.member_departments.contains(&d))
            || !self.handler_departments.is_disjoint(handles)
    }
}

impl Document {
    /// The time a document sorts by in its boxes: when it was submitted
    /// (or last saved, for a draft).
    pub fn sorted_at(&self) -> Option<DateTime<Utc>> {
        match self.status {
            Some(Status::Draft) => self.updated_at,
            _ => self.submitted_at.or(self.updated_at),
        }
    }

    /// Every box the document is in now.
    pub fn placements(&self) -> BTreeSet<(Owner, DocBox)> {
        let mut out = BTreeSet::new();
        let Some(status) = self.status else { return out };
        let drafter = Owner::User(self.drafter);
        let line = &self.line;
        let deciders = || {
            line.approvers
                .iter()
                .filter(|s| !matches!(s.state, SlotState::Waiting))
                .map(|s| s.user)
                .chain(line.delegates())
                .chain(line.agreers.iter().filter(|a| a.state != AgreerState::Waiting).map(|a| a.user))
        };
        let mut add = |owner: Owner, kind: DocBox| {
            out.insert((owner, kind));
        };
        match status {
            Status::Discarded => return out,
            Status::Draft => {
                add(drafter, DocBox::Drafts);
                return out;
            }
            Status::Recalled | Status::Cancelled => {
                add(drafter, DocBox::Recalled);
                return out;
            }
            Status::InProgress => {
                add(drafter, DocBox::InProgress);
                deciders().for_each(|u| add(Owner::User(u), DocBox::InProgress));
                for agreer in line.current_agreers() {
                    add(Owner::User(agreer), DocBox::Pending);
                }
                if let Some(slot) = line.current_approver() {
                    add(Owner::User(line.approvers[slot].user), DocBox::Pending);
                }
            }
            Status::Rejected => {
                add(drafter, DocBox::Rejected);
                deciders().for_each(|u| add(Owner::User(u), DocBox::Rejected));
            }
            Status::Completed => {
                add(drafter, DocBox::Completed);
                line.approvers.iter().for_each(|s| add(Owner::User(s.user), DocBox::Completed));
                line.delegates().for_each(|u| add(Owner::User(u), DocBox::Completed));
                line.agreers.iter().for_each(|a| add(Owner::User(a.user), DocBox::Completed));
                line.circulation.iter().for_each(|u| add(Owner::User(*u), DocBox::Reference));
                let open = line.open_receivers();
                for (index, slot) in line.receivers.iter().enumerate() {
                    match (slot.taken, slot.receiver) {
                        (Some((by, _)), _) => add(Owner::User(by), DocBox::Received),
                        (None, _) if !open.contains(&index) => {}
                        (None, Receiver::User(u)) => add(Owner::User(u), DocBox::Received),
                        (None, Receiver::Department(d)) => add(Owner::Department(d), DocBox::DepartmentReceived),
                    }
                }
                if self.is_public()
                    && let Some(department) = self.department
                {
                    add(Owner::Department(department), DocBox::Department);
                }
            }
        }
        line.readers.iter().chain(&line.references).for_each(|u| add(Owner::User(*u), DocBox::Reference));
        for slot in &line.approvers {
            if slot.review == Review::Pending {
                add(Owner::User(slot.user), DocBox::PostReview);
            }
        }
        out
    }

    /// Whether the form makes the document public (rule A6).
    pub fn is_public(&self) -> bool {
        self.form.as_ref().is_some_and(|f| f.spec.public)
    }

    /// Who may read the document now: the drafter, everyone the line names
    /// (공람 readers once it is completed), the delegates who acted, and
    /// the departments whose boxes hold it. A draft, a recalled or a
    /// cancelled document is the drafter's alone.
    pub fn access(&self) -> Access {
        let mut access = Access::default();
        access.users.insert(self.drafter);
        let Some(status) = self.status else { return access };
        if matches!(status, Status::Draft | Status::Discarded | Status::Recalled) {
            return access;
        }
        access.users.extend(self.line.people());
        access.users.extend(self.line.delegates());
        access.users.extend(self.line.receivers.iter().filter_map(|r| r.taken.map(|(by, _)| by)));
        if self.completed_at.is_some() {
            access.users.extend(self.line.circulation.iter().copied());
            access.handler_departments.extend(self.line.departments());
            if self.is_public() {
                access.member_departments.extend(self.department);
            }
        }
        access
    }
}
