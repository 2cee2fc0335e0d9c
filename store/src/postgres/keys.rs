//! The keys that seal payloads, in a table of the event store's database.

use async_trait::async_trait;
use deadpool_postgres::Pool;
use uuid::Uuid;

use super::unavailable;
use crate::StoreError;
use crate::sealing::{KeyRef, KeyStore, key_of, random_key};

/// Keys in `es_keys`, shared by every process of the deployment. Destroying
/// a key rewrites the table (`VACUUM FULL`), so that no dead row version
/// keeps its bytes.
pub struct PostgresKeys {
    pool: Pool,
}

impl PostgresKeys {
    pub(super) fn new(pool: Pool) -> Self {
        Self { pool }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(unavailable)
    }
}

#[async_trait]
impl KeyStore for PostgresKeys {
    async fn key_for_sealing(&self, key: KeyRef) -> Result<Option<[u8; 32]>, StoreError> {
        let fresh = random_key()?;
        let client = self.client().await?;
        client
            .execute(
                // Nothing new is made for a company whose keys were destroyed.
                "INSERT INTO es_keys (subject, tenant, key)
                 SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM es_keys WHERE subject = $2 AND key IS NULL)
                 ON CONFLICT (subject) DO NOTHING",
                &[&key.subject, &key.tenant, &&fresh[..]],
            )
            .await
            .map_err(unavailable)?;
        let row = client
            .query_opt("SELECT key FROM es_keys WHERE subject = $1", &[&key.subject])
            .await
            .map_err(unavailable)?;
        Ok(row.and_then(|row| key_of(row.get(0))))
    }

    async fn key(&self, subject: Uuid) -> Result<Option<[u8; 32]>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT key FROM es_keys WHERE subject = $1", &[&subject])
            .await
            .map_err(unavailable)?;
        Ok(row.and_then(|row| key_of(row.get(0))))
    }

    async fn destroy(&self, key: KeyRef) -> Result<(), StoreError> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "INSERT INTO es_keys (subject, tenant, key) VALUES ($1, $2, NULL)
                 ON CONFLICT (subject) DO UPDATE SET key = NULL WHERE es_keys.key IS NOT NULL",
                &[&key.subject, &key.tenant],
            )
            .await
            .map_err(unavailable)?;
        if changed == 0 {
            return Ok(());
        }
        client.batch_execute("VACUUM FULL es_keys").await.map_err(unavailable)
    }

    async fn destroy_tenant(&self, tenant: Uuid) -> Result<(), StoreError> {
        let client = self.client().await?;
        let company = KeyRef::company(tenant);
        let marked = client
            .execute(
                "INSERT INTO es_keys (subject, tenant, key) VALUES ($1, $2, NULL) ON CONFLICT (subject) DO NOTHING",
                &[&company.subject, &company.tenant],
            )
            .await
            .map_err(unavailable)?;
        let destroyed = client
            .execute("UPDATE es_keys SET key = NULL WHERE tenant = $1 AND key IS NOT NULL", &[&tenant])
            .await
            .map_err(unavailable)?;
        if marked + destroyed == 0 {
            return Ok(());
        }
        client.batch_execute("VACUUM FULL es_keys").await.map_err(unavailable)
    }

    async fn live_keys(&self, tenant: Uuid) -> Result<Vec<(KeyRef, [u8; 32])>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT subject, key FROM es_keys WHERE tenant = $1 AND key IS NOT NULL ORDER BY subject",
                &[&tenant],
            )
            .await
            .map_err(unavailable)?;
        Ok(rows
            .iter()
            .filter_map(|row| key_of(row.get(1)).map(|key| (KeyRef { tenant, subject: row.get(0) }, key)))
            .collect())
    }

    async fn import(&self, keys: Vec<(KeyRef, [u8; 32])>) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        for (key, bytes) in &keys {
            tx.execute(
                "INSERT INTO es_keys (subject, tenant, key) VALUES ($1, $2, $3) ON CONFLICT (subject) DO NOTHING",
                &[&key.subject, &key.tenant, &&bytes[..]],
            )
            .await
            .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)
    }
}
