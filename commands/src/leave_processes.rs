//! The process side of leave (rules H4, H6): a ledger opens for each
//! person with a mail account and a hire date; a durable timer settles it
//! on the next day something is due (a grant or a lapse), in the company's
//! time zone; a leave request reserves its days before it is submitted;
//! the final approval turns the reservation into the taking, a rejection,
//! cancellation or discard releases it, and the cancellation of an approved
//! one gives the days back. Command ids derive from what caused them, so
//! running a step twice does it once.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use domain::Actor;
use domain::approval::{Document, DocumentEvent};
use domain::hr::{LeaveAction, LeaveCommand, LeaveEvent, LeaveLedger, PersonnelEvent};
use domain::tenant::Tenant;
use domain::timer::{Timer, TimerCommand};
use serde::{Deserialize, Serialize};
use store::RecordedEvent;
use uuid::Uuid;

use crate::{CommandContext, CommandError, Commands, FiredTimer, TimerHandler};

/// The kind of the timers that settle leave ledgers.
pub const LEAVE_SETTLE: &str = "leave.settle";

/// What a settle timer carries.
#[derive(Debug, Serialize, Deserialize)]
struct Settle {
    employee: Uuid,
    today: NaiveDate,
}

/// A step of the leave process.
#[derive(Debug)]
pub(crate) enum LeaveReaction {
    Open { employee: Uuid, hire_date: NaiveDate, at: DateTime<Utc> },
    Schedule { employee: Uuid },
    Take { document: Uuid },
    Restore { document: Uuid },
    Release { document: Uuid },
}

/// The leave steps an event calls for.
pub(crate) fn reactions(event: &RecordedEvent) -> Vec<LeaveReaction> {
    match event.category() {
        "personnel" => match event.decode::<PersonnelEvent>() {
            Ok(PersonnelEvent::CardCreated { details, .. } | PersonnelEvent::CardUpdated { details, .. }) => {
                match (details.user, details.hire_date) {
                    (Some(employee), Some(hire_date)) => {
                        vec![LeaveReaction::Open { employee, hire_date, at: event.recorded_at }]
                    }
                    _ => vec![],
                }
            }
            _ => vec![],
        },
        // Every change can move the next due date (leave taken from a grant
        // leaves nothing to lapse), so each one sets the timer again; a
        // timer left for an earlier date settles nothing.
        "leave" => match (event.stream_id(), event.decode::<LeaveEvent>()) {
            (Some(employee), Ok(_)) => vec![LeaveReaction::Schedule { employee }],
            _ => vec![],
        },
        "document" => match (event.stream_id(), event.decode::<DocumentEvent>()) {
            (Some(document), Ok(DocumentEvent::Completed { .. })) => vec![LeaveReaction::Take { document }],
            (Some(document), Ok(DocumentEvent::Cancelled { restored_quarters: Some(_), .. })) => {
                vec![LeaveReaction::Restore { document }]
            }
            (Some(document), Ok(event)) if ends_submission(&event) => vec![LeaveReaction::Release { document }],
            _ => vec![],
        },
        _ => vec![],
    }
}

/// Whether a document event ends a submission without taking leave: a
/// rejection (by an approver or an agreer), a recall (which a leave request
/// is refused today), a cancellation in progress, a discarded draft (whose
/// submission never happened).
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

fn context(command_id: Uuid, tenant: Uuid) -> CommandContext {
    CommandContext::new(command_id, Actor::System, Some(tenant))
}

fn system(action: LeaveAction) -> LeaveCommand {
    LeaveCommand { by_hr_manager: false, action }
}

/// Carries out one step.
///
/// # Errors
/// When the store fails or a rule refuses.
pub(crate) async fn carry_out(
    commands: &Arc<Commands>,
    tenant: Uuid,
    reaction: &LeaveReaction,
) -> Result<(), CommandError> {
    match reaction {
        LeaveReaction::Open { employee, hire_date, at } => {
            open_ledger(commands, tenant, *employee, *hire_date, *at).await.map(drop)
        }
        LeaveReaction::Schedule { employee } => schedule(commands, tenant, *employee).await,
        LeaveReaction::Take { document } => take_leave(commands, tenant, *document).await.map(drop),
        LeaveReaction::Restore { document } => restore_leave(commands, tenant, *document).await.map(drop),
        LeaveReaction::Release { document } => release_leave(commands, tenant, *document).await.map(drop),
    }
}

/// Rule H4: opens the leave ledger of a person with a mail account and a
/// hire date; the law's grants count from `at`'s date in the company's time
/// zone. Gives the log position of the change (0: none).
///
/// # Errors
/// When the store fails.
pub async fn open_ledger(
    commands: &Arc<Commands>,
    tenant: Uuid,
    employee: Uuid,
    hire_date: NaiveDate,
    at: DateTime<Utc>,
) -> Result<u64, CommandError> {
    let tz = commands.load_latest::<Tenant>(tenant).await?.time_zone.tz();
    let from = at.with_timezone(&tz).date_naive();
    let command = system(LeaveAction::Open { hire_date, from });
    let id = Uuid::new_v5(&employee, b"open-leave-ledger");
    Ok(commands.execute::<LeaveLedger>(employee, &context(id, tenant), command).await?.position)
}

/// Sets the ledger's timer for the next day something is due, at midnight
/// in the company's time zone.
async fn schedule(commands: &Arc<Commands>, tenant: Uuid, employee: Uuid) -> Result<(), CommandError> {
    let ledger = commands.load::<LeaveLedger>(employee).await?.state;
    let Some(today) = ledger.next_due() else { return Ok(()) };
    let tz = commands.load_latest::<Tenant>(tenant).await?.time_zone.tz();
    let midnight = today.and_hms_opt(0, 0, 0).unwrap_or_default();
    let due = midnight.and_local_timezone(tz).earliest().map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc));
    let timer_id = Uuid::new_v5(&employee, format!("leave-settle-{today}").as_bytes());
    let payload = serde_json::json!(Settle { employee, today }).to_string();
    let command = TimerCommand::Schedule { timer_id, due, kind: LEAVE_SETTLE.into(), payload };
    let id = Uuid::new_v5(&timer_id, b"schedule");
    commands.execute::<Timer>(timer_id, &context(id, tenant), command).await.map(drop)
}

/// The handler that settles a ledger when its timer goes off.
pub fn leave_settle_handler(commands: Arc<Commands>) -> (String, TimerHandler) {
    let handler: TimerHandler = Arc::new(move |fired: FiredTimer| {
        let commands = commands.clone();
        Box::pin(async move {
            let Ok(payload) = serde_json::from_str::<Settle>(&fired.payload) else {
                tracing::error!(timer = %fired.timer_id, "a leave timer without its ledger; dropped");
                return Ok(());
            };
            let context = CommandContext::new(fired.command_id, Actor::System, fired.tenant);
            let command = system(LeaveAction::Settle { today: payload.today });
            commands.execute::<LeaveLedger>(payload.employee, &context, command).await.map(drop)
        })
    });
    (LEAVE_SETTLE.to_owned(), handler)
}

/// Rule H6: a completed leave request takes its days from its drafter's
/// ledger. Other documents are left alone. Gives the log position of the
/// change (0: none).
///
/// # Errors
/// When the store fails or a rule refuses.
pub async fn take_leave(commands: &Arc<Commands>, tenant: Uuid, document: Uuid) -> Result<u64, CommandError> {
    let state = commands.load_latest::<Document>(document).await?;
    let Some(quarters) = state.leave_quarters() else { return Ok(0) };
    let command = system(LeaveAction::Take { document, quarters });
    let id = Uuid::new_v5(&document, b"take-leave");
    Ok(commands.execute::<LeaveLedger>(state.drafter, &context(id, tenant), command).await?.position)
}

/// Rule H6: a cancelled approved leave request gives its days back. Gives
/// the log position of the change.
///
/// # Errors
/// When the store fails or a rule refuses.
pub async fn restore_leave(commands: &Arc<Commands>, tenant: Uuid, document: Uuid) -> Result<u64, CommandError> {
    let state = commands.load_latest::<Document>(document).await?;
    let command = system(LeaveAction::Restore { document });
    let id = Uuid::new_v5(&document, b"restore-leave");
    Ok(commands.execute::<LeaveLedger>(state.drafter, &context(id, tenant), command).await?.position)
}

/// Rule H6: whether `document` is now in its `submission`th submission by
/// `drafter` (in progress or completed). A request whose submission failed
/// keeps what it reserved when so (another request made that submission,
/// or the failure came after it was saved), and releases it otherwise.
///
/// # Errors
/// When the store fails.
pub async fn holds_submission(
    commands: &Arc<Commands>,
    drafter: Uuid,
    document: Uuid,
    submission: u32,
) -> Result<bool, CommandError> {
    let state = commands.load::<Document>(document).await?.state;
    Ok(state.drafter == drafter && state.version == submission && state.ended_submissions() < submission)
}

/// Rule H6: the command that releases `reservation`, with the one command
/// id every path that releases it uses (derived from the reservation, so
/// that a later reservation of the same document never meets an earlier
/// release in the command log).
pub fn release_reservation(tenant: Uuid, reservation: Uuid) -> (CommandContext, LeaveCommand) {
    let id = Uuid::new_v5(&reservation, b"release-leave");
    (context(id, tenant), system(LeaveAction::Release { reservation }))
}

/// Rule H6: releases what a leave request reserved for submissions that
/// are over ([`Document::ended_submissions`]), each reservation under its
/// own command id; a reservation released already answers with its
/// release. Other documents, and requests without a reservation, are left
/// alone. Gives the log position of the last release (0: none).
///
/// # Errors
/// When the store fails.
pub async fn release_leave(commands: &Arc<Commands>, tenant: Uuid, document: Uuid) -> Result<u64, CommandError> {
    let state = commands.load::<Document>(document).await?.state;
    if !state.is_leave_request() {
        return Ok(0);
    }
    let ledger = commands.load::<LeaveLedger>(state.drafter).await?.state;
    let mut position = 0;
    for reservation in ledger.reservations_up_to(document, state.ended_submissions()) {
        let (context, command) = release_reservation(tenant, reservation);
        position = position.max(commands.execute::<LeaveLedger>(state.drafter, &context, command).await?.position);
    }
    Ok(position)
}
