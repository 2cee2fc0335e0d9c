//! Which command ids have had an effect, and where it was written.
//!
//! Every event carries the id of the command that wrote it, so the log is
//! recovered at start by one pass over the event log: a command id seen
//! before a restart is still recognised after it.

use std::collections::HashMap;
use std::sync::RwLock;

use store::{EventStore, StoreError};
use uuid::Uuid;

/// Where the events of one command were written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub stream: String,
    pub first_version: u64,
    pub count: u64,
    pub position: u64,
}

/// The effects of commands by command id.
#[derive(Debug, Default)]
pub struct CommandLog {
    written: RwLock<HashMap<Uuid, Written>>,
}

impl CommandLog {
    /// Rebuilds the log from every event stored.
    ///
    /// # Errors
    /// When the event store fails.
    pub async fn recover(store: &dyn EventStore) -> Result<Self, StoreError> {
        let mut written: HashMap<Uuid, Written> = HashMap::new();
        let mut after = 0;
        loop {
            let batch = store.read_all(after, 10_000).await?;
            let Some(last) = batch.last() else { break };
            after = last.position;
            for event in &batch {
                let Some(command) = event.metadata.command_id else { continue };
                written
                    .entry(command)
                    .and_modify(|w| {
                        w.count += 1;
                        w.position = event.position;
                    })
                    .or_insert_with(|| Written {
                        stream: event.stream.clone(),
                        first_version: event.version,
                        count: 1,
                        position: event.position,
                    });
            }
        }
        Ok(Self { written: RwLock::new(written) })
    }

    pub fn get(&self, command: Uuid) -> Option<Written> {
        self.written.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&command).cloned()
    }

    pub(crate) fn record(&self, command: Uuid, written: Written) {
        self.written.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(command, written);
    }
}
