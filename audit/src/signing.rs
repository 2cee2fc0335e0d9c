//! Ed25519 signatures of checkpoints.
//!
//! A checkpoint signs the company, the position of its newest event, the
//! chain's hash there and the time, in a fixed byte layout
//! ([`message`]); the key is 32 random bytes kept beside the data, and its
//! public half is what auditors hold.

use chrono::{DateTime, Utc};
use domain::audit::Checkpoint;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use store::chain::ChainHash;
use uuid::Uuid;

/// The bytes a checkpoint's signature covers.
pub fn message(tenant: Uuid, position: u64, chain: &ChainHash, signed_at: DateTime<Utc>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(96);
    bytes.extend_from_slice(b"groupware checkpoint v1\0");
    bytes.extend_from_slice(tenant.as_bytes());
    bytes.extend_from_slice(&position.to_be_bytes());
    bytes.extend_from_slice(&chain.0);
    bytes.extend_from_slice(&signed_at.timestamp_nanos_opt().unwrap_or(i64::MAX).to_be_bytes());
    bytes
}

/// The server's signing key.
pub struct CheckpointKey(SigningKey);

impl CheckpointKey {
    /// The key whose secret is `seed` (32 random bytes).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    /// The public half, for auditors.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// A signed checkpoint of `tenant`'s chain at `position`.
    pub fn sign(&self, tenant: Uuid, position: u64, chain: &ChainHash, signed_at: DateTime<Utc>) -> Checkpoint {
        let signature = self.0.sign(&message(tenant, position, chain, signed_at));
        Checkpoint {
            position,
            chain: chain.to_string(),
            signed_at,
            key: self.public().to_string(),
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// The signature of `bytes`, hexadecimal.
    pub fn sign_bytes(&self, bytes: &[u8]) -> String {
        hex::encode(self.0.sign(bytes).to_bytes())
    }
}

/// A public key that checks checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Reads the hexadecimal form.
    ///
    /// # Errors
    /// For anything but the 64 hexadecimal digits of an Ed25519 public key.
    pub fn parse_hex(text: &str) -> Result<Self, String> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|e| format!("not a public key: {e}"))?;
        VerifyingKey::from_bytes(&bytes).map(Self).map_err(|e| format!("not a public key: {e}"))
    }

    /// Whether `checkpoint` of `tenant` carries this key's signature of
    /// what it states.
    ///
    /// # Errors
    /// What is wrong: the hash or the signature unreadable, another key, or
    /// a signature that does not match.
    pub fn check(&self, tenant: Uuid, checkpoint: &Checkpoint) -> Result<(), String> {
        if checkpoint.key != self.to_string() {
            return Err(format!("it was signed with another key ({})", checkpoint.key));
        }
        let chain =
            ChainHash::parse_hex(&checkpoint.chain).map_err(|e| format!("its chain hash is unreadable: {e}"))?;
        self.check_bytes(&message(tenant, checkpoint.position, &chain, checkpoint.signed_at), &checkpoint.signature)
    }

    /// Whether `signature` (hexadecimal) is this key's signature of
    /// `bytes`.
    ///
    /// # Errors
    /// What is wrong: the signature unreadable or not matching.
    pub fn check_bytes(&self, bytes: &[u8], signature: &str) -> Result<(), String> {
        let mut raw = [0u8; 64];
        hex::decode_to_slice(signature.trim(), &mut raw).map_err(|e| format!("its signature is unreadable: {e}"))?;
        self.0
            .verify(bytes, &Signature::from_bytes(&raw))
            .map_err(|_| "its signature does not match what it states".to_owned())
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_checks_and_a_changed_one_does_not() {
        let key = CheckpointKey::from_seed([7; 32]);
        let tenant = Uuid::now_v7();
        let chain = ChainHash([3; 32]);
        let checkpoint = key.sign(tenant, 42, &chain, Utc::now());
        let public = PublicKey::parse_hex(&key.public().to_string()).unwrap();
        assert_eq!(public.check(tenant, &checkpoint), Ok(()));
        assert!(public.check(Uuid::now_v7(), &checkpoint).is_err(), "another company");
        let mut moved = checkpoint.clone();
        moved.position = 43;
        assert!(public.check(tenant, &moved).is_err(), "another position");
        let other = CheckpointKey::from_seed([8; 32]).public();
        assert!(other.check(tenant, &checkpoint).is_err(), "another key");
    }
}
