//! The read side: projectors turn events into read-model changes, runners
//! feed them from the event store, read-model stores keep the rows together
//! with each projector's checkpoint.

pub mod conformance;
mod memory;
mod model;
#[cfg(feature = "postgres")]
mod postgres;
pub mod projectors;
mod runner;
mod sqlite;
mod table;

pub use memory::MemoryReadModels;
pub use model::{Change, Claim, ProjectionError, ReadModelStore, Row, Transaction};
#[cfg(feature = "postgres")]
pub use postgres::PostgresReadModels;
pub use runner::{Progress, Projections, Projector, Stopped, dump, rebuild, rebuild_with};
pub use sqlite::SqliteReadModels;
pub use table::{Counts, Table};
