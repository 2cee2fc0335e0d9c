//! Given/when/then for aggregate tests.

use chrono::{DateTime, Utc};

use crate::{Actor, Aggregate, DomainError, ErrorKind};

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).expect("test time").with_timezone(&Utc)
}

pub struct Given<A: Aggregate> {
    state: A,
}

pub struct When<A: Aggregate> {
    result: Result<Vec<A::Event>, DomainError>,
}

pub fn given<A: Aggregate>(events: Vec<A::Event>) -> Given<A> {
    Given { state: events.iter().fold(A::default(), A::evolve) }
}

impl<A: Aggregate> Given<A> {
    pub fn when(self, actor: Actor, command: A::Command) -> When<A> {
        self.when_at(actor, command, at("2026-11-26T09:00:00+09:00"))
    }

    pub fn when_at(self, actor: Actor, command: A::Command, now: DateTime<Utc>) -> When<A> {
        let result = self.state.authorize(&actor, &command).and_then(|()| self.state.decide(&command, now));
        When { result }
    }
}

impl<A: Aggregate> When<A>
where
    A::Event: PartialEq + std::fmt::Debug,
{
    #[track_caller]
    pub fn then(self, expected: Vec<A::Event>) {
        assert_eq!(self.result, Ok(expected));
    }

    #[track_caller]
    pub fn then_refused(self, expected: DomainError) {
        assert_eq!(self.result, Err(expected));
    }

    /// Refused with an error of `kind` about `field`, whatever its words.
    #[track_caller]
    pub fn then_refused_as(self, kind: ErrorKind, field: Option<&str>) {
        match self.result {
            Err(error) => assert_eq!((error.kind(), error.field()), (kind, field), "{error}"),
            Ok(events) => panic!("expected a refusal, got {events:?}"),
        }
    }
}
