//! The GraphQL server of the groupware suite: HTTP wiring (actix-web), the
//! schema (async-graphql), authentication, and the start-up of every part.

mod app;
mod auth;
mod backups;
mod boundary;
pub mod capabilities;
mod errors;
mod graphiql;
mod http;
mod inbound;
mod metrics;
pub mod schema;
mod secrets;
mod settings;
mod workers;

pub use app::{Application, Services, rebuild_read_models};
pub use settings::{ClockKind, EventStoreKind, ReadModelKind, Settings};
