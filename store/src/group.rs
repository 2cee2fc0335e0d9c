//! Requests to a group-committing writer, shared by the adapters that have
//! one (embedded, PostgreSQL): a group is decided and committed as one
//! transaction, then every caller gets its own answer — or, when the commit
//! failed, the failure.

use tokio::sync::oneshot;

use crate::cold::ColdSegment;
use crate::{AppendResult, EventData, ExpectedVersion, StoreError, StreamMetadata};

/// The most requests one group commit takes.
pub(crate) const MAX_GROUP: usize = 1024;

pub(crate) enum Request {
    Append {
        stream: String,
        expected: ExpectedVersion,
        events: Vec<EventData>,
        reply: oneshot::Sender<Result<AppendResult, StoreError>>,
    },
    SetMetadata {
        stream: String,
        metadata: StreamMetadata,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Moves a segment of a company's history out of the log (a writer
    /// that does it otherwise answers it with a refusal).
    Purge {
        segment: ColdSegment,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
}

/// What one request of a committed group came to.
pub(crate) enum Outcome {
    Append(Result<AppendResult, StoreError>),
    Metadata(Result<(), StoreError>),
    Purge(Result<u64, StoreError>),
}

impl Request {
    /// The stream a request writes to (none for a purge).
    #[cfg(feature = "postgres")]
    pub(crate) fn stream(&self) -> &str {
        match self {
            Request::Append { stream, .. } | Request::SetMetadata { stream, .. } => stream,
            Request::Purge { .. } => "",
        }
    }

    fn answer(self, outcome: Result<Outcome, StoreError>) {
        let mixed_up = || StoreError::Unavailable("the writer mixed up its answers".into());
        match self {
            Request::Append { reply, .. } => drop(reply.send(match outcome {
                Ok(Outcome::Append(result)) => result,
                Ok(_) => Err(mixed_up()),
                Err(failure) => Err(failure),
            })),
            Request::SetMetadata { reply, .. } => drop(reply.send(match outcome {
                Ok(Outcome::Metadata(result)) => result,
                Ok(_) => Err(mixed_up()),
                Err(failure) => Err(failure),
            })),
            Request::Purge { reply, .. } => drop(reply.send(match outcome {
                Ok(Outcome::Purge(result)) => result,
                Ok(_) => Err(mixed_up()),
                Err(failure) => Err(failure),
            })),
        }
    }
}

/// Answers every request of `group`: each with its outcome, in order, or all
/// with the failure that kept the group from committing.
pub(crate) fn answer_all(group: Vec<Request>, outcomes: Result<Vec<Outcome>, StoreError>) {
    match outcomes {
        Ok(outcomes) => group.into_iter().zip(outcomes).for_each(|(r, o)| r.answer(Ok(o))),
        Err(failure) => group.into_iter().for_each(|r| r.answer(Err(failure.clone()))),
    }
}
