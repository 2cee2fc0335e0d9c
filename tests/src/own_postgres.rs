//! A PostgreSQL server of a test's own (initdb and pg_ctl into a temporary
//! folder, on a free port), which the test may stop and start without
//! disturbing any other test.

use std::path::PathBuf;
use std::process::Command;

/// A private PostgreSQL server; stopped and removed when dropped.
pub struct OwnPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl OwnPostgres {
    /// Initialises and starts a server, or `None` (after saying why) when
    /// the PostgreSQL server programs are not installed here.
    ///
    /// # Panics
    /// When a PostgreSQL program fails.
    pub fn start() -> Option<Self> {
        let Some(bin) = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|versions| {
            versions.filter_map(Result::ok).map(|v| v.path().join("bin")).find(|b| b.join("initdb").exists())
        }) else {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "PostgreSQL's server programs are required under CI");
            eprintln!("skipped: no PostgreSQL server programs (initdb, pg_ctl) under /usr/lib/postgresql");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("address").port();
        let server = Self { bin, dir, port };
        // The server refuses to run as root: it runs as `postgres` when the
        // tests are root.
        server.run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(server.dir.path()), true);
        server.pg("initdb", &["-A", "trust", "-U", "postgres", "-D", &server.data()]);
        server.resume();
        Some(server)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn as_root() -> bool {
        Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"))
    }

    /// A PostgreSQL program, run as `postgres` when the tests are root.
    fn program(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if Self::as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn pg(&self, program: &str, args: &[&str]) {
        self.run(self.program(program).args(args), false);
    }

    fn run(&self, command: &mut Command, only_as_root: bool) {
        if only_as_root && !Self::as_root() {
            return;
        }
        let output = command.output().expect("PostgreSQL program runs");
        assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    }

    /// The URL of database `postgres` on this server.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop(&self) {
        self.pg("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    /// Starts the server again on the same port.
    pub fn resume(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.path().display());
        let log = self.dir.path().join("server.log").display().to_string();
        self.pg("pg_ctl", &["-D", &self.data(), "-o", &options, "-l", &log, "-w", "start"]);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.program("pg_ctl").args(["-D", &self.data(), "-m", "immediate", "-w", "stop"]).output();
    }
}
