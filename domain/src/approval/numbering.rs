//! Document numbers: `<company>-YYYY-NNNNN`, given when a document
//! completes, from one gap-free sequence per tenant and year. One stream per
//! tenant and year (`docnumbers-<id>`, see [`DocumentNumbers::id`]): its
//! expected version makes concurrent completions take turns. The command
//! that asks for a document's number carries an id derived from the
//! document, so asking again replays the first answer; and the numbers
//! given last are kept, so that two processes asking at once for the same
//! document (the API and the process managers) get the same one.
//! The document itself refuses a second, different number.

use std::collections::VecDeque;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ApprovalSetup;
use crate::tenant::Tenant;
use crate::{Actor, Aggregate, DomainError, DomainEvent};

/// The highest number of a year.
const MAX_SEQUENCE: u32 = 99_999;
/// How many of the last numbers are kept by document.
const KEPT: usize = 1_000;

#[derive(Debug, Clone, PartialEq)]
pub struct AssignNumber {
    pub document_id: Uuid,
    pub prefix: String,
    pub year: i32,
}

/// What a document's number takes from its company: the year it was
/// completed in, in the company's time zone, and the prefix its domain
/// gives (the first label in capitals) when the settings name none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberBasis {
    year: i32,
    domain_prefix: String,
}

impl NumberBasis {
    /// The basis of a document of `company` completed at `completed_at`.
    pub fn of(company: &Tenant, completed_at: DateTime<Utc>) -> Self {
        let domain = company.domain.as_ref().map(ToString::to_string).unwrap_or_default();
        let domain_prefix = domain.split('.').next().unwrap_or("DOC").to_ascii_uppercase();
        Self { year: company.time_zone.date_at(completed_at).year(), domain_prefix }
    }
}

impl AssignNumber {
    /// The number `document` asks for: of the year of `basis`, with the
    /// prefix of the company's approval settings or, without one, its
    /// domain's.
    pub fn for_document(document_id: Uuid, basis: &NumberBasis, setup: &ApprovalSetup) -> Self {
        let prefix = setup.settings.number_prefix.clone().unwrap_or_else(|| basis.domain_prefix.clone());
        Self { document_id, prefix, year: basis.year }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum NumberingEvent {
    #[serde(rename = "DocumentNumberAssigned")]
    Assigned { document_id: Uuid, sequence: u32, number: String },
}

impl DomainEvent for NumberingEvent {
    fn event_type(&self) -> &'static str {
        "DocumentNumberAssigned"
    }
}

/// The numbers of one tenant's year: the last, and the latest ones given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentNumbers {
    pub last: u32,
    pub recent: VecDeque<(Uuid, String)>,
}

impl DocumentNumbers {
    /// The stream id of `tenant`'s numbers in `year`.
    pub fn id(tenant: Uuid, year: i32) -> Uuid {
        Uuid::new_v5(&tenant, format!("document-numbers-{year}").as_bytes())
    }

    /// The number `document` got lately, if any.
    pub fn given(&self, document: Uuid) -> Option<&str> {
        self.recent.iter().find(|(d, _)| *d == document).map(|(_, n)| n.as_str())
    }
}

impl Aggregate for DocumentNumbers {
    type Command = AssignNumber;
    type Event = NumberingEvent;

    const CATEGORY: &'static str = "docnumbers";
    const SNAPSHOT_VERSION: u32 = 1;
    /// Every completion of the company's year takes its number here.
    const BATCHES: bool = true;

    fn authorize(&self, actor: &Actor, _command: &AssignNumber) -> Result<(), DomainError> {
        match actor {
            Actor::System => Ok(()),
            _ => Err(DomainError::Forbidden("only the system numbers documents".into())),
        }
    }

    fn decide(&self, command: &AssignNumber, _now: DateTime<Utc>) -> Result<Vec<NumberingEvent>, DomainError> {
        if self.given(command.document_id).is_some() {
            return Ok(vec![]);
        }
        if self.last >= MAX_SEQUENCE {
            return Err(DomainError::LimitExceeded(format!("{} documents completed this year", MAX_SEQUENCE)));
        }
        let sequence = self.last + 1;
        let number = format!("{}-{}-{sequence:05}", command.prefix, command.year);
        Ok(vec![NumberingEvent::Assigned { document_id: command.document_id, sequence, number }])
    }

    fn evolve(mut self, event: &NumberingEvent) -> Self {
        let NumberingEvent::Assigned { document_id, sequence, number } = event;
        self.last = *sequence;
        if self.recent.len() == KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back((*document_id, number.clone()));
        self
    }
}
