//! The EventStoreDB adapter against the port's conformance suite, when
//! `EVENTSTORE_TEST_URL` names a server (`esdb://localhost:2113?tls=false`).

use std::sync::Arc;

use store::conformance::{Fixture, ManualNow};
use store::eventstoredb::EventStoreDb;
use store::sealing::SqliteKeys;

async fn fixture() -> Option<Fixture> {
    let Ok(url) = std::env::var("EVENTSTORE_TEST_URL") else {
        eprintln!("skipped: EVENTSTORE_TEST_URL is not set, so there is no EventStoreDB server to test against");
        return None;
    };
    let clock = ManualNow::default();
    let store = EventStoreDb::connect(&url, clock.now()).await.expect("connect to EventStoreDB");
    // EventStoreDB holds no keys: they stay in a file beside the server.
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = Arc::new(SqliteKeys::open(dir.path().join("keys.db")).expect("open keys"));
    Some(Fixture { store: Arc::new(store), clock, keys, keep_alive: Box::new(dir) })
}

store::conformance_suite!(fixture());
