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
    AbsenceEvent, Absences, ApprovalSetup, ApprovalSetupEvent, DocBox, Document, DocumentEvent, Owner,
};
use serde_json::{Value, json};
use store::RecordedEvent;
use uuid::Uuid;

use super::unreadable;
use crate::{ProjectionError, Projector, Transaction};

/// `tenant/form id` → the form (`{ id, name, abbreviation, fields, ... }`).
pub const APPROVAL_FORMS: &str = "approval_forms";
/// `tenant` → the approval settings.
pub const APPROVAL_SETTINGS: &str = "approval_settings";
/// `tenant/user/absence id` → `{ id, from, to, reason, delegate }`.
pub const APPROVAL_ABSENCES: &str = "approval_absences";
/// `tenant/document id` → `{ id, document, access, boxes }`: the domain
/// state, who may read it, and the box keys it is filed under.
pub const APPROVAL_DOCUMENTS: &str = "approval_documents";
/// `tenant/owner/box/<inverted time>/document id` → `{ documentId }`;
/// owners are `u:<user>`, `d:<department>` and `all` (every submitted
/// document, for document admins).
pub const APPROVAL_BOX_ITEMS: &str = "approval_box_items";
/// `tenant/owner/box` → `{ count }`.
pub const APPROVAL_BOX_COUNTS: &str = "approval_box_counts";
/// `tenant/document id/<stream version>` → one action of the history.
pub const APPROVAL_HISTORY: &str = "approval_history";

/// The name of a box in keys and in the API.
pub fn box_name(kind: DocBox) -> &'static str {
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

/// The owner part of box keys.
pub fn owner_name(owner: Owner) -> String {
    match owner {
        Owner::User(u) => format!("u:{u}"),
        Owner::Department(d) => format!("d:{d}"),
    }
}

/// The owner of the list of every submitted document of a tenant.
pub const ALL_DOCUMENTS: &str = "all";

/// The prefix of one box's items, and the key of its count.
pub fn box_key(tenant: Uuid, owner: &str, kind: &str) -> String {
    format!("{tenant}/{owner}/{kind}")
}

pub fn document_key(tenant: Uuid, document: Uuid) -> String {
    format!("{tenant}/{document}")
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
    let mut keys: BTreeSet<String> = document
        .placements()
        .into_iter()
        .map(|(owner, kind)| format!("{}/{sort}", box_key(tenant, &owner_name(owner), box_name(kind))))
        .collect();
    if document.submitted_at.is_some() {
        keys.insert(format!("{}/{sort}", box_key(tenant, ALL_DOCUMENTS, "submitted")));
    }
    keys
}

/// The box a box item key belongs to: the key without its last two parts.
fn count_key(item: &str) -> &str {
    let mut end = item.len();
    for _ in 0..2 {
        end = item[..end].rfind('/').unwrap_or(0);
    }
    &item[..end]
}

async fn add_to_count(tx: &mut Transaction<'_>, key: &str, delta: i64) -> Result<(), ProjectionError> {
    let count = tx.get(APPROVAL_BOX_COUNTS, key).await?.and_then(|v| v["count"].as_i64()).unwrap_or(0) + delta;
    if count <= 0 {
        tx.delete(APPROVAL_BOX_COUNTS, key.to_owned());
    } else {
        tx.put(APPROVAL_BOX_COUNTS, key.to_owned(), json!({ "count": count }));
    }
    Ok(())
}

/// One line of a document's history: what was done, by whom, for whom.
fn history(event: &DocumentEvent, version: u32) -> Option<Value> {
    use DocumentEvent as E;
    let entry = |action: &str, by: Uuid, for_user: Option<Uuid>, comment: &Option<String>, at: &DateTime<Utc>| {
        Some(
            json!({ "action": action, "by": by, "onBehalfOf": for_user, "comment": comment, "at": at, "version": version }),
        )
    };
    let behalf = |approver: &Uuid, by: &Uuid| (approver != by).then_some(*approver);
    match event {
        E::DraftSaved { .. } | E::DraftDiscarded { .. } | E::Numbered { .. } => None,
        E::Submitted { drafter, at, version: v, .. } => {
            let action = if *v > 1 { "RESUBMITTED" } else { "SUBMITTED" };
            entry(action, *drafter, None, &None, at)
        }
        E::Approved { approver, by, comment, at } => entry("APPROVED", *by, behalf(approver, by), comment, at),
        E::ApprovedFinal { approver, by, comment, at, .. } => {
            entry("APPROVED_FINAL", *by, behalf(approver, by), comment, at)
        }
        E::ApprovedAhead { approver, comment, at, .. } => entry("APPROVED_AHEAD", *approver, None, comment, at),
        E::Rejected { approver, by, comment, at } => entry("REJECTED", *by, behalf(approver, by), comment, at),
        E::Held { approver, comment, at } => entry("HELD", *approver, None, comment, at),
        E::ReviewConfirmed { approver, comment, at } => entry("REVIEW_CONFIRMED", *approver, None, comment, at),
        E::Agreed { agreer, comment, at } => entry("AGREED", *agreer, None, comment, at),
        E::AgreementRefused { agreer, comment, at } => entry("AGREEMENT_REFUSED", *agreer, None, comment, at),
        E::Completed { at } => Some(json!({ "action": "COMPLETED", "by": null, "at": at, "version": version })),
        E::Received { by, at, .. } => entry("RECEIVED", *by, None, &None, at),
        E::Recalled { by, reason, at, .. } => entry("RECALLED", *by, None, &Some(reason.clone()), at),
        E::Cancelled { by, reason, at, .. } => entry("CANCELLED", *by, None, &Some(reason.clone()), at),
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
        let row = tx.get(APPROVAL_DOCUMENTS, &key).await?;
        let (before, old_keys): (Document, BTreeSet<String>) = match row {
            Some(row) => (
                serde_json::from_value(row["document"].clone()).map_err(|e| unreadable(event, e))?,
                serde_json::from_value(row["boxes"].clone()).map_err(|e| unreadable(event, e))?,
            ),
            None => (Document::default(), BTreeSet::new()),
        };
        let document = before.evolve(&decoded);
        if let Some(entry) = history(&decoded, document.version) {
            tx.put(APPROVAL_HISTORY, format!("{key}/{:010}", event.version), entry);
        }
        let new_keys = filed_under(tenant, id, &document);
        for gone in old_keys.difference(&new_keys) {
            tx.delete(APPROVAL_BOX_ITEMS, gone.clone());
            add_to_count(tx, count_key(gone), -1).await?;
        }
        for added in new_keys.difference(&old_keys) {
            tx.put(APPROVAL_BOX_ITEMS, added.clone(), json!({ "documentId": id }));
            add_to_count(tx, count_key(added), 1).await?;
        }
        let access = document.access();
        tx.put(APPROVAL_DOCUMENTS, key, json!({ "id": id, "document": document, "access": access, "boxes": new_keys }));
        Ok(())
    }
}

#[async_trait]
impl Projector for ApprovalProjector {
    fn name(&self) -> &'static str {
        "approval.v1"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            APPROVAL_FORMS,
            APPROVAL_SETTINGS,
            APPROVAL_ABSENCES,
            APPROVAL_DOCUMENTS,
            APPROVAL_BOX_ITEMS,
            APPROVAL_BOX_COUNTS,
            APPROVAL_HISTORY,
        ]
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
                    tx.put(APPROVAL_FORMS, format!("{tenant}/{}", form.id), json!(form));
                }
                ApprovalSetupEvent::FormRetired { form_id } => tx.delete(APPROVAL_FORMS, format!("{tenant}/{form_id}")),
                ApprovalSetupEvent::SettingsChanged { settings } => {
                    tx.put(APPROVAL_SETTINGS, tenant.to_string(), json!(settings));
                }
            }
            return Ok(());
        }
        let user = event.stream_id().ok_or_else(|| unreadable(event, "an absence stream without an id"))?;
        match event.decode::<AbsenceEvent>().map_err(|e| unreadable(event, e))? {
            AbsenceEvent::Registered { absence_id, absence } => {
                let mut row = json!(absence);
                row["id"] = json!(absence_id);
                tx.put(APPROVAL_ABSENCES, format!("{tenant}/{user}/{absence_id}"), row);
            }
            AbsenceEvent::Withdrawn { absence_id } => {
                tx.delete(APPROVAL_ABSENCES, format!("{tenant}/{user}/{absence_id}"));
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
}
