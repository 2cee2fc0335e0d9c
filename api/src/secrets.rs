//! Secrets kept beside the data: random keys in files only the server's
//! user reads, and resident registration numbers sealed with one of them
//! (rule H7: full resident numbers are stored encrypted).

use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Generate, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::errors::{ApiError, ApiResult};

/// The 32-byte key in `path`, created at random the first time. An
/// existing file is never replaced: what it sealed would be lost.
///
/// # Errors
/// When the file cannot be read or written, holds fewer than 32 bytes, or
/// there is no randomness.
pub fn key_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let read = |path: &Path| -> anyhow::Result<Vec<u8>> {
        let key = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        anyhow::ensure!(key.len() >= 32, "{} holds no key (fewer than 32 bytes); restore it", path.display());
        Ok(key)
    };
    if path.exists() {
        return read(path);
    }
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    match write_new(path, &key) {
        Ok(()) => Ok(key),
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(e).with_context(|| format!("writing {}", path.display())),
    }
}

/// The key that signs checkpoints of the hash chain: `checkpoint.key` in
/// the data directory, made at first start (processes serving one log share
/// it, as they share `token.key`).
///
/// # Errors
/// As [`key_file`].
pub fn checkpoint_key(data_dir: &Path) -> anyhow::Result<audit::CheckpointKey> {
    let key = key_file(&data_dir.join("checkpoint.key"))?;
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&key[..32]);
    Ok(audit::CheckpointKey::from_seed(seed))
}

/// The checkpoint key beside the data, when there is one (never made).
///
/// # Errors
/// As [`key_file`].
pub fn existing_checkpoint_key(data_dir: &Path) -> anyhow::Result<Option<audit::CheckpointKey>> {
    match data_dir.join("checkpoint.key").exists() {
        true => checkpoint_key(data_dir).map(Some),
        false => Ok(None),
    }
}

/// Writes a file that must not exist yet, readable by its owner only.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Seals and opens short secrets with XChaCha20-Poly1305: a fresh random
/// nonce each time, stored before the ciphertext, all in base64.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    /// # Errors
    /// When the key file cannot be read or written.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let key = key_file(path)?;
        let cipher = XChaCha20Poly1305::new_from_slice(&key[..32]).map_err(|e| anyhow::anyhow!("sealing key: {e}"))?;
        Ok(Self { cipher })
    }

    /// # Errors
    /// When encryption fails.
    pub fn seal(&self, plain: &str) -> ApiResult<String> {
        let nonce = XNonce::generate();
        let sealed = self.cipher.encrypt(&nonce, plain.as_bytes()).map_err(ApiError::internal)?;
        Ok(STANDARD.encode([nonce.as_slice(), &sealed].concat()))
    }

    /// # Errors
    /// `INTERNAL` for text this key did not seal.
    pub fn unseal(&self, sealed: &str) -> ApiResult<String> {
        let bytes = STANDARD.decode(sealed).map_err(ApiError::internal)?;
        if bytes.len() < 24 {
            return Err(ApiError::internal("a sealed value too short"));
        }
        let (nonce, body) = bytes.split_at(24);
        let nonce = XNonce::try_from(nonce).map_err(ApiError::internal)?;
        let plain = self.cipher.decrypt(&nonce, body).map_err(ApiError::internal)?;
        String::from_utf8(plain).map_err(ApiError::internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_number_opens_with_its_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let sealer = Sealer::open(&dir.path().join("a.key")).unwrap();
        let sealed = sealer.seal("7112311234567").unwrap();
        assert!(!sealed.contains("7112311234567"));
        assert_ne!(sealed, sealer.seal("7112311234567").unwrap(), "a fresh nonce each time");
        assert_eq!(sealer.unseal(&sealed).unwrap(), "7112311234567");
        let other = Sealer::open(&dir.path().join("b.key")).unwrap();
        assert!(other.unseal(&sealed).is_err());
        // The key survives a restart, and a damaged key file is refused, not replaced.
        assert_eq!(Sealer::open(&dir.path().join("a.key")).unwrap().unseal(&sealed).unwrap(), "7112311234567");
        std::fs::write(dir.path().join("c.key"), b"short").unwrap();
        assert!(Sealer::open(&dir.path().join("c.key")).is_err());
        assert_eq!(std::fs::read(dir.path().join("c.key")).unwrap(), b"short");
    }
}
