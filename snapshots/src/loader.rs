//! State = snapshot + the events after it.

use serde::de::DeserializeOwned;
use store::{Direction, EventStore, RecordedEvent};

use crate::{SnapshotError, SnapshotStore};

/// Events read per page while folding a stream.
const PAGE: usize = 1000;

/// A loaded state and the version of the last event folded into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<S> {
    pub state: S,
    /// `None` when the stream has no events.
    pub version: Option<u64>,
    /// The version of the snapshot used, if one was.
    pub snapshot_version: Option<u64>,
}

/// Loads the state of `stream`: the latest snapshot of `schema_version` (if
/// `snapshots` has one) folded with every newer event through `fold`.
///
/// # Errors
/// When a store fails or `fold` refuses an event.
pub async fn load<S, F>(
    events: &dyn EventStore,
    snapshots: Option<&dyn SnapshotStore>,
    stream: &str,
    schema_version: u32,
    fold: F,
) -> Result<Loaded<S>, SnapshotError>
where
    S: Default + DeserializeOwned,
    F: Fn(S, &RecordedEvent) -> Result<S, String>,
{
    let mut loaded = Loaded { state: S::default(), version: None, snapshot_version: None };
    if let Some(snapshots) = snapshots {
        match snapshots.load(stream).await {
            Ok(Some(s)) if s.schema_version == schema_version => {
                if let Ok(state) = serde_json::from_slice(&s.state) {
                    loaded = Loaded { state, version: Some(s.version), snapshot_version: Some(s.version) };
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(stream, error = %e, "snapshot not loaded; folding from the start"),
        }
    }
    catch_up(events, stream, loaded, fold).await
}

/// `loaded` folded with the events of `stream` after its version: the
/// stored state, for the cost of reading what it lacks.
///
/// # Errors
/// When the store fails or `fold` refuses an event.
pub async fn catch_up<S, F>(
    events: &dyn EventStore,
    stream: &str,
    mut loaded: Loaded<S>,
    fold: F,
) -> Result<Loaded<S>, SnapshotError>
where
    S: Default,
    F: Fn(S, &RecordedEvent) -> Result<S, String>,
{
    loop {
        let from = loaded.version.map_or(0, |v| v + 1);
        let page = events.read_stream(stream, Direction::Forwards, Some(from), PAGE).await?;
        let full = page.len() == PAGE;
        for event in &page {
            let state = std::mem::take(&mut loaded.state);
            loaded.state = fold(state, event).map_err(|reason| SnapshotError::Fold {
                stream: stream.to_owned(),
                position: event.position,
                reason,
            })?;
            loaded.version = Some(event.version);
        }
        if !full {
            return Ok(loaded);
        }
    }
}
