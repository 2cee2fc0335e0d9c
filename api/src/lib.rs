//! The GraphQL server of the groupware suite: HTTP wiring (actix-web), the
//! schema (async-graphql), authentication, and the start-up of every part.

mod app;
mod auth;
mod backend;
mod backups;
mod boundary;
mod capabilities;
pub mod cli;
mod errors;
mod graphiql;
mod http;
mod inbound;
mod metrics;
mod renderings;
mod rest;
pub mod schema;
mod secrets;
mod settings;
mod workers;

pub use app::Application;
pub use backend::Backend;
pub use schema::projectors;
pub use settings::{ClockKind, EventStoreKind, ReadModelKind, Settings};
