//! The PostgreSQL read-model store against the read-model conformance suite,
//! each test on a fresh database.

use projections::PostgresReadModels;
use store::postgres::TestDatabase;

async fn fresh() -> Option<(PostgresReadModels, TestDatabase)> {
    let database = TestDatabase::create().await?;
    let store = PostgresReadModels::connect(&database.url).await.expect("connect");
    Some((store, database))
}

projections::read_model_conformance_suite!(fresh());
