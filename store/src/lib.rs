//! The event store port and its adapters.
//!
//! Everything the rest of the system knows about persistence of events goes
//! through [`EventStore`]: append with an expected version, read a stream,
//! read and subscribe to the global log, and per-stream retention metadata.
//! The embedded SQLite adapter ([`sqlite::SqliteEventStore`]) is the default;
//! [`conformance`] holds the suite that every adapter must pass.

pub mod chain;
pub mod cold;
pub mod conformance;
mod envelope;
mod error;
#[cfg(feature = "eventstoredb")]
pub mod eventstoredb;
mod group;
mod port;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sealing;
pub mod sqlite;
mod subscription;

pub use envelope::{
    AppendResult, Direction, EventData, ExpectedVersion, Metadata, RecordedEvent, StreamMetadata, stream_parts,
};
pub use error::StoreError;
pub use port::{EventStore, Now, Written, system_now};
pub use subscription::{Subscription, catch_up, follow};
