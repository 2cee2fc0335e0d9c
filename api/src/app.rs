//! Start-up: the backend with every capability, and the HTTP server in
//! front of it.

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context;

use crate::Settings;
use crate::backend::Backend;

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
