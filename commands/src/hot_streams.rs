//! Streams that many commands of this process write at once (a company's
//! document numbers, for one). Optimistic concurrency alone would have them
//! retry over and over; once a command on a stream meets a conflict, the
//! stream is hot and the commands of this process on it take turns, until
//! none is left waiting. Writers in other processes still meet conflicts,
//! which the pipeline's retries absorb.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::OwnedMutexGuard;

type Turns = Arc<tokio::sync::Mutex<()>>;

#[derive(Default)]
pub(crate) struct HotStreams {
    streams: Mutex<HashMap<String, Turns>>,
}

/// One command's turn on a hot stream; the stream cools down when the last
/// turn ends.
pub(crate) struct Turn<'a> {
    hot: &'a HotStreams,
    stream: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl HotStreams {
    fn streams(&self) -> MutexGuard<'_, HashMap<String, Turns>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a turn on `stream` when it is hot; `None` when it is not.
    pub(crate) async fn turn_if_hot(&self, stream: &str) -> Option<Turn<'_>> {
        let turns = self.streams().get(stream).cloned()?;
        Some(self.wait(stream, turns).await)
    }

    /// Marks `stream` hot and waits for a turn on it.
    pub(crate) async fn turn(&self, stream: &str) -> Turn<'_> {
        let turns = self.streams().entry(stream.to_owned()).or_default().clone();
        self.wait(stream, turns).await
    }

    async fn wait(&self, stream: &str, turns: Turns) -> Turn<'_> {
        let guard = turns.lock_owned().await;
        Turn { hot: self, stream: stream.to_owned(), guard: Some(guard) }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut streams = self.hot.streams();
        // Only the map holds it: nobody waits, the stream cools down.
        if streams.get(&self.stream).is_some_and(|turns| Arc::strong_count(turns) == 1) {
            streams.remove(&self.stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stream_is_hot_while_a_turn_is_held_or_awaited() {
        let hot = HotStreams::default();
        assert!(hot.turn_if_hot("s").await.is_none());
        let first = hot.turn("s").await;
        let waiting = hot.turn_if_hot("s");
        tokio::pin!(waiting);
        assert!(futures_poll(&mut waiting).is_none(), "the second waits for the first");
        drop(first);
        let second = waiting.await;
        assert!(second.is_some());
        drop(second);
        assert!(hot.turn_if_hot("s").await.is_none(), "cooled down");
    }

    fn futures_poll<F: std::future::Future + Unpin>(future: &mut F) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        match std::pin::Pin::new(future).poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }
}
