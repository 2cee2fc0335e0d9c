//! The PostgreSQL adapter against the port's conformance suite, each test on
//! a fresh database.

use std::sync::Arc;

use store::conformance::{Fixture, ManualNow};
use store::postgres::{PostgresEventStore, TestDatabase};

async fn fixture() -> Option<Fixture> {
    let database = TestDatabase::create().await?;
    let clock = ManualNow::default();
    let store = PostgresEventStore::connect(&database.url, clock.now()).await.expect("connect");
    let keys = Arc::new(store.keys());
    Some(Fixture { store: Arc::new(store), clock, keys, keep_alive: Box::new(database) })
}

store::conformance_suite!(fixture());
