//! The event store that seals the payloads its appends name a key for and
//! opens them for every reader.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};

use super::{Opened, SHREDDED, Sealer};
use crate::chain::ChainHead;
use crate::{
    AppendResult, Direction, EventData, EventStore, ExpectedVersion, RecordedEvent, StoreError, StreamMetadata,
    Subscription,
};

/// Wraps a store: an event appended with [`EventData::seal`] is stored
/// sealed with that key, and every read (streams, the log, subscriptions)
/// returns payloads opened — or [`SHREDDED`] where the key was destroyed.
/// The store below sees only sealed bytes, and chains them.
pub struct Sealed {
    inner: Arc<dyn EventStore>,
    sealer: Arc<Sealer>,
}

impl Sealed {
    pub fn new(inner: Arc<dyn EventStore>, sealer: Arc<Sealer>) -> Self {
        Self { inner, sealer }
    }
}

/// Opens every payload of `events` in place.
async fn open_all(sealer: &Sealer, events: &mut [RecordedEvent]) -> Result<(), StoreError> {
    for event in events {
        match sealer.open(event.id.as_bytes(), &event.data).await? {
            Opened::Clear => {}
            Opened::Plain(plain) => event.data = plain,
            Opened::Shredded => event.data = SHREDDED.to_vec(),
        }
    }
    Ok(())
}

#[async_trait]
impl EventStore for Sealed {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        mut events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        for event in &mut events {
            if let Some(key) = event.seal.take() {
                if event.metadata.tenant != Some(key.tenant) {
                    return Err(StoreError::InvalidInput("a payload sealed for another company".into()));
                }
                event.data = self.sealer.seal(key, event.id.as_bytes(), &event.data).await?;
            }
        }
        self.inner.append(stream, expected, events).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        direction: Direction,
        from: Option<u64>,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self.inner.read_stream(stream, direction, from, max).await?;
        open_all(&self.sealer, &mut events).await?;
        Ok(events)
    }

    async fn read_appended(
        &self,
        stream: &str,
        first_version: u64,
        count: usize,
        position: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self.inner.read_appended(stream, first_version, count, position).await?;
        open_all(&self.sealer, &mut events).await?;
        Ok(events)
    }

    async fn has_events_after(&self, stream: &str, version: Option<u64>) -> Result<bool, StoreError> {
        self.inner.has_events_after(stream, version).await
    }

    async fn read_all(&self, after: u64, max: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self.inner.read_all(after, max).await?;
        open_all(&self.sealer, &mut events).await?;
        Ok(events)
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.inner.head()
    }

    async fn set_stream_metadata(&self, stream: &str, metadata: StreamMetadata) -> Result<(), StoreError> {
        self.inner.set_stream_metadata(stream, metadata).await
    }

    async fn stream_metadata(&self, stream: &str) -> Result<StreamMetadata, StoreError> {
        self.inner.stream_metadata(stream).await
    }

    fn indexes_commands(&self) -> bool {
        self.inner.indexes_commands()
    }

    async fn find_command(&self, command: uuid::Uuid) -> Result<Option<crate::Written>, StoreError> {
        self.inner.find_command(command).await
    }

    async fn chain_heads(&self) -> Result<Option<Vec<ChainHead>>, StoreError> {
        self.inner.chain_heads().await
    }

    async fn purge(&self, segment: &crate::cold::ColdSegment) -> Result<u64, StoreError> {
        self.inner.purge(segment).await
    }

    async fn cold_segments(&self) -> Result<Vec<crate::cold::ColdSegment>, StoreError> {
        self.inner.cold_segments().await
    }

    /// The store below's subscription (which may read ahead in parallel),
    /// each batch opened on the way.
    fn subscribe_all(self: Arc<Self>, after: u64) -> Subscription {
        let mut below = self.inner.clone().subscribe_all(after);
        let (sender, receiver) = mpsc::channel(2);
        tokio::spawn(async move {
            while let Some(batch) = below.next_batch().await {
                let batch = match batch {
                    Ok(mut batch) => open_all(&self.sealer, &mut batch).await.map(|()| batch),
                    Err(e) => Err(e),
                };
                let failed = batch.is_err();
                if sender.send(batch).await.is_err() || failed {
                    return;
                }
            }
        });
        Subscription::from_channel(receiver)
    }
}
