//! Events, aggregates and business rules of the groupware suite, as pure code:
//! no I/O, no clock, no random ids. Time and new ids arrive inside commands.

pub mod aggregate;
pub mod approval;
pub mod audit;
pub mod downloads;
pub mod error;
pub mod hr;
pub mod mail;
pub mod organisation;
pub mod reaction;
pub mod registry;
pub mod tenant;
pub mod timer;
pub mod values;

#[cfg(test)]
mod testing;

pub use aggregate::{Actor, Aggregate, DomainEvent, Sealing, event_schemas};
pub use error::{DomainError, ErrorKind};
