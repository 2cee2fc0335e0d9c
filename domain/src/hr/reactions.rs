//! What events cause in leave ledgers (rules H4, H6; see
//! [`crate::reaction`]):
//!
//! - A ledger opens for each person with a mail account and a hire date;
//!   the law's grants count from the day the card said so, in the
//!   company's time zone.
//! - A durable timer settles a ledger at midnight, in the company's time
//!   zone, on the next day something is due (a grant or a lapse). Every
//!   change of a ledger can move that day, so each one sets the timer
//!   again; a timer left for an earlier day settles nothing.
//! - A leave request reserves its days before it is submitted; the final
//!   approval takes them, a rejection, recall, cancellation in progress or
//!   discard releases them, and the cancellation of an approved request
//!   gives them back.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{LeaveAction, LeaveCommand, LeaveEvent, LeaveLedger, PersonnelEvent};
use crate::approval::{Document, DocumentEvent};
use crate::reaction::{Cause, FollowUp};
use crate::tenant::Tenant;
use crate::timer::{Timer, TimerCommand};

/// The kind of the timers that settle leave ledgers.
pub const LEAVE_SETTLE: &str = "leave.settle";

/// What a settle timer carries.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Settle {
    employee: Uuid,
    today: NaiveDate,
}

/// A command of the system for a ledger.
pub fn system(action: LeaveAction) -> LeaveCommand {
    LeaveCommand { by_hr_manager: false, action }
}

/// Rule H4: a card with a mail account and a hire date opens its ledger.
pub fn on_personnel(cause: &Cause, event: &PersonnelEvent) -> Vec<FollowUp> {
    let (PersonnelEvent::CardCreated { details, .. } | PersonnelEvent::CardUpdated { details, .. }) = event else {
        return Vec::new();
    };
    let (Some(employee), Some(hire_date), Some(tenant)) = (details.user, details.hire_date, cause.tenant) else {
        return Vec::new();
    };
    let at = cause.recorded_at;
    vec![FollowUp::after_reading::<Tenant>(tenant, move |company| {
        let from = company.time_zone.date_at(at);
        let command_id = Uuid::new_v5(&employee, b"open-leave-ledger");
        vec![FollowUp::command::<LeaveLedger>(employee, command_id, system(LeaveAction::Open { hire_date, from }))]
    })]
}

/// Rule H4: every change of a ledger sets its timer for the next day
/// something is due.
pub fn on_ledger(cause: &Cause, _event: &LeaveEvent) -> Vec<FollowUp> {
    let (employee, Some(tenant)) = (cause.stream_id, cause.tenant) else { return Vec::new() };
    vec![FollowUp::after_reading::<LeaveLedger>(employee, move |ledger| {
        let Some(today) = ledger.next_due() else { return Vec::new() };
        vec![FollowUp::after_reading::<Tenant>(tenant, move |company| {
            let due = company.time_zone.midnight(today);
            let timer_id = Uuid::new_v5(&employee, format!("leave-settle-{today}").as_bytes());
            let payload = serde_json::json!(Settle { employee, today }).to_string();
            let command = TimerCommand::Schedule { timer_id, due, kind: LEAVE_SETTLE.into(), payload };
            vec![FollowUp::command::<Timer>(timer_id, Uuid::new_v5(&timer_id, b"schedule"), command)]
        })]
    })]
}

/// Rule H4: a settle timer went off; `command_id` is the firing's. Nothing
/// when the timer does not carry its ledger.
pub fn on_settle(payload: &str, command_id: Uuid) -> Vec<FollowUp> {
    let Ok(Settle { employee, today }) = serde_json::from_str(payload) else { return Vec::new() };
    vec![FollowUp::command::<LeaveLedger>(employee, command_id, system(LeaveAction::Settle { today }))]
}

/// Whether a document event ends a submission without taking leave: a
/// rejection (by an approver or an agreer), a recall, a cancellation in
/// progress, a discarded draft (whose submission never happened).
pub fn ends_submission(event: &DocumentEvent) -> bool {
    matches!(
        event,
        DocumentEvent::Rejected { .. }
            | DocumentEvent::AgreementRefused { .. }
            | DocumentEvent::Recalled { .. }
            | DocumentEvent::Cancelled { restored_quarters: None, .. }
            | DocumentEvent::DraftDiscarded { .. }
    )
}

/// Rule H6: the command that releases `reservation`, under the one
/// command id every path that releases it uses (derived from the
/// reservation, so that a later reservation of the same document never
/// meets an earlier release).
pub fn release(employee: Uuid, reservation: Uuid) -> FollowUp {
    let command_id = Uuid::new_v5(&reservation, b"release-leave");
    FollowUp::command::<LeaveLedger>(employee, command_id, system(LeaveAction::Release { reservation }))
}

/// Rule H6: what a leave request's events do to its drafter's ledger.
/// Other documents are left alone.
pub fn on_document(cause: &Cause, event: &DocumentEvent) -> Vec<FollowUp> {
    let document = cause.stream_id;
    match event {
        DocumentEvent::Completed { .. } => vec![FollowUp::after_reading::<Document>(document, move |state| {
            let Some(quarters) = state.leave_quarters() else { return Vec::new() };
            let command = system(LeaveAction::Take { document, quarters });
            vec![FollowUp::command::<LeaveLedger>(state.drafter, Uuid::new_v5(&document, b"take-leave"), command)]
        })],
        DocumentEvent::Cancelled { restored_quarters: Some(_), .. } => {
            vec![FollowUp::after_reading::<Document>(document, move |state| {
                let command = system(LeaveAction::Restore { document });
                vec![FollowUp::command::<LeaveLedger>(
                    state.drafter,
                    Uuid::new_v5(&document, b"restore-leave"),
                    command,
                )]
            })]
        }
        event if ends_submission(event) => vec![FollowUp::after_reading::<Document>(document, move |state| {
            if !state.is_leave_request() {
                return Vec::new();
            }
            let (drafter, ended) = (state.drafter, state.ended_submissions());
            vec![FollowUp::after_reading::<LeaveLedger>(drafter, move |ledger| {
                ledger.reservations_up_to(document, ended).into_iter().map(|r| release(drafter, r)).collect()
            })]
        })],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Aggregate;
    use crate::hr::CardDetails;
    use crate::reaction::Read;
    use crate::testing::at;
    use crate::values::TimeZone;

    const TENANT: Uuid = Uuid::from_u128(9);
    const EMPLOYEE: Uuid = Uuid::from_u128(5);

    fn cause(stream_id: Uuid, recorded_at: &str) -> Cause {
        Cause { event_id: Uuid::from_u128(99), stream_id, tenant: Some(TENANT), recorded_at: at(recorded_at) }
    }

    fn seoul() -> Tenant {
        Tenant { time_zone: TimeZone::parse("Asia/Seoul").unwrap(), ..Tenant::default() }
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn read(follow_up: FollowUp) -> Read {
        match follow_up {
            FollowUp::Read(read) => read,
            FollowUp::Issue(_) => panic!("a read, not {follow_up:?}"),
        }
    }

    fn card(user: Option<Uuid>, hire_date: Option<NaiveDate>) -> PersonnelEvent {
        let details = CardDetails {
            employee_no: "E-1".into(),
            name: "Kim".into(),
            user,
            department: None,
            position: None,
            hire_date,
            birth_date: None,
            photo: None,
            duties: None,
            sealed_resident_number: None,
        };
        PersonnelEvent::CardUpdated { employee_id: Uuid::from_u128(1), details }
    }

    #[test]
    fn rule_h4_a_card_with_an_account_and_a_hire_date_opens_its_ledger_from_the_day_in_the_company_zone() {
        let hired = date("2026-03-02");
        for (recorded_at, from) in
            [("2026-11-28T23:59:59+09:00", "2026-11-28"), ("2026-11-29T00:00:00+09:00", "2026-11-29")]
        {
            let mut follow_ups = on_personnel(&cause(TENANT, recorded_at), &card(Some(EMPLOYEE), Some(hired)));
            let tenant = read(follow_ups.remove(0));
            assert_eq!((tenant.category, tenant.stream_id), (Tenant::CATEGORY, TENANT));
            let open = tenant.then_with(&seoul());
            let (ledger, command_id, command) = open[0].as_command::<LeaveLedger>().expect("an opening");
            assert_eq!((ledger, command_id), (EMPLOYEE, Uuid::new_v5(&EMPLOYEE, b"open-leave-ledger")));
            assert_eq!(command.action, LeaveAction::Open { hire_date: hired, from: date(from) }, "{recorded_at}");
        }
        assert!(on_personnel(&cause(TENANT, "2026-11-28T09:00:00+09:00"), &card(None, Some(hired))).is_empty());
        assert!(on_personnel(&cause(TENANT, "2026-11-28T09:00:00+09:00"), &card(Some(EMPLOYEE), None)).is_empty());
    }

    #[test]
    fn rule_h4_a_change_of_a_ledger_sets_its_timer_for_midnight_of_the_next_due_day_and_the_timer_settles_it() {
        let opened = LeaveEvent::Opened { hire_date: date("2026-03-02"), from: date("2026-11-28") };
        let ledger = LeaveLedger::default().evolve(&opened);
        let due_day = ledger.next_due().expect("a grant is due");
        let mut follow_ups = on_ledger(&cause(EMPLOYEE, "2026-11-28T09:00:00+09:00"), &opened);
        let tenant = read(read(follow_ups.remove(0)).then_with(&ledger).remove(0));
        let schedule = tenant.then_with(&seoul());
        let (timer, command_id, command) = schedule[0].as_command::<Timer>().expect("a timer");
        assert_eq!(timer, Uuid::new_v5(&EMPLOYEE, format!("leave-settle-{due_day}").as_bytes()));
        assert_eq!(command_id, Uuid::new_v5(&timer, b"schedule"));
        let TimerCommand::Schedule { due, kind, payload, .. } = command else { panic!("{command:?}") };
        assert_eq!((*due, kind.as_str()), (seoul().time_zone.midnight(due_day), LEAVE_SETTLE));
        assert_eq!(due.with_timezone(&chrono_tz::Asia::Seoul).time(), chrono::NaiveTime::MIN);

        let fired = Uuid::from_u128(77);
        let settle = on_settle(payload, fired);
        let (ledger_id, command_id, command) = settle[0].as_command::<LeaveLedger>().expect("a settlement");
        assert_eq!((ledger_id, command_id), (EMPLOYEE, fired));
        assert_eq!(command.action, LeaveAction::Settle { today: due_day });
        // A ledger with nothing due sets no timer.
        assert!(
            read(on_ledger(&cause(EMPLOYEE, "2026-11-28T09:00:00+09:00"), &opened).remove(0))
                .then_with(&LeaveLedger::default())
                .is_empty()
        );
    }

    #[test]
    fn rule_h6_only_the_events_that_end_a_submission_release_and_each_reservation_has_one_release_id() {
        let document = Uuid::from_u128(7);
        let recalled = DocumentEvent::Recalled {
            by: EMPLOYEE,
            reason: "typo".into(),
            notify: vec![],
            at: at("2026-11-28T09:00:00+09:00"),
        };
        assert!(ends_submission(&recalled));
        assert!(!ends_submission(&DocumentEvent::Completed { at: at("2026-11-28T09:00:00+09:00") }));
        // A document that is no leave request releases nothing.
        let follow_ups = on_document(&cause(document, "2026-11-28T09:00:00+09:00"), &recalled);
        assert!(read(follow_ups.into_iter().next().unwrap()).then_with(&Document::default()).is_empty());
        let reservation = Uuid::from_u128(8);
        let (ledger, command_id, command) =
            release(EMPLOYEE, reservation).as_command::<LeaveLedger>().map(|(l, c, cmd)| (l, c, cmd.clone())).unwrap();
        assert_eq!((ledger, command_id), (EMPLOYEE, Uuid::new_v5(&reservation, b"release-leave")));
        assert_eq!(command.action, LeaveAction::Release { reservation });
    }
}
