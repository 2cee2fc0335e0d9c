//! The shape every aggregate has: a pure `decide` and a pure `evolve`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::DomainError;

/// Who asks for a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// Nobody is logged in (sign-up, for example).
    Anonymous,
    /// A user of the tenant the command is for.
    User(Uuid),
    /// The system itself (scheduler, process managers).
    System,
}

impl Actor {
    /// The user id, when a user acts.
    pub fn user(&self) -> Option<Uuid> {
        match self {
            Actor::User(id) => Some(*id),
            _ => None,
        }
    }
}

/// An event of an aggregate: a fact in the past tense with a stable name.
pub trait DomainEvent: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The stable, stored name of the event (never follows a Rust rename).
    fn event_type(&self) -> &'static str;

    /// The schema version of the event's payload as written today.
    fn schema_version(&self) -> u32 {
        1
    }

    /// Whose key seals this event of the stream of `id` when it is not the
    /// stream's (see [`Sealing`]); `None`: as the stream's.
    fn sealing(&self, id: Uuid) -> Option<Sealing> {
        let _ = id;
        None
    }
}

/// Whose key seals what a stream stores (its events and snapshots).
/// Destroying a key makes what it sealed unreadable for good while the log
/// stays whole (crypto-shredding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealing {
    /// The company's key: the company's records, unreadable once the
    /// company is terminated (rule B3).
    Company,
    /// The company's key for mail between colleagues: what several of its
    /// people hold, which only they read (rule E7 opens it to admins and
    /// auditors with the secure-mail add-on, so it is kept apart from the
    /// company's records); unreadable once the company is terminated.
    CompanyMail,
    /// The key of the person whose id is the stream's: their own data,
    /// unreadable once they are deleted (rule U1).
    Owner,
    /// No key: what must stay readable whatever is deleted (the registry
    /// of mail domains, signed checkpoints of the log).
    Clear,
}

/// A consistency boundary: state that decides commands and evolves by events.
pub trait Aggregate: Default + Clone + Serialize + DeserializeOwned + Send + Sync + 'static {
    type Command: Send + Sync + 'static;
    type Event: DomainEvent;

    /// The stream category: streams are named `<CATEGORY>-<id>`.
    const CATEGORY: &'static str;
    /// The version of the state's serialised form; snapshots of another
    /// version are ignored.
    const SNAPSHOT_VERSION: u32;
    /// Whose key seals the stream's events and snapshots.
    const SEALING: Sealing = Sealing::Company;

    /// Whether `actor` may issue `command` against this state.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] or [`DomainError::Unauthenticated`].
    fn authorize(&self, actor: &Actor, command: &Self::Command) -> Result<(), DomainError>;

    /// The events that `command` produces at `now`, or why it is refused.
    ///
    /// # Errors
    /// A [`DomainError`] naming the rule that refuses the command.
    fn decide(&self, command: &Self::Command, now: DateTime<Utc>) -> Result<Vec<Self::Event>, DomainError>;

    /// A command of the system for this stream that `refusal` of `command`
    /// calls for (the refused command itself leaves no trace); none by
    /// default.
    fn after_refusal(&self, command: &Self::Command, refusal: &DomainError) -> Option<Self::Command> {
        let _ = (command, refusal);
        None
    }

    /// The state after `event`.
    #[must_use]
    fn evolve(self, event: &Self::Event) -> Self;
}
