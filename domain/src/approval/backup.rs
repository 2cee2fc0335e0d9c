//! Backups of approval documents (rule A10): an admin asks for a date
//! range (YYYYMMDD–YYYYMMDD); the archive of HTML files is made in the
//! background; it can be downloaded for 30 days after the request, then it
//! must be requested again (see [`crate::downloads`]). One stream per
//! tenant (`backups-<tenant>`).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::downloads::{Download, FileState};
use crate::{Actor, Aggregate, DomainError, DomainEvent};

/// A day written `YYYYMMDD`.
///
/// # Errors
/// [`DomainError::Invalid`] for anything else.
pub fn day(field: &'static str, input: &str) -> Result<NaiveDate, DomainError> {
    let input = input.trim();
    if input.len() != 8 {
        return Err(DomainError::invalid(field, "a day is written YYYYMMDD"));
    }
    NaiveDate::parse_from_str(input, "%Y%m%d").map_err(|_| DomainError::invalid(field, "a day is written YYYYMMDD"))
}

/// A backup of the documents submitted from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(flatten)]
    pub file: Download,
}

impl Backup {
    /// The archive's blob, when it may be downloaded at `now`.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] while it is being made, when it failed, or
    /// once the 30 days are over.
    pub fn download(&self, now: DateTime<Utc>) -> Result<&str, DomainError> {
        self.file.blob(now, "backup", Some("A10"))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackupCommand {
    /// The caller has checked that the acting user is an admin.
    pub by_admin: bool,
    pub action: BackupAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BackupAction {
    Request {
        backup_id: Uuid,
        from: NaiveDate,
        to: NaiveDate,
        by: Uuid,
    },
    /// The background worker.
    Complete {
        backup_id: Uuid,
        sha256: String,
        size: u64,
        documents: u32,
    },
    Fail {
        backup_id: Uuid,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum BackupEvent {
    #[serde(rename = "ApprovalBackupRequested")]
    Requested { backup_id: Uuid, from: NaiveDate, to: NaiveDate, by: Uuid, at: DateTime<Utc> },
    #[serde(rename = "ApprovalBackupCompleted")]
    Completed { backup_id: Uuid, sha256: String, size: u64, documents: u32 },
    #[serde(rename = "ApprovalBackupFailed")]
    Failed { backup_id: Uuid, reason: String },
}

impl DomainEvent for BackupEvent {
    fn event_type(&self) -> &'static str {
        match self {
            BackupEvent::Requested { .. } => "ApprovalBackupRequested",
            BackupEvent::Completed { .. } => "ApprovalBackupCompleted",
            BackupEvent::Failed { .. } => "ApprovalBackupFailed",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Backups {
    pub backups: BTreeMap<Uuid, Backup>,
}

impl Backups {
    pub fn backup(&self, id: Uuid) -> Result<&Backup, DomainError> {
        self.backups.get(&id).ok_or_else(|| DomainError::NotFound(format!("backup {id}")))
    }

    fn preparing(&self, id: Uuid) -> Result<(), DomainError> {
        self.backup(id)?.file.unfinished(&format!("backup {id}"))
    }
}

impl Aggregate for Backups {
    type Command = BackupCommand;
    type Event = BackupEvent;

    const CATEGORY: &'static str = "backups";
    const SNAPSHOT_VERSION: u32 = 2;

    fn authorize(&self, actor: &Actor, command: &BackupCommand) -> Result<(), DomainError> {
        match (actor, &command.action) {
            (Actor::System, _) => Ok(()),
            (Actor::Anonymous, _) => Err(DomainError::Unauthenticated("log in first".into())),
            (Actor::User(_), BackupAction::Request { .. }) if command.by_admin => Ok(()),
            (Actor::User(_), BackupAction::Request { .. }) => {
                Err(DomainError::Forbidden("only an admin of the company backs documents up".into()).by_rule("A10"))
            }
            (Actor::User(_), _) => Err(DomainError::Forbidden("only the system makes backups".into())),
        }
    }

    fn decide(&self, command: &BackupCommand, now: DateTime<Utc>) -> Result<Vec<BackupEvent>, DomainError> {
        let event = match &command.action {
            BackupAction::Request { backup_id, from, to, by } => {
                if self.backups.contains_key(backup_id) {
                    return Err(DomainError::Conflict(format!("backup {backup_id} already exists")));
                }
                if from > to {
                    return Err(DomainError::invalid("to", "the range ends on or after its start"));
                }
                BackupEvent::Requested { backup_id: *backup_id, from: *from, to: *to, by: *by, at: now }
            }
            BackupAction::Complete { backup_id, sha256, size, documents } => {
                self.preparing(*backup_id)?;
                BackupEvent::Completed {
                    backup_id: *backup_id,
                    sha256: sha256.clone(),
                    size: *size,
                    documents: *documents,
                }
            }
            BackupAction::Fail { backup_id, reason } => {
                self.preparing(*backup_id)?;
                BackupEvent::Failed { backup_id: *backup_id, reason: reason.clone() }
            }
        };
        Ok(vec![event])
    }

    fn evolve(mut self, event: &BackupEvent) -> Self {
        match event {
            BackupEvent::Requested { backup_id, from, to, by, at } => {
                self.backups.insert(*backup_id, Backup { from: *from, to: *to, file: Download::asked(*by, *at) });
            }
            BackupEvent::Completed { backup_id, sha256, size, documents } => {
                if let Some(b) = self.backups.get_mut(backup_id) {
                    b.file.state =
                        FileState::Ready { sha256: sha256.clone(), size: *size, items: u64::from(*documents) };
                }
            }
            BackupEvent::Failed { backup_id, reason } => {
                if let Some(b) = self.backups.get_mut(backup_id) {
                    b.file.state = FileState::Failed { reason: reason.clone() };
                }
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::testing::{at, given};

    const ADMIN: Uuid = Uuid::from_u128(1);
    const BACKUP: Uuid = Uuid::from_u128(9);

    fn requested() -> BackupEvent {
        BackupEvent::Requested {
            backup_id: BACKUP,
            from: day("from", "20260101").unwrap(),
            to: day("to", "20261126").unwrap(),
            by: ADMIN,
            at: at("2026-11-26T09:00:00+09:00"),
        }
    }

    #[test]
    fn rule_a10_an_admin_requests_a_backup_of_a_date_range() {
        let request = |by_admin, from: &str, to: &str| BackupCommand {
            by_admin,
            action: BackupAction::Request {
                backup_id: BACKUP,
                from: day("from", from).unwrap(),
                to: day("to", to).unwrap(),
                by: ADMIN,
            },
        };
        given::<Backups>(vec![])
            .when(Actor::User(ADMIN), request(true, "20260101", "20261126"))
            .then(vec![requested()]);
        given::<Backups>(vec![]).when(Actor::User(ADMIN), request(false, "20260101", "20261126")).then_refused(
            DomainError::Forbidden("only an admin of the company backs documents up".into()).by_rule("A10"),
        );
        given::<Backups>(vec![])
            .when(Actor::User(ADMIN), request(true, "20261127", "20261126"))
            .then_refused(DomainError::invalid("to", "the range ends on or after its start"));
        for bad in ["2026-01-01", "20261301", "2026011", ""] {
            assert!(day("from", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rule_a10_a_backup_can_be_downloaded_for_30_days_after_the_request() {
        let ready = BackupEvent::Completed { backup_id: BACKUP, sha256: "abc".into(), size: 10, documents: 2 };
        let state = [requested(), ready].iter().fold(Backups::default(), Backups::evolve);
        let backup = state.backup(BACKUP).unwrap();
        assert_eq!(backup.download(at("2026-12-26T08:59:59+09:00")), Ok("abc"));
        let expired = backup.download(at("2026-12-26T09:00:00+09:00"));
        assert!(
            matches!(&expired, Err(e) if e.kind() == ErrorKind::Conflict && e.rule() == Some("A10")),
            "{expired:?}"
        );
        let preparing = [requested()].iter().fold(Backups::default(), Backups::evolve);
        assert!(preparing.backup(BACKUP).unwrap().download(at("2026-11-26T10:00:00+09:00")).is_err());
    }
}
