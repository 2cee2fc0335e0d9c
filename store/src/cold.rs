//! Cold storage: a stretch of a company's history moved out of the live
//! log into an archive file.
//!
//! A company's oldest events, once they are in a verified archive, are
//! removed from the live log ([`crate::EventStore::purge`]); the log keeps a
//! [`ColdSegment`] in their place, in the same transaction: which positions
//! left, the file that holds them, and the link of the last one — the
//! anchor the live chain continues from. Positions are never handed out
//! again, so a log whose newest events went cold still counts on from them.
//! What reads the log whole (projections, verification, exports) reads the
//! segments' files in their place (`audit::cold`).

use uuid::Uuid;

use crate::StoreError;
use crate::chain::ChainHash;

/// The events of one company, in one position range, moved into a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdSegment {
    pub tenant: Uuid,
    /// The position of the company's first event in the file.
    pub first_position: u64,
    /// The position of the company's last event in the file.
    pub last_position: u64,
    /// How many events the file holds.
    pub events: u64,
    /// The chain link of the last event: where the live chain goes on.
    pub anchor: ChainHash,
    /// The file's name, in the directory of cold files.
    pub file: String,
}

impl ColdSegment {
    /// Checks what a purge is given before anything is removed.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for a reversed or empty range, no
    /// events, the nil company (events of no company stay live) or a file
    /// name that is empty, a path, or holds NUL.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.tenant.is_nil() {
            return Err(StoreError::InvalidInput("events of no company are never moved out of the log".into()));
        }
        if self.first_position == 0 || self.first_position > self.last_position || self.events == 0 {
            return Err(StoreError::InvalidInput(format!(
                "positions {} to {} holding {} events are not a range to move out",
                self.first_position, self.last_position, self.events
            )));
        }
        let plain = !self.file.is_empty()
            && self.file.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !self.file.starts_with('.');
        if !plain {
            return Err(StoreError::InvalidInput(format!("`{}` is not a plain file name", self.file)));
        }
        Ok(())
    }

    /// The answer to a purge whose live log does not hold what `self`
    /// says the file holds: nothing is removed.
    pub(crate) fn mismatch(&self, found: &str) -> StoreError {
        StoreError::InvalidInput(format!(
            "the company's events {} to {} are not what the file {} holds: {found}",
            self.first_position, self.last_position, self.file
        ))
    }
}
