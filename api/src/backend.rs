//! The backend a request runs against: the stores, the command pipeline
//! with every capability's reactions, the projections, the workers, and
//! what a resolver needs to run a command and read its own writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use blobs::{Blobs, FileBlobs};
use chrono::Utc;
use commands::{CarriedOut, Clock, CommandContext, Commands, ManualClock, Origin, Outcome, Reactions, SystemClock};
use domain::Aggregate;
use domain::reaction::FollowUp;
use mailer::Relay;
#[cfg(feature = "postgres")]
use projections::PostgresReadModels;
use projections::{MemoryReadModels, Projections, ReadModelStore, SqliteReadModels};
use snapshots::{SealedSnapshots, SnapshotPolicy, SnapshotStore, SqliteSnapshotStore};
use store::EventStore;
#[cfg(feature = "eventstoredb")]
use store::eventstoredb::EventStoreDb;
#[cfg(feature = "postgres")]
use store::postgres::PostgresEventStore;
use store::sealing::{KeyStore, Sealed, Sealer, SqliteKeys};
use store::sqlite::SqliteEventStore;
use uuid::Uuid;

use crate::auth::Auth;
use crate::capabilities::{Capability, WorkerContext};
use crate::errors::ApiResult;
use crate::metrics::Metrics;
#[cfg(any(feature = "postgres", feature = "eventstoredb"))]
use crate::settings::redacted;
use crate::settings::{EventStoreKind, ReadModelKind};
use crate::workers::Workers;
use crate::{ClockKind, Settings};

/// How long a mutation waits for the read models to show its effect.
const READ_YOUR_WRITES: Duration = Duration::from_secs(10);

/// Everything a request may use.
pub struct Backend {
    pub settings: Settings,
    pub store: Arc<dyn EventStore>,
    pub commands: Arc<Commands>,
    /// Every capability's reactions to recorded events.
    pub reactions: Arc<Reactions>,
    /// Files outside the log (attachments, backup archives).
    pub blobs: Arc<dyn Blobs>,
    /// The process managers, the scheduler and the capabilities' workers,
    /// in one process at a time.
    pub workers: Workers,
    pub projections: Projections,
    /// The full-text index of the mailboxes, following their read model.
    pub mail_index: Arc<search::MailIndex>,
    /// Keeps the mail index following the log; none without mailboxes.
    indexing: Option<search::Indexing>,
    pub auth: Auth,
    /// Seals resident registration numbers (rule H7).
    pub sealer: crate::secrets::Sealer,
    /// Seals personal payloads with the keys of persons and companies, and
    /// destroys those keys (rules U1, B3).
    pub payloads: Arc<Sealer>,
    /// Signs checkpoints of the companies' hash chains.
    pub checkpoints: crate::schema::Checkpointing,
    pub clock: Arc<dyn Clock>,
    /// Present when the server runs on a settable clock.
    pub manual_clock: Option<ManualClock>,
    pub metrics: Metrics,
    /// The tenant each stream this process has checked or written belongs
    /// to (a stream never changes tenant), so that telling another
    /// company's stream apart costs one read per stream, not per command.
    stream_tenants: quick_cache::sync::Cache<String, Option<Uuid>>,
    ready: AtomicBool,
}

/// How many streams' tenants a process keeps; when full, the least useful
/// make room.
const KEPT_STREAM_TENANTS: usize = 100_000;

impl Backend {
    /// Opens the stores under the data directory and starts the
    /// projections and workers of `capabilities`.
    ///
    /// # Errors
    /// When a store cannot be opened.
    pub async fn start(settings: Settings, capabilities: Vec<Capability>) -> anyhow::Result<Arc<Self>> {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating the data directory {}", settings.data_dir.display()))?;
        let manual_clock = (settings.clock == ClockKind::Manual)
            .then(|| ManualClock::new(settings.clock_start.unwrap_or_else(Utc::now)));
        let clock: Arc<dyn Clock> = match &manual_clock {
            Some(manual) => Arc::new(manual.clone()),
            None => Arc::new(SystemClock),
        };
        let store_clock = clock.clone();
        // Made before the store opens: the history moved out of the log is
        // signed with it.
        let checkpoint_key = Arc::new(crate::secrets::checkpoint_key(&settings.data_dir)?);
        let EventStores { opened: store, sealer: payloads, stored } =
            open_event_store(&settings, Arc::new(move || store_clock.now())).await?;
        let snapshots: Arc<dyn SnapshotStore> = Arc::new(SealedSnapshots::new(
            Arc::new(
                SqliteSnapshotStore::open(settings.data_dir.join("snapshots.db"))
                    .context("opening the snapshot store")?,
            ),
            payloads.clone(),
        ));
        let commands = Arc::new(
            Commands::new(
                store.clone(),
                Some(snapshots),
                SnapshotPolicy { every: settings.snapshot_every },
                clock.clone(),
                settings.command_deadline,
            )
            .await
            .context("recovering the command log")?,
        );
        // Requests and the process managers each have their own, so that
        // what a reaction remembers follows the log in order.
        let reactions = || {
            Arc::new(Reactions::new(
                capabilities.iter().flat_map(|c| c.aggregates.iter().copied()),
                capabilities.iter().flat_map(|c| (c.reactions)()).collect(),
            ))
        };
        let (requests_reactions, workers_reactions) = (reactions(), reactions());
        let blobs: Arc<dyn Blobs> =
            Arc::new(FileBlobs::open(settings.data_dir.join("blobs")).await.context("opening the blob store")?);
        let relay = settings
            .smtp_relay
            .as_deref()
            .map(Relay::from_url)
            .transpose()
            .map_err(|e| anyhow::anyhow!("the SMTP relay: {e}"))?;

        let read_models: Arc<dyn ReadModelStore> = match &settings.read_models {
            ReadModelKind::Embedded => embedded_read_models(&settings, store.as_ref()).await?,
            ReadModelKind::Memory => Arc::new(MemoryReadModels::default()),
            #[cfg(feature = "postgres")]
            ReadModelKind::Postgres(url) => postgres_read_models(url).await?,
            #[cfg(not(feature = "postgres"))]
            ReadModelKind::Postgres(url) => return Err(crate::settings::not_built(url, "PostgreSQL", "postgres")),
        };
        let checkpoints = crate::schema::Checkpointing { key: checkpoint_key, every: settings.checkpoint_every };
        let context = WorkerContext {
            commands: commands.clone(),
            read_models: read_models.clone(),
            blobs: blobs.clone(),
            relay,
            checkpoints: checkpoints.clone(),
            payloads: payloads.clone(),
            stored,
            scratch: settings.data_dir.join("scratch"),
            retention: crate::schema::Retaining { cold: cold_folder(&settings), every: settings.retention_every },
            reactions: workers_reactions.clone(),
        };
        let workers = if settings.read_only {
            Workers::none()
        } else {
            Workers::start(context, &capabilities, workers_reactions)
        };
        let projectors = capabilities.into_iter().flat_map(|c| c.projectors).collect();
        let projections =
            Projections::start(store.clone(), read_models, projectors).await.context("starting the projections")?;
        let mail_index = Arc::new(open_mail_index(&settings)?);
        let indexing = match projections.watch(projections::projectors::mailboxes::PROJECTOR) {
            Some(mailboxes) => Some(mail_index.start(store.clone(), projections.store().clone(), mailboxes)?),
            None => None,
        };
        let auth = Auth::open(&settings.data_dir.join("token.key"), settings.token_ttl, settings.password_memory_kib)?;
        let sealer = crate::secrets::Sealer::open(&settings.data_dir.join("resident-numbers.key"))?;
        let backend = Arc::new(Self {
            settings,
            store,
            commands,
            reactions: requests_reactions,
            blobs,
            workers,
            projections,
            mail_index,
            indexing,
            auth,
            sealer,
            payloads,
            checkpoints,
            clock,
            manual_clock,
            metrics: Metrics::new().context("registering metrics")?,
            stream_tenants: quick_cache::sync::Cache::new(KEPT_STREAM_TENANTS),
            ready: AtomicBool::new(false),
        });
        // Ready once every read model has caught up with the log as it was
        // at start, or has stopped at an event it cannot apply: the others
        // serve, and `/healthz` and `/metrics` name the stopped one.
        let head = *backend.store.head().borrow();
        let waiting = backend.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            while !waiting.projections.wait_for(head, Duration::from_secs(60)).await {
                tracing::warn!(head, "read models still catching up");
            }
            waiting.ready.store(true, Ordering::SeqCst);
            tracing::info!(head, elapsed = ?started.elapsed(), "read models caught up; ready");
        });
        Ok(backend)
    }

    /// What in this process has not yet handled the log up to `position`:
    /// each projector (a stopped one is not waited for), worker and the
    /// mail index, by name with the position it has reached. The workers
    /// are left out while another process runs them.
    pub fn behind(&self, position: u64) -> Vec<(&'static str, u64)> {
        let projectors = self
            .projections
            .progress()
            .into_iter()
            .filter(|(_, p)| p.stopped.is_none())
            .map(|(name, p)| (name, p.checkpoint));
        let workers = self.workers.handled().unwrap_or_default();
        let index = self.indexing.as_ref().map(|_| ("mail index", self.mail_index.position()));
        projectors.chain(workers).chain(index).filter(|(_, reached)| *reached < position).collect()
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn read_models(&self) -> &dyn ReadModelStore {
        self.projections.store().as_ref()
    }

    /// Runs a command and waits until the read models show its effect, so
    /// that the front end reads its own writes (a projector stopped at an
    /// event it cannot apply is not waited for).
    ///
    /// # Errors
    /// The command's refusal or failure, as the client should see it.
    pub async fn execute<A: Aggregate>(
        &self,
        id: Uuid,
        context: &CommandContext,
        command: A::Command,
    ) -> ApiResult<Outcome<A::Event>> {
        if self.settings.read_only {
            return Err(crate::errors::ApiError::forbidden(
                "this server serves its log read-only (a replayed archive); it changes nothing",
            ));
        }
        let unseen = self.refuse_foreign::<A>(id, context, &command).await?;
        let result = self.commands.execute::<A>(id, context, command).await;
        // A stream this command began is its tenant's.
        if let Ok(outcome) = &result
            && unseen
            && !outcome.events.is_empty()
        {
            self.keep_stream_tenant(&outcome.stream, context.tenant);
        }
        let label = match &result {
            Ok(o) if o.repeated => "repeated",
            Ok(_) => "applied",
            Err(commands::CommandError::Rejected(_)) => "rejected",
            Err(_) => "failed",
        };
        self.metrics.commands.with_label_values(&[label]).inc();
        // What a refusal called for (a reset offer, rule E1) shows with the
        // refusal.
        if matches!(result, Err(commands::CommandError::Rejected(_))) {
            match self.commands.after_refusal_position(context.command_id).await {
                Ok(Some(position)) => {
                    self.projections.wait_for(position, READ_YOUR_WRITES).await;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "what a refusal called for could not be looked up"),
            }
        }
        let outcome = result?;
        if !outcome.repeated {
            self.metrics.events_appended.inc_by(outcome.events.len() as u64);
        }
        if !self.projections.wait_for(outcome.position, READ_YOUR_WRITES).await {
            tracing::warn!(position = outcome.position, "read models lag behind a command");
        }
        Ok(outcome)
    }
}

impl Backend {
    /// The export (a backup, an archive) of `tenant` whose digest is
    /// `sha256`, from the exports' own space of the blob store.
    ///
    /// # Errors
    /// `INTERNAL` when the blob store fails or no longer holds it.
    pub(crate) async fn export(&self, tenant: Uuid, sha256: &str) -> ApiResult<blobs::Blob> {
        let blob =
            self.blobs.open(blobs::exports_of(tenant), sha256).await.map_err(crate::errors::ApiError::internal)?;
        blob.ok_or_else(|| crate::errors::ApiError::internal("the export is missing from the blob store"))
    }

    /// `NOT_FOUND` when the command is for a tenant and the stream it
    /// addresses was begun by another tenant: an id of another company's
    /// document, ledger or mailbox reads as one that does not exist, so the
    /// answer never tells "not yours" from "not there". Streams named by the
    /// command's own tenant or acting user are theirs by construction and
    /// need no read; others are read once per process (their first event
    /// names their tenant, which never changes). Whether the stream has no
    /// events yet, so that the command begins it.
    async fn refuse_foreign<A: Aggregate>(
        &self,
        id: Uuid,
        context: &CommandContext,
        command: &A::Command,
    ) -> ApiResult<bool> {
        let Some(tenant) = context.tenant else { return Ok(false) };
        if id == tenant || context.actor.user() == Some(id) {
            return Ok(false);
        }
        let stream = commands::stream_name::<A>(id);
        let kept = self.stream_tenants.get(&stream);
        let owner = match kept {
            Some(owner) => owner,
            None => {
                let first = self.store.read_stream(&stream, store::Direction::Forwards, None, 1).await?;
                let Some(first) = first.first() else { return Ok(true) };
                self.keep_stream_tenant(&stream, first.metadata.tenant);
                first.metadata.tenant
            }
        };
        match owner {
            Some(owner) if owner != tenant => {
                // The answer the command gets where there is no such stream.
                let missing = A::default();
                let refusal = missing
                    .authorize(&context.actor, command)
                    .and_then(|()| missing.decide(command, self.clock.now()))
                    .err()
                    .unwrap_or_else(|| domain::DomainError::NotFound(format!("{} {id}", A::CATEGORY)));
                Err(commands::CommandError::Rejected(refusal).into())
            }
            _ => Ok(false),
        }
    }

    fn keep_stream_tenant(&self, stream: &str, tenant: Option<Uuid>) {
        self.stream_tenants.insert(stream.to_owned(), tenant);
    }

    /// Carries out at once, before the answer, what command `command_id`'s
    /// events cause (the process managers would do it too, a moment later),
    /// and what those follow-ups' events cause in turn; then waits for the
    /// read models to show it. The same reactions run in both places, with
    /// the same command ids, so whichever comes second changes nothing.
    ///
    /// # Errors
    /// When the store fails or a rule refuses a follow-up (the year's
    /// document numbers ran out, say).
    pub async fn follow(&self, command_id: Uuid) -> ApiResult<()> {
        self.follow_all(vec![command_id], 0).await
    }

    /// Carries `follow_up` out now for `tenant`, with what it causes (see
    /// [`Self::follow`]), and waits for the read models to show it.
    ///
    /// # Errors
    /// As [`Self::follow`].
    pub async fn carry_out(&self, tenant: Uuid, follow_up: &FollowUp) -> ApiResult<()> {
        let origin = Origin { tenant: Some(tenant), ..Origin::default() };
        let carried = self.reactions.carry_out(&self.commands, &origin, follow_up).await?;
        let position = self.newest_of(&carried).await?;
        self.follow_all(carried.ran, position).await
    }

    /// Where the streams that made some of `carried` needless end.
    async fn newest_of(&self, carried: &CarriedOut) -> ApiResult<u64> {
        let mut position = 0;
        for &(category, id) in &carried.needless {
            position = position.max(self.reactions.newest_position(&self.commands, category, id).await?);
        }
        Ok(position)
    }

    async fn follow_all(&self, command_ids: Vec<Uuid>, mut position: u64) -> ApiResult<()> {
        let mut pending: Vec<(Uuid, usize)> = command_ids.into_iter().map(|id| (id, 0)).collect();
        while let Some((command_id, depth)) = pending.pop() {
            for event in self.commands.recorded(command_id).await? {
                position = position.max(event.position);
                if depth >= FOLLOW_DEPTH {
                    continue;
                }
                let origin = Origin::of(&event);
                for follow_up in self.reactions.react(&event) {
                    let carried = self.reactions.carry_out(&self.commands, &origin, &follow_up).await?;
                    position = position.max(self.newest_of(&carried).await?);
                    pending.extend(carried.ran.into_iter().map(|id| (id, depth + 1)));
                }
            }
        }
        if !self.projections.wait_for(position, READ_YOUR_WRITES).await {
            tracing::warn!(position, "read models lag behind a command's follow-ups");
        }
        Ok(())
    }
}

/// How many steps of follow-ups a request waits for: a document's
/// completion is numbered, and the number recorded on it.
const FOLLOW_DEPTH: usize = 3;

/// The read models in the data directory, emptied when they are ahead of
/// `store`'s log: they were built from another one.
///
/// # Errors
/// When the file cannot be opened or written.
async fn embedded_read_models(settings: &Settings, store: &dyn EventStore) -> anyhow::Result<Arc<SqliteReadModels>> {
    let file = read_models_file(settings);
    let models =
        SqliteReadModels::open(&file).with_context(|| format!("opening the read models at {}", file.display()))?;
    let head = *store.head().borrow();
    let furthest = models.furthest().await?;
    if furthest > head {
        tracing::warn!(furthest, head, "the read models are ahead of the event log; they are built again from it");
        models.clear().await?;
    }
    Ok(Arc::new(models))
}

/// The mail index: in memory beside in-memory read models, else in the
/// data directory.
fn open_mail_index(settings: &Settings) -> anyhow::Result<search::MailIndex> {
    let folder = match settings.read_models {
        ReadModelKind::Memory => None,
        _ => Some(mail_index_folder(settings)),
    };
    search::MailIndex::open(folder.as_deref(), projections::projectors::mailboxes::PROJECTOR)
        .context("opening the mail index")
}

/// Where the mail index is kept (its version in the name: a new one is
/// built beside an old one's folder, which can then be removed).
pub(crate) fn mail_index_folder(settings: &Settings) -> std::path::PathBuf {
    settings.data_dir.join("search").join("mail.v1")
}

/// Where the embedded read models are kept.
pub(crate) fn read_models_file(settings: &Settings) -> std::path::PathBuf {
    settings.data_dir.join("read_models.db")
}

/// The PostgreSQL read models at `url`.
///
/// # Errors
/// When they cannot be reached or migrated.
#[cfg(feature = "postgres")]
pub(crate) async fn postgres_read_models(url: &str) -> anyhow::Result<Arc<PostgresReadModels>> {
    let models = PostgresReadModels::connect(url)
        .await
        .with_context(|| format!("connecting to the PostgreSQL read models at {}", redacted(url)))?;
    Ok(Arc::new(models))
}

/// The event store the settings name, as stored and as read, with the
/// keys that seal its personal payloads.
pub(crate) struct EventStores {
    /// Payloads as stored (sealed ones as ciphertext): what the hash chain
    /// is over and what archives hold.
    pub stored: Arc<dyn EventStore>,
    /// The same log with payloads opened, or shredded where their key was
    /// destroyed: what everything else reads.
    pub opened: Arc<dyn EventStore>,
    pub sealer: Arc<Sealer>,
}

/// The event store the settings name, with its key store: a table of the
/// same database for PostgreSQL, `keys.db` in the data directory otherwise.
///
/// # Errors
/// When it cannot be opened or reached.
pub(crate) async fn open_event_store(settings: &Settings, now: store::Now) -> anyhow::Result<EventStores> {
    // The key store is a table of PostgreSQL's database, a file otherwise.
    let (stored, keys): (Arc<dyn EventStore>, Option<Arc<dyn KeyStore>>) = match &settings.events {
        EventStoreKind::Embedded => {
            let file = settings.data_dir.join("events.db");
            let store: Arc<dyn EventStore> = Arc::new(
                SqliteEventStore::open(&file, now)
                    .with_context(|| format!("opening the event store {}", file.display()))?,
            );
            (store, None)
        }
        #[cfg(feature = "postgres")]
        EventStoreKind::Postgres(url) => {
            let store = PostgresEventStore::connect(url, now)
                .await
                .with_context(|| format!("connecting to the PostgreSQL event store at {}", redacted(url)))?;
            let keys = Arc::new(store.keys());
            (Arc::new(store), Some(keys))
        }
        #[cfg(not(feature = "postgres"))]
        EventStoreKind::Postgres(url) => return Err(crate::settings::not_built(url, "PostgreSQL", "postgres")),
        #[cfg(feature = "eventstoredb")]
        EventStoreKind::EventStoreDb(url) => {
            let store: Arc<dyn EventStore> = Arc::new(
                EventStoreDb::connect(url, now)
                    .await
                    .with_context(|| format!("connecting to EventStoreDB at {}", redacted(url)))?,
            );
            (store, None)
        }
        #[cfg(not(feature = "eventstoredb"))]
        EventStoreKind::EventStoreDb(url) => {
            return Err(crate::settings::not_built(url, "EventStoreDB", "eventstoredb"));
        }
    };
    // The history moved out of the log is read from its files in place,
    // which the checkpoint key signed (never made here).
    let signer = crate::secrets::existing_checkpoint_key(&settings.data_dir)?.map(|key| key.public());
    let stored: Arc<dyn EventStore> = Arc::new(
        audit::cold::Tiered::open(stored, cold_folder(settings), signer)
            .await
            .context("opening the history moved out of the log")?,
    );
    let keys = match keys {
        Some(keys) => keys,
        None => key_file(settings, stored.as_ref()).await?,
    };
    let sealer = Arc::new(Sealer::new(keys));
    let opened = Arc::new(Sealed::new(stored.clone(), sealer.clone()));
    Ok(EventStores { stored, opened, sealer })
}

/// Where the history moved out of the log is kept: `cold` in the data
/// directory.
fn cold_folder(settings: &Settings) -> std::path::PathBuf {
    settings.data_dir.join("cold")
}

/// The key store in the data directory (`keys.db`). Made when missing —
/// unless the log already holds sealed payloads: without their keys they
/// could never be read, so a data directory restored without its key file
/// is refused rather than given new keys.
///
/// # Errors
/// When the file cannot be opened, or is missing beside sealed payloads.
async fn key_file(settings: &Settings, store: &dyn EventStore) -> anyhow::Result<Arc<dyn KeyStore>> {
    let file = settings.data_dir.join("keys.db");
    if !file.exists() {
        let mut after = 0;
        loop {
            let page = store.read_all(after, 4096).await?;
            let Some(last) = page.last() else { break };
            after = last.position;
            anyhow::ensure!(
                !page.iter().any(|e| store::sealing::sealed_by(&e.data).is_some()),
                "the log holds sealed personal data but {} is missing: restore it with the events (without it \
                 that data cannot be read)",
                file.display()
            );
        }
    }
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating the data directory {}", settings.data_dir.display()))?;
    Ok(Arc::new(SqliteKeys::open(&file).with_context(|| format!("opening the key store {}", file.display()))?))
}

/// The id a create mutation gives what it creates: derived from the
/// client's command id, so that a retry with the same command id names the
/// same thing and replays the first answer; fresh otherwise.
pub fn new_id(command_id: Option<Uuid>) -> Uuid {
    command_id.map_or_else(Uuid::now_v7, |command| Uuid::new_v5(&command, b"created"))
}

/// A fresh command context for a request.
pub fn context(command_id: Option<Uuid>, actor: domain::Actor, tenant: Uuid, client: Option<String>) -> CommandContext {
    let mut context = CommandContext::new(command_id.unwrap_or_else(Uuid::now_v7), actor, Some(tenant));
    context.client_address = client;
    context
}
