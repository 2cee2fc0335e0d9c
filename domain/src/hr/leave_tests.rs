//! Rules H1–H6 on HR cards and leave ledgers.

use chrono::NaiveDate;
use uuid::Uuid;

use super::leave::{MAX_BALANCE, days, quarters};
use super::*;
use crate::testing::{at, given};
use crate::{Actor, Aggregate, DomainError, ErrorKind};

const HR: Uuid = Uuid::from_u128(7);
const DOCUMENT: Uuid = Uuid::from_u128(900);

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn system(action: LeaveAction) -> LeaveCommand {
    LeaveCommand { by_hr_manager: false, action }
}

fn opened(hire: &str, from: &str) -> LeaveLedger {
    LeaveLedger::default().evolve(&LeaveEvent::Opened { hire_date: date(hire), from: date(from) })
}

fn settle(ledger: LeaveLedger, today: &str) -> LeaveLedger {
    let events =
        ledger.decide(&system(LeaveAction::Settle { today: date(today) }), at("2026-01-01T00:00:00Z")).unwrap();
    events.iter().fold(ledger, LeaveLedger::evolve)
}

#[test]
fn rule_h4_accrual_gives_a_day_a_month_in_the_first_year_at_most_eleven() {
    let first_year = accruals(date("2025-03-01"), date("2026-02-28"));
    assert_eq!(first_year.len(), 11);
    assert!(first_year.iter().all(|a| a.kind == GrantKind::Monthly && a.quarters == QUARTERS));
    assert_eq!(first_year[0].granted_on, date("2025-04-01"));
    // The day before a full month: nothing yet.
    assert!(accruals(date("2025-03-01"), date("2025-03-31")).is_empty());
}

#[test]
fn rule_h4_the_yearly_grant_arises_the_day_after_the_year_is_completed() {
    let hire = date("2025-03-01");
    assert!(!accruals(hire, date("2026-02-28")).iter().any(|a| a.kind == GrantKind::Yearly));
    let on_anniversary = accruals(hire, date("2026-03-01"));
    let yearly = on_anniversary.last().unwrap();
    assert_eq!((yearly.grant_id.as_str(), yearly.quarters), ("Y1", 15 * QUARTERS));
    assert_eq!(yearly.expires_on, date("2027-03-01"));
}

#[test]
fn rule_h4_yearly_days_grow_one_per_two_years_up_to_twenty_five() {
    let grants = accruals(date("2000-01-10"), date("2026-01-10"));
    let yearly: Vec<i64> =
        grants.iter().filter(|a| a.kind == GrantKind::Yearly).map(|a| a.quarters / QUARTERS).collect();
    assert_eq!(&yearly[..5], [15, 15, 16, 16, 17]);
    assert_eq!(yearly[20], 25);
    assert_eq!(*yearly.last().unwrap(), 25);
}

#[test]
fn rule_h4_settling_grants_once_and_lapses_a_year_later() {
    let ledger = settle(opened("2025-03-01", "2025-03-01"), "2025-05-01");
    assert_eq!(ledger.balance(), 2 * QUARTERS);
    // Settling the same day again grants nothing twice.
    let again = ledger.decide(&system(LeaveAction::Settle { today: date("2025-05-01") }), at("2026-01-01T00:00:00Z"));
    assert_eq!(again, Ok(vec![]));
    assert_eq!(ledger.next_due(), Some(date("2025-06-01")));
    // The first anniversary: 15 days; the April grant lapses on 2026-04-01.
    let year_on = settle(ledger, "2026-03-01");
    assert_eq!(year_on.balance(), (11 + 15) * QUARTERS);
    let lapsed = settle(year_on.clone(), "2026-04-01");
    assert_eq!(lapsed.balance(), (10 + 15) * QUARTERS);
    assert_eq!(year_on.next_due(), Some(date("2026-04-01")));
}

#[test]
fn rule_h4_a_ledger_opened_for_someone_hired_long_ago_counts_from_its_opening() {
    let ledger = settle(opened("2020-01-15", "2026-11-26"), "2026-11-26");
    assert_eq!(ledger.balance(), 0);
    assert_eq!(ledger.next_due(), Some(date("2027-01-15")));
}

#[test]
fn rule_h4_no_ledger_no_leave() {
    let ledger = LeaveLedger::default();
    let now = at("2026-01-01T00:00:00Z");
    let no_ledger = Err((ErrorKind::Conflict, Some("H4")));
    assert_eq!(ledger.decide(&reserve(R1, DOCUMENT, 1, 4, false), now).map_err(|e| (e.kind(), e.rule())), no_ledger);
    assert_eq!(ledger.decide(&adjust(Change::Delta(4), "x"), now).map_err(|e| (e.kind(), e.rule())), no_ledger);
}

fn adjust_with(change: Change, reason: &str, negative_allowed: bool) -> LeaveCommand {
    LeaveCommand {
        by_hr_manager: true,
        action: LeaveAction::Adjust {
            adjustment_id: Uuid::from_u128(1),
            source: AdjustmentSource::Direct,
            change,
            reason: reason.into(),
            by: HR,
            negative_allowed,
        },
    }
}

fn adjust(change: Change, reason: &str) -> LeaveCommand {
    adjust_with(change, reason, false)
}

/// Reservation ids: each request brings its own.
const R1: Uuid = Uuid::from_u128(801);
const R2: Uuid = Uuid::from_u128(802);
const R3: Uuid = Uuid::from_u128(803);

fn reserve(reservation: Uuid, document: Uuid, submission: u32, quarters: i64, negative_allowed: bool) -> LeaveCommand {
    system(LeaveAction::Reserve { reservation, document, submission, quarters, negative_allowed })
}

fn release(reservation: Uuid) -> LeaveCommand {
    system(LeaveAction::Release { reservation })
}

#[test]
fn rule_h5_an_adjustment_records_who_why_before_and_after() {
    let ledger = settle(opened("2025-03-01", "2025-03-01"), "2025-05-01");
    let now = at("2026-11-26T09:00:00+09:00");
    assert_eq!(
        ledger.decide(&adjust(Change::Set(10), " 이월 "), now),
        Ok(vec![LeaveEvent::Adjusted {
            adjustment_id: Uuid::from_u128(1),
            source: AdjustmentSource::Direct,
            before: 8,
            after: 10,
            reason: "이월".into(),
            by: HR,
            at: now,
        }])
    );
    // Only HR managers adjust; a reason is needed; no overflow.
    let not_hr = LeaveCommand { by_hr_manager: false, ..adjust(Change::Delta(4), "x") };
    assert_eq!(
        ledger.authorize(&Actor::User(HR), &not_hr).map_err(|e| (e.kind(), e.rule())),
        Err((ErrorKind::Forbidden, Some("H1")))
    );
    assert_eq!(
        ledger.decide(&adjust(Change::Delta(4), " "), now).map_err(|e| (e.kind(), e.rule())),
        Err((ErrorKind::Validation, Some("H5")))
    );
    assert_eq!(
        ledger.decide(&adjust(Change::Delta(MAX_BALANCE), "x"), now).map_err(|e| e.kind()),
        Err(ErrorKind::LimitExceeded)
    );
    assert_eq!(
        ledger.decide(&adjust(Change::Delta(i64::MAX), "x"), now).map_err(|e| e.kind()),
        Err(ErrorKind::LimitExceeded)
    );
}

#[test]
fn rule_h6_approval_deducts_and_cancellation_restores_the_same_days() {
    let ledger = settle(opened("2025-03-01", "2025-03-01"), "2025-05-01");
    let take = system(LeaveAction::Take { document: DOCUMENT, quarters: 6 });
    given::<LeaveLedger>(vec![LeaveEvent::Opened { hire_date: date("2025-03-01"), from: date("2025-03-01") }])
        .when(Actor::System, take.clone())
        .then(vec![LeaveEvent::Taken { document: DOCUMENT, quarters: 6, before: 0, after: -6 }]);
    let events = ledger.decide(&take, at("2026-01-01T00:00:00Z")).unwrap();
    assert_eq!(events, vec![LeaveEvent::Taken { document: DOCUMENT, quarters: 6, before: 8, after: 2 }]);
    let taken = events.iter().fold(ledger, LeaveLedger::evolve);
    // Taken once only.
    assert_eq!(taken.decide(&take, at("2026-01-01T00:00:00Z")), Ok(vec![]));
    let restore = system(LeaveAction::Restore { document: DOCUMENT });
    let restored = taken.decide(&restore, at("2026-01-01T00:00:00Z")).unwrap();
    assert_eq!(restored, vec![LeaveEvent::Restored { document: DOCUMENT, quarters: 6, before: 2, after: 8 }]);
    let back = restored.iter().fold(taken, LeaveLedger::evolve);
    assert_eq!(back.balance(), 8);
    assert_eq!(back.decide(&restore, at("2026-01-01T00:00:00Z")), Ok(vec![]));
}

/// A ledger with 3 days (12 quarter days) left.
fn three_days() -> Vec<LeaveEvent> {
    vec![
        LeaveEvent::Opened { hire_date: date("2020-03-02"), from: date("2026-11-01") },
        LeaveEvent::Adjusted {
            adjustment_id: Uuid::from_u128(1),
            source: AdjustmentSource::Direct,
            before: 0,
            after: 12,
            reason: "이월".into(),
            by: HR,
            at: at("2026-11-01T09:00:00+09:00"),
        },
    ]
}

fn reserved(
    reservation: Uuid,
    document: Uuid,
    submission: u32,
    quarters: i64,
    balance: i64,
    reserved: i64,
) -> LeaveEvent {
    LeaveEvent::Reserved { reservation, document, submission, quarters, balance, reserved }
}

fn released(reservation: Uuid, document: Uuid, submission: u32, quarters: i64) -> LeaveEvent {
    LeaveEvent::Released { reservation, document, submission, quarters }
}

const OTHER: Uuid = Uuid::from_u128(901);

#[test]
fn rule_h6_a_request_within_the_balance_reserves_its_days() {
    let drafter = Actor::User(Uuid::from_u128(5));
    given::<LeaveLedger>(three_days())
        .when(drafter, reserve(R1, DOCUMENT, 1, 8, false))
        .then(vec![reserved(R1, DOCUMENT, 1, 8, 12, 8)]);
    // The same reservation again (a retry) changes nothing.
    let mut events = three_days();
    events.push(reserved(R1, DOCUMENT, 1, 8, 12, 8));
    given::<LeaveLedger>(events.clone()).when(drafter, reserve(R1, DOCUMENT, 1, 8, false)).then(vec![]);
    // The same request under another id (sent again after the process that
    // reserved stopped before submitting) fits beside it: one submission's
    // reservations count once.
    given::<LeaveLedger>(events.clone())
        .when(drafter, reserve(R2, DOCUMENT, 1, 8, false))
        .then(vec![reserved(R2, DOCUMENT, 1, 8, 12, 8)]);
    // A reservation holds days without taking them from the balance.
    let ledger = events.iter().fold(LeaveLedger::default(), LeaveLedger::evolve);
    assert_eq!((ledger.balance(), ledger.reserved_total()), (12, 8));
    assert_eq!(ledger.reservation(R1).map(|r| r.submission), Some(1));
    // Someone not logged in reserves nothing.
    assert_eq!(
        ledger.authorize(&Actor::Anonymous, &reserve(R1, DOCUMENT, 1, 8, false)).map_err(|e| e.kind()),
        Err(ErrorKind::Unauthenticated)
    );
}

#[test]
fn rule_h6_a_request_beyond_the_balance_less_the_reserved_days_is_refused() {
    let mut events = three_days();
    events.push(reserved(R1, DOCUMENT, 1, 8, 12, 8));
    // 3 days left, 2 reserved: another 2 days is refused, 1 day fits.
    given::<LeaveLedger>(events.clone()).when(Actor::System, reserve(R2, OTHER, 1, 8, false)).then_refused(
        DomainError::Conflict(
            "the request is for 2 days but only 1 are left (2 days are reserved by requests in progress)".into(),
        )
        .by_rule("H6"),
    );
    given::<LeaveLedger>(events.clone())
        .when(Actor::System, reserve(R2, OTHER, 1, 4, false))
        .then(vec![reserved(R2, OTHER, 1, 4, 12, 12)]);
    // Where the company allows negative balances, it is reserved anyway.
    given::<LeaveLedger>(events)
        .when(Actor::System, reserve(R2, OTHER, 1, 8, true))
        .then(vec![reserved(R2, OTHER, 1, 8, 12, 16)]);
    // Beyond the balance alone, too.
    given::<LeaveLedger>(three_days()).when(Actor::System, reserve(R1, DOCUMENT, 1, 13, false)).then_refused(
        DomainError::Conflict(
            "the request is for 3.25 days but only 3 are left (0 days are reserved by requests in progress)".into(),
        )
        .by_rule("H6"),
    );
}

#[test]
fn rule_h6_two_requests_for_the_same_submission_hold_the_days_of_the_larger() {
    // The same draft submitted twice at once, for 3 and for 2 days: only
    // one submission is admitted, but either may be, so each request keeps
    // its own reservation and the document holds the days of the larger
    // until it is decided; nothing else fits meanwhile.
    let now = at("2026-11-26T09:00:00+09:00");
    let mut events = three_days();
    events.push(reserved(R1, DOCUMENT, 1, 12, 12, 12));
    given::<LeaveLedger>(events.clone())
        .when(Actor::System, reserve(R2, DOCUMENT, 1, 8, false))
        .then(vec![reserved(R2, DOCUMENT, 1, 8, 12, 12)]);
    events.push(reserved(R2, DOCUMENT, 1, 8, 12, 12));
    let ledger = events.iter().fold(LeaveLedger::default(), LeaveLedger::evolve);
    assert_eq!(ledger.reserved_total(), 12);
    given::<LeaveLedger>(events.clone()).when(Actor::System, reserve(R3, OTHER, 1, 4, false)).then_refused(
        DomainError::Conflict(
            "the request is for 1 days but only 0 are left (3 days are reserved by requests in progress)".into(),
        )
        .by_rule("H6"),
    );
    // The larger one is submitted: its approval takes its 3 days and ends
    // both reservations.
    let taken = ledger.decide(&system(LeaveAction::Take { document: DOCUMENT, quarters: 12 }), now).unwrap();
    let done = taken.iter().fold(ledger.clone(), LeaveLedger::evolve);
    assert_eq!((done.balance(), done.reserved_total()), (0, 0));
    // The larger one's submission failed instead: it releases its own,
    // and the smaller one still holds its days.
    let released_r1 = ledger.decide(&release(R1), now).unwrap();
    assert_eq!(released_r1, vec![released(R1, DOCUMENT, 1, 12)]);
    let left = released_r1.iter().fold(ledger, LeaveLedger::evolve);
    assert_eq!((left.reserved_total(), left.reservation(R2).map(|r| r.held)), (8, Some(true)));
    // Beside another request for the same submission, a request is still
    // checked against what other documents hold.
    let mut busy = three_days();
    busy.push(reserved(R3, OTHER, 1, 4, 12, 4));
    busy.push(reserved(R1, DOCUMENT, 1, 8, 12, 12));
    given::<LeaveLedger>(busy).when(Actor::System, reserve(R2, DOCUMENT, 1, 12, false)).then_refused(
        DomainError::Conflict(
            "the request is for 3 days but only 2 are left (1 days are reserved by requests in progress)".into(),
        )
        .by_rule("H6"),
    );
}

#[test]
fn rule_h6_a_resubmission_reserves_again_without_counting_its_earlier_reservation() {
    let mut events = three_days();
    events.push(reserved(R1, DOCUMENT, 1, 8, 12, 8));
    // Submitted again (a second submission) for 3 days: its own earlier
    // reservation does not count against it.
    given::<LeaveLedger>(events.clone())
        .when(Actor::System, reserve(R2, DOCUMENT, 2, 12, false))
        .then(vec![reserved(R2, DOCUMENT, 2, 12, 12, 12)]);
    // A late reservation for an earlier submission changes nothing.
    events.push(reserved(R2, DOCUMENT, 2, 12, 12, 12));
    given::<LeaveLedger>(events.clone()).when(Actor::System, reserve(R3, DOCUMENT, 1, 8, false)).then(vec![]);
    // The first submission's end releases its own reservation only.
    let ledger = events.iter().fold(LeaveLedger::default(), LeaveLedger::evolve);
    assert_eq!(ledger.reservations_up_to(DOCUMENT, 1), vec![R1]);
    assert_eq!(ledger.reservations_up_to(DOCUMENT, u32::MAX), vec![R1, R2]);
    given::<LeaveLedger>(events).when(Actor::System, release(R1)).then(vec![released(R1, DOCUMENT, 1, 8)]);
}

#[test]
fn rule_h6_a_released_reservation_stays_released_when_the_document_reserves_again() {
    // Submission 1 failed after reserving (R1, released); the fixed draft
    // is submitted as submission 1 again (R2), then rejected: R2 has its
    // own release, which the first release does not stand for.
    let mut events = three_days();
    events.push(reserved(R1, DOCUMENT, 1, 8, 12, 8));
    events.push(released(R1, DOCUMENT, 1, 8));
    given::<LeaveLedger>(events.clone())
        .when(Actor::System, reserve(R2, DOCUMENT, 1, 8, false))
        .then(vec![reserved(R2, DOCUMENT, 1, 8, 12, 8)]);
    events.push(reserved(R2, DOCUMENT, 1, 8, 12, 8));
    given::<LeaveLedger>(events.clone()).when(Actor::System, release(R1)).then(vec![]);
    given::<LeaveLedger>(events.clone()).when(Actor::System, release(R2)).then(vec![released(R2, DOCUMENT, 1, 8)]);
    let ledger = events.iter().fold(LeaveLedger::default(), LeaveLedger::evolve);
    assert_eq!(ledger.reservations_up_to(DOCUMENT, 1), vec![R1, R2]);
}

#[test]
fn rule_h6_rejection_or_cancellation_releases_the_reservation() {
    let mut events = three_days();
    events.push(reserved(R1, DOCUMENT, 1, 8, 12, 8));
    given::<LeaveLedger>(events.clone()).when(Actor::System, release(R1)).then(vec![released(R1, DOCUMENT, 1, 8)]);
    events.push(released(R1, DOCUMENT, 1, 8));
    let ledger = events.iter().fold(LeaveLedger::default(), LeaveLedger::evolve);
    assert_eq!((ledger.balance(), ledger.reserved_total()), (12, 0));
    // Released once; a reservation nobody made releases nothing.
    given::<LeaveLedger>(events).when(Actor::System, release(R1)).then(vec![]);
    given::<LeaveLedger>(three_days()).when(Actor::System, release(R1)).then(vec![]);
    // Nobody but the system releases.
    assert_eq!(
        ledger.authorize(&Actor::User(Uuid::from_u128(5)), &release(R1)).map_err(|e| e.kind()),
        Err(ErrorKind::Forbidden)
    );
}

#[test]
fn rule_h6_the_final_approval_turns_the_reservation_into_the_taking() {
    let mut events = three_days();
    events.push(reserved(R1, DOCUMENT, 1, 8, 12, 8));
    let take = system(LeaveAction::Take { document: DOCUMENT, quarters: 8 });
    given::<LeaveLedger>(events.clone()).when(Actor::System, take.clone()).then(vec![LeaveEvent::Taken {
        document: DOCUMENT,
        quarters: 8,
        before: 12,
        after: 4,
    }]);
    events.push(LeaveEvent::Taken { document: DOCUMENT, quarters: 8, before: 12, after: 4 });
    let ledger = events.iter().fold(LeaveLedger::default(), LeaveLedger::evolve);
    assert_eq!((ledger.balance(), ledger.reserved_total()), (4, 0));
    // A late reservation or release of a document taken changes nothing.
    given::<LeaveLedger>(events.clone()).when(Actor::System, reserve(R2, DOCUMENT, 1, 8, false)).then(vec![]);
    given::<LeaveLedger>(events).when(Actor::System, release(R1)).then(vec![]);
    // A request submitted before reservations existed is taken as before.
    given::<LeaveLedger>(three_days()).when(Actor::System, take).then(vec![LeaveEvent::Taken {
        document: DOCUMENT,
        quarters: 8,
        before: 12,
        after: 4,
    }]);
}

#[test]
fn rule_h6_an_adjustment_below_the_reserved_days_is_refused_unless_negative_balances_are_allowed() {
    let mut events = three_days();
    events.push(reserved(R1, DOCUMENT, 1, 8, 12, 8));
    let ledger = events.iter().fold(LeaveLedger::default(), LeaveLedger::evolve);
    let now = at("2026-11-26T09:00:00+09:00");
    let refused = DomainError::Conflict(
        "the balance would be 1 days, below the 2 days that requests in progress have reserved".into(),
    )
    .by_rule("H6");
    assert_eq!(ledger.decide(&adjust(Change::Set(4), "정정"), now), Err(refused.clone()));
    assert_eq!(ledger.decide(&adjust(Change::Delta(-8), "정정"), now), Err(refused));
    // Down to the reserved days, or below where negative balances are
    // allowed: accepted.
    assert!(ledger.decide(&adjust(Change::Set(8), "정정"), now).is_ok());
    assert!(ledger.decide(&adjust_with(Change::Set(0), "정정", true), now).is_ok());
    // A balance already below what is reserved may still be raised.
    let low = LeaveLedger { extra: 2, ..ledger };
    assert!(low.decide(&adjust(Change::Delta(1), "정정"), now).is_ok());
}

#[test]
fn leave_is_counted_in_quarter_days() {
    assert_eq!(quarters("days", 1.25), Ok(5));
    assert_eq!(quarters("days", -0.5), Ok(-2));
    assert!(matches!(quarters("days", 0.3), Err(DomainError::Invalid { .. })));
    assert!(matches!(quarters("days", 1e9), Err(DomainError::LimitExceeded(_))));
    assert_eq!(days(6), "1.5");
    assert_eq!(days(-8), "-2");
}

// H1–H3: cards.

fn details(no: &str, user: Option<Uuid>) -> CardDetails {
    CardDetails {
        employee_no: no.into(),
        name: "김철수".into(),
        user,
        department: None,
        position: None,
        hire_date: Some(date("2020-03-02")),
        birth_date: None,
        photo: None,
        duties: Some("회계".into()),
        sealed_resident_number: None,
    }
}

#[test]
fn rule_h1_only_hr_managers_manage_cards() {
    let create = PersonnelCommand {
        by_hr_manager: false,
        action: PersonnelAction::CreateCard { employee_id: Uuid::from_u128(1), details: details("E-1", None), by: HR },
    };
    given::<Personnel>(vec![])
        .when(Actor::User(HR), create)
        .then_refused(DomainError::Forbidden("only an HR manager manages HR cards".into()).by_rule("H1"));
}

#[test]
fn rule_h2_cards_for_people_with_or_without_an_account_with_unique_numbers() {
    let now = at("2026-11-26T09:00:00+09:00");
    let created = |id: u128, no: &str, user| PersonnelEvent::CardCreated {
        employee_id: Uuid::from_u128(id),
        details: details(no, user),
        by: HR,
        at: now,
    };
    let create = |id: u128, no: &str, user| PersonnelCommand {
        by_hr_manager: true,
        action: PersonnelAction::CreateCard { employee_id: Uuid::from_u128(id), details: details(no, user), by: HR },
    };
    given::<Personnel>(vec![])
        .when_at(Actor::User(HR), create(1, "E-1", None), now)
        .then(vec![created(1, "E-1", None)]);
    let existing = [created(1, "E-1", None)];
    let refused = |command| {
        let state = existing.iter().fold(Personnel::default(), Personnel::evolve);
        state.decide(&command, now).map_err(|e| e.kind())
    };
    assert_eq!(refused(create(2, "E-1", None)), Err(ErrorKind::Conflict));
    assert_eq!(refused(create(2, "E 2", None)), Err(ErrorKind::Validation));
}

#[test]
fn rule_h3_status_changes_are_recorded() {
    let now = at("2026-11-26T09:00:00+09:00");
    let id = Uuid::from_u128(1);
    let state = Personnel::default().evolve(&PersonnelEvent::CardCreated {
        employee_id: id,
        details: details("E-1", None),
        by: HR,
        at: now,
    });
    let change = |status, on: &str| PersonnelCommand {
        by_hr_manager: true,
        action: PersonnelAction::ChangeStatus {
            employee_id: id, status, on: date(on), reason: "퇴사".into(), by: HR
        },
    };
    let events = state.decide(&change(EmploymentStatus::Retired, "2026-11-30"), now).unwrap();
    let retired = events.iter().fold(state.clone(), Personnel::evolve);
    let card = retired.card(id).unwrap();
    assert_eq!(card.status, EmploymentStatus::Retired);
    assert_eq!(
        card.history.iter().map(|h| h.status).collect::<Vec<_>>(),
        [EmploymentStatus::Active, EmploymentStatus::Retired]
    );
    assert_eq!(
        retired.decide(&change(EmploymentStatus::Retired, "2026-12-01"), now).map_err(|e| e.kind()),
        Err(ErrorKind::Conflict)
    );
    assert_eq!(
        state.decide(&change(EmploymentStatus::Retired, "2019-01-01"), now).map_err(|e| e.kind()),
        Err(ErrorKind::Validation)
    );
}

#[test]
fn rule_h7_resident_numbers_are_checked_and_masked() {
    let number = ResidentNumber::parse("711231-1234567").unwrap();
    assert_eq!(number.masked(7), "711231-1******");
    assert_eq!(number.masked(0), "******-*******");
    assert_eq!(number.birth_date(), Some(date("1971-12-31")));
    for bad in ["711231-123456", "711331-1234567", "abcdef-1234567"] {
        assert!(ResidentNumber::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn rule_h2_a_card_keeps_its_account_and_a_ledger_keeps_its_hire_date() {
    let now = at("2026-11-26T09:00:00+09:00");
    let user = Uuid::from_u128(5);
    let state = Personnel::default().evolve(&PersonnelEvent::CardCreated {
        employee_id: user,
        details: details("E-1", Some(user)),
        by: HR,
        at: now,
    });
    let update = |details| PersonnelCommand {
        by_hr_manager: true,
        action: PersonnelAction::UpdateCard { employee_id: user, details },
    };
    let other_account = details("E-1", Some(Uuid::from_u128(6)));
    assert_eq!(state.decide(&update(other_account), now).map_err(|e| e.kind()), Err(ErrorKind::Validation));
    let moved_hire = CardDetails { hire_date: Some(date("2021-01-01")), ..details("E-1", Some(user)) };
    assert_eq!(
        state.decide(&update(moved_hire), now).map_err(|e| (e.kind(), e.rule())),
        Err((ErrorKind::Validation, Some("H4")))
    );
    let renamed = CardDetails { duties: Some("기획".into()), ..details("E-1", Some(user)) };
    assert!(state.decide(&update(renamed), now).is_ok());
}

#[test]
fn rule_h6_a_ledger_kept_before_reservations_existed_loads_with_none() {
    let mut kept = serde_json::to_value(three_days().iter().fold(LeaveLedger::default(), LeaveLedger::evolve)).unwrap();
    kept.as_object_mut().unwrap().remove("reservations");
    let ledger: LeaveLedger = serde_json::from_value(kept).expect("an older snapshot loads");
    assert_eq!((ledger.balance(), ledger.reserved_total()), (12, 0));
    let now = at("2026-11-26T09:00:00+09:00");
    assert_eq!(
        ledger.decide(&reserve(R1, DOCUMENT, 1, 12, false), now),
        Ok(vec![reserved(R1, DOCUMENT, 1, 12, 12, 12)])
    );
}
