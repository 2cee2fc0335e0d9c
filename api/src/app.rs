//! Start-up: the backend with every capability, and the HTTP server in
//! front of it.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use projections::MemoryReadModels;

use crate::Settings;
use crate::backend::{Backend, open_event_store};
use crate::settings::{EventStoreKind, ReadModelKind};

/// The server, bound and ready to run.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    backend: Arc<Backend>,
}

impl Application {
    /// Starts the backend and binds the listener (port 0 picks a free one).
    ///
    /// # Errors
    /// When a store cannot be opened or the address cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let address = format!("{}:{}", settings.host, settings.port);
        let listener = TcpListener::bind(&address).with_context(|| format!("binding {address}"))?;
        let port = listener.local_addr()?.port();
        let capabilities = crate::schema::capabilities();
        let routes = capabilities.iter().filter_map(|c| c.routes).collect();
        let backend = Backend::start(settings, capabilities).await?;
        let server = crate::http::server(listener, backend.clone(), routes)?;
        Ok(Self { port, server, backend })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn backend(&self) -> &Arc<Backend> {
        &self.backend
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the process is told to stop.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Replays the whole event log into fresh read models and reports how many
/// events it read and how long it took. PostgreSQL read models are rebuilt
/// beside the serving ones, which take over when caught up (no downtime);
/// in-memory ones are built and dropped, which checks that the log replays.
///
/// # Errors
/// When a store cannot be opened or an event cannot be projected.
pub async fn rebuild_read_models(settings: &Settings) -> anyhow::Result<(u64, Duration)> {
    if settings.events == EventStoreKind::Embedded {
        let file = settings.data_dir.join("events.db");
        anyhow::ensure!(file.exists(), "no event store at {}", file.display());
    }
    let store = open_event_store(settings, store::system_now()).await?;
    let started = Instant::now();
    let read = match &settings.read_models {
        ReadModelKind::Memory => {
            projections::rebuild(store.as_ref(), &MemoryReadModels::default(), &crate::schema::projectors()).await?
        }
        #[cfg(feature = "postgres")]
        ReadModelKind::Postgres(url) => {
            let models = crate::backend::postgres_read_models(url).await?;
            let mut read = 0;
            for projector in crate::schema::projectors() {
                read = read.max(models.rebuild_beside(store.as_ref(), &projector).await?);
            }
            read
        }
        #[cfg(not(feature = "postgres"))]
        ReadModelKind::Postgres(url) => return Err(crate::settings::not_built(url, "PostgreSQL", "postgres")),
    };
    Ok((read, started.elapsed()))
}
