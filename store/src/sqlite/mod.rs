//! The embedded event store: one SQLite file, WAL, `synchronous=FULL`.
//!
//! All appends go through one writer thread that group-commits: it takes every
//! request waiting in its queue, runs each inside its own savepoint of one
//! transaction (so a conflict fails only that request), commits once — one
//! fsync for the whole group — and only then answers the callers. Reads use a
//! small pool of read-only connections, which WAL lets run beside the writer.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

mod readers;

pub use readers::{ReadLost, Readers};

use crate::chain::{ChainHash, ChainHead, Heads};
use crate::cold::ColdSegment;
use crate::envelope::nanos;
use crate::group::{MAX_GROUP, Outcome, Request, answer_all};
use crate::port::{refuse_nul, validate_append, validate_stream};
use crate::{
    AppendResult, Direction, EventData, EventStore, ExpectedVersion, Metadata, Now, RecordedEvent, StoreError,
    StreamMetadata, Subscription, Written,
};

/// The widest range of positions one read of a subscription covers.
const RANGE: u64 = 4096;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    version INTEGER NOT NULL,
    id BLOB NOT NULL UNIQUE,
    type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    data BLOB NOT NULL,
    tenant BLOB,
    actor BLOB,
    command_id BLOB,
    correlation_id BLOB,
    causation_id BLOB,
    client_address TEXT,
    occurred_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    chain BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS events_stream_version ON events (stream, version);
CREATE INDEX IF NOT EXISTS events_command ON events (command_id) WHERE command_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS streams (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    max_age_seconds INTEGER,
    truncate_before INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cold_segments (
    last_position INTEGER PRIMARY KEY,
    first_position INTEGER NOT NULL,
    tenant BLOB NOT NULL,
    events INTEGER NOT NULL,
    anchor BLOB NOT NULL,
    file TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chain_heads (
    chain BLOB PRIMARY KEY,
    position INTEGER NOT NULL,
    hash BLOB NOT NULL
) WITHOUT ROWID;
";

/// The file's layout version (`PRAGMA user_version`): 1 has the hash chain.
const LAYOUT: i64 = 1;

/// Read connections kept open between reads. Opening one costs a schema
/// load and fresh prepared statements, so the pool covers the concurrency of
/// a busy server: request handlers, projectors and followers together.
const IDLE_READERS: usize = 32;

/// How many of the newest events are kept in memory for subscribers.
const RECENT_EVENTS: usize = 8_192;

/// How many streams' newest versions are kept in memory.
const KNOWN_VERSIONS: usize = 100_000;

/// The newest committed events, in position order without gaps: followers
/// at the head (projectors, process managers, subscriptions — several per
/// event) read them from memory instead of each reading the file. And the
/// newest version of each stream written since the store opened (the least
/// used make room when full): only the writer sets them, just before each
/// commit, so a version known is never older than the stream's newest (a
/// failed commit leaves it ahead, which costs a read).
struct Recent {
    events: std::sync::RwLock<std::collections::VecDeque<RecordedEvent>>,
    versions: quick_cache::sync::Cache<String, u64>,
}

impl Default for Recent {
    fn default() -> Self {
        Self { events: std::sync::RwLock::default(), versions: quick_cache::sync::Cache::new(KNOWN_VERSIONS) }
    }
}

impl Recent {
    /// Notes the versions `events` are about to make their streams': the
    /// last of each run of one stream's events.
    fn note_versions(&self, events: &[RecordedEvent]) {
        for (event, next) in events.iter().zip(events.iter().skip(1).map(Some).chain([None])) {
            if next.is_none_or(|next| next.stream != event.stream) {
                self.versions.insert(event.stream.clone(), event.version);
            }
        }
    }

    fn push(&self, committed: Vec<RecordedEvent>) {
        let Ok(mut events) = self.events.write() else { return };
        events.extend(committed);
        let excess = events.len().saturating_sub(RECENT_EVENTS);
        events.drain(..excess);
    }

    /// The events with `after < position <= until`, when all are held.
    fn range(&self, after: u64, until: u64) -> Option<Vec<RecordedEvent>> {
        let events = self.events.read().ok()?;
        let first = events.front()?.position;
        let last = events.back()?.position;
        if after + 1 < first || until > last {
            return None;
        }
        let start = usize::try_from(after + 1 - first).ok()?;
        let end = usize::try_from(until + 1 - first).ok()?;
        Some(events.range(start..end).cloned().collect())
    }
}

/// The embedded adapter. Cheap to share behind an `Arc`.
pub struct SqliteEventStore {
    recent: Arc<Recent>,
    writer: Mutex<mpsc::Sender<Request>>,
    head: watch::Receiver<u64>,
    readers: Readers,
    now: Now,
    commits: Arc<AtomicU64>,
}

impl SqliteEventStore {
    /// How many transactions the writer has committed since the store was
    /// opened; with group commit, fewer than the appends.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Opens (creating if needed) the store in the file at `path`.
    ///
    /// # Errors
    /// When the file cannot be opened or its schema created.
    pub fn open(path: impl AsRef<Path>, now: Now) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let (conn, heads) = open_for_writing(&path)?;
        // Positions moved out of the log are never handed out again.
        let last: u64 = conn.query_row(
            "SELECT MAX((SELECT COALESCE(MAX(position), 0) FROM events),
                        (SELECT COALESCE(MAX(last_position), 0) FROM cold_segments))",
            [],
            |r| r.get(0),
        )?;
        let (head_tx, head) = watch::channel(last);
        let (sender, receiver) = mpsc::channel();
        let writer_now = now.clone();
        let commits = Arc::new(AtomicU64::new(0));
        let writer_commits = commits.clone();
        let recent = Arc::new(Recent::default());
        let writer_recent = recent.clone();
        thread::Builder::new()
            .name("event-store-writer".into())
            .spawn(move || {
                Writer {
                    conn,
                    next_position: last + 1,
                    head: head_tx,
                    now: writer_now,
                    commits: writer_commits,
                    recent: writer_recent,
                    heads,
                }
                .run(&receiver)
            })
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let readers = Readers::new(&path, IDLE_READERS);
        Ok(Self { recent, writer: Mutex::new(sender), head, readers, now, commits })
    }

    fn send(&self, request: Request) -> Result<(), StoreError> {
        self.writer
            .lock()
            .map_err(|_| StoreError::Unavailable("writer lock poisoned".into()))?
            .send(request)
            .map_err(|_| StoreError::Unavailable("writer thread has stopped".into()))
    }

    /// Runs `f` on a pooled read-only connection in a blocking thread,
    /// with the store's time.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, DateTime<Utc>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let now = (self.now)();
        self.readers.read(move |conn| f(conn, now)).await
    }
}

fn uuid_at(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<Uuid>> {
    Ok(row.get::<_, Option<[u8; 16]>>(i)?.map(Uuid::from_bytes))
}

/// Times are stored as nanoseconds since the epoch.
fn time_at(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    Ok(DateTime::from_timestamp_nanos(row.get(i)?))
}

fn row_to_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecordedEvent> {
    Ok(RecordedEvent {
        position: row.get(0)?,
        stream: row.get(1)?,
        version: row.get(2)?,
        id: Uuid::from_bytes(row.get(3)?),
        event_type: row.get(4)?,
        schema_version: row.get(5)?,
        data: row.get(6)?,
        metadata: Metadata {
            tenant: uuid_at(row, 7)?,
            actor: uuid_at(row, 8)?,
            command_id: uuid_at(row, 9)?,
            correlation_id: uuid_at(row, 10)?,
            causation_id: uuid_at(row, 11)?,
            client_address: row.get(12)?,
            occurred_at: time_at(row, 13)?,
        },
        recorded_at: time_at(row, 14)?,
        chain: row.get::<_, Option<[u8; 32]>>(15)?.map(ChainHash),
    })
}

/// The writing connection of the file at `path` (made if missing), in its
/// current layout, and the chains' heads.
fn open_for_writing(path: &Path) -> Result<(Connection, Heads), StoreError> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -65_536)?;
    // How long a transaction waits for a write lock held elsewhere.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    let heads = migrate(&mut conn)?;
    Ok((conn, heads))
}

/// Brings a file of an earlier layout up to [`LAYOUT`] and returns the
/// chains' heads. A file written before the chain gets its hashes now, in
/// position order, in one transaction.
fn migrate(conn: &mut Connection) -> Result<Heads, StoreError> {
    let layout: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if layout < LAYOUT {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let has_chain: bool =
            tx.query_row("SELECT COUNT(*) > 0 FROM pragma_table_info('events') WHERE name = 'chain'", [], |r| {
                r.get(0)
            })?;
        if !has_chain {
            tx.execute_batch("ALTER TABLE events ADD COLUMN chain BLOB")?;
        }
        let mut heads = read_heads(&tx)?;
        let unchained = {
            let mut stmt = tx.prepare(&format!("{SELECT_EVENT} WHERE chain IS NULL ORDER BY position"))?;
            stmt.query_map([], row_to_event)?.collect::<Result<Vec<_>, _>>()?
        };
        for mut event in unchained {
            heads.link(&mut event);
            tx.execute(
                "UPDATE events SET chain = ?1 WHERE position = ?2",
                params![event.chain.map(|c| c.0), event.position],
            )?;
        }
        store_heads(&tx, &heads)?;
        heads.committed();
        tx.pragma_update(None, "user_version", LAYOUT)?;
        tx.commit()?;
        return Ok(heads);
    }
    read_heads(conn)
}

fn read_heads(conn: &Connection) -> Result<Heads, StoreError> {
    Ok(Heads::new(read_chain_heads(conn)?))
}

fn read_chain_heads(conn: &Connection) -> Result<Vec<ChainHead>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT chain, position, hash FROM chain_heads ORDER BY chain")?;
    let heads = stmt
        .query_map([], |r| {
            Ok(ChainHead { chain: Uuid::from_bytes(r.get(0)?), position: r.get(1)?, hash: ChainHash(r.get(2)?) })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(heads)
}

/// Stores the heads the group moved.
fn store_heads(conn: &Connection, heads: &Heads) -> Result<(), StoreError> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO chain_heads (chain, position, hash) VALUES (?1, ?2, ?3)
         ON CONFLICT (chain) DO UPDATE SET position = excluded.position, hash = excluded.hash",
    )?;
    for head in heads.pending() {
        upsert.execute(params![head.chain.as_bytes(), head.position, head.hash.0])?;
    }
    Ok(())
}

const SELECT_EVENT: &str =
    "SELECT position, stream, version, id, type, schema_version, data, tenant, actor, command_id,
    correlation_id, causation_id, client_address, occurred_at, recorded_at, chain FROM events";

#[async_trait]
impl EventStore for SqliteEventStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        validate_append(stream, &events)?;
        let (reply, answer) = oneshot::channel();
        self.send(Request::Append { stream: stream.to_owned(), expected, events, reply })?;
        answer.await.map_err(|_| StoreError::Unavailable("writer thread has stopped".into()))?
    }

    async fn read_stream(
        &self,
        stream: &str,
        direction: Direction,
        from: Option<u64>,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        refuse_nul("stream name", stream)?;
        let stream = stream.to_owned();
        self.read(move |conn, now| {
            let meta = read_metadata(conn, &stream)?;
            let floor = meta.first_visible_version();
            let oldest = meta.oldest_visible_nanos(now);
            let (sql, start) = match direction {
                Direction::Forwards => (
                    format!("{SELECT_EVENT} WHERE stream = ?1 AND version >= ?2 AND recorded_at >= ?3 ORDER BY version ASC LIMIT ?4"),
                    from.unwrap_or(0).max(floor),
                ),
                Direction::Backwards => (
                    format!("{SELECT_EVENT} WHERE stream = ?1 AND version <= ?2 AND version >= ?5 AND recorded_at >= ?3 ORDER BY version DESC LIMIT ?4"),
                    from.unwrap_or(i64::MAX as u64).min(i64::MAX as u64),
                ),
            };
            let mut stmt = conn.prepare_cached(&sql)?;
            let limit = i64::try_from(max).unwrap_or(i64::MAX);
            let rows = if direction == Direction::Forwards {
                stmt.query_map(params![stream, start, oldest, limit], row_to_event)?
                    .collect::<Result<Vec<_>, _>>()?
            } else {
                stmt.query_map(params![stream, start, oldest, limit, floor], row_to_event)?
                    .collect::<Result<Vec<_>, _>>()?
            };
            Ok(rows)
        })
        .await
    }

    async fn read_appended(
        &self,
        stream: &str,
        first_version: u64,
        count: usize,
        position: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // One append's events take consecutive positions.
        let after = position.saturating_sub(count as u64);
        let kept = self.recent.range(after, position).filter(|events| {
            (first_version..).zip(events).all(|(version, e)| e.stream == stream && e.version == version)
        });
        match kept {
            Some(events) => Ok(events),
            None => self.read_stream(stream, Direction::Forwards, Some(first_version), count).await,
        }
    }

    async fn has_events_after(&self, stream: &str, version: Option<u64>) -> Result<bool, StoreError> {
        match self.recent.versions.get(stream) {
            Some(newest) => Ok(version.is_none_or(|v| newest > v)),
            None => crate::port::reads_events_after(self, stream, version).await,
        }
    }

    async fn read_all(&self, after: u64, max: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read(move |conn, _| {
            let mut stmt =
                conn.prepare_cached(&format!("{SELECT_EVENT} WHERE position > ?1 ORDER BY position LIMIT ?2"))?;
            let limit = i64::try_from(max).unwrap_or(i64::MAX);
            Ok(stmt.query_map(params![after, limit], row_to_event)?.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }

    /// Every position up to the head has committed (one writer hands them
    /// out in commit order), so a subscriber that is behind reads the next
    /// two ranges below the head at once, on two connections, and delivers
    /// them in order: catching up uses both cores.
    fn subscribe_all(self: Arc<Self>, after: u64) -> Subscription {
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        tokio::spawn(async move {
            let mut head = self.head();
            let mut position = after;
            loop {
                let until = *head.borrow_and_update();
                if until <= position {
                    if head.changed().await.is_err() {
                        return;
                    }
                    continue;
                }
                let middle = position.saturating_add(RANGE).min(until);
                let end = middle.saturating_add(RANGE).min(until);
                let (first, second) = tokio::join!(self.read_range(position, middle), self.read_range(middle, end));
                for batch in [first, second] {
                    if batch.as_ref().is_ok_and(Vec::is_empty) {
                        continue;
                    }
                    let failed = batch.is_err();
                    if sender.send(batch).await.is_err() || failed {
                        return;
                    }
                }
                position = end;
            }
        });
        Subscription::from_channel(receiver)
    }

    async fn set_stream_metadata(&self, stream: &str, metadata: StreamMetadata) -> Result<(), StoreError> {
        validate_stream(stream)?;
        let (reply, answer) = oneshot::channel();
        self.send(Request::SetMetadata { stream: stream.to_owned(), metadata, reply })?;
        answer.await.map_err(|_| StoreError::Unavailable("writer thread has stopped".into()))?
    }

    async fn stream_metadata(&self, stream: &str) -> Result<StreamMetadata, StoreError> {
        refuse_nul("stream name", stream)?;
        let stream = stream.to_owned();
        self.read(move |conn, _| read_metadata(conn, &stream)).await
    }

    fn indexes_commands(&self) -> bool {
        true
    }

    async fn find_command(&self, command: Uuid) -> Result<Option<Written>, StoreError> {
        self.read(move |conn, _| {
            let mut stmt = conn.prepare_cached(
                "SELECT stream, version, position FROM events WHERE command_id = ?1 ORDER BY position",
            )?;
            let rows = stmt.query_map([command.as_bytes().as_slice()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(Written::of(rows.collect::<Result<Vec<_>, _>>()?))
        })
        .await
    }

    async fn chain_heads(&self) -> Result<Option<Vec<ChainHead>>, StoreError> {
        self.read(|conn, _| read_chain_heads(conn)).await.map(Some)
    }

    /// Through the writer, as one request of its group: appends wait for
    /// the removal rather than fail beside it.
    async fn purge(&self, segment: &ColdSegment) -> Result<u64, StoreError> {
        segment.validate()?;
        let (reply, answer) = oneshot::channel();
        self.send(Request::Purge { segment: segment.clone(), reply })?;
        answer.await.map_err(|_| StoreError::Unavailable("writer thread has stopped".into()))?
    }

    async fn cold_segments(&self) -> Result<Vec<ColdSegment>, StoreError> {
        self.read(|conn, _| {
            let mut stmt = conn.prepare_cached(
                "SELECT tenant, first_position, last_position, events, anchor, file FROM cold_segments
                 ORDER BY last_position",
            )?;
            let segments = stmt
                .query_map([], |r| {
                    Ok(ColdSegment {
                        tenant: Uuid::from_bytes(r.get(0)?),
                        first_position: r.get(1)?,
                        last_position: r.get(2)?,
                        events: r.get(3)?,
                        anchor: ChainHash(r.get(4)?),
                        file: r.get(5)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(segments)
        })
        .await
    }
}

/// Removes `segment`'s events inside the group's transaction, in a
/// savepoint of their own, and records it, once the live log is found to
/// hold what it says.
fn purge_in(tx: &Transaction<'_>, segment: &ColdSegment) -> Result<u64, StoreError> {
    tx.execute_batch("SAVEPOINT purge")?;
    let purged = purge_checked(tx, segment);
    match &purged {
        Ok(_) => tx.execute_batch("RELEASE purge")?,
        Err(_) => tx.execute_batch("ROLLBACK TO purge; RELEASE purge")?,
    }
    purged
}

fn purge_checked(tx: &Transaction<'_>, segment: &ColdSegment) -> Result<u64, StoreError> {
    let tenant = segment.tenant.as_bytes().as_slice();
    let (first, last) = (segment.first_position, segment.last_position);
    let before: u64 =
        tx.query_row("SELECT COUNT(*) FROM events WHERE tenant = ?1 AND position < ?2", params![tenant, first], |r| {
            r.get(0)
        })?;
    if before > 0 {
        return Err(segment.mismatch(&format!("{before} of its events before them are still in the log")));
    }
    let inside: u64 = tx.query_row(
        "SELECT COUNT(*) FROM events WHERE tenant = ?1 AND position BETWEEN ?2 AND ?3",
        params![tenant, first, last],
        |r| r.get(0),
    )?;
    if inside != segment.events {
        return Err(segment.mismatch(&format!("the log holds {inside} of them")));
    }
    let chain_at = |position: u64| -> Result<Option<Option<Vec<u8>>>, StoreError> {
        Ok(tx
            .query_row("SELECT chain FROM events WHERE position = ?1 AND tenant = ?2", params![position, tenant], |r| {
                r.get(0)
            })
            .optional()?)
    };
    if chain_at(first)?.is_none() {
        return Err(segment.mismatch("the first is not the company's"));
    }
    if chain_at(last)?.flatten().as_deref() != Some(segment.anchor.0.as_slice()) {
        return Err(segment.mismatch("the last does not link to the anchor"));
    }
    let removed = tx
        .execute("DELETE FROM events WHERE tenant = ?1 AND position BETWEEN ?2 AND ?3", params![tenant, first, last])?;
    tx.execute(
        "INSERT INTO cold_segments (last_position, first_position, tenant, events, anchor, file)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![last, first, tenant, segment.events, segment.anchor.0, segment.file],
    )?;
    Ok(removed as u64)
}

impl SqliteEventStore {
    /// The events with `after < position <= until`, in order.
    async fn read_range(&self, after: u64, until: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        if until <= after {
            return Ok(Vec::new());
        }
        if let Some(events) = self.recent.range(after, until) {
            return Ok(events);
        }
        self.read(move |conn, _| {
            let mut stmt = conn
                .prepare_cached(&format!("{SELECT_EVENT} WHERE position > ?1 AND position <= ?2 ORDER BY position"))?;
            Ok(stmt.query_map(params![after, until], row_to_event)?.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}

fn read_metadata(conn: &Connection, stream: &str) -> Result<StreamMetadata, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT max_age_seconds, truncate_before FROM streams WHERE name = ?1")?;
    Ok(stmt
        .query_row([stream], |r| Ok(StreamMetadata { max_age_seconds: r.get(0)?, truncate_before: r.get(1)? }))
        .optional()?
        .unwrap_or_default())
}

/// The state of the writer thread.
struct Writer {
    conn: Connection,
    next_position: u64,
    head: watch::Sender<u64>,
    now: Now,
    commits: Arc<AtomicU64>,
    recent: Arc<Recent>,
    heads: Heads,
}

impl Writer {
    fn run(mut self, queue: &mpsc::Receiver<Request>) {
        while let Ok(first) = queue.recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match queue.try_recv() {
                    Ok(r) => group.push(r),
                    Err(_) => break,
                }
            }
            self.commit_group(group);
        }
    }

    fn commit_group(&mut self, mut group: Vec<Request>) {
        let start_position = self.next_position;
        let recorded_at = nanos((self.now)());
        let mut committed = Vec::new();
        let outcomes = (|| -> Result<Vec<Outcome>, StoreError> {
            // The write lock is taken at the start, where SQLite waits for
            // it: a transaction that reads first and then writes is refused
            // at once ("database is locked") when another connection holds
            // the lock for an instant then, as a reader of the file does
            // when it finds the shared index changing.
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let outcomes = group
                .iter_mut()
                .map(|request| match request {
                    Request::Append { stream, expected, events, .. } => Outcome::Append(append_one(
                        &tx,
                        (&mut self.next_position, &mut self.heads),
                        recorded_at,
                        (stream.as_str(), *expected, events.as_mut_slice()),
                        &mut committed,
                    )),
                    Request::SetMetadata { stream, metadata, .. } => {
                        Outcome::Metadata(set_metadata(&tx, stream, *metadata))
                    }
                    Request::Purge { segment, .. } => Outcome::Purge(purge_in(&tx, segment)),
                })
                .collect();
            store_heads(&tx, &self.heads)?;
            self.recent.note_versions(&committed);
            tx.commit()?;
            self.commits.fetch_add(1, Ordering::Relaxed);
            Ok(outcomes)
        })();
        if outcomes.is_err() {
            // Nothing of the group is stored.
            self.next_position = start_position;
            self.heads.failed();
        } else if self.next_position > start_position {
            self.heads.committed();
            self.recent.push(committed);
            self.head.send_replace(self.next_position - 1);
        }
        answer_all(group, outcomes);
    }
}

fn current_version(tx: &Transaction<'_>, stream: &str) -> Result<Option<u64>, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT version FROM streams WHERE name = ?1")?;
    Ok(stmt.query_row([stream], |r| r.get::<_, i64>(0)).optional()?.and_then(|v| u64::try_from(v).ok()))
}

/// Appends one request inside its own savepoint of the group's transaction,
/// linking each event into its company's chain. The events it stores are
/// moved into `committed` (the request only needs its answer afterwards).
fn append_one(
    tx: &Transaction<'_>,
    (next_position, heads): (&mut u64, &mut Heads),
    recorded_at: i64,
    (stream, expected, events): (&str, ExpectedVersion, &mut [EventData]),
    committed: &mut Vec<RecordedEvent>,
) -> Result<AppendResult, StoreError> {
    let current = current_version(tx, stream)?;
    if let Some(done) = already_appended(tx, stream, expected, current, events)? {
        return Ok(done);
    }
    if !expected.admits(current) {
        return Err(StoreError::Conflict { stream: stream.to_owned(), expected, actual: current });
    }
    let first_version = current.map_or(0, |v| v + 1);
    let first_position = *next_position;
    tx.execute_batch("SAVEPOINT append_one")?;
    // From here, whatever fails undoes the request's rows and its links.
    let mark = heads.mark();
    let mut recorded: Vec<RecordedEvent> = (0u64..)
        .zip(events.iter_mut())
        .map(|(i, event)| {
            let at = DateTime::from_timestamp_nanos(recorded_at);
            std::mem::take(event).recorded(stream, first_version + i, first_position + i, at)
        })
        .collect();
    for event in &mut recorded {
        heads.link(event);
    }
    let inserted = (|| -> Result<(), StoreError> {
        for event in &recorded {
            insert(tx, event).map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => {
                    StoreError::Conflict { stream: stream.to_owned(), expected, actual: current }
                }
                _ => e.into(),
            })?;
        }
        let last_version = first_version + events.len() as u64 - 1;
        tx.prepare_cached(
            "INSERT INTO streams (name, version) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET version = excluded.version",
        )?
        .execute(params![stream, last_version])?;
        tx.execute_batch("RELEASE append_one")?;
        Ok(())
    })();
    if let Err(e) = inserted {
        heads.undo(mark);
        tx.execute_batch("ROLLBACK TO append_one; RELEASE append_one")?;
        return Err(e);
    }
    committed.extend(recorded);
    *next_position += events.len() as u64;
    Ok(AppendResult { version: first_version + events.len() as u64 - 1, position: *next_position - 1, repeated: false })
}

/// Stores one event as it is given.
fn insert(conn: &Connection, event: &RecordedEvent) -> rusqlite::Result<()> {
    let m = &event.metadata;
    let bytes = |id: &Option<Uuid>| id.map(Uuid::into_bytes);
    conn.prepare_cached(
        "INSERT INTO events (position, stream, version, id, type, schema_version, data, tenant, actor, command_id,
             correlation_id, causation_id, client_address, occurred_at, recorded_at, chain)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        event.position,
        event.stream,
        event.version,
        event.id.as_bytes(),
        event.event_type,
        event.schema_version,
        event.data,
        bytes(&m.tenant),
        bytes(&m.actor),
        bytes(&m.command_id),
        bytes(&m.correlation_id),
        bytes(&m.causation_id),
        m.client_address,
        nanos(m.occurred_at),
        nanos(event.recorded_at),
        event.chain.map(|c| c.0)
    ])?;
    Ok(())
}

/// Events written into a new store file as they come, with their streams
/// and versions as given (a history replayed from an archive): positions
/// follow the order given and the chain is linked anew. Commits every
/// [`IMPORT_BATCH`] events, so memory holds one batch.
pub struct Import {
    conn: Connection,
    heads: Heads,
    next_position: u64,
    in_batch: usize,
}

/// How many events an import commits at a time.
const IMPORT_BATCH: usize = 10_000;

impl Import {
    /// Starts an import into a new file at `path`.
    ///
    /// # Errors
    /// When the file exists already or cannot be made.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if path.exists() {
            return Err(StoreError::InvalidInput(format!(
                "{} exists already; import into a new folder",
                path.display()
            )));
        }
        let (conn, heads) = open_for_writing(path)?;
        Ok(Self { conn, heads, next_position: 1, in_batch: 0 })
    }

    /// Writes the next event (its position and link are the store's).
    ///
    /// # Errors
    /// When it cannot be written (an id or a stream version twice).
    pub fn push(&mut self, mut event: RecordedEvent) -> Result<(), StoreError> {
        if self.in_batch == 0 {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
        }
        event.position = self.next_position;
        self.heads.link(&mut event);
        insert(&self.conn, &event)?;
        self.conn
            .prepare_cached(
                "INSERT INTO streams (name, version) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET version = excluded.version",
            )?
            .execute(params![event.stream, event.version])?;
        self.next_position += 1;
        self.in_batch += 1;
        if self.in_batch == IMPORT_BATCH {
            self.commit()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        if self.in_batch > 0 {
            store_heads(&self.conn, &self.heads)?;
            self.conn.execute_batch("COMMIT")?;
            self.heads.committed();
            self.in_batch = 0;
        }
        Ok(())
    }

    /// Commits what is left; returns how many events were written.
    ///
    /// # Errors
    /// When the last batch cannot be committed.
    pub fn finish(mut self) -> Result<u64, StoreError> {
        self.commit()?;
        Ok(self.next_position - 1)
    }
}

/// When `events` are already stored in `stream`, in order and at the
/// versions the request implies, the result of that earlier append.
fn already_appended(
    tx: &Transaction<'_>,
    stream: &str,
    expected: ExpectedVersion,
    current: Option<u64>,
    events: &[EventData],
) -> Result<Option<AppendResult>, StoreError> {
    let mut lookup_failed = None;
    let start = expected.repeated_from(current, || {
        let found = tx
            .prepare_cached("SELECT version FROM events WHERE id = ?1 AND stream = ?2")
            .and_then(|mut stmt| stmt.query_row(params![events[0].id.as_bytes(), stream], |r| r.get(0)).optional());
        found.unwrap_or_else(|e| {
            lookup_failed = Some(e);
            None
        })
    });
    if let Some(e) = lookup_failed {
        return Err(e.into());
    }
    let Some(start) = start else { return Ok(None) };
    let mut stmt = tx.prepare_cached(
        "SELECT id, position FROM events WHERE stream = ?1 AND version >= ?2 ORDER BY version LIMIT ?3",
    )?;
    let stored = stmt
        .query_map(params![stream, start, events.len() as i64], |r| {
            Ok((r.get::<_, [u8; 16]>(0)?, r.get::<_, u64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let same = stored.len() == events.len() && stored.iter().zip(events).all(|((id, _), e)| id == e.id.as_bytes());
    Ok(same.then(|| AppendResult {
        version: start + events.len() as u64 - 1,
        position: stored.last().map_or(0, |(_, p)| *p),
        repeated: true,
    }))
}

fn set_metadata(tx: &Transaction<'_>, stream: &str, metadata: StreamMetadata) -> Result<(), StoreError> {
    // A stream that has no events yet gets a row with version -1 so that its
    // metadata is kept; `current_version` reads that as "no stream".
    tx.prepare_cached(
        "INSERT INTO streams (name, version, max_age_seconds, truncate_before) VALUES (?1, -1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET max_age_seconds = excluded.max_age_seconds,
                                          truncate_before = excluded.truncate_before",
    )?
    .execute(params![stream, metadata.max_age_seconds, metadata.truncate_before])?;
    Ok(())
}
