//! Runners, checkpoints and rebuilds against the embedded event store.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::{Counter, count};
use projections::{MemoryReadModels, Projections, Projector, ReadModelStore, rebuild};
use serde_json::json;
use store::sqlite::SqliteEventStore;
use store::{EventData, EventStore, ExpectedVersion, Metadata};
use uuid::Uuid;

fn open(dir: &tempfile::TempDir) -> Arc<dyn EventStore> {
    Arc::new(SqliteEventStore::open(dir.path().join("events.db"), store::system_now()).unwrap())
}

async fn append(events: &dyn EventStore, stream: &str, count: usize) -> u64 {
    let data = (0..count)
        .map(|i| {
            EventData::json(
                Uuid::now_v7(),
                "Counted",
                1,
                &json!({ "i": i }),
                Metadata { occurred_at: Utc::now(), ..Metadata::default() },
            )
            .unwrap()
        })
        .collect();
    events.append(stream, ExpectedVersion::Any, data).await.unwrap().position
}

#[tokio::test]
async fn a_restarted_runner_resumes_from_its_checkpoint_without_repeating_or_skipping() {
    let dir = tempfile::tempdir().unwrap();
    let events = open(&dir);
    let read_models: Arc<dyn ReadModelStore> = Arc::new(MemoryReadModels::default());
    append(events.as_ref(), "a-1", 10).await;
    let live = Projections::start(events.clone(), read_models.clone(), vec![Arc::new(Counter)]).await.unwrap();
    let position = append(events.as_ref(), "a-1", 5).await;
    assert!(live.wait_for(position, Duration::from_secs(30)).await);
    assert_eq!(count(read_models.as_ref(), "a-1").await, 15);
    drop(live);

    // Events appended while no runner runs are picked up, none twice.
    let position = append(events.as_ref(), "a-1", 7).await;
    let again = Projections::start(events.clone(), read_models.clone(), vec![Arc::new(Counter)]).await.unwrap();
    assert!(again.wait_for(position, Duration::from_secs(30)).await);
    assert_eq!(count(read_models.as_ref(), "a-1").await, 22);
    assert_eq!(read_models.checkpoint("counter.v1").await.unwrap(), position);
    assert_eq!(again.checkpoints(), vec![("counter.v1", position)]);
}

#[tokio::test]
async fn a_rebuild_from_position_zero_equals_the_live_read_models() {
    let dir = tempfile::tempdir().unwrap();
    let events = open(&dir);
    let live_models: Arc<dyn ReadModelStore> = Arc::new(MemoryReadModels::default());
    let live = Projections::start(events.clone(), live_models.clone(), vec![Arc::new(Counter)]).await.unwrap();
    let mut position = 0;
    for i in 0..50 {
        position = append(events.as_ref(), &format!("s-{}", i % 7), 1 + i % 3).await;
    }
    assert!(live.wait_for(position, Duration::from_secs(30)).await);

    let rebuilt = MemoryReadModels::default();
    let read = rebuild(events.as_ref(), &rebuilt, &[Arc::new(Counter) as Arc<dyn Projector>]).await.unwrap();
    assert_eq!(read, position);
    assert_eq!(
        live_models.scan("counts", "", None, 1000).await.unwrap(),
        rebuilt.scan("counts", "", None, 1000).await.unwrap()
    );
    assert_eq!(rebuilt.checkpoint("counter.v1").await.unwrap(), position);
    // A second rebuild of an up-to-date store reads nothing.
    assert_eq!(rebuild(events.as_ref(), &rebuilt, &[Arc::new(Counter) as Arc<dyn Projector>]).await.unwrap(), 0);
}
