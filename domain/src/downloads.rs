//! Files made in the background for a user to download — a backup of
//! approval documents (rule A10), an archive of the company's history —
//! asked for, then made or failed, and downloadable for 30 days after the
//! request; after that they must be asked for again.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainError;

/// How long a file can be downloaded after it was asked for.
pub const KEPT_DAYS: i64 = 30;

/// How far a file has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileState {
    Preparing,
    /// Made: its blob's digest, its size and how many items (documents,
    /// events) it holds.
    Ready {
        sha256: String,
        size: u64,
        items: u64,
    },
    Failed {
        reason: String,
    },
}

/// A file asked for, by whom and when, and how far it has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Download {
    pub requested_by: Uuid,
    pub requested_at: DateTime<Utc>,
    pub state: FileState,
}

impl Download {
    /// A file `by` asked for `at`, to be made.
    pub fn asked(by: Uuid, at: DateTime<Utc>) -> Self {
        Self { requested_by: by, requested_at: at, state: FileState::Preparing }
    }

    /// Until when it can be downloaded.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.requested_at + Duration::days(KEPT_DAYS)
    }

    pub fn is_preparing(&self) -> bool {
        self.state == FileState::Preparing
    }

    /// # Errors
    /// [`DomainError::Conflict`] once it is made or has failed (`what`
    /// names it).
    pub fn unfinished(&self, what: &str) -> Result<(), DomainError> {
        if self.is_preparing() { Ok(()) } else { Err(DomainError::Conflict(format!("{what} is already finished"))) }
    }

    /// The file's blob, when it may be downloaded at `now`; `what` names
    /// the file in refusals, which cite `rule` when one says so.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] while it is being made, when it failed, or
    /// once the 30 days are over.
    pub fn blob(&self, now: DateTime<Utc>, what: &str, rule: Option<&'static str>) -> Result<&str, DomainError> {
        let refused = |message: String| {
            let refusal = DomainError::Conflict(message);
            match rule {
                Some(rule) => refusal.by_rule(rule),
                None => refusal,
            }
        };
        if now >= self.expires_at() {
            return Err(refused(format!(
                "this {what} could be downloaded until {}; request a new one",
                self.expires_at().to_rfc3339()
            )));
        }
        match &self.state {
            FileState::Ready { sha256, .. } => Ok(sha256),
            FileState::Preparing => Err(refused(format!("the {what} is still being made"))),
            FileState::Failed { reason } => Err(refused(format!("the {what} failed: {reason}"))),
        }
    }
}
