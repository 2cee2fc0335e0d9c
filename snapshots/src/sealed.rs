//! Snapshots sealed with the key of what their stream holds.

use std::sync::Arc;

use async_trait::async_trait;
use store::sealing::{Opened, Sealer};

use crate::{Snapshot, SnapshotError, SnapshotStore};

/// Wraps a snapshot store: a snapshot saved with [`Snapshot::seal`] is kept
/// sealed with that key (bound to its stream and version), and loads as
/// none once the key is destroyed, so the state is folded from events that
/// read as shredded too.
pub struct SealedSnapshots {
    inner: Arc<dyn SnapshotStore>,
    sealer: Arc<Sealer>,
}

impl SealedSnapshots {
    pub fn new(inner: Arc<dyn SnapshotStore>, sealer: Arc<Sealer>) -> Self {
        Self { inner, sealer }
    }
}

fn context(stream: &str, version: u64) -> Vec<u8> {
    [stream.as_bytes(), b"\0", &version.to_be_bytes()].concat()
}

#[async_trait]
impl SnapshotStore for SealedSnapshots {
    async fn load(&self, stream: &str) -> Result<Option<Snapshot>, SnapshotError> {
        let Some(mut snapshot) = self.inner.load(stream).await? else { return Ok(None) };
        match self.sealer.open(&context(stream, snapshot.version), &snapshot.state).await? {
            Opened::Clear => Ok(Some(snapshot)),
            Opened::Plain(state) => {
                snapshot.state = state;
                Ok(Some(snapshot))
            }
            Opened::Shredded => Ok(None),
        }
    }

    async fn save(&self, mut snapshot: Snapshot) -> Result<(), SnapshotError> {
        if let Some(key) = snapshot.seal.take() {
            let context = context(&snapshot.stream, snapshot.version);
            snapshot.state = self.sealer.seal(key, &context, &snapshot.state).await?;
        }
        self.inner.save(snapshot).await
    }
}

#[cfg(test)]
mod tests {
    use store::sealing::{KeyRef, KeyStore, SqliteKeys};
    use uuid::Uuid;

    use super::*;
    use crate::SqliteSnapshotStore;

    #[tokio::test]
    async fn a_sealed_snapshot_keeps_no_plain_byte_and_is_gone_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Arc<dyn KeyStore> = Arc::new(SqliteKeys::open(dir.path().join("keys.db")).unwrap());
        let sealer = Arc::new(Sealer::new(keys));
        let inner: Arc<dyn SnapshotStore> = Arc::new(SqliteSnapshotStore::open(dir.path().join("s.db")).unwrap());
        let snapshots = SealedSnapshots::new(inner.clone(), sealer.clone());
        let key = KeyRef { tenant: Uuid::now_v7(), subject: Uuid::now_v7() };
        let state = br#"{"subject":"merger-memo-91c"}"#.to_vec();
        let snapshot =
            |seal| Snapshot { stream: "mailbox-1".into(), version: 9, schema_version: 1, state: state.clone(), seal };
        snapshots.save(snapshot(Some(key))).await.unwrap();
        let stored = inner.load("mailbox-1").await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&stored.state).contains("merger"));
        assert_eq!(snapshots.load("mailbox-1").await.unwrap().unwrap().state, state);
        sealer.destroy(key).await.unwrap();
        assert_eq!(snapshots.load("mailbox-1").await.unwrap(), None, "rule U1: gone with its key");
        // Unsealed snapshots pass as they are.
        snapshots.save(Snapshot { stream: "tenant-1".into(), ..snapshot(None) }).await.unwrap();
        assert_eq!(snapshots.load("tenant-1").await.unwrap().unwrap().state, state);
    }
}
