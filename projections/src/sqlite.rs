//! Read models in a SQLite file beside the embedded event store, the
//! default with it: rows and each projector's checkpoint are committed in
//! one transaction, so a restart resumes every projector where it stopped
//! instead of replaying the log.
//!
//! WAL with `synchronous=NORMAL`: a commit is not waited onto the disk. A
//! power cut may lose the newest batches, rows and checkpoint together, and
//! the runners apply those events again; the log itself is synced.
//!
//! Rows hold personal content in clear, so deleting one must leave nothing
//! of it in the files (rules U1, B3): `secure_delete` overwrites what a
//! deletion frees, and after a batch that erased a person or a company the
//! write-ahead log, which still holds earlier images of the pages, is
//! folded into the file and truncated.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;
use store::sqlite::Readers;

use crate::model::{check_key, past};
use crate::{Change, Claim, ProjectionError, ReadModelStore, Row};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rows (
    tbl TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS rows_key ON rows (tbl, key);
CREATE TABLE IF NOT EXISTS checkpoints (
    projector TEXT PRIMARY KEY,
    position INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Read connections kept open between queries.
const IDLE_READERS: usize = 16;

/// About how many rows the store keeps in memory, and how many bytes of
/// them (as stored) at most: a few large mails do not fill memory.
const HOT_ROWS: usize = 20_000;
const HOT_BYTES: u64 = 32 * 1024 * 1024;

/// The rows read or written lately, so that a projector reading what it
/// wrote a moment ago, and a query reading a row many ask for (a caller's
/// credentials, a folder), need no read of the file. This store's process
/// is the file's only writer: every commit writes its rows through, after
/// the file has them. A row read from the file is kept only when no commit
/// came in between, so a slow read never puts back what a commit replaced.
struct Hot {
    rows: quick_cache::sync::Cache<String, HotRow, RowSize>,
    commits: AtomicU64,
}

/// A row kept in memory (`None`: known to be absent) and its size as
/// stored.
type HotRow = (Option<Value>, u64);

/// Weighs a kept row by its size as stored.
#[derive(Clone)]
struct RowSize;

impl quick_cache::Weighter<String, HotRow> for RowSize {
    fn weight(&self, key: &String, row: &HotRow) -> u64 {
        key.len() as u64 + row.1
    }
}

impl Hot {
    /// After rows went other than by a commit.
    fn forget_all(&self) {
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.rows.clear();
    }

    fn key(table: &str, key: &str) -> String {
        // No key holds NUL (`check_key`).
        format!("{table}\0{key}")
    }
}

/// The embedded read-model store.
pub struct SqliteReadModels {
    writer: Arc<Mutex<Connection>>,
    readers: Readers,
    /// The rows read or written lately (`None`: known to be absent).
    hot: Arc<Hot>,
    /// Set while deleted rows may still be found in the write-ahead log:
    /// a truncation that readers held up is tried again after each commit.
    erasing: Arc<AtomicBool>,
}

/// Folds the write-ahead log into the file and truncates it, when no
/// reader holds an earlier state; returns whether it did.
fn truncate_log(conn: &Connection) -> rusqlite::Result<bool> {
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    Ok(busy == 0)
}

impl From<rusqlite::Error> for ProjectionError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            // What the file refuses to hold cannot heal by trying again.
            Some(rusqlite::ErrorCode::TooBig | rusqlite::ErrorCode::ConstraintViolation) => {
                ProjectionError::InvalidInput(e.to_string())
            }
            _ => ProjectionError::Store(e.to_string()),
        }
    }
}

fn value_of(text: &str, key: &str) -> Result<Value, ProjectionError> {
    serde_json::from_str(text).map_err(|e| ProjectionError::Store(format!("the stored row {key} is not JSON: {e}")))
}

fn rows_of(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<Vec<Row>, ProjectionError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let stored = stmt.query_map(args, |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    stored
        .map(|row| {
            let (key, text) = row?;
            let value = value_of(&text, &key)?;
            Ok((key, value))
        })
        .collect()
}

fn checkpoint_in(conn: &Connection, projector: &str) -> rusqlite::Result<u64> {
    Ok(conn
        .prepare_cached("SELECT position FROM checkpoints WHERE projector = ?1")?
        .query_row([projector], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

impl SqliteReadModels {
    /// Opens (creating if needed) the read models in the file at `path`.
    ///
    /// # Errors
    /// When the file cannot be opened or its tables made.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ProjectionError> {
        let path = path.as_ref();
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "secure_delete", true)?;
        conn.busy_timeout(std::time::Duration::from_secs(1))?;
        conn.execute_batch(SCHEMA)?;
        // A process that stopped before the log was truncated after an
        // erasure may have left earlier page images in it.
        truncate_log(&conn)?;
        Ok(Self {
            writer: Arc::new(Mutex::new(conn)),
            readers: Readers::new(path, IDLE_READERS),
            hot: Arc::new(Hot {
                rows: quick_cache::sync::Cache::with_weighter(HOT_ROWS, HOT_BYTES, RowSize),
                commits: AtomicU64::new(0),
            }),
            erasing: Arc::new(AtomicBool::new(false)),
        })
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, ProjectionError> + Send + 'static,
    ) -> Result<T, ProjectionError> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(|e| ProjectionError::Store(format!("a read-model write was lost: {e}")))?
    }

    /// The highest checkpoint of any projector (0 for none).
    ///
    /// # Errors
    /// When the file fails.
    pub async fn furthest(&self) -> Result<u64, ProjectionError> {
        self.readers.read_here(|conn| {
            Ok(conn.query_row("SELECT COALESCE(MAX(position), 0) FROM checkpoints", [], |r| r.get(0))?)
        })
    }

    /// Closes the store and leaves one file that holds everything, its
    /// write-ahead log folded in: a file that can be moved into place.
    ///
    /// # Errors
    /// When the file fails.
    pub fn close(self) -> Result<(), ProjectionError> {
        let Self { writer, readers, .. } = self;
        drop(readers);
        let conn = writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // No reader is left to hold the log back.
        truncate_log(&conn)?;
        conn.pragma_update(None, "journal_mode", "DELETE")?;
        Ok(())
    }

    /// Drops every row and checkpoint: the read models start again from
    /// the beginning of the log.
    ///
    /// # Errors
    /// When the file fails.
    pub async fn clear(&self) -> Result<(), ProjectionError> {
        let hot = self.hot.clone();
        self.write(move |conn| {
            conn.execute_batch("BEGIN IMMEDIATE; DELETE FROM rows; DELETE FROM checkpoints; COMMIT;")?;
            hot.forget_all();
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl ReadModelStore for SqliteReadModels {
    async fn get(&self, table: &str, key: &str) -> Result<Option<Value>, ProjectionError> {
        check_key(key)?;
        let hot_key = Hot::key(table, key);
        if let Some((row, _)) = self.hot.rows.get(&hot_key) {
            return Ok(row);
        }
        let before = self.hot.commits.load(Ordering::SeqCst);
        let (row, size) = self.readers.read_here(|conn| {
            let text: Option<String> = conn
                .prepare_cached("SELECT value FROM rows WHERE tbl = ?1 AND key = ?2")?
                .query_row([table, key], |r| r.get(0))
                .optional()?;
            let size = text.as_ref().map_or(0, String::len) as u64;
            Ok::<_, ProjectionError>((text.map(|text| value_of(&text, key)).transpose()?, size))
        })?;
        if self.hot.commits.load(Ordering::SeqCst) == before {
            self.hot.rows.insert(hot_key, (row.clone(), size));
        }
        Ok(row)
    }

    async fn scan(
        &self,
        table: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Row>, ProjectionError> {
        check_key(prefix)?;
        after.map(check_key).transpose()?;
        let from = after.filter(|a| *a >= prefix).map(str::to_owned);
        let (table, prefix) = (table.to_owned(), prefix.to_owned());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.readers.read_here(|conn| {
            rows_of(
                conn,
                "SELECT key, value FROM rows WHERE tbl = ?1 AND key >= ?2 AND key < ?3
                       AND (?4 IS NULL OR key > ?4) ORDER BY key LIMIT ?5",
                params![table, prefix, past(&prefix), from, limit],
            )
        })
    }

    async fn scan_back(
        &self,
        table: &str,
        prefix: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Row>, ProjectionError> {
        check_key(prefix)?;
        before.map(check_key).transpose()?;
        let (table, prefix, before) = (table.to_owned(), prefix.to_owned(), before.map(str::to_owned));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.readers.read_here(|conn| {
            rows_of(
                conn,
                "SELECT key, value FROM rows WHERE tbl = ?1 AND key >= ?2 AND key < ?3
                       AND (?4 IS NULL OR key < ?4) ORDER BY key DESC LIMIT ?5",
                params![table, prefix, past(&prefix), before, limit],
            )
        })
    }

    async fn count(&self, table: &str, prefix: &str) -> Result<usize, ProjectionError> {
        check_key(prefix)?;
        let (table, prefix) = (table.to_owned(), prefix.to_owned());
        self.readers.read_here(|conn| {
            let count: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM rows WHERE tbl = ?1 AND key >= ?2 AND key < ?3")?
                .query_row(params![table, prefix, past(&prefix)], |r| r.get(0))?;
            Ok(usize::try_from(count).unwrap_or(0))
        })
    }

    async fn commit(&self, projector: &str, changes: Vec<Change>, from: u64, to: u64) -> Result<(), ProjectionError> {
        changes.iter().try_for_each(|c| check_key(c.key()))?;
        // Values are written as JSON text before the file is locked.
        let changes: Vec<_> = changes
            .into_iter()
            .map(|change| match change {
                Change::Put { table, key, value } => (table, key, Some(value)),
                Change::Delete { table, key } => (table, key, None),
            })
            .collect();
        let projector = projector.to_owned();
        let erasing = self.erasing.clone();
        let hot = self.hot.clone();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut sizes = Vec::with_capacity(changes.len());
            let actual = checkpoint_in(&tx, &projector)?;
            if actual != from {
                return Err(ProjectionError::CheckpointMoved { projector, expected: from, actual });
            }
            {
                let mut put = tx.prepare_cached(
                    "INSERT INTO rows (tbl, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value",
                )?;
                let mut delete = tx.prepare_cached("DELETE FROM rows WHERE tbl = ?1 AND key = ?2")?;
                for (table, key, value) in &changes {
                    let size = match value {
                        Some(value) => {
                            let text = value.to_string();
                            put.execute(params![table, key, text])?;
                            text.len() as u64
                        }
                        None => {
                            delete.execute(params![table, key])?;
                            0
                        }
                    };
                    sizes.push(size);
                }
            }
            tx.prepare_cached(
                "INSERT INTO checkpoints (projector, position) VALUES (?1, ?2)
                 ON CONFLICT (projector) DO UPDATE SET position = excluded.position",
            )?
            .execute(params![projector, to])?;
            tx.commit()?;
            hot.commits.fetch_add(1, Ordering::SeqCst);
            for ((table, key, value), size) in changes.into_iter().zip(sizes) {
                hot.rows.insert(Hot::key(table, &key), (value, size));
            }
            if erasing.load(Ordering::SeqCst) {
                match truncate_log(conn) {
                    Ok(true) => erasing.store(false, Ordering::SeqCst),
                    Ok(false) => {}
                    // The batch is in; the truncation is tried again later.
                    Err(e) => tracing::warn!(error = %e, "the read models' write-ahead log was not truncated"),
                }
            }
            Ok(())
        })
        .await
    }

    async fn erase_deleted(&self) -> Result<(), ProjectionError> {
        let erasing = self.erasing.clone();
        erasing.store(true, Ordering::SeqCst);
        self.write(move |conn| {
            if truncate_log(conn)? {
                erasing.store(false, Ordering::SeqCst);
            }
            Ok(())
        })
        .await
    }

    async fn empty_unstarted(&self, projector: &str, tables: &[&str]) -> Result<bool, ProjectionError> {
        let (projector, tables) = (projector.to_owned(), tables.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>());
        let hot = self.hot.clone();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if checkpoint_in(&tx, &projector)? > 0 {
                return Ok(false);
            }
            let mut emptied = 0;
            for table in &tables {
                emptied += tx.execute("DELETE FROM rows WHERE tbl = ?1", [table])?;
            }
            tx.commit()?;
            hot.forget_all();
            Ok(emptied > 0)
        })
        .await
    }

    /// One process serves an embedded data directory: the claim is always
    /// granted.
    async fn try_claim(&self, _projector: &str) -> Result<Option<Claim>, ProjectionError> {
        Ok(Some(Box::new(())))
    }

    async fn checkpoint(&self, projector: &str) -> Result<u64, ProjectionError> {
        let projector = projector.to_owned();
        self.readers.read_here(|conn| Ok(checkpoint_in(conn, &projector)?))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    crate::read_model_conformance_suite!(async {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteReadModels::open(dir.path().join("read_models.db")).unwrap();
        Some((store, dir))
    });

    fn put(table: &'static str, key: &str) -> Change {
        Change::Put { table, key: key.to_owned(), value: json!({ "key": key }) }
    }

    #[tokio::test]
    async fn the_tables_of_a_projector_that_applied_nothing_yet_are_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteReadModels::open(dir.path().join("read_models.db")).unwrap();
        store
            .commit("users.v1", vec![put("users", "t/a"), put("user_ids", "t/1"), put("other", "t/x")], 0, 9)
            .await
            .unwrap();
        // The same version again: it has applied events, nothing goes.
        assert!(!store.empty_unstarted("users.v1", &["users", "user_ids"]).await.unwrap());
        assert_eq!(store.count("users", "").await.unwrap(), 1);
        // A new version starts from nothing, in the tables the old one wrote.
        assert!(store.empty_unstarted("users.v2", &["users", "user_ids"]).await.unwrap());
        assert_eq!(store.count("users", "").await.unwrap(), 0);
        assert_eq!(store.count("user_ids", "").await.unwrap(), 0);
        assert_eq!(store.count("other", "").await.unwrap(), 1, "another projector's table stays");
        assert!(!store.empty_unstarted("users.v2", &["users", "user_ids"]).await.unwrap());
    }

    #[tokio::test]
    async fn rows_and_checkpoints_outlive_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("read_models.db");
        let store = SqliteReadModels::open(&path).unwrap();
        store.commit("users.v1", vec![put("users", "t/a"), put("users", "t/b")], 0, 7).await.unwrap();
        drop(store);
        let store = SqliteReadModels::open(&path).unwrap();
        assert_eq!(store.checkpoint("users.v1").await.unwrap(), 7);
        assert_eq!(store.furthest().await.unwrap(), 7);
        assert_eq!(store.count("users", "t/").await.unwrap(), 2);
        store.clear().await.unwrap();
        assert_eq!(store.checkpoint("users.v1").await.unwrap(), 0);
        assert_eq!(store.count("users", "").await.unwrap(), 0);
    }
}
