//! Verification of a log: every event against its company's chain, every
//! signed checkpoint against the key and against the chain, and every
//! chain's stored head against the log's end.
//!
//! The checkpoints are read first (each company's checkpoint stream is
//! small: one per interval), so that one pass over the log, in position
//! order and in pages, checks everything: memory holds the checkpoints and
//! one hash per company, whatever the log's length.

use std::collections::{BTreeMap, HashMap};

use domain::audit::{Checkpoint, CheckpointEvent, Checkpoints};
use store::chain::{Broken, ChainCheck, ChainHead, chain_of};
use store::{Direction, EventStore, StoreError};
use uuid::Uuid;

use crate::PublicKey;

/// How many events one read of the log takes.
const PAGE: usize = 4096;

/// How far a verification has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Events checked.
    pub done: u64,
    /// Events in the log when the verification started.
    pub total: u64,
}

/// What a verification that found nothing wrong checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Events read (all of the log's, whatever the scope).
    pub events: u64,
    /// Events of the companies in scope whose links were checked.
    pub linked: u64,
    /// Signed checkpoints checked.
    pub checkpoints: u64,
    /// Companies whose chains were checked.
    pub companies: usize,
}

/// Why a log does not verify, naming the first place that does not match.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the event store failed: {0}")]
    Store(#[from] StoreError),
    #[error("this event store keeps no hash chain")]
    NoChain,
    #[error("{0}")]
    Broken(Broken),
    #[error("the checkpoint at position {at} (company {tenant}) does not verify: {reason}")]
    Checkpoint { at: u64, tenant: Uuid, reason: String },
    #[error("company {tenant}'s chain ends at position {position} by its stored head, but {reason}")]
    Head { tenant: Uuid, position: u64, reason: String },
    /// A chain in the log without a stored head: its checkpoints could not
    /// be found, so a chain computed again would go unnoticed.
    #[error("company {tenant}'s chain (its first event is at position {position}) has no stored head: it was removed")]
    Headless { tenant: Uuid, position: u64 },
}

impl VerifyError {
    /// The position of the first event that does not match, when one is
    /// named.
    pub fn position(&self) -> Option<u64> {
        match self {
            VerifyError::Broken(broken) => Some(broken.position()),
            VerifyError::Checkpoint { at, .. } => Some(*at),
            VerifyError::Head { position, .. } | VerifyError::Headless { position, .. } => Some(*position),
            VerifyError::Store(_) | VerifyError::NoChain => None,
        }
    }
}

/// A checkpoint and where it was recorded.
struct Claim {
    at: u64,
    checkpoint: Checkpoint,
}

/// Verifies the log of `store`, of every company or of `scope` alone, with
/// the checkpoints' signatures checked against `trusted` (the public key
/// an auditor holds) or, without one, against the key each names.
/// `progress` hears after every page.
///
/// # Errors
/// [`VerifyError`] naming the first event, checkpoint or head that does
/// not match.
pub async fn verify(
    store: &dyn EventStore,
    scope: Option<Uuid>,
    trusted: Option<PublicKey>,
    mut progress: impl FnMut(Progress),
) -> Result<Report, VerifyError> {
    let in_scope = |chain: Uuid| scope.is_none_or(|s| s == chain);
    let heads: HashMap<Uuid, ChainHead> = store
        .chain_heads()
        .await?
        .ok_or(VerifyError::NoChain)?
        .into_iter()
        .filter(|h| in_scope(h.chain))
        .map(|h| (h.chain, h))
        .collect();
    let total = *store.head().borrow();
    let mut claims: HashMap<Uuid, BTreeMap<u64, Claim>> = HashMap::new();
    let mut checkpoints = 0;
    for &tenant in heads.keys().filter(|t| !t.is_nil()) {
        let signed = read_checkpoints(store, tenant, trusted).await?;
        checkpoints += signed.len() as u64;
        claims.insert(tenant, signed);
    }
    let mut pending_heads = heads.clone();
    let mut seen = std::collections::HashSet::new();
    let mut check = ChainCheck::new();
    let (mut events, mut linked, mut after) = (0u64, 0u64, 0u64);
    loop {
        let page = store.read_all(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        for event in &page {
            events += 1;
            let chain = chain_of(&event.metadata);
            if in_scope(chain) && seen.insert(chain) && !heads.contains_key(&chain) {
                // Its checkpoints would go unread: a head removed hides a
                // chain computed again.
                return Err(VerifyError::Headless { tenant: chain, position: event.position });
            }
            let checked = check.check(event);
            match checked {
                Err(broken @ Broken::Missing { .. }) => return Err(VerifyError::Broken(broken)),
                Err(broken) if in_scope(chain) => return Err(VerifyError::Broken(broken)),
                Err(_) => continue,
                Ok(_) if !in_scope(chain) => continue,
                Ok(hash) => {
                    linked += 1;
                    if let Some(claim) = claims.get_mut(&chain).and_then(|c| c.remove(&event.position))
                        && claim.checkpoint.chain != hash.to_string()
                    {
                        return Err(VerifyError::Checkpoint {
                            at: claim.at,
                            tenant: chain,
                            reason: format!(
                                "it signed hash {} for position {}, where the log gives {hash}",
                                claim.checkpoint.chain, event.position
                            ),
                        });
                    }
                    if pending_heads.get(&chain).is_some_and(|h| h.position == event.position) {
                        let head = pending_heads.remove(&chain).expect("just seen");
                        if head.hash != hash {
                            return Err(VerifyError::Head {
                                tenant: chain,
                                position: head.position,
                                reason: format!("the log gives hash {hash} there, not {}", head.hash),
                            });
                        }
                    }
                }
            }
        }
        progress(Progress { done: events, total: total.max(events) });
    }
    if let Some(head) = pending_heads.into_values().min_by_key(|h| h.position) {
        return Err(VerifyError::Head {
            tenant: head.chain,
            position: head.position,
            reason: "the log holds no event of the company there (events removed from its end)".into(),
        });
    }
    if let Some((tenant, claim)) = claims
        .into_iter()
        .flat_map(|(t, c)| c.into_iter().map(move |(p, claim)| (t, p, claim)))
        .min_by_key(|(_, p, _)| *p)
        .map(|(t, _, c)| (t, c))
    {
        return Err(VerifyError::Checkpoint {
            at: claim.at,
            tenant,
            reason: format!("the log holds no event of the company at position {}", claim.checkpoint.position),
        });
    }
    Ok(Report { events, linked, checkpoints, companies: heads.keys().filter(|t| !t.is_nil()).count() })
}

/// The signed checkpoints of `tenant`, each checked against its signer's
/// key (the trusted one, when given), by the position they cover.
async fn read_checkpoints(
    store: &dyn EventStore,
    tenant: Uuid,
    trusted: Option<PublicKey>,
) -> Result<BTreeMap<u64, Claim>, VerifyError> {
    let stream = commands::stream_name::<Checkpoints>(tenant);
    let mut claims = BTreeMap::new();
    let mut from = 0;
    loop {
        let page = store.read_stream(&stream, Direction::Forwards, Some(from), PAGE).await?;
        let Some(last) = page.last() else { break };
        from = last.version + 1;
        for event in &page {
            let refuse = |reason: String| VerifyError::Checkpoint { at: event.position, tenant, reason };
            let CheckpointEvent::Signed(checkpoint) =
                event.decode().map_err(|e| refuse(format!("it is unreadable: {e}")))?;
            let key = match trusted {
                Some(key) => key,
                None => PublicKey::parse_hex(&checkpoint.key).map_err(refuse)?,
            };
            key.check(tenant, &checkpoint).map_err(refuse)?;
            claims.insert(checkpoint.position, Claim { at: event.position, checkpoint });
        }
    }
    Ok(claims)
}
