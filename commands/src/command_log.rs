//! Which command ids have had an effect, and where it was written.
//!
//! Every event carries the id of the command that wrote it, so the log is
//! recovered at start by one pass over the event log — a command id seen
//! before a restart is still recognised after it — and then follows the log
//! for the commands of other processes. It knows every command whose events
//! lie at or below the position it has learned up to; the events above it
//! (another process's, moments old) are for the pipeline to look for.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use store::{EventStore, RecordedEvent, StoreError};
use tokio::task::JoinHandle;
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
    known: RwLock<Known>,
}

#[derive(Debug, Default)]
struct Known {
    written: HashMap<Uuid, Written>,
    /// Every event at or below this position has been learned.
    position: u64,
}

impl CommandLog {
    /// Rebuilds the log from every event stored, then keeps following the
    /// log, so that commands another process handled are known here too.
    /// The follower stops when the returned handle is aborted.
    ///
    /// # Errors
    /// When the event store fails.
    pub async fn follow(store: Arc<dyn EventStore>) -> Result<(Arc<Self>, JoinHandle<()>), StoreError> {
        let log = Arc::new(Self::default());
        let mut after = 0;
        loop {
            let batch = store.read_all(after, 10_000).await?;
            let Some(last) = batch.last() else { break };
            after = last.position;
            log.learn(&batch);
        }
        let follower = {
            let log = log.clone();
            tokio::spawn(store::follow(store, after, move |batch| log.learn(batch)))
        };
        Ok((log, follower))
    }

    /// Takes note of the command ids of `batch`; events already known are
    /// passed over.
    fn learn(&self, batch: &[RecordedEvent]) {
        let mut known = self.known.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        for event in batch {
            known.position = known.position.max(event.position);
            let Some(command) = event.metadata.command_id else { continue };
            match known.written.get_mut(&command) {
                Some(w) if event.position <= w.position => {}
                Some(w) => {
                    w.count += 1;
                    w.position = event.position;
                }
                None => {
                    known.written.insert(
                        command,
                        Written {
                            stream: event.stream.clone(),
                            first_version: event.version,
                            count: 1,
                            position: event.position,
                        },
                    );
                }
            }
        }
    }

    pub fn get(&self, command: Uuid) -> Option<Written> {
        self.lookup(command).0
    }

    /// What the log knows of `command`, and the position up to which it
    /// knows every command: events of `command` above it may exist that the
    /// log has not learned yet.
    pub fn lookup(&self, command: Uuid) -> (Option<Written>, u64) {
        let known = self.known.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        (known.written.get(&command).cloned(), known.position)
    }

    pub(crate) fn record(&self, command: Uuid, written: Written) {
        self.known.write().unwrap_or_else(std::sync::PoisonError::into_inner).written.insert(command, written);
    }
}
