//! The blob store: files kept outside the event log (mail attachments,
//! backup archives, photos), content-addressed by SHA-256 per tenant.
//!
//! [`Blobs`] is the port: a blob is written from an async reader and read
//! back as one, so neither side holds a whole file in memory or blocks a
//! thread of the runtime. [`FileBlobs`] is the adapter that keeps them in a
//! folder. Events carry only the digest.

mod file;

use std::io;
use std::pin::Pin;

use async_trait::async_trait;
use tokio::io::AsyncRead;
use uuid::Uuid;

pub use file::FileBlobs;

/// The space a tenant's exports (backups, archives) are kept in, apart
/// from its own where its people's uploads are: a mail names an attachment
/// by its digest, and can name only what is in the tenant's own space.
pub fn exports_of(tenant: Uuid) -> Uuid {
    Uuid::new_v5(&tenant, b"exports")
}

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

/// The bytes of a stored blob, read as they are needed.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// A stored blob opened for reading.
pub struct Blob {
    pub size: u64,
    pub reader: BlobReader,
}

/// Content-addressed files, one space per tenant: a tenant never reads
/// another's blob, whatever digest it names.
#[async_trait]
pub trait Blobs: Send + Sync + 'static {
    /// Stores what `reader` yields, at most `limit` bytes, under its digest.
    /// Storing the same bytes again keeps one copy; a reader never sees
    /// half a blob.
    ///
    /// # Errors
    /// [`BlobError::TooLarge`] over the limit and [`BlobError::Io`] when
    /// `reader` or the store fails; either way nothing is kept.
    async fn put(
        &self,
        tenant: Uuid,
        reader: &mut (dyn AsyncRead + Send + Unpin),
        limit: u64,
    ) -> Result<StoredBlob, BlobError>;

    /// The blob under `sha256` to read; `None` when the tenant has none.
    ///
    /// # Errors
    /// [`BlobError::BadDigest`] for a malformed digest; I/O failures.
    async fn open(&self, tenant: Uuid, sha256: &str) -> Result<Option<Blob>, BlobError>;

    /// The size of the blob under `sha256`; `None` when the tenant has none.
    ///
    /// # Errors
    /// [`BlobError::BadDigest`] for a malformed digest; I/O failures.
    async fn size(&self, tenant: Uuid, sha256: &str) -> Result<Option<u64>, BlobError>;

    /// Removes every blob of `tenant` (a terminated company, rule B3).
    ///
    /// # Errors
    /// I/O failures.
    async fn remove_tenant(&self, tenant: Uuid) -> Result<(), BlobError>;
}

/// Refuses anything but 64 lower-case hex digits, so a digest can never
/// name a path outside the tenant's folder.
fn check_digest(sha256: &str) -> Result<(), BlobError> {
    let valid = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if valid { Ok(()) } else { Err(BlobError::BadDigest(sha256.to_owned())) }
}
