//! The PostgreSQL event store, through tokio-postgres and deadpool-postgres.
//!
//! Appends go through one writer task per process that group-commits like
//! the embedded store: every request waiting in its queue is decided in
//! memory against one read of the streams and event ids involved, and the
//! accepted events are inserted in one statement and committed once. Each
//! group transaction first takes the event store's advisory lock and only
//! then reads the highest position: positions are handed out under the lock,
//! and a transaction becomes visible before it releases the lock, so
//! positions become visible strictly in order. A reader of the log therefore
//! never passes a position that commits later — also with several processes
//! appending to one database.
//!
//! The head moves with this process's own commits, with `NOTIFY es_events`
//! from other processes (LISTEN on a connection of its own), and, as a
//! fallback, with a poll every second.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::DateTime;
use deadpool_postgres::Pool;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, NoTls, Row};
use uuid::Uuid;

use crate::chain::{ChainHash, ChainHead, Heads, chain_of};
use crate::cold::ColdSegment;
use crate::envelope::nanos;
use crate::group::{MAX_GROUP, Outcome, Request, answer_all};
use crate::port::{refuse_nul, validate_append, validate_stream};
use crate::{
    AppendResult, Direction, EventData, EventStore, ExpectedVersion, Metadata, Now, RecordedEvent, StoreError,
    StreamMetadata, Written,
};

mod keys;
pub mod pool;
mod test_database;

pub use keys::PostgresKeys;

pub use test_database::{TestDatabase, with_database};

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// The key of the advisory lock that orders appends ("groupwar" in ASCII).
pub const APPEND_LOCK: i64 = 0x6772_6f75_7077_6172;
/// The longest one group commit may take.
const GROUP_DEADLINE: Duration = Duration::from_secs(30);
/// How often the head is read when no notification arrives.
const POLL: Duration = Duration::from_secs(1);

const SELECT_EVENT: &str =
    "SELECT position, stream, version, id, type, schema_version, data, tenant, actor, command_id,
    correlation_id, causation_id, client_address, occurred_at, recorded_at, chain FROM es_events";

/// The highest position handed out: positions moved out of the log (see
/// [`crate::cold`]) are never handed out again.
const HIGHEST_POSITION: &str = "SELECT GREATEST((SELECT COALESCE(MAX(position), 0) FROM es_events),
                                                (SELECT COALESCE(MAX(last_position), 0) FROM es_cold_segments))";

// The statements of a group commit. Each is prepared once per connection
// (`prepare_cached`), and those of one step are pipelined: sent together,
// answered in order, one round trip for all of them.
const TAKE_APPEND_LOCK: &str = "SELECT pg_advisory_xact_lock($1)";
const STREAM_VERSIONS: &str = "SELECT name, version FROM es_streams WHERE name = ANY($1)";
const STORED_IDS: &str = "SELECT id, stream, version, position FROM es_events WHERE id = ANY($1)";
const CHAIN_HEADS: &str = "SELECT chain, position, hash FROM es_chain_heads WHERE chain = ANY($1)";
const INSERT_EVENTS: &str =
    "INSERT INTO es_events (position, stream, version, id, type, schema_version, data, tenant, actor, command_id,
         correlation_id, causation_id, client_address, occurred_at, recorded_at, chain)
     SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::UUID[], $5::TEXT[], $6::INTEGER[],
         $7::BYTEA[], $8::UUID[], $9::UUID[], $10::UUID[], $11::UUID[], $12::UUID[], $13::TEXT[],
         $14::BIGINT[], $15::BIGINT[], $16::BYTEA[])";
const STORE_VERSIONS: &str = "INSERT INTO es_streams (name, version) SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[])
     ON CONFLICT (name) DO UPDATE SET version = excluded.version";
const STORE_HEADS: &str =
    "INSERT INTO es_chain_heads (chain, position, hash) SELECT * FROM UNNEST($1::UUID[], $2::BIGINT[], $3::BYTEA[])
     ON CONFLICT (chain) DO UPDATE SET position = excluded.position, hash = excluded.hash";
const STORE_METADATA: &str =
    "INSERT INTO es_streams (name, version, max_age_seconds, truncate_before) VALUES ($1, -1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET max_age_seconds = excluded.max_age_seconds,
                                      truncate_before = excluded.truncate_before";
const NOTIFY: &str = "SELECT pg_notify('es_events', $1)";

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// A `u64` as PostgreSQL's `BIGINT`.
fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The PostgreSQL adapter.
pub struct PostgresEventStore {
    pool: Pool,
    writer: mpsc::UnboundedSender<Request>,
    head: watch::Receiver<u64>,
    now: Now,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for PostgresEventStore {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl PostgresEventStore {
    /// Connects to `url` (`postgres://...`), applies the migrations and
    /// starts the writer and the head watcher.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn connect(url: &str, now: Now) -> Result<Self, StoreError> {
        let (pool, config) =
            pool::open(url, embedded::migrations::runner(), "es_migrations").await.map_err(unavailable)?;
        link_unchained(&pool).await?;
        let last = read_head(&pool).await?;
        let (head_tx, head) = watch::channel(last);
        let head_tx = Arc::new(head_tx);
        let (writer, queue) = mpsc::unbounded_channel();
        let tasks = vec![
            tokio::spawn(write(pool.clone(), queue, head_tx.clone(), now.clone())),
            tokio::spawn(watch_head(config, pool.clone(), head_tx)),
        ];
        Ok(Self { pool, writer, head, now, tasks })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(unavailable)
    }

    /// The key store of this database (`es_keys`).
    pub fn keys(&self) -> PostgresKeys {
        PostgresKeys::new(self.pool.clone())
    }
}

/// Gives the events of a database written before the chain their hashes,
/// in position order, under the append lock (once: a database whose chains
/// have heads has its hashes).
async fn link_unchained(pool: &Pool) -> Result<(), StoreError> {
    let mut client = pool.get().await.map_err(unavailable)?;
    let tx = client.transaction().await.map_err(unavailable)?;
    tx.execute(TAKE_APPEND_LOCK, &[&APPEND_LOCK]).await.map_err(unavailable)?;
    let linked: bool = tx
        .query_one("SELECT EXISTS (SELECT 1 FROM es_chain_heads) OR NOT EXISTS (SELECT 1 FROM es_events)", &[])
        .await
        .map_err(unavailable)?
        .get(0);
    if linked {
        return Ok(());
    }
    let rows =
        tx.query(&format!("{SELECT_EVENT} WHERE chain IS NULL ORDER BY position"), &[]).await.map_err(unavailable)?;
    let mut heads = Heads::default();
    let update = tx.prepare("UPDATE es_events SET chain = $1 WHERE position = $2").await.map_err(unavailable)?;
    for row in rows {
        let mut event = row_to_event(&row);
        heads.link(&mut event);
        let hash = event.chain.map(|c| c.0.to_vec());
        tx.execute(&update, &[&hash, &big(event.position)]).await.map_err(unavailable)?;
    }
    store_heads(&tx, &heads).await?;
    tx.commit().await.map_err(unavailable)
}

/// Stores the heads a group moved.
async fn store_heads(tx: &deadpool_postgres::Transaction<'_>, heads: &Heads) -> Result<(), StoreError> {
    let (mut chains, mut positions, mut hashes) = (Vec::new(), Vec::new(), Vec::new());
    for head in heads.pending() {
        chains.push(head.chain);
        positions.push(big(head.position));
        hashes.push(head.hash.0.to_vec());
    }
    if chains.is_empty() {
        return Ok(());
    }
    let statement = tx.prepare_cached(STORE_HEADS).await.map_err(unavailable)?;
    tx.execute(&statement, &[&chains, &positions, &hashes]).await.map_err(unavailable)?;
    Ok(())
}

fn head_from_row(row: &Row) -> ChainHead {
    let hash: Vec<u8> = row.get(2);
    let mut bytes = [0u8; 32];
    if hash.len() == 32 {
        bytes.copy_from_slice(&hash);
    }
    ChainHead { chain: row.get(0), position: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0), hash: ChainHash(bytes) }
}

async fn read_head(pool: &Pool) -> Result<u64, StoreError> {
    let client = pool.get().await.map_err(unavailable)?;
    let row = client.query_one(HIGHEST_POSITION, &[]).await.map_err(unavailable)?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// Moves the head with other processes' commits: notifications first, a
/// periodic read as the fallback.
/// Moves the head up to `to` (never down).
fn raise(head: &watch::Sender<u64>, to: u64) {
    head.send_if_modified(|h| {
        let higher = to > *h;
        if higher {
            *h = to;
        }
        higher
    });
}

async fn watch_head(config: tokio_postgres::Config, pool: Pool, head: Arc<watch::Sender<u64>>) {
    let raise = |to: u64| raise(&head, to);
    loop {
        let listener = async {
            let (client, mut connection) = config.connect(NoTls).await.map_err(unavailable)?;
            let (notes_tx, mut notes) = mpsc::unbounded_channel();
            let driver = tokio::spawn(async move {
                let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                while let Some(Ok(message)) = messages.next().await {
                    if let AsyncMessage::Notification(n) = message
                        && notes_tx.send(n.payload().parse::<u64>().unwrap_or(0)).is_err()
                    {
                        return;
                    }
                }
            });
            client.batch_execute("LISTEN es_events").await.map_err(unavailable)?;
            loop {
                tokio::select! {
                    note = notes.recv() => match note {
                        Some(position) => raise(position),
                        None => break,
                    },
                    () = tokio::time::sleep(POLL) => raise(read_head(&pool).await?),
                }
            }
            driver.abort();
            Ok::<(), StoreError>(())
        };
        if let Err(e) = listener.await {
            tracing::warn!(error = %e, "event notifications lost; polling until they are back");
        }
        tokio::time::sleep(POLL).await;
        if let Ok(position) = read_head(&pool).await {
            raise(position);
        }
    }
}

/// The writer task: takes every waiting request and commits them as one
/// group.
async fn write(pool: Pool, mut queue: mpsc::UnboundedReceiver<Request>, head: Arc<watch::Sender<u64>>, now: Now) {
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        // A database that stops answering (rather than refusing) must not
        // hold every caller forever.
        let committed = tokio::time::timeout(GROUP_DEADLINE, commit_group(&pool, &group, nanos(now())))
            .await
            .unwrap_or_else(|_| Err(unavailable("the database did not answer in time; the append may not be stored")));
        let outcomes = committed.map(|(outcomes, last)| {
            if let Some(last) = last {
                raise(&head, last);
            }
            outcomes
        });
        answer_all(group, outcomes);
    }
}

/// One stored event id: where it is.
struct Stored {
    stream: String,
    version: u64,
    position: u64,
}

/// The accepted events of a group, column by column, for one `INSERT ...
/// SELECT FROM UNNEST`.
#[derive(Default)]
struct Columns {
    position: Vec<i64>,
    stream: Vec<String>,
    version: Vec<i64>,
    id: Vec<Uuid>,
    event_type: Vec<String>,
    schema_version: Vec<i32>,
    data: Vec<Vec<u8>>,
    tenant: Vec<Option<Uuid>>,
    actor: Vec<Option<Uuid>>,
    command_id: Vec<Option<Uuid>>,
    correlation_id: Vec<Option<Uuid>>,
    causation_id: Vec<Option<Uuid>>,
    client_address: Vec<Option<String>>,
    occurred_at: Vec<i64>,
    recorded_at: Vec<i64>,
    chain: Vec<Option<Vec<u8>>>,
}

impl Columns {
    fn push(&mut self, event: RecordedEvent) {
        let m: &Metadata = &event.metadata;
        self.position.push(big(event.position));
        self.stream.push(event.stream);
        self.version.push(big(event.version));
        self.id.push(event.id);
        self.event_type.push(event.event_type);
        self.schema_version.push(i32::try_from(event.schema_version).unwrap_or(i32::MAX));
        self.data.push(event.data);
        self.tenant.push(m.tenant);
        self.actor.push(m.actor);
        self.command_id.push(m.command_id);
        self.correlation_id.push(m.correlation_id);
        self.causation_id.push(m.causation_id);
        self.client_address.push(m.client_address.clone());
        self.occurred_at.push(nanos(m.occurred_at));
        self.recorded_at.push(nanos(event.recorded_at));
        self.chain.push(event.chain.map(|c| c.0.to_vec()));
    }
}

async fn commit_group(
    pool: &Pool,
    group: &[Request],
    recorded_at: i64,
) -> Result<(Vec<Outcome>, Option<u64>), StoreError> {
    let mut client = pool.get().await.map_err(unavailable)?;
    let committed = commit_group_on(&mut client, group, recorded_at).await;
    if committed.is_err() {
        forget_statements(&client);
    }
    committed
}

/// A statement prepared before another process changed the schema may
/// fail for good on its connection ("cached plan must not change result
/// type"): after a failure the connection forgets its prepared statements
/// and prepares them again on their next use.
fn forget_statements(client: &deadpool_postgres::Object) {
    client.statement_cache.clear();
}

/// The rows of `sql`, prepared once per connection.
async fn query_cached(
    client: &deadpool_postgres::Object,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let rows = async { client.query(&client.prepare_cached(sql).await?, params).await }.await;
    rows.map_err(|e| {
        forget_statements(client);
        unavailable(e)
    })
}

async fn commit_group_on(
    client: &mut deadpool_postgres::Object,
    group: &[Request],
    recorded_at: i64,
) -> Result<(Vec<Outcome>, Option<u64>), StoreError> {
    let names: Vec<&str> = group.iter().map(Request::stream).collect();
    let ids: Vec<Uuid> = group
        .iter()
        .filter_map(|r| match r {
            Request::Append { events, .. } => Some(events.iter().map(|e| e.id)),
            Request::SetMetadata { .. } | Request::Purge { .. } => None,
        })
        .flatten()
        .collect();
    let chains: Vec<Uuid> = group
        .iter()
        .filter_map(|r| match r {
            Request::Append { events, .. } => Some(events.iter().map(|e| chain_of(&e.metadata))),
            Request::SetMetadata { .. } | Request::Purge { .. } => None,
        })
        .flatten()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();

    let tx = client.transaction().await.map_err(unavailable)?;
    let statement = async |sql: &'static str| tx.prepare_cached(sql).await.map_err(unavailable);
    let (lock, highest, stream_versions, stored_ids, chain_heads) = futures::try_join!(
        statement(TAKE_APPEND_LOCK),
        statement(HIGHEST_POSITION),
        statement(STREAM_VERSIONS),
        statement(STORED_IDS),
        statement(CHAIN_HEADS),
    )?;
    // The lock first: the reads behind it in the pipeline run once it is
    // held. Their plans are made for the arrays at hand: a plan made once
    // for any array (which PostgreSQL switches to after a few runs of a
    // prepared statement) scans the whole log for a group's event ids.
    let ((), (), highest, version_rows, id_rows, head_rows) = futures::try_join!(
        async { tx.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan").await },
        async { tx.execute(&lock, &[&APPEND_LOCK]).await.map(drop) },
        async { tx.query_one(&highest, &[]).await },
        async { tx.query(&stream_versions, &[&names]).await },
        async { tx.query(&stored_ids, &[&ids]).await },
        async { tx.query(&chain_heads, &[&chains]).await },
    )
    .map_err(unavailable)?;
    let mut next_position = u64::try_from(highest.get::<_, i64>(0)).unwrap_or(0) + 1;
    let mut versions: HashMap<String, Option<u64>> =
        version_rows.iter().map(|row| (row.get(0), u64::try_from(row.get::<_, i64>(1)).ok())).collect();
    let stored: HashMap<Uuid, Stored> = id_rows
        .iter()
        .map(|row| {
            let stored = Stored {
                stream: row.get(1),
                version: u64::try_from(row.get::<_, i64>(2)).unwrap_or(0),
                position: u64::try_from(row.get::<_, i64>(3)).unwrap_or(0),
            };
            (row.get(0), stored)
        })
        .collect();
    let mut heads = Heads::new(head_rows.iter().map(head_from_row));

    let mut columns = Columns::default();
    let mut taken: HashSet<Uuid> = HashSet::new();
    let mut outcomes = Vec::with_capacity(group.len());
    for request in group {
        match request {
            Request::Append { stream, expected, events, .. } => {
                let current = versions.get(stream).copied().flatten();
                let outcome = decide_append(stream, *expected, events, current, &stored, &taken).map(|repeat| {
                    repeat.unwrap_or_else(|| {
                        let first_version = current.map_or(0, |v| v + 1);
                        for (i, event) in (0u64..).zip(events) {
                            let at = DateTime::from_timestamp_nanos(recorded_at);
                            let mut recorded = event.clone().recorded(stream, first_version + i, next_position + i, at);
                            heads.link(&mut recorded);
                            columns.push(recorded);
                            taken.insert(event.id);
                        }
                        let count = events.len() as u64;
                        next_position += count;
                        versions.insert(stream.clone(), Some(first_version + count - 1));
                        AppendResult {
                            version: first_version + count - 1,
                            position: next_position - 1,
                            repeated: false,
                        }
                    })
                });
                outcomes.push(Outcome::Append(outcome));
            }
            Request::SetMetadata { stream, metadata, .. } => {
                let store_metadata = statement(STORE_METADATA).await?;
                tx.execute(
                    &store_metadata,
                    &[stream, &metadata.max_age_seconds.map(big), &metadata.truncate_before.map(big)],
                )
                .await
                .map_err(unavailable)?;
                versions.entry(stream.clone()).or_insert(None);
                outcomes.push(Outcome::Metadata(Ok(())));
            }
            // Purges take a transaction of their own (`purge`).
            Request::Purge { .. } => outcomes
                .push(Outcome::Purge(Err(StoreError::InvalidInput("a purge is not a request of a group".into())))),
        }
    }

    let last = if columns.position.is_empty() {
        None
    } else {
        let c = &columns;
        let mut last_versions: HashMap<&str, i64> = HashMap::new();
        for (stream, version) in c.stream.iter().zip(&c.version) {
            last_versions.insert(stream, *version);
        }
        let (streams, stream_versions): (Vec<&str>, Vec<i64>) = last_versions.into_iter().unzip();
        let last = next_position - 1;
        let notice = last.to_string();
        let (insert_events, store_versions, notify) =
            futures::try_join!(statement(INSERT_EVENTS), statement(STORE_VERSIONS), statement(NOTIFY))?;
        futures::try_join!(
            async {
                tx.execute(
                    &insert_events,
                    &[
                        &c.position,
                        &c.stream,
                        &c.version,
                        &c.id,
                        &c.event_type,
                        &c.schema_version,
                        &c.data,
                        &c.tenant,
                        &c.actor,
                        &c.command_id,
                        &c.correlation_id,
                        &c.causation_id,
                        &c.client_address,
                        &c.occurred_at,
                        &c.recorded_at,
                        &c.chain,
                    ],
                )
                .await
                .map_err(unavailable)
            },
            async { tx.execute(&store_versions, &[&streams, &stream_versions]).await.map_err(unavailable) },
            store_heads(&tx, &heads),
            async { tx.execute(&notify, &[&notice]).await.map_err(unavailable) },
        )?;
        Some(last)
    };
    tx.commit().await.map_err(unavailable)?;
    Ok((outcomes, last))
}

/// The outcome of one append of a group, decided in memory: `Ok(Some(..))`
/// for a repetition of events already stored, `Ok(None)` to write.
fn decide_append(
    stream: &str,
    expected: ExpectedVersion,
    events: &[EventData],
    current: Option<u64>,
    stored: &HashMap<Uuid, Stored>,
    taken: &HashSet<Uuid>,
) -> Result<Option<AppendResult>, StoreError> {
    let conflict = || StoreError::Conflict { stream: stream.to_owned(), expected, actual: current };
    let stored_first = || stored.get(&events[0].id).filter(|s| s.stream == stream).map(|s| s.version);
    if let Some(start) = expected.repeated_from(current, stored_first) {
        let repeated: Option<Vec<&Stored>> = (0u64..)
            .zip(events)
            .map(|(i, e)| stored.get(&e.id).filter(|s| s.stream == stream && s.version == start + i))
            .collect();
        if let Some(repeated) = repeated {
            let last = repeated.last().map_or(0, |s| s.position);
            return Ok(Some(AppendResult { version: start + events.len() as u64 - 1, position: last, repeated: true }));
        }
    }
    if !expected.admits(current) {
        return Err(conflict());
    }
    let mut ids = HashSet::new();
    if events.iter().any(|e| stored.contains_key(&e.id) || taken.contains(&e.id) || !ids.insert(e.id)) {
        return Err(conflict());
    }
    Ok(None)
}

fn row_to_event(row: &Row) -> RecordedEvent {
    let unsigned = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
    RecordedEvent {
        position: unsigned(0),
        stream: row.get(1),
        version: unsigned(2),
        id: row.get(3),
        event_type: row.get(4),
        schema_version: u32::try_from(row.get::<_, i32>(5)).unwrap_or(0),
        data: row.get(6),
        metadata: Metadata {
            tenant: row.get(7),
            actor: row.get(8),
            command_id: row.get(9),
            correlation_id: row.get(10),
            causation_id: row.get(11),
            client_address: row.get(12),
            occurred_at: DateTime::from_timestamp_nanos(row.get(13)),
        },
        recorded_at: DateTime::from_timestamp_nanos(row.get(14)),
        chain: row.get::<_, Option<Vec<u8>>>(15).and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok()).map(ChainHash),
    }
}

async fn read_metadata(client: &deadpool_postgres::Object, stream: &str) -> Result<StreamMetadata, StoreError> {
    let rows =
        query_cached(client, "SELECT max_age_seconds, truncate_before FROM es_streams WHERE name = $1", &[&stream])
            .await?;
    let row = rows.first();
    let unsigned = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
    Ok(row.map_or_else(StreamMetadata::default, |r| StreamMetadata {
        max_age_seconds: unsigned(r.get(0)),
        truncate_before: unsigned(r.get(1)),
    }))
}

#[async_trait]
impl EventStore for PostgresEventStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        validate_append(stream, &events)?;
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Request::Append { stream: stream.to_owned(), expected, events, reply })
            .map_err(|_| unavailable("the writer has stopped"))?;
        answer.await.map_err(|_| unavailable("the writer has stopped"))?
    }

    async fn read_stream(
        &self,
        stream: &str,
        direction: Direction,
        from: Option<u64>,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        refuse_nul("stream name", stream)?;
        let client = self.client().await?;
        let meta = read_metadata(&client, stream).await?;
        let floor = big(meta.first_visible_version());
        let oldest = meta.oldest_visible_nanos((self.now)());
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let rows = match direction {
            Direction::Forwards => {
                let start = big(from.unwrap_or(0)).max(floor);
                query_cached(
                    &client,
                    &format!("{SELECT_EVENT} WHERE stream = $1 AND version >= $2 AND recorded_at >= $3 ORDER BY version LIMIT $4"),
                    &[&stream, &start, &oldest, &limit],
                )
                .await?
            }
            Direction::Backwards => {
                let start = from.map_or(i64::MAX, big);
                query_cached(
                    &client,
                    &format!("{SELECT_EVENT} WHERE stream = $1 AND version <= $2 AND version >= $5 AND recorded_at >= $3 ORDER BY version DESC LIMIT $4"),
                    &[&stream, &start, &oldest, &limit, &floor],
                )
                .await?
            }
        };
        Ok(rows.iter().map(row_to_event).collect())
    }

    async fn read_all(&self, after: u64, max: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let client = self.client().await?;
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let rows = query_cached(
            &client,
            &format!("{SELECT_EVENT} WHERE position > $1 ORDER BY position LIMIT $2"),
            &[&big(after), &limit],
        )
        .await?;
        Ok(rows.iter().map(row_to_event).collect())
    }

    fn indexes_commands(&self) -> bool {
        true
    }

    async fn find_command(&self, command: Uuid) -> Result<Option<Written>, StoreError> {
        let client = self.client().await?;
        let rows = query_cached(
            &client,
            "SELECT stream, version, position FROM es_events WHERE command_id = $1 ORDER BY position",
            &[&command],
        )
        .await?;
        let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(Written::of(rows.iter().map(|r| (r.get(0), unsigned(r.get(1)), unsigned(r.get(2))))))
    }

    async fn chain_heads(&self) -> Result<Option<Vec<ChainHead>>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT chain, position, hash FROM es_chain_heads ORDER BY chain", &[])
            .await
            .map_err(unavailable)?;
        Ok(Some(rows.iter().map(head_from_row).collect()))
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }

    async fn set_stream_metadata(&self, stream: &str, metadata: StreamMetadata) -> Result<(), StoreError> {
        validate_stream(stream)?;
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Request::SetMetadata { stream: stream.to_owned(), metadata, reply })
            .map_err(|_| unavailable("the writer has stopped"))?;
        answer.await.map_err(|_| unavailable("the writer has stopped"))?
    }

    async fn stream_metadata(&self, stream: &str) -> Result<StreamMetadata, StoreError> {
        refuse_nul("stream name", stream)?;
        read_metadata(&self.client().await?, stream).await
    }

    /// Under the append lock, so that no group reads the highest position
    /// between the removal and the segment's row.
    async fn purge(&self, segment: &ColdSegment) -> Result<u64, StoreError> {
        segment.validate()?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        tx.execute(TAKE_APPEND_LOCK, &[&APPEND_LOCK]).await.map_err(unavailable)?;
        let (first, last) = (big(segment.first_position), big(segment.last_position));
        let count = |row: Row| u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
        let before = count(
            tx.query_one(
                "SELECT COUNT(*) FROM es_events WHERE tenant = $1 AND position < $2",
                &[&segment.tenant, &first],
            )
            .await
            .map_err(unavailable)?,
        );
        if before > 0 {
            return Err(segment.mismatch(&format!("{before} of its events before them are still in the log")));
        }
        let inside = count(
            tx.query_one(
                "SELECT COUNT(*) FROM es_events WHERE tenant = $1 AND position BETWEEN $2 AND $3",
                &[&segment.tenant, &first, &last],
            )
            .await
            .map_err(unavailable)?,
        );
        if inside != segment.events {
            return Err(segment.mismatch(&format!("the log holds {inside} of them")));
        }
        let chain_at = async |position: i64| -> Result<Option<Option<Vec<u8>>>, StoreError> {
            let row = tx
                .query_opt(
                    "SELECT chain FROM es_events WHERE position = $1 AND tenant = $2",
                    &[&position, &segment.tenant],
                )
                .await
                .map_err(unavailable)?;
            Ok(row.map(|r| r.get(0)))
        };
        if chain_at(first).await?.is_none() {
            return Err(segment.mismatch("the first is not the company's"));
        }
        if chain_at(last).await?.flatten().as_deref() != Some(segment.anchor.0.as_slice()) {
            return Err(segment.mismatch("the last does not link to the anchor"));
        }
        let removed = tx
            .execute(
                "DELETE FROM es_events WHERE tenant = $1 AND position BETWEEN $2 AND $3",
                &[&segment.tenant, &first, &last],
            )
            .await
            .map_err(unavailable)?;
        tx.execute(
            "INSERT INTO es_cold_segments (last_position, first_position, tenant, events, anchor, file)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&last, &first, &segment.tenant, &big(segment.events), &segment.anchor.0.as_slice(), &segment.file],
        )
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(removed)
    }

    async fn cold_segments(&self) -> Result<Vec<ColdSegment>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT tenant, first_position, last_position, events, anchor, file FROM es_cold_segments
                 ORDER BY last_position",
                &[],
            )
            .await
            .map_err(unavailable)?;
        Ok(rows
            .iter()
            .map(|r| {
                let number = |i: usize| u64::try_from(r.get::<_, i64>(i)).unwrap_or(0);
                let anchor: Vec<u8> = r.get(4);
                ColdSegment {
                    tenant: r.get(0),
                    first_position: number(1),
                    last_position: number(2),
                    events: number(3),
                    anchor: ChainHash(anchor.try_into().unwrap_or([0; 32])),
                    file: r.get(5),
                }
            })
            .collect())
    }
}
