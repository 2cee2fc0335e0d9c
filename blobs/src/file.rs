//! The blob store in a folder: `<root>/<tenant>/<aa>/<sha256>`.
//!
//! A blob is written to a temporary file under `<root>/tmp` while it is
//! hashed, synced, then renamed to its digest: the rename is atomic, so a
//! reader sees the whole blob or none, and two writers of the same bytes
//! leave one file. A write that fails or is dropped removes its temporary
//! file.

use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio::fs::{self, File};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::{Blob, BlobError, Blobs, StoredBlob, check_digest};

/// How much is read from the source and written to the file at a time.
const CHUNK: usize = 64 * 1024;

/// Content-addressed files under a root folder.
#[derive(Debug, Clone)]
pub struct FileBlobs {
    root: PathBuf,
}

impl FileBlobs {
    /// The store under `root`, made if missing.
    ///
    /// # Errors
    /// When the folder cannot be made.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        fs::create_dir_all(root.join("tmp")).await?;
        Ok(Self { root })
    }

    fn path(&self, tenant: Uuid, sha256: &str) -> PathBuf {
        self.root.join(tenant.to_string()).join(&sha256[..2]).join(sha256)
    }

    /// Copies `reader` into `temp` while hashing it, syncs the file and
    /// renames it to its digest.
    async fn write(
        &self,
        tenant: Uuid,
        reader: &mut (dyn AsyncRead + Send + Unpin),
        limit: u64,
        temp: &Path,
    ) -> Result<StoredBlob, BlobError> {
        let mut file = File::create(temp).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buffer = vec![0u8; CHUNK];
        loop {
            let n = reader.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            size += n as u64;
            if size > limit {
                return Err(BlobError::TooLarge { limit });
            }
            hasher.update(&buffer[..n]);
            file.write_all(&buffer[..n]).await?;
        }
        file.sync_all().await?;
        drop(file);
        let sha256: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let path = self.path(tenant, &sha256);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).await?;
        }
        fs::rename(temp, &path).await?;
        Ok(StoredBlob { sha256, size })
    }
}

/// A temporary file that is removed unless it was renamed into place.
struct Temp(Option<PathBuf>);

impl Temp {
    async fn remove(mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path).await;
        }
    }

    fn renamed(mut self) {
        self.0 = None;
    }
}

impl Drop for Temp {
    /// A put dropped half-way (its caller went away) leaves no file behind.
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn(fs::remove_file(path))),
                Err(_) => drop(std::fs::remove_file(path)),
            }
        }
    }
}

#[async_trait]
impl Blobs for FileBlobs {
    async fn put(
        &self,
        tenant: Uuid,
        reader: &mut (dyn AsyncRead + Send + Unpin),
        limit: u64,
    ) -> Result<StoredBlob, BlobError> {
        let path = self.root.join("tmp").join(Uuid::now_v7().to_string());
        let temp = Temp(Some(path.clone()));
        match self.write(tenant, reader, limit, &path).await {
            Ok(stored) => {
                temp.renamed();
                Ok(stored)
            }
            Err(e) => {
                temp.remove().await;
                Err(e)
            }
        }
    }

    async fn open(&self, tenant: Uuid, sha256: &str) -> Result<Option<Blob>, BlobError> {
        check_digest(sha256)?;
        let file = match File::open(self.path(tenant, sha256)).await {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata().await?.len();
        Ok(Some(Blob { size, reader: Box::pin(file) }))
    }

    async fn remove_tenant(&self, tenant: Uuid) -> Result<(), BlobError> {
        match fs::remove_dir_all(self.root.join(tenant.to_string())).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn size(&self, tenant: Uuid, sha256: &str) -> Result<Option<u64>, BlobError> {
        check_digest(sha256)?;
        match fs::metadata(self.path(tenant, sha256)).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use tokio::io::ReadBuf;

    use super::*;

    const TENANT: Uuid = Uuid::from_u128(1);

    async fn store() -> (tempfile::TempDir, FileBlobs) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileBlobs::open(dir.path()).await.unwrap();
        (dir, store)
    }

    async fn read(store: &FileBlobs, tenant: Uuid, sha256: &str) -> Option<Vec<u8>> {
        let blob = store.open(tenant, sha256).await.unwrap()?;
        let mut bytes = Vec::new();
        let mut reader = blob.reader;
        reader.read_to_end(&mut bytes).await.unwrap();
        assert_eq!(bytes.len() as u64, blob.size);
        Some(bytes)
    }

    /// Every file under `dir`, however deep.
    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { found.extend(files(&path)) } else { found.push(path) }
        }
        found
    }

    /// Yields some bytes, then fails.
    struct Broken(usize);

    impl AsyncRead for Broken {
        fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            if self.0 == 0 {
                return Poll::Ready(Err(io::Error::other("the connection broke")));
            }
            let n = self.0.min(buf.remaining());
            buf.put_slice(&vec![b'x'; n]);
            self.0 -= n;
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn it_keeps_bytes_under_their_digest_per_tenant() {
        let (_dir, store) = store().await;
        let stored = store.put(TENANT, &mut &b"hello"[..], 10).await.unwrap();
        assert_eq!(stored.sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(stored.size, 5);
        assert_eq!(read(&store, TENANT, &stored.sha256).await.unwrap(), b"hello");
        assert_eq!(store.size(TENANT, &stored.sha256).await.unwrap(), Some(5));
        // Another tenant does not see it.
        assert!(store.open(Uuid::from_u128(2), &stored.sha256).await.unwrap().is_none());
        assert_eq!(store.size(Uuid::from_u128(2), &stored.sha256).await.unwrap(), None);
    }

    // rule B3
    #[tokio::test]
    async fn a_terminated_companys_blobs_are_removed_and_no_others() {
        let (_dir, store) = store().await;
        let other = Uuid::from_u128(2);
        let kept = store.put(other, &mut &b"theirs"[..], 10).await.unwrap();
        let gone = store.put(TENANT, &mut &b"ours"[..], 10).await.unwrap();
        store.remove_tenant(TENANT).await.unwrap();
        assert!(store.open(TENANT, &gone.sha256).await.unwrap().is_none());
        assert_eq!(read(&store, other, &kept.sha256).await.unwrap(), b"theirs");
        // Again, with nothing left: done.
        store.remove_tenant(TENANT).await.unwrap();
    }

    #[tokio::test]
    async fn the_same_bytes_twice_keep_one_copy() {
        let (dir, store) = store().await;
        let first = store.put(TENANT, &mut &b"hello"[..], 10).await.unwrap();
        assert_eq!(store.put(TENANT, &mut &b"hello"[..], 10).await.unwrap(), first);
        assert_eq!(files(&dir.path().join(TENANT.to_string())).len(), 1);
        assert!(files(&dir.path().join("tmp")).is_empty());
    }

    #[tokio::test]
    async fn a_blob_larger_than_a_chunk_reads_back_whole() {
        let (_dir, store) = store().await;
        let bytes: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let stored = store.put(TENANT, &mut bytes.as_slice(), bytes.len() as u64).await.unwrap();
        assert_eq!(stored.size, bytes.len() as u64);
        assert_eq!(read(&store, TENANT, &stored.sha256).await.unwrap(), bytes);
    }

    #[tokio::test]
    async fn it_refuses_blobs_over_the_limit_and_keeps_nothing() {
        let (dir, store) = store().await;
        let too_large = store.put(TENANT, &mut &b"123456"[..], 5).await;
        assert!(matches!(too_large, Err(BlobError::TooLarge { limit: 5 })), "{too_large:?}");
        assert!(files(dir.path()).is_empty());
        assert!(store.put(TENANT, &mut &b"12345"[..], 5).await.is_ok());
    }

    #[tokio::test]
    async fn a_reader_that_fails_leaves_nothing() {
        let (dir, store) = store().await;
        let broken = store.put(TENANT, &mut Broken(3 * CHUNK), u64::MAX).await;
        assert!(matches!(broken, Err(BlobError::Io(_))), "{broken:?}");
        assert!(files(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn it_refuses_names_that_are_not_digests() {
        let (_dir, store) = store().await;
        let upper = "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824";
        for name in ["../../etc/passwd", upper, "2cf24dba", ""] {
            assert!(matches!(store.open(TENANT, name).await, Err(BlobError::BadDigest(_))), "{name}");
            assert!(matches!(store.size(TENANT, name).await, Err(BlobError::BadDigest(_))), "{name}");
        }
    }

    #[tokio::test]
    async fn concurrent_puts_of_the_same_bytes_keep_one_whole_copy() {
        let (dir, store) = store().await;
        let store = Arc::new(store);
        let bytes: Vec<u8> = (0..2 * CHUNK).map(|i| (i % 13) as u8).collect();
        let puts: Vec<_> = (0..8)
            .map(|_| {
                let (store, bytes) = (store.clone(), bytes.clone());
                tokio::spawn(async move { store.put(TENANT, &mut bytes.as_slice(), u64::MAX).await.unwrap() })
            })
            .collect();
        let mut stored = Vec::new();
        for put in puts {
            stored.push(put.await.unwrap());
        }
        assert!(stored.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(files(&dir.path().join(TENANT.to_string())).len(), 1);
        assert!(files(&dir.path().join("tmp")).is_empty());
        assert_eq!(read(&store, TENANT, &stored[0].sha256).await.unwrap(), bytes);
    }
}
