//! Reactions: what a recorded event causes elsewhere, as pure functions.
//!
//! A capability's reaction takes an event of one of its aggregates and
//! answers with the follow-ups it calls for: commands for other streams,
//! each under a command id derived from the event (so that carrying a
//! follow-up out twice has one effect), or a read of a stream's current
//! state whose answer decides the commands. No I/O happens here: the
//! command side carries the follow-ups out, in the background for every
//! event and in a request for the events it wrote when the answer must
//! show them.

use std::any::Any;
use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Aggregate;

/// What a reaction knows of the event it reacts to, besides the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    pub event_id: Uuid,
    /// The id of the event's stream (`<category>-<id>`).
    pub stream_id: Uuid,
    pub tenant: Option<Uuid>,
    pub recorded_at: DateTime<Utc>,
}

/// A command for the stream `<category>-<stream_id>`, type-erased so that
/// one list holds commands of every aggregate.
pub struct Issue {
    pub category: &'static str,
    pub stream_id: Uuid,
    pub command_id: Uuid,
    pub command: Box<dyn Any + Send + Sync>,
    described: String,
}

/// What a read does with the state read.
type Then = Box<dyn Fn(&dyn Any) -> Vec<FollowUp> + Send + Sync>;

/// A read of the current state of `<category>-<stream_id>`, and what to do
/// with it.
pub struct Read {
    pub category: &'static str,
    pub stream_id: Uuid,
    then: Then,
}

/// One step a reaction calls for. Carrying it out again has no further
/// effect: its commands carry ids derived from what caused them.
pub enum FollowUp {
    Issue(Issue),
    Read(Read),
}

impl FollowUp {
    /// `command` for `A`'s stream `stream_id`, under `command_id`.
    pub fn command<A: Aggregate>(stream_id: Uuid, command_id: Uuid, command: A::Command) -> Self
    where
        A::Command: Clone + fmt::Debug,
    {
        let described = format!("{command:?}");
        FollowUp::Issue(Issue { category: A::CATEGORY, stream_id, command_id, command: Box::new(command), described })
    }

    /// Reads the current state of `A`'s stream `stream_id` (the default
    /// state when it has no events), then follows `then`.
    pub fn after_reading<A: Aggregate>(
        stream_id: Uuid,
        then: impl Fn(&A) -> Vec<FollowUp> + Send + Sync + 'static,
    ) -> Self {
        FollowUp::Read(Read {
            category: A::CATEGORY,
            stream_id,
            then: Box::new(move |state| state.downcast_ref::<A>().map(&then).unwrap_or_default()),
        })
    }

    /// The command, when this is a command for `A`: its stream id, command
    /// id and command.
    pub fn as_command<A: Aggregate>(&self) -> Option<(Uuid, Uuid, &A::Command)> {
        match self {
            FollowUp::Issue(issue) if issue.category == A::CATEGORY => {
                issue.command.downcast_ref::<A::Command>().map(|c| (issue.stream_id, issue.command_id, c))
            }
            _ => None,
        }
    }
}

impl Read {
    /// The follow-ups, given the state read (none when it is not of the
    /// aggregate read). May be asked again, after a failure say.
    pub fn then(&self, state: &dyn Any) -> Vec<FollowUp> {
        (self.then)(state)
    }

    /// The follow-ups, given the state of `A` read (none when this is a
    /// read of another aggregate).
    pub fn then_with<A: Aggregate>(&self, state: &A) -> Vec<FollowUp> {
        if self.category == A::CATEGORY { self.then(state) } else { Vec::new() }
    }
}

impl fmt::Debug for FollowUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FollowUp::Issue(issue) => write!(
                f,
                "{}-{} <- {} (command {})",
                issue.category, issue.stream_id, issue.described, issue.command_id
            ),
            FollowUp::Read(read) => write!(f, "read {}-{}", read.category, read.stream_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timer::{Timer, TimerCommand};

    fn at() -> DateTime<Utc> {
        "2026-11-28T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_command_follow_up_gives_back_its_typed_command() {
        let (timer, command_id) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let command = TimerCommand::Schedule { timer_id: timer, due: at(), kind: "k".into(), payload: "{}".into() };
        let follow_up = FollowUp::command::<Timer>(timer, command_id, command.clone());
        assert_eq!(follow_up.as_command::<Timer>(), Some((timer, command_id, &command)));
        assert!(format!("{follow_up:?}").starts_with("timer-"), "{follow_up:?}");
    }

    #[test]
    fn a_read_decides_its_follow_ups_on_the_state_read() {
        let timer = Uuid::from_u128(1);
        let read = FollowUp::after_reading::<Timer>(timer, move |state: &Timer| {
            if state.id.is_some() {
                vec![]
            } else {
                vec![FollowUp::command::<Timer>(timer, timer, TimerCommand::Cancel)]
            }
        });
        let FollowUp::Read(read) = read else { panic!("a read") };
        assert_eq!((read.category, read.stream_id), (Timer::CATEGORY, timer));
        let follow_ups = read.then_with(&Timer::default());
        assert_eq!(follow_ups.len(), 1);
        assert_eq!(follow_ups[0].as_command::<Timer>().map(|(_, _, c)| c), Some(&TimerCommand::Cancel));
    }
}
