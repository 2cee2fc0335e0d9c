//! The hash chain that makes the log tamper-evident.
//!
//! Every stored event carries a SHA-256 hash that links it to the previous
//! event of its company (events of no company form one chain of their own,
//! under the nil id): `hash = SHA-256(previous hash ‖ the event as stored)`.
//! The event is hashed as stored — its payload's bytes as they are in the
//! log, whatever they hold — so that what the stored bytes say is what the
//! chain proves. Writers compute the hashes while they hand out positions
//! (one writer at a time per log), and keep each chain's newest hash, its
//! head, beside the events.
//!
//! [`ChainCheck`] walks a log in position order and names the first event
//! whose stored hash is not the one its bytes and its predecessor give, or
//! the first position missing from the log.

use std::collections::HashMap;
use std::fmt;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::envelope::nanos;
use crate::{Metadata, RecordedEvent};

/// A link of the chain: 32 bytes of SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// Reads the lower-case hexadecimal form.
    ///
    /// # Errors
    /// For anything but 64 hexadecimal digits.
    pub fn parse_hex(text: &str) -> Result<Self, hex::FromHexError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)?;
        Ok(Self(bytes))
    }

    /// The hash a chain starts from: derived from the chain's id, so two
    /// companies' chains never share a link.
    pub fn genesis(chain: Uuid) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"groupware event chain v1\0");
        hasher.update(chain.as_bytes());
        Self(hasher.finalize().into())
    }

    /// The hash of `event` following `self` in its chain. Every stored
    /// field takes part, each with its length, so no two events hash
    /// alike by shifting bytes from one field to the next.
    pub fn link(&self, event: &RecordedEvent) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(self.0);
        hasher.update(event.position.to_be_bytes());
        field(&mut hasher, event.stream.as_bytes());
        hasher.update(event.version.to_be_bytes());
        hasher.update(event.id.as_bytes());
        field(&mut hasher, event.event_type.as_bytes());
        hasher.update(event.schema_version.to_be_bytes());
        field(&mut hasher, &event.data);
        let m = &event.metadata;
        for id in [m.tenant, m.actor, m.command_id, m.correlation_id, m.causation_id] {
            match id {
                Some(id) => {
                    hasher.update([1]);
                    hasher.update(id.as_bytes());
                }
                None => hasher.update([0]),
            }
        }
        match &m.client_address {
            Some(address) => {
                hasher.update([1]);
                field(&mut hasher, address.as_bytes());
            }
            None => hasher.update([0]),
        }
        hasher.update(nanos(m.occurred_at).to_be_bytes());
        hasher.update(nanos(event.recorded_at).to_be_bytes());
        Self(hasher.finalize().into())
    }
}

fn field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({self})")
    }
}

/// The chain an event belongs to: its company's, or the nil id's.
pub fn chain_of(metadata: &Metadata) -> Uuid {
    metadata.tenant.unwrap_or(Uuid::nil())
}

/// The newest link of one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// The company (nil: events of no company).
    pub chain: Uuid,
    /// The position of the chain's newest event.
    pub position: u64,
    pub hash: ChainHash,
}

/// The heads a writer links new events to: its own copy of the stored
/// heads, and the links of the group it is writing, which become heads
/// only once the group commits. Each link notes the pending head it
/// replaced, so that a request of the group is undone without a copy of
/// the heads per request.
#[derive(Debug, Default)]
pub(crate) struct Heads {
    stored: HashMap<Uuid, ChainHead>,
    pending: HashMap<Uuid, ChainHead>,
    replaced: Vec<(Uuid, Option<ChainHead>)>,
}

impl Heads {
    pub(crate) fn new(stored: impl IntoIterator<Item = ChainHead>) -> Self {
        Self { stored: stored.into_iter().map(|h| (h.chain, h)).collect(), ..Self::default() }
    }

    /// Sets `event.chain`, linking it to its chain's head.
    pub(crate) fn link(&mut self, event: &mut RecordedEvent) {
        let chain = chain_of(&event.metadata);
        let previous = self
            .pending
            .get(&chain)
            .or_else(|| self.stored.get(&chain))
            .map_or_else(|| ChainHash::genesis(chain), |h| h.hash);
        let hash = previous.link(event);
        event.chain = Some(hash);
        let replaced = self.pending.insert(chain, ChainHead { chain, position: event.position, hash });
        self.replaced.push((chain, replaced));
    }

    /// The heads the uncommitted group moved.
    pub(crate) fn pending(&self) -> impl Iterator<Item = &ChainHead> {
        self.pending.values()
    }

    /// A mark to go back to when part of a group is undone.
    pub(crate) fn mark(&self) -> usize {
        self.replaced.len()
    }

    /// Undoes the links made since `mark`, newest first.
    pub(crate) fn undo(&mut self, mark: usize) {
        for (chain, replaced) in self.replaced.drain(mark..).rev() {
            match replaced {
                Some(head) => drop(self.pending.insert(chain, head)),
                None => drop(self.pending.remove(&chain)),
            }
        }
    }

    /// The group committed: its links are the heads.
    pub(crate) fn committed(&mut self) {
        self.stored.extend(self.pending.drain());
        self.replaced.clear();
    }

    /// The group failed: nothing of it is stored.
    pub(crate) fn failed(&mut self) {
        self.pending.clear();
        self.replaced.clear();
    }
}

/// What [`ChainCheck`] found wrong: the first place where the log is not
/// what its chain says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    /// Positions are handed out without gaps, so a missing one was removed.
    #[error("positions {from} to {to} are missing from the log (removed events)")]
    Missing { from: u64, to: u64 },
    /// The stored hash is not the one the stored bytes give.
    #[error(
        "the event at position {position} ({stream} version {version}, company {chain}) does not match its \
         hash: it or an event of its company before it was changed or removed"
    )]
    Mismatch { position: u64, stream: String, version: u64, chain: Uuid },
    /// The event carries no hash at all.
    #[error("the event at position {position} carries no hash: this store keeps no chain")]
    Unchained { position: u64 },
}

impl Broken {
    /// The position of the first event that does not match.
    pub fn position(&self) -> u64 {
        match self {
            Broken::Missing { from, .. } => *from,
            Broken::Mismatch { position, .. } | Broken::Unchained { position } => *position,
        }
    }
}

/// Checks a log's chains event by event, in position order from the first.
#[derive(Debug)]
pub struct ChainCheck {
    heads: HashMap<Uuid, ChainHash>,
    next_position: u64,
}

impl ChainCheck {
    /// A check of a log read from its first position.
    pub fn new() -> Self {
        Self { heads: HashMap::new(), next_position: 1 }
    }

    /// Checks the next event of the log and returns its hash. After a
    /// failure the check goes on from what is stored, so each later event
    /// is judged on its own.
    ///
    /// # Errors
    /// [`Broken`] for the first thing wrong with this event.
    pub fn check(&mut self, event: &RecordedEvent) -> Result<ChainHash, Broken> {
        let expected_position = std::mem::replace(&mut self.next_position, event.position + 1);
        let stored = event.chain.ok_or(Broken::Unchained { position: event.position })?;
        let chain = chain_of(&event.metadata);
        let previous = self.heads.insert(chain, stored).unwrap_or_else(|| ChainHash::genesis(chain));
        if event.position != expected_position {
            return Err(Broken::Missing { from: expected_position, to: event.position.saturating_sub(1) });
        }
        if previous.link(event) != stored {
            return Err(Broken::Mismatch {
                position: event.position,
                stream: event.stream.clone(),
                version: event.version,
                chain,
            });
        }
        Ok(stored)
    }
}

impl Default for ChainCheck {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn event(position: u64, tenant: Uuid, data: &[u8]) -> RecordedEvent {
        RecordedEvent {
            id: Uuid::now_v7(),
            stream: format!("s-{position}"),
            version: 0,
            position,
            event_type: "Happened".into(),
            schema_version: 1,
            data: data.to_vec(),
            metadata: Metadata { tenant: Some(tenant), occurred_at: Utc::now(), ..Metadata::default() },
            recorded_at: Utc::now(),
            chain: None,
        }
    }

    fn linked(events: &mut [RecordedEvent]) {
        let mut heads = Heads::default();
        for e in events.iter_mut() {
            heads.link(e);
        }
        heads.committed();
    }

    #[test]
    fn a_linked_log_checks_and_each_company_has_its_own_chain() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut log = vec![event(1, a, b"1"), event(2, b, b"2"), event(3, a, b"3")];
        linked(&mut log);
        let mut check = ChainCheck::new();
        for e in &log {
            assert_eq!(check.check(e), Ok(e.chain.unwrap()));
        }
        // The third event links to the first (same company), not the second.
        assert_eq!(log[2].chain, Some(log[0].chain.unwrap().link(&log[2])));
    }

    #[test]
    fn a_changed_byte_is_named() {
        let a = Uuid::now_v7();
        let mut log = vec![event(1, a, b"one"), event(2, a, b"two"), event(3, a, b"three")];
        linked(&mut log);
        log[1].data[0] ^= 1;
        let mut check = ChainCheck::new();
        check.check(&log[0]).unwrap();
        assert_eq!(check.check(&log[1]).unwrap_err().position(), 2);
    }

    #[test]
    fn a_removed_event_is_named_by_its_position() {
        let a = Uuid::now_v7();
        let mut log = vec![event(1, a, b"one"), event(2, a, b"two"), event(3, a, b"three")];
        linked(&mut log);
        let mut check = ChainCheck::new();
        check.check(&log[0]).unwrap();
        assert_eq!(check.check(&log[2]), Err(Broken::Missing { from: 2, to: 2 }));
    }

    #[test]
    fn an_undone_request_leaves_no_link() {
        let a = Uuid::now_v7();
        let mut heads = Heads::default();
        let mut first = event(1, a, b"1");
        heads.link(&mut first);
        let mark = heads.mark();
        heads.link(&mut event(2, a, b"undone"));
        heads.undo(mark);
        let mut second = event(2, a, b"2");
        heads.link(&mut second);
        assert_eq!(second.chain, Some(first.chain.unwrap().link(&second)));
    }
}
