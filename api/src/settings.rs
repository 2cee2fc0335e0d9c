//! What the server is told at start.

use std::path::PathBuf;
use std::time::Duration;

/// Which clock drives the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockKind {
    /// The wall clock.
    #[default]
    System,
    /// A settable clock, moved through `POST /test/clock`.
    Manual,
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    pub clock: ClockKind,
    pub token_ttl: Duration,
    pub snapshot_every: u64,
    pub max_command_attempts: u32,
    pub max_body_bytes: usize,
    pub max_query_depth: usize,
    pub max_query_complexity: usize,
    /// Argon2 memory cost in KiB (19 MiB by default, OWASP's minimum).
    pub password_memory_kib: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            host: "127.0.0.1".into(),
            port: 8080,
            clock: ClockKind::System,
            token_ttl: Duration::from_secs(12 * 3600),
            snapshot_every: 100,
            max_command_attempts: 10,
            max_body_bytes: 1024 * 1024,
            max_query_depth: 12,
            max_query_complexity: 500,
            password_memory_kib: 19 * 1024,
        }
    }
}
