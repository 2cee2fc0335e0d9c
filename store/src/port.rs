//! The event store port: the trait every adapter implements.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::{
    AppendResult, Direction, EventData, ExpectedVersion, RecordedEvent, StoreError, StreamMetadata, Subscription,
};

/// The time source of an adapter (for `recorded_at` and `max_age`).
pub type Now = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The wall clock.
pub fn system_now() -> Now {
    Arc::new(Utc::now)
}

/// An append-only log of events, grouped in streams.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream` if it is in the `expected` state.
    ///
    /// Appending again events whose ids are already stored at those versions
    /// of that stream succeeds and writes nothing.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the stream is in another state,
    /// [`StoreError::InvalidInput`] for an empty stream name or no events.
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError>;

    /// Reads up to `max` events of a stream from version `from` (inclusive;
    /// `None` is the start going forwards and the end going backwards).
    /// A stream that does not exist reads as empty.
    ///
    /// # Errors
    /// When the backend fails.
    async fn read_stream(
        &self,
        stream: &str,
        direction: Direction,
        from: Option<u64>,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Reads up to `max` events of the global log whose position is greater
    /// than `after`, in position order. Every event returned has committed,
    /// and no event with a lower position can commit later.
    ///
    /// # Errors
    /// When the backend fails.
    async fn read_all(&self, after: u64, max: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The position of the newest committed event (0 for an empty log), as a
    /// watch that changes after every commit.
    fn head(&self) -> watch::Receiver<u64>;

    /// Sets the retention metadata of a stream.
    ///
    /// # Errors
    /// When the backend fails or the stream name is empty.
    async fn set_stream_metadata(&self, stream: &str, metadata: StreamMetadata) -> Result<(), StoreError>;

    /// The retention metadata of a stream (default when never set).
    ///
    /// # Errors
    /// When the backend fails.
    async fn stream_metadata(&self, stream: &str) -> Result<StreamMetadata, StoreError>;

    /// Subscribes to the global log after `after`: first the events already
    /// stored, then live ones, without gap or duplicate.
    fn subscribe_all(self: Arc<Self>, after: u64) -> Subscription {
        crate::catch_up(self, after)
    }
}

/// Checks a stream name given to a write.
pub(crate) fn validate_stream(stream: &str) -> Result<(), StoreError> {
    if stream.trim().is_empty() {
        return Err(StoreError::InvalidInput("stream name is empty".into()));
    }
    Ok(())
}

/// Checks the arguments common to every append.
pub(crate) fn validate_append(stream: &str, events: &[EventData]) -> Result<(), StoreError> {
    validate_stream(stream)?;
    if events.is_empty() {
        return Err(StoreError::InvalidInput("no events to append".into()));
    }
    Ok(())
}
