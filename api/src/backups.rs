//! The backup worker (rule A10): for each requested backup, every document
//! submitted in the range (days in the company's time zone) is printed as
//! an HTML page with its line and history, and the pages are packed in one
//! zip archive with an index, written to the blob store as it is made. It
//! follows the log, runs with the other workers, in one process at a time;
//! a backup already finished is not made again.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::web::Bytes;
use blobs::Blobs;
use commands::{CommandContext, Commands};
use domain::approval::{BackupAction, BackupCommand, BackupEvent, Backups};
use domain::tenant::Tenant;
use domain::{Actor, Aggregate};
use printing::IndexPage;
use projections::ReadModelStore;
use projections::projectors::approval::{self as read, DocumentRow};
use projections::projectors::users;
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use crate::capabilities::{Place, Starting, Worker, WorkerContext, following, until_decided, until_done};
use crate::renderings::{document_page, is_record, page_file, people, person_named};

/// The largest archive.
const MAX_ARCHIVE: u64 = 4 * 1024 * 1024 * 1024;
/// How long a backup waits for the documents' read model to reach its
/// request before it is recorded as failed.
const READ_MODEL_DEADLINE: Duration = Duration::from_secs(120);
/// Parts of an archive on their way to the blob store at a time.
const CHUNKS_IN_FLIGHT: usize = 4;

/// The backup worker, as the approval capability runs it.
pub(crate) const WORKER: Worker = Worker { name: "backups", start: start_worker };

fn start_worker(context: WorkerContext) -> Starting {
    Box::pin(async move {
        let WorkerContext { commands, read_models, blobs, .. } = context;
        // Each requested backup, with the position of its request.
        let pick = |event: &store::RecordedEvent| {
            if event.category() != Backups::CATEGORY {
                return None;
            }
            match (event.metadata.tenant, event.decode::<BackupEvent>()) {
                (Some(tenant), Ok(BackupEvent::Requested { backup_id, .. })) => {
                    Some((tenant, backup_id, event.position))
                }
                _ => None,
            }
        };
        let store = commands.store().clone();
        let place = Place::of(read_models.clone(), WORKER.name);
        following(store, place, pick, move |(tenant, backup_id, position)| {
            let (commands, read_models, blobs) = (commands.clone(), read_models.clone(), blobs.clone());
            async move { make(&commands, read_models.as_ref(), blobs.as_ref(), tenant, backup_id, position).await }
        })
        .await
    })
}

/// Waits, with growing pauses and up to [`READ_MODEL_DEADLINE`], until the
/// approval read model has applied `position`; returns whether it has.
async fn documents_reached(read_models: &dyn ReadModelStore, position: u64) -> bool {
    let deadline = Instant::now() + READ_MODEL_DEADLINE;
    let mut pause = Duration::from_millis(5);
    loop {
        if read_models.checkpoint("approval.v1").await.is_ok_and(|at| at >= position) {
            return true;
        }
        if Instant::now() + pause > deadline {
            return false;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Makes one backup and records how it ended.
async fn make(
    commands: &Arc<Commands>,
    read_models: &dyn ReadModelStore,
    blobs: &dyn Blobs,
    tenant: Uuid,
    backup_id: Uuid,
    requested_at: u64,
) {
    let backups = until_done("a backup's request", || commands.load::<Backups>(tenant)).await;
    let Some(backup) = backups.state.backups.get(&backup_id) else { return };
    if !backup.file.is_preparing() {
        return;
    }
    let action = if documents_reached(read_models, requested_at).await {
        let (chunks, received) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let mut sink = ArchiveSink::new(chunks);
        let write = async {
            let written = archive(commands, read_models, tenant, backup.from, backup.to, &mut sink).await;
            sink.finish(written).await
        };
        let store = async move {
            let mut received = received;
            let stream = futures::stream::poll_fn(move |cx| received.poll_recv(cx));
            let exports = blobs::exports_of(tenant);
            blobs.put(exports, &mut tokio_util::io::StreamReader::new(stream), MAX_ARCHIVE).await
        };
        match tokio::join!(write, store) {
            (Ok(documents), Ok(stored)) => {
                BackupAction::Complete { backup_id, sha256: stored.sha256, size: stored.size, documents }
            }
            (Err(Unwritten::Failed(reason)), _) => BackupAction::Fail { backup_id, reason },
            (_, Err(e)) => BackupAction::Fail { backup_id, reason: format!("storing the archive: {e}") },
            (Err(Unwritten::Refused), Ok(_)) => {
                BackupAction::Fail { backup_id, reason: "the blob store stopped taking the archive".into() }
            }
        }
    } else {
        BackupAction::Fail { backup_id, reason: "the documents were not up to date in time".into() }
    };
    let context = CommandContext::new(Uuid::new_v5(&backup_id, b"finish-backup"), Actor::System, Some(tenant));
    let command = BackupCommand { by_admin: false, action };
    until_decided::<Backups>(commands, "recording a backup", (tenant, &context, command)).await;
}

/// Why an archive was not written whole.
enum Unwritten {
    /// Making it failed; the blob store is told, and keeps nothing.
    Failed(String),
    /// The blob store stopped reading it (its own error says why).
    Refused,
}

/// What the zip writer has written and not yet sent on.
#[derive(Clone, Default)]
struct Pending(Arc<Mutex<Vec<u8>>>);

impl Write for Pending {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The way from the zip writer to the blob store.
struct Outlet {
    pending: Pending,
    chunks: mpsc::Sender<io::Result<Bytes>>,
    /// The blob store stopped reading.
    refused: bool,
}

impl Outlet {
    /// Sends on what the zip writer has written.
    async fn send(&mut self) -> Result<(), String> {
        let bytes = std::mem::take(&mut *self.pending.0.lock().unwrap_or_else(PoisonError::into_inner));
        if bytes.is_empty() {
            return Ok(());
        }
        if self.chunks.send(Ok(Bytes::from(bytes))).await.is_err() {
            self.refused = true;
            return Err("the blob store stopped taking the archive".into());
        }
        Ok(())
    }
}

/// A zip archive on its way to the blob store: what the zip writer writes
/// is sent on after each file, so a page or two is held at a time, not the
/// archive.
struct ArchiveSink {
    zip: zip::ZipWriter<zip::write::StreamWriter<Pending>>,
    outlet: Outlet,
}

impl ArchiveSink {
    fn new(chunks: mpsc::Sender<io::Result<Bytes>>) -> Self {
        let pending = Pending::default();
        let zip = zip::ZipWriter::new_stream(pending.clone());
        Self { zip, outlet: Outlet { pending, chunks, refused: false } }
    }

    /// Adds a file.
    async fn add(&mut self, name: &str, content: &str) -> Result<(), String> {
        self.zip.start_file(name, zip::write::SimpleFileOptions::default()).map_err(|e| e.to_string())?;
        self.zip.write_all(content.as_bytes()).map_err(|e| e.to_string())?;
        self.outlet.send().await
    }

    /// Ends the archive with its directory when it was `written` whole;
    /// otherwise sends the failure on, so that the store keeps nothing.
    async fn finish(self, written: Result<u32, String>) -> Result<u32, Unwritten> {
        let Self { zip, mut outlet } = self;
        if outlet.refused {
            return Err(Unwritten::Refused);
        }
        match written.and_then(|documents| zip.finish().map(|_| documents).map_err(|e| e.to_string())) {
            Ok(documents) => outlet.send().await.map(|()| documents).map_err(|_| Unwritten::Refused),
            Err(reason) => {
                let _ = outlet.chunks.send(Err(io::Error::other(reason.clone()))).await;
                Err(Unwritten::Failed(reason))
            }
        }
    }
}

/// Names of users, read once each.
struct UserNames<'a> {
    read_models: &'a dyn ReadModelStore,
    tenant: Uuid,
    known: HashMap<Uuid, String>,
}

impl UserNames<'_> {
    async fn name(&mut self, id: Uuid) -> String {
        if let Some(name) = self.known.get(&id) {
            return name.clone();
        }
        let name = match users::user_by_id(self.read_models, self.tenant, id).await {
            Ok(user) => person_named(user.as_ref().map(|u| (u.name.as_str(), u.login.as_str())), id),
            // Unknown is not deleted: the id alone.
            Err(_) => id.to_string(),
        };
        self.known.insert(id, name.clone());
        name
    }
}

/// Writes the range's documents and their index to `sink`; returns how
/// many documents it holds.
async fn archive(
    commands: &Arc<Commands>,
    read_models: &dyn ReadModelStore,
    tenant: Uuid,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    sink: &mut ArchiveSink,
) -> Result<u32, String> {
    let company = commands.load_latest::<Tenant>(tenant).await.map_err(|e| e.to_string())?;
    let tz = company.time_zone.tz();
    let company_name = company.company_name.as_ref().map(|n| n.as_str().to_owned()).unwrap_or_default();
    let rows = read::documents(read_models, tenant).await.map_err(|e| e.to_string())?;
    let mut names = UserNames { read_models, tenant, known: HashMap::new() };
    let mut index = Vec::new();
    for DocumentRow { id, document, .. } in rows {
        let Some(submitted) = document.submitted_at else { continue };
        let day = submitted.with_timezone(&tz).date_naive();
        if day < from || day > to || !is_record(&document) {
            continue;
        }
        let history = read::history(read_models, tenant, id).await.map_err(|e| e.to_string())?;
        let mut named = HashMap::new();
        for person in people(&document, &history) {
            named.insert(person, names.name(person).await);
        }
        let name = |id: Uuid| named.get(&id).cloned().unwrap_or_default();
        let page = document_page(&document, &company_name, &name, &history, tz);
        let file = page_file(&document, id);
        let html = printing::render(&page, "document").map_err(|e| e.to_string())?;
        sink.add(&file, &html).await?;
        index.push((file, document.title.clone()));
    }
    let count = index.len() as u32;
    let page = IndexPage {
        company: company_name,
        from: from.format("%Y%m%d").to_string(),
        to: to.format("%Y%m%d").to_string(),
        documents: index,
    };
    sink.add("index.html", &printing::render(&page, "index").map_err(|e| e.to_string())?).await?;
    Ok(count)
}
