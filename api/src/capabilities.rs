//! What a capability of the server is made of, described in one value:
//! the aggregates its follow-ups command, its projectors, its reactions,
//! what its timers cause, its background workers and its plain HTTP
//! routes. The server starts from the one list,
//! [`crate::schema::capabilities`]; each capability's description sits in
//! its schema module.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::web::ServiceConfig;
use blobs::Blobs;
use commands::{AggregateHandle, Commands, Reaction, TimerReaction};
use mailer::Relay;
use projections::{Projector, ReadModelStore};
use tokio::sync::watch;

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
    /// Its HTTP routes besides GraphQL (downloads, say); their handlers
    /// find the backend as `web::Data<Arc<Backend>>`.
    pub routes: Option<fn(&mut ServiceConfig)>,
}

impl Capability {
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            name,
            aggregates: vec![],
            projectors: vec![],
            reactions: Vec::new,
            timers: vec![],
            workers: vec![],
            routes: None,
        }
    }
}

/// What a worker may use.
#[derive(Clone)]
pub struct WorkerContext {
    pub commands: Arc<Commands>,
    pub read_models: Arc<dyn ReadModelStore>,
    pub blobs: Arc<dyn Blobs>,
    pub relay: Option<Relay>,
    /// The key that signs checkpoints of the hash chain, and how often.
    pub checkpoints: crate::schema::Checkpointing,
    /// Seals personal payloads, and destroys the keys of the deleted.
    pub payloads: Arc<store::sealing::Sealer>,
}

/// A started worker: how far into the log it has handled events, and what
/// keeps it running (dropping it stops it).
pub struct Running {
    pub handled: watch::Receiver<u64>,
    pub guard: Box<dyn std::any::Any + Send + Sync>,
}

pub type Starting = Pin<Box<dyn Future<Output = anyhow::Result<Running>> + Send>>;

/// A capability's worker: its name and how it starts.
#[derive(Clone, Copy)]
pub struct Worker {
    pub name: &'static str,
    pub start: fn(WorkerContext) -> Starting,
}

/// A task that ends with its owner.
pub struct Stopping(pub tokio::task::JoinHandle<()>);

impl Drop for Stopping {
    fn drop(&mut self) {
        self.0.abort();
    }
}
