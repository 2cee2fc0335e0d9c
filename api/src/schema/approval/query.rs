//! What e-approval reads: forms, settings, absences, documents and boxes.

use async_graphql::{Context, Object, Result};
use domain::approval::{Backups, DocBox, Owner};
use domain::values::Role;
use projections::projectors::approval::{self as read, DocumentList};
use uuid::Uuid;

use super::types::{
    AbsenceView, ApprovalDocument, ApprovalForm, ApprovalSettings, DelegatedDocument, DocumentBackup, DocumentBox,
    DocumentBoxCount,
};
use super::{delegated, department_of, handled_by, list_page, readable};
use crate::errors::ApiError;
use crate::schema::pagination::{Page, PageRequest};
use crate::schema::{backend, caller};

/// The boxes every user has.
const USER_BOXES: [DocumentBox; 9] = [
    DocumentBox::Drafts,
    DocumentBox::Pending,
    DocumentBox::InProgress,
    DocumentBox::Completed,
    DocumentBox::Rejected,
    DocumentBox::Recalled,
    DocumentBox::Received,
    DocumentBox::Reference,
    DocumentBox::PostReview,
];

#[derive(Default)]
pub struct ApprovalQuery;

#[Object]
impl ApprovalQuery {
    /// The forms in use, by name (rule A9).
    async fn approval_forms(&self, ctx: &Context<'_>) -> Result<Vec<ApprovalForm>> {
        let caller = caller(ctx).await?;
        let forms = read::forms(backend(ctx).read_models(), caller.tenant).await.map_err(ApiError::from)?;
        let mut forms: Vec<ApprovalForm> = forms.iter().map(Into::into).collect();
        forms.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(forms)
    }

    async fn approval_settings(&self, ctx: &Context<'_>) -> Result<ApprovalSettings> {
        let caller = caller(ctx).await?;
        Ok(read::settings(backend(ctx).read_models(), caller.tenant).await.map_err(ApiError::from)?.into())
    }

    /// A document the caller has a part in (or any, for a document admin).
    async fn document(&self, ctx: &Context<'_>, id: Uuid) -> Result<ApprovalDocument> {
        let caller = caller(ctx).await?;
        Ok(readable(backend(ctx), &caller, id).await?)
    }

    /// One of the caller's boxes, newest first (rule A8). DEPARTMENT and
    /// DEPARTMENT_RECEIVED are a department's: the caller's own by default.
    #[allow(clippy::too_many_arguments)] // the box, its owner and Relay's four paging arguments
    async fn document_box(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "box")] kind: DocumentBox,
        department_id: Option<Uuid>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Page<ApprovalDocument>> {
        let caller = caller(ctx).await?;
        let backend = backend(ctx);
        let kind = DocBox::from(kind);
        let owner = match kind {
            DocBox::Department | DocBox::DepartmentReceived => {
                let own = department_of(backend, caller.tenant, caller.user.id).await?;
                let department = department_id
                    .or(own)
                    .ok_or_else(|| ApiError::not_found("you are in no department; name one with departmentId"))?;
                let allowed = caller.has(Role::DocumentAdmin)
                    || match kind {
                        DocBox::Department => own == Some(department),
                        _ => handled_by(backend, caller.tenant, caller.user.id).await?.contains(&department),
                    };
                if !allowed {
                    return Err(ApiError::forbidden(if kind == DocBox::Department {
                        "a department's box is for its members"
                    } else {
                        "a department's received documents are for its heads and box managers"
                    })
                    .into());
                }
                Owner::Department(department)
            }
            _ => Owner::User(caller.user.id),
        };
        let request = PageRequest::new(first, after, last, before);
        Ok(list_page(backend, caller.tenant, DocumentList::Box(owner, kind), &request).await?)
    }

    /// How many documents each of the caller's boxes holds.
    async fn document_box_counts(&self, ctx: &Context<'_>) -> Result<Vec<DocumentBoxCount>> {
        let caller = caller(ctx).await?;
        let owner = Owner::User(caller.user.id);
        let mut counts = Vec::with_capacity(USER_BOXES.len());
        for kind in USER_BOXES {
            let list = DocumentList::Box(owner, kind.into());
            let count =
                read::list_count(backend(ctx).read_models(), caller.tenant, list).await.map_err(ApiError::from)?;
            counts.push(DocumentBoxCount { kind, count: count as i64 });
        }
        Ok(counts)
    }

    /// Every submitted document of the company, newest first: document
    /// admins only (rule A6).
    async fn all_documents(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Page<ApprovalDocument>> {
        let caller = caller(ctx).await?;
        if !caller.has(Role::DocumentAdmin) {
            return Err(ApiError::forbidden("only a document admin sees every document").into());
        }
        let request = PageRequest::new(first, after, last, before);
        Ok(list_page(backend(ctx), caller.tenant, DocumentList::Submitted, &request).await?)
    }

    /// The documents waiting for `userId` to approve or agree, newest
    /// first: document admins only, to find what a deleted user left
    /// waiting (rule U1).
    async fn documents_waiting_for(
        &self,
        ctx: &Context<'_>,
        user_id: Uuid,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Page<ApprovalDocument>> {
        let caller = caller(ctx).await?;
        if !caller.has(Role::DocumentAdmin) {
            return Err(ApiError::forbidden("only a document admin sees what waits for another user").into());
        }
        let request = PageRequest::new(first, after, last, before);
        let list = DocumentList::Box(Owner::User(user_id), DocBox::Pending);
        Ok(list_page(backend(ctx), caller.tenant, list, &request).await?)
    }

    /// The company's backups, newest first (admins only; rule A10).
    async fn document_backups(&self, ctx: &Context<'_>) -> Result<Vec<DocumentBackup>> {
        let caller = caller(ctx).await?;
        caller.require_admin()?;
        let backups = backend(ctx).commands.load_latest::<Backups>(caller.tenant).await.map_err(ApiError::from)?;
        let mut list: Vec<DocumentBackup> = backups.backups.iter().map(|(id, b)| DocumentBackup::new(*id, b)).collect();
        list.sort_by(|a, b| b.requested_at.cmp(&a.requested_at).then(b.id.cmp(&a.id)));
        Ok(list)
    }

    /// Documents waiting for approvers who are away now with the caller as
    /// their delegate (대결, rule A4): approve or reject them with
    /// `onBehalfOf`.
    async fn delegated_documents(&self, ctx: &Context<'_>) -> Result<Vec<DelegatedDocument>> {
        let caller = caller(ctx).await?;
        let documents = delegated(backend(ctx), &caller).await?;
        Ok(documents.into_iter().map(|(approver, d)| DelegatedDocument::new(caller.tenant, approver, d)).collect())
    }

    /// The caller's registered absences (rule A4).
    async fn my_absences(&self, ctx: &Context<'_>) -> Result<Vec<AbsenceView>> {
        let caller = caller(ctx).await?;
        let absences = read::absences_of(backend(ctx).read_models(), caller.tenant, caller.user.id)
            .await
            .map_err(ApiError::from)?;
        Ok(absences.absences.iter().map(|(id, absence)| AbsenceView::new(*id, absence)).collect())
    }
}
