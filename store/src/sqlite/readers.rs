//! Read-only connections to one SQLite file, kept open between reads: opening
//! one costs a schema load and fresh prepared statements. WAL lets them read
//! beside the file's writer. The embedded event store and the embedded
//! read-model store both read through one.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

/// A pool of read-only connections to one file.
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    keep: usize,
}

/// Why a read did not run: the blocking thread it ran on was lost (the
/// runtime is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("a read of {0} was lost: {1}")]
pub struct ReadLost(String, String);

impl Readers {
    /// Reads of the file at `path`, keeping up to `keep` connections open
    /// between reads.
    pub fn new(path: impl AsRef<Path>, keep: usize) -> Self {
        Self { path: path.as_ref().to_path_buf(), idle: Mutex::new(Vec::new()), keep }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        c.pragma_update(None, "query_only", true)?;
        c.pragma_update(None, "mmap_size", 1i64 << 30)?;
        // Reads go through the shared memory map; a small page cache per
        // connection is enough.
        c.pragma_update(None, "cache_size", -8_192)?;
        Ok(c)
    }

    /// Runs `f` on a pooled connection on this thread: for reads by key
    /// and of a page, which take microseconds, a hop to a blocking thread
    /// costs more than it spares.
    ///
    /// # Errors
    /// `f`'s error; a connection that cannot be opened.
    pub fn read_here<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<rusqlite::Error>,
    {
        let conn = self.take()?;
        let result = f(&conn);
        self.give_back(conn);
        result
    }

    /// Runs `f` on a pooled connection in a blocking thread.
    ///
    /// # Errors
    /// `f`'s error; a connection that cannot be opened; [`ReadLost`].
    pub async fn read<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<rusqlite::Error> + From<ReadLost> + Send + 'static,
    {
        let conn = self.take()?;
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = f(&conn);
            (conn, result)
        })
        .await
        .map_err(|e| ReadLost(self.path.display().to_string(), e.to_string()))?;
        self.give_back(conn);
        result
    }

    /// An idle connection, or a new one.
    fn take(&self) -> rusqlite::Result<Connection> {
        match self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(conn) => Ok(conn),
            None => self.open(),
        }
    }

    /// Keeps `conn` for the next read while fewer than `keep` are idle.
    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.keep
        {
            idle.push(conn);
        }
    }
}
