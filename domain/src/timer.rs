//! A timer: a command that is due at a time, for the scheduler to fire once.
//!
//! Time-driven rules (a mail scheduled for later, leave granted on an
//! anniversary, a bill due on the 3rd) schedule a timer; the scheduler fires
//! it when the clock reaches its time. The timer's own stream makes the
//! schedule durable across restarts and its firing happen once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Actor, Aggregate, DomainError, DomainEvent};

#[derive(Debug, Clone, PartialEq)]
pub enum TimerCommand {
    /// Sets a timer of `kind` for `due`, carrying `payload` (JSON text) to
    /// the handler of its kind.
    Schedule { timer_id: Uuid, due: DateTime<Utc>, kind: String, payload: String },
    /// Records that the timer went off (the scheduler only).
    Fire,
    /// Cancels the timer; only before its time.
    Cancel,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum TimerEvent {
    #[serde(rename = "TimerScheduled")]
    Scheduled { timer_id: Uuid, due: DateTime<Utc>, kind: String, payload: String },
    #[serde(rename = "TimerFired")]
    Fired { timer_id: Uuid, fired_at: DateTime<Utc> },
    #[serde(rename = "TimerCancelled")]
    Cancelled { timer_id: Uuid, cancelled_at: DateTime<Utc> },
}

impl DomainEvent for TimerEvent {
    fn event_type(&self) -> &'static str {
        match self {
            TimerEvent::Scheduled { .. } => "TimerScheduled",
            TimerEvent::Fired { .. } => "TimerFired",
            TimerEvent::Cancelled { .. } => "TimerCancelled",
        }
    }
}

/// Where a timer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TimerStatus {
    #[default]
    Unset,
    Pending,
    Fired,
    Cancelled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timer {
    pub id: Option<Uuid>,
    pub due: Option<DateTime<Utc>>,
    pub kind: String,
    pub payload: String,
    pub status: TimerStatus,
}

impl Aggregate for Timer {
    type Command = TimerCommand;
    type Event = TimerEvent;

    const CATEGORY: &'static str = "timer";
    const SNAPSHOT_VERSION: u32 = 1;

    fn authorize(&self, actor: &Actor, command: &TimerCommand) -> Result<(), DomainError> {
        match (command, actor) {
            (_, Actor::Anonymous) => Err(DomainError::Unauthenticated("log in first".into())),
            (TimerCommand::Fire, Actor::User(_)) => {
                Err(DomainError::Forbidden("only the scheduler fires timers".into()))
            }
            _ => Ok(()),
        }
    }

    fn decide(&self, command: &TimerCommand, now: DateTime<Utc>) -> Result<Vec<TimerEvent>, DomainError> {
        let (Some(id), Some(due)) = (self.id, self.due) else {
            return match command {
                TimerCommand::Schedule { timer_id, due, kind, payload } => {
                    if kind.trim().is_empty() {
                        return Err(DomainError::invalid("kind", "a timer needs a kind"));
                    }
                    Ok(vec![TimerEvent::Scheduled {
                        timer_id: *timer_id,
                        due: *due,
                        kind: kind.clone(),
                        payload: payload.clone(),
                    }])
                }
                _ => Err(DomainError::NotFound("timer".into())),
            };
        };
        match (command, self.status) {
            (TimerCommand::Schedule { .. }, _) => Err(DomainError::Conflict(format!("timer {id} is already set"))),
            (TimerCommand::Fire, TimerStatus::Pending) if now >= due => {
                Ok(vec![TimerEvent::Fired { timer_id: id, fired_at: now }])
            }
            (TimerCommand::Fire, TimerStatus::Pending) => {
                Err(DomainError::Conflict(format!("timer {id} is not due before {}", due.to_rfc3339())))
            }
            (TimerCommand::Cancel, TimerStatus::Pending) if now < due => {
                Ok(vec![TimerEvent::Cancelled { timer_id: id, cancelled_at: now }])
            }
            (TimerCommand::Cancel, TimerStatus::Pending) => Err(DomainError::Conflict(format!(
                "timer {id} was due at {}; it can no longer be cancelled",
                due.to_rfc3339()
            ))),
            (TimerCommand::Cancel, TimerStatus::Fired) => {
                Err(DomainError::Conflict(format!("timer {id} has gone off; it can no longer be cancelled")))
            }
            // Firing a fired or cancelled timer, or cancelling a cancelled
            // one, changes nothing.
            _ => Ok(vec![]),
        }
    }

    fn evolve(mut self, event: &TimerEvent) -> Self {
        match event {
            TimerEvent::Scheduled { timer_id, due, kind, payload } => {
                self.id = Some(*timer_id);
                self.due = Some(*due);
                self.kind = kind.clone();
                self.payload = payload.clone();
                self.status = TimerStatus::Pending;
            }
            TimerEvent::Fired { .. } => self.status = TimerStatus::Fired,
            TimerEvent::Cancelled { .. } => self.status = TimerStatus::Cancelled,
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, given};

    const ID: Uuid = Uuid::from_u128(7);

    fn scheduled() -> TimerEvent {
        TimerEvent::Scheduled {
            timer_id: ID,
            due: at("2026-11-27T00:00:00+09:00"),
            kind: "mail.send".into(),
            payload: "{}".into(),
        }
    }

    #[test]
    fn a_timer_fires_at_its_time_and_not_before() {
        given::<Timer>(vec![scheduled()])
            .when_at(Actor::System, TimerCommand::Fire, at("2026-11-26T23:59:59+09:00"))
            .then_refused(DomainError::Conflict(format!("timer {ID} is not due before 2026-11-26T15:00:00+00:00")));
        given::<Timer>(vec![scheduled()])
            .when_at(Actor::System, TimerCommand::Fire, at("2026-11-27T00:00:00+09:00"))
            .then(vec![TimerEvent::Fired { timer_id: ID, fired_at: at("2026-11-27T00:00:00+09:00") }]);
    }

    #[test]
    fn a_timer_fires_once() {
        let fired = TimerEvent::Fired { timer_id: ID, fired_at: at("2026-11-27T00:00:01+09:00") };
        given::<Timer>(vec![scheduled(), fired])
            .when_at(Actor::System, TimerCommand::Fire, at("2026-11-28T00:00:00+09:00"))
            .then(vec![]);
    }

    #[test]
    fn rule_e2_a_timer_is_cancelled_only_before_its_time() {
        given::<Timer>(vec![scheduled()])
            .when_at(Actor::User(Uuid::from_u128(1)), TimerCommand::Cancel, at("2026-11-26T23:59:59+09:00"))
            .then(vec![TimerEvent::Cancelled { timer_id: ID, cancelled_at: at("2026-11-26T23:59:59+09:00") }]);
        given::<Timer>(vec![scheduled()])
            .when_at(Actor::User(Uuid::from_u128(1)), TimerCommand::Cancel, at("2026-11-27T00:00:00+09:00"))
            .then_refused(DomainError::Conflict(format!(
                "timer {ID} was due at 2026-11-26T15:00:00+00:00; it can no longer be cancelled"
            )));
        let cancelled = TimerEvent::Cancelled { timer_id: ID, cancelled_at: at("2026-11-26T22:00:00+09:00") };
        given::<Timer>(vec![scheduled(), cancelled])
            .when_at(Actor::System, TimerCommand::Fire, at("2026-11-27T00:00:00+09:00"))
            .then(vec![]);
    }

    #[test]
    fn only_the_scheduler_fires_and_a_timer_is_set_once() {
        given::<Timer>(vec![scheduled()])
            .when_at(Actor::User(Uuid::from_u128(1)), TimerCommand::Fire, at("2026-11-28T00:00:00+09:00"))
            .then_refused(DomainError::Forbidden("only the scheduler fires timers".into()));
        let again = TimerCommand::Schedule {
            timer_id: ID,
            due: at("2026-12-01T00:00:00Z"),
            kind: "x".into(),
            payload: String::new(),
        };
        given::<Timer>(vec![scheduled()])
            .when(Actor::System, again)
            .then_refused(DomainError::Conflict(format!("timer {ID} is already set")));
        given::<Timer>(vec![])
            .when(Actor::System, TimerCommand::Fire)
            .then_refused(DomainError::NotFound("timer".into()));
    }
}
