//! HR over GraphQL (rules H1–H7): HR managers keep the cards, adjust leave
//! and issue certificates; everyone reads their own card and leave and
//! requests certificates.

mod certificates;
mod leave_csv;
mod mutation;
mod query;
pub mod types;

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use async_graphql::MergedObject;
use commands::{AggregateHandle, Reaction};

use domain::approval::ApprovalSetup;
use domain::values::Role;
use projections::projectors::hr as read;
use uuid::Uuid;

pub use certificates::{CertificateMutation, CertificateQuery};
use leave_csv::leave_csv_template;
pub use mutation::HrMutation;
pub use query::HrQuery;
use types::{HrCard, LeaveBalance};

use super::Caller;
use crate::backend::Backend;
use crate::capabilities::Capability;
use crate::errors::{ApiError, ApiResult};
use crate::rest;

/// HR and leave (rules H1–H7): cards, ledgers and certificates; ledgers
/// open, settle and take leave as cards and documents change.
pub(crate) fn capability() -> Capability {
    use domain::approval::Document;
    use domain::hr::{self, CertificateRegister, LeaveLedger, Personnel};
    Capability {
        aggregates: vec![
            AggregateHandle::of::<Personnel>(),
            AggregateHandle::of::<LeaveLedger>(),
            AggregateHandle::of::<CertificateRegister>(),
        ],
        projectors: vec![Arc::new(read::HrProjector)],
        reactions: || {
            vec![
                Reaction::on::<Personnel>(hr::reactions::on_personnel),
                Reaction::on::<LeaveLedger>(hr::reactions::on_ledger),
                Reaction::on::<Document>(hr::reactions::on_document),
            ]
        },
        timers: vec![(hr::reactions::LEAVE_SETTLE, hr::reactions::on_settle)],
        routes: Some(routes),
        ..Capability::new("hr")
    }
}

fn routes(config: &mut web::ServiceConfig) {
    config
        .service(rest::resource("/hr/leave-adjustments.csv", "GET").route(web::get().to(download_leave_csv_template)));
}

/// `GET /hr/leave-adjustments.csv`: the template of the leave adjustment
/// upload (rule H5).
async fn download_leave_csv_template() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("content-disposition", "attachment; filename=\"leave-adjustments.csv\""))
        .body(leave_csv_template())
}

/// HR's queries.
#[derive(MergedObject, Default)]
pub struct HrQueries(HrQuery, CertificateQuery);

/// HR's mutations.
#[derive(MergedObject, Default)]
pub struct HrMutations(HrMutation, CertificateMutation);

fn require_hr(caller: &Caller) -> ApiResult<()> {
    if caller.has(Role::HrManager) {
        Ok(())
    } else {
        Err(ApiError::forbidden("only an HR manager may do this").by_rule("H1"))
    }
}

fn no_ledger(employee: Uuid) -> ApiError {
    ApiError::not_found(format!(
        "no leave ledger for {employee}: leave applies to people with a mail account and a hire date"
    ))
    .by_rule("H4")
}

async fn card(backend: &Backend, tenant: Uuid, id: Uuid) -> ApiResult<Option<HrCard>> {
    Ok(read::card(backend.read_models(), tenant, id).await?.map(HrCard::from))
}

async fn balance(backend: &Backend, tenant: Uuid, employee: Uuid) -> ApiResult<LeaveBalance> {
    let row = read::ledger(backend.read_models(), tenant, employee).await?;
    let row = row.filter(|r| r.hire_date.is_some()).ok_or_else(|| no_ledger(employee))?;
    Ok(LeaveBalance::from(&row))
}

/// A balance and what requests in progress have reserved of it, in quarter
/// days.
#[derive(Debug, Clone, Copy)]
struct Held {
    balance: i64,
    reserved: i64,
}

/// The employees with a leave ledger, with their balances.
async fn ledgers(backend: &Backend, tenant: Uuid) -> ApiResult<BTreeMap<Uuid, Held>> {
    let rows = read::ledgers(backend.read_models(), tenant).await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.hire_date.is_some())
        .map(|r| (r.employee_id, Held { balance: r.balance, reserved: r.reserved }))
        .collect())
}

/// Whether the company allows negative leave balances (its approval
/// settings).
async fn negative_allowed(backend: &Backend, tenant: Uuid) -> ApiResult<bool> {
    Ok(backend.commands.load_latest::<ApprovalSetup>(tenant).await?.settings.negative_leave_allowed)
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
