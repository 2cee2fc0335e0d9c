//! The projectors of the read models the API serves.

pub mod approval;
pub mod audit;
pub mod hr;
pub mod mailboxes;
pub mod organisation;
pub mod outbox;
pub mod tenants;
pub mod timers;
pub mod users;

pub use approval::{
    APPROVAL_ABSENCES, APPROVAL_BOX_COUNTS, APPROVAL_BOX_ITEMS, APPROVAL_DOCUMENTS, APPROVAL_FORMS, APPROVAL_HISTORY,
    APPROVAL_SETTINGS, AbsenceRow, ApprovalProjector, BoxCountRow, BoxItemRow, DocumentList, DocumentRow,
    HistoryAction, HistoryRow,
};
pub use hr::{CardRow, EntryKind, EntryRow, HR_CARDS, HrProjector, LEAVE_ENTRIES, LEAVE_LEDGERS, LedgerRow};
pub use organisation::{
    DepartmentRow, MemberRow, ORG_DEPARTMENTS, ORG_MEMBERS, ORG_POSITIONS, OrganisationProjector, PositionRow,
};

use domain::tenant::TenantEvent;
use store::RecordedEvent;
use uuid::Uuid;

use crate::ProjectionError;

fn unreadable(event: &RecordedEvent, reason: impl ToString) -> ProjectionError {
    ProjectionError::Event {
        position: event.position,
        event_type: event.event_type.clone(),
        reason: reason.to_string(),
    }
}

/// The tenant event carried by `event`, if it is one.
fn tenant_event(event: &RecordedEvent) -> Result<Option<(Uuid, TenantEvent)>, ProjectionError> {
    if event.category() != "tenant" {
        return Ok(None);
    }
    let tenant = event.metadata.tenant.ok_or_else(|| unreadable(event, "no tenant in metadata"))?;
    let decoded = event.decode::<TenantEvent>().map_err(|e| unreadable(event, e))?;
    Ok(Some((tenant, decoded)))
}
