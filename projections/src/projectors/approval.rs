//! E-approval read models (rules A1–A9): forms and settings, absences,
//! documents with their history, and the document boxes (rule A8).
//!
//! A document row keeps the document's state as the domain evolves it, so
//! the boxes it sits in and who may read it come from the domain's rules
//! (`Document::placements`, `Document::access`). After each event the
//! projector files the document in the boxes it is in now and takes it out
//! of the ones it left.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::Aggregate;
use domain::approval::{
    Absence, AbsenceEvent, Absences, Access, ApprovalSettings, ApprovalSetup, ApprovalSetupEvent, DocBox, Document,
    DocumentEvent, Form, Owner,
};
use serde::{Deserialize, Serialize};
use store::RecordedEvent;
use uuid::Uuid;

use super::unreadable;
use crate::{ProjectionError, Projector, ReadModelStore, Table, Transaction};

/// A registered absence of a user (rule A4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbsenceRow {
    pub id: Uuid,
    #[serde(flatten)]
    pub absence: Absence,
}

/// A document: its state as the domain evolves it, who may read it, and
/// the box item keys it is filed under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentRow {
    pub id: Uuid,
    pub document: Document,
    pub access: Access,
    pub boxes: BTreeSet<String>,
}

/// A document in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BoxItemRow {
    pub document_id: Uuid,
}

/// How many documents a list holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoxCountRow {
    pub count: i64,
}

/// What was done to a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HistoryAction {
    Submitted,
    Resubmitted,
    Approved,
    ApprovedFinal,
    ApprovedAhead,
    Rejected,
    Held,
    ReviewConfirmed,
    Agreed,
    AgreementRefused,
    Completed,
    Received,
    Recalled,
    Cancelled,
    /// A deleted user's places given to another (rule U1).
    Reassigned,
}

impl HistoryAction {
    /// The action's name, as the row spells it.
    pub fn name(self) -> &'static str {
        match self {
            HistoryAction::Submitted => "SUBMITTED",
            HistoryAction::Resubmitted => "RESUBMITTED",
            HistoryAction::Approved => "APPROVED",
            HistoryAction::ApprovedFinal => "APPROVED_FINAL",
            HistoryAction::ApprovedAhead => "APPROVED_AHEAD",
            HistoryAction::Rejected => "REJECTED",
            HistoryAction::Held => "HELD",
            HistoryAction::ReviewConfirmed => "REVIEW_CONFIRMED",
            HistoryAction::Agreed => "AGREED",
            HistoryAction::AgreementRefused => "AGREEMENT_REFUSED",
            HistoryAction::Completed => "COMPLETED",
            HistoryAction::Received => "RECEIVED",
            HistoryAction::Recalled => "RECALLED",
            HistoryAction::Cancelled => "CANCELLED",
            HistoryAction::Reassigned => "REASSIGNED",
        }
    }
}

/// One action of a document's history: what was done, by whom, for whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRow {
    pub action: HistoryAction,
    /// None for the completion itself.
    pub by: Option<Uuid>,
    /// The absent approver a delegate acted for (대결).
    pub on_behalf_of: Option<Uuid>,
    /// For a reassignment: the deleted user, and who took their places.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassigned: Option<(Uuid, Uuid)>,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
    /// The version of the document the action was on.
    pub version: u32,
}

/// `tenant/form id` → a form in use.
pub const APPROVAL_FORMS: Table<Form> = Table::new("approval_forms");
/// `tenant` → the approval settings, once changed.
pub const APPROVAL_SETTINGS: Table<ApprovalSettings> = Table::new("approval_settings");
/// `tenant/user/absence id` → an absence.
pub const APPROVAL_ABSENCES: Table<AbsenceRow> = Table::new("approval_absences");
/// `tenant/document id` → a document.
pub const APPROVAL_DOCUMENTS: Table<DocumentRow> = Table::new("approval_documents");
/// `<list key>/<inverted time>/document id` → a document in a list.
pub const APPROVAL_BOX_ITEMS: Table<BoxItemRow> = Table::new("approval_box_items");
/// `<list key>` → how many documents the list holds (no row: none).
pub const APPROVAL_BOX_COUNTS: Table<BoxCountRow> = Table::new("approval_box_counts");
/// `tenant/document id/<stream version>` → one action of the history.
pub const APPROVAL_HISTORY: Table<HistoryRow> = Table::new("approval_history");

const TABLES: &[&str] = &[
    APPROVAL_FORMS.name(),
    APPROVAL_SETTINGS.name(),
    APPROVAL_ABSENCES.name(),
    APPROVAL_DOCUMENTS.name(),
    APPROVAL_BOX_ITEMS.name(),
    APPROVAL_BOX_COUNTS.name(),
    APPROVAL_HISTORY.name(),
];

/// The most rows one read takes: more than a tenant holds.
const MAX_ROWS: usize = 1_000_000;

/// A list of documents, newest first: a box of a user or a department
/// (rule A8), or every submitted document of the tenant (for document
/// admins, rule A6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentList {
    Box(Owner, DocBox),
    Submitted,
}

impl DocumentList {
    /// The key of the list's count; its items' keys begin with it and `/`.
    /// Owners are `u:<user>` and `d:<department>`; the submitted documents
    /// are `all/submitted`.
    fn key(self, tenant: Uuid) -> String {
        match self {
            DocumentList::Box(owner, kind) => {
                let owner = match owner {
                    Owner::User(u) => format!("u:{u}"),
                    Owner::Department(d) => format!("d:{d}"),
                };
                format!("{tenant}/{owner}/{}", box_name(kind))
            }
            DocumentList::Submitted => format!("{tenant}/all/submitted"),
        }
    }

    /// The prefix of the list's items.
    pub fn items_prefix(self, tenant: Uuid) -> String {
        format!("{}/", self.key(tenant))
    }
}

/// The name of a box in keys.
fn box_name(kind: DocBox) -> &'static str {
    match kind {
        DocBox::Drafts => "drafts",
        DocBox::Pending => "pending",
        DocBox::InProgress => "in_progress",
        DocBox::Completed => "completed",
        DocBox::Rejected => "rejected",
        DocBox::Recalled => "recalled",
        DocBox::Received => "received",
        DocBox::Reference => "reference",
        DocBox::PostReview => "post_review",
        DocBox::Department => "department",
        DocBox::DepartmentReceived => "department_received",
    }
}

pub fn form_key(tenant: Uuid, form: Uuid) -> String {
    format!("{tenant}/{form}")
}

pub fn settings_key(tenant: Uuid) -> String {
    tenant.to_string()
}

pub fn absence_key(tenant: Uuid, user: Uuid, absence: Uuid) -> String {
    format!("{tenant}/{user}/{absence}")
}

pub fn document_key(tenant: Uuid, document: Uuid) -> String {
    format!("{tenant}/{document}")
}

/// The prefix of every row of a tenant in the tables keyed by tenant
/// first.
fn tenant_prefix(tenant: Uuid) -> String {
    format!("{tenant}/")
}

/// A form in use.
///
/// # Errors
/// When the store fails or the row is not a form.
pub async fn form(store: &dyn ReadModelStore, tenant: Uuid, id: Uuid) -> Result<Option<Form>, ProjectionError> {
    APPROVAL_FORMS.get(store, &form_key(tenant, id)).await
}

/// Every form in use, in no particular order (rule A9).
///
/// # Errors
/// When the store fails or a row is not a form.
pub async fn forms(store: &dyn ReadModelStore, tenant: Uuid) -> Result<Vec<Form>, ProjectionError> {
    let rows = APPROVAL_FORMS.scan(store, &tenant_prefix(tenant), None, MAX_ROWS).await?;
    Ok(rows.into_iter().map(|(_, form)| form).collect())
}

/// The approval settings: the defaults until an admin changes them.
///
/// # Errors
/// When the store fails or the row is not settings.
pub async fn settings(store: &dyn ReadModelStore, tenant: Uuid) -> Result<ApprovalSettings, ProjectionError> {
    Ok(APPROVAL_SETTINGS.get(store, &settings_key(tenant)).await?.unwrap_or_default())
}

/// One absence of `user`.
///
/// # Errors
/// When the store fails or the row is not an absence.
pub async fn absence(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    user: Uuid,
    id: Uuid,
) -> Result<Option<AbsenceRow>, ProjectionError> {
    APPROVAL_ABSENCES.get(store, &absence_key(tenant, user, id)).await
}

/// The absences `user` registered, as the domain keeps them.
///
/// # Errors
/// When the store fails or a row is not an absence.
pub async fn absences_of(store: &dyn ReadModelStore, tenant: Uuid, user: Uuid) -> Result<Absences, ProjectionError> {
    let rows = APPROVAL_ABSENCES.scan(store, &format!("{tenant}/{user}/"), None, MAX_ROWS).await?;
    Ok(Absences { absences: rows.into_iter().map(|(_, row)| (row.id, row.absence)).collect() })
}

/// Every absence of the tenant, with the user who registered it.
///
/// # Errors
/// When the store fails, a row is not an absence or its key names no user.
pub async fn absences(store: &dyn ReadModelStore, tenant: Uuid) -> Result<Vec<(Uuid, AbsenceRow)>, ProjectionError> {
    let rows = APPROVAL_ABSENCES.scan(store, &tenant_prefix(tenant), None, MAX_ROWS).await?;
    rows.into_iter()
        .map(|(key, row)| {
            let user =
                key.split('/').nth(1).and_then(|u| u.parse::<Uuid>().ok()).ok_or_else(|| ProjectionError::Row {
                    table: APPROVAL_ABSENCES.name(),
                    key: key.clone(),
                    reason: "the key names no user".into(),
                })?;
            Ok((user, row))
        })
        .collect()
}

/// One document.
///
/// # Errors
/// When the store fails or the row is not a document.
pub async fn document(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<DocumentRow>, ProjectionError> {
    APPROVAL_DOCUMENTS.get(store, &document_key(tenant, id)).await
}

/// Every document of the tenant, drafts included, in no particular order.
///
/// # Errors
/// When the store fails or a row is not a document.
pub async fn documents(store: &dyn ReadModelStore, tenant: Uuid) -> Result<Vec<DocumentRow>, ProjectionError> {
    let rows = APPROVAL_DOCUMENTS.scan(store, &tenant_prefix(tenant), None, MAX_ROWS).await?;
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

/// A document's history, oldest first.
///
/// # Errors
/// When the store fails or a row is not a history entry.
pub async fn history(store: &dyn ReadModelStore, tenant: Uuid, id: Uuid) -> Result<Vec<HistoryRow>, ProjectionError> {
    let prefix = format!("{}/", document_key(tenant, id));
    let rows = APPROVAL_HISTORY.scan(store, &prefix, None, MAX_ROWS).await?;
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

/// How many documents a list holds.
///
/// # Errors
/// When the store fails or the row is not a count.
pub async fn list_count(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    list: DocumentList,
) -> Result<usize, ProjectionError> {
    let count = APPROVAL_BOX_COUNTS.get(store, &list.key(tenant)).await?;
    Ok(count.map_or(0, |c| usize::try_from(c.count).unwrap_or(0)))
}

/// The documents of a list, newest first.
///
/// # Errors
/// When the store fails or a row is not a list item.
pub async fn list_documents(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    list: DocumentList,
) -> Result<Vec<Uuid>, ProjectionError> {
    let rows = APPROVAL_BOX_ITEMS.scan(store, &list.items_prefix(tenant), None, MAX_ROWS).await?;
    Ok(rows.into_iter().map(|(_, item)| item.document_id).collect())
}

pub struct ApprovalProjector;

/// Newest first.
fn sort_key(at: DateTime<Utc>, document: Uuid) -> String {
    format!("{:019}/{document}", i64::MAX - at.timestamp_millis())
}

/// The keys the document is filed under in its current state.
fn filed_under(tenant: Uuid, id: Uuid, document: &Document) -> BTreeSet<String> {
    let Some(at) = document.sorted_at() else { return BTreeSet::new() };
    let sort = sort_key(at, id);
    let mut lists: Vec<DocumentList> =
        document.placements().into_iter().map(|(owner, kind)| DocumentList::Box(owner, kind)).collect();
    if document.submitted_at.is_some() {
        lists.push(DocumentList::Submitted);
    }
    lists.into_iter().map(|list| format!("{}{sort}", list.items_prefix(tenant))).collect()
}

/// The list a box item key belongs to: the key without its last two parts.
fn count_key(item: &str) -> &str {
    let mut end = item.len();
    for _ in 0..2 {
        end = item[..end].rfind('/').unwrap_or(0);
    }
    &item[..end]
}

async fn add_to_count(tx: &mut Transaction<'_>, key: &str, delta: i64) -> Result<(), ProjectionError> {
    let count = APPROVAL_BOX_COUNTS.read(tx, key).await?.map_or(0, |c| c.count) + delta;
    if count <= 0 {
        APPROVAL_BOX_COUNTS.delete(tx, key.to_owned());
        Ok(())
    } else {
        APPROVAL_BOX_COUNTS.put(tx, key.to_owned(), &BoxCountRow { count })
    }
}

/// One line of a document's history: what was done, by whom, for whom.
pub fn history_row(event: &DocumentEvent, version: u32) -> Option<HistoryRow> {
    use DocumentEvent as E;
    use HistoryAction as A;
    let entry = |action, by: Uuid, on_behalf_of: Option<Uuid>, comment: &Option<String>, at: &DateTime<Utc>| {
        Some(HistoryRow {
            action,
            by: Some(by),
            on_behalf_of,
            reassigned: None,
            comment: comment.clone(),
            at: *at,
            version,
        })
    };
    let behalf = |approver: &Uuid, by: &Uuid| (approver != by).then_some(*approver);
    match event {
        E::DraftSaved { .. } | E::DraftDiscarded { .. } | E::Numbered { .. } => None,
        E::Submitted { drafter, at, version: v, .. } => {
            let action = if *v > 1 { A::Resubmitted } else { A::Submitted };
            entry(action, *drafter, None, &None, at)
        }
        E::Approved { approver, by, comment, at } => entry(A::Approved, *by, behalf(approver, by), comment, at),
        E::ApprovedFinal { approver, by, comment, at, .. } => {
            entry(A::ApprovedFinal, *by, behalf(approver, by), comment, at)
        }
        E::ApprovedAhead { approver, comment, at, .. } => entry(A::ApprovedAhead, *approver, None, comment, at),
        E::Rejected { approver, by, comment, at } => entry(A::Rejected, *by, behalf(approver, by), comment, at),
        E::Held { approver, comment, at } => entry(A::Held, *approver, None, comment, at),
        E::ReviewConfirmed { approver, comment, at } => entry(A::ReviewConfirmed, *approver, None, comment, at),
        E::Agreed { agreer, comment, at } => entry(A::Agreed, *agreer, None, comment, at),
        E::AgreementRefused { agreer, comment, at } => entry(A::AgreementRefused, *agreer, None, comment, at),
        E::Completed { at } => Some(HistoryRow {
            action: A::Completed,
            by: None,
            on_behalf_of: None,
            reassigned: None,
            comment: None,
            at: *at,
            version,
        }),
        E::Received { by, at, .. } => entry(A::Received, *by, None, &None, at),
        E::Recalled { by, reason, at, .. } => entry(A::Recalled, *by, None, &Some(reason.clone()), at),
        E::Cancelled { by, reason, at, .. } => entry(A::Cancelled, *by, None, &Some(reason.clone()), at),
        E::Reassigned { from, to, by, at } => Some(HistoryRow {
            action: A::Reassigned,
            by: Some(*by),
            on_behalf_of: None,
            reassigned: Some((*from, *to)),
            comment: None,
            at: *at,
            version,
        }),
    }
}

impl ApprovalProjector {
    async fn document(
        &self,
        tx: &mut Transaction<'_>,
        event: &RecordedEvent,
        tenant: Uuid,
    ) -> Result<(), ProjectionError> {
        let id = event.stream_id().ok_or_else(|| unreadable(event, "a document stream without an id"))?;
        let decoded = event.decode::<DocumentEvent>().map_err(|e| unreadable(event, e))?;
        let key = document_key(tenant, id);
        let (before, old_keys) = match APPROVAL_DOCUMENTS.read(tx, &key).await? {
            Some(row) => (row.document, row.boxes),
            None => (Document::default(), BTreeSet::new()),
        };
        let document = before.evolve(&decoded);
        if let Some(entry) = history_row(&decoded, document.version) {
            APPROVAL_HISTORY.put(tx, format!("{key}/{:010}", event.version), &entry)?;
        }
        let new_keys = filed_under(tenant, id, &document);
        for gone in old_keys.difference(&new_keys) {
            APPROVAL_BOX_ITEMS.delete(tx, gone.clone());
            add_to_count(tx, count_key(gone), -1).await?;
        }
        for added in new_keys.difference(&old_keys) {
            APPROVAL_BOX_ITEMS.put(tx, added.clone(), &BoxItemRow { document_id: id })?;
            add_to_count(tx, count_key(added), 1).await?;
        }
        let access = document.access();
        APPROVAL_DOCUMENTS.put(tx, key, &DocumentRow { id, document, access, boxes: new_keys })
    }
}

#[async_trait]
impl Projector for ApprovalProjector {
    fn name(&self) -> &'static str {
        "approval.v1"
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError> {
        let category = event.category();
        let relevant = [Document::CATEGORY, ApprovalSetup::CATEGORY, Absences::CATEGORY].contains(&category);
        if !relevant {
            return Ok(());
        }
        let tenant = event.metadata.tenant.ok_or_else(|| unreadable(event, "no tenant in metadata"))?;
        if category == Document::CATEGORY {
            return self.document(tx, event, tenant).await;
        }
        if category == ApprovalSetup::CATEGORY {
            match event.decode::<ApprovalSetupEvent>().map_err(|e| unreadable(event, e))? {
                ApprovalSetupEvent::FormCreated { form } | ApprovalSetupEvent::FormEdited { form } => {
                    APPROVAL_FORMS.put(tx, form_key(tenant, form.id), &form)?;
                }
                ApprovalSetupEvent::FormRetired { form_id } => APPROVAL_FORMS.delete(tx, form_key(tenant, form_id)),
                ApprovalSetupEvent::SettingsChanged { settings } => {
                    APPROVAL_SETTINGS.put(tx, settings_key(tenant), &settings)?;
                }
            }
            return Ok(());
        }
        let user = event.stream_id().ok_or_else(|| unreadable(event, "an absence stream without an id"))?;
        match event.decode::<AbsenceEvent>().map_err(|e| unreadable(event, e))? {
            AbsenceEvent::Registered { absence_id, absence } => {
                let row = AbsenceRow { id: absence_id, absence };
                APPROVAL_ABSENCES.put(tx, absence_key(tenant, user, absence_id), &row)?;
            }
            AbsenceEvent::Withdrawn { absence_id } => {
                APPROVAL_ABSENCES.delete(tx, absence_key(tenant, user, absence_id));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_item_counts_in_its_box() {
        let item = format!("t/u:x/pending/{}", sort_key(Utc::now(), Uuid::nil()));
        assert_eq!(count_key(&item), "t/u:x/pending");
    }

    #[test]
    fn a_box_item_is_filed_under_its_list() {
        let tenant = Uuid::nil();
        let list = DocumentList::Box(Owner::User(tenant), DocBox::InProgress);
        let item = format!("{}{}", list.items_prefix(tenant), sort_key(Utc::now(), tenant));
        assert_eq!(count_key(&item), list.key(tenant));
    }

    #[test]
    fn history_actions_are_named_as_stored() {
        use HistoryAction as A;
        let all = [
            A::Submitted,
            A::Resubmitted,
            A::Approved,
            A::ApprovedFinal,
            A::ApprovedAhead,
            A::Rejected,
            A::Held,
            A::ReviewConfirmed,
            A::Agreed,
            A::AgreementRefused,
            A::Completed,
            A::Received,
            A::Recalled,
            A::Cancelled,
        ];
        for action in all {
            assert_eq!(serde_json::to_value(action).unwrap(), serde_json::json!(action.name()));
        }
    }
}
