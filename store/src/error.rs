//! The one error type of the store crate.

use crate::ExpectedVersion;

/// Why an event store operation did not succeed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The stream is not at the expected version and the events are not an
    /// idempotent repetition of events already stored.
    #[error("stream `{stream}` is at version {actual:?}, expected {expected:?}")]
    Conflict { stream: String, expected: ExpectedVersion, actual: Option<u64> },
    /// The request itself is malformed (empty stream name, no events, ...).
    #[error("invalid request: {0}")]
    InvalidInput(String),
    /// The backend could not be reached or failed; nothing was acknowledged.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
}

impl From<crate::sqlite::ReadLost> for StoreError {
    fn from(e: crate::sqlite::ReadLost) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// SQLite's own error, with its extended code (which of its kinds of
/// "database is locked", say) for whoever reads the log.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(code, _) => {
                StoreError::Unavailable(format!("{e} (SQLite code {})", code.extended_code))
            }
            _ => StoreError::Unavailable(e.to_string()),
        }
    }
}
