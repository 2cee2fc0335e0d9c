//! How long a company keeps its history in the live log, and the stretches
//! of it moved out since (stream `retention-<tenant>`).
//!
//! A company keeps its history for its retention period (60 months unless
//! an admin sets a longer one: rule E7 keeps mail that long). Once a month
//! has fallen out of the period, the server puts the months not yet moved
//! out into an archive, verifies it, and only then removes their events
//! from the live log; the file takes their place, and reads find them
//! there (`audit::cold`). Each move is recorded here.

use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};

use crate::values::{Month, TimeZone};
use crate::{Actor, Aggregate, DomainError, DomainEvent};

/// The period a company keeps its history for, unless an admin sets
/// another.
pub const DEFAULT_MONTHS: u32 = 60;
/// The shortest period: mail is kept 60 months (rule E7).
pub const SHORTEST_MONTHS: u32 = 60;
/// The longest period that may be set (fifty years).
pub const LONGEST_MONTHS: u32 = 600;

/// A stretch of the company's history moved out of the live log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Purge {
    /// The months it covers, in the company's time zone.
    pub from: Month,
    pub to: Month,
    /// The positions of its first and last events, and how many.
    pub first_position: u64,
    pub last_position: u64,
    pub events: u64,
    /// The archive file that holds them, and its SHA-256.
    pub file: String,
    pub sha256: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetentionCommand {
    /// The caller has checked that the acting user is an admin.
    pub by_admin: bool,
    pub action: RetentionAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RetentionAction {
    /// An admin sets how many months the company keeps.
    SetPeriod { months: u32 },
    /// The server moved a stretch out (its `at` is the time it did).
    Record(Purge),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum RetentionEvent {
    #[serde(rename = "RetentionPeriodSet")]
    PeriodSet { months: u32 },
    #[serde(rename = "HistoryMovedOut")]
    MovedOut(Purge),
}

impl DomainEvent for RetentionEvent {
    fn event_type(&self) -> &'static str {
        match self {
            RetentionEvent::PeriodSet { .. } => "RetentionPeriodSet",
            RetentionEvent::MovedOut(_) => "HistoryMovedOut",
        }
    }
}

/// A company's retention period and what has left the live log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Retention {
    /// `None`: [`DEFAULT_MONTHS`].
    pub months: Option<u32>,
    /// Oldest first: a stretch goes on from the one before it.
    pub purges: Vec<Purge>,
}

impl Retention {
    /// The months the company keeps.
    pub fn months(&self) -> u32 {
        self.months.unwrap_or(DEFAULT_MONTHS)
    }

    /// The oldest month the company keeps live at `now`: the retention
    /// period counts back from the current month, which it includes.
    pub fn keeps_from(&self, now: DateTime<Utc>, zone: &TimeZone) -> Month {
        let this_month = Month::of(zone.date_at(now)).first_day();
        let oldest = this_month.checked_sub_months(Months::new(self.months() - 1)).unwrap_or(this_month);
        Month::of(oldest)
    }

    /// The first month not yet moved out, when any has been.
    pub fn moved_out_until(&self) -> Option<Month> {
        self.purges.last().map(|p| p.to.next())
    }
}

impl Aggregate for Retention {
    type Command = RetentionCommand;
    type Event = RetentionEvent;

    const CATEGORY: &'static str = "retention";
    const SNAPSHOT_VERSION: u32 = 1;

    fn authorize(&self, actor: &Actor, command: &RetentionCommand) -> Result<(), DomainError> {
        match (actor, &command.action) {
            (Actor::System, _) => Ok(()),
            (Actor::Anonymous, _) => Err(DomainError::Unauthenticated("log in first".into())),
            (Actor::User(_), RetentionAction::SetPeriod { .. }) if command.by_admin => Ok(()),
            (Actor::User(_), RetentionAction::SetPeriod { .. }) => {
                Err(DomainError::Forbidden("only an admin of the company sets how long it keeps its history".into()))
            }
            (Actor::User(_), RetentionAction::Record(_)) => {
                Err(DomainError::Forbidden("only the server moves history out of the log".into()))
            }
        }
    }

    fn decide(&self, command: &RetentionCommand, _now: DateTime<Utc>) -> Result<Vec<RetentionEvent>, DomainError> {
        match &command.action {
            RetentionAction::SetPeriod { months } => {
                if !(SHORTEST_MONTHS..=LONGEST_MONTHS).contains(months) {
                    return Err(DomainError::invalid(
                        "months",
                        format!(
                            "a company keeps its history from {SHORTEST_MONTHS} to {LONGEST_MONTHS} months, not {months}"
                        ),
                    ));
                }
                if self.months() == *months {
                    return Ok(Vec::new());
                }
                Ok(vec![RetentionEvent::PeriodSet { months: *months }])
            }
            RetentionAction::Record(purge) => {
                let after = self.purges.last();
                let follows = purge.from <= purge.to
                    && after.is_none_or(|last| purge.from > last.to && purge.first_position > last.last_position);
                if !follows {
                    return Err(DomainError::Conflict(format!(
                        "the months {} to {} do not follow what has left the log already",
                        purge.from, purge.to
                    )));
                }
                Ok(vec![RetentionEvent::MovedOut(purge.clone())])
            }
        }
    }

    fn evolve(mut self, event: &RetentionEvent) -> Self {
        match event {
            RetentionEvent::PeriodSet { months } => self.months = Some(*months),
            RetentionEvent::MovedOut(purge) => self.purges.push(purge.clone()),
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::testing::{at, given};

    const ADMIN: uuid::Uuid = uuid::Uuid::from_u128(1);

    fn month(text: &str) -> Month {
        Month::parse("month", text).unwrap()
    }

    fn set(by_admin: bool, months: u32) -> RetentionCommand {
        RetentionCommand { by_admin, action: RetentionAction::SetPeriod { months } }
    }

    fn purge(from: &str, to: &str, first_position: u64) -> Purge {
        Purge {
            from: month(from),
            to: month(to),
            first_position,
            last_position: first_position + 9,
            events: 10,
            file: format!("{from}.zip"),
            sha256: "abc".into(),
            at: at("2031-12-01T03:00:00+09:00"),
        }
    }

    #[test]
    fn e7_a_company_keeps_60_months_with_this_one_unless_an_admin_keeps_longer() {
        let seoul = TimeZone::default();
        let retention = Retention::default();
        assert_eq!(retention.keeps_from(at("2031-12-01T00:00:00+09:00"), &seoul), month("2027-01"));
        // Still November in Seoul: November 2026 is kept one more month.
        assert_eq!(retention.keeps_from(at("2031-11-30T23:59:59+09:00"), &seoul), month("2026-12"));
        let longer = [RetentionEvent::PeriodSet { months: 120 }].iter().fold(Retention::default(), Retention::evolve);
        assert_eq!(longer.keeps_from(at("2031-12-01T00:00:00+09:00"), &seoul), month("2022-01"));

        let now = at("2026-11-29T09:00:00+09:00");
        given::<Retention>(vec![])
            .when_at(Actor::User(ADMIN), set(true, 84), now)
            .then(vec![RetentionEvent::PeriodSet { months: 84 }]);
        given::<Retention>(vec![]).when_at(Actor::User(ADMIN), set(true, 60), now).then(vec![]);
        given::<Retention>(vec![]).when_at(Actor::User(ADMIN), set(false, 84), now).then_refused(
            DomainError::Forbidden("only an admin of the company sets how long it keeps its history".into()),
        );
        for months in [0, 59, 601] {
            let refused = Retention::default().decide(&set(true, months), now).unwrap_err();
            assert_eq!(refused.kind(), ErrorKind::Validation, "{months}");
        }
    }

    #[test]
    fn history_leaves_the_log_in_order_and_only_by_the_server() {
        let now = at("2031-12-01T03:00:00+09:00");
        let first = purge("2026-03", "2026-11", 1);
        let record = |p: Purge| RetentionCommand { by_admin: true, action: RetentionAction::Record(p) };
        given::<Retention>(vec![])
            .when_at(Actor::System, record(first.clone()), now)
            .then(vec![RetentionEvent::MovedOut(first.clone())]);
        given::<Retention>(vec![])
            .when_at(Actor::User(ADMIN), record(first.clone()), now)
            .then_refused(DomainError::Forbidden("only the server moves history out of the log".into()));
        let state = [RetentionEvent::MovedOut(first)].iter().fold(Retention::default(), Retention::evolve);
        assert_eq!(state.moved_out_until(), Some(month("2026-12")));
        for again in [purge("2026-11", "2026-12", 20), purge("2026-12", "2026-12", 5), purge("2027-02", "2027-01", 20)]
        {
            assert_eq!(state.decide(&record(again), now).unwrap_err().kind(), ErrorKind::Conflict);
        }
        assert!(state.decide(&record(purge("2026-12", "2026-12", 20)), now).is_ok());
    }
}
