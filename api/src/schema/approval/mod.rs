//! E-approval over GraphQL (rules A1–A11): forms and settings for admins;
//! drafting, submitting and acting on documents; absences; the document
//! boxes. A user reads only documents they have a part in (the domain's
//! `Document::access`), or every document as a document admin.

mod mutation;
mod query;
pub mod types;

use std::collections::BTreeSet;

use async_graphql::Context;
use async_graphql::connection::{Connection, Edge};
use domain::DomainError;
use domain::approval::{Access, Document, DocumentAction, DocumentCommand};
use domain::values::Role;
use projections::projectors::{
    APPROVAL_ABSENCES, APPROVAL_BOX_COUNTS, APPROVAL_BOX_ITEMS, APPROVAL_DOCUMENTS, APPROVAL_HISTORY, ORG_DEPARTMENTS,
    ORG_MEMBERS, box_key, box_name, document_key, owner_name,
};
use serde_json::Value;
use uuid::Uuid;

pub use mutation::ApprovalMutation;
pub use query::ApprovalQuery;
use types::{ApprovalDocument, HistoryEntry};

use super::pagination::{Counted, Page, PageRequest, counted_page};
use super::{Caller, caller_context, services};
use crate::app::Services;
use crate::errors::{ApiError, ApiResult};

/// The most history entries or departments one read takes.
const MAX_ROWS: usize = 10_000;

/// A document's state and who may read it, from the read model.
async fn stored(services: &Services, tenant: Uuid, id: Uuid) -> ApiResult<Option<(Document, Access)>> {
    let Some(row) = services.read_models().get(APPROVAL_DOCUMENTS, &document_key(tenant, id)).await? else {
        return Ok(None);
    };
    let document = serde_json::from_value(row["document"].clone()).map_err(ApiError::internal)?;
    let access = serde_json::from_value(row["access"].clone()).map_err(ApiError::internal)?;
    Ok(Some((document, access)))
}

/// The department the user is a member of.
async fn department_of(services: &Services, tenant: Uuid, user: Uuid) -> ApiResult<Option<Uuid>> {
    let row = services.read_models().get(ORG_MEMBERS, &format!("{tenant}/{user}")).await?;
    Ok(row.and_then(|r| serde_json::from_value(r["departmentId"].clone()).ok()))
}

/// The departments the user heads or manages the box of.
async fn handled_by(services: &Services, tenant: Uuid, user: Uuid) -> ApiResult<BTreeSet<Uuid>> {
    let rows = services.read_models().scan(ORG_DEPARTMENTS, &format!("{tenant}/"), None, MAX_ROWS).await?;
    let mut handled = BTreeSet::new();
    for (_, row) in rows {
        let lists = [&row["heads"], &row["boxManagers"]];
        if lists.iter().any(|l| l.as_array().is_some_and(|a| a.contains(&Value::String(user.to_string())))) {
            handled.extend(serde_json::from_value::<Uuid>(row["id"].clone()).ok());
        }
    }
    Ok(handled)
}

/// Whether the caller may read a document with `access`.
async fn may_read(services: &Services, caller: &Caller, access: &Access) -> ApiResult<bool> {
    if access.users.contains(&caller.user.id) || caller.has(Role::DocumentAdmin) {
        return Ok(true);
    }
    if access.member_departments.is_empty() && access.handler_departments.is_empty() {
        return Ok(false);
    }
    let department = department_of(services, caller.tenant, caller.user.id).await?;
    let handles = if access.handler_departments.is_empty() {
        BTreeSet::new()
    } else {
        handled_by(services, caller.tenant, caller.user.id).await?
    };
    Ok(access.lets(caller.user.id, department, &handles))
}

/// The document, when the caller may read it; otherwise, as when there is
/// none, `NOT_FOUND`, so that nobody learns of documents they have no part
/// in.
async fn readable(services: &Services, caller: &Caller, id: Uuid) -> ApiResult<ApprovalDocument> {
    let document = open(services, caller, id).await?.ok_or_else(|| ApiError::not_found(format!("document {id}")))?;
    Ok(ApprovalDocument::new(caller.tenant, id, &document))
}

/// The document's state, when the caller may read it.
async fn open(services: &Services, caller: &Caller, id: Uuid) -> ApiResult<Option<Document>> {
    let Some((document, access)) = stored(services, caller.tenant, id).await? else { return Ok(None) };
    let allowed = may_read(services, caller, &access).await? || delegate_now(services, caller, &document).await?;
    Ok(allowed.then_some(document))
}

/// Whether the caller may read document `id`, as `document(id)` decides.
pub(crate) async fn may_open(services: &Services, caller: &Caller, id: Uuid) -> ApiResult<bool> {
    Ok(open(services, caller, id).await?.is_some())
}

/// Whether the caller may act now for the approver whose turn it is (대결,
/// rule A4), and so read the document.
async fn delegate_now(services: &Services, caller: &Caller, document: &Document) -> ApiResult<bool> {
    let Some(slot) = document.line.current_approver() else { return Ok(false) };
    let approver = document.line.approvers[slot].user;
    let absences = services.commands.load::<domain::approval::Absences>(approver).await?.state;
    Ok(absences.delegate_may_act(caller.user.id, services.clock.now()))
}

/// The documents waiting for approvers whose registered absence covers now
/// with the caller as their delegate (대결, rule A4), with the approver.
async fn delegated(services: &Services, caller: &Caller) -> ApiResult<Vec<(Uuid, ApprovalDocument)>> {
    let now = services.clock.now();
    let rows = services.read_models().scan(APPROVAL_ABSENCES, &format!("{}/", caller.tenant), None, MAX_ROWS).await?;
    let mut absent = BTreeSet::new();
    for (key, row) in rows {
        let absence: domain::approval::Absence = serde_json::from_value(row).map_err(ApiError::internal)?;
        let user = key.split('/').nth(1).and_then(|u| u.parse::<Uuid>().ok());
        if let Some(user) = user.filter(|_| absence.lets(caller.user.id, now)) {
            absent.insert(user);
        }
    }
    let mut out = Vec::new();
    for approver in absent {
        let owner = owner_name(domain::approval::Owner::User(approver));
        let prefix = format!("{}/", box_key(caller.tenant, &owner, box_name(domain::approval::DocBox::Pending)));
        for (_, item) in services.read_models().scan(APPROVAL_BOX_ITEMS, &prefix, None, MAX_ROWS).await? {
            let id: Uuid = serde_json::from_value(item["documentId"].clone()).map_err(ApiError::internal)?;
            let Some((document, _)) = stored(services, caller.tenant, id).await? else { continue };
            let turn = document.line.current_approver().map(|slot| document.line.approvers[slot].user);
            if turn == Some(approver) {
                out.push((approver, ApprovalDocument::new(caller.tenant, id, &document)));
            }
        }
    }
    Ok(out)
}

/// A document's history, oldest first.
pub(crate) async fn history(services: &Services, tenant: Uuid, id: Uuid) -> ApiResult<Vec<HistoryEntry>> {
    let prefix = format!("{}/", document_key(tenant, id));
    let rows = services.read_models().scan(APPROVAL_HISTORY, &prefix, None, MAX_ROWS).await?;
    rows.into_iter()
        .map(|(_, row)| {
            let mut entry: HistoryEntry = serde_json::from_value(row).map_err(ApiError::internal)?;
            entry.tenant = tenant;
            Ok(entry)
        })
        .collect()
}

/// One page of a box: `owner/box` under the tenant.
async fn box_page(
    services: &Services,
    tenant: Uuid,
    box_key: &str,
    request: &PageRequest,
) -> ApiResult<Page<ApprovalDocument>> {
    let count = services.read_models().get(APPROVAL_BOX_COUNTS, box_key).await?;
    let total = count.and_then(|c| c["count"].as_u64()).unwrap_or(0) as usize;
    let prefix = format!("{box_key}/");
    let ids = counted_page(services, projections::Table::<serde_json::Value>::new(APPROVAL_BOX_ITEMS), &prefix, request, total, |row| {
        serde_json::from_value::<Uuid>(row["documentId"].clone()).map_err(ApiError::internal)
    })
    .await?;
    let mut page = Connection::with_additional_fields(
        ids.has_previous_page,
        ids.has_next_page,
        Counted { total_count: ids.additional_fields.total_count },
    );
    for edge in ids.edges {
        // The box item and its document row are written in one batch.
        if let Some((document, _)) = stored(services, tenant, edge.node).await? {
            page.edges.push(Edge::new(edge.cursor, ApprovalDocument::new(tenant, edge.node, &document)));
        }
    }
    Ok(page)
}

/// Runs a document command as the caller, with what follows it (see
/// `Services::follow_document`) done before the answer.
async fn act(
    ctx: &Context<'_>,
    caller: &Caller,
    id: Uuid,
    command_id: Option<Uuid>,
    action: DocumentAction,
) -> ApiResult<ApprovalDocument> {
    let services = services(ctx);
    let context = caller_context(ctx, caller, command_id);
    let command = DocumentCommand { by: caller.user.id, action };
    let outcome = services.execute::<Document>(id, &context, command).await?;
    services.follow_document(caller.tenant, id, &outcome.events).await?;
    // The answer shows the document only to those who may read it (a
    // replayed command id is answered without its rules being asked again).
    readable(services, caller, id).await
}

/// The archive of a backup, for an admin of its company, within 30 days of
/// the request (rule A10).
///
/// # Errors
/// `UNAUTHENTICATED`, `FORBIDDEN`, `NOT_FOUND`, or `CONFLICT` once expired
/// or while it is being made.
pub(crate) async fn backup_archive(services: &Services, token: &str, id: Uuid) -> ApiResult<blobs::Blob> {
    let caller = super::authenticate(services, token).await?;
    caller.require_admin()?;
    let backups = services.commands.load_latest::<domain::approval::Backups>(caller.tenant).await?;
    let sha256 = backups.backup(id)?.download(services.clock.now())?;
    let blob = services.blobs.open(caller.tenant, sha256).await.map_err(ApiError::internal)?;
    blob.ok_or_else(|| ApiError::internal("the archive is missing from the blob store"))
}

fn invalid(field: &'static str, message: impl Into<String>) -> ApiError {
    DomainError::invalid(field, message).into()
}
