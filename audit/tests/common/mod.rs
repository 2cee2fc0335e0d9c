//! What the audit crate's tests share: a company's history in a log, and
//! archives of it.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::path::Path;

use audit::CheckpointKey;
use audit::archive::{Company, Export, Month};
use chrono::{DateTime, Utc};
use domain::DomainEvent;
use domain::audit::CheckpointEvent;
use store::sealing::KeyRef;
use store::sqlite::SqliteEventStore;
use store::{EventData, EventStore, ExpectedVersion, Metadata, system_now};
use uuid::Uuid;

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

pub async fn append(store: &dyn EventStore, stream: &str, tenant: Uuid, occurred_at: DateTime<Utc>, n: usize) {
    let data = EventData::json(
        Uuid::now_v7(),
        "Happened",
        1,
        &serde_json::json!({ "n": n, "subject": "분기 보고" }),
        Metadata { tenant: Some(tenant), occurred_at, ..Metadata::default() },
    )
    .unwrap();
    store.append(stream, ExpectedVersion::Any, vec![data]).await.unwrap();
}

/// Company `acme`'s events from January to April 2026 (Seoul), none in
/// February, another company's between them, and a signed checkpoint in
/// March.
pub async fn history(store: &dyn EventStore, acme: Uuid, key: &CheckpointKey) {
    let other = Uuid::now_v7();
    let times = ["2025-12-20T10:00:00+09:00", "2026-01-05T10:00:00+09:00", "2026-01-31T23:30:00+09:00"];
    for (n, time) in times.iter().enumerate() {
        append(store, "thing-a", acme, at(time), n).await;
        append(store, "thing-o", other, at(time), n).await;
    }
    append(store, "thing-b", acme, at("2026-03-02T09:00:00+09:00"), 3).await;
    sign(store, key, acme, at("2026-03-02T10:00:00+09:00")).await;
    // Signed in April, it covers March's last event.
    sign(store, key, acme, at("2026-04-01T00:10:00+09:00")).await;
    append(store, "thing-a", acme, at("2026-04-30T23:59:00+09:00"), 4).await;
    append(store, "thing-a", acme, at("2026-05-01T00:00:00+09:00"), 5).await;
}

/// Records a checkpoint of `acme`'s chain at its head, signed at `time`.
pub async fn sign(store: &dyn EventStore, key: &CheckpointKey, acme: Uuid, time: DateTime<Utc>) {
    let heads = store.chain_heads().await.unwrap().unwrap();
    let head = heads.iter().find(|h| h.chain == acme).unwrap();
    let signed = CheckpointEvent::Signed(key.sign(acme, head.position, &head.hash, time));
    let metadata = Metadata { tenant: Some(acme), occurred_at: time, ..Metadata::default() };
    let data = EventData::json(Uuid::now_v7(), signed.event_type(), 1, &signed, metadata).unwrap();
    let stream = commands::stream_name::<domain::audit::Checkpoints>(acme);
    store.append(&stream, ExpectedVersion::Any, vec![data]).await.unwrap();
}

/// The JSON Schema of the events of [`append`].
pub static SCHEMAS: std::sync::LazyLock<std::collections::BTreeMap<String, serde_json::Value>> =
    std::sync::LazyLock::new(|| {
        let schema = serde_json::json!({ "type": "object", "required": ["n", "subject"] });
        [("Happened".to_owned(), schema)].into()
    });

/// The archive of `company`'s months `from` to `to`, with `keys`, without
/// renderings.
pub fn asked<'a>(company: &'a Company, from: &str, to: &str, keys: &'a [(KeyRef, [u8; 32])]) -> Export<'a> {
    Export {
        company,
        from: Month::parse("from", from).unwrap(),
        to: Month::parse("to", to).unwrap(),
        keys,
        withheld: &[],
        schemas: &SCHEMAS,
        renderer: None,
        after: None,
    }
}

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub store: SqliteEventStore,
    pub company: Company,
    pub key: CheckpointKey,
}

pub async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteEventStore::open(dir.path().join("events.db"), system_now()).unwrap();
    let key = CheckpointKey::from_seed([5; 32]);
    let company = Company { id: Uuid::now_v7(), domain: "acme.co.kr".into(), time_zone: "Asia/Seoul".into() };
    history(&store, company.id, &key).await;
    Setup { dir, store, company, key }
}

/// A copy of the archive at `from` with `change` applied to each file.
pub fn rewrite(from: &Path, to: &Path, change: impl Fn(&str, Vec<u8>) -> Option<Vec<u8>>) {
    let mut source = zip::ZipArchive::new(std::fs::File::open(from).unwrap()).unwrap();
    let mut target = zip::ZipWriter::new(std::fs::File::create(to).unwrap());
    for i in 0..source.len() {
        let mut file = source.by_index(i).unwrap();
        let name = file.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        if let Some(bytes) = change(&name, bytes) {
            target.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
            target.write_all(&bytes).unwrap();
        }
    }
    target.finish().unwrap();
}
