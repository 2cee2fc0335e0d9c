//! Snapshots in a SQLite file beside the embedded event store.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use crate::{Snapshot, SnapshotError, SnapshotStore};

/// A snapshot store in one SQLite file. Snapshots can always be rebuilt from
/// the events, so they are written without waiting for the disk.
pub struct SqliteSnapshotStore {
    conn: Arc<Mutex<Connection>>,
}

fn backend(e: impl ToString) -> SnapshotError {
    SnapshotError::Backend(e.to_string())
}

impl SqliteSnapshotStore {
    /// Opens (creating if needed) the snapshot file at `path`.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SnapshotError> {
        let conn = Connection::open(path).map_err(backend)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = OFF;
             CREATE TABLE IF NOT EXISTS snapshots (
                 stream TEXT PRIMARY KEY,
                 version INTEGER NOT NULL,
                 schema_version INTEGER NOT NULL,
                 state BLOB NOT NULL
             ) WITHOUT ROWID;",
        )
        .map_err(backend)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, SnapshotError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().map_err(|_| backend("snapshot connection poisoned"))?;
            f(&conn).map_err(backend)
        })
        .await
        .map_err(backend)?
    }
}

#[async_trait]
impl SnapshotStore for SqliteSnapshotStore {
    async fn load(&self, stream: &str) -> Result<Option<Snapshot>, SnapshotError> {
        let stream = stream.to_owned();
        self.with_conn(move |conn| {
            conn.prepare_cached("SELECT version, schema_version, state FROM snapshots WHERE stream = ?1")?
                .query_row([&stream], |r| {
                    Ok(Snapshot {
                        stream: stream.clone(),
                        version: r.get(0)?,
                        schema_version: r.get(1)?,
                        state: r.get(2)?,
                        seal: None,
                    })
                })
                .optional()
        })
        .await
    }

    async fn save(&self, snapshot: Snapshot) -> Result<(), SnapshotError> {
        self.with_conn(move |conn| {
            // A late writer never replaces a newer snapshot.
            conn.prepare_cached(
                "INSERT INTO snapshots (stream, version, schema_version, state) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (stream) DO UPDATE SET version = excluded.version,
                     schema_version = excluded.schema_version, state = excluded.state
                 WHERE excluded.version >= snapshots.version OR excluded.schema_version <> snapshots.schema_version",
            )?
            .execute(params![
                snapshot.stream,
                snapshot.version,
                snapshot.schema_version,
                snapshot.state
            ])?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(version: u64, schema_version: u32) -> Snapshot {
        Snapshot {
            stream: "tenant-1".into(),
            version,
            schema_version,
            state: format!("{version}").into_bytes(),
            seal: None,
        }
    }

    #[tokio::test]
    async fn keeps_the_newest_snapshot_of_a_stream() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteSnapshotStore::open(dir.path().join("s.db")).unwrap();
        assert_eq!(store.load("tenant-1").await.unwrap(), None);
        store.save(snapshot(199, 1)).await.unwrap();
        store.save(snapshot(99, 1)).await.unwrap();
        assert_eq!(store.load("tenant-1").await.unwrap(), Some(snapshot(199, 1)));
        store.save(snapshot(299, 1)).await.unwrap();
        assert_eq!(store.load("tenant-1").await.unwrap(), Some(snapshot(299, 1)));
        // A new schema version replaces the old state whatever its version.
        store.save(snapshot(50, 2)).await.unwrap();
        assert_eq!(store.load("tenant-1").await.unwrap(), Some(snapshot(50, 2)));
        drop(store);
        let reopened = SqliteSnapshotStore::open(dir.path().join("s.db")).unwrap();
        assert_eq!(reopened.load("tenant-1").await.unwrap(), Some(snapshot(50, 2)));
    }
}
