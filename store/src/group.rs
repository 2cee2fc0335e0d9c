//! Requests to a group-committing writer, shared by the adapters that have
//! one (embedded, PostgreSQL): a group is decided and committed as one
//! transaction, then every caller gets its own answer — or, when the commit
//! failed, the failure.

use tokio::sync::oneshot;

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
}

/// What one request of a committed group came to.
pub(crate) enum Outcome {
    Append(Result<AppendResult, StoreError>),
    Metadata(Result<(), StoreError>),
}

impl Request {
    #[cfg(feature = "postgres")]
    pub(crate) fn stream(&self) -> &str {
        match self {
            Request::Append { stream, .. } | Request::SetMetadata { stream, .. } => stream,
        }
    }

    fn answer(self, outcome: Result<Outcome, StoreError>) {
        match (self, outcome) {
            (Request::Append { reply, .. }, Ok(Outcome::Append(result))) => drop(reply.send(result)),
            (Request::SetMetadata { reply, .. }, Ok(Outcome::Metadata(result))) => drop(reply.send(result)),
            (Request::Append { reply, .. }, Err(failure)) => drop(reply.send(Err(failure))),
            (Request::SetMetadata { reply, .. }, Err(failure)) => drop(reply.send(Err(failure))),
            (Request::Append { reply, .. }, Ok(Outcome::Metadata(_))) => {
                drop(reply.send(Err(StoreError::Unavailable("the writer mixed up its answers".into()))));
            }
            (Request::SetMetadata { reply, .. }, Ok(Outcome::Append(_))) => {
                drop(reply.send(Err(StoreError::Unavailable("the writer mixed up its answers".into()))));
            }
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
