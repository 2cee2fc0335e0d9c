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
pub trait DomainEvent: Serialize + DeserializeOwned + schemars::JsonSchema + Clone + Send + Sync + 'static {
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

/// The JSON Schema (draft 2020-12) of the payload of each event type of
/// `E`, by its stored name: one per variant of the tagged enum, with the
/// definitions it refers to (what an archive's reader years later checks
/// its events against).
pub fn event_schemas<E: DomainEvent>() -> Vec<(String, serde_json::Value)> {
    let root = schemars::schema_for!(E).to_value();
    let definitions = root.get("$defs").cloned();
    let variants = match root.get("oneOf").and_then(serde_json::Value::as_array) {
        Some(variants) => variants.clone(),
        None => vec![root.clone()],
    };
    variants
        .into_iter()
        .filter_map(|mut variant| {
            let name = variant.pointer("/properties/type/const")?.as_str()?.to_owned();
            let schema = variant.as_object_mut()?;
            schema.insert("$schema".into(), root.get("$schema").cloned().unwrap_or_default());
            schema.insert("title".into(), name.clone().into());
            if let Some(definitions) = &definitions {
                schema.insert("$defs".into(), definitions.clone());
            }
            Some((name, variant))
        })
        .collect()
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
    /// Whether the commands that arrive at one stream while it is being
    /// written go together in one append (each decided on the state the
    /// ones before it left): for a stream many commands of a company write
    /// at once, in turn, such as its document numbers.
    const BATCHES: bool = false;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::CheckpointEvent;
    use crate::mail::MailboxEvent;

    #[test]
    fn each_event_type_has_a_json_schema_of_its_payload() {
        let mail: std::collections::BTreeMap<String, serde_json::Value> =
            event_schemas::<MailboxEvent>().into_iter().collect();
        let sent = &mail["MailSent"];
        assert_eq!(sent["title"], "MailSent");
        assert_eq!(sent["$schema"], "https://json-schema.org/draft/2020-12/schema", "{sent}");
        let required: Vec<&str> = sent["required"].as_array().unwrap().iter().filter_map(|r| r.as_str()).collect();
        assert!(required.contains(&"mail") && required.contains(&"sent_at") && required.contains(&"type"), "{sent}");
        assert!(sent["$defs"].get("OutgoingMail").is_some(), "{sent}");
        assert!(mail.contains_key("MailRecalled") && mail.contains_key("MailReceived"));
        // A newtype variant, and an enum of one variant.
        let checkpoint = event_schemas::<CheckpointEvent>();
        assert_eq!(checkpoint.len(), 1);
        assert_eq!(checkpoint[0].0, "CheckpointSigned", "{}", checkpoint[0].1);
    }
}
