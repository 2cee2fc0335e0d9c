//! The append workloads the benchmarks measure on every event store.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use store::{EventData, EventStore, ExpectedVersion, Metadata};
use uuid::Uuid;

/// Prints one figure as `bench <name> <value> <unit>`.
pub fn report(name: &str, value: f64, unit: &str) {
    println!("bench {name} {value:.2} {unit}");
}

/// The process's own resident memory now (anonymous: heap and stacks, not
/// the pages of files it maps, such as the stores' memory-mapped reads),
/// in MB.
pub fn resident_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// A mail-sized event of about 250 bytes of payload.
pub fn event(tenant: Uuid) -> EventData {
    let payload = serde_json::json!({
        "subject": "주간 업무 보고", "from": "kim@acme.co.kr", "to": ["lee@acme.co.kr", "park@acme.co.kr"],
        "size": 48213, "flags": ["seen"], "folder": "inbox", "snippet": "이번 주 진행 상황을 공유드립니다"
    });
    let metadata = Metadata {
        tenant: Some(tenant),
        actor: Some(tenant),
        command_id: Some(Uuid::now_v7()),
        occurred_at: Utc::now(),
        ..Metadata::default()
    };
    EventData::json(Uuid::now_v7(), "MailSent", 1, &payload, metadata).expect("json")
}

/// `writers` tasks, each appending `per_writer` single-event appends to a
/// stream of its own, every one waiting for its durable acknowledgement;
/// events per second.
pub async fn durable_appends(store: Arc<dyn EventStore>, writers: usize, per_writer: usize) -> f64 {
    durable_appends_sealed(store, writers, per_writer, false).await
}

/// [`durable_appends`], each writer's events sealed with a key of its own
/// (as a mailbox's are with its owner's) when `sealed`.
pub async fn durable_appends_sealed(
    store: Arc<dyn EventStore>,
    writers: usize,
    per_writer: usize,
    sealed: bool,
) -> f64 {
    let tenant = Uuid::now_v7();
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let owner = Uuid::now_v7();
                let seal = sealed.then_some(store::sealing::KeyRef { tenant, subject: owner });
                let stream = format!("mail-{}", owner.simple());
                for n in 0..per_writer as u64 {
                    let expected = if n == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(n - 1) };
                    store.append(&stream, expected, vec![event(tenant).sealed_with(seal)]).await.expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer");
    }
    (writers * per_writer) as f64 / started.elapsed().as_secs_f64()
}

/// `callers` tasks, each appending `batches` batches of 100 events; events
/// per second.
pub async fn batch_appends(store: Arc<dyn EventStore>, callers: usize, batches: usize) -> f64 {
    batch_appends_of(store, Uuid::now_v7(), callers, batches).await
}

/// [`batch_appends`] of the company `tenant`.
pub async fn batch_appends_of(store: Arc<dyn EventStore>, tenant: Uuid, callers: usize, batches: usize) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..batches {
                    let batch = (0..100).map(|_| event(tenant)).collect();
                    let stream = format!("batch-{}", Uuid::now_v7().simple());
                    store.append(&stream, ExpectedVersion::NoStream, batch).await.expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("caller");
    }
    (callers * batches * 100) as f64 / started.elapsed().as_secs_f64()
}

/// The baseline of the embedded figures: plain SQLite (WAL,
/// `synchronous=FULL`, as the event store) inserting rows of an event's
/// size (its payload and metadata, a stream name and an id), `per_transaction`
/// rows in each of `transactions` transactions, one after another on one
/// connection; rows per second.
pub fn sqlite_inserts(path: &std::path::Path, per_transaction: usize, transactions: usize) -> f64 {
    let mut conn = rusqlite::Connection::open(path).expect("sqlite");
    conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
    conn.pragma_update(None, "synchronous", "FULL").expect("synchronous");
    conn.execute(
        "CREATE TABLE rows (position INTEGER PRIMARY KEY, stream TEXT, id BLOB, data BLOB, metadata BLOB)",
        [],
    )
    .expect("table");
    let sample = event(Uuid::now_v7());
    let metadata = serde_json::to_vec(&sample.metadata).expect("metadata");
    let started = Instant::now();
    for _ in 0..transactions {
        let tx = conn.transaction().expect("begin");
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO rows (stream, id, data, metadata) VALUES (?1, ?2, ?3, ?4)")
                .expect("insert");
            for _ in 0..per_transaction {
                let id = Uuid::now_v7();
                insert
                    .execute(rusqlite::params![format!("mail-{}", id.simple()), id.as_bytes(), sample.data, metadata])
                    .expect("row");
            }
        }
        tx.commit().expect("commit");
    }
    (per_transaction * transactions) as f64 / started.elapsed().as_secs_f64()
}

/// A small deterministic generator (xorshift), so that every run of a
/// benchmark writes the same data.
pub struct Seeded(pub u64);

impl Seeded {
    pub fn draw(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.draw() % n as u64).unwrap_or(0)
    }
}
