//! The leave ledger of one person (rules H4–H6 and the accrual reading of
//! 근로기준법 §60 in DOMAIN.md). One stream per person (`leave-<user>`).
//!
//! Balances are counted in quarter days. Days are granted on the right
//! date: under one year of service one day per full month (at most 11);
//! on each anniversary 15 days plus one per two further years, at most 25.
//! Each grant lapses a year after it was granted. Taking leave uses the
//! grants that lapse first, then the adjusted days.
//!
//! A leave request reserves its days on the ledger before it is submitted
//! (rule H6): the check against the balance less what other requests have
//! reserved and the reservation are one decision on this stream, so
//! concurrent requests (in one process or several) take turns on its
//! expected version. Each request holds a reservation of its own, under an
//! id it brings, even two requests for the same submission of one document
//! (which count once, with the most days: only one of them is submitted).
//! The final approval turns the document's reservations into the taking; a
//! rejection, recall, cancellation or discard releases them, one release
//! per reservation.

use std::collections::BTreeMap;

use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Actor, Aggregate, DomainError, DomainEvent};

/// Quarter days in a day.
pub const QUARTERS: i64 = 4;
/// The largest balance, either way: 1,000 days.
pub const MAX_BALANCE: i64 = 1_000 * QUARTERS;
const MAX_REASON: usize = 500;

/// Quarter days as days, for messages.
pub fn days(quarters: i64) -> String {
    let whole = quarters / QUARTERS;
    match quarters % QUARTERS {
        0 => format!("{whole}"),
        rest => format!("{}", whole as f64 + rest as f64 / QUARTERS as f64),
    }
}

/// Days (a multiple of 0.25) as quarter days.
///
/// # Errors
/// [`DomainError::Invalid`] for a value that is not a multiple of 0.25 or
/// is beyond [`MAX_BALANCE`].
pub fn quarters(field: &'static str, value: f64) -> Result<i64, DomainError> {
    let quarters = value * QUARTERS as f64;
    if !quarters.is_finite() || quarters.fract() != 0.0 {
        return Err(DomainError::invalid(field, "leave is counted in quarter days (1, 0.5, 0.25)"));
    }
    if quarters.abs() > MAX_BALANCE as f64 {
        return Err(DomainError::LimitExceeded(format!("leave is at most {} days either way", days(MAX_BALANCE))));
    }
    Ok(quarters as i64)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum GrantKind {
    /// One day per full month in the first year.
    Monthly,
    /// On each anniversary.
    Yearly,
}

/// A grant the law gives on `granted_on`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Accrual {
    /// `M1`–`M11`, `Y1`, `Y2`, ...: one of each per person, ever.
    pub grant_id: String,
    pub kind: GrantKind,
    pub quarters: i64,
    pub granted_on: NaiveDate,
    pub expires_on: NaiveDate,
}

/// The law's grants for someone hired on `hire`, granted on or before
/// `until`, in date order.
pub fn accruals(hire: NaiveDate, until: NaiveDate) -> Vec<Accrual> {
    let mut out = Vec::new();
    let expiry = |d: NaiveDate| d.checked_add_months(Months::new(12)).unwrap_or(NaiveDate::MAX);
    for month in 1..=11u32 {
        let Some(on) = hire.checked_add_months(Months::new(month)) else { break };
        if on > until {
            break;
        }
        out.push(Accrual {
            grant_id: format!("M{month}"),
            kind: GrantKind::Monthly,
            quarters: QUARTERS,
            granted_on: on,
            expires_on: expiry(on),
        });
    }
    for year in 1..=100u32 {
        let Some(on) = hire.checked_add_months(Months::new(12 * year)) else { break };
        if on > until {
            break;
        }
        let days = (15 + i64::from(year - 1) / 2).min(25);
        out.push(Accrual {
            grant_id: format!("Y{year}"),
            kind: GrantKind::Yearly,
            quarters: days * QUARTERS,
            granted_on: on,
            expires_on: expiry(on),
        });
    }
    out.sort_by_key(|a| a.granted_on);
    out
}

/// Where an adjustment came from (rule H5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum AdjustmentSource {
    /// One row of an uploaded CSV.
    Csv,
    /// Everyone by the same delta.
    Bulk,
    /// Selected people by the same delta.
    Partial,
    /// One person.
    Direct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The balance becomes this.
    Set(i64),
    /// The balance moves by this.
    Delta(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeaveCommand {
    /// The caller has checked that the acting user is an HR manager.
    pub by_hr_manager: bool,
    pub action: LeaveAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LeaveAction {
    /// Rule H4: a person with a mail account and a hire date gets a ledger;
    /// the law's grants count from `from` on.
    Open { hire_date: NaiveDate, from: NaiveDate },
    /// The scheduler: grants what is due and lapses what expired by `today`
    /// (in the company's time zone).
    Settle { today: NaiveDate },
    /// Refused when it would lower the balance below the days reserved by
    /// requests in progress, unless the company allows negative balances.
    Adjust {
        adjustment_id: Uuid,
        source: AdjustmentSource,
        change: Change,
        reason: String,
        by: Uuid,
        negative_allowed: bool,
    },
    /// Rule H6: a leave request about to be submitted for the
    /// `submission`th time (1, then one more at each resubmission) reserves
    /// its days as `reservation`, beside any other request's for the same
    /// submission (either may be the one submitted; they count once, with
    /// the most days). Refused when they exceed the balance less what other
    /// documents' requests have reserved, unless the company allows
    /// negative balances. The same reservation again, or one for a
    /// submission the document has passed, changes nothing.
    Reserve { reservation: Uuid, document: Uuid, submission: u32, quarters: i64, negative_allowed: bool },
    /// Rule H6: releases `reservation` (its submission was rejected,
    /// recalled, cancelled, discarded or never made). Once released or
    /// taken, nothing changes.
    Release { reservation: Uuid },
    /// Rule H6: the final approval of a leave request; its reservations, if
    /// any, end in the taking.
    Take { document: Uuid, quarters: i64 },
    /// Rule H6: an approved leave request cancelled.
    Restore { document: Uuid },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum LeaveEvent {
    #[serde(rename = "LeaveLedgerOpened")]
    Opened { hire_date: NaiveDate, from: NaiveDate },
    #[serde(rename = "LeaveGranted")]
    Granted { accrual: Accrual, after: i64 },
    #[serde(rename = "LeaveLapsed")]
    Lapsed { grant_id: String, quarters: i64, on: NaiveDate, after: i64 },
    #[serde(rename = "LeaveAdjusted")]
    Adjusted {
        adjustment_id: Uuid,
        source: AdjustmentSource,
        before: i64,
        after: i64,
        reason: String,
        by: Uuid,
        at: DateTime<Utc>,
    },
    #[serde(rename = "LeaveTaken")]
    Taken { document: Uuid, quarters: i64, before: i64, after: i64 },
    #[serde(rename = "LeaveRestored")]
    Restored { document: Uuid, quarters: i64, before: i64, after: i64 },
    /// `balance`: the balance then; `reserved`: all days reserved after it.
    #[serde(rename = "LeaveReserved")]
    Reserved { reservation: Uuid, document: Uuid, submission: u32, quarters: i64, balance: i64, reserved: i64 },
    #[serde(rename = "LeaveReservationReleased")]
    Released { reservation: Uuid, document: Uuid, submission: u32, quarters: i64 },
}

impl DomainEvent for LeaveEvent {
    fn event_type(&self) -> &'static str {
        match self {
            LeaveEvent::Opened { .. } => "LeaveLedgerOpened",
            LeaveEvent::Granted { .. } => "LeaveGranted",
            LeaveEvent::Lapsed { .. } => "LeaveLapsed",
            LeaveEvent::Adjusted { .. } => "LeaveAdjusted",
            LeaveEvent::Taken { .. } => "LeaveTaken",
            LeaveEvent::Restored { .. } => "LeaveRestored",
            LeaveEvent::Reserved { .. } => "LeaveReserved",
            LeaveEvent::Released { .. } => "LeaveReservationReleased",
        }
    }
}

/// What is left of a grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub expires_on: NaiveDate,
    pub remaining: i64,
    pub lapsed: bool,
}

/// Which grants a take used, to give back the same days.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Use {
    pub from_grants: Vec<(String, i64)>,
    pub from_extra: i64,
    pub restored: bool,
}

/// The days a leave request reserved (rule H6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub document: Uuid,
    /// The document's submission it was made for.
    pub submission: u32,
    pub quarters: i64,
    /// Whether it still holds its days: neither released nor taken.
    pub held: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LeaveLedger {
    pub hire_date: Option<NaiveDate>,
    /// The law's grants count from this date (the ledger's opening).
    pub from: Option<NaiveDate>,
    /// Every grant ever given, by id; lapsed ones have nothing left.
    pub grants: BTreeMap<String, Grant>,
    /// Days from adjustments and restorations, outside any grant.
    pub extra: i64,
    pub taken: BTreeMap<Uuid, Use>,
    /// Every reservation made, by its id, those that ended too, so that
    /// each path that releases one finds its id (ledgers written before
    /// reservations existed have none).
    #[serde(default)]
    pub reservations: BTreeMap<Uuid, Reservation>,
}

impl LeaveLedger {
    pub fn balance(&self) -> i64 {
        self.grants.values().map(|g| g.remaining).sum::<i64>() + self.extra
    }

    fn opened(&self) -> Result<(NaiveDate, NaiveDate), DomainError> {
        match (self.hire_date, self.from) {
            (Some(hire), Some(from)) => Ok((hire, from)),
            _ => Err(DomainError::Conflict(
                "no leave ledger: leave applies to people with a mail account and a hire date".into(),
            )
            .by_rule("H4")),
        }
    }

    /// The next date something is due: a grant, or a lapse.
    pub fn next_due(&self) -> Option<NaiveDate> {
        let (hire, from) = self.opened().ok()?;
        let far = hire.checked_add_months(Months::new(12 * 101)).unwrap_or(NaiveDate::MAX);
        let grant = accruals(hire, far)
            .into_iter()
            .find(|a| a.granted_on >= from && !self.grants.contains_key(&a.grant_id))
            .map(|a| a.granted_on);
        let lapse = self.grants.values().filter(|g| g.remaining > 0).map(|g| g.expires_on).min();
        grant.into_iter().chain(lapse).min()
    }

    /// The days all requests in progress have reserved. Requests for the
    /// same submission of one document count once, with the most days:
    /// only one of them can be submitted.
    pub fn reserved_total(&self) -> i64 {
        self.held(|_| true)
    }

    /// The days held by the reservations `counted` keeps, counting each
    /// submission of a document once, with its largest reservation.
    fn held(&self, counted: impl Fn(&Reservation) -> bool) -> i64 {
        let mut submissions: BTreeMap<(Uuid, u32), i64> = BTreeMap::new();
        for r in self.reservations.values().filter(|r| r.held && counted(r)) {
            let most = submissions.entry((r.document, r.submission)).or_default();
            *most = (*most).max(r.quarters);
        }
        submissions.values().sum()
    }

    pub fn reservation(&self, id: Uuid) -> Option<&Reservation> {
        self.reservations.get(&id)
    }

    /// The ids of the reservations made for `document`'s submissions up to
    /// `ended`, held or not (a release made already is found again by its
    /// id).
    pub fn reservations_up_to(&self, document: Uuid, ended: u32) -> Vec<Uuid> {
        self.reservations
            .iter()
            .filter(|(_, r)| r.document == document && r.submission <= ended)
            .map(|(id, _)| *id)
            .collect()
    }

    fn reserve(
        &self,
        reservation: Uuid,
        document: Uuid,
        submission: u32,
        quarters: i64,
        negative_allowed: bool,
    ) -> Result<Vec<LeaveEvent>, DomainError> {
        self.opened()?;
        if quarters <= 0 {
            return Err(DomainError::invalid("days", "a leave request takes some days"));
        }
        // Made already (a retry), taken already, or the document has passed
        // this submission: nothing to do.
        if self.reservations.contains_key(&reservation)
            || self.taken.contains_key(&document)
            || self.reservations.values().any(|r| r.document == document && r.submission > submission)
        {
            return Ok(vec![]);
        }
        // Other requests for this submission stand for the same days
        // (only one is submitted), and the document's earlier submissions
        // are over (what they still hold is on its way out): neither counts
        // against this one.
        let others = self.held(|r| r.document != document);
        let same = self.held(|r| r.document == document && r.submission == submission);
        let balance = self.balance();
        let free = balance - others;
        if !negative_allowed && quarters > free {
            return Err(DomainError::Conflict(format!(
                "the request is for {} days but only {} are left ({} days are reserved by requests in progress)",
                days(quarters),
                days(free),
                days(others)
            ))
            .by_rule("H6"));
        }
        bounded(free - quarters)?;
        Ok(vec![LeaveEvent::Reserved {
            reservation,
            document,
            submission,
            quarters,
            balance,
            reserved: others + same.max(quarters),
        }])
    }

    /// The grants a take of `quarters` would use, soonest to lapse first;
    /// the rest comes from the extra days (and may take them below zero).
    fn plan(&self, quarters: i64) -> Use {
        let mut left = quarters;
        let mut grants: Vec<(&String, &Grant)> =
            self.grants.iter().filter(|(_, g)| g.remaining > 0 && !g.lapsed).collect();
        grants.sort_by_key(|(id, g)| (g.expires_on, (*id).clone()));
        let mut from_grants = Vec::new();
        for (id, grant) in grants {
            if left == 0 {
                break;
            }
            let used = grant.remaining.min(left);
            from_grants.push((id.clone(), used));
            left -= used;
        }
        Use { from_grants, from_extra: left, restored: false }
    }

    fn spend(&mut self, plan: &Use) {
        for (id, used) in &plan.from_grants {
            if let Some(grant) = self.grants.get_mut(id) {
                grant.remaining -= used;
            }
        }
        self.extra -= plan.from_extra;
    }
}

/// Whether an adjustment from `before` to `after` keeps the days that
/// requests in progress have `reserved` (rule H6): a lowering below them is
/// refused unless the company allows negative balances.
///
/// # Errors
/// [`DomainError::Conflict`] otherwise.
pub fn keeps_reserved(before: i64, after: i64, reserved: i64, negative_allowed: bool) -> Result<(), DomainError> {
    if !negative_allowed && after < before && after < reserved {
        return Err(DomainError::Conflict(format!(
            "the balance would be {} days, below the {} days that requests in progress have reserved",
            days(after),
            days(reserved)
        ))
        .by_rule("H6"));
    }
    Ok(())
}

/// Whether a balance stays within [`MAX_BALANCE`] either way.
///
/// # Errors
/// [`DomainError::LimitExceeded`] otherwise.
pub fn bounded(after: i64) -> Result<(), DomainError> {
    if after.abs() > MAX_BALANCE {
        return Err(DomainError::LimitExceeded(format!(
            "the balance would be {} days; it stays within {} days either way",
            days(after),
            days(MAX_BALANCE)
        )));
    }
    Ok(())
}

impl Aggregate for LeaveLedger {
    type Command = LeaveCommand;
    type Event = LeaveEvent;

    const CATEGORY: &'static str = "leave";
    // 2: reservations by their own id.
    const SNAPSHOT_VERSION: u32 = 2;

    fn authorize(&self, actor: &Actor, command: &LeaveCommand) -> Result<(), DomainError> {
        match actor {
            Actor::System => Ok(()),
            Actor::User(_) if command.by_hr_manager && matches!(command.action, LeaveAction::Adjust { .. }) => Ok(()),
            // The drafter of a leave request (the API reserves on the
            // caller's own ledger only).
            Actor::User(_) if matches!(command.action, LeaveAction::Reserve { .. }) => Ok(()),
            // Rule H1: adjusting leave is an HR function.
            Actor::User(_) if matches!(command.action, LeaveAction::Adjust { .. }) => {
                Err(DomainError::Forbidden("only an HR manager adjusts leave".into()).by_rule("H1"))
            }
            Actor::User(_) => Err(DomainError::Forbidden("only an HR manager adjusts leave".into())),
            Actor::Anonymous => Err(DomainError::Unauthenticated("log in first".into())),
        }
    }

    fn decide(&self, command: &LeaveCommand, now: DateTime<Utc>) -> Result<Vec<LeaveEvent>, DomainError> {
        match &command.action {
            LeaveAction::Open { hire_date, from } => {
                if self.hire_date.is_some() {
                    return Ok(vec![]);
                }
                Ok(vec![LeaveEvent::Opened { hire_date: *hire_date, from: *from }])
            }
            LeaveAction::Settle { today } => {
                let (hire, from) = self.opened()?;
                let mut state = self.clone();
                let mut events = Vec::new();
                // Lapses and grants in date order, so that a grant made and
                // lapsed in one settlement lapses after it is granted.
                let due: Vec<Accrual> = accruals(hire, *today)
                    .into_iter()
                    .filter(|a| a.granted_on >= from && !self.grants.contains_key(&a.grant_id))
                    .collect();
                let mut dates: Vec<NaiveDate> = due.iter().map(|a| a.granted_on).collect();
                dates.extend(self.grants.values().map(|g| g.expires_on));
                dates.extend(due.iter().map(|a| a.expires_on));
                dates.retain(|d| d <= today);
                dates.sort();
                dates.dedup();
                for date in dates {
                    let lapsing: Vec<(String, i64)> = state
                        .grants
                        .iter()
                        .filter(|(_, g)| g.expires_on == date && g.remaining > 0)
                        .map(|(id, g)| (id.clone(), g.remaining))
                        .collect();
                    for (grant_id, quarters) in lapsing {
                        let event =
                            LeaveEvent::Lapsed { grant_id, quarters, on: date, after: state.balance() - quarters };
                        state = state.evolve(&event);
                        events.push(event);
                    }
                    for accrual in due.iter().filter(|a| a.granted_on == date) {
                        let event =
                            LeaveEvent::Granted { accrual: accrual.clone(), after: state.balance() + accrual.quarters };
                        state = state.evolve(&event);
                        events.push(event);
                    }
                }
                Ok(events)
            }
            LeaveAction::Adjust { adjustment_id, source, change, reason, by, negative_allowed } => {
                self.opened()?;
                let reason = reason.trim();
                // Rule H5: every adjustment says why.
                if reason.is_empty() {
                    return Err(DomainError::invalid("reason", format!("a reason has 1 to {MAX_REASON} characters"))
                        .by_rule("H5"));
                }
                if reason.chars().count() > MAX_REASON {
                    return Err(DomainError::invalid("reason", format!("a reason has 1 to {MAX_REASON} characters")));
                }
                let before = self.balance();
                let after = match change {
                    Change::Set(value) => *value,
                    Change::Delta(delta) => before.checked_add(*delta).unwrap_or(i64::MAX),
                };
                bounded(after)?;
                keeps_reserved(before, after, self.reserved_total(), *negative_allowed)?;
                Ok(vec![LeaveEvent::Adjusted {
                    adjustment_id: *adjustment_id,
                    source: *source,
                    before,
                    after,
                    reason: reason.to_owned(),
                    by: *by,
                    at: now,
                }])
            }
            LeaveAction::Take { document, quarters } => {
                self.opened()?;
                if self.taken.contains_key(document) {
                    return Ok(vec![]);
                }
                if *quarters <= 0 {
                    return Err(DomainError::invalid("days", "a leave request takes some days"));
                }
                let before = self.balance();
                bounded(before - quarters)?;
                Ok(vec![LeaveEvent::Taken {
                    document: *document,
                    quarters: *quarters,
                    before,
                    after: before - quarters,
                }])
            }
            LeaveAction::Reserve { reservation, document, submission, quarters, negative_allowed } => {
                self.reserve(*reservation, *document, *submission, *quarters, *negative_allowed)
            }
            LeaveAction::Release { reservation } => match self.reservations.get(reservation) {
                Some(r) if r.held => Ok(vec![LeaveEvent::Released {
                    reservation: *reservation,
                    document: r.document,
                    submission: r.submission,
                    quarters: r.quarters,
                }]),
                _ => Ok(vec![]),
            },
            LeaveAction::Restore { document } => {
                let Some(used) = self.taken.get(document) else {
                    return Err(DomainError::NotFound(format!("leave taken by document {document}")));
                };
                if used.restored {
                    return Ok(vec![]);
                }
                let quarters = used.from_grants.iter().map(|(_, q)| q).sum::<i64>() + used.from_extra;
                let before = self.balance();
                Ok(vec![LeaveEvent::Restored { document: *document, quarters, before, after: before + quarters }])
            }
        }
    }

    fn evolve(mut self, event: &LeaveEvent) -> Self {
        match event {
            LeaveEvent::Opened { hire_date, from } => {
                self.hire_date = Some(*hire_date);
                self.from = Some(*from);
            }
            LeaveEvent::Granted { accrual, .. } => {
                let grant = Grant { expires_on: accrual.expires_on, remaining: accrual.quarters, lapsed: false };
                self.grants.insert(accrual.grant_id.clone(), grant);
            }
            LeaveEvent::Lapsed { grant_id, .. } => {
                if let Some(grant) = self.grants.get_mut(grant_id) {
                    grant.remaining = 0;
                    grant.lapsed = true;
                }
            }
            LeaveEvent::Adjusted { before, after, .. } => {
                let delta = after - before;
                if delta >= 0 {
                    self.extra += delta;
                } else {
                    let plan = self.plan(-delta);
                    self.spend(&plan);
                }
            }
            LeaveEvent::Taken { document, quarters, .. } => {
                let plan = self.plan(*quarters);
                self.spend(&plan);
                self.taken.insert(*document, plan);
                for r in self.reservations.values_mut().filter(|r| r.document == *document) {
                    r.held = false;
                }
            }
            LeaveEvent::Reserved { reservation, document, submission, quarters, .. } => {
                let made =
                    Reservation { document: *document, submission: *submission, quarters: *quarters, held: true };
                self.reservations.insert(*reservation, made);
            }
            LeaveEvent::Released { reservation, .. } => {
                if let Some(r) = self.reservations.get_mut(reservation) {
                    r.held = false;
                }
            }
            LeaveEvent::Restored { document, .. } => {
                if let Some(mut used) = self.taken.remove(document) {
                    for (id, quarters) in &used.from_grants {
                        match self.grants.get_mut(id) {
                            Some(grant) if !grant.lapsed => grant.remaining += quarters,
                            // A grant that has lapsed meanwhile gives its
                            // days back outside it.
                            _ => self.extra += quarters,
                        }
                    }
                    self.extra += used.from_extra;
                    used.restored = true;
                    self.taken.insert(*document, used);
                }
            }
        }
        self
    }
}
