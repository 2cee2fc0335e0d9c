//! Whether the test suite's PostgreSQL (`DATABASE_URL`) can be used: exits
//! 0 when a test database could be created there (and drops it), 1 after
//! saying why not. `make test` runs the PostgreSQL pass only then, and says
//! so when it skips it; under `CI=true` a missing server is a failure.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match store::postgres::TestDatabase::create().await {
        Some(database) => {
            drop(database);
            std::process::ExitCode::SUCCESS
        }
        None => std::process::ExitCode::FAILURE,
    }
}
