//! `groupware`: the server of the groupware suite.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use api::{Application, ClockKind, EventStoreKind, ReadModelKind, Settings};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "groupware", version, about = "Event-sourced groupware server: webmail, e-approval, HR and more")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the GraphQL server (embedded event store and in-memory read models
    /// under the data directory by default).
    Serve(ServeArgs),
    /// Replay the whole event log into fresh read models and report how many
    /// events were read and how long it took. PostgreSQL read models are
    /// rebuilt beside the serving ones and take over when caught up, while
    /// servers keep running; embedded ones are built into a new file that
    /// replaces the old one (stop the server first); with in-memory read
    /// models this checks that the log replays cleanly.
    Rebuild {
        /// Folder holding the embedded event store.
        #[arg(long, env = "GROUPWARE_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        /// The event store: `embedded`, a postgres:// URL or an esdb:// connection string.
        #[arg(long, env = "GROUPWARE_EVENTS", default_value = "embedded")]
        events: EventStoreKind,
        /// The read models to rebuild: `embedded` (`read_models.db` in the
        /// data directory; the default with the embedded event store),
        /// `memory` (the default with the others) or a postgres:// URL.
        #[arg(long, env = "GROUPWARE_READ_MODELS")]
        read_models: Option<ReadModelKind>,
    },
    /// Check the event log against its hash chains, signed checkpoints and
    /// chain heads; names the first event that does not match and exits
    /// with an error, or prints what was checked.
    Verify {
        /// Folder holding the embedded event store and the checkpoint key.
        #[arg(long, env = "GROUPWARE_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        /// The event store: `embedded`, a postgres:// URL or an esdb:// connection string.
        #[arg(long, env = "GROUPWARE_EVENTS", default_value = "embedded")]
        events: EventStoreKind,
        /// Check one company's chain only, named by one of its domains.
        #[arg(long)]
        company: Option<String>,
        /// The public key to check the checkpoints' signatures with
        /// (hexadecimal, as the `auditKey` query gives it); by default the
        /// key beside the data.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Archives of a company's history for 60-month retention: export,
    /// check offline, replay into a read-only instance.
    Archive {
        #[command(subcommand)]
        action: ArchiveCommand,
    },
}

#[derive(Subcommand)]
enum ArchiveCommand {
    /// Write a company's events of a range of months (in its time zone) into
    /// one signed archive file.
    Export {
        /// One of the company's domains.
        #[arg(long)]
        company: String,
        /// The first month, YYYY-MM.
        #[arg(long)]
        from: String,
        /// The last month, YYYY-MM.
        #[arg(long)]
        to: String,
        /// The archive file to write (it appears only once whole).
        #[arg(long)]
        out: PathBuf,
        /// Folder holding the embedded event store and the signing key.
        #[arg(long, env = "GROUPWARE_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        /// The event store: `embedded`, a postgres:// URL or an esdb:// connection string.
        #[arg(long, env = "GROUPWARE_EVENTS", default_value = "embedded")]
        events: EventStoreKind,
    },
    /// Check an archive without a server or database: every hash, the
    /// chain through every month, the checkpoints and the signature.
    Verify {
        file: PathBuf,
        /// The public key to check the signature with (hexadecimal, as the
        /// `auditKey` query gives it); by default the one the archive names.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Check an archive and write its events into a new data folder, to be
    /// served with `groupware serve --read-only --data-dir DIR`.
    Replay {
        file: PathBuf,
        /// The new data folder.
        #[arg(long)]
        data_dir: PathBuf,
        /// The public key to check the signature with.
        #[arg(long)]
        public_key: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ClockArg {
    /// The wall clock.
    System,
    /// A settable clock for tests and demos; enables POST /test/clock.
    Manual,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Folder for the embedded event store, snapshots and the token signing key
    /// (processes serving one company share it, or at least its token.key).
    #[arg(long, env = "GROUPWARE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// The event store: `embedded` (SQLite under the data directory), a
    /// postgres:// URL, or an esdb:// connection string.
    #[arg(long, env = "GROUPWARE_EVENTS", default_value = "embedded")]
    events: EventStoreKind,
    /// The read models: `embedded` (`read_models.db` in the data
    /// directory, kept across restarts; the default with the embedded
    /// event store), `memory` (rebuilt at every start; the default with
    /// the other event stores) or a postgres:// URL.
    #[arg(long, env = "GROUPWARE_READ_MODELS")]
    read_models: Option<ReadModelKind>,
    /// Address to listen on.
    #[arg(long, env = "GROUPWARE_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "GROUPWARE_PORT", default_value_t = 8080)]
    port: u16,
    /// With `--clock manual`: the time the clock starts at (RFC 3339).
    #[arg(long, env = "GROUPWARE_CLOCK_START")]
    clock_start: Option<chrono::DateTime<chrono::Utc>>,
    /// Which clock drives the system.
    #[arg(long, env = "GROUPWARE_CLOCK", value_enum, default_value = "system")]
    clock: ClockArg,
    /// Hours a login token stays valid.
    #[arg(long, env = "GROUPWARE_TOKEN_TTL_HOURS", default_value_t = 12)]
    token_ttl_hours: u64,
    /// Take an aggregate snapshot every this many events.
    #[arg(long, env = "GROUPWARE_SNAPSHOT_EVERY", default_value_t = 100)]
    snapshot_every: u64,
    /// Seconds a command may keep deciding again after concurrent changes
    /// before it is answered `CONFLICT`.
    #[arg(long, env = "GROUPWARE_COMMAND_DEADLINE_SECS", default_value_t = 10)]
    command_deadline_secs: u64,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "GROUPWARE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// Deepest accepted GraphQL query.
    #[arg(long, env = "GROUPWARE_MAX_QUERY_DEPTH", default_value_t = 12)]
    max_query_depth: usize,
    /// Highest accepted GraphQL query complexity.
    #[arg(long, env = "GROUPWARE_MAX_QUERY_COMPLEXITY", default_value_t = 500)]
    max_query_complexity: usize,
    /// Argon2id memory cost in KiB for password hashes.
    #[arg(long, env = "GROUPWARE_PASSWORD_MEMORY_KIB", default_value_t = 19 * 1024)]
    password_memory_kib: u32,
    /// The SMTP relay for external mail, as `smtp://host:port`; without it
    /// external copies stay queued.
    #[arg(long, env = "GROUPWARE_SMTP_RELAY")]
    smtp_relay: Option<String>,
    /// The shared secret the mail transfer agent sends to `POST /inbound`;
    /// without it the endpoint refuses every message.
    #[arg(long, env = "GROUPWARE_INBOUND_SECRET", hide_env_values = true)]
    inbound_secret: Option<String>,
    /// The host name tenants' MX, SPF and CNAME records point at.
    #[arg(long, env = "GROUPWARE_MAIL_HOST", default_value = "mail.groupware.example")]
    mail_host: String,
    /// The most a mail's attachments may total, in bytes.
    #[arg(long, env = "GROUPWARE_ATTACHMENT_LIMIT", default_value_t = domain::mail::message::DEFAULT_ATTACHMENT_LIMIT)]
    attachment_limit: u64,
    /// Seconds between the signed checkpoints of each company's hash chain
    /// (the signing key is `checkpoint.key` in the data directory).
    #[arg(long, env = "GROUPWARE_CHECKPOINT_EVERY_SECS", default_value_t = 3600)]
    checkpoint_every_secs: u64,
    /// Seconds between the rounds that move each company's history older
    /// than its retention period out of the live log into archive files
    /// (the `cold` folder of the data directory).
    #[arg(long, env = "GROUPWARE_RETENTION_EVERY_SECS", default_value_t = 86_400)]
    retention_every_secs: u64,
    /// Serve the log and change nothing: every mutation but logging in is
    /// refused and no background worker runs (for an instance replayed
    /// from an archive with `groupware archive replay`).
    #[arg(long, env = "GROUPWARE_READ_ONLY")]
    read_only: bool,
}

impl From<ServeArgs> for Settings {
    fn from(a: ServeArgs) -> Self {
        Settings {
            data_dir: a.data_dir,
            read_models: ReadModelKind::or_default_for(a.read_models, &a.events),
            events: a.events,
            host: a.host,
            port: a.port,
            clock: match a.clock {
                ClockArg::System => ClockKind::System,
                ClockArg::Manual => ClockKind::Manual,
            },
            clock_start: a.clock_start,
            token_ttl: Duration::from_secs(a.token_ttl_hours * 3600),
            snapshot_every: a.snapshot_every,
            command_deadline: Duration::from_secs(a.command_deadline_secs),
            max_body_bytes: a.max_body_bytes,
            max_query_depth: a.max_query_depth,
            max_query_complexity: a.max_query_complexity,
            password_memory_kib: a.password_memory_kib,
            smtp_relay: a.smtp_relay,
            inbound_secret: a.inbound_secret,
            mail_host: a.mail_host,
            attachment_limit: a.attachment_limit,
            checkpoint_every: Duration::from_secs(a.checkpoint_every_secs.max(1)),
            retention_every: Duration::from_secs(a.retention_every_secs.max(1)),
            read_only: a.read_only,
        }
    }
}

/// A server allocates and frees many small JSON values per request;
/// mimalloc does that markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match Cli::parse().command {
        Command::Serve(args) => {
            let settings = Settings::from(args);
            let manual = settings.clock == ClockKind::Manual;
            let app = Application::build(settings).await.context("starting the server")?;
            let base = format!("http://{}:{}", app.backend().settings.host, app.port());
            let mut banner = format!("groupware listening on {base}\nGraphiQL: {base}/graphql\n");
            if manual {
                banner.push_str(&format!("manual clock: POST {base}/test/clock\n"));
            }
            // Whoever started the server may have stopped reading its output;
            // that is no reason to stop serving.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), banner.as_bytes());
            app.run_until_stopped().await?;
        }
        Command::Rebuild { data_dir, events, read_models } => {
            let read_models = ReadModelKind::or_default_for(read_models, &events);
            let settings = Settings { data_dir, events, read_models, ..Settings::default() };
            println!("{}", api::cli::rebuild(&settings).await?);
        }
        Command::Verify { data_dir, events, company, public_key } => {
            let settings = Settings { data_dir, events, ..Settings::default() };
            println!("{}", api::cli::verify(&settings, company.as_deref(), public_key.as_deref()).await?);
        }
        Command::Archive { action } => match action {
            ArchiveCommand::Export { company, from, to, out, data_dir, events } => {
                let settings = Settings { data_dir, events, ..Settings::default() };
                println!("{}", api::cli::archive_export(&settings, &company, (&from, &to), &out).await?);
            }
            ArchiveCommand::Verify { file, public_key } => {
                println!("{}", api::cli::archive_verify(&file, public_key.as_deref())?);
            }
            ArchiveCommand::Replay { file, data_dir, public_key } => {
                println!("{}", api::cli::archive_replay(&file, &data_dir, public_key.as_deref()).await?);
            }
        },
    }
    Ok(())
}
