//! Certificates over GraphQL (rule H7): requested by an employee for
//! themselves or by an HR manager for anyone, issued by an HR manager, and
//! printed as HTML with the resident number masked as asked.

use async_graphql::{ComplexObject, Context, Enum, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use domain::DomainError;
use domain::hr::{
    CertificateAction, CertificateCommand, CertificateKind, CertificateRegister, CertificateRequest, EmploymentStatus,
    Personnel, PrintedFacts, ResidentNumber,
};
use domain::values::Role;
use projections::projectors::organisation as chart;
use projections::projectors::tenants;
use uuid::Uuid;

use crate::backend::{Backend, new_id};
use crate::errors::{ApiError, ApiResult};
use crate::schema::{Caller, backend, caller, caller_context};

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "CertificateKind", remote = "domain::hr::CertificateKind")]
pub enum Kind {
    /// 재직증명서.
    Employment,
    /// 경력증명서.
    Career,
}

/// A requested certificate: PENDING until an HR manager issues it.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Certificate {
    pub id: Uuid,
    pub employee_id: Uuid,
    pub kind: Kind,
    pub shown_digits: u32,
    pub purpose: String,
    pub copies: u32,
    pub requested_by: Uuid,
    pub requested_at: DateTime<Utc>,
    /// The serial number in the issue register, once issued.
    pub serial: Option<u32>,
    pub issued_at: Option<DateTime<Utc>>,
    #[graphql(skip)]
    pub facts: Option<PrintedFacts>,
    #[graphql(skip)]
    pub tenant: Uuid,
}

impl Certificate {
    fn new(tenant: Uuid, id: Uuid, c: &domain::hr::Certificate) -> Self {
        Self {
            id,
            employee_id: c.request.employee,
            kind: c.request.kind.into(),
            shown_digits: c.request.shown_digits,
            purpose: c.request.purpose.clone(),
            copies: c.request.copies,
            requested_by: c.requested_by,
            requested_at: c.requested_at,
            serial: c.serial,
            issued_at: c.issued_at,
            facts: c.facts.clone(),
            tenant,
        }
    }
}

#[ComplexObject]
impl Certificate {
    /// PENDING or ISSUED.
    async fn status(&self) -> &'static str {
        if self.serial.is_some() { "ISSUED" } else { "PENDING" }
    }

    /// The printed certificate, once issued.
    async fn html(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let (Some(facts), Some(serial)) = (&self.facts, self.serial) else { return Ok(None) };
        let backend = backend(ctx);
        let personnel = backend.commands.load_latest::<Personnel>(self.tenant).await.map_err(ApiError::from)?;
        let sealed = personnel.cards.get(&self.employee_id).and_then(|c| c.details.sealed_resident_number.clone());
        let resident_number = match sealed {
            Some(sealed) if self.shown_digits > 0 => {
                let number = ResidentNumber::parse(&backend.sealer.unseal(&sealed)?)?;
                Some(number.masked(self.shown_digits as usize))
            }
            _ => None,
        };
        let kind: CertificateKind = self.kind.into();
        let page = printing::CertificatePage {
            title: kind.title().to_owned(),
            serial: format!("{}-{serial:04}", facts.issued_on.get(..4).unwrap_or_default()),
            company: facts.company.clone(),
            name: facts.name.clone(),
            employee_no: facts.employee_no.clone(),
            birth_date: facts.birth_date.clone(),
            resident_number,
            department: facts.department.clone(),
            position: facts.position.clone(),
            employed_from: facts.employed_from.clone(),
            employed_to: facts.employed_to.clone(),
            duties: if kind == CertificateKind::Career { facts.duties.clone() } else { None },
            purpose: self.purpose.clone(),
            copies: self.copies,
            issued_on: facts.issued_on.clone(),
        };
        Ok(Some(printing::render(&page, "certificate").map_err(ApiError::internal)?))
    }
}

/// What the certificate of `employee` states today.
async fn facts(backend: &Backend, tenant: Uuid, employee: Uuid) -> ApiResult<PrintedFacts> {
    let personnel = backend.commands.load_latest::<Personnel>(tenant).await?;
    let card = personnel.card(employee)?;
    let company = tenants::tenant(backend.read_models(), tenant)
        .await?
        .ok_or_else(|| ApiError::not_found("company not found"))?;
    let tz = company.time_zone.tz();
    let company = company.company_name.as_str().to_owned();
    let retired = card.history.iter().rev().find(|h| h.status == EmploymentStatus::Retired);
    let d = &card.details;
    let department = match d.department {
        Some(id) => chart::department(backend.read_models(), tenant, id).await?.map(|row| row.name),
        None => None,
    };
    let position = match d.position {
        Some(id) => chart::position(backend.read_models(), tenant, id).await?.map(|row| row.name),
        None => None,
    };
    Ok(PrintedFacts {
        company,
        name: d.name.clone(),
        employee_no: d.employee_no.clone(),
        birth_date: d.birth_date.map(|b| b.to_string()),
        department,
        position,
        employed_from: d.hire_date.map(|h| h.to_string()),
        employed_to: retired.filter(|_| card.status == EmploymentStatus::Retired).map(|r| r.on.to_string()),
        duties: d.duties.clone(),
        issued_on: backend.clock.now().with_timezone(&tz).date_naive().to_string(),
    })
}

async fn run(
    ctx: &Context<'_>,
    caller: &Caller,
    command_id: Option<Uuid>,
    action: CertificateAction,
) -> ApiResult<std::sync::Arc<CertificateRegister>> {
    let backend = backend(ctx);
    let context = caller_context(ctx, caller, command_id);
    let command = CertificateCommand { by_hr_manager: caller.has(Role::HrManager), by: caller.user.id, action };
    backend.execute::<CertificateRegister>(caller.tenant, &context, command).await?;
    Ok(backend.commands.load_latest::<CertificateRegister>(caller.tenant).await?)
}

fn view(register: &CertificateRegister, tenant: Uuid, id: Uuid) -> ApiResult<Certificate> {
    let certificate =
        register.certificates.get(&id).ok_or_else(|| ApiError::internal("the certificate is not there"))?;
    Ok(Certificate::new(tenant, id, certificate))
}

#[derive(Default)]
pub struct CertificateQuery;

#[Object]
impl CertificateQuery {
    /// Certificates, newest first: an HR manager sees all, others their own.
    async fn certificates(&self, ctx: &Context<'_>) -> Result<Vec<Certificate>> {
        let caller = caller(ctx).await?;
        let register =
            backend(ctx).commands.load_latest::<CertificateRegister>(caller.tenant).await.map_err(ApiError::from)?;
        let hr = caller.has(Role::HrManager);
        let mut list: Vec<Certificate> = register
            .certificates
            .iter()
            .filter(|(_, c)| hr || c.request.employee == caller.user.id)
            .map(|(id, c)| Certificate::new(caller.tenant, *id, c))
            .collect();
        list.sort_by(|a, b| b.requested_at.cmp(&a.requested_at).then(b.id.cmp(&a.id)));
        Ok(list)
    }
}

#[derive(Default)]
pub struct CertificateMutation;

#[Object]
impl CertificateMutation {
    /// Requests a certificate: for oneself, or (HR managers) for anyone with
    /// an HR card, retired staff included (rule H7).
    #[allow(clippy::too_many_arguments)]
    async fn request_certificate(
        &self,
        ctx: &Context<'_>,
        employee_id: Option<Uuid>,
        kind: Kind,
        #[graphql(default)] shown_digits: u32,
        purpose: String,
        #[graphql(default = 1)] copies: u32,
        command_id: Option<Uuid>,
    ) -> Result<Certificate> {
        let caller = caller(ctx).await?;
        let employee = employee_id.unwrap_or(caller.user.id);
        let personnel = backend(ctx).commands.load_latest::<Personnel>(caller.tenant).await.map_err(ApiError::from)?;
        if !personnel.cards.contains_key(&employee) {
            return Err(ApiError::from(DomainError::NotFound(format!("an HR card for {employee}"))).into());
        }
        let certificate_id = new_id(command_id);
        let request = CertificateRequest { employee, kind: kind.into(), shown_digits, purpose, copies };
        let register = run(ctx, &caller, command_id, CertificateAction::Request { certificate_id, request }).await?;
        Ok(view(&register, caller.tenant, certificate_id)?)
    }

    /// Issues a pending certificate with the next serial number of the
    /// issue register (HR managers only).
    async fn issue_certificate(&self, ctx: &Context<'_>, id: Uuid, command_id: Option<Uuid>) -> Result<Certificate> {
        let caller = caller(ctx).await?;
        if !caller.has(Role::HrManager) {
            return Err(ApiError::forbidden("only an HR manager issues certificates").into());
        }
        let register =
            backend(ctx).commands.load_latest::<CertificateRegister>(caller.tenant).await.map_err(ApiError::from)?;
        let employee = register
            .certificates
            .get(&id)
            .map(|c| c.request.employee)
            .ok_or_else(|| ApiError::not_found(format!("certificate {id}")))?;
        let facts = facts(backend(ctx), caller.tenant, employee).await?;
        let register = run(ctx, &caller, command_id, CertificateAction::Issue { certificate_id: id, facts }).await?;
        Ok(view(&register, caller.tenant, id)?)
    }
}
