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

/// An event to append. `id` (a UUID v7) is also the idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct EventData {
    pub id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    /// The payload, JSON-encoded.
    pub data: Vec<u8>,
    pub metadata: Metadata,
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
        Ok(Self { id, event_type: event_type.into(), schema_version, data: serde_json::to_vec(data)?, metadata })
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
}

impl RecordedEvent {
    /// Decodes the JSON payload.
    ///
    /// # Errors
    /// When the payload is not a valid `T`.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.data)
    }

    /// The category of the stream: the part before the first `-`.
    pub fn category(&self) -> &str {
        self.stream.split_once('-').map_or(&self.stream, |(c, _)| c)
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

/// The outcome of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// Version of the last event of the append (the next expected version).
    pub version: u64,
    /// Global position of the last event of the append.
    pub position: u64,
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
