//! The event store port: the trait every adapter implements.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::cold::ColdSegment;
use crate::{
    AppendResult, Direction, EventData, ExpectedVersion, RecordedEvent, StoreError, StreamMetadata, Subscription,
};

/// The time source of an adapter (for `recorded_at` and `max_age`).
pub type Now = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The wall clock.
pub fn system_now() -> Now {
    Arc::new(Utc::now)
}

/// Whether `store` holds events of `stream` after `version`, by reading one.
pub(crate) async fn reads_events_after<S: EventStore + ?Sized>(
    store: &S,
    stream: &str,
    version: Option<u64>,
) -> Result<bool, StoreError> {
    let from = version.map_or(0, |v| v + 1);
    Ok(!store.read_stream(stream, Direction::Forwards, Some(from), 1).await?.is_empty())
}

/// Where the events of one command were written: the first stream holding
/// one of them, from which version, how many there, and the position of
/// the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub stream: String,
    pub first_version: u64,
    pub count: u64,
    pub position: u64,
}

impl Written {
    /// From the `(stream, version, position)` of every event carrying a
    /// command's id, in position order; `None` for none.
    pub fn of(events: impl IntoIterator<Item = (String, u64, u64)>) -> Option<Self> {
        let mut events = events.into_iter();
        let (stream, first_version, mut position) = events.next()?;
        let mut count = 1;
        for (_, _, at) in events.filter(|(other, ..)| *other == stream) {
            count += 1;
            position = at;
        }
        Some(Self { stream, first_version, count, position })
    }
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
    /// [`StoreError::InvalidInput`] for an empty stream name, no events, or
    /// NUL in the stream name, an event type or a client address.
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
    /// [`StoreError::InvalidInput`] for a stream name holding NUL; when the
    /// backend fails.
    async fn read_stream(
        &self,
        stream: &str,
        direction: Direction,
        from: Option<u64>,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The events one append wrote: `count` events of `stream` from version
    /// `first_version`, the last at `position`. A store that keeps its
    /// newest events serves them without reading.
    ///
    /// # Errors
    /// As [`Self::read_stream`].
    async fn read_appended(
        &self,
        stream: &str,
        first_version: u64,
        count: usize,
        position: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let _ = position;
        self.read_stream(stream, Direction::Forwards, Some(first_version), count).await
    }

    /// Whether `stream` holds events after `version` (`None`: any event),
    /// so that a state at `version` is known to be the newest without
    /// reading events. A store that knows its streams' newest versions
    /// answers from memory; the others read for one.
    ///
    /// # Errors
    /// As [`Self::read_stream`].
    async fn has_events_after(&self, stream: &str, version: Option<u64>) -> Result<bool, StoreError> {
        reads_events_after(self, stream, version).await
    }

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
    /// [`StoreError::InvalidInput`] for a stream name holding NUL; when the
    /// backend fails.
    async fn stream_metadata(&self, stream: &str) -> Result<StreamMetadata, StoreError>;

    /// The newest link of each company's hash chain (see [`crate::chain`]),
    /// as committed; `None` from a store that keeps no chain.
    ///
    /// # Errors
    /// When the backend fails.
    async fn chain_heads(&self) -> Result<Option<Vec<crate::chain::ChainHead>>, StoreError> {
        Ok(None)
    }

    /// Whether the store finds the events of a command by its id
    /// ([`EventStore::find_command`]); one that does not leaves its readers
    /// to follow the log for command ids.
    fn indexes_commands(&self) -> bool {
        false
    }

    /// Where the events carrying `command` as their command id are, in the
    /// live log, when the store indexes them ([`EventStore::indexes_commands`]);
    /// `None` otherwise and for a command no event carries.
    ///
    /// # Errors
    /// When the backend fails.
    async fn find_command(&self, command: uuid::Uuid) -> Result<Option<Written>, StoreError> {
        let _ = command;
        Ok(None)
    }

    /// Moves a company's oldest events out of the live log (see
    /// [`crate::cold`]): removes its events from `first_position` to
    /// `last_position` and records `segment` in their place, in one
    /// transaction, and answers how many events left. The live log must
    /// hold what the segment says the file holds: none of the company's
    /// events before the range (a segment goes on from the one before it),
    /// its event at each end, `events` of them in the range, and the link
    /// of the last equal to the anchor; otherwise nothing is removed.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for a segment that does not match the
    /// log (see [`ColdSegment::validate`]), or from a store that moves
    /// nothing out; when the backend fails.
    async fn purge(&self, segment: &ColdSegment) -> Result<u64, StoreError> {
        let _ = segment;
        Err(StoreError::InvalidInput("this event store keeps every event; it moves none out of the log".into()))
    }

    /// The segments moved out of the live log, in position order.
    ///
    /// # Errors
    /// When the backend fails.
    async fn cold_segments(&self) -> Result<Vec<ColdSegment>, StoreError> {
        Ok(Vec::new())
    }

    /// Subscribes to the global log after `after`: first the events already
    /// stored, then live ones, without gap or duplicate.
    fn subscribe_all(self: Arc<Self>, after: u64) -> Subscription {
        crate::catch_up(self, after)
    }
}

/// Refuses NUL in text the log keeps in columns of its own (stream names,
/// event types, client addresses): PostgreSQL's text cannot hold it, so no
/// adapter takes it, and a read for such a name is refused alike. (Event
/// data is bytes and may hold anything.)
pub(crate) fn refuse_nul(what: &str, text: &str) -> Result<(), StoreError> {
    if text.contains('\0') {
        return Err(StoreError::InvalidInput(format!("a {what} cannot hold NUL")));
    }
    Ok(())
}

/// Checks a stream name given to a write.
pub(crate) fn validate_stream(stream: &str) -> Result<(), StoreError> {
    if stream.trim().is_empty() {
        return Err(StoreError::InvalidInput("stream name is empty".into()));
    }
    refuse_nul("stream name", stream)
}

/// Checks the arguments common to every append.
pub(crate) fn validate_append(stream: &str, events: &[EventData]) -> Result<(), StoreError> {
    validate_stream(stream)?;
    if events.is_empty() {
        return Err(StoreError::InvalidInput("no events to append".into()));
    }
    for event in events {
        refuse_nul("event type", &event.event_type)?;
        if let Some(address) = &event.metadata.client_address {
            refuse_nul("client address", address)?;
        }
    }
    Ok(())
}
