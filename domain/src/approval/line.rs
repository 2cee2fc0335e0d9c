//! An approval line (rule A1) and the state of each place on it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::setup::Flow;
use crate::DomainError;

/// The most people one list of a line holds.
const MAX_LIST: usize = 50;

/// Who receives a completed document (수신).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", content = "id")]
pub enum Receiver {
    User(Uuid),
    /// Taken by one of the department's heads or box managers.
    Department(Uuid),
}

/// The line as the drafter writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LineInput {
    /// Approvers (결재), in order.
    pub approvers: Vec<Uuid>,
    /// Agreers (합의); they act before the approvers.
    pub agreers: Vec<Uuid>,
    /// None: the company's default (rule A2).
    pub agreement: Option<Flow>,
    pub receivers: Vec<Receiver>,
    pub reception: Option<Flow>,
    /// 열람: may read from submission (rule A5).
    pub readers: Vec<Uuid>,
    /// 공람: may read once the document is completed (rule A5).
    pub circulation: Vec<Uuid>,
    /// 참조.
    pub references: Vec<Uuid>,
}

impl LineInput {
    /// Every user the line names, for the caller to check.
    pub fn users(&self) -> BTreeSet<Uuid> {
        let receivers = self.receivers.iter().filter_map(|r| match r {
            Receiver::User(u) => Some(*u),
            Receiver::Department(_) => None,
        });
        self.approvers
            .iter()
            .chain(&self.agreers)
            .chain(&self.readers)
            .chain(&self.circulation)
            .chain(&self.references)
            .copied()
            .chain(receivers)
            .collect()
    }

    /// Every department the line names, for the caller to check.
    pub fn departments(&self) -> BTreeSet<Uuid> {
        self.receivers
            .iter()
            .filter_map(|r| match r {
                Receiver::Department(d) => Some(*d),
                Receiver::User(_) => None,
            })
            .collect()
    }
}

/// What became of an approver's place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "state")]
pub enum SlotState {
    Waiting,
    /// Approved at its turn; `by` differs from the approver after 대결.
    Approved {
        by: Uuid,
        at: DateTime<Utc>,
    },
    /// 선결: approved before its turn.
    ApprovedAhead {
        at: DateTime<Utc>,
    },
    /// 전결: approved and completed the document.
    ApprovedFinal {
        by: Uuid,
        at: DateTime<Utc>,
    },
    /// Skipped by a 전결 further up: reads "전결".
    Skipped,
    /// Passed over by a later approver's 선결: 후열.
    PassedOver,
    Rejected {
        by: Uuid,
        at: DateTime<Utc>,
    },
}

/// Whether an approver still has to confirm a document afterwards (후열).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Review {
    None,
    Pending,
    Confirmed { at: DateTime<Utc> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApproverSlot {
    pub user: Uuid,
    pub state: SlotState,
    /// 보류: kept with the approver, not final.
    pub held: bool,
    pub review: Review,
}

impl ApproverSlot {
    /// What the slot reads — 결재, 대결, 선결, 전결, 후열, 반려, or nothing
    /// while it waits — and who acted when.
    pub fn mark(&self) -> (&'static str, Option<(Uuid, DateTime<Utc>)>) {
        match &self.state {
            SlotState::Waiting => ("", None),
            SlotState::Approved { by, at } | SlotState::ApprovedFinal { by, at } if *by != self.user => {
                ("대결", Some((*by, *at)))
            }
            SlotState::Approved { by, at } => ("결재", Some((*by, *at))),
            SlotState::ApprovedAhead { at } => ("선결", Some((self.user, *at))),
            SlotState::ApprovedFinal { by, at } => ("전결", Some((*by, *at))),
            SlotState::Skipped => ("전결", None),
            SlotState::PassedOver => ("후열", None),
            SlotState::Rejected { by, at } => ("반려", Some((*by, *at))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum AgreerState {
    Waiting,
    Agreed { at: DateTime<Utc> },
    Refused { at: DateTime<Utc> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgreerSlot {
    pub user: Uuid,
    pub state: AgreerState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReceiverSlot {
    pub receiver: Receiver,
    /// Who took it, and when.
    pub taken: Option<(Uuid, DateTime<Utc>)>,
}

/// A line with the state of every place.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Line {
    pub approvers: Vec<ApproverSlot>,
    pub agreers: Vec<AgreerSlot>,
    pub agreement: Flow,
    pub receivers: Vec<ReceiverSlot>,
    pub reception: Flow,
    pub readers: Vec<Uuid>,
    pub circulation: Vec<Uuid>,
    pub references: Vec<Uuid>,
}

fn distinct<T: Ord + Copy + std::fmt::Debug>(field: &'static str, items: &[T]) -> Result<(), DomainError> {
    if items.len() > MAX_LIST {
        return Err(DomainError::invalid(field, format!("at most {MAX_LIST} entries")));
    }
    let mut seen = BTreeSet::new();
    for item in items {
        if !seen.insert(*item) {
            return Err(DomainError::invalid(field, format!("{item:?} appears twice")));
        }
    }
    Ok(())
}

impl Line {
    /// Whether `user` still has a place to act on: an approver's or an
    /// agreer's, waiting.
    pub fn waits_for(&self, user: Uuid) -> bool {
        self.approvers.iter().any(|a| a.user == user && a.state == SlotState::Waiting)
            || self.agreers.iter().any(|a| a.user == user && a.state == AgreerState::Waiting)
    }

    /// Gives `from`'s waiting places to `to`; the places `from` acted on
    /// keep their name, as the record of who acted.
    pub fn reassign(&mut self, from: Uuid, to: Uuid) {
        for slot in self.approvers.iter_mut().filter(|a| a.user == from && a.state == SlotState::Waiting) {
            slot.user = to;
        }
        for slot in self.agreers.iter_mut().filter(|a| a.user == from && a.state == AgreerState::Waiting) {
            slot.user = to;
        }
    }

    /// A fresh line, nobody has acted yet.
    pub fn new(input: &LineInput, default_flow: Flow) -> Self {
        Line {
            approvers: input
                .approvers
                .iter()
                .map(|u| ApproverSlot { user: *u, state: SlotState::Waiting, held: false, review: Review::None })
                .collect(),
            agreers: input.agreers.iter().map(|u| AgreerSlot { user: *u, state: AgreerState::Waiting }).collect(),
            agreement: input.agreement.unwrap_or(default_flow),
            receivers: input.receivers.iter().map(|r| ReceiverSlot { receiver: *r, taken: None }).collect(),
            reception: input.reception.unwrap_or(default_flow),
            readers: input.readers.clone(),
            circulation: input.circulation.clone(),
            references: input.references.clone(),
        }
    }

    /// Checks a line for submission by `drafter`.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] for a line without approvers, with someone
    /// twice, with the drafter approving their own document, or with
    /// too many people.
    pub fn check(input: &LineInput, drafter: Uuid) -> Result<(), DomainError> {
        if input.approvers.is_empty() {
            return Err(DomainError::invalid("line.approvers", "a line has at least one approver").by_rule("A1"));
        }
        let deciders: Vec<Uuid> = input.approvers.iter().chain(&input.agreers).copied().collect();
        distinct("line.approvers", &deciders)?;
        if deciders.contains(&drafter) {
            return Err(DomainError::invalid(
                "line.approvers",
                "the drafter cannot approve or agree to their own document",
            )
            .by_rule("A1"));
        }
        distinct("line.receivers", &input.receivers)?;
        distinct("line.readers", &input.readers)?;
        distinct("line.circulation", &input.circulation)?;
        distinct("line.references", &input.references)?;
        Ok(())
    }

    /// Whether every agreer has agreed.
    pub fn agreement_done(&self) -> bool {
        self.agreers.iter().all(|a| matches!(a.state, AgreerState::Agreed { .. }))
    }

    /// The agreers whose turn it is.
    pub fn current_agreers(&self) -> Vec<Uuid> {
        let waiting = self.agreers.iter().filter(|a| a.state == AgreerState::Waiting).map(|a| a.user);
        match self.agreement {
            Flow::Sequential => waiting.take(1).collect(),
            Flow::Parallel => waiting.collect(),
        }
    }

    /// The approver whose turn it is, once agreement is done.
    pub fn current_approver(&self) -> Option<usize> {
        if !self.agreement_done() {
            return None;
        }
        self.approvers.iter().position(|s| s.state == SlotState::Waiting)
    }

    pub fn approver(&self, user: Uuid) -> Option<usize> {
        self.approvers.iter().position(|s| s.user == user)
    }

    /// The receivers whose turn it is, once the document is completed.
    pub fn open_receivers(&self) -> Vec<usize> {
        let open = self.receivers.iter().enumerate().filter(|(_, r)| r.taken.is_none()).map(|(i, _)| i);
        match self.reception {
            Flow::Sequential => open.take(1).collect(),
            Flow::Parallel => open.collect(),
        }
    }

    /// Everyone the line names as a person who acts or is told: approvers,
    /// agreers, receiving users, 열람 readers and references (공람 readers
    /// only see a completed document).
    pub fn people(&self) -> BTreeSet<Uuid> {
        let receivers = self.receivers.iter().filter_map(|r| match r.receiver {
            Receiver::User(u) => Some(u),
            Receiver::Department(_) => None,
        });
        self.approvers
            .iter()
            .map(|s| s.user)
            .chain(self.agreers.iter().map(|a| a.user))
            .chain(receivers)
            .chain(self.readers.iter().copied())
            .chain(self.references.iter().copied())
            .collect()
    }

    /// The receiving departments.
    pub fn departments(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.receivers.iter().filter_map(|r| match r.receiver {
            Receiver::Department(d) => Some(d),
            Receiver::User(_) => None,
        })
    }

    /// Delegates who acted for an approver (대결).
    pub fn delegates(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.approvers.iter().filter_map(|s| match s.state {
            SlotState::Approved { by, .. } | SlotState::ApprovedFinal { by, .. } | SlotState::Rejected { by, .. }
                if by != s.user =>
            {
                Some(by)
            }
            _ => None,
        })
    }
}
