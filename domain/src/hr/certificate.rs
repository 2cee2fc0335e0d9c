//! Certificates (rule H7): employment (재직증명서) and career (경력증명서)
//! certificates, requested by an employee for themselves or by an HR
//! manager for anyone, retired staff included; they wait as pending until
//! an HR manager issues them, which gives them the next serial number of
//! the company's issue register. One stream per tenant
//! (`certificates-<tenant>`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Actor, Aggregate, DomainError, DomainEvent};

const MAX_PURPOSE: usize = 200;
const MAX_COPIES: u32 = 10;
/// The digits of a resident number.
pub const RESIDENT_DIGITS: u32 = 13;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum CertificateKind {
    /// 재직증명서.
    Employment,
    /// 경력증명서.
    Career,
}

impl CertificateKind {
    pub fn title(self) -> &'static str {
        match self {
            CertificateKind::Employment => "재직증명서",
            CertificateKind::Career => "경력증명서",
        }
    }
}

/// What a request states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CertificateRequest {
    pub employee: Uuid,
    pub kind: CertificateKind,
    /// How many digits of the resident number to show (0 to 13).
    pub shown_digits: u32,
    pub purpose: String,
    pub copies: u32,
}

/// What an issued certificate states, as it was on the day of issue. The
/// resident number is not among them: it is shown from the sealed copy on
/// the HR card, masked as the request asks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PrintedFacts {
    pub company: String,
    pub name: String,
    pub employee_no: String,
    pub birth_date: Option<String>,
    pub department: Option<String>,
    pub position: Option<String>,
    pub employed_from: Option<String>,
    /// None: still employed.
    pub employed_to: Option<String>,
    pub duties: Option<String>,
    pub issued_on: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub request: CertificateRequest,
    pub requested_by: Uuid,
    pub requested_at: DateTime<Utc>,
    /// The serial number in the issue register, once issued.
    pub serial: Option<u32>,
    pub issued_at: Option<DateTime<Utc>>,
    pub facts: Option<PrintedFacts>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CertificateCommand {
    /// The caller has checked whether the acting user is an HR manager.
    pub by_hr_manager: bool,
    pub by: Uuid,
    pub action: CertificateAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CertificateAction {
    /// The caller has checked that the employee has an HR card.
    Request { certificate_id: Uuid, request: CertificateRequest },
    /// The caller gathers the facts from the HR card and the organisation.
    Issue { certificate_id: Uuid, facts: PrintedFacts },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum CertificateEvent {
    #[serde(rename = "CertificateRequested")]
    Requested { certificate_id: Uuid, request: CertificateRequest, by: Uuid, at: DateTime<Utc> },
    #[serde(rename = "CertificateIssued")]
    Issued { certificate_id: Uuid, serial: u32, facts: PrintedFacts, by: Uuid, at: DateTime<Utc> },
}

impl DomainEvent for CertificateEvent {
    fn event_type(&self) -> &'static str {
        match self {
            CertificateEvent::Requested { .. } => "CertificateRequested",
            CertificateEvent::Issued { .. } => "CertificateIssued",
        }
    }
}

/// A company's certificates and its issue register.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CertificateRegister {
    pub certificates: BTreeMap<Uuid, Certificate>,
    pub last_serial: u32,
}

impl Aggregate for CertificateRegister {
    type Command = CertificateCommand;
    type Event = CertificateEvent;

    const CATEGORY: &'static str = "certificates";
    const SNAPSHOT_VERSION: u32 = 1;

    fn authorize(&self, actor: &Actor, command: &CertificateCommand) -> Result<(), DomainError> {
        match (actor, &command.action) {
            (Actor::System, _) => Ok(()),
            (Actor::Anonymous, _) => Err(DomainError::Unauthenticated("log in first".into())),
            (Actor::User(id), _) if *id != command.by => {
                Err(DomainError::Forbidden("a user acts only in their own name".into()))
            }
            (Actor::User(_), _) if command.by_hr_manager => Ok(()),
            (Actor::User(id), CertificateAction::Request { request, .. }) if request.employee == *id => Ok(()),
            (Actor::User(_), CertificateAction::Request { .. }) => {
                Err(DomainError::Forbidden("only an HR manager requests a certificate for someone else".into())
                    .by_rule("H7"))
            }
            (Actor::User(_), CertificateAction::Issue { .. }) => {
                Err(DomainError::Forbidden("only an HR manager issues certificates".into()).by_rule("H7"))
            }
        }
    }

    fn decide(&self, command: &CertificateCommand, now: DateTime<Utc>) -> Result<Vec<CertificateEvent>, DomainError> {
        match &command.action {
            CertificateAction::Request { certificate_id, request } => {
                if self.certificates.contains_key(certificate_id) {
                    return Err(DomainError::Conflict(format!("certificate {certificate_id} already exists")));
                }
                if request.shown_digits > RESIDENT_DIGITS {
                    return Err(DomainError::invalid("shownDigits", "0 to 13 digits of the resident number"));
                }
                if !(1..=MAX_COPIES).contains(&request.copies) {
                    return Err(DomainError::invalid("copies", format!("1 to {MAX_COPIES} copies")));
                }
                let purpose = request.purpose.trim();
                if purpose.is_empty() || purpose.chars().count() > MAX_PURPOSE {
                    return Err(DomainError::invalid(
                        "purpose",
                        format!("a purpose has 1 to {MAX_PURPOSE} characters"),
                    ));
                }
                let request = CertificateRequest { purpose: purpose.to_owned(), ..request.clone() };
                Ok(vec![CertificateEvent::Requested {
                    certificate_id: *certificate_id,
                    request,
                    by: command.by,
                    at: now,
                }])
            }
            CertificateAction::Issue { certificate_id, facts } => {
                let certificate = self
                    .certificates
                    .get(certificate_id)
                    .ok_or_else(|| DomainError::NotFound(format!("certificate {certificate_id}")))?;
                if let Some(serial) = certificate.serial {
                    return Err(DomainError::Conflict(format!("the certificate was already issued as No. {serial}"))
                        .by_rule("H7"));
                }
                let serial = self.last_serial + 1;
                Ok(vec![CertificateEvent::Issued {
                    certificate_id: *certificate_id,
                    serial,
                    facts: facts.clone(),
                    by: command.by,
                    at: now,
                }])
            }
        }
    }

    fn evolve(mut self, event: &CertificateEvent) -> Self {
        match event {
            CertificateEvent::Requested { certificate_id, request, by, at } => {
                let certificate = Certificate {
                    request: request.clone(),
                    requested_by: *by,
                    requested_at: *at,
                    serial: None,
                    issued_at: None,
                    facts: None,
                };
                self.certificates.insert(*certificate_id, certificate);
            }
            CertificateEvent::Issued { certificate_id, serial, facts, at, .. } => {
                self.last_serial = self.last_serial.max(*serial);
                if let Some(certificate) = self.certificates.get_mut(certificate_id) {
                    certificate.serial = Some(*serial);
                    certificate.issued_at = Some(*at);
                    certificate.facts = Some(facts.clone());
                }
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, given};

    const EMPLOYEE: Uuid = Uuid::from_u128(1);
    const HR: Uuid = Uuid::from_u128(2);
    const CERT: Uuid = Uuid::from_u128(10);

    fn request(employee: Uuid) -> CertificateRequest {
        CertificateRequest {
            employee,
            kind: CertificateKind::Employment,
            shown_digits: 7,
            purpose: "은행 제출용".into(),
            copies: 2,
        }
    }

    fn ask(by: Uuid, hr: bool, employee: Uuid) -> CertificateCommand {
        CertificateCommand {
            by_hr_manager: hr,
            by,
            action: CertificateAction::Request { certificate_id: CERT, request: request(employee) },
        }
    }

    fn requested() -> CertificateEvent {
        CertificateEvent::Requested {
            certificate_id: CERT,
            request: request(EMPLOYEE),
            by: EMPLOYEE,
            at: at("2026-11-26T09:00:00+09:00"),
        }
    }

    #[test]
    fn rule_h7_an_employee_requests_their_own_and_an_hr_manager_anyone_s() {
        given::<CertificateRegister>(vec![])
            .when(Actor::User(EMPLOYEE), ask(EMPLOYEE, false, EMPLOYEE))
            .then(vec![requested()]);
        given::<CertificateRegister>(vec![]).when(Actor::User(EMPLOYEE), ask(EMPLOYEE, false, HR)).then_refused(
            DomainError::Forbidden("only an HR manager requests a certificate for someone else".into()).by_rule("H7"),
        );
        let by_hr = CertificateRegister::default().decide(&ask(HR, true, EMPLOYEE), at("2026-11-26T09:00:00+09:00"));
        assert!(by_hr.is_ok());
    }

    #[test]
    fn rule_h7_a_certificate_waits_until_an_hr_manager_issues_it_with_the_next_serial() {
        let issue = |by, hr| CertificateCommand {
            by_hr_manager: hr,
            by,
            action: CertificateAction::Issue { certificate_id: CERT, facts: PrintedFacts::default() },
        };
        given::<CertificateRegister>(vec![requested()])
            .when(Actor::User(EMPLOYEE), issue(EMPLOYEE, false))
            .then_refused(DomainError::Forbidden("only an HR manager issues certificates".into()).by_rule("H7"));
        let issued = CertificateEvent::Issued {
            certificate_id: CERT,
            serial: 1,
            facts: PrintedFacts::default(),
            by: HR,
            at: at("2026-11-26T09:00:00+09:00"),
        };
        given::<CertificateRegister>(vec![requested()])
            .when(Actor::User(HR), issue(HR, true))
            .then(vec![issued.clone()]);
        given::<CertificateRegister>(vec![requested(), issued])
            .when(Actor::User(HR), issue(HR, true))
            .then_refused(DomainError::Conflict("the certificate was already issued as No. 1".into()).by_rule("H7"));
    }

    #[test]
    fn rule_h7_bad_requests_are_refused() {
        let mut bad = ask(EMPLOYEE, false, EMPLOYEE);
        for change in [
            |r: &mut CertificateRequest| r.shown_digits = 14,
            |r: &mut CertificateRequest| r.copies = 0,
            |r: &mut CertificateRequest| r.copies = 11,
            |r: &mut CertificateRequest| r.purpose = " ".into(),
        ] {
            let mut request = request(EMPLOYEE);
            change(&mut request);
            bad.action = CertificateAction::Request { certificate_id: CERT, request };
            let result = CertificateRegister::default().decide(&bad, at("2026-11-26T09:00:00+09:00"));
            assert!(matches!(result, Err(DomainError::Invalid { .. })), "{result:?}");
        }
    }
}
