//! The PostgreSQL read-model store against the read-model conformance suite,
//! each test on a fresh database.

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
    // The lock goes with the claim's connection.
    let mut taken = None;
    for _ in 0..100 {
        taken = other_process.try_claim("users.v1").await.unwrap();
        if taken.is_some() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(taken.is_some(), "the claim was not released");
}
