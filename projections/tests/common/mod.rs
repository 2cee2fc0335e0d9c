//! A projector for tests: it counts the events it sees per stream, so a
//! repeated or lost event shows.

use async_trait::async_trait;
use projections::{ProjectionError, Projector, ReadModelStore, Transaction};
use serde_json::json;
use store::RecordedEvent;

pub struct Counter;

#[async_trait]
impl Projector for Counter {
    fn name(&self) -> &'static str {
        "counter.v1"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["counts"]
    }

    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError> {
        let seen = tx.get("counts", &event.stream).await?.and_then(|v| v["n"].as_u64()).unwrap_or(0);
        tx.put("counts", event.stream.clone(), json!({ "n": seen + 1, "last": event.version }));
        Ok(())
    }
}

/// How many events of `stream` the counter has seen.
pub async fn count(store: &dyn ReadModelStore, stream: &str) -> u64 {
    store.get("counts", stream).await.unwrap().and_then(|v| v["n"].as_u64()).unwrap_or(0)
}
