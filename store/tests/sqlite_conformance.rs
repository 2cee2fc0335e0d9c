//! The embedded adapter against the port's conformance suite.

use std::sync::Arc;

use store::conformance::{Fixture, ManualNow};
use store::sqlite::SqliteEventStore;

async fn fixture() -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualNow::default();
    let store = SqliteEventStore::open(dir.path().join("events.db"), clock.now()).expect("open store");
    Some(Fixture { store: Arc::new(store), clock, keep_alive: Box::new(dir) })
}

store::conformance_suite!(fixture());
