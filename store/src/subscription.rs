//! Catch-up subscriptions to the global log.
//!
//! A subscription is a task that reads the log in batches from a position and,
//! once it has read everything, waits for the store's head to move. Because
//! [`EventStore::read_all`] only ever returns committed events with no later
//! commit possible below them, resuming from the last position read is enough
//! to get every event exactly once, across the hand-over from catch-up to live.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::{EventStore, RecordedEvent, StoreError};

/// How many events one read of the log returns at most.
const BATCH: usize = 4096;

/// A running subscription; batches of events arrive in position order.
pub struct Subscription {
    receiver: mpsc::Receiver<Result<Vec<RecordedEvent>, StoreError>>,
}

impl Subscription {
    /// Wraps a channel fed by an adapter's own subscription task.
    pub fn from_channel(receiver: mpsc::Receiver<Result<Vec<RecordedEvent>, StoreError>>) -> Self {
        Self { receiver }
    }

    /// The next batch of events; `None` when the store has shut down.
    pub async fn next_batch(&mut self) -> Option<Result<Vec<RecordedEvent>, StoreError>> {
        self.receiver.recv().await
    }
}

/// The generic catch-up subscription over [`EventStore::read_all`] and
/// [`EventStore::head`].
pub fn catch_up<S: EventStore + ?Sized>(store: Arc<S>, after: u64) -> Subscription {
    // Two batches in flight let the reader run ahead of the consumer.
    let (sender, receiver) = mpsc::channel(2);
    tokio::spawn(async move {
        let mut head = store.head();
        let mut position = after;
        loop {
            match store.read_all(position, BATCH).await {
                Ok(batch) if batch.is_empty() => {
                    if head.wait_for(|h| *h > position).await.is_err() {
                        return;
                    }
                }
                Ok(batch) => {
                    position = batch.last().map_or(position, |e| e.position);
                    if sender.send(Ok(batch)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = sender.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    Subscription { receiver }
}

/// Applies every event after `after`, batch by batch, for as long as the
/// task runs: on a failure it subscribes again from the last event applied,
/// with back-off, so a store that goes away and comes back loses nothing.
pub async fn follow<S: EventStore + ?Sized>(store: Arc<S>, mut after: u64, mut apply: impl FnMut(&[RecordedEvent])) {
    let mut backoff = std::time::Duration::from_millis(50);
    loop {
        let mut subscription = store.clone().subscribe_all(after);
        while let Some(batch) = subscription.next_batch().await {
            match batch {
                Ok(batch) => {
                    if let Some(last) = batch.last() {
                        after = last.position;
                        apply(&batch);
                        backoff = std::time::Duration::from_millis(50);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, after, "following the log failed; subscribing again");
                    break;
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
    }
}
