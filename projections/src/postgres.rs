//! Read models in PostgreSQL: rows keyed by (table, generation, key), and
//! each projector's checkpoint committed in the same transaction as its rows.
//!
//! Generations make rebuilds run without downtime: [`PostgresReadModels::
//! rebuild_beside`] builds a projector's tables anew in a fresh generation
//! while the serving generation keeps answering queries and its runner keeps
//! it current; once the new generation has caught up it takes over in one
//! transaction, and the old rows are dropped.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use serde_json::Value;
use store::{Direction, EventStore};
use tokio_postgres::NoTls;

use crate::model::{check_key, past};
use crate::{Change, Claim, ProjectionError, Projector, ReadModelStore, Row};

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

fn backend(e: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Store(e.to_string())
}

/// A database error: a refusal of the data (SQLSTATE classes 22 data
/// exception, 23 integrity constraint, 54 program limit such as an oversized
/// index row) cannot heal by trying again; anything else may.
fn db(e: tokio_postgres::Error) -> ProjectionError {
    match e.as_db_error() {
        Some(refused) if ["22", "23", "54"].iter().any(|class| refused.code().code().starts_with(class)) => {
            ProjectionError::InvalidInput(refused.to_string())
        }
        _ => backend(e),
    }
}

/// The generation a query reads: the one given, else the table's serving one.
const GENERATION: &str = "COALESCE($2::BIGINT, (SELECT generation FROM rm_tables WHERE tbl = $1), 0)";

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
        let (pool, config) =
            store::postgres::pool::open(url, embedded::migrations::runner(), "rm_migrations").await.map_err(backend)?;
        Ok(Self { pool, config })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, ProjectionError> {
        self.pool.get().await.map_err(backend)
    }

    async fn get_in(&self, generation: Option<i64>, table: &str, key: &str) -> Result<Option<Value>, ProjectionError> {
        check_key(key)?;
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT value FROM rm_rows WHERE tbl = $1 AND generation = {GENERATION} AND key = $3"),
                &[&table, &generation, &key],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Rows under `prefix` past `from` (exclusive) in `direction`'s key order.
    async fn scan_in(
        &self,
        generation: Option<i64>,
        table: &str,
        prefix: &str,
        (direction, from): (Direction, Option<&str>),
        limit: usize,
    ) -> Result<Vec<Row>, ProjectionError> {
        check_key(prefix)?;
        from.map(check_key).transpose()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (bound, order) = match direction {
            Direction::Forwards => ("key > $5", "ASC"),
            Direction::Backwards => ("key < $5", "DESC"),
        };
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT key, value FROM rm_rows
                     WHERE tbl = $1 AND generation = {GENERATION} AND key >= $3 AND key < $4
                       AND ($5::TEXT IS NULL OR {bound})
                     ORDER BY key {order} LIMIT $6"
                ),
                &[&table, &generation, &prefix, &past(prefix), &from, &limit],
            )
            .await
            .map_err(backend)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn count_in(&self, generation: Option<i64>, table: &str, prefix: &str) -> Result<usize, ProjectionError> {
        check_key(prefix)?;
        let row = self
            .client()
            .await?
            .query_one(
                &format!(
                    "SELECT COUNT(*) FROM rm_rows WHERE tbl = $1 AND generation = {GENERATION} AND key >= $3 AND key < $4"
                ),
                &[&table, &generation, &prefix, &past(prefix)],
            )
            .await
            .map_err(backend)?;
        Ok(usize::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// Commits a batch into `generation`, or, when `None`, into the
    /// generation the projector's runner writes (locked for the transaction,
    /// so that a take-over waits for it or it for the take-over).
    async fn commit_in(
        &self,
        generation: Option<i64>,
        projector: &str,
        changes: Vec<Change>,
        from: u64,
        to: u64,
    ) -> Result<(), ProjectionError> {
        changes.iter().try_for_each(|c| check_key(c.key()))?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let generation = match generation {
            Some(g) => g,
            None => live_generation(&tx, projector).await?,
        };
        let current = tx
            .query_opt(
                "SELECT position FROM rm_checkpoints WHERE projector = $1 AND generation = $2 FOR UPDATE",
                &[&projector, &generation],
            )
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
                "INSERT INTO rm_rows (tbl, generation, key, value)
                 SELECT t, $2, k, v FROM UNNEST($1::TEXT[], $3::TEXT[], $4::JSON[]) AS u(t, k, v)
                 ON CONFLICT (tbl, generation, key) DO UPDATE SET value = excluded.value",
                &[&put_tables, &generation, &put_keys, &put_values],
            )
            .await
            .map_err(db)?;
        }
        if !delete_keys.is_empty() {
            tx.execute(
                "DELETE FROM rm_rows r USING UNNEST($1::TEXT[], $3::TEXT[]) AS d(tbl, key)
                 WHERE r.tbl = d.tbl AND r.generation = $2 AND r.key = d.key",
                &[&delete_tables, &generation, &delete_keys],
            )
            .await
            .map_err(db)?;
        }
        let to = i64::try_from(to).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO rm_checkpoints (projector, generation, position) VALUES ($1, $2, $3)
             ON CONFLICT (projector, generation) DO UPDATE SET position = excluded.position",
            &[&projector, &generation, &to],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn checkpoint_in(&self, generation: Option<i64>, projector: &str) -> Result<u64, ProjectionError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT position FROM rm_checkpoints WHERE projector = $1
                   AND generation = COALESCE($2::BIGINT, (SELECT generation FROM rm_projectors WHERE projector = $1), 0)",
                &[&projector, &generation],
            )
            .await
            .map_err(backend)?;
        Ok(row.map_or(0, |r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
    }

    /// Rebuilds `projector` from position 0 without downtime: a new
    /// generation is built beside the serving one (which keeps answering and
    /// keeps being updated by its runner); when the new one has caught up with
    /// the log, it takes over in one transaction and the old rows are
    /// dropped. Returns how many events the rebuild read.
    ///
    /// # Errors
    /// When a store fails or an event cannot be projected; the serving
    /// generation is then untouched.
    pub async fn rebuild_beside(
        self: &Arc<Self>,
        events: &dyn EventStore,
        projector: &Arc<dyn Projector>,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<u64, ProjectionError> {
        let name = projector.name();
        let next: i64 =
            self.client().await?.query_one("SELECT nextval('rm_generations')", &[]).await.map_err(backend)?.get(0);
        let building = Generation { store: self.clone(), generation: next };
        let projectors = [projector.clone()];
        // Catch up while the serving generation serves.
        let mut read = crate::rebuild_with(events, &building, &projectors, progress).await?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // From here the runner's commits wait: the last events are applied
        // to the new generation, then it takes over.
        let old = live_generation(&tx, name).await?;
        // The serving generation may be ahead of what this process has heard
        // of the log: the new one catches up at least to it.
        let serving = self.checkpoint_in(Some(old), name).await?;
        let mut head = events.head();
        if tokio::time::timeout(Duration::from_secs(30), head.wait_for(|h| *h >= serving)).await.is_err() {
            return Err(ProjectionError::Store(format!("the log's head never reached {serving}; nothing switched")));
        }
        read += crate::rebuild_with(events, &building, &projectors, progress).await?;
        let built = building.checkpoint(name).await?;
        if built < serving {
            return Err(ProjectionError::Store(format!("rebuilt to {built}, short of {serving}; nothing switched")));
        }
        tx.execute(
            "INSERT INTO rm_projectors (projector, generation) VALUES ($1, $2)
             ON CONFLICT (projector) DO UPDATE SET generation = excluded.generation",
            &[&name, &next],
        )
        .await
        .map_err(backend)?;
        let tables: Vec<&str> = projector.tables().to_vec();
        tx.execute(
            "INSERT INTO rm_tables (tbl, generation) SELECT t, $2 FROM UNNEST($1::TEXT[]) AS u(t)
             ON CONFLICT (tbl) DO UPDATE SET generation = excluded.generation",
            &[&tables, &next],
        )
        .await
        .map_err(backend)?;
        tx.execute("DELETE FROM rm_rows WHERE tbl = ANY($1) AND generation = $2", &[&tables, &old])
            .await
            .map_err(backend)?;
        tx.execute("DELETE FROM rm_checkpoints WHERE projector = $1 AND generation = $2", &[&name, &old])
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(read)
    }
}

/// The generation `projector`'s runner writes, locked until the end of `tx`.
async fn live_generation(tx: &deadpool_postgres::Transaction<'_>, projector: &str) -> Result<i64, ProjectionError> {
    tx.execute(
        "INSERT INTO rm_projectors (projector, generation) VALUES ($1, 0) ON CONFLICT DO NOTHING",
        &[&projector],
    )
    .await
    .map_err(backend)?;
    let row = tx
        .query_one("SELECT generation FROM rm_projectors WHERE projector = $1 FOR UPDATE", &[&projector])
        .await
        .map_err(backend)?;
    Ok(row.get(0))
}

#[async_trait]
impl ReadModelStore for PostgresReadModels {
    async fn get(&self, table: &str, key: &str) -> Result<Option<Value>, ProjectionError> {
        self.get_in(None, table, key).await
    }

    async fn scan(
        &self,
        table: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Row>, ProjectionError> {
        self.scan_in(None, table, prefix, (Direction::Forwards, after.filter(|a| *a >= prefix)), limit).await
    }

    async fn scan_back(
        &self,
        table: &str,
        prefix: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Row>, ProjectionError> {
        self.scan_in(None, table, prefix, (Direction::Backwards, before), limit).await
    }

    async fn count(&self, table: &str, prefix: &str) -> Result<usize, ProjectionError> {
        self.count_in(None, table, prefix).await
    }

    async fn commit(&self, projector: &str, changes: Vec<Change>, from: u64, to: u64) -> Result<(), ProjectionError> {
        self.commit_in(None, projector, changes, from, to).await
    }

    /// Several processes share these read models, and one of another
    /// version may still be serving them: rows another version wrote are
    /// not deleted here. A projector that has applied nothing finds its
    /// tables empty (a new database) or refuses to start, naming the
    /// rebuild that builds them beside the serving ones.
    async fn empty_unstarted(&self, projector: &str, tables: &[&str]) -> Result<bool, ProjectionError> {
        if self.checkpoint_in(None, projector).await? > 0 {
            return Ok(false);
        }
        for table in tables {
            if !self.scan_in(None, table, "", (Direction::Forwards, None), 1).await?.is_empty() {
                return Err(ProjectionError::Store(format!(
                    "the read model `{table}` was written by another version of `{projector}`: build it with \
                     `groupware rebuild --read-models <this database>` (the serving one keeps answering meanwhile), \
                     then start this version"
                )));
            }
        }
        Ok(false)
    }

    /// A session-level advisory lock on a connection of its own: it is
    /// released when the guard is dropped or the process dies. Advisory
    /// locks belong to the whole server, so the key names the database too:
    /// deployments on other databases of one server claim their own.
    async fn try_claim(&self, projector: &str) -> Result<Option<Claim>, ProjectionError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(backend)?;
        let driver = tokio::spawn(connection);
        let row = client
            .query_one(
                "SELECT pg_try_advisory_lock(hashtextextended(current_database() || '/groupware projector ' || $1, 0))",
                &[&projector],
            )
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
        self.checkpoint_in(None, projector).await
    }
}

/// One generation being built: reads and writes go to it alone.
struct Generation {
    store: Arc<PostgresReadModels>,
    generation: i64,
}

#[async_trait]
impl ReadModelStore for Generation {
    async fn get(&self, table: &str, key: &str) -> Result<Option<Value>, ProjectionError> {
        self.store.get_in(Some(self.generation), table, key).await
    }

    async fn scan(
        &self,
        table: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Row>, ProjectionError> {
        let from = after.filter(|a| *a >= prefix);
        self.store.scan_in(Some(self.generation), table, prefix, (Direction::Forwards, from), limit).await
    }

    async fn scan_back(
        &self,
        table: &str,
        prefix: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Row>, ProjectionError> {
        self.store.scan_in(Some(self.generation), table, prefix, (Direction::Backwards, before), limit).await
    }

    async fn count(&self, table: &str, prefix: &str) -> Result<usize, ProjectionError> {
        self.store.count_in(Some(self.generation), table, prefix).await
    }

    async fn commit(&self, projector: &str, changes: Vec<Change>, from: u64, to: u64) -> Result<(), ProjectionError> {
        self.store.commit_in(Some(self.generation), projector, changes, from, to).await
    }

    /// A generation being built starts empty.
    async fn empty_unstarted(&self, _projector: &str, _tables: &[&str]) -> Result<bool, ProjectionError> {
        Ok(false)
    }

    /// Only the rebuild writes a generation being built.
    async fn try_claim(&self, _projector: &str) -> Result<Option<Claim>, ProjectionError> {
        Ok(Some(Box::new(())))
    }

    async fn checkpoint(&self, projector: &str) -> Result<u64, ProjectionError> {
        self.store.checkpoint_in(Some(self.generation), projector).await
    }
}
