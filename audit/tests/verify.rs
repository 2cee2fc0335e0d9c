//! A log verifies while it is as written, and names the first event that
//! does not match once a byte is changed, an event removed or the chain
//! rewritten — in the embedded store's file and in PostgreSQL.

use std::path::Path;
use std::sync::Arc;

use audit::{CheckpointKey, VerifyError, verify};
use chrono::Utc;
use domain::DomainEvent;
use domain::audit::CheckpointEvent;
use store::chain::{Broken, ChainHash};
use store::postgres::{PostgresEventStore, TestDatabase};
use store::sqlite::SqliteEventStore;
use store::{EventData, EventStore, ExpectedVersion, Metadata, system_now};
use uuid::Uuid;

fn event(tenant: Option<Uuid>, n: usize) -> EventData {
    EventData::json(
        Uuid::now_v7(),
        "Happened",
        1,
        &serde_json::json!({ "n": n, "subject": format!("mail {n}") }),
        Metadata { tenant, occurred_at: Utc::now(), ..Metadata::default() },
    )
    .unwrap()
}

/// Two companies' events and a few of no company, with a signed checkpoint
/// of each company after the first half.
async fn fill(store: &dyn EventStore, key: &CheckpointKey, companies: [Uuid; 2]) {
    for n in 0..20 {
        let tenant = match n % 5 {
            4 => None,
            k => Some(companies[k % 2]),
        };
        store.append(&format!("thing-{n}"), ExpectedVersion::NoStream, vec![event(tenant, n)]).await.unwrap();
        if n == 10 {
            for tenant in companies {
                sign(store, key, tenant).await;
            }
        }
    }
}

async fn sign(store: &dyn EventStore, key: &CheckpointKey, tenant: Uuid) {
    let heads = store.chain_heads().await.unwrap().unwrap();
    let head = heads.iter().find(|h| h.chain == tenant).unwrap();
    let signed = CheckpointEvent::Signed(key.sign(tenant, head.position, &head.hash, Utc::now()));
    let data = EventData::json(
        Uuid::now_v7(),
        signed.event_type(),
        1,
        &signed,
        Metadata { tenant: Some(tenant), occurred_at: Utc::now(), ..Metadata::default() },
    )
    .unwrap();
    let stream = commands::stream_name::<domain::audit::Checkpoints>(tenant);
    store.append(&stream, ExpectedVersion::Any, vec![data]).await.unwrap();
}

async fn check(store: &dyn EventStore, scope: Option<Uuid>, key: &CheckpointKey) -> Result<audit::Report, VerifyError> {
    verify(store, scope, Some(key.public()), |_| {}).await
}

fn embedded(dir: &Path) -> SqliteEventStore {
    SqliteEventStore::open(dir.join("events.db"), system_now()).unwrap()
}

fn file(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("events.db")).unwrap()
}

#[tokio::test]
async fn an_untouched_log_verifies_with_its_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let store = embedded(dir.path());
    let key = CheckpointKey::from_seed([1; 32]);
    let companies = [Uuid::now_v7(), Uuid::now_v7()];
    fill(&store, &key, companies).await;
    let mut seen = Vec::new();
    let report = verify(&store, None, Some(key.public()), |p| seen.push(p)).await.unwrap();
    assert_eq!(report.events, 22);
    assert_eq!(report.checkpoints, 2);
    assert_eq!(report.companies, 2);
    assert_eq!(seen.last().map(|p| (p.done, p.total)), Some((22, 22)));
    let one = check(&store, Some(companies[0]), &key).await.unwrap();
    assert_eq!((one.companies, one.checkpoints), (1, 1));
}

#[tokio::test]
async fn one_changed_byte_in_the_embedded_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let key = CheckpointKey::from_seed([1; 32]);
    let companies = [Uuid::now_v7(), Uuid::now_v7()];
    fill(&embedded(dir.path()), &key, companies).await;
    // Position 7 is the 7th event appended: company 1's (n = 6).
    file(dir.path())
        .execute(
            "UPDATE events SET data = CAST(REPLACE(CAST(data AS TEXT), 'mail 6', 'mail 7') AS BLOB) WHERE position = 7",
            [],
        )
        .unwrap();
    let store = embedded(dir.path());
    let broken = check(&store, None, &key).await.unwrap_err();
    assert!(matches!(broken, VerifyError::Broken(Broken::Mismatch { position: 7, .. })), "{broken}");
    assert_eq!(check(&store, Some(companies[1]), &key).await.unwrap_err().position(), Some(7));
    // The other company's chain is whole.
    check(&store, Some(companies[0]), &key).await.unwrap();
}

#[tokio::test]
async fn a_rewritten_chain_is_caught_by_its_signed_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let key = CheckpointKey::from_seed([1; 32]);
    let companies = [Uuid::now_v7(), Uuid::now_v7()];
    fill(&embedded(dir.path()), &key, companies).await;
    // Someone changes an event and computes every later link again.
    {
        let conn = file(dir.path());
        conn.execute("UPDATE events SET data = CAST('{\"n\":0}' AS BLOB) WHERE position = 1", []).unwrap();
        drop(conn);
        let store = embedded(dir.path());
        let log = store.read_all(0, 1000).await.unwrap();
        drop(store);
        let conn = file(dir.path());
        let mut heads = std::collections::HashMap::new();
        for e in &log {
            let chain = store::chain::chain_of(&e.metadata);
            let previous = heads.get(&chain).copied().unwrap_or_else(|| ChainHash::genesis(chain));
            let hash = ChainHash::link(&previous, e);
            heads.insert(chain, hash);
            conn.execute("UPDATE events SET chain = ?1 WHERE position = ?2", rusqlite::params![hash.0, e.position])
                .unwrap();
            conn.execute(
                "UPDATE chain_heads SET hash = ?1 WHERE chain = ?2",
                rusqlite::params![hash.0, chain.as_bytes()],
            )
            .unwrap();
        }
    }
    let store = embedded(dir.path());
    match check(&store, None, &key).await.unwrap_err() {
        VerifyError::Checkpoint { tenant, .. } => assert_eq!(tenant, companies[0]),
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_chain_computed_again_with_its_head_removed_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let key = CheckpointKey::from_seed([1; 32]);
    let companies = [Uuid::now_v7(), Uuid::now_v7()];
    fill(&embedded(dir.path()), &key, companies).await;
    file(dir.path()).execute("DELETE FROM chain_heads WHERE chain = ?1", [companies[0].as_bytes()]).unwrap();
    let store = embedded(dir.path());
    let broken = check(&store, None, &key).await.unwrap_err();
    assert!(matches!(broken, VerifyError::Headless { tenant, .. } if tenant == companies[0]), "{broken}");
}

#[tokio::test]
async fn events_removed_from_the_end_are_caught_by_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let key = CheckpointKey::from_seed([1; 32]);
    fill(&embedded(dir.path()), &key, [Uuid::now_v7(), Uuid::now_v7()]).await;
    file(dir.path()).execute("DELETE FROM events WHERE position >= 21", []).unwrap();
    let store = embedded(dir.path());
    let broken = check(&store, None, &key).await.unwrap_err();
    assert!(matches!(broken, VerifyError::Head { .. }), "{broken}");
}

#[tokio::test]
async fn a_checkpoint_signed_with_another_key_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = embedded(dir.path());
    let companies = [Uuid::now_v7(), Uuid::now_v7()];
    fill(&store, &CheckpointKey::from_seed([2; 32]), companies).await;
    let broken = check(&store, None, &CheckpointKey::from_seed([1; 32])).await.unwrap_err();
    assert!(matches!(broken, VerifyError::Checkpoint { .. }), "{broken}");
}

#[tokio::test]
async fn a_file_written_before_the_chain_gets_its_links_at_first_open() {
    let dir = tempfile::tempdir().unwrap();
    let key = CheckpointKey::from_seed([1; 32]);
    fill(&embedded(dir.path()), &key, [Uuid::now_v7(), Uuid::now_v7()]).await;
    file(dir.path())
        .execute_batch(
            "DELETE FROM events WHERE stream LIKE 'checkpoints-%';
             ALTER TABLE events DROP COLUMN chain; DROP TABLE chain_heads; PRAGMA user_version = 0;",
        )
        .unwrap();
    // Positions stay dense: the checkpoints were the two after the 11th.
    file(dir.path()).execute("UPDATE events SET position = position - 2 WHERE position > 13", []).unwrap();
    let store = embedded(dir.path());
    let report = check(&store, None, &key).await.unwrap();
    assert_eq!((report.events, report.checkpoints), (20, 0));
}

#[tokio::test]
async fn a_row_deleted_in_postgres_is_named() {
    let Some(database) = TestDatabase::create().await else { return };
    let store = Arc::new(PostgresEventStore::connect(&database.url, system_now()).await.unwrap());
    let key = CheckpointKey::from_seed([1; 32]);
    let companies = [Uuid::now_v7(), Uuid::now_v7()];
    fill(store.as_ref(), &key, companies).await;
    check(store.as_ref(), None, &key).await.unwrap();
    let (client, connection) = tokio_postgres::connect(&database.url, tokio_postgres::NoTls).await.unwrap();
    let driver = tokio::spawn(connection);
    client.execute("DELETE FROM es_events WHERE position = 5", &[]).await.unwrap();
    driver.abort();
    let broken = check(store.as_ref(), None, &key).await.unwrap_err();
    assert_eq!(broken.position(), Some(5), "{broken}");
    assert!(matches!(broken, VerifyError::Broken(Broken::Missing { from: 5, to: 5 })), "{broken}");
}
