//! The projectors of the read models the API serves.

pub mod approval;
mod audit;
pub mod hr;
mod mailboxes;
pub mod organisation;
mod tenants;
mod users;

use std::sync::Arc;

pub use approval::{
    APPROVAL_ABSENCES, APPROVAL_BOX_COUNTS, APPROVAL_BOX_ITEMS, APPROVAL_DOCUMENTS, APPROVAL_FORMS, APPROVAL_HISTORY,
    APPROVAL_SETTINGS, AbsenceRow, ApprovalProjector, BoxCountRow, BoxItemRow, DocumentList, DocumentRow,
    HistoryAction, HistoryRow,
};
pub use audit::{AUDIT, AuditProjector, audit_key};
pub use hr::{CardRow, EntryKind, EntryRow, HR_CARDS, HrProjector, LEAVE_ENTRIES, LEAVE_LEDGERS, LedgerRow};
pub use mailboxes::{
    FOLDER_ITEMS, MAIL_ENTRIES, MAIL_FOLDERS, MAIL_FORWARDING, MAIL_TRACKING, MAILS, MailboxesProjector, NOTICE_SENDER,
    entry_key, folder_items_prefix, folder_key, mail_key,
};
pub use organisation::{
    DepartmentRow, MemberRow, ORG_DEPARTMENTS, ORG_MEMBERS, ORG_POSITIONS, OrganisationProjector, PositionRow,
};
pub use tenants::{TENANT_DOMAINS, TENANTS, TenantsProjector};
pub use users::{CREDENTIALS, USER_IDS, USERS, UsersProjector};

use domain::tenant::TenantEvent;
use store::RecordedEvent;
use uuid::Uuid;

use crate::{ProjectionError, Projector};

/// Every projector of the system, in the order they start.
pub fn all() -> Vec<Arc<dyn Projector>> {
    vec![
        Arc::new(TenantsProjector),
        Arc::new(UsersProjector),
        Arc::new(AuditProjector),
        Arc::new(MailboxesProjector),
        Arc::new(OrganisationProjector),
        Arc::new(ApprovalProjector),
        Arc::new(HrProjector),
    ]
}

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
