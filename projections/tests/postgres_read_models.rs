//! The PostgreSQL read-model store against the read-model conformance suite,
//! each test on a fresh database.

mod common;

use projections::{PostgresReadModels, ReadModelStore};
use store::postgres::TestDatabase;

async fn fresh() -> Option<(PostgresReadModels, TestDatabase)> {
    let database = TestDatabase::create().await?;
    let store = PostgresReadModels::connect(&database.url).await.expect("connect");
    Some((store, database))
}

projections::read_model_conformance_suite!(fresh());

#[tokio::test]
async fn a_projector_is_claimed_by_one_holder_at_a_time() {
    let Some((store, database)) = fresh().await else { return };
    let other_process = PostgresReadModels::connect(&database.url).await.unwrap();
    let claim = store.try_claim("users.v1").await.unwrap().expect("first claim");
    assert!(other_process.try_claim("users.v1").await.unwrap().is_none());
    assert!(other_process.try_claim("audit.v1").await.unwrap().is_some());
    drop(claim);
    // The lock goes with the claim's connection, once the server has seen that connection close.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while other_process.try_claim("users.v1").await.unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "the claim was not released");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn deployments_on_two_databases_of_one_server_each_claim_their_projectors() {
    let (Some((one, _one)), Some((other, _other))) = (fresh().await, fresh().await) else { return };
    let claim = one.try_claim("users.v1").await.unwrap();
    assert!(claim.is_some());
    assert!(other.try_claim("users.v1").await.unwrap().is_some(), "another database's claim is its own");
}

mod rebuild_without_downtime {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::Utc;
    use projections::{PostgresReadModels, Projections, Projector};
    use store::postgres::{PostgresEventStore, TestDatabase};
    use store::{EventData, EventStore, ExpectedVersion, Metadata};
    use uuid::Uuid;

    use crate::common::{Counter, count};

    async fn append(events: &dyn EventStore, count: usize) -> u64 {
        let data = (0..count)
            .map(|_| {
                EventData::json(
                    Uuid::now_v7(),
                    "Counted",
                    1,
                    &1,
                    Metadata { occurred_at: Utc::now(), ..Metadata::default() },
                )
                .unwrap()
            })
            .collect();
        events.append("counted-1", ExpectedVersion::Any, data).await.unwrap().position
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rebuild_is_built_beside_the_serving_read_model_and_takes_over() {
        let Some(database) = TestDatabase::create().await else { return };
        let events: Arc<dyn EventStore> =
            Arc::new(PostgresEventStore::connect(&database.url, store::system_now()).await.unwrap());
        let models = Arc::new(PostgresReadModels::connect(&database.url).await.unwrap());
        let live = Projections::start(events.clone(), models.clone(), vec![Arc::new(Counter)]).await.unwrap();
        let position = append(events.as_ref(), 300).await;
        assert!(live.wait_for(position, Duration::from_secs(30)).await);
        assert_eq!(count(models.as_ref(), "counted-1").await, 300);

        // Writers keep appending and a reader keeps reading while the rebuild
        // runs: the reader never sees the read model empty or going back.
        let writer = {
            let events = events.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    append(events.as_ref(), 10).await;
                }
            })
        };
        let reader = {
            let models = models.clone();
            tokio::spawn(async move {
                let mut last = 0;
                for _ in 0..200 {
                    let now = count(models.as_ref(), "counted-1").await;
                    assert!(now >= last && now >= 300, "the read model went from {last} to {now}");
                    last = now;
                    tokio::task::yield_now().await;
                }
            })
        };
        let projector: Arc<dyn Projector> = Arc::new(Counter);
        let read = models.rebuild_beside(events.as_ref(), &projector, &mut |_, _| {}).await.unwrap();
        assert!(read >= 300);
        writer.await.unwrap();
        reader.await.unwrap();

        // The runner carries on in the new generation: nothing lost, nothing twice.
        let position = append(events.as_ref(), 5).await;
        assert!(live.wait_for(position, Duration::from_secs(30)).await);
        let mut counted = 0;
        for _ in 0..300 {
            counted = count(models.as_ref(), "counted-1").await;
            if counted == 505 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(counted, 505);
        // The old generation is gone.
        let (client, connection) = tokio_postgres::connect(&database.url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let generations: i64 =
            client.query_one("SELECT COUNT(DISTINCT generation) FROM rm_rows", &[]).await.unwrap().get(0);
        assert_eq!(generations, 1);
    }
}

// What PostgreSQL refuses to keep (here a key too long for its index) is
// reported as invalid input, which stops the projector at that event rather
// than being retried as if the store were away.
#[tokio::test]
async fn a_row_the_database_refuses_is_invalid_input_not_a_failure_to_retry() {
    use projections::{Change, ProjectionError};
    let Some((store, _database)) = fresh().await else { return };
    // Random characters do not compress below the index's row limit.
    let key: String = (0..4000).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect();
    let change = Change::Put { table: "t", key, value: serde_json::json!(1) };
    let refused = store.commit("p", vec![change], 0, 1).await;
    assert!(matches!(&refused, Err(ProjectionError::InvalidInput(_))), "{refused:?}");
    assert!(refused.unwrap_err().is_permanent());
    assert_eq!(store.checkpoint("p").await.unwrap(), 0);
}

/// A new version of a projector (a new name) never deletes what another
/// version serves to other processes: it refuses to start, naming the
/// rebuild; on a new database it starts at once.
#[tokio::test]
async fn a_new_version_of_a_projector_refuses_tables_another_version_serves() {
    let Some((store, _database)) = fresh().await else { return };
    assert!(!store.empty_unstarted("users.v1", &["users"]).await.unwrap(), "a new database");
    let row = projections::Change::Put { table: "users", key: "t/a".into(), value: serde_json::json!(1) };
    store.commit("users.v1", vec![row], 0, 9).await.unwrap();
    assert!(!store.empty_unstarted("users.v1", &["users"]).await.unwrap());
    let refused = store.empty_unstarted("users.v2", &["users"]).await.unwrap_err();
    assert!(refused.to_string().contains("groupware rebuild"), "{refused}");
    assert_eq!(store.count("users", "").await.unwrap(), 1, "the serving rows stay");
}
