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
    // Only the 7 it missed were applied again.
    let progress = projections::Progress { checkpoint: position, applied: 7, stopped: None };
    assert_eq!(again.progress(), vec![("counter.v1", progress)]);
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

/// Counts like [`Counter`] under another name, and cannot apply events of
/// type `Poison` unless `healed` (a fixed version deployed later).
struct Picky {
    healed: bool,
}

#[async_trait::async_trait]
impl Projector for Picky {
    fn name(&self) -> &'static str {
        "picky.v1"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["picky"]
    }

    async fn apply(
        &self,
        event: &store::RecordedEvent,
        tx: &mut projections::Transaction<'_>,
    ) -> Result<(), projections::ProjectionError> {
        if event.event_type == "Poison" && !self.healed {
            return Err(projections::ProjectionError::Event {
                position: event.position,
                event_type: event.event_type.clone(),
                reason: "not understood".into(),
            });
        }
        let seen = tx.get("picky", &event.stream).await?.and_then(|v| v["n"].as_u64()).unwrap_or(0);
        tx.put("picky", event.stream.clone(), json!({ "n": seen + 1 }));
        Ok(())
    }
}

/// Fails like a store that is away for its first `failures` attempts.
struct Flaky {
    failures: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl Projector for Flaky {
    fn name(&self) -> &'static str {
        "flaky.v1"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["flaky"]
    }

    async fn apply(
        &self,
        event: &store::RecordedEvent,
        tx: &mut projections::Transaction<'_>,
    ) -> Result<(), projections::ProjectionError> {
        let left = self.failures.load(std::sync::atomic::Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, std::sync::atomic::Ordering::SeqCst);
            return Err(projections::ProjectionError::Store("connection refused".into()));
        }
        tx.put("flaky", event.stream.clone(), json!({ "last": event.position }));
        Ok(())
    }
}

async fn append_typed(events: &dyn EventStore, stream: &str, event_type: &str) -> u64 {
    let data = EventData::json(
        Uuid::now_v7(),
        event_type,
        1,
        &json!({}),
        Metadata { occurred_at: Utc::now(), ..Metadata::default() },
    )
    .unwrap();
    events.append(stream, ExpectedVersion::Any, vec![data]).await.unwrap().position
}

// A projector that meets an event it cannot apply stops there, alone: the
// events before it are applied, the other projectors and every waiter carry
// on, the stop names the event and the reason; a restart tries again, and a
// healed projector then goes on. A store failure is retried, not a stop.
#[tokio::test]
async fn a_projector_that_cannot_apply_an_event_stops_alone_and_a_restart_retries_it() {
    let dir = tempfile::tempdir().unwrap();
    let events = open(&dir);
    let read_models: Arc<dyn ReadModelStore> = Arc::new(MemoryReadModels::default());
    append(events.as_ref(), "a-1", 3).await;
    let poison = append_typed(events.as_ref(), "b-1", "Poison").await;
    append(events.as_ref(), "a-1", 3).await;
    let projectors = |healed| -> Vec<Arc<dyn Projector>> {
        vec![
            Arc::new(Counter),
            Arc::new(Picky { healed }),
            Arc::new(Flaky { failures: std::sync::atomic::AtomicU32::new(3) }),
        ]
    };
    let live = Projections::start(events.clone(), read_models.clone(), projectors(false)).await.unwrap();
    let position = append(events.as_ref(), "a-1", 2).await;
    // Waiting for the log does not wait for the stopped projector.
    assert!(live.wait_for(position, Duration::from_secs(60)).await);
    assert_eq!(count(read_models.as_ref(), "a-1").await, 8);
    assert_eq!(count(read_models.as_ref(), "b-1").await, 1);
    assert_eq!(read_models.get("flaky", "a-1").await.unwrap(), Some(json!({ "last": position })));
    // The picky projector applied everything before the poison (which came
    // in one batch with them) and stopped at it.
    assert_eq!(read_models.get("picky", "a-1").await.unwrap(), Some(json!({ "n": 3 })));
    assert_eq!(read_models.checkpoint("picky.v1").await.unwrap(), poison - 1);
    let progress = live.progress();
    let (_, picky) = progress.iter().find(|(name, _)| *name == "picky.v1").unwrap();
    assert_eq!(picky.checkpoint, poison - 1);
    let stopped = picky.stopped.as_deref().expect("stopped");
    assert_eq!((stopped.position, stopped.stream.as_str(), stopped.event_type.as_str()), (poison, "b-1", "Poison"));
    assert!(stopped.reason.contains("not understood"), "{}", stopped.reason);
    for (name, p) in &progress {
        if *name != "picky.v1" {
            assert_eq!(p.stopped, None, "{name}");
            assert_eq!(p.checkpoint, position, "{name}");
        }
    }
    drop(live);

    // A restart tries again: the same event stops the same projector...
    let again = Projections::start(events.clone(), read_models.clone(), projectors(false)).await.unwrap();
    assert!(again.wait_for(position, Duration::from_secs(60)).await);
    assert_eq!(again.progress()[1].1.stopped.as_deref().map(|s| s.position), Some(poison));
    drop(again);
    // ...until a fixed version is deployed.
    let healed = Projections::start(events.clone(), read_models.clone(), projectors(true)).await.unwrap();
    assert!(healed.wait_for(position, Duration::from_secs(60)).await);
    let (healed_at, healed_stop) = (healed.progress()[1].1.checkpoint, healed.progress()[1].1.stopped.clone());
    assert_eq!((healed_at, healed_stop), (position, None));
    assert_eq!(read_models.get("picky", "a-1").await.unwrap(), Some(json!({ "n": 8 })));
}
