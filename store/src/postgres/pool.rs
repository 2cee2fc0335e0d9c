//! Connection pools to PostgreSQL with timeouts, and migrations that several
//! processes starting at once apply one at a time.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

/// How long to wait for a connection, or for a busy pool, before failing.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Serialises migrations between processes ("gwmigrat" in ASCII).
const MIGRATION_LOCK: i64 = 0x6777_6d69_6772_6174;

/// The connection settings of `url`, with a connect timeout (unless the URL
/// sets one) and TCP keepalives, so that a peer that vanishes is noticed in
/// seconds rather than hours.
///
/// # Errors
/// When `url` is not a PostgreSQL URL.
pub fn config(url: &str) -> Result<tokio_postgres::Config, String> {
    let mut config = tokio_postgres::Config::from_str(url).map_err(|e| e.to_string())?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(TIMEOUT);
    }
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(5))
        .keepalives_interval(Duration::from_secs(2))
        .keepalives_retries(3);
    Ok(config)
}

/// A pool on `url` whose schema `runner` has migrated (history in `table`).
///
/// # Errors
/// When the database cannot be reached or migrated.
pub async fn open(
    url: &str,
    mut runner: refinery::Runner,
    table: &str,
) -> Result<(Pool, tokio_postgres::Config), String> {
    let config = config(url)?;
    let manager =
        Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    let pool = Pool::builder(manager)
        .max_size(16)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(TIMEOUT))
        .create_timeout(Some(TIMEOUT))
        .recycle_timeout(Some(TIMEOUT))
        .build()
        .map_err(|e| e.to_string())?;
    let mut client = pool.get().await.map_err(|e| e.to_string())?;
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await.map_err(|e| e.to_string())?;
    runner.set_migration_table_name(table);
    let client: &mut tokio_postgres::Client = &mut client;
    let migrated = runner.run_async(client).await.map_err(|e| e.to_string());
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await.map_err(|e| e.to_string())?;
    migrated?;
    Ok((pool, config))
}
