//! What e-approval changes: forms and settings (admins), absences, and
//! every action on a document.

use std::collections::BTreeSet;

use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};
use domain::DomainError;
use domain::approval::{
    Absence, AbsenceAction, AbsenceCommand, Absences, ApprovalSettings as Settings, ApprovalSetup, ApprovalSetupAction,
    ApprovalSetupCommand, BackupAction, BackupCommand, Backups, Document, DocumentAction, DocumentCommand, Draft,
    OnBehalf, backup,
};
use domain::hr::{LeaveAction, LeaveCommand, LeaveLedger};
use domain::values::Role;
use projections::projectors::approval as read;
use projections::projectors::organisation as chart;
use uuid::Uuid;

use super::types::{
    AbsenceView, ApprovalDocument, ApprovalForm, ApprovalMode, ApprovalSettings, DocumentBackup, DocumentInput,
    FormInput,
};
use super::{act, department_of, handled_by, invalid, readable};
use crate::backend::{Backend, new_id};
use crate::errors::{ApiError, ApiResult};
use crate::schema::{Caller, backend, caller, caller_context, load_user};

/// The users among `ids` that exist in the tenant.
async fn known_users(backend: &Backend, tenant: Uuid, ids: &[Uuid]) -> ApiResult<BTreeSet<Uuid>> {
    let mut known = BTreeSet::new();
    for id in ids {
        if load_user(backend, tenant, *id).await?.is_some() {
            known.insert(*id);
        }
    }
    Ok(known)
}

async fn setup(
    ctx: &Context<'_>,
    caller: &Caller,
    command_id: Option<Uuid>,
    action: ApprovalSetupAction,
) -> ApiResult<()> {
    let context = caller_context(ctx, caller, command_id);
    let command = ApprovalSetupCommand { by_admin: caller.has(Role::Admin), action };
    backend(ctx).execute::<ApprovalSetup>(caller.tenant, &context, command).await?;
    Ok(())
}

async fn form(
    ctx: &Context<'_>,
    caller: &Caller,
    id: Uuid,
    command_id: Option<Uuid>,
    input: FormInput,
    create: bool,
) -> ApiResult<ApprovalForm> {
    let known_users = known_users(backend(ctx), caller.tenant, &input.default_approver_ids).await?;
    let spec = input.into();
    let action = if create {
        ApprovalSetupAction::CreateForm { form_id: id, spec, known_users }
    } else {
        ApprovalSetupAction::EditForm { form_id: id, spec, known_users }
    };
    setup(ctx, caller, command_id, action).await?;
    let form = read::form(backend(ctx).read_models(), caller.tenant, id).await?;
    let form = form.ok_or_else(|| DomainError::NotFound(format!("form {id}")))?;
    Ok(ApprovalForm::from(&form))
}

/// The draft the input describes, with every user and department of its
/// line checked, and the drafter's department.
async fn draft(backend: &Backend, caller: &Caller, input: DocumentInput) -> ApiResult<(Draft, Option<Uuid>)> {
    let setup = backend.commands.load_latest::<ApprovalSetup>(caller.tenant).await?;
    let form = setup.form(input.form_id)?.clone();
    let line = input.line.into_domain()?;
    let users: Vec<Uuid> = line.users().into_iter().collect();
    let known = known_users(backend, caller.tenant, &users).await?;
    if let Some(unknown) = users.iter().find(|u| !known.contains(u)) {
        return Err(invalid("line", format!("no user {unknown} in this company")));
    }
    for department in line.departments() {
        if chart::department(backend.read_models(), caller.tenant, department).await?.is_none() {
            return Err(invalid("line.receivers", format!("no department {department} in this company")));
        }
    }
    let department = department_of(backend, caller.tenant, caller.user.id).await?;
    Ok((Draft { form, title: input.title, fields: input.fields.0, line }, department))
}

/// Rule H6: a leave request of `quarters` reserves its days on the
/// drafter's ledger, then is submitted as the submission it reserved for:
/// concurrent requests take turns on the ledger's stream, so together they
/// never take more than the balance unless the company allows negative
/// balances. The reservation's id is the reserving command's, so a retry
/// with the same command id finds its reservation and submits as the same
/// submission, whatever the document has become since. Both run in a task
/// of their own, so a client that goes away cannot leave a reservation
/// without its submission; when the submission fails, the reservation is
/// released unless the document is in that submission now, and the answer
/// waits until the read models show the release.
async fn leave_request(
    ctx: &Context<'_>,
    caller: &Caller,
    id: Uuid,
    command_id: Option<Uuid>,
    quarters: i64,
    (draft, department, settings): (Draft, Option<Uuid>, Settings),
) -> ApiResult<ApprovalDocument> {
    let backend = backend(ctx).clone();
    let context = caller_context(ctx, caller, command_id);
    let mut reserving = context.clone();
    reserving.command_id = Uuid::new_v5(&context.command_id, b"reserve-leave");
    let reservation = reserving.command_id;
    let submitted_by = context.command_id;
    let (tenant, drafter) = (caller.tenant, caller.user.id);
    let document = backend.commands.load::<Document>(id).await?.state;
    let ledger = backend.commands.load::<LeaveLedger>(drafter).await?.state;
    let submission = ledger.reservation(reservation).map_or_else(|| document.next_submission(), |r| r.submission);
    let negative_allowed = settings.negative_leave_allowed;
    let submit = DocumentAction::Submit { draft, department, settings, submission: Some(submission) };
    if document.status.is_some() && document.drafter != drafter {
        // Someone else's document: refused as any submission of it is.
        return act(ctx, caller, id, command_id, submit).await;
    }
    let reserve = LeaveCommand {
        by_hr_manager: false,
        action: LeaveAction::Reserve { reservation, document: id, submission, quarters, negative_allowed },
    };
    let task = backend.clone();
    tokio::spawn(async move {
        let reserved = task.execute::<LeaveLedger>(drafter, &reserving, reserve).await?;
        let submitted = task.execute::<Document>(id, &context, DocumentCommand { by: drafter, action: submit }).await;
        if submitted.is_err()
            && !reserved.events.is_empty()
            && !task.commands.load::<Document>(id).await?.state.holds_submission(drafter, submission)
        {
            task.carry_out(tenant, &domain::hr::reactions::release(drafter, reservation)).await?;
        }
        submitted
    })
    .await
    .map_err(ApiError::internal)??;
    backend.follow(submitted_by).await?;
    readable(&backend, caller, id).await
}

/// The absences of the approver a delegate acts for (대결, rule A4).
/// The absent approver a delegate acts for (대결): a user of the company,
/// or `NOT_FOUND`.
async fn on_behalf(backend: &Backend, tenant: Uuid, approver: Option<Uuid>) -> ApiResult<Option<OnBehalf>> {
    let Some(approver) = approver else { return Ok(None) };
    load_user(backend, tenant, approver).await?.ok_or_else(|| ApiError::not_found(format!("user {approver}")))?;
    let absences = backend.commands.load::<Absences>(approver).await?.state;
    Ok(Some(OnBehalf { approver, absences }))
}

#[derive(Default)]
pub struct ApprovalMutation;

#[Object]
impl ApprovalMutation {
    /// Adds a form (admins only; rule A9).
    async fn create_approval_form(
        &self,
        ctx: &Context<'_>,
        input: FormInput,
        command_id: Option<Uuid>,
    ) -> Result<ApprovalForm> {
        let caller = caller(ctx).await?;
        Ok(form(ctx, &caller, new_id(command_id), command_id, input, true).await?)
    }

    /// Replaces a form; documents already drafted keep the form they were
    /// drafted from.
    async fn edit_approval_form(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: FormInput,
        command_id: Option<Uuid>,
    ) -> Result<ApprovalForm> {
        let caller = caller(ctx).await?;
        Ok(form(ctx, &caller, id, command_id, input, false).await?)
    }

    /// Takes a form out of use.
    async fn retire_approval_form(&self, ctx: &Context<'_>, id: Uuid, command_id: Option<Uuid>) -> Result<bool> {
        let caller = caller(ctx).await?;
        setup(ctx, &caller, command_id, ApprovalSetupAction::RetireForm { form_id: id }).await?;
        Ok(true)
    }

    /// Admins only (rule A2 and the company's approval settings).
    async fn change_approval_settings(
        &self,
        ctx: &Context<'_>,
        input: ApprovalSettings,
        command_id: Option<Uuid>,
    ) -> Result<ApprovalSettings> {
        let caller = caller(ctx).await?;
        let action = ApprovalSetupAction::ChangeSettings { settings: input.into() };
        setup(ctx, &caller, command_id, action).await?;
        Ok(read::settings(backend(ctx).read_models(), caller.tenant).await.map_err(ApiError::from)?.into())
    }

    /// Saves a draft: a new one without `id`, or replaces the draft `id`.
    async fn save_document_draft(
        &self,
        ctx: &Context<'_>,
        id: Option<Uuid>,
        input: DocumentInput,
        command_id: Option<Uuid>,
    ) -> Result<ApprovalDocument> {
        let caller = caller(ctx).await?;
        let (draft, department) = draft(backend(ctx), &caller, input).await?;
        let id = id.unwrap_or_else(|| new_id(command_id));
        Ok(act(ctx, &caller, id, command_id, DocumentAction::SaveDraft { draft, department }).await?)
    }

    async fn discard_document_draft(&self, ctx: &Context<'_>, id: Uuid, command_id: Option<Uuid>) -> Result<bool> {
        let caller = caller(ctx).await?;
        act(ctx, &caller, id, command_id, DocumentAction::DiscardDraft).await?;
        Ok(true)
    }

    /// Submits (상신) a new document, a saved draft (`id`), or a rejected
    /// or recalled document again as a new version (재기안).
    async fn submit_document(
        &self,
        ctx: &Context<'_>,
        id: Option<Uuid>,
        input: DocumentInput,
        command_id: Option<Uuid>,
    ) -> Result<ApprovalDocument> {
        let caller = caller(ctx).await?;
        let backend = backend(ctx);
        let settings = backend
            .commands
            .load_latest::<ApprovalSetup>(caller.tenant)
            .await
            .map_err(ApiError::from)?
            .settings
            .clone();
        let (draft, department) = draft(backend, &caller, input).await?;
        let id = id.unwrap_or_else(|| new_id(command_id));
        if let Some(quarters) = draft.form.leave_quarters(&draft.fields) {
            return Ok(leave_request(ctx, &caller, id, command_id, quarters, (draft, department, settings)).await?);
        }
        let submit = DocumentAction::Submit { draft, department, settings, submission: None };
        Ok(act(ctx, &caller, id, command_id, submit).await?)
    }

    /// Approves at one's turn; FINAL is 전결, AHEAD is 선결. With
    /// `onBehalfOf`, a delegate acts for an absent approver (대결). Allowed
    /// to mobile sessions (rule A11).
    async fn approve_document(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        comment: Option<String>,
        #[graphql(default)] mode: ApprovalMode,
        on_behalf_of: Option<Uuid>,
        command_id: Option<Uuid>,
    ) -> Result<ApprovalDocument> {
        let caller = caller(ctx).await?;
        let on_behalf = on_behalf(backend(ctx), caller.tenant, on_behalf_of).await?;
        let action = match mode {
            ApprovalMode::Normal => DocumentAction::Approve { comment, on_behalf },
            ApprovalMode::Final => DocumentAction::ApproveFinal { comment, on_behalf },
            ApprovalMode::Ahead if on_behalf.is_some() => {
                return Err(invalid("mode", "a delegate approves at the absent approver's turn, not ahead").into());
            }
            ApprovalMode::Ahead => DocumentAction::ApproveAhead { comment },
        };
        Ok(act(ctx, &caller, id, command_id, action).await?)
    }

    /// Rejects (반려) at one's turn: the document goes back to its drafter.
    /// Allowed to mobile sessions (rule A11).
    async fn reject_document(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        comment: Option<String>,
        on_behalf_of: Option<Uuid>,
        command_id: Option<Uuid>,
    ) -> Result<ApprovalDocument> {
        let caller = caller(ctx).await?;
        let on_behalf = on_behalf(backend(ctx), caller.tenant, on_behalf_of).await?;
        Ok(act(ctx, &caller, id, command_id, DocumentAction::Reject { comment, on_behalf }).await?)
    }

    /// Holds (보류) the document at one's turn.
    async fn hold_document(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        comment: Option<String>,
        command_id: Option<Uuid>,
    ) -> Result<ApprovalDocument> {
        let caller = caller(ctx).await?;
        Ok(act(ctx, &caller, id, command_id, DocumentAction::Hold { comment }).await?)
    }

    /// Confirms a document one was passed over on (후열).
    async fn confirm_document_review(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        comment: Option<String>,
        command_id: Option<Uuid>,
    ) -> Result<ApprovalDocument> {
        let caller = caller(ctx).await?;
        Ok(act(ctx, &caller, id, command_id, DocumentAction::ConfirmReview { comment }).await?)
    }

    /// Agrees (합의) at one's turn.
    async fn agree_document(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        comment: Option<String>,
        command_id: Option<Uuid>,
    ) -> Result<ApprovalDocument> {
        let caller = caller(ctx).await?;
        Ok(act(ctx, &caller, id, command_id, DocumentAction::Agree { comment }).await?)
    }

    /// Refuses agreement, where the company allows it: the document is
    /// rejected.
    async fn refuse_document_agreement(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        comment: Option<String>,
        command_id: Option<Uuid>,
    ) -> Result<ApprovalDocument> {
        let caller = caller(ctx).await?;
        Ok(act(ctx, &caller, id, command_id, DocumentAction::RefuseAgreement { comment }).await?)
    }

    /// Receives a completed document addressed to the caller or to a
    /// department the caller heads or manages the box of.
    async fn receive_document(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        command_id: Option<Uuid>,
    ) -> Result<ApprovalDocument> {
        let caller = caller(ctx).await?;
        let handles = handled_by(backend(ctx), caller.tenant, caller.user.id).await?;
        Ok(act(ctx, &caller, id, command_id, DocumentAction::Receive { handles }).await?)
    }

    /// Recalls (회수) one's document before completion, with a reason;
    /// everyone on the line gets a notice (rule A7).
    async fn recall_document(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        reason: String,
        command_id: Option<Uuid>,
    ) -> Result<ApprovalDocument> {
        let caller = caller(ctx).await?;
        Ok(act(ctx, &caller, id, command_id, DocumentAction::Recall { reason }).await?)
    }

    /// Gives the places a deleted user still had to act on in a document's
    /// line (approving, agreeing) to another user: document admins only
    /// (rule U1).
    async fn reassign_document(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        from: Uuid,
        to: Uuid,
        command_id: Option<Uuid>,
    ) -> Result<ApprovalDocument> {
        let caller = caller(ctx).await?;
        if !caller.has(Role::DocumentAdmin) {
            return Err(ApiError::forbidden("only a document admin reassigns a document").into());
        }
        let backend = backend(ctx);
        if load_user(backend, caller.tenant, from).await?.is_some() {
            return Err(DomainError::invalid("from", "only a deleted user's places are given to another").into());
        }
        if load_user(backend, caller.tenant, to).await?.is_none() {
            return Err(ApiError::not_found(format!("user {to}")).into());
        }
        Ok(act(ctx, &caller, id, command_id, DocumentAction::Reassign { from, to }).await?)
    }

    /// Cancels one's leave request, in progress or approved (rule A7).
    async fn cancel_leave_request(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        reason: String,
        command_id: Option<Uuid>,
    ) -> Result<ApprovalDocument> {
        let caller = caller(ctx).await?;
        Ok(act(ctx, &caller, id, command_id, DocumentAction::Cancel { reason }).await?)
    }

    /// Asks for a backup of the documents submitted from `from` to `to`
    /// (YYYYMMDD, both included); it is made in the background (admins
    /// only; rule A10).
    async fn request_document_backup(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
        command_id: Option<Uuid>,
    ) -> Result<DocumentBackup> {
        let caller = caller(ctx).await?;
        let (from, to) = (backup::day("from", &from)?, backup::day("to", &to)?);
        let backup_id = new_id(command_id);
        let context = caller_context(ctx, &caller, command_id);
        let action = BackupAction::Request { backup_id, from, to, by: caller.user.id };
        let command = BackupCommand { by_admin: caller.has(Role::Admin), action };
        let backend = backend(ctx);
        backend.execute::<Backups>(caller.tenant, &context, command).await?;
        let backups = backend.commands.load_latest::<Backups>(caller.tenant).await.map_err(ApiError::from)?;
        Ok(DocumentBackup::new(backup_id, backups.backup(backup_id).map_err(ApiError::from)?))
    }

    /// Registers an absence with a delegate who may act for the caller
    /// meanwhile (rule A4).
    async fn register_absence(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        reason: String,
        delegate_id: Uuid,
        command_id: Option<Uuid>,
    ) -> Result<AbsenceView> {
        let caller = caller(ctx).await?;
        if load_user(backend(ctx), caller.tenant, delegate_id).await?.is_none() {
            return Err(invalid("delegateId", format!("no user {delegate_id} in this company")).into());
        }
        let absence_id = new_id(command_id);
        let absence = Absence { from, to, reason, delegate: delegate_id };
        absence_command(ctx, &caller, command_id, AbsenceAction::Register { absence_id, absence }).await?;
        let row = read::absence(backend(ctx).read_models(), caller.tenant, caller.user.id, absence_id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::internal("the absence is not there"))?;
        Ok(AbsenceView::new(row.id, &row.absence))
    }

    async fn withdraw_absence(&self, ctx: &Context<'_>, id: Uuid, command_id: Option<Uuid>) -> Result<bool> {
        let caller = caller(ctx).await?;
        absence_command(ctx, &caller, command_id, AbsenceAction::Withdraw { absence_id: id }).await?;
        Ok(true)
    }
}

async fn absence_command(
    ctx: &Context<'_>,
    caller: &Caller,
    command_id: Option<Uuid>,
    action: AbsenceAction,
) -> ApiResult<()> {
    let context = caller_context(ctx, caller, command_id);
    let command = AbsenceCommand { user: caller.user.id, action };
    backend(ctx).execute::<Absences>(caller.user.id, &context, command).await?;
    Ok(())
}
