//! The blob store: files kept outside the event log (mail attachments),
//! content-addressed by SHA-256 under one folder per tenant.
//!
//! A blob is written to a temporary file while it is hashed, synced, then
//! renamed to its digest, so a reader never sees half a blob and storing
//! the same bytes twice keeps one copy. Events carry only the digest.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("`{0}` is not a SHA-256 digest")]
    BadDigest(String),
    #[error("blob store: {0}")]
    Io(#[from] io::Error),
}

/// What was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// Lower-case hex.
    pub sha256: String,
    pub size: u64,
}

/// Content-addressed files under a root folder.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

fn check_digest(sha256: &str) -> Result<(), BlobError> {
    let valid = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if valid { Ok(()) } else { Err(BlobError::BadDigest(sha256.to_owned())) }
}

impl BlobStore {
    /// # Errors
    /// When the root folder cannot be made.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        fs::create_dir_all(root.join("tmp"))?;
        Ok(Self { root })
    }

    fn path(&self, tenant: Uuid, sha256: &str) -> PathBuf {
        self.root.join(tenant.to_string()).join(&sha256[..2]).join(sha256)
    }

    /// Stores what `reader` yields, at most `limit` bytes.
    ///
    /// # Errors
    /// [`BlobError::TooLarge`] over the limit (nothing is kept); I/O failures.
    pub fn put(&self, tenant: Uuid, reader: &mut impl Read, limit: u64) -> Result<StoredBlob, BlobError> {
        let temp = self.root.join("tmp").join(Uuid::now_v7().to_string());
        let result = self.write(tenant, reader, limit, &temp);
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    fn write(&self, tenant: Uuid, reader: &mut impl Read, limit: u64, temp: &Path) -> Result<StoredBlob, BlobError> {
        let mut file = File::create(temp)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = reader.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            if size > limit {
                return Err(BlobError::TooLarge { limit });
            }
            hasher.update(&buffer[..n]);
            file.write_all(&buffer[..n])?;
        }
        file.sync_all()?;
        let sha256: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let path = self.path(tenant, &sha256);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::rename(temp, &path)?;
        Ok(StoredBlob { sha256, size })
    }

    /// The size of a stored blob; `None` when the tenant has no such blob.
    ///
    /// # Errors
    /// A malformed digest; I/O failures.
    pub fn size(&self, tenant: Uuid, sha256: &str) -> Result<Option<u64>, BlobError> {
        check_digest(sha256)?;
        match fs::metadata(self.path(tenant, sha256)) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The bytes of a stored blob; `None` when the tenant has no such blob.
    ///
    /// # Errors
    /// A malformed digest; I/O failures.
    pub fn read(&self, tenant: Uuid, sha256: &str) -> Result<Option<Vec<u8>>, BlobError> {
        check_digest(sha256)?;
        match fs::read(self.path(tenant, sha256)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: Uuid = Uuid::from_u128(1);

    #[test]
    fn it_keeps_bytes_under_their_digest_per_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let stored = store.put(TENANT, &mut &b"hello"[..], 10).unwrap();
        assert_eq!(stored.sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(stored.size, 5);
        assert_eq!(store.read(TENANT, &stored.sha256).unwrap().unwrap(), b"hello");
        assert_eq!(store.size(TENANT, &stored.sha256).unwrap(), Some(5));
        // Another tenant does not see it.
        assert_eq!(store.read(Uuid::from_u128(2), &stored.sha256).unwrap(), None);
        // The same bytes again are one blob.
        assert_eq!(store.put(TENANT, &mut &b"hello"[..], 10).unwrap(), stored);
    }

    #[test]
    fn it_refuses_blobs_over_the_limit_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        assert!(store.put(TENANT, &mut &b"12345"[..], 5).is_ok());
        assert!(matches!(store.put(TENANT, &mut &b"123456"[..], 5), Err(BlobError::TooLarge { limit: 5 })));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn it_refuses_paths_that_are_not_digests() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        assert!(matches!(store.read(TENANT, "../../etc/passwd"), Err(BlobError::BadDigest(_))));
    }
}
