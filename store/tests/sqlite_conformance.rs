//! The embedded adapter against the port's conformance suite.

use std::sync::Arc;

use store::conformance::{Fixture, ManualNow};
use store::sealing::SqliteKeys;
use store::sqlite::SqliteEventStore;

async fn fixture() -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualNow::default();
    let store = SqliteEventStore::open(dir.path().join("events.db"), clock.now()).expect("open store");
    let keys = Arc::new(SqliteKeys::open(dir.path().join("keys.db")).expect("open keys"));
    Some(Fixture { store: Arc::new(store), clock, keys, keep_alive: Box::new(dir) })
}

store::conformance_suite!(fixture());
