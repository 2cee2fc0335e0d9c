//! Sealing of personal payloads with keys that can be destroyed
//! (crypto-shredding).
//!
//! An event (or a snapshot) that names a key in [`KeyRef`] is stored
//! encrypted with it: XChaCha20-Poly1305, a fresh random nonce, the event's
//! id (a snapshot's stream and version) as associated data, so that sealed
//! bytes cannot be moved to another event. The stored bytes are
//! `MAGIC ‖ key subject (16) ‖ nonce (24) ‖ ciphertext`; the hash chain is
//! computed over them, so destroying a key later leaves the chain whole.
//!
//! Keys live in a [`KeyStore`]: one per person (their mail) and one per
//! company (everything else of the company that is personal). Destroying a
//! key makes everything it sealed unreadable for good: readers get
//! [`SHREDDED`] in place of the payload, and a key once destroyed is never
//! made again — what is sealed for it later is sealed with a key nobody
//! keeps.

mod keys;
mod store;

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "postgres")]
pub(crate) use keys::key_of;
pub use keys::{KeyStore, SqliteKeys};
pub use store::Sealed;

use crate::StoreError;

/// What sealed bytes start with (JSON never starts with NUL).
pub const MAGIC: &[u8] = b"\0sealed1";
/// What a reader gets in place of a payload whose key was destroyed.
pub const SHREDDED: &[u8] = b"\0shredded";

const NONCE: usize = 24;
const HEADER: usize = MAGIC.len() + 16 + NONCE;

/// How long a process trusts a key it has read before asking the key store
/// again, so that a key destroyed by another process stops opening
/// payloads here within this time.
const KEPT_FOR: Duration = Duration::from_secs(30);

/// The key that seals a payload: a person's (`subject` is their id) or the
/// company's (`subject` is the company's id), in `tenant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyRef {
    pub tenant: Uuid,
    pub subject: Uuid,
}

impl KeyRef {
    /// The company's own key.
    pub fn company(tenant: Uuid) -> Self {
        Self { tenant, subject: tenant }
    }

    /// The company's key for the mail its people share.
    pub fn company_mail(tenant: Uuid) -> Self {
        Self { tenant, subject: Uuid::new_v5(&tenant, b"mail") }
    }
}

/// A payload as a reader finds it.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    /// It was not sealed.
    Clear,
    /// Its plain bytes.
    Plain(Vec<u8>),
    /// Its key was destroyed.
    Shredded,
}

/// The subject whose key sealed `bytes`, if they are sealed.
pub fn sealed_by(bytes: &[u8]) -> Option<Uuid> {
    let subject = bytes.strip_prefix(MAGIC)?.get(..16)?;
    Uuid::from_slice(subject).ok()
}

/// Seals and opens payloads with the keys of a [`KeyStore`], keeping the
/// keys it has used for a while.
pub struct Sealer {
    keys: Arc<dyn KeyStore>,
    /// The keys read, each for [`KEPT_FOR`]; the least used make room.
    kept: quick_cache::sync::Cache<Uuid, (Option<XChaCha20Poly1305>, Instant)>,
    /// The keys known destroyed: a destruction is for good, so a key read
    /// just before it cannot come back.
    destroyed: RwLock<HashSet<Uuid>>,
}

/// How many keys a process keeps at most.
const KEPT_KEYS: usize = 100_000;

impl Sealer {
    pub fn new(keys: Arc<dyn KeyStore>) -> Self {
        Self { keys, kept: quick_cache::sync::Cache::new(KEPT_KEYS), destroyed: RwLock::default() }
    }

    fn is_destroyed(&self, subject: Uuid) -> bool {
        self.destroyed.read().unwrap_or_else(PoisonError::into_inner).contains(&subject)
    }

    /// The key store.
    pub fn keys(&self) -> &Arc<dyn KeyStore> {
        &self.keys
    }

    fn kept(&self, subject: Uuid) -> Option<Option<XChaCha20Poly1305>> {
        if self.is_destroyed(subject) {
            return Some(None);
        }
        self.kept.get(&subject).filter(|(_, at)| at.elapsed() < KEPT_FOR).map(|(cipher, _)| cipher)
    }

    fn keep(&self, subject: Uuid, key: Option<[u8; 32]>) -> Option<XChaCha20Poly1305> {
        let cipher = key.map(|key| XChaCha20Poly1305::new(&key.into()));
        self.kept.insert(subject, (cipher.clone(), Instant::now()));
        // Destroyed meanwhile: what was just read goes again.
        if self.is_destroyed(subject) {
            self.kept.remove(&subject);
            return None;
        }
        cipher
    }

    /// The key of `subject` as kept, or as `read` finds it in the key store
    /// (then kept); `None` when destroyed. `read` is called only on a miss.
    async fn cipher<F>(&self, subject: Uuid, read: impl FnOnce() -> F) -> Result<Option<XChaCha20Poly1305>, StoreError>
    where
        F: std::future::Future<Output = Result<Option<[u8; 32]>, StoreError>>,
    {
        match self.kept(subject) {
            Some(kept) => Ok(kept),
            None => Ok(self.keep(subject, read().await?)),
        }
    }

    /// `plain` sealed with `key` (made now if it never existed), bound to
    /// `context`. A destroyed key seals with a random key nobody keeps, so
    /// what is written for a deleted person is unreadable from the start.
    ///
    /// # Errors
    /// When the key store fails.
    pub async fn seal(&self, key: KeyRef, context: &[u8], plain: &[u8]) -> Result<Vec<u8>, StoreError> {
        let cipher = match self.cipher(key.subject, || self.keys.key_for_sealing(key)).await? {
            Some(cipher) => cipher,
            None => throwaway()?,
        };
        let nonce = XNonce::try_generate().map_err(|e| StoreError::Unavailable(format!("no randomness: {e}")))?;
        let sealed = cipher
            .encrypt(&nonce, Payload { msg: plain, aad: context })
            .map_err(|e| StoreError::InvalidInput(format!("sealing failed: {e}")))?;
        let mut bytes = Vec::with_capacity(HEADER + sealed.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(key.subject.as_bytes());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(bytes)
    }

    /// `bytes` opened: as they are when not sealed, their plain bytes when
    /// their key lives, [`Opened::Shredded`] when it was destroyed (or the
    /// bytes were not sealed for `context`).
    ///
    /// # Errors
    /// When the key store fails.
    pub async fn open(&self, context: &[u8], bytes: &[u8]) -> Result<Opened, StoreError> {
        let Some(subject) = sealed_by(bytes) else { return Ok(Opened::Clear) };
        let Some(cipher) = self.cipher(subject, || self.keys.key(subject)).await? else {
            return Ok(Opened::Shredded);
        };
        let (Some(nonce), Some(sealed)) = (bytes.get(MAGIC.len() + 16..HEADER), bytes.get(HEADER..)) else {
            return Ok(Opened::Shredded);
        };
        let Ok(nonce) = XNonce::try_from(nonce) else { return Ok(Opened::Shredded) };
        Ok(cipher.decrypt(&nonce, Payload { msg: sealed, aad: context }).map_or(Opened::Shredded, Opened::Plain))
    }

    /// Destroys the key of `key.subject`, here and in the key store, for
    /// good.
    ///
    /// # Errors
    /// When the key store fails.
    pub async fn destroy(&self, key: KeyRef) -> Result<(), StoreError> {
        self.keys.destroy(key).await?;
        self.destroyed.write().unwrap_or_else(PoisonError::into_inner).insert(key.subject);
        self.kept.remove(&key.subject);
        Ok(())
    }

    /// Destroys every key of `tenant` (rule B3), here and in the key
    /// store, for good.
    ///
    /// # Errors
    /// When the key store fails.
    pub async fn destroy_tenant(&self, tenant: Uuid) -> Result<(), StoreError> {
        self.keys.destroy_tenant(tenant).await?;
        self.destroyed.write().unwrap_or_else(PoisonError::into_inner).insert(tenant);
        // Which kept keys were the company's is not known here: all are
        // read again.
        self.kept.clear();
        Ok(())
    }
}

/// A key made for one use and forgotten.
fn throwaway() -> Result<XChaCha20Poly1305, StoreError> {
    Ok(XChaCha20Poly1305::new(&random_key()?.into()))
}

/// A fresh random key.
pub(crate) fn random_key() -> Result<[u8; 32], StoreError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| StoreError::Unavailable(format!("no randomness: {e}")))?;
    Ok(key)
}

#[cfg(test)]
mod tests;
