//! E-approval over GraphQL (rules A1–A11): forms and settings for admins;
//! drafting, submitting and acting on documents; absences; the document
//! boxes. A user reads only documents they have a part in (the domain's
//! `Document::access`), or every document as a document admin.

mod mutation;
mod query;
pub mod types;

use std::collections::BTreeSet;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::Context;
use async_graphql::connection::{Connection, Edge};
use commands::{AggregateHandle, Reaction};
use domain::DomainError;
use domain::approval::{Access, DocBox, Document, DocumentAction, DocumentCommand, Owner};
use domain::values::Role;
use projections::projectors::approval::{self as read, APPROVAL_BOX_ITEMS, DocumentList, DocumentRow};
use projections::projectors::organisation as chart;
use uuid::Uuid;

pub use mutation::ApprovalMutation;
pub use query::ApprovalQuery;
use types::{ApprovalDocument, HistoryEntry};

use super::pagination::{Counted, Page, PageRequest, counted_page};
use super::{Caller, backend, caller_context};
use crate::backend::Backend;
use crate::capabilities::Capability;
use crate::errors::{ApiError, ApiResult};
use crate::rest::{self, Download};

/// E-approval (rules A1–A11): setup, absences, documents, their numbers
/// and backups; numbering and recall notices follow documents; the backup
/// worker makes the archives.
pub(crate) fn capability() -> Capability {
    use domain::approval::{self, Absences, ApprovalSetup, Backups, DocumentNumbers};
    Capability {
        aggregates: vec![
            AggregateHandle::of::<ApprovalSetup>(),
            AggregateHandle::of::<Absences>(),
            AggregateHandle::of::<Document>(),
            AggregateHandle::of::<DocumentNumbers>(),
            AggregateHandle::of::<Backups>(),
        ],
        projectors: vec![Arc::new(read::ApprovalProjector)],
        reactions: || {
            vec![
                Reaction::on::<Document>(approval::reactions::on_document),
                Reaction::on::<DocumentNumbers>(approval::reactions::on_numbering),
            ]
        },
        workers: vec![crate::backups::WORKER],
        routes: Some(routes),
        ..Capability::new("approval")
    }
}

fn routes(config: &mut web::ServiceConfig) {
    config.service(rest::resource("/approval/backups/{id}", "GET").route(web::get().to(download_backup)));
}

/// `GET /approval/backups/{id}`: a backup archive (rule A10), for an admin,
/// within 30 days.
async fn download_backup(req: HttpRequest, backend: web::Data<Arc<Backend>>, id: web::Path<Uuid>) -> HttpResponse {
    let id = id.into_inner();
    rest::download(&req, |token| async move {
        let blob = backup_archive(&backend, &token, id).await?;
        Ok(Download { name: format!("approval-backup-{id}.zip"), content_type: "application/zip".into(), blob })
    })
    .await
}

/// A document's state and who may read it, from the read model.
async fn stored(backend: &Backend, tenant: Uuid, id: Uuid) -> ApiResult<Option<(Document, Access)>> {
    let row = read::document(backend.read_models(), tenant, id).await?;
    Ok(row.map(|DocumentRow { document, access, .. }| (document, access)))
}

/// The department the user is a member of.
async fn department_of(backend: &Backend, tenant: Uuid, user: Uuid) -> ApiResult<Option<Uuid>> {
    Ok(chart::member(backend.read_models(), tenant, user).await?.map(|m| m.department_id))
}

/// The departments the user heads or manages the box of.
async fn handled_by(backend: &Backend, tenant: Uuid, user: Uuid) -> ApiResult<BTreeSet<Uuid>> {
    let departments = chart::departments(backend.read_models(), tenant).await?;
    Ok(departments.into_iter().filter(|d| d.is_handled_by(user)).map(|d| d.id).collect())
}

/// Whether the caller may read a document with `access`.
async fn may_read(backend: &Backend, caller: &Caller, access: &Access) -> ApiResult<bool> {
    if access.users.contains(&caller.user.id) || caller.has(Role::DocumentAdmin) {
        return Ok(true);
    }
    if access.member_departments.is_empty() && access.handler_departments.is_empty() {
        return Ok(false);
    }
    let department = department_of(backend, caller.tenant, caller.user.id).await?;
    let handles = if access.handler_departments.is_empty() {
        BTreeSet::new()
    } else {
        handled_by(backend, caller.tenant, caller.user.id).await?
    };
    Ok(access.lets(caller.user.id, department, &handles))
}

/// The document, when the caller may read it; otherwise, as when there is
/// none, `NOT_FOUND`, so that nobody learns of documents they have no part
/// in.
async fn readable(backend: &Backend, caller: &Caller, id: Uuid) -> ApiResult<ApprovalDocument> {
    let document = open(backend, caller, id).await?.ok_or_else(|| ApiError::not_found(format!("document {id}")))?;
    Ok(ApprovalDocument::new(caller.tenant, id, &document))
}

/// The document's state, when the caller may read it.
async fn open(backend: &Backend, caller: &Caller, id: Uuid) -> ApiResult<Option<Document>> {
    let Some((document, access)) = stored(backend, caller.tenant, id).await? else { return Ok(None) };
    let allowed = may_read(backend, caller, &access).await? || delegate_now(backend, caller, &document).await?;
    Ok(allowed.then_some(document))
}

/// Whether the caller may read document `id`, as `document(id)` decides.
pub(crate) async fn may_open(backend: &Backend, caller: &Caller, id: Uuid) -> ApiResult<bool> {
    Ok(open(backend, caller, id).await?.is_some())
}

/// Whether the caller may act now for the approver whose turn it is (대결,
/// rule A4), and so read the document.
async fn delegate_now(backend: &Backend, caller: &Caller, document: &Document) -> ApiResult<bool> {
    let Some(slot) = document.line.current_approver() else { return Ok(false) };
    let approver = document.line.approvers[slot].user;
    let absences = read::absences_of(backend.read_models(), caller.tenant, approver).await?;
    Ok(absences.delegate_may_act(caller.user.id, backend.clock.now()))
}

/// The documents waiting for approvers whose registered absence covers now
/// with the caller as their delegate (대결, rule A4), with the approver.
async fn delegated(backend: &Backend, caller: &Caller) -> ApiResult<Vec<(Uuid, ApprovalDocument)>> {
    let now = backend.clock.now();
    let absences = read::absences(backend.read_models(), caller.tenant).await?;
    let absent: BTreeSet<Uuid> =
        absences.into_iter().filter(|(_, row)| row.absence.lets(caller.user.id, now)).map(|(user, _)| user).collect();
    let mut out = Vec::new();
    for approver in absent {
        let pending = DocumentList::Box(Owner::User(approver), DocBox::Pending);
        for id in read::list_documents(backend.read_models(), caller.tenant, pending).await? {
            let Some((document, _)) = stored(backend, caller.tenant, id).await? else { continue };
            let turn = document.line.current_approver().map(|slot| document.line.approvers[slot].user);
            if turn == Some(approver) {
                out.push((approver, ApprovalDocument::new(caller.tenant, id, &document)));
            }
        }
    }
    Ok(out)
}

/// A document's history, oldest first.
pub(crate) async fn history(backend: &Backend, tenant: Uuid, id: Uuid) -> ApiResult<Vec<HistoryEntry>> {
    let rows = read::history(backend.read_models(), tenant, id).await?;
    Ok(rows.into_iter().map(|row| HistoryEntry::new(tenant, row)).collect())
}

/// One page of a list of documents.
async fn list_page(
    backend: &Backend,
    tenant: Uuid,
    list: DocumentList,
    request: &PageRequest,
) -> ApiResult<Page<ApprovalDocument>> {
    let total = read::list_count(backend.read_models(), tenant, list).await?;
    let prefix = list.items_prefix(tenant);
    let ids = counted_page(backend, APPROVAL_BOX_ITEMS, &prefix, request, total, |item| Ok(item.document_id)).await?;
    let mut page = Connection::with_additional_fields(
        ids.has_previous_page,
        ids.has_next_page,
        Counted { total_count: ids.additional_fields.total_count },
    );
    for edge in ids.edges {
        // The box item and its document row are written in one batch.
        if let Some((document, _)) = stored(backend, tenant, edge.node).await? {
            page.edges.push(Edge::new(edge.cursor, ApprovalDocument::new(tenant, edge.node, &document)));
        }
    }
    Ok(page)
}

/// Runs a document command as the caller, with what follows it (see
/// `Backend::follow`) done before the answer.
async fn act(
    ctx: &Context<'_>,
    caller: &Caller,
    id: Uuid,
    command_id: Option<Uuid>,
    action: DocumentAction,
) -> ApiResult<ApprovalDocument> {
    let backend = backend(ctx);
    let context = caller_context(ctx, caller, command_id);
    let command = DocumentCommand { by: caller.user.id, action };
    backend.execute::<Document>(id, &context, command).await?;
    backend.follow(context.command_id).await?;
    // The answer shows the document only to those who may read it (a
    // replayed command id is answered without its rules being asked again).
    readable(backend, caller, id).await
}

/// The archive of a backup, for an admin of its company, within 30 days of
/// the request (rule A10).
///
/// # Errors
/// `UNAUTHENTICATED`, `FORBIDDEN`, `NOT_FOUND`, or `CONFLICT` once expired
/// or while it is being made.
async fn backup_archive(backend: &Backend, token: &str, id: Uuid) -> ApiResult<blobs::Blob> {
    let caller = super::authenticate(backend, token).await?;
    caller.require_admin()?;
    let backups = backend.commands.load_latest::<domain::approval::Backups>(caller.tenant).await?;
    let sha256 = backups.backup(id)?.download(backend.clock.now())?;
    backend.export(caller.tenant, sha256).await
}

fn invalid(field: &'static str, message: impl Into<String>) -> ApiError {
    DomainError::invalid(field, message).into()
}
