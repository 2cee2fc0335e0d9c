//! The read-model store port: tables of JSON rows under ordered string keys.
//!
//! Keys begin with the tenant id wherever the rows belong to a tenant, so a
//! prefix scan never crosses tenants.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

/// A row: its key and its value.
pub type Row = (String, Value);

/// Whatever holds a claim on a projector; dropping it releases the claim.
pub type Claim = Box<dyn std::any::Any + Send + Sync>;

/// One change of a read model.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Put { table: &'static str, key: String, value: Value },
    Delete { table: &'static str, key: String },
}

impl Change {
    /// The key the change is about.
    pub fn key(&self) -> &str {
        match self {
            Change::Put { key, .. } | Change::Delete { key, .. } => key,
        }
    }
}

/// Why a projection step failed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The store failed (unreachable, timed out): trying again may heal it.
    #[error("read-model store: {0}")]
    Store(String),
    /// The store refuses what it was asked to keep or find (a key holding
    /// NUL, a value it cannot hold): trying again cannot heal it.
    #[error("invalid read-model input: {0}")]
    InvalidInput(String),
    #[error("event store: {0}")]
    Events(#[from] store::StoreError),
    #[error("event {position} ({event_type}) cannot be projected: {reason}")]
    Event { position: u64, event_type: String, reason: String },
    /// A row is not of its table's type (written by another version, or
    /// not writable as JSON).
    #[error("row {key} of {table}: {reason}")]
    Row { table: &'static str, key: String, reason: String },
    /// Another writer moved the projector's checkpoint since this batch began.
    #[error("the checkpoint of {projector} is at {actual}, not {expected}")]
    CheckpointMoved { projector: String, expected: u64, actual: u64 },
}

impl ProjectionError {
    /// Whether trying the same step again cannot succeed: the event cannot
    /// be understood, or the store refuses what the projector made of it.
    pub fn is_permanent(&self) -> bool {
        matches!(self, ProjectionError::Event { .. } | ProjectionError::InvalidInput(_) | ProjectionError::Row { .. })
    }

    /// What went wrong, in words that quote nothing of the event: for
    /// places anyone may read, such as metrics (the full reason, which may
    /// quote event data, goes to the log).
    pub fn cause(&self) -> &'static str {
        match self {
            ProjectionError::Store(_) => "the read-model store failed",
            ProjectionError::InvalidInput(_) => "the read-model store refuses what the projector made of the event",
            ProjectionError::Events(_) => "the event store failed",
            ProjectionError::Event { .. } => "the projector cannot read the event",
            ProjectionError::Row { .. } => "a read-model row is not of its table's type",
            ProjectionError::CheckpointMoved { .. } => "another runner moved the checkpoint",
        }
    }
}

/// Refuses a key (or key prefix, or cursor) that holds NUL: no store keeps
/// such keys, so every store answers them alike.
///
/// # Errors
/// [`ProjectionError::InvalidInput`] when `key` holds NUL.
pub(crate) fn check_key(key: &str) -> Result<(), ProjectionError> {
    if key.contains('\0') {
        return Err(ProjectionError::InvalidInput("a read-model key cannot hold NUL".into()));
    }
    Ok(())
}

/// The first key after every key that starts with `prefix` (keys compare
/// bytewise in every store; no key holds a character above U+10FFFF).
pub(crate) fn past(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// Where read models are kept.
///
/// Keys are strings without NUL (every store refuses NUL in a key, prefix
/// or cursor with [`ProjectionError::InvalidInput`]); values are any JSON,
/// NUL in strings included.
#[async_trait]
pub trait ReadModelStore: Send + Sync + 'static {
    /// One row.
    ///
    /// # Errors
    /// When the backend fails.
    async fn get(&self, table: &str, key: &str) -> Result<Option<Value>, ProjectionError>;

    /// Up to `limit` rows whose key starts with `prefix` and is greater than
    /// `after`, in key order.
    ///
    /// # Errors
    /// When the backend fails.
    async fn scan(
        &self,
        table: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Row>, ProjectionError>;

    /// Up to `limit` rows whose key starts with `prefix` and is less than
    /// `before`, in reverse key order (the page before a cursor).
    ///
    /// # Errors
    /// When the backend fails.
    async fn scan_back(
        &self,
        table: &str,
        prefix: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Row>, ProjectionError>;

    /// How many rows have a key starting with `prefix`.
    ///
    /// # Errors
    /// When the backend fails.
    async fn count(&self, table: &str, prefix: &str) -> Result<usize, ProjectionError>;

    /// Applies `changes` and moves `projector`'s checkpoint from `from` to
    /// `to`, all or nothing.
    ///
    /// # Errors
    /// [`ProjectionError::CheckpointMoved`] when the checkpoint is not at
    /// `from` (another runner got there first); a backend failure. Either
    /// way nothing was applied.
    async fn commit(&self, projector: &str, changes: Vec<Change>, from: u64, to: u64) -> Result<(), ProjectionError>;

    /// Claims `projector` for this process: while the returned guard lives,
    /// no other process gets it. `None` when another process holds it.
    ///
    /// # Errors
    /// When the backend fails.
    async fn try_claim(&self, projector: &str) -> Result<Option<Claim>, ProjectionError>;

    /// Makes `tables` ready for `projector` when it has applied nothing yet
    /// (checkpoint 0): rows there were written by another version of it
    /// (projector names carry their version), and it builds them from the
    /// log's start. A store of one process empties them, in one step with
    /// that check, and answers whether any row went; a store that processes
    /// of another version may still serve refuses instead (PostgreSQL, whose
    /// `rebuild` builds a version beside the serving one).
    ///
    /// # Errors
    /// When the backend fails; when the store refuses.
    async fn empty_unstarted(&self, projector: &str, tables: &[&str]) -> Result<bool, ProjectionError>;

    /// Makes the rows deleted so far unrecoverable from the store's own
    /// files (earlier page images, free space), after a batch that erased
    /// a person or a company (rules U1, B3). A store that keeps nothing
    /// of a deleted row does nothing.
    ///
    /// # Errors
    /// When the backend fails.
    async fn erase_deleted(&self) -> Result<(), ProjectionError> {
        Ok(())
    }

    /// The position of the last event `projector` has applied (0: none).
    ///
    /// # Errors
    /// When the backend fails.
    async fn checkpoint(&self, projector: &str) -> Result<u64, ProjectionError>;
}

/// The pending changes of one batch, read through before the store.
pub struct Transaction<'a> {
    store: &'a dyn ReadModelStore,
    pending: BTreeMap<(&'static str, String), Option<Value>>,
}

impl<'a> Transaction<'a> {
    pub fn new(store: &'a dyn ReadModelStore) -> Self {
        Self { store, pending: BTreeMap::new() }
    }

    /// A row as this batch left it.
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn get(&self, table: &'static str, key: &str) -> Result<Option<Value>, ProjectionError> {
        match self.pending.get(&(table, key.to_owned())) {
            Some(pending) => Ok(pending.clone()),
            None => self.store.get(table, key).await,
        }
    }

    pub fn put(&mut self, table: &'static str, key: String, value: Value) {
        self.pending.insert((table, key), Some(value));
    }

    /// Whether any row's key starts with `prefix`, as this batch left
    /// them; reads only until it finds one.
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn any_under(&self, table: &'static str, prefix: &str) -> Result<bool, ProjectionError> {
        const PAGE: usize = 16;
        let mut pending = self
            .pending
            .range((table, prefix.to_owned())..)
            .take_while(|((t, k), _)| *t == table && k.starts_with(prefix));
        if pending.any(|(_, value)| value.is_some()) {
            return Ok(true);
        }
        let mut after: Option<String> = None;
        loop {
            let page = self.store.scan(table, prefix, after.as_deref(), PAGE).await?;
            // A stored row the batch deletes is gone.
            if page.iter().any(|(key, _)| !matches!(self.pending.get(&(table, key.clone())), Some(None))) {
                return Ok(true);
            }
            if page.len() < PAGE {
                return Ok(false);
            }
            after = page.last().map(|(key, _)| key.clone());
        }
    }

    /// Every row whose key starts with `prefix` as this batch left them,
    /// in key order.
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn scan_all(&self, table: &'static str, prefix: &str) -> Result<Vec<Row>, ProjectionError> {
        const PAGE: usize = 1000;
        let mut rows = BTreeMap::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.store.scan(table, prefix, after.as_deref(), PAGE).await?;
            let full = page.len() == PAGE;
            after = page.last().map(|(key, _)| key.clone());
            rows.extend(page);
            if !full {
                break;
            }
        }
        let from = (table, prefix.to_owned());
        for ((_, key), value) in
            self.pending.range(from..).take_while(|((t, k), _)| *t == table && k.starts_with(prefix))
        {
            match value {
                Some(value) => rows.insert(key.clone(), value.clone()),
                None => rows.remove(key),
            };
        }
        Ok(rows.into_iter().collect())
    }

    pub fn delete(&mut self, table: &'static str, key: String) {
        self.pending.insert((table, key), None);
    }

    /// The changes of the batch, in a deterministic order.
    pub fn into_changes(self) -> Vec<Change> {
        self.pending
            .into_iter()
            .map(|((table, key), value)| match value {
                Some(value) => Change::Put { table, key, value },
                None => Change::Delete { table, key },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::MemoryReadModels;

    #[tokio::test]
    async fn a_batch_reads_rows_under_a_prefix_as_it_left_them() {
        let store = MemoryReadModels::default();
        let stored = |key: &str| Change::Put { table: "t", key: key.into(), value: json!(1) };
        store.commit("p", vec![stored("a/1"), stored("a/2"), stored("b/1")], 0, 1).await.unwrap();
        let mut tx = Transaction::new(&store);
        assert!(tx.any_under("t", "a/").await.unwrap());
        tx.delete("t", "a/1".into());
        tx.delete("t", "a/2".into());
        assert!(!tx.any_under("t", "a/").await.unwrap(), "the batch deleted both");
        assert!(tx.scan_all("t", "a/").await.unwrap().is_empty());
        tx.put("t", "a/3".into(), json!(3));
        assert!(tx.any_under("t", "a/").await.unwrap(), "the batch added one");
        assert_eq!(tx.scan_all("t", "a/").await.unwrap(), vec![("a/3".to_owned(), json!(3))]);
        assert!(!tx.any_under("t", "c/").await.unwrap());
        assert_eq!(tx.scan_all("t", "b/").await.unwrap().len(), 1);
    }
}
