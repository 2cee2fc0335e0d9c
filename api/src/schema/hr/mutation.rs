//! What HR changes: cards and employment status, and leave balances one by
//! one, in bulk, for some, or from a CSV.

use async_graphql::{Context, Object, Result};
use chrono::NaiveDate;
use domain::DomainError;
use domain::hr::leave::{bounded, keeps_reserved, quarters};
use domain::hr::{
    AdjustmentSource, CardDetails, Change, LeaveAction, LeaveCommand, LeaveLedger, Personnel, PersonnelAction,
    PersonnelCommand, ResidentNumber,
};
use domain::values::Role;
use uuid::Uuid;

use super::leave_csv::parse_csv;
use super::types::{AdjustMode, HrCard, HrCardInput, LeaveBalance, Status};
use super::{balance, card, ledgers, negative_allowed, no_ledger, require_hr};
use crate::backend::{Backend, new_id};
use crate::errors::{ApiError, ApiResult};
use crate::schema::{Caller, backend, caller, caller_context, load_user};

/// The card the input describes, its resident number sealed.
async fn details(backend: &Backend, caller: &Caller, input: HrCardInput) -> ApiResult<CardDetails> {
    if let Some(user) = input.user_id
        && load_user(backend, caller.tenant, user).await?.is_none()
    {
        return Err(DomainError::invalid("userId", format!("no user {user} in this company")).into());
    }
    if let Some(photo) = &input.photo_sha256 {
        let size = backend.blobs.size(caller.tenant, photo).await.map_err(|e| match e {
            blobs::BlobError::BadDigest(_) => {
                DomainError::invalid("photoSha256", "a photo is named by its SHA-256 digest: 64 lower-case hex digits")
                    .into()
            }
            other => ApiError::internal(other),
        })?;
        if size.is_none() {
            return Err(DomainError::invalid("photoSha256", "upload the photo first").into());
        }
    }
    let resident = input.resident_number.as_deref().map(ResidentNumber::parse).transpose()?;
    let birth_date = input.birth_date.or_else(|| resident.as_ref().and_then(ResidentNumber::birth_date));
    let sealed_resident_number = resident.map(|r| backend.sealer.seal(r.digits())).transpose()?;
    Ok(CardDetails {
        employee_no: input.employee_no,
        name: input.name,
        user: input.user_id,
        department: input.department_id,
        position: input.position_id,
        hire_date: input.hire_date,
        birth_date,
        photo: input.photo_sha256,
        duties: input.duties,
        sealed_resident_number,
    })
}

/// Runs a personnel command; a card with a mail account and a hire date
/// gets its leave ledger before the answer (rule H4).
async fn personnel(
    ctx: &Context<'_>,
    caller: &Caller,
    command_id: Option<Uuid>,
    action: PersonnelAction,
) -> ApiResult<()> {
    let context = caller_context(ctx, caller, command_id);
    let command = PersonnelCommand { by_hr_manager: caller.has(Role::HrManager), action };
    let backend = backend(ctx);
    backend.execute::<Personnel>(caller.tenant, &context, command).await?;
    backend.follow(context.command_id).await
}

/// One adjustment of one ledger.
async fn adjust(
    ctx: &Context<'_>,
    caller: &Caller,
    employee: Uuid,
    command_id: Uuid,
    source: AdjustmentSource,
    change: Change,
    reason: &str,
) -> ApiResult<()> {
    // Ledgers are streams of their own: only one of the caller's company.
    balance(backend(ctx), caller.tenant, employee).await?;
    let negative_allowed = negative_allowed(backend(ctx), caller.tenant).await?;
    let context = caller_context(ctx, caller, Some(command_id));
    let action = LeaveAction::Adjust {
        adjustment_id: command_id,
        source,
        change,
        reason: reason.to_owned(),
        by: caller.user.id,
        negative_allowed,
    };
    let command = LeaveCommand { by_hr_manager: caller.has(Role::HrManager), action };
    backend(ctx).execute::<LeaveLedger>(employee, &context, command).await?;
    Ok(())
}

/// Adjusts each of `employees` by `delta`, after checking every one: an
/// unknown employee, a missing reason, a balance out of range or below what
/// requests in progress have reserved refuses the whole batch. Returns how
/// many were adjusted.
async fn adjust_many(
    ctx: &Context<'_>,
    caller: &Caller,
    employees: Vec<Uuid>,
    delta_days: f64,
    reason: &str,
    source: AdjustmentSource,
    command_id: Option<Uuid>,
) -> ApiResult<i32> {
    require_hr(caller)?;
    let delta = quarters("deltaDays", delta_days)?;
    if reason.trim().is_empty() {
        return Err(DomainError::invalid("reason", "a reason is required").by_rule("H5").into());
    }
    let ledgers = ledgers(backend(ctx), caller.tenant).await?;
    let negative_allowed = negative_allowed(backend(ctx), caller.tenant).await?;
    for employee in &employees {
        let held = *ledgers.get(employee).ok_or_else(|| no_ledger(*employee))?;
        let after = held.balance.saturating_add(delta);
        bounded(after)?;
        keeps_reserved(held.balance, after, held.reserved, negative_allowed)?;
    }
    let batch = new_id(command_id);
    for employee in &employees {
        let command_id = Uuid::new_v5(&batch, employee.as_bytes());
        adjust(ctx, caller, *employee, command_id, source, Change::Delta(delta), reason).await?;
    }
    Ok(employees.len() as i32)
}

#[derive(Default)]
pub struct HrMutation;

#[Object]
impl HrMutation {
    /// Creates a card (HR managers only; rule H2). A person with a mail
    /// account gets the account's id as employee id, and with a hire date a
    /// leave ledger (rule H4).
    async fn create_hr_card(&self, ctx: &Context<'_>, input: HrCardInput, command_id: Option<Uuid>) -> Result<HrCard> {
        let caller = caller(ctx).await?;
        require_hr(&caller)?;
        let employee_id = input.user_id.unwrap_or_else(|| new_id(command_id));
        let details = details(backend(ctx), &caller, input).await?;
        personnel(ctx, &caller, command_id, PersonnelAction::CreateCard { employee_id, details, by: caller.user.id })
            .await?;
        Ok(card(backend(ctx), caller.tenant, employee_id).await?.ok_or_else(|| ApiError::internal("no card"))?)
    }

    async fn update_hr_card(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: HrCardInput,
        command_id: Option<Uuid>,
    ) -> Result<HrCard> {
        let caller = caller(ctx).await?;
        require_hr(&caller)?;
        let details = details(backend(ctx), &caller, input).await?;
        personnel(ctx, &caller, command_id, PersonnelAction::UpdateCard { employee_id: id, details }).await?;
        Ok(card(backend(ctx), caller.tenant, id).await?.ok_or_else(|| ApiError::internal("no card"))?)
    }

    /// Records a change of employment status (rule H3).
    async fn change_employment_status(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        status: Status,
        on: NaiveDate,
        #[graphql(default)] reason: String,
        command_id: Option<Uuid>,
    ) -> Result<HrCard> {
        let caller = caller(ctx).await?;
        require_hr(&caller)?;
        let action =
            PersonnelAction::ChangeStatus { employee_id: id, status: status.into(), on, reason, by: caller.user.id };
        personnel(ctx, &caller, command_id, action).await?;
        Ok(card(backend(ctx), caller.tenant, id).await?.ok_or_else(|| ApiError::internal("no card"))?)
    }

    /// Adjusts one person's leave (rule H5, direct).
    async fn adjust_leave(
        &self,
        ctx: &Context<'_>,
        employee_id: Uuid,
        days: f64,
        #[graphql(default_with = "AdjustMode::Delta")] mode: AdjustMode,
        reason: String,
        command_id: Option<Uuid>,
    ) -> Result<LeaveBalance> {
        let caller = caller(ctx).await?;
        require_hr(&caller)?;
        let amount = quarters("days", days)?;
        let change = match mode {
            AdjustMode::Delta => Change::Delta(amount),
            AdjustMode::Set => Change::Set(amount),
        };
        let command_id = new_id(command_id);
        adjust(ctx, &caller, employee_id, command_id, AdjustmentSource::Direct, change, &reason).await?;
        Ok(balance(backend(ctx), caller.tenant, employee_id).await?)
    }

    /// Moves everyone's balance by the same delta (rule H5, bulk); returns
    /// how many balances changed.
    async fn adjust_leave_for_everyone(
        &self,
        ctx: &Context<'_>,
        delta_days: f64,
        reason: String,
        command_id: Option<Uuid>,
    ) -> Result<i32> {
        let caller = caller(ctx).await?;
        require_hr(&caller)?;
        let everyone = ledgers(backend(ctx), caller.tenant).await?.into_keys().collect();
        Ok(adjust_many(ctx, &caller, everyone, delta_days, &reason, AdjustmentSource::Bulk, command_id).await?)
    }

    /// Moves selected people's balances by the same delta (rule H5, partial).
    async fn adjust_leave_for(
        &self,
        ctx: &Context<'_>,
        employee_ids: Vec<Uuid>,
        delta_days: f64,
        reason: String,
        command_id: Option<Uuid>,
    ) -> Result<i32> {
        let caller = caller(ctx).await?;
        Ok(adjust_many(ctx, &caller, employee_ids, delta_days, &reason, AdjustmentSource::Partial, command_id).await?)
    }

    /// Sets balances from a CSV (`employee_no,balance_days,reason`; the
    /// template is at `GET /hr/leave-adjustments.csv`). The whole file is
    /// checked first: with any bad row nothing is applied, and the error
    /// names each bad line (rule H5).
    async fn upload_leave_adjustments(&self, ctx: &Context<'_>, csv: String, command_id: Option<Uuid>) -> Result<i32> {
        let caller = caller(ctx).await?;
        require_hr(&caller)?;
        let negative_allowed = negative_allowed(backend(ctx), caller.tenant).await?;
        let rows = parse_csv(backend(ctx), caller.tenant, &csv, negative_allowed).await?;
        let batch = new_id(command_id);
        for (line, (employee, balance, reason)) in rows.iter().enumerate() {
            let command_id = Uuid::new_v5(&batch, &(line as u64).to_be_bytes());
            adjust(ctx, &caller, *employee, command_id, AdjustmentSource::Csv, Change::Set(*balance), reason).await?;
        }
        Ok(rows.len() as i32)
    }
}
