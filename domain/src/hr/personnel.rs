//! HR cards (rules H1–H3): everyone of the company has one, with or without
//! a mail account. One stream per tenant (`personnel-<tenant>`), so that
//! employee numbers stay unique; only HR managers change it (rule H1).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::Name;
use crate::{Actor, Aggregate, DomainError, DomainEvent};

const MAX_EMPLOYEE_NO: usize = 30;
const MAX_TEXT: usize = 500;

/// Employment status (rule H3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum EmploymentStatus {
    Active,
    /// 휴직.
    OnLeave,
    Retired,
}

/// A resident registration number (주민등록번호), validated; it is stored
/// only sealed (encrypted) and shown only masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentNumber(String);

impl ResidentNumber {
    /// `YYMMDD-NNNNNNN` (the hyphen may be left out).
    ///
    /// # Errors
    /// [`DomainError::Invalid`] for anything else, or an impossible birth date.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let digits: String = input.trim().chars().filter(|c| *c != '-').collect();
        let wrong = || DomainError::invalid("residentNumber", "a resident number is YYMMDD-NNNNNNN");
        if digits.len() != 13 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(wrong());
        }
        let number = Self(digits);
        number.birth_date().ok_or_else(wrong)?;
        Ok(number)
    }

    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The date of birth the number states (its 7th digit gives the century).
    pub fn birth_date(&self) -> Option<NaiveDate> {
        let d = self.0.as_bytes();
        let century = match d[6] {
            b'1' | b'2' | b'5' | b'6' => 1900,
            b'3' | b'4' | b'7' | b'8' => 2000,
            b'9' | b'0' => 1800,
            _ => return None,
        };
        let year = century + self.0[0..2].parse::<i32>().ok()?;
        NaiveDate::from_ymd_opt(year, self.0[2..4].parse().ok()?, self.0[4..6].parse().ok()?)
    }

    /// The first `shown` digits, the rest as `*`, like `711231-1******`.
    pub fn masked(&self, shown: usize) -> String {
        let masked: String = self.0.chars().enumerate().map(|(i, c)| if i < shown { c } else { '*' }).collect();
        format!("{}-{}", &masked[..6], &masked[6..])
    }
}

/// What an HR manager states on a card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CardDetails {
    pub employee_no: String,
    pub name: String,
    /// The mail account, when the person has one.
    pub user: Option<Uuid>,
    pub department: Option<Uuid>,
    pub position: Option<Uuid>,
    pub hire_date: Option<NaiveDate>,
    pub birth_date: Option<NaiveDate>,
    /// The photo's blob (SHA-256).
    pub photo: Option<String>,
    /// Duties, for career certificates.
    pub duties: Option<String>,
    /// The resident number sealed by the caller; never in clear here.
    pub sealed_resident_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StatusChange {
    pub status: EmploymentStatus,
    pub on: NaiveDate,
    pub reason: String,
    pub by: Uuid,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub details: CardDetails,
    pub status: EmploymentStatus,
    /// Rule H3: every change, oldest first.
    pub history: Vec<StatusChange>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PersonnelCommand {
    /// The caller has checked that the acting user is an HR manager.
    pub by_hr_manager: bool,
    pub action: PersonnelAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PersonnelAction {
    CreateCard { employee_id: Uuid, details: CardDetails, by: Uuid },
    UpdateCard { employee_id: Uuid, details: CardDetails },
    ChangeStatus { employee_id: Uuid, status: EmploymentStatus, on: NaiveDate, reason: String, by: Uuid },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum PersonnelEvent {
    #[serde(rename = "HrCardCreated")]
    CardCreated { employee_id: Uuid, details: CardDetails, by: Uuid, at: DateTime<Utc> },
    #[serde(rename = "HrCardUpdated")]
    CardUpdated { employee_id: Uuid, details: CardDetails },
    #[serde(rename = "EmploymentStatusChanged")]
    StatusChanged { employee_id: Uuid, change: StatusChange },
}

impl DomainEvent for PersonnelEvent {
    fn event_type(&self) -> &'static str {
        match self {
            PersonnelEvent::CardCreated { .. } => "HrCardCreated",
            PersonnelEvent::CardUpdated { .. } => "HrCardUpdated",
            PersonnelEvent::StatusChanged { .. } => "EmploymentStatusChanged",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Personnel {
    pub cards: BTreeMap<Uuid, Card>,
}

impl Personnel {
    pub fn card(&self, id: Uuid) -> Result<&Card, DomainError> {
        self.cards.get(&id).ok_or_else(|| DomainError::NotFound(format!("HR card {id}")))
    }

    fn checked(&self, employee_id: Uuid, details: &CardDetails) -> Result<CardDetails, DomainError> {
        let employee_no = details.employee_no.trim();
        let fits = !employee_no.is_empty()
            && employee_no.len() <= MAX_EMPLOYEE_NO
            && employee_no.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !fits {
            return Err(DomainError::invalid("employeeNo", "1 to 30 letters, digits or hyphens"));
        }
        let taken = self.cards.iter().any(|(id, c)| *id != employee_id && c.details.employee_no == employee_no);
        if taken {
            return Err(DomainError::Conflict(format!("employee number {employee_no} is already someone's")));
        }
        if let Some(user) = details.user
            && self.cards.iter().any(|(id, c)| *id != employee_id && c.details.user == Some(user))
        {
            return Err(DomainError::Conflict(format!("user {user} already has an HR card")));
        }
        let duties = details.duties.as_deref().map(str::trim).filter(|d| !d.is_empty());
        if duties.is_some_and(|d| d.chars().count() > MAX_TEXT) {
            return Err(DomainError::invalid("duties", format!("at most {MAX_TEXT} characters")));
        }
        Ok(CardDetails {
            employee_no: employee_no.to_owned(),
            name: Name::parse("name", &details.name)?.as_str().to_owned(),
            duties: duties.map(str::to_owned),
            ..details.clone()
        })
    }
}

impl Aggregate for Personnel {
    type Command = PersonnelCommand;
    type Event = PersonnelEvent;

    const CATEGORY: &'static str = "personnel";
    const SNAPSHOT_VERSION: u32 = 1;

    fn authorize(&self, actor: &Actor, command: &PersonnelCommand) -> Result<(), DomainError> {
        match actor {
            Actor::System => Ok(()),
            Actor::User(_) if command.by_hr_manager => Ok(()),
            Actor::User(_) => Err(DomainError::Forbidden("only an HR manager manages HR cards".into()).by_rule("H1")),
            Actor::Anonymous => Err(DomainError::Unauthenticated("log in first".into())),
        }
    }

    fn decide(&self, command: &PersonnelCommand, now: DateTime<Utc>) -> Result<Vec<PersonnelEvent>, DomainError> {
        let event = match &command.action {
            PersonnelAction::CreateCard { employee_id, details, by } => {
                if self.cards.contains_key(employee_id) {
                    return Err(DomainError::Conflict(format!("HR card {employee_id} already exists")));
                }
                let details = self.checked(*employee_id, details)?;
                PersonnelEvent::CardCreated { employee_id: *employee_id, details, by: *by, at: now }
            }
            PersonnelAction::UpdateCard { employee_id, details } => {
                let card = self.card(*employee_id)?;
                // The card of an account is that account's (its id is the
                // user's), and its leave ledger counts from the hire date.
                if details.user != card.details.user {
                    return Err(DomainError::invalid("userId", "the mail account of a card cannot change"));
                }
                if card.details.user.is_some()
                    && card.details.hire_date.is_some()
                    && details.hire_date != card.details.hire_date
                {
                    return Err(DomainError::invalid(
                        "hireDate",
                        "the hire date of someone with a leave ledger cannot change; adjust their leave instead",
                    )
                    .by_rule("H4"));
                }
                let mut details = self.checked(*employee_id, details)?;
                // A sealed number is kept unless a new one is given.
                if details.sealed_resident_number.is_none() {
                    details.sealed_resident_number = card.details.sealed_resident_number.clone();
                }
                PersonnelEvent::CardUpdated { employee_id: *employee_id, details }
            }
            PersonnelAction::ChangeStatus { employee_id, status, on, reason, by } => {
                let card = self.card(*employee_id)?;
                if card.status == *status {
                    return Err(DomainError::Conflict("the status is already that".into()));
                }
                let reason = reason.trim();
                if reason.chars().count() > MAX_TEXT {
                    return Err(DomainError::invalid("reason", format!("at most {MAX_TEXT} characters")));
                }
                if card.history.last().is_some_and(|last| *on < last.on) {
                    return Err(DomainError::invalid("on", "a change is dated on or after the one before"));
                }
                let change = StatusChange { status: *status, on: *on, reason: reason.to_owned(), by: *by, at: now };
                PersonnelEvent::StatusChanged { employee_id: *employee_id, change }
            }
        };
        Ok(vec![event])
    }

    fn evolve(mut self, event: &PersonnelEvent) -> Self {
        match event {
            PersonnelEvent::CardCreated { employee_id, details, by, at } => {
                let hired = details.hire_date.unwrap_or_else(|| at.date_naive());
                let first = StatusChange {
                    status: EmploymentStatus::Active,
                    on: hired,
                    reason: "hired".into(),
                    by: *by,
                    at: *at,
                };
                let card = Card { details: details.clone(), status: EmploymentStatus::Active, history: vec![first] };
                self.cards.insert(*employee_id, card);
            }
            PersonnelEvent::CardUpdated { employee_id, details } => {
                if let Some(card) = self.cards.get_mut(employee_id) {
                    card.details = details.clone();
                }
            }
            PersonnelEvent::StatusChanged { employee_id, change } => {
                if let Some(card) = self.cards.get_mut(employee_id) {
                    card.status = change.status;
                    card.history.push(change.clone());
                }
            }
        }
        self
    }
}
