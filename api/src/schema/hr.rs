//! HR and leave over GraphQL (rules H1–H6): HR managers keep the cards and
//! adjust leave; everyone reads their own card and leave.

use std::collections::BTreeMap;

use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use domain::DomainError;
use domain::approval::ApprovalSetup;
use domain::hr::leave::{bounded, keeps_reserved, quarters};
use domain::hr::{
    AdjustmentSource, CardDetails, Change, LeaveAction, LeaveCommand, LeaveLedger, Personnel, PersonnelAction,
    PersonnelCommand, QUARTERS, ResidentNumber,
};
use domain::values::Role;
use projections::projectors::{HR_CARDS, LEAVE_ENTRIES, LEAVE_LEDGERS};
use serde::Deserialize;
use uuid::Uuid;

use super::pagination::{Page, PageRequest, page};
use super::{Caller, caller, caller_context, load_user, services};
use crate::app::{Services, new_id};
use crate::errors::{ApiError, ApiResult};

/// The most cards or ledgers one listing reads.
const MAX_ROWS: usize = 100_000;

/// The header of the leave adjustment CSV (rule H5).
pub const LEAVE_CSV_HEADER: [&str; 3] = ["employee_no", "balance_days", "reason"];

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[graphql(name = "EmploymentStatus", remote = "domain::hr::EmploymentStatus")]
pub enum Status {
    Active,
    OnLeave,
    Retired,
}

/// One change of employment status (rule H3).
#[derive(SimpleObject, Debug, Clone, Deserialize)]
pub struct StatusChange {
    pub status: Status,
    pub on: NaiveDate,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// An HR card (rule H2).
#[derive(SimpleObject, Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HrCard {
    pub id: Uuid,
    pub employee_no: String,
    pub name: String,
    /// The mail account, when the person has one.
    pub user_id: Option<Uuid>,
    pub department_id: Option<Uuid>,
    pub position_id: Option<Uuid>,
    pub hire_date: Option<NaiveDate>,
    pub birth_date: Option<NaiveDate>,
    pub photo_sha256: Option<String>,
    pub duties: Option<String>,
    /// Whether a resident number is on file (it is never shown whole).
    pub has_resident_number: bool,
    pub status: Status,
    pub history: Vec<StatusChange>,
}

#[derive(InputObject, Debug, Clone)]
pub struct HrCardInput {
    pub employee_no: String,
    pub name: String,
    /// Leave it out for people without a mail account.
    pub user_id: Option<Uuid>,
    pub department_id: Option<Uuid>,
    pub position_id: Option<Uuid>,
    pub hire_date: Option<NaiveDate>,
    pub birth_date: Option<NaiveDate>,
    /// A blob uploaded beforehand.
    pub photo_sha256: Option<String>,
    pub duties: Option<String>,
    /// `YYMMDD-NNNNNNN`; stored sealed. Left out on an update, the one on
    /// file stays.
    pub resident_number: Option<String>,
}

/// A leave balance (rule H4).
#[derive(SimpleObject, Debug, Clone)]
pub struct LeaveBalance {
    pub employee_id: Uuid,
    pub hire_date: Option<NaiveDate>,
    /// In days (a multiple of 0.25).
    pub days: f64,
    pub quarter_days: i64,
    /// What leave requests in progress have reserved, in days (rule H6).
    pub reserved_days: f64,
    pub reserved_quarter_days: i64,
    /// When the next grant or lapse is due.
    pub next_due: Option<NaiveDate>,
}

/// One change of a balance, with who, when, why, before and after (rule H5).
#[derive(SimpleObject, Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaveEntry {
    /// GRANTED, LAPSED, ADJUSTED, TAKEN or RESTORED.
    pub kind: String,
    /// For adjustments: Csv, Bulk, Partial or Direct.
    pub source: Option<String>,
    pub quarters: i64,
    pub before: i64,
    pub after: i64,
    pub reason: Option<String>,
    pub by: Option<Uuid>,
    pub document_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdjustMode {
    /// Move the balance by `days`.
    Delta,
    /// Set the balance to `days`.
    Set,
}

fn require_hr(caller: &Caller) -> ApiResult<()> {
    if caller.has(Role::HrManager) { Ok(()) } else { Err(ApiError::forbidden("only an HR manager may do this")) }
}

fn no_ledger(employee: Uuid) -> ApiError {
    ApiError::not_found(format!(
        "no leave ledger for {employee}: leave applies to people with a mail account and a hire date"
    ))
}

async fn card(services: &Services, tenant: Uuid, id: Uuid) -> ApiResult<Option<HrCard>> {
    let row = services.read_models().get(HR_CARDS, &format!("{tenant}/{id}")).await?;
    row.map(|r| serde_json::from_value(r).map_err(ApiError::internal)).transpose()
}

async fn balance(services: &Services, tenant: Uuid, employee: Uuid) -> ApiResult<LeaveBalance> {
    let row = services.read_models().get(LEAVE_LEDGERS, &format!("{tenant}/{employee}")).await?;
    let row = row.filter(|r| !r["hireDate"].is_null()).ok_or_else(|| no_ledger(employee))?;
    let quarter_days = row["balance"].as_i64().unwrap_or(0);
    let reserved_quarter_days = row["reserved"].as_i64().unwrap_or(0);
    Ok(LeaveBalance {
        employee_id: employee,
        hire_date: serde_json::from_value(row["hireDate"].clone()).map_err(ApiError::internal)?,
        days: quarter_days as f64 / QUARTERS as f64,
        quarter_days,
        reserved_days: reserved_quarter_days as f64 / QUARTERS as f64,
        reserved_quarter_days,
        next_due: serde_json::from_value(row["nextDue"].clone()).map_err(ApiError::internal)?,
    })
}

/// A balance and what requests in progress have reserved of it, in quarter
/// days.
#[derive(Debug, Clone, Copy)]
struct Held {
    balance: i64,
    reserved: i64,
}

/// The employees with a leave ledger, with their balances.
async fn ledgers(services: &Services, tenant: Uuid) -> ApiResult<BTreeMap<Uuid, Held>> {
    let rows = services.read_models().scan(LEAVE_LEDGERS, &format!("{tenant}/"), None, MAX_ROWS).await?;
    Ok(rows
        .into_iter()
        .filter(|(_, r)| !r["hireDate"].is_null())
        .filter_map(|(_, r)| {
            let held = Held { balance: r["balance"].as_i64()?, reserved: r["reserved"].as_i64().unwrap_or(0) };
            Some((serde_json::from_value(r["employeeId"].clone()).ok()?, held))
        })
        .collect())
}

/// Whether the company allows negative leave balances (its approval
/// settings).
async fn negative_allowed(services: &Services, tenant: Uuid) -> ApiResult<bool> {
    Ok(services.commands.load_latest::<ApprovalSetup>(tenant).await?.settings.negative_leave_allowed)
}

/// May the caller read `employee`'s HR data: their own, or any as an HR
/// manager.
fn may_read(caller: &Caller, employee: Uuid) -> ApiResult<()> {
    if caller.user.id == employee || caller.has(Role::HrManager) {
        Ok(())
    } else {
        Err(ApiError::forbidden("only an HR manager reads someone else's HR data"))
    }
}

#[derive(Default)]
pub struct HrQuery;

#[Object]
impl HrQuery {
    /// Every HR card, by employee number (HR managers only; rule H1).
    async fn hr_cards(&self, ctx: &Context<'_>) -> Result<Vec<HrCard>> {
        let caller = caller(ctx).await?;
        require_hr(&caller)?;
        let rows = services(ctx).read_models().scan(HR_CARDS, &format!("{}/", caller.tenant), None, MAX_ROWS).await?;
        let mut cards: Vec<HrCard> = rows
            .into_iter()
            .map(|(_, r)| serde_json::from_value(r).map_err(ApiError::internal))
            .collect::<ApiResult<_>>()?;
        cards.sort_by(|a, b| a.employee_no.cmp(&b.employee_no));
        Ok(cards)
    }

    /// One card: one's own, or any as an HR manager.
    async fn hr_card(&self, ctx: &Context<'_>, id: Uuid) -> Result<HrCard> {
        let caller = caller(ctx).await?;
        may_read(&caller, id)?;
        Ok(card(services(ctx), caller.tenant, id).await?.ok_or_else(|| ApiError::not_found(format!("HR card {id}")))?)
    }

    /// A leave balance: one's own by default (rule H4).
    async fn leave_balance(&self, ctx: &Context<'_>, employee_id: Option<Uuid>) -> Result<LeaveBalance> {
        let caller = caller(ctx).await?;
        let employee = employee_id.unwrap_or(caller.user.id);
        may_read(&caller, employee)?;
        Ok(balance(services(ctx), caller.tenant, employee).await?)
    }

    /// Every change of a balance, oldest first (rule H5).
    async fn leave_history(
        &self,
        ctx: &Context<'_>,
        employee_id: Option<Uuid>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Page<LeaveEntry>> {
        let caller = caller(ctx).await?;
        let employee = employee_id.unwrap_or(caller.user.id);
        may_read(&caller, employee)?;
        let services = services(ctx);
        // Someone else without a ledger here (another company's user, say)
        // reads as missing, as their balance does.
        if employee != caller.user.id {
            let ledger = services.read_models().get(LEAVE_LEDGERS, &format!("{}/{employee}", caller.tenant)).await?;
            ledger.ok_or_else(|| no_ledger(employee))?;
        }
        let prefix = format!("{}/{employee}/", caller.tenant);
        let request = PageRequest::new(first, after, last, before);
        Ok(page(services, projections::Table::<serde_json::Value>::new(LEAVE_ENTRIES), &prefix, &request, |row| {
            serde_json::from_value(row).map_err(ApiError::internal)
        })
        .await?)
    }
}

/// The card the input describes, its resident number sealed.
async fn details(services: &Services, caller: &Caller, input: HrCardInput) -> ApiResult<CardDetails> {
    if let Some(user) = input.user_id
        && load_user(services, caller.tenant, user).await?.is_none()
    {
        return Err(DomainError::invalid("userId", format!("no user {user} in this company")).into());
    }
    if let Some(photo) = &input.photo_sha256 {
        let size = services.blobs.size(caller.tenant, photo).await.map_err(|e| match e {
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
    let sealed_resident_number = resident.map(|r| services.sealer.seal(r.digits())).transpose()?;
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
    let ledger = match &action {
        PersonnelAction::CreateCard { details, .. } | PersonnelAction::UpdateCard { details, .. } => {
            details.user.zip(details.hire_date)
        }
        PersonnelAction::ChangeStatus { .. } => None,
    };
    let command = PersonnelCommand { by_hr_manager: caller.has(Role::HrManager), action };
    let services = services(ctx);
    services.execute::<Personnel>(caller.tenant, &context, command).await?;
    if let Some((employee, hire_date)) = ledger {
        services.open_ledger(caller.tenant, employee, hire_date).await?;
    }
    Ok(())
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
    balance(services(ctx), caller.tenant, employee).await?;
    let negative_allowed = negative_allowed(services(ctx), caller.tenant).await?;
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
    services(ctx).execute::<LeaveLedger>(employee, &context, command).await?;
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
        return Err(DomainError::invalid("reason", "a reason is required").into());
    }
    let ledgers = ledgers(services(ctx), caller.tenant).await?;
    let negative_allowed = negative_allowed(services(ctx), caller.tenant).await?;
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

/// The rows of a leave CSV, each checked, as (employee, new balance,
/// reason); or every bad row with its line number. A new balance below what
/// requests in progress have reserved is a bad row unless the company
/// allows negative balances.
async fn parse_csv(
    services: &Services,
    tenant: Uuid,
    csv: &str,
    negative_allowed: bool,
) -> ApiResult<Vec<(Uuid, i64, String)>> {
    let cards = services.read_models().scan(HR_CARDS, &format!("{tenant}/"), None, MAX_ROWS).await?;
    let by_number: BTreeMap<String, Option<Uuid>> = cards
        .iter()
        .filter_map(|(_, r)| {
            Some((
                r["employeeNo"].as_str()?.to_owned(),
                serde_json::from_value::<Option<Uuid>>(r["userId"].clone()).ok()?,
            ))
        })
        .collect();
    let ledgers = ledgers(services, tenant).await?;
    let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(csv.as_bytes());
    let header = reader.headers().map_err(|e| DomainError::invalid("csv", format!("line 1: {e}")))?.clone();
    if header.iter().collect::<Vec<_>>() != LEAVE_CSV_HEADER {
        return Err(DomainError::invalid("csv", format!("line 1: the header is {}", LEAVE_CSV_HEADER.join(","))).into());
    }
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let (number, balance, reason) = (&record[0], &record[1], &record[2]);
        let employee = match by_number.get(number) {
            None => Err(format!("no employee number {number}")),
            Some(None) => Err(format!("{number} has no mail account, so no leave")),
            Some(Some(user)) if !ledgers.contains_key(user) => {
                Err(format!("{number} has no leave ledger (no hire date)"))
            }
            Some(Some(user)) => Ok(*user),
        };
        let held = employee.as_ref().ok().and_then(|e| ledgers.get(e).copied());
        let balance = balance
            .parse::<f64>()
            .map_err(|_| format!("`{balance}` is not a number of days"))
            .and_then(|days| quarters("balance_days", days).map_err(|e| e.to_string()))
            .and_then(|after| match held {
                Some(held) => keeps_reserved(held.balance, after, held.reserved, negative_allowed)
                    .map(|()| after)
                    .map_err(|e| e.to_string()),
                None => Ok(after),
            });
        let reason = if reason.is_empty() { Err("a reason is required".to_owned()) } else { Ok(reason.to_owned()) };
        match (employee, balance, reason) {
            (Ok(employee), Ok(balance), Ok(reason)) => rows.push((employee, balance, reason)),
            (employee, balance, reason) => {
                let why: Vec<String> = [employee.err(), balance.err(), reason.err()].into_iter().flatten().collect();
                problems.push(format!("line {line}: {}", why.join("; ")));
            }
        }
    }
    if !problems.is_empty() {
        return Err(DomainError::invalid("csv", format!("nothing was applied. {}", problems.join(". "))).into());
    }
    if rows.is_empty() {
        return Err(DomainError::invalid("csv", "the file has no rows").into());
    }
    Ok(rows)
}

/// The template the CSV upload expects.
pub fn leave_csv_template() -> String {
    format!("{}\nE-0001,15,carried over from last year\n", LEAVE_CSV_HEADER.join(","))
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
        let details = details(services(ctx), &caller, input).await?;
        personnel(ctx, &caller, command_id, PersonnelAction::CreateCard { employee_id, details, by: caller.user.id })
            .await?;
        Ok(card(services(ctx), caller.tenant, employee_id).await?.ok_or_else(|| ApiError::internal("no card"))?)
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
        let details = details(services(ctx), &caller, input).await?;
        personnel(ctx, &caller, command_id, PersonnelAction::UpdateCard { employee_id: id, details }).await?;
        Ok(card(services(ctx), caller.tenant, id).await?.ok_or_else(|| ApiError::internal("no card"))?)
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
        Ok(card(services(ctx), caller.tenant, id).await?.ok_or_else(|| ApiError::internal("no card"))?)
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
        Ok(balance(services(ctx), caller.tenant, employee_id).await?)
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
        let everyone = ledgers(services(ctx), caller.tenant).await?.into_keys().collect();
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
        let negative_allowed = negative_allowed(services(ctx), caller.tenant).await?;
        let rows = parse_csv(services(ctx), caller.tenant, &csv, negative_allowed).await?;
        let batch = new_id(command_id);
        for (line, (employee, balance, reason)) in rows.iter().enumerate() {
            let command_id = Uuid::new_v5(&batch, &(line as u64).to_be_bytes());
            adjust(ctx, &caller, *employee, command_id, AdjustmentSource::Csv, Change::Set(*balance), reason).await?;
        }
        Ok(rows.len() as i32)
    }
}
