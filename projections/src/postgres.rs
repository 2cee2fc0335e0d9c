//! Read models in PostgreSQL: one row table keyed by (table, key), and each
//! projector's checkpoint committed in the same transaction as its rows.

use std::str::FromStr;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::Value;
use tokio_postgres::NoTls;

use crate::{Change, Claim, ProjectionError, ReadModelStore, Row};

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

fn backend(e: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Store(e.to_string())
}

/// The first key after every key that starts with `prefix` (keys sort
/// bytewise; no key holds a character above U+10FFFF).
fn past(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// The PostgreSQL read-model store.
pub struct PostgresReadModels {
    pool: Pool,
    config: tokio_postgres::Config,
}

/// The connection that holds a projector's advisory lock.
struct ClaimConnection {
    _client: tokio_postgres::Client,
    driver: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
}

impl Drop for ClaimConnection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl PostgresReadModels {
    /// Connects to `url` and applies the migrations.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn connect(url: &str) -> Result<Self, ProjectionError> {
        let config = tokio_postgres::Config::from_str(url).map_err(backend)?;
        let manager =
            Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager).max_size(16).build().map_err(backend)?;
        let mut client = pool.get().await.map_err(backend)?;
        let client: &mut tokio_postgres::Client = &mut client;
        let mut runner = embedded::migrations::runner();
        runner.set_migration_table_name("rm_migrations");
        runner.run_async(client).await.map_err(backend)?;
        Ok(Self { pool, config })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, ProjectionError> {
        self.pool.get().await.map_err(backend)
    }
}

#[async_trait]
impl ReadModelStore for PostgresReadModels {
    async fn get(&self, table: &str, key: &str) -> Result<Option<Value>, ProjectionError> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT value FROM rm_rows WHERE tbl = $1 AND key = $2", &[&table, &key])
            .await
            .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn scan(
        &self,
        table: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Row>, ProjectionError> {
        let from = after.filter(|a| *a >= prefix);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .client()
            .await?
            .query(
                "SELECT key, value FROM rm_rows
                 WHERE tbl = $1 AND key >= $2 AND key < $3 AND ($4::TEXT IS NULL OR key > $4)
                 ORDER BY key LIMIT $5",
                &[&table, &prefix, &past(prefix), &from, &limit],
            )
            .await
            .map_err(backend)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn count(&self, table: &str, prefix: &str) -> Result<usize, ProjectionError> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT COUNT(*) FROM rm_rows WHERE tbl = $1 AND key >= $2 AND key < $3",
                &[&table, &prefix, &past(prefix)],
            )
            .await
            .map_err(backend)?;
        Ok(usize::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    async fn commit(&self, projector: &str, changes: Vec<Change>, from: u64, to: u64) -> Result<(), ProjectionError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let current = tx
            .query_opt("SELECT position FROM rm_checkpoints WHERE projector = $1 FOR UPDATE", &[&projector])
            .await
            .map_err(backend)?
            .map_or(0, |r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0));
        if current != from {
            return Err(ProjectionError::CheckpointMoved {
                projector: projector.to_owned(),
                expected: from,
                actual: current,
            });
        }
        let (mut put_tables, mut put_keys, mut put_values) = (Vec::new(), Vec::new(), Vec::new());
        let (mut delete_tables, mut delete_keys) = (Vec::new(), Vec::new());
        for change in changes {
            match change {
                Change::Put { table, key, value } => {
                    put_tables.push(table);
                    put_keys.push(key);
                    put_values.push(value);
                }
                Change::Delete { table, key } => {
                    delete_tables.push(table);
                    delete_keys.push(key);
                }
            }
        }
        if !put_keys.is_empty() {
            tx.execute(
                "INSERT INTO rm_rows (tbl, key, value) SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::JSONB[])
                 ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value",
                &[&put_tables, &put_keys, &put_values],
            )
            .await
            .map_err(backend)?;
        }
        if !delete_keys.is_empty() {
            tx.execute(
                "DELETE FROM rm_rows r USING UNNEST($1::TEXT[], $2::TEXT[]) AS d(tbl, key)
                 WHERE r.tbl = d.tbl AND r.key = d.key",
                &[&delete_tables, &delete_keys],
            )
            .await
            .map_err(backend)?;
        }
        let to = i64::try_from(to).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO rm_checkpoints (projector, position) VALUES ($1, $2)
             ON CONFLICT (projector) DO UPDATE SET position = excluded.position",
            &[&projector, &to],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    /// A session-level advisory lock on a connection of its own: it is
    /// released when the guard is dropped or the process dies.
    async fn try_claim(&self, projector: &str) -> Result<Option<Claim>, ProjectionError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(backend)?;
        let driver = tokio::spawn(connection);
        let row = client
            .query_one("SELECT pg_try_advisory_lock(hashtext('groupware projector ' || $1))", &[&projector])
            .await
            .map_err(backend)?;
        if row.get::<_, bool>(0) {
            Ok(Some(Box::new(ClaimConnection { _client: client, driver })))
        } else {
            driver.abort();
            Ok(None)
        }
    }

    async fn checkpoint(&self, projector: &str) -> Result<u64, ProjectionError> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT position FROM rm_checkpoints WHERE projector = $1", &[&projector])
            .await
            .map_err(backend)?;
        Ok(row.map_or(0, |r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
    }
}
