//! Statements are prepared once per pooled connection; one prepared before
//! another process changed the schema fails on that connection ("cached
//! plan must not change result type") — once, not for the life of the
//! process.

use chrono::Utc;
use store::postgres::{PostgresEventStore, TestDatabase};
use store::{Direction, EventData, EventStore, ExpectedVersion, Metadata};
use tokio_postgres::NoTls;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_made_stale_by_a_schema_change_elsewhere_fails_once_per_connection() {
    let Some(database) = TestDatabase::create().await else { return };
    let store = PostgresEventStore::connect(&database.url, store::system_now()).await.unwrap();
    let event =
        EventData::json(Uuid::now_v7(), "Kept", 1, &1, Metadata { occurred_at: Utc::now(), ..Metadata::default() })
            .unwrap();
    store.append("kept-1", ExpectedVersion::NoStream, vec![event]).await.unwrap();
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 1);
    assert_eq!(store.read_stream("kept-1", Direction::Forwards, None, 10).await.unwrap().len(), 1);

    // Another process changes a column's type: the rows read keep their
    // shape for us, but the statements prepared before no longer match.
    let (other, connection) = tokio_postgres::connect(&database.url, NoTls).await.unwrap();
    tokio::spawn(connection);
    other
        .batch_execute(
            "ALTER TABLE es_events ALTER COLUMN client_address TYPE VARCHAR(1000);
             ALTER TABLE es_streams ALTER COLUMN name TYPE VARCHAR(1000);",
        )
        .await
        .unwrap();

    // Each pooled connection may fail once; then every call succeeds.
    let mut appended = 0;
    let mut failed = 0;
    let mut last_round = Vec::new();
    for _ in 0..40 {
        let all = store.read_all(0, 10).await.map(drop);
        let stream = store.read_stream("kept-1", Direction::Forwards, None, 10).await.map(drop);
        let more = EventData::json(Uuid::now_v7(), "Kept", 1, &2, Metadata::default()).unwrap();
        let append = store.append("kept-1", ExpectedVersion::Any, vec![more]).await.map(drop);
        appended += usize::from(append.is_ok());
        last_round = vec![all, stream, append];
        failed += last_round.iter().filter(|r| r.is_err()).count();
    }
    assert!(last_round.iter().all(Result::is_ok), "still failing after the schema change: {last_round:?}");
    // The change did make statements stale, and each kind of call failed
    // at most once on each of the pool's (at most 16) connections.
    assert!((1..=3 * 16).contains(&failed), "{failed} calls failed");
    assert_eq!(store.read_all(0, 100).await.unwrap().len(), 1 + appended);
}
