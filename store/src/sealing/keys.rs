//! Where the keys that seal payloads are kept.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::{KeyRef, random_key};
use crate::StoreError;

/// The keys of persons and companies. A destroyed key leaves a mark, so
/// that it is never made again.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// The key of `key.subject`, made at random now if it never existed;
    /// `None` when it was destroyed.
    ///
    /// # Errors
    /// When the backend fails.
    async fn key_for_sealing(&self, key: KeyRef) -> Result<Option<[u8; 32]>, StoreError>;

    /// The key of `subject`; `None` when it never existed or was destroyed.
    ///
    /// # Errors
    /// When the backend fails.
    async fn key(&self, subject: Uuid) -> Result<Option<[u8; 32]>, StoreError>;

    /// Destroys the key of `key.subject` for good (and marks it destroyed
    /// if it never existed).
    ///
    /// # Errors
    /// When the backend fails.
    async fn destroy(&self, key: KeyRef) -> Result<(), StoreError>;

    /// Destroys every key of `tenant` — its people's and its own — for
    /// good (rule B3).
    ///
    /// # Errors
    /// When the backend fails.
    async fn destroy_tenant(&self, tenant: Uuid) -> Result<(), StoreError>;

    /// The live keys of `tenant` (for an archive that must stay readable).
    ///
    /// # Errors
    /// When the backend fails.
    async fn live_keys(&self, tenant: Uuid) -> Result<Vec<(KeyRef, [u8; 32])>, StoreError>;

    /// Keeps `keys` as they are given (an archive's, read back); a subject
    /// already known keeps what it has.
    ///
    /// # Errors
    /// When the backend fails.
    async fn import(&self, keys: Vec<(KeyRef, [u8; 32])>) -> Result<(), StoreError>;
}

/// Keys in a SQLite file beside the embedded store (`keys.db`). A destroyed
/// key's bytes are overwritten in the file (`secure_delete`), and the file
/// keeps no write-ahead log where an old copy could linger.
pub struct SqliteKeys {
    connection: Mutex<Connection>,
}

impl SqliteKeys {
    /// Opens (or creates) the key file at `path`.
    ///
    /// # Errors
    /// When the file cannot be opened or set up.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let connection = Connection::open(&path)?;
        // Readable by the server's user only, as the other key files.
        #[cfg(unix)]
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(|e| StoreError::Unavailable(format!("key file: {e}")))?;
        connection.pragma_update(None, "journal_mode", "DELETE")?;
        connection.pragma_update(None, "secure_delete", "ON")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS keys (
                subject BLOB PRIMARY KEY,
                tenant BLOB NOT NULL,
                key BLOB
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS keys_tenant ON keys (tenant);",
        )?;
        Ok(Self { connection: Mutex::new(connection) })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        Ok(f(&self.connection.lock().unwrap_or_else(PoisonError::into_inner))?)
    }
}

/// A stored key's bytes, when they are one.
pub(crate) fn key_of(bytes: Option<Vec<u8>>) -> Option<[u8; 32]> {
    bytes.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
}

#[async_trait]
impl KeyStore for SqliteKeys {
    async fn key_for_sealing(&self, key: KeyRef) -> Result<Option<[u8; 32]>, StoreError> {
        let fresh = random_key()?;
        self.with(|c| {
            // Nothing new is made for a company whose keys were destroyed.
            c.execute(
                "INSERT OR IGNORE INTO keys (subject, tenant, key)
                 SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM keys WHERE subject = ?2 AND key IS NULL)",
                params![key.subject.as_bytes(), key.tenant.as_bytes(), &fresh[..]],
            )?;
            c.query_row("SELECT key FROM keys WHERE subject = ?1", [key.subject.as_bytes()], |r| r.get(0))
                .optional()
                .map(|key| key_of(key.flatten()))
        })
    }

    async fn key(&self, subject: Uuid) -> Result<Option<[u8; 32]>, StoreError> {
        self.with(|c| {
            c.query_row("SELECT key FROM keys WHERE subject = ?1", [subject.as_bytes()], |r| r.get(0))
                .optional()
                .map(|key| key_of(key.flatten()))
        })
    }

    async fn destroy(&self, key: KeyRef) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO keys (subject, tenant, key) VALUES (?1, ?2, NULL)
                 ON CONFLICT (subject) DO UPDATE SET key = NULL",
                params![key.subject.as_bytes(), key.tenant.as_bytes()],
            )
            .map(drop)
        })
    }

    async fn destroy_tenant(&self, tenant: Uuid) -> Result<(), StoreError> {
        self.destroy(KeyRef::company(tenant)).await?;
        self.with(|c| c.execute("UPDATE keys SET key = NULL WHERE tenant = ?1", [tenant.as_bytes()]).map(drop))
    }

    async fn live_keys(&self, tenant: Uuid) -> Result<Vec<(KeyRef, [u8; 32])>, StoreError> {
        self.with(|c| {
            let mut statement =
                c.prepare("SELECT subject, key FROM keys WHERE tenant = ?1 AND key IS NOT NULL ORDER BY subject")?;
            let rows = statement
                .query_map([tenant.as_bytes()], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<Vec<u8>>>(1)?)))?;
            let mut keys = Vec::new();
            for row in rows {
                let (subject, key) = row?;
                if let (Ok(subject), Some(key)) = (Uuid::from_slice(&subject), key_of(key)) {
                    keys.push((KeyRef { tenant, subject }, key));
                }
            }
            Ok(keys)
        })
    }

    async fn import(&self, keys: Vec<(KeyRef, [u8; 32])>) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            for (key, bytes) in &keys {
                tx.execute(
                    "INSERT OR IGNORE INTO keys (subject, tenant, key) VALUES (?1, ?2, ?3)",
                    params![key.subject.as_bytes(), key.tenant.as_bytes(), &bytes[..]],
                )?;
            }
            tx.commit()
        })
    }
}
