//! The EventStoreDB adapter, through the official gRPC client (`eventstore`),
//! for deployments that outgrow one machine (an EventStoreDB cluster).
//!
//! Mapping decisions:
//! - every append states its expected revision explicitly (the client's
//!   default, "any", is never relied on); metadata writes too, against the
//!   metadata stream's own revision;
//! - the global position of an event is its *prepare* position in `$all`:
//!   unique and increasing in `$all` order. Reading after position `p` starts
//!   at `(commit p, prepare p)` and passes over events at or below `p`, which
//!   neither loses nor repeats an event of a multi-event append;
//! - system events (`$`-prefixed types or streams) are never returned;
//! - our envelope's metadata (tenant, actor, command and correlation ids,
//!   client address, occurred-at, schema version) travels as the event's
//!   custom metadata, JSON-encoded;
//! - stream metadata maps to `$maxAge` and `$tb`; the server applies them,
//!   and reads apply them again with this adapter's clock, so that a manual
//!   clock moves them too.

use std::time::Duration;

use async_trait::async_trait;
use eventstore::{
    AppendToStreamOptions, Client, ClientSettings, CurrentRevision, ExpectedRevision, Position, ReadAllOptions,
    ReadStreamOptions, ResolvedEvent, StreamMetadataResult, StreamPosition, SubscribeToAllOptions, SubscriptionFilter,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::envelope::nanos;
use crate::port::{refuse_nul, validate_append, validate_stream};
use crate::{
    AppendResult, Direction, EventData, EventStore, ExpectedVersion, Metadata, Now, RecordedEvent, StoreError,
    StreamMetadata,
};

/// How long the head watcher waits before subscribing again after a failure.
const RESUBSCRIBE: Duration = Duration::from_secs(1);

/// Our metadata as the event's custom metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Envelope {
    #[serde(flatten)]
    metadata: Metadata,
    schema_version: u32,
}

/// The EventStoreDB adapter.
pub struct EventStoreDb {
    client: Client,
    head: watch::Receiver<u64>,
    now: Now,
    watcher: tokio::task::JoinHandle<()>,
}

impl Drop for EventStoreDb {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Our expected version as the client's expected revision, always explicit.
pub fn expected_revision(expected: ExpectedVersion) -> ExpectedRevision {
    match expected {
        ExpectedVersion::Any => ExpectedRevision::Any,
        ExpectedVersion::NoStream => ExpectedRevision::NoStream,
        ExpectedVersion::StreamExists => ExpectedRevision::StreamExists,
        ExpectedVersion::Exact(v) => ExpectedRevision::Exact(v),
    }
}

/// A client error as a store error.
pub fn store_error(error: eventstore::Error, stream: &str, expected: ExpectedVersion) -> StoreError {
    match error {
        eventstore::Error::WrongExpectedVersion { current, .. } => StoreError::Conflict {
            stream: stream.to_owned(),
            expected,
            actual: match current {
                CurrentRevision::Current(v) => Some(v),
                CurrentRevision::NoStream => None,
            },
        },
        eventstore::Error::ResourceDeleted => {
            StoreError::Conflict { stream: stream.to_owned(), expected, actual: None }
        }
        other => unavailable(other),
    }
}

/// Where a read of `$all` after our position `after` starts.
pub fn start_after(after: u64) -> StreamPosition<Position> {
    if after == 0 {
        StreamPosition::Start
    } else {
        StreamPosition::Position(Position { commit: after, prepare: after })
    }
}

/// Whether an event is the server's own.
pub fn is_system(stream: &str, event_type: &str) -> bool {
    stream.starts_with('$') || event_type.starts_with('$')
}

/// Our stream metadata as the server's.
pub fn to_server_metadata(metadata: StreamMetadata) -> eventstore::StreamMetadata {
    let mut builder = eventstore::StreamMetadata::builder();
    if let Some(age) = metadata.max_age_seconds {
        builder = builder.max_age(Duration::from_secs(age));
    }
    if let Some(before) = metadata.truncate_before {
        builder = builder.truncate_before(before);
    }
    builder.build()
}

/// The server's stream metadata as ours.
pub fn from_server_metadata(metadata: &eventstore::StreamMetadata) -> StreamMetadata {
    StreamMetadata { max_age_seconds: metadata.max_age.map(|d| d.as_secs()), truncate_before: metadata.truncate_before }
}

fn to_client_event(event: EventData) -> Result<eventstore::EventData, StoreError> {
    let envelope = Envelope { metadata: event.metadata, schema_version: event.schema_version };
    let custom = serde_json::to_vec(&envelope).map_err(|e| StoreError::InvalidInput(e.to_string()))?;
    Ok(eventstore::EventData::binary(event.event_type, bytes::Bytes::from(event.data))
        .id(event.id)
        .metadata(bytes::Bytes::from(custom)))
}

/// An event read from the server as ours; `None` for system events.
fn from_resolved(resolved: &ResolvedEvent) -> Option<RecordedEvent> {
    let event = resolved.event.as_ref()?;
    if is_system(&event.stream_id, &event.event_type) {
        return None;
    }
    let envelope: Option<Envelope> = serde_json::from_slice(&event.custom_metadata).ok();
    let (metadata, schema_version) = match envelope {
        Some(e) => (e.metadata, e.schema_version),
        None => (Metadata { occurred_at: event.created, ..Metadata::default() }, 1),
    };
    Some(RecordedEvent {
        id: event.id,
        stream: event.stream_id.clone(),
        version: event.revision,
        position: event.position.prepare,
        event_type: event.event_type.clone(),
        schema_version,
        data: event.data.to_vec(),
        metadata,
        recorded_at: event.created,
        // Appends to different streams are not ordered by one writer
        // here, so no chain can link them.
        chain: None,
    })
}

impl EventStoreDb {
    /// Connects to `connection_string` (`esdb://...`, TLS and credentials as
    /// the client supports them) and starts following the head of `$all`.
    ///
    /// # Errors
    /// When the connection string is malformed or the server unreachable.
    pub async fn connect(connection_string: &str, now: Now) -> Result<Self, StoreError> {
        let settings: ClientSettings = connection_string
            .parse()
            .map_err(|e: eventstore::ClientSettingsParseError| StoreError::InvalidInput(e.to_string()))?;
        let client = Client::new(settings).map_err(unavailable)?;
        let last = last_position(&client).await?;
        let (head_tx, head) = watch::channel(last);
        let watcher = tokio::spawn(follow_head(client.clone(), head_tx));
        Ok(Self { client, head, now, watcher })
    }
}

/// The position of the newest non-system event.
async fn last_position(client: &Client) -> Result<u64, StoreError> {
    let options = ReadAllOptions::default().backwards().position(StreamPosition::End).max_count(256);
    let mut stream = client.read_all(&options).await.map_err(unavailable)?;
    while let Some(resolved) = stream.next().await.map_err(unavailable)? {
        if let Some(event) = from_resolved(&resolved) {
            return Ok(event.position);
        }
    }
    Ok(0)
}

/// Moves the head with every new event of `$all`.
async fn follow_head(client: Client, head: watch::Sender<u64>) {
    let raise = |to: u64| {
        head.send_if_modified(|h| {
            let higher = to > *h;
            if higher {
                *h = to;
            }
            higher
        });
    };
    loop {
        // Events appended while no subscription ran (an election, say)
        // count too.
        if let Ok(position) = last_position(&client).await {
            raise(position);
        }
        let options = SubscribeToAllOptions::default()
            .position(StreamPosition::End)
            .filter(SubscriptionFilter::on_event_type().exclude_system_events());
        let mut subscription = client.subscribe_to_all(&options).await;
        loop {
            match subscription.next().await {
                Ok(resolved) => {
                    if let Some(event) = from_resolved(&resolved) {
                        raise(event.position);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "EventStoreDB subscription lost; subscribing again");
                    break;
                }
            }
        }
        tokio::time::sleep(RESUBSCRIBE).await;
    }
}

#[async_trait]
impl EventStore for EventStoreDb {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        validate_append(stream, &events)?;
        let events = events.into_iter().map(to_client_event).collect::<Result<Vec<_>, _>>()?;
        let options = AppendToStreamOptions::default().expected_revision(expected_revision(expected));
        let written = self
            .client
            .append_to_stream(stream, &options, events)
            .await
            .map_err(|e| store_error(e, stream, expected))?;
        let version = written.next_expected_version;
        // The write's position: waiting for it covers its last event. An
        // idempotent repetition is answered without a position (the
        // client's `Position::start()`); its last event tells where it is.
        let position = written.position.prepare.max(written.position.commit);
        if position == 0 {
            let last = self.read_stream(stream, Direction::Backwards, Some(version), 1).await?;
            let position = last.first().map_or(0, |e| e.position);
            return Ok(AppendResult { version, position, repeated: true });
        }
        Ok(AppendResult { version, position, repeated: false })
    }

    async fn read_stream(
        &self,
        stream: &str,
        direction: Direction,
        from: Option<u64>,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        refuse_nul("stream name", stream)?;
        if stream.is_empty() || max == 0 {
            return Ok(Vec::new());
        }
        let meta = self.stream_metadata(stream).await?;
        let (floor, oldest) = (meta.first_visible_version(), meta.oldest_visible_nanos((self.now)()));
        let options = match direction {
            Direction::Forwards => {
                ReadStreamOptions::default().forwards().position(StreamPosition::Position(from.unwrap_or(0).max(floor)))
            }
            Direction::Backwards => ReadStreamOptions::default()
                .backwards()
                .position(from.map_or(StreamPosition::End, StreamPosition::Position)),
        }
        .max_count(max);
        let mut read = match self.client.read_stream(stream, &options).await {
            Ok(read) => read,
            Err(eventstore::Error::ResourceNotFound) => return Ok(Vec::new()),
            Err(e) => return Err(unavailable(e)),
        };
        let mut events = Vec::new();
        loop {
            match read.next().await {
                Ok(Some(resolved)) => {
                    if let Some(event) = from_resolved(&resolved)
                        && event.version >= floor
                        && nanos(event.recorded_at) >= oldest
                    {
                        events.push(event);
                    }
                }
                Ok(None) | Err(eventstore::Error::ResourceNotFound) => break,
                Err(e) => return Err(unavailable(e)),
            }
        }
        Ok(events)
    }

    async fn read_all(&self, after: u64, max: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = Vec::new();
        let mut from = start_after(after);
        // The highest position passed so far: reads are inclusive of where
        // they start, and system events are passed over, so a page may need
        // more than one read and must not repeat an event.
        let mut seen = after;
        while events.len() < max {
            let wanted = max - events.len() + 16;
            let options = ReadAllOptions::default().forwards().position(from).max_count(wanted);
            let mut read = self.client.read_all(&options).await.map_err(unavailable)?;
            let mut got = 0;
            let mut last = None;
            while let Some(resolved) = read.next().await.map_err(unavailable)? {
                got += 1;
                let Some(recorded) = resolved.event.as_ref() else { continue };
                last = Some(recorded.position);
                if recorded.position.prepare <= seen {
                    continue;
                }
                seen = recorded.position.prepare;
                if let Some(event) = from_resolved(&resolved)
                    && events.len() < max
                {
                    events.push(event);
                }
            }
            match last {
                Some(position) if got == wanted => from = StreamPosition::Position(position),
                _ => break,
            }
        }
        Ok(events)
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }

    async fn set_stream_metadata(&self, stream: &str, metadata: StreamMetadata) -> Result<(), StoreError> {
        validate_stream(stream)?;
        // Optimistic concurrency on the metadata stream too: its own revision.
        let expected = match self.client.get_stream_metadata(stream, &latest()).await.map_err(unavailable)? {
            StreamMetadataResult::Success(versioned) => ExpectedRevision::Exact(versioned.version()),
            StreamMetadataResult::NotFound | StreamMetadataResult::Deleted => ExpectedRevision::NoStream,
        };
        let options = AppendToStreamOptions::default().expected_revision(expected);
        self.client
            .set_stream_metadata(stream, &options, &to_server_metadata(metadata))
            .await
            .map(drop)
            .map_err(|e| store_error(e, &format!("$${stream}"), ExpectedVersion::Any))
    }

    async fn stream_metadata(&self, stream: &str) -> Result<StreamMetadata, StoreError> {
        refuse_nul("stream name", stream)?;
        match self.client.get_stream_metadata(stream, &latest()).await.map_err(unavailable)? {
            StreamMetadataResult::Success(versioned) => Ok(from_server_metadata(versioned.metadata())),
            StreamMetadataResult::NotFound | StreamMetadataResult::Deleted => Ok(StreamMetadata::default()),
        }
    }
}

/// Reads the newest event of a (metadata) stream.
fn latest() -> ReadStreamOptions {
    ReadStreamOptions::default().backwards().position(StreamPosition::End).max_count(1)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn every_expected_version_maps_to_an_explicit_revision() {
        assert_eq!(expected_revision(ExpectedVersion::Any), ExpectedRevision::Any);
        assert_eq!(expected_revision(ExpectedVersion::NoStream), ExpectedRevision::NoStream);
        assert_eq!(expected_revision(ExpectedVersion::StreamExists), ExpectedRevision::StreamExists);
        assert_eq!(expected_revision(ExpectedVersion::Exact(41)), ExpectedRevision::Exact(41));
    }

    #[test]
    fn a_wrong_expected_version_is_a_conflict_and_other_errors_are_unavailability() {
        let wrong = eventstore::Error::WrongExpectedVersion {
            expected: ExpectedRevision::Exact(1),
            current: CurrentRevision::Current(3),
        };
        assert_eq!(
            store_error(wrong, "mail-1", ExpectedVersion::Exact(1)),
            StoreError::Conflict { stream: "mail-1".into(), expected: ExpectedVersion::Exact(1), actual: Some(3) }
        );
        let missing = eventstore::Error::WrongExpectedVersion {
            expected: ExpectedRevision::StreamExists,
            current: CurrentRevision::NoStream,
        };
        assert_eq!(
            store_error(missing, "mail-2", ExpectedVersion::StreamExists),
            StoreError::Conflict { stream: "mail-2".into(), expected: ExpectedVersion::StreamExists, actual: None }
        );
        assert!(matches!(
            store_error(eventstore::Error::ConnectionClosed, "mail-3", ExpectedVersion::Any),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            store_error(eventstore::Error::AccessDenied, "mail-3", ExpectedVersion::Any),
            StoreError::Unavailable(_)
        ));
    }

    #[test]
    fn reading_after_a_position_starts_there_and_zero_is_the_start() {
        assert_eq!(start_after(0), StreamPosition::Start);
        assert_eq!(start_after(1234), StreamPosition::Position(Position { commit: 1234, prepare: 1234 }));
    }

    #[test]
    fn system_events_are_recognised_by_stream_or_type() {
        assert!(is_system("$stats-127.0.0.1:2113", "$statsCollected"));
        assert!(is_system("$$mail-1", "$metadata"));
        assert!(is_system("mail-1", "$>"));
        assert!(!is_system("mail-1", "MailSent"));
        assert!(!is_system("결재-1", "ApprovalSubmitted"));
    }

    #[test]
    fn stream_metadata_maps_both_ways() {
        for ours in [
            StreamMetadata::default(),
            StreamMetadata { max_age_seconds: Some(3600), truncate_before: None },
            StreamMetadata { max_age_seconds: None, truncate_before: Some(17) },
            StreamMetadata { max_age_seconds: Some(60 * 60 * 24 * 365 * 5), truncate_before: Some(2) },
        ] {
            assert_eq!(from_server_metadata(&to_server_metadata(ours)), ours);
        }
        let server = to_server_metadata(StreamMetadata { max_age_seconds: Some(90), truncate_before: Some(3) });
        let json = serde_json::to_value(&server).unwrap();
        assert_eq!(json, serde_json::json!({ "$maxAge": 90_000, "$tb": 3 }));
    }

    #[test]
    fn our_envelope_travels_as_custom_metadata() {
        let metadata = Metadata {
            tenant: Some(Uuid::now_v7()),
            actor: Some(Uuid::now_v7()),
            command_id: Some(Uuid::now_v7()),
            correlation_id: Some(Uuid::now_v7()),
            causation_id: None,
            client_address: Some("10.0.0.1".into()),
            occurred_at: Utc::now(),
        };
        let envelope = Envelope { metadata: metadata.clone(), schema_version: 3 };
        let bytes = serde_json::to_vec(&envelope).unwrap();
        assert_eq!(serde_json::from_slice::<Envelope>(&bytes).unwrap(), envelope);
        let event = EventData {
            id: Uuid::now_v7(),
            event_type: "MailSent".into(),
            schema_version: 3,
            data: b"{}".to_vec(),
            metadata,
            seal: None,
        };
        assert!(to_client_event(event).is_ok());
    }
}
