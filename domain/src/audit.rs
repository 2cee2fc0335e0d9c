//! Signed checkpoints of a company's hash chain, and the archives of its
//! history asked for over the API ([`archives`]).
//!
//! The event store links every event of a company to the one before it
//! (a hash chain over the stored bytes). A checkpoint is the server's
//! signed statement that the company's chain had a given hash at a given
//! position at a given time; anyone holding the server's public key can
//! check it, and a log changed since cannot match it. The signature is
//! made outside the domain (the key is I/O) and arrives in the command;
//! the aggregate keeps the checkpoints in order.

pub mod archives;
pub mod retention;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Actor, Aggregate, DomainError, DomainEvent, Sealing};

/// What a checkpoint states and its signature, as signed and recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// The position of the company's newest event the checkpoint covers.
    pub position: u64,
    /// The chain's hash at that event, hexadecimal.
    pub chain: String,
    /// When the server signed.
    pub signed_at: DateTime<Utc>,
    /// The signer's Ed25519 public key, hexadecimal.
    pub key: String,
    /// The Ed25519 signature, hexadecimal.
    pub signature: String,
}

/// Records a signed checkpoint: the server's signer, or an admin asking
/// for one now.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointCommand {
    /// The caller has checked that the acting user is an admin.
    pub by_admin: bool,
    pub checkpoint: Checkpoint,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum CheckpointEvent {
    #[serde(rename = "CheckpointSigned")]
    Signed(Checkpoint),
}

impl DomainEvent for CheckpointEvent {
    fn event_type(&self) -> &'static str {
        match self {
            CheckpointEvent::Signed(_) => "CheckpointSigned",
        }
    }
}

/// A company's checkpoints: stream `checkpoints-<tenant>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoints {
    /// The newest checkpoint.
    pub last: Option<Checkpoint>,
    pub count: u64,
}

impl Aggregate for Checkpoints {
    type Command = CheckpointCommand;
    type Event = CheckpointEvent;

    const CATEGORY: &'static str = "checkpoints";
    const SNAPSHOT_VERSION: u32 = 1;
    const SEALING: Sealing = Sealing::Clear;

    fn authorize(&self, actor: &Actor, command: &CheckpointCommand) -> Result<(), DomainError> {
        match actor {
            Actor::Anonymous => Err(DomainError::Unauthenticated("log in first".into())),
            Actor::User(_) if !command.by_admin => {
                Err(DomainError::Forbidden("only an admin of the company asks for a checkpoint".into()))
            }
            Actor::User(_) | Actor::System => Ok(()),
        }
    }

    fn decide(&self, command: &CheckpointCommand, _now: DateTime<Utc>) -> Result<Vec<CheckpointEvent>, DomainError> {
        let checkpoint = &command.checkpoint;
        if checkpoint.chain.len() != 64 || checkpoint.signature.is_empty() || checkpoint.key.is_empty() {
            return Err(DomainError::invalid("checkpoint", "a checkpoint needs a chain hash, a key and a signature"));
        }
        match &self.last {
            // Checkpoints move forwards; one that covers nothing new
            // changes nothing.
            Some(last) if checkpoint.position <= last.position => Ok(vec![]),
            _ => Ok(vec![CheckpointEvent::Signed(checkpoint.clone())]),
        }
    }

    fn evolve(mut self, event: &CheckpointEvent) -> Self {
        let CheckpointEvent::Signed(checkpoint) = event;
        self.last = Some(checkpoint.clone());
        self.count += 1;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, given};

    fn record(checkpoint: Checkpoint) -> CheckpointCommand {
        CheckpointCommand { by_admin: false, checkpoint }
    }

    fn checkpoint(position: u64) -> Checkpoint {
        Checkpoint {
            position,
            chain: "ab".repeat(32),
            signed_at: at("2026-11-26T09:00:00Z"),
            key: "k".into(),
            signature: "s".into(),
        }
    }

    #[test]
    fn a_checkpoint_is_recorded_when_it_covers_something_new() {
        given::<Checkpoints>(vec![CheckpointEvent::Signed(checkpoint(10))])
            .when(Actor::System, record(checkpoint(12)))
            .then(vec![CheckpointEvent::Signed(checkpoint(12))]);
    }

    #[test]
    fn a_checkpoint_at_or_before_the_last_changes_nothing() {
        given::<Checkpoints>(vec![CheckpointEvent::Signed(checkpoint(10))])
            .when(Actor::System, record(checkpoint(10)))
            .then(vec![]);
    }

    #[test]
    fn a_checkpoint_without_its_hash_is_refused() {
        let mut bad = checkpoint(3);
        bad.chain = "ab".into();
        given::<Checkpoints>(vec![])
            .when(Actor::System, record(bad))
            .then_refused_as(crate::ErrorKind::Validation, Some("checkpoint"));
    }

    #[test]
    fn only_the_system_and_admins_record_checkpoints() {
        given::<Checkpoints>(vec![])
            .when(Actor::Anonymous, record(checkpoint(1)))
            .then_refused_as(crate::ErrorKind::Unauthenticated, None);
        given::<Checkpoints>(vec![])
            .when(
                Actor::User(uuid::Uuid::from_u128(1)),
                CheckpointCommand { by_admin: false, checkpoint: checkpoint(1) },
            )
            .then_refused_as(crate::ErrorKind::Forbidden, None);
        given::<Checkpoints>(vec![])
            .when(
                Actor::User(uuid::Uuid::from_u128(1)),
                CheckpointCommand { by_admin: true, checkpoint: checkpoint(1) },
            )
            .then(vec![CheckpointEvent::Signed(checkpoint(1))]);
    }
}
