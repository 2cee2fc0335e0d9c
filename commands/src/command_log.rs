//! Which command ids have had an effect, and where it was written.
//!
//! Every event carries the id of the command that wrote it. A store that
//! indexes command ids (the embedded store, PostgreSQL) answers where a
//! command's events are: the log keeps only the newest answers in memory,
//! and a start reads nothing. With a store that does not, the log is
//! recovered at start by one pass over the event log — a command id seen
//! before a restart is still recognised after it — and then follows the log
//! for the commands of other processes. Either way it knows every command
//! whose events lie at or below the position it answers with; the events
//! above it (another process's, moments old) are for the pipeline to look
//! for.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub use store::Written;
use store::{EventStore, RecordedEvent, StoreError};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How many commands' answers an indexed log keeps in memory.
const KEPT_ANSWERS: usize = 10_000;

/// The effects of commands by command id.
pub struct CommandLog {
    source: Source,
}

enum Source {
    /// The store finds a command's events by its id; the newest answers are
    /// kept for the questions that follow a command at once.
    Indexed { store: Arc<dyn EventStore>, kept: quick_cache::sync::Cache<Uuid, Written> },
    /// Every command id of the log, followed from its start.
    Followed(RwLock<Known>),
}

#[derive(Debug, Default)]
struct Known {
    written: HashMap<Uuid, Written>,
    /// Every event at or below this position has been learned.
    position: u64,
}

impl CommandLog {
    /// The log of `store`: asked of the store when it indexes command ids;
    /// otherwise rebuilt from every event stored and then following the
    /// log, so that commands another process handled are known here too
    /// (the follower stops when the returned handle is aborted).
    ///
    /// # Errors
    /// When the event store fails.
    pub async fn open(store: Arc<dyn EventStore>) -> Result<(Arc<Self>, Option<JoinHandle<()>>), StoreError> {
        if store.indexes_commands() {
            let kept = quick_cache::sync::Cache::new(KEPT_ANSWERS);
            return Ok((Arc::new(Self { source: Source::Indexed { store, kept } }), None));
        }
        let log = Arc::new(Self { source: Source::Followed(RwLock::default()) });
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
        Ok((log, Some(follower)))
    }

    fn known(&self) -> Option<&RwLock<Known>> {
        match &self.source {
            Source::Followed(known) => Some(known),
            Source::Indexed { .. } => None,
        }
    }

    /// Takes note of the command ids of `batch`; events already known are
    /// passed over.
    fn learn(&self, batch: &[RecordedEvent]) {
        let Some(known) = self.known() else { return };
        let mut known = known.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        for event in batch {
            known.position = known.position.max(event.position);
            let Some(command) = event.metadata.command_id else { continue };
            match known.written.get_mut(&command) {
                // As the store's index answers: the first stream's events.
                Some(w) if event.position <= w.position || event.stream != w.stream => {}
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

    /// Where `command`'s events were written, if any were.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn get(&self, command: Uuid) -> Result<Option<Written>, StoreError> {
        Ok(self.lookup(command).await?.0)
    }

    /// What the log knows of `command`, and the position up to which it
    /// knows every command: events of `command` above it may exist that the
    /// log has not learned yet.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn lookup(&self, command: Uuid) -> Result<(Option<Written>, u64), StoreError> {
        match &self.source {
            Source::Indexed { store, kept } => {
                // Everything committed before the question is in the index.
                let known = *store.head().borrow();
                if let Some(written) = kept.get(&command) {
                    return Ok((Some(written), known));
                }
                let written = store.find_command(command).await?;
                if let Some(written) = &written {
                    kept.insert(command, written.clone());
                }
                Ok((written, known))
            }
            Source::Followed(known) => {
                let known = known.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                Ok((known.written.get(&command).cloned(), known.position))
            }
        }
    }

    pub(crate) fn record(&self, command: Uuid, written: Written) {
        match &self.source {
            Source::Indexed { kept, .. } => kept.insert(command, written),
            Source::Followed(known) => {
                known.write().unwrap_or_else(std::sync::PoisonError::into_inner).written.insert(command, written);
            }
        }
    }
}
