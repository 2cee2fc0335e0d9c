//! Absences (rule A4): a user registers a period, a reason and a delegate,
//! who may act for them (대결) during that period. One stream per user
//! (`absence-<user>`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Actor, Aggregate, DomainError, DomainEvent};

const MAX_REASON: usize = 500;

/// One registered absence: from `from` (inclusive) to `to` (exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Absence {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub reason: String,
    pub delegate: Uuid,
}

impl Absence {
    /// Whether `user` may act for the absent user at `now`.
    pub fn lets(&self, user: Uuid, now: DateTime<Utc>) -> bool {
        self.delegate == user && self.from <= now && now < self.to
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AbsenceCommand {
    pub user: Uuid,
    pub action: AbsenceAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AbsenceAction {
    /// The caller has checked that the delegate is a user of the company.
    Register {
        absence_id: Uuid,
        absence: Absence,
    },
    Withdraw {
        absence_id: Uuid,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum AbsenceEvent {
    #[serde(rename = "AbsenceRegistered")]
    Registered { absence_id: Uuid, absence: Absence },
    #[serde(rename = "AbsenceWithdrawn")]
    Withdrawn { absence_id: Uuid },
}

impl DomainEvent for AbsenceEvent {
    fn event_type(&self) -> &'static str {
        match self {
            AbsenceEvent::Registered { .. } => "AbsenceRegistered",
            AbsenceEvent::Withdrawn { .. } => "AbsenceWithdrawn",
        }
    }
}

/// A user's registered absences.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Absences {
    pub absences: BTreeMap<Uuid, Absence>,
}

impl Absences {
    /// Whether `user` may act for this user at `now` (rule A4).
    pub fn delegate_may_act(&self, user: Uuid, now: DateTime<Utc>) -> bool {
        self.absences.values().any(|a| a.lets(user, now))
    }
}

impl Aggregate for Absences {
    type Command = AbsenceCommand;
    type Event = AbsenceEvent;

    const CATEGORY: &'static str = "absence";
    const SNAPSHOT_VERSION: u32 = 1;

    fn authorize(&self, actor: &Actor, command: &AbsenceCommand) -> Result<(), DomainError> {
        match actor {
            Actor::System => Ok(()),
            Actor::User(id) if *id == command.user => Ok(()),
            Actor::User(_) => {
                Err(DomainError::Forbidden("only the user registers their own absences".into()).by_rule("A4"))
            }
            Actor::Anonymous => Err(DomainError::Unauthenticated("log in first".into())),
        }
    }

    fn decide(&self, command: &AbsenceCommand, now: DateTime<Utc>) -> Result<Vec<AbsenceEvent>, DomainError> {
        match &command.action {
            AbsenceAction::Register { absence_id, absence } => {
                if self.absences.contains_key(absence_id) {
                    return Err(DomainError::Conflict(format!("absence {absence_id} already exists")));
                }
                if absence.to <= absence.from {
                    return Err(DomainError::invalid("to", "an absence ends after it starts"));
                }
                if absence.to <= now {
                    return Err(DomainError::invalid("to", "the absence is already over"));
                }
                if absence.delegate == command.user {
                    return Err(DomainError::invalid("delegateId", "the delegate is somebody else"));
                }
                let reason = absence.reason.trim();
                if reason.is_empty() || reason.chars().count() > MAX_REASON {
                    return Err(DomainError::invalid("reason", format!("a reason has 1 to {MAX_REASON} characters")));
                }
                if self.absences.values().any(|a| a.from < absence.to && absence.from < a.to) {
                    return Err(DomainError::Conflict("another absence overlaps this period".into()));
                }
                let absence = Absence { reason: reason.to_owned(), ..absence.clone() };
                Ok(vec![AbsenceEvent::Registered { absence_id: *absence_id, absence }])
            }
            AbsenceAction::Withdraw { absence_id } => {
                if !self.absences.contains_key(absence_id) {
                    return Err(DomainError::NotFound(format!("absence {absence_id}")));
                }
                Ok(vec![AbsenceEvent::Withdrawn { absence_id: *absence_id }])
            }
        }
    }

    fn evolve(mut self, event: &AbsenceEvent) -> Self {
        match event {
            AbsenceEvent::Registered { absence_id, absence } => {
                self.absences.insert(*absence_id, absence.clone());
            }
            AbsenceEvent::Withdrawn { absence_id } => {
                self.absences.remove(absence_id);
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, given};

    const USER: Uuid = Uuid::from_u128(1);
    const DELEGATE: Uuid = Uuid::from_u128(2);

    fn absence(from: &str, to: &str) -> Absence {
        Absence { from: at(from), to: at(to), reason: "Business trip".into(), delegate: DELEGATE }
    }

    fn register(id: u128, absence: Absence) -> AbsenceCommand {
        AbsenceCommand { user: USER, action: AbsenceAction::Register { absence_id: Uuid::from_u128(id), absence } }
    }

    #[test]
    fn rule_a4_a_user_registers_a_period_a_reason_and_a_delegate() {
        let trip = absence("2026-11-26T00:00:00+09:00", "2026-11-28T00:00:00+09:00");
        given::<Absences>(vec![])
            .when(Actor::User(USER), register(1, trip.clone()))
            .then(vec![AbsenceEvent::Registered { absence_id: Uuid::from_u128(1), absence: trip.clone() }]);
        let state =
            Absences::default().evolve(&AbsenceEvent::Registered { absence_id: Uuid::from_u128(1), absence: trip });
        assert!(state.delegate_may_act(DELEGATE, at("2026-11-26T00:00:00+09:00")));
        assert!(!state.delegate_may_act(DELEGATE, at("2026-11-28T00:00:00+09:00")));
        assert!(!state.delegate_may_act(USER, at("2026-11-27T00:00:00+09:00")));
    }

    #[test]
    fn rule_a4_bad_absences_are_refused() {
        let overlapping = Absences::default().evolve(&AbsenceEvent::Registered {
            absence_id: Uuid::from_u128(1),
            absence: absence("2026-11-26T00:00:00+09:00", "2026-11-28T00:00:00+09:00"),
        });
        let cases = [
            (Absences::default(), absence("2026-11-28T00:00:00+09:00", "2026-11-27T00:00:00+09:00")),
            (
                Absences::default(),
                Absence { reason: " ".into(), ..absence("2026-11-26T00:00:00+09:00", "2026-11-27T00:00:00+09:00") },
            ),
            (
                Absences::default(),
                Absence { delegate: USER, ..absence("2026-11-26T00:00:00+09:00", "2026-11-27T00:00:00+09:00") },
            ),
            (Absences::default(), absence("2026-11-20T00:00:00+09:00", "2026-11-21T00:00:00+09:00")),
            (overlapping, absence("2026-11-27T00:00:00+09:00", "2026-11-29T00:00:00+09:00")),
        ];
        for (state, absence) in cases {
            let result = state.decide(&register(2, absence.clone()), at("2026-11-26T09:00:00+09:00"));
            assert!(result.is_err(), "{absence:?}");
        }
        let other = AbsenceCommand { user: USER, action: AbsenceAction::Withdraw { absence_id: Uuid::from_u128(1) } };
        given::<Absences>(vec![])
            .when(Actor::User(DELEGATE), other)
            .then_refused(DomainError::Forbidden("only the user registers their own absences".into()).by_rule("A4"));
    }
}
