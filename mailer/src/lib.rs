//! Mail transport: the outbox that delivers external copies through an SMTP
//! relay, the parser of inbound RFC 5322 messages, and the rendering of
//! mails as such messages.

pub mod inbound;
mod outbox;
mod relay;
mod render;

pub use outbox::{Outbox, WaitingCopy, attachments};
pub use relay::{Relay, RelayError};
pub use render::{render, render_received};
