//! Aggregate snapshots: when to take one, where to keep it, and how state is
//! loaded as snapshot + newer events.
//!
//! Snapshots are only an optimisation: a missing, unreadable or out-of-date
//! snapshot (another schema version) is ignored and the state is folded from
//! the stream's first event.

mod loader;
mod sealed;
mod sqlite;

pub use loader::{Loaded, catch_up, load};
pub use sealed::SealedSnapshots;
pub use sqlite::SqliteSnapshotStore;

use async_trait::async_trait;

/// The serialised state of one stream after its event `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub stream: String,
    pub version: u64,
    pub schema_version: u32,
    /// The state, JSON-encoded.
    pub state: Vec<u8>,
    /// The key to keep the state sealed with (see [`SealedSnapshots`]);
    /// `None` as loaded.
    pub seal: Option<store::sealing::KeyRef>,
}

/// Why a snapshot operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot store: {0}")]
    Backend(String),
    #[error(transparent)]
    Events(#[from] store::StoreError),
    #[error("event {position} of `{stream}` cannot be applied: {reason}")]
    Fold { stream: String, position: u64, reason: String },
}

/// Where snapshots are kept.
#[async_trait]
pub trait SnapshotStore: Send + Sync + 'static {
    /// The latest snapshot of `stream`, if any.
    ///
    /// # Errors
    /// When the backend fails.
    async fn load(&self, stream: &str) -> Result<Option<Snapshot>, SnapshotError>;

    /// Keeps `snapshot`, replacing an older one of the same stream.
    ///
    /// # Errors
    /// When the backend fails.
    async fn save(&self, snapshot: Snapshot) -> Result<(), SnapshotError>;
}

/// When to take a snapshot: every `every` events of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    pub every: u64,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        Self { every: 100 }
    }
}

impl SnapshotPolicy {
    /// Whether an append that took a stream from version `before` (`None`:
    /// new stream) to `after` crossed a multiple of `every` events.
    pub fn due(&self, before: Option<u64>, after: u64) -> bool {
        if self.every == 0 {
            return false;
        }
        let count_before = before.map_or(0, |v| v + 1);
        let count_after = after + 1;
        count_after / self.every > count_before / self.every
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_due_each_time_a_multiple_of_n_events_is_crossed() {
        let p = SnapshotPolicy { every: 100 };
        assert!(!p.due(None, 98));
        assert!(p.due(None, 99));
        assert!(p.due(Some(97), 101));
        assert!(!p.due(Some(99), 150));
        assert!(p.due(Some(150), 199));
        assert!(!SnapshotPolicy { every: 0 }.due(None, 1000));
    }
}
