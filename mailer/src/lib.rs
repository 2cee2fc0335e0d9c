//! Mail transport: the outbox that delivers external copies through an SMTP
//! relay, and the parser of inbound RFC 5322 messages.

pub mod inbound;
mod outbox;
mod relay;
mod render;

pub use outbox::Outbox;
pub use relay::{Relay, RelayError};
pub use render::render;
