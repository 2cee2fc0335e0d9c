//! What the server is told at start.

use std::path::PathBuf;
use std::time::Duration;

/// Which clock drives the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockKind {
    /// The wall clock.
    #[default]
    System,
    /// A settable clock, moved through `POST /test/clock`.
    Manual,
}

/// Where the events are kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EventStoreKind {
    /// SQLite under the data directory (the default).
    #[default]
    Embedded,
    /// A PostgreSQL database, by URL (`postgres://...`).
    Postgres(String),
    /// An EventStoreDB cluster, by connection string (`esdb://...`).
    EventStoreDb(String),
}

impl std::str::FromStr for EventStoreKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "embedded" => Ok(Self::Embedded),
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => Ok(Self::Postgres(url.into())),
            url if url.starts_with("esdb://") || url.starts_with("esdb+discover://") => {
                Ok(Self::EventStoreDb(url.into()))
            }
            other => Err(format!("`{other}` is not `embedded`, a postgres:// URL or an esdb:// connection string")),
        }
    }
}

/// Where the read models are kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ReadModelKind {
    /// `read_models.db` in the data directory, kept across restarts (the
    /// default with the embedded event store).
    #[default]
    Embedded,
    /// In memory, rebuilt from the events at every start (the default with
    /// the other event stores).
    Memory,
    /// A PostgreSQL database, by URL.
    Postgres(String),
}

impl ReadModelKind {
    /// The read models `given`, else those that go with `events`: the file
    /// beside the embedded store, memory beside a store other processes
    /// may share (a file of one process would not follow theirs).
    pub fn or_default_for(given: Option<Self>, events: &EventStoreKind) -> Self {
        given.unwrap_or(match events {
            EventStoreKind::Embedded => Self::Embedded,
            _ => Self::Memory,
        })
    }
}

impl std::str::FromStr for ReadModelKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "embedded" => Ok(Self::Embedded),
            "memory" => Ok(Self::Memory),
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => Ok(Self::Postgres(url.into())),
            other => Err(format!("`{other}` is not `embedded`, `memory` or a postgres:// URL")),
        }
    }
}

/// A URL fit for a log line: without its password.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The refusal of a store this build leaves out (see the `postgres` and
/// `eventstoredb` features).
#[cfg(not(all(feature = "postgres", feature = "eventstoredb")))]
pub fn not_built(url: &str, store: &str, feature: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{} names {store}, which this build of the server leaves out: build it with `--features {feature}`",
        redacted(url)
    )
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub events: EventStoreKind,
    pub read_models: ReadModelKind,
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    pub clock: ClockKind,
    /// Where a manual clock starts; now when not given.
    pub clock_start: Option<chrono::DateTime<chrono::Utc>>,
    pub token_ttl: Duration,
    pub snapshot_every: u64,
    /// How long a command may keep deciding again after concurrent changes.
    pub command_deadline: Duration,
    pub max_body_bytes: usize,
    pub max_query_depth: usize,
    pub max_query_complexity: usize,
    /// Argon2 memory cost in KiB (19 MiB by default, OWASP's minimum).
    pub password_memory_kib: u32,
    /// `smtp://host:port` of the relay for external mail.
    pub smtp_relay: Option<String>,
    /// The secret of `POST /inbound`; none refuses every message.
    pub inbound_secret: Option<String>,
    /// Where tenants' DNS records point (rule T3).
    pub mail_host: String,
    /// The most a mail's attachments may total, in bytes.
    pub attachment_limit: u64,
    /// How often each company's hash chain gets a signed checkpoint.
    pub checkpoint_every: Duration,
    /// How often each company's history older than its retention period
    /// is looked for, to leave the live log.
    pub retention_every: Duration,
    /// Serve the log as it is and change nothing: no command runs and no
    /// worker starts (an instance replayed from an archive).
    pub read_only: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            events: EventStoreKind::Embedded,
            read_models: ReadModelKind::Embedded,
            host: "127.0.0.1".into(),
            port: 8080,
            clock: ClockKind::System,
            clock_start: None,
            token_ttl: Duration::from_secs(12 * 3600),
            snapshot_every: 100,
            command_deadline: Duration::from_secs(10),
            max_body_bytes: 1024 * 1024,
            max_query_depth: 12,
            max_query_complexity: 500,
            password_memory_kib: 19 * 1024,
            smtp_relay: None,
            inbound_secret: None,
            mail_host: "mail.groupware.example".into(),
            attachment_limit: domain::mail::message::DEFAULT_ATTACHMENT_LIMIT,
            checkpoint_every: Duration::from_secs(3600),
            retention_every: Duration::from_secs(86_400),
            read_only: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_are_named_by_kind_or_url() {
        assert_eq!("embedded".parse(), Ok(EventStoreKind::Embedded));
        assert_eq!("postgres://u@h/db".parse(), Ok(EventStoreKind::Postgres("postgres://u@h/db".into())));
        assert_eq!("esdb://h:2113?tls=true".parse(), Ok(EventStoreKind::EventStoreDb("esdb://h:2113?tls=true".into())));
        assert!("mysql://h".parse::<EventStoreKind>().is_err());
        assert_eq!("memory".parse(), Ok(ReadModelKind::Memory));
        assert_eq!("embedded".parse(), Ok(ReadModelKind::Embedded));
        assert!("sqlite".parse::<ReadModelKind>().is_err());
        assert_eq!(ReadModelKind::or_default_for(None, &EventStoreKind::Embedded), ReadModelKind::Embedded);
        let postgres = EventStoreKind::Postgres("postgres://h/db".into());
        assert_eq!(ReadModelKind::or_default_for(None, &postgres), ReadModelKind::Memory);
        assert_eq!(ReadModelKind::or_default_for(Some(ReadModelKind::Embedded), &postgres), ReadModelKind::Embedded);
        assert_eq!(redacted("postgres://app:secret@db:5432/gw"), "postgres://app:***@db:5432/gw");
        assert_eq!(redacted("postgres://app@db/gw"), "postgres://app@db/gw");
    }
}
