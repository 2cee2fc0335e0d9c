//! The capabilities the server is made of, each described in one value:
//! the aggregates its follow-ups command, its projectors, its reactions,
//! what its timers cause and its background workers. The server starts
//! from the one list, [`all`]; each capability's description sits in its
//! schema module.

use std::sync::Arc;

use commands::{AggregateHandle, Reaction, TimerReaction};
use projections::Projector;

use crate::workers::Worker;

/// One capability of the server.
pub struct Capability {
    pub name: &'static str,
    /// The aggregates of the capability.
    pub aggregates: Vec<AggregateHandle>,
    pub projectors: Vec<Arc<dyn Projector>>,
    /// Its reactions to recorded events (fresh memory each time it is
    /// asked).
    pub reactions: fn() -> Vec<Reaction>,
    /// What its kinds of timers cause.
    pub timers: Vec<(&'static str, TimerReaction)>,
    pub workers: Vec<Worker>,
}

impl Capability {
    pub(crate) fn new(name: &'static str) -> Self {
        Self { name, aggregates: vec![], projectors: vec![], reactions: Vec::new, timers: vec![], workers: vec![] }
    }
}

/// Every capability of the server, in the order they start (declared with
/// the GraphQL schema, in [`crate::schema`]).
pub fn all() -> Vec<Capability> {
    crate::schema::capabilities()
}

/// Every projector of every capability.
pub fn projectors() -> Vec<Arc<dyn Projector>> {
    all().into_iter().flat_map(|c| c.projectors).collect()
}
