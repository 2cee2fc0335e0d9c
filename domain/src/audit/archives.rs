//! Archives of a company's history for a range of months (60-month
//! retention), asked for over the API by an admin or an auditor, made in
//! the background, and downloadable for 30 days (see [`crate::downloads`]).
//! One stream per company (`archives-<tenant>`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::downloads::{Download, FileState};
use crate::values::{Month, TimeZone};
use crate::{Actor, Aggregate, DomainError, DomainEvent};

/// An archive of the months `from` to `to`, first and last included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Archive {
    pub from: Month,
    pub to: Month,
    /// Whether it opens the company's records (HR cards, leave ledgers,
    /// certificates, documents as stored): only an auditor's, who reads
    /// them all; an admin's holds them sealed.
    #[serde(default)]
    pub records: bool,
    #[serde(flatten)]
    pub file: Download,
}

impl Archive {
    /// The archive's blob, when it may be downloaded at `now`.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] while it is being made, when it failed, or
    /// once the 30 days are over.
    pub fn download(&self, now: DateTime<Utc>) -> Result<&str, DomainError> {
        self.file.blob(now, "archive", None)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveCommand {
    /// The caller has checked that the acting user is an admin or an
    /// auditor of the company.
    pub by_reader: bool,
    pub action: ArchiveAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ArchiveAction {
    /// The months `from` to `to` of a company that began in `since`,
    /// whose months are those of `zone`; `records`: see [`Archive`].
    Request {
        archive_id: Uuid,
        from: Month,
        to: Month,
        records: bool,
        by: Uuid,
        since: Month,
        zone: TimeZone,
    },
    /// The background worker.
    Complete {
        archive_id: Uuid,
        sha256: String,
        size: u64,
        events: u64,
    },
    Fail {
        archive_id: Uuid,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum ArchiveEvent {
    #[serde(rename = "ArchiveRequested")]
    Requested {
        archive_id: Uuid,
        from: Month,
        to: Month,
        #[serde(default)]
        records: bool,
        by: Uuid,
        at: DateTime<Utc>,
    },
    #[serde(rename = "ArchiveCompleted")]
    Completed { archive_id: Uuid, sha256: String, size: u64, events: u64 },
    #[serde(rename = "ArchiveFailed")]
    Failed { archive_id: Uuid, reason: String },
}

impl DomainEvent for ArchiveEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ArchiveEvent::Requested { .. } => "ArchiveRequested",
            ArchiveEvent::Completed { .. } => "ArchiveCompleted",
            ArchiveEvent::Failed { .. } => "ArchiveFailed",
        }
    }
}

/// A company's archives asked for over the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Archives {
    pub archives: BTreeMap<Uuid, Archive>,
}

impl Archives {
    /// # Errors
    /// [`DomainError::NotFound`] for an archive never asked for.
    pub fn archive(&self, id: Uuid) -> Result<&Archive, DomainError> {
        self.archives.get(&id).ok_or_else(|| DomainError::NotFound(format!("archive {id}")))
    }

    fn preparing(&self, id: Uuid) -> Result<(), DomainError> {
        self.archive(id)?.file.unfinished(&format!("archive {id}"))
    }
}

impl Aggregate for Archives {
    type Command = ArchiveCommand;
    type Event = ArchiveEvent;

    const CATEGORY: &'static str = "archives";
    const SNAPSHOT_VERSION: u32 = 1;

    fn authorize(&self, actor: &Actor, command: &ArchiveCommand) -> Result<(), DomainError> {
        match (actor, &command.action) {
            (Actor::System, _) => Ok(()),
            (Actor::Anonymous, _) => Err(DomainError::Unauthenticated("log in first".into())),
            (Actor::User(_), ArchiveAction::Request { .. }) if command.by_reader => Ok(()),
            (Actor::User(_), ArchiveAction::Request { .. }) => {
                Err(DomainError::Forbidden("only an admin or an auditor of the company asks for an archive".into()))
            }
            (Actor::User(_), _) => Err(DomainError::Forbidden("only the system makes archives".into())),
        }
    }

    fn decide(&self, command: &ArchiveCommand, now: DateTime<Utc>) -> Result<Vec<ArchiveEvent>, DomainError> {
        let event = match &command.action {
            ArchiveAction::Request { archive_id, from, to, records, by, since, zone } => {
                if self.archives.contains_key(archive_id) {
                    return Err(DomainError::Conflict(format!("archive {archive_id} already exists")));
                }
                if from > to {
                    return Err(DomainError::invalid("to", format!("the range {from} to {to} is reversed")));
                }
                if to < since {
                    return Err(DomainError::invalid(
                        "to",
                        format!("the company began in {since}: it has no history up to {to}"),
                    ));
                }
                let this_month = Month::of(zone.date_at(now));
                if to > &this_month {
                    return Err(DomainError::invalid("to", format!("{to} has not begun; it is {this_month}")));
                }
                ArchiveEvent::Requested {
                    archive_id: *archive_id,
                    from: *from,
                    to: *to,
                    records: *records,
                    by: *by,
                    at: now,
                }
            }
            ArchiveAction::Complete { archive_id, sha256, size, events } => {
                self.preparing(*archive_id)?;
                ArchiveEvent::Completed {
                    archive_id: *archive_id,
                    sha256: sha256.clone(),
                    size: *size,
                    events: *events,
                }
            }
            ArchiveAction::Fail { archive_id, reason } => {
                self.preparing(*archive_id)?;
                ArchiveEvent::Failed { archive_id: *archive_id, reason: reason.clone() }
            }
        };
        Ok(vec![event])
    }

    fn evolve(mut self, event: &ArchiveEvent) -> Self {
        match event {
            ArchiveEvent::Requested { archive_id, from, to, records, by, at } => {
                let archive = Archive { from: *from, to: *to, records: *records, file: Download::asked(*by, *at) };
                self.archives.insert(*archive_id, archive);
            }
            ArchiveEvent::Completed { archive_id, sha256, size, events } => {
                if let Some(archive) = self.archives.get_mut(archive_id) {
                    archive.file.state = FileState::Ready { sha256: sha256.clone(), size: *size, items: *events };
                }
            }
            ArchiveEvent::Failed { archive_id, reason } => {
                if let Some(archive) = self.archives.get_mut(archive_id) {
                    archive.file.state = FileState::Failed { reason: reason.clone() };
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

    const AUDITOR: Uuid = Uuid::from_u128(1);
    const ARCHIVE: Uuid = Uuid::from_u128(9);

    fn month(text: &str) -> Month {
        Month::parse("month", text).unwrap()
    }

    fn request(by_reader: bool, from: &str, to: &str) -> ArchiveCommand {
        ArchiveCommand {
            by_reader,
            action: ArchiveAction::Request {
                archive_id: ARCHIVE,
                from: month(from),
                to: month(to),
                records: true,
                by: AUDITOR,
                since: month("2026-03"),
                zone: TimeZone::default(),
            },
        }
    }

    fn requested() -> ArchiveEvent {
        ArchiveEvent::Requested {
            archive_id: ARCHIVE,
            from: month("2026-03"),
            to: month("2026-11"),
            records: true,
            by: AUDITOR,
            at: at("2026-11-28T09:00:00+09:00"),
        }
    }

    #[test]
    fn an_admin_or_auditor_asks_for_an_archive_of_months_the_company_lived() {
        let now = at("2026-11-28T09:00:00+09:00");
        given::<Archives>(vec![])
            .when_at(Actor::User(AUDITOR), request(true, "2026-03", "2026-11"), now)
            .then(vec![requested()]);
        given::<Archives>(vec![])
            .when_at(Actor::User(AUDITOR), request(false, "2026-03", "2026-11"), now)
            .then_refused(DomainError::Forbidden(
                "only an admin or an auditor of the company asks for an archive".into(),
            ));
        let refused = |from: &str, to: &str| {
            let decided = Archives::default().decide(&request(true, from, to), now).unwrap_err();
            assert_eq!(decided.kind(), ErrorKind::Validation, "{from} {to}");
            decided.to_string()
        };
        assert!(refused("2026-11", "2026-03").contains("reversed"));
        assert!(refused("2025-01", "2026-02").contains("began in 2026-03"));
        assert!(refused("2026-12", "2026-12").contains("has not begun"));
        assert!(refused("2026-10", "9999-12").contains("9999-12 has not begun"));
        // In Seoul, 1 December has begun at 15:00 UTC on 30 November.
        let december = Archives::default().decide(&request(true, "2026-12", "2026-12"), at("2026-11-30T15:00:00Z"));
        assert!(december.is_ok(), "{december:?}");
    }

    #[test]
    fn an_archive_can_be_downloaded_for_30_days_after_the_request() {
        let ready = ArchiveEvent::Completed { archive_id: ARCHIVE, sha256: "abc".into(), size: 10, events: 2 };
        let state = [requested(), ready].iter().fold(Archives::default(), Archives::evolve);
        let archive = state.archive(ARCHIVE).unwrap();
        assert_eq!(archive.download(at("2026-12-28T08:59:59+09:00")), Ok("abc"));
        let expired = archive.download(at("2026-12-28T09:00:00+09:00")).unwrap_err();
        assert_eq!(expired.kind(), ErrorKind::Conflict);
        let failed = ArchiveEvent::Failed { archive_id: ARCHIVE, reason: "disk full".into() };
        let state = [requested(), failed].iter().fold(Archives::default(), Archives::evolve);
        assert!(state.archive(ARCHIVE).unwrap().download(at("2026-11-28T10:00:00+09:00")).is_err());
        let again = ArchiveCommand {
            by_reader: false,
            action: ArchiveAction::Fail { archive_id: ARCHIVE, reason: "x".into() },
        };
        assert_eq!(state.decide(&again, at("2026-11-28T10:00:00+09:00")).unwrap_err().kind(), ErrorKind::Conflict);
    }
}
