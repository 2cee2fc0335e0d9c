//! Positions become visible in order on PostgreSQL: a subscriber never
//! passes a position that commits later, also with several processes.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use store::postgres::{APPEND_LOCK, PostgresEventStore, TestDatabase};
use store::{EventData, EventStore, ExpectedVersion, Metadata};
use tokio_postgres::NoTls;
use uuid::Uuid;

fn event() -> EventData {
    EventData::json(Uuid::now_v7(), "Ordered", 1, &1, Metadata { occurred_at: Utc::now(), ..Metadata::default() })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_transaction_holding_a_lower_position_is_never_passed() {
    let Some(database) = TestDatabase::create().await else { return };
    let store = Arc::new(PostgresEventStore::connect(&database.url, store::system_now()).await.unwrap());
    store.append("before-1", ExpectedVersion::NoStream, vec![event()]).await.unwrap();
    let mut subscription = store.clone().subscribe_all(0);
    let first = subscription.next_batch().await.unwrap().unwrap();
    assert_eq!(first.iter().map(|e| e.position).collect::<Vec<_>>(), vec![1]);

    // Another writer (another process, say) takes position 2 and stalls
    // before committing.
    let (slow, connection) = tokio_postgres::connect(&database.url, NoTls).await.unwrap();
    tokio::spawn(connection);
    slow.batch_execute(&format!(
        "BEGIN;
         SELECT pg_advisory_xact_lock({APPEND_LOCK});
         INSERT INTO es_events (position, stream, version, id, type, schema_version, data, occurred_at, recorded_at)
              VALUES (2, 'slow-1', 0, gen_random_uuid(), 'Ordered', 1, '1', 0, 0);
         INSERT INTO es_streams (name, version) VALUES ('slow-1', 0);"
    ))
    .await
    .unwrap();

    // Meanwhile this process appends: its commit must come after the slow
    // one, so nobody can see it first.
    let fast = {
        let store = store.clone();
        tokio::spawn(async move { store.append("fast-1", ExpectedVersion::NoStream, vec![event()]).await })
    };
    let early = tokio::time::timeout(Duration::from_millis(300), subscription.next_batch()).await;
    assert!(early.is_err(), "the subscriber saw something while position 2 was uncommitted: {early:?}");
    assert!(!fast.is_finished(), "an append passed a transaction holding a lower position");

    slow.batch_execute("SELECT pg_notify('es_events', '2'); COMMIT;").await.unwrap();
    let appended = fast.await.unwrap().unwrap();
    assert_eq!(appended.position, 3);
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let batch =
            tokio::time::timeout(Duration::from_secs(30), subscription.next_batch()).await.unwrap().unwrap().unwrap();
        seen.extend(batch.iter().map(|e| (e.position, e.stream.clone())));
    }
    assert_eq!(seen, vec![(2, "slow-1".to_owned()), (3, "fast-1".to_owned())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_appending_to_one_database_are_seen_by_each_in_one_order() {
    let Some(database) = TestDatabase::create().await else { return };
    let a = Arc::new(PostgresEventStore::connect(&database.url, store::system_now()).await.unwrap());
    let b = Arc::new(PostgresEventStore::connect(&database.url, store::system_now()).await.unwrap());
    let mut from_a = a.clone().subscribe_all(0);
    let mut from_b = b.clone().subscribe_all(0);
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = if w % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                for n in 0..25u64 {
                    let expected = if n == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(n - 1) };
                    store.append(&format!("w-{w}"), expected, vec![event()]).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    for subscription in [&mut from_a, &mut from_b] {
        let mut positions = Vec::new();
        while positions.len() < 200 {
            let batch = tokio::time::timeout(Duration::from_secs(30), subscription.next_batch())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            positions.extend(batch.iter().map(|e| e.position));
        }
        assert_eq!(positions, (1..=200).collect::<Vec<u64>>());
    }
}
