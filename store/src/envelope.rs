//! The event envelope: what is appended, what is read back, and how appends
//! state the version they expect.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who, when and why an event was written. Stored beside every event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_address: Option<String>,
    /// When the fact happened, in UTC (the command's `now`).
    pub occurred_at: DateTime<Utc>,
}

/// An event to append. `id` is also the idempotency key: a UUID v7, or for
/// the events of a command one derived from the command id (see the
/// command pipeline).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventData {
    pub id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    /// The payload, JSON-encoded.
    pub data: Vec<u8>,
    pub metadata: Metadata,
    /// The key to store the payload sealed with (see [`crate::sealing`]);
    /// a store that does not seal ignores it.
    pub seal: Option<crate::sealing::KeyRef>,
}

impl EventData {
    /// Builds an event whose payload is `data` encoded as JSON.
    ///
    /// # Errors
    /// When `data` cannot be encoded as JSON.
    pub fn json<T: Serialize>(
        id: Uuid,
        event_type: impl Into<String>,
        schema_version: u32,
        data: &T,
        metadata: Metadata,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id,
            event_type: event_type.into(),
            schema_version,
            data: serde_json::to_vec(data)?,
            metadata,
            seal: None,
        })
    }

    /// The same event, to be stored sealed with `key`.
    #[must_use]
    pub fn sealed_with(self, key: Option<crate::sealing::KeyRef>) -> Self {
        Self { seal: key, ..self }
    }

    /// The event as a store keeps it at `version` of `stream` and `position`
    /// of the log, accepted at `recorded_at`, before it is linked into its
    /// chain.
    pub fn recorded(self, stream: &str, version: u64, position: u64, recorded_at: DateTime<Utc>) -> RecordedEvent {
        RecordedEvent {
            id: self.id,
            stream: stream.to_owned(),
            version,
            position,
            event_type: self.event_type,
            schema_version: self.schema_version,
            data: self.data,
            metadata: self.metadata,
            recorded_at,
            chain: None,
        }
    }
}

/// An event as stored: its envelope plus the place it got in its stream and in
/// the global log.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub id: Uuid,
    pub stream: String,
    /// 0-based version of the event within its stream.
    pub version: u64,
    /// 1-based position in the global log; strictly increasing in commit order.
    pub position: u64,
    pub event_type: String,
    pub schema_version: u32,
    pub data: Vec<u8>,
    pub metadata: Metadata,
    /// When the store accepted the event.
    pub recorded_at: DateTime<Utc>,
    /// The link of the event in its company's hash chain (see
    /// [`crate::chain`]); `None` in a store that keeps no chain.
    pub chain: Option<crate::chain::ChainHash>,
}

impl RecordedEvent {
    /// Decodes the JSON payload.
    ///
    /// # Errors
    /// When the payload is not a valid `T`.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.data)
    }

    /// Whether the payload was sealed with a key since destroyed: it reads
    /// as nothing.
    pub fn is_shredded(&self) -> bool {
        self.data == crate::sealing::SHREDDED
    }

    /// The category of the stream: the part before the first `-`.
    pub fn category(&self) -> &str {
        stream_parts(&self.stream).0
    }

    /// The id of the stream's aggregate: the part after the first `-`, when
    /// it is a UUID.
    pub fn stream_id(&self) -> Option<Uuid> {
        stream_parts(&self.stream).1
    }
}

/// A stream name's category (the part before the first `-`) and its
/// aggregate's id (the part after it, when it is a UUID).
pub fn stream_parts(stream: &str) -> (&str, Option<Uuid>) {
    match stream.split_once('-') {
        Some((category, id)) => (category, Uuid::parse_str(id).ok()),
        None => (stream, None),
    }
}

/// The state a stream must be in for an append to go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check at all.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must have at least one event.
    StreamExists,
    /// The stream's last event must have exactly this version.
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream at `current` (`None`: no stream) is in this state.
    pub fn admits(self, current: Option<u64>) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current.is_none(),
            ExpectedVersion::StreamExists => current.is_some(),
            ExpectedVersion::Exact(v) => current == Some(v),
        }
    }

    /// The version an append with this expectation would have started at if
    /// it was already made, given the stream's `current` version and
    /// `stored_first`, which finds the version of the append's first event
    /// in the stream. `None`: it cannot be a repetition.
    pub fn repeated_from(self, current: Option<u64>, stored_first: impl FnOnce() -> Option<u64>) -> Option<u64> {
        let current = current?;
        match self {
            ExpectedVersion::Exact(v) if v >= current => None,
            ExpectedVersion::Exact(v) => Some(v + 1),
            ExpectedVersion::NoStream => Some(0),
            ExpectedVersion::Any | ExpectedVersion::StreamExists => stored_first(),
        }
    }
}

/// The outcome of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// Version of the last event of the append (the next expected version).
    pub version: u64,
    /// Global position of the last event of the append.
    pub position: u64,
    /// Whether the events were already stored (an idempotent repetition:
    /// nothing was written, and the stored events, not the ones given, are
    /// those at these versions).
    pub repeated: bool,
}

/// Which way to read a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forwards,
    Backwards,
}

/// Retention settings of one stream. Reads of the stream hide events that
/// are older than `max_age` or whose version is below `truncate_before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StreamMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate_before: Option<u64>,
}

impl StreamMetadata {
    /// The lowest version a read of the stream shows.
    pub fn first_visible_version(&self) -> u64 {
        self.truncate_before.unwrap_or(0)
    }

    /// The oldest recording time (nanoseconds since the epoch) a read of the
    /// stream shows at `now`.
    pub fn oldest_visible_nanos(&self, now: DateTime<Utc>) -> i64 {
        self.max_age_seconds.map_or(i64::MIN, |age| {
            nanos(now).saturating_sub(i64::try_from(age).unwrap_or(i64::MAX).saturating_mul(1_000_000_000))
        })
    }
}

/// A time as nanoseconds since the epoch, the stored form (good until 2262).
pub fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}
