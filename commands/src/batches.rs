//! Commands waiting to be appended together to one stream of an aggregate
//! that numbers in turn (a company's document numbers): while one batch is
//! being appended, the commands that arrive wait, and go together in the
//! next, each decided on the state the ones before it left, in one append.
//! So a stream that every completion of a company writes takes one append,
//! and one commit, for all that arrived meanwhile, instead of one each.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use crate::{CommandContext, CommandError, Outcome};

/// One command waiting for its batch, and where its answer goes.
pub(crate) struct Waiting<C, E> {
    pub context: CommandContext,
    pub command: C,
    pub reply: oneshot::Sender<Result<Outcome<E>, CommandError>>,
}

#[derive(Default)]
struct Stream {
    waiting: Vec<Box<dyn Any + Send>>,
    /// Held by whoever appends this stream's batch now.
    appending: Arc<tokio::sync::Mutex<()>>,
}

/// The batches of every stream, by stream name.
#[derive(Default)]
pub(crate) struct Batches {
    streams: Mutex<HashMap<String, Stream>>,
}

impl Batches {
    /// Queues `waiting` for `stream`'s next batch; the lock its appender
    /// holds.
    pub(crate) fn push<C: Send + 'static, E: Send + 'static>(
        &self,
        stream: &str,
        waiting: Waiting<C, E>,
    ) -> Arc<tokio::sync::Mutex<()>> {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = streams.entry(stream.to_owned()).or_default();
        entry.waiting.push(Box::new(waiting));
        entry.appending.clone()
    }

    /// Everything waiting for `stream`, in the order it came, for the
    /// holder of `lock` (the lock [`Self::push`] gave): nothing once the
    /// stream's batches have moved on to another lock.
    pub(crate) fn take<C: Send + 'static, E: Send + 'static>(
        &self,
        stream: &str,
        lock: &Arc<tokio::sync::Mutex<()>>,
    ) -> Vec<Waiting<C, E>> {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = streams.get_mut(stream).filter(|e| Arc::ptr_eq(&e.appending, lock)) else {
            return Vec::new();
        };
        let taken = std::mem::take(&mut entry.waiting);
        taken.into_iter().filter_map(|w| w.downcast::<Waiting<C, E>>().ok().map(|w| *w)).collect()
    }

    /// Forgets `stream` when nothing waits for it, once the holder of `lock`
    /// has appended (and answered) its batch, still holding the lock: every
    /// command queued under that lock has been answered, and the next one
    /// starts a stream (and a lock) afresh. Forgetting it while a batch is
    /// still being appended would let a new lock's batch append beside it.
    pub(crate) fn done(&self, stream: &str, lock: &Arc<tokio::sync::Mutex<()>>) {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if streams.get(stream).is_some_and(|e| Arc::ptr_eq(&e.appending, lock) && e.waiting.is_empty()) {
            streams.remove(stream);
        }
    }
}
