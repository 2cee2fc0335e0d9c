//! Archives of the company's history over the API: an admin or an auditor
//! asks for a range of months, the worker makes the archive in the
//! background (as `groupware archive export` does, into the blob store) and
//! it can be downloaded for 30 days.
//!
//! An archive asked for over the API holds what its asker may read, as
//! stream histories show it: no mail (mail is its people's alone; rule E7
//! opens it only with the secure-mail add-on), so mail payloads stay sealed
//! — their hashes still check — and no `.eml` message is rendered; the
//! company's records key (HR cards, leave ledgers, certificates, every
//! document) only in an auditor's, who reads them all, with the leave
//! histories rendered. An admin's holds the records sealed and renders the
//! documents, which an admin backs up whole anyway (rule A10); only
//! auditors download an auditor's.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};
use commands::CommandContext;
use domain::audit::archives::{Archive, ArchiveAction, ArchiveCommand, ArchiveEvent, Archives};
use domain::tenant::Tenant;
use domain::values::{Month, Role};
use domain::{Actor, Aggregate};
use store::RecordedEvent;
use store::sealing::KeyRef;
use uuid::Uuid;

use crate::backend::Backend;
use crate::capabilities::{Place, Starting, Worker, WorkerContext, following, until_decided, until_done};
use crate::errors::{ApiError, ApiResult};
use crate::renderings::{ArchiveRenderer, archived_company};
use crate::rest::{self, Download};
use crate::schema::types::FileFields;
use crate::schema::{Caller, authenticate};

/// The largest archive the blob store takes.
const MAX_ARCHIVE: u64 = 64 * 1024 * 1024 * 1024;
/// The streams whose payloads no archive asked for over the API opens.
const WITHHELD: &str = domain::mail::Mailbox::CATEGORY;

/// An archive of the company's history (60-month retention).
#[derive(SimpleObject, Debug, Clone)]
pub struct CompanyArchive {
    pub id: Uuid,
    /// YYYY-MM, in the company's time zone, both included.
    pub from: String,
    pub to: String,
    pub requested_at: DateTime<Utc>,
    /// PREPARING, READY or FAILED.
    pub status: String,
    /// How many events it holds, once ready.
    pub events: Option<u64>,
    pub size: Option<u64>,
    pub failure: Option<String>,
    /// It can be downloaded (at `downloadPath`) until then.
    pub expires_at: DateTime<Utc>,
    pub download_path: String,
    /// Whether it opens the company's records (an auditor's archive).
    pub records: bool,
}

impl CompanyArchive {
    fn new(id: Uuid, archive: &Archive) -> Self {
        let file = FileFields::of(&archive.file);
        Self {
            id,
            from: archive.from.to_string(),
            to: archive.to.to_string(),
            requested_at: archive.file.requested_at,
            status: file.status.to_owned(),
            events: file.items,
            size: file.size,
            failure: file.failure,
            expires_at: archive.file.expires_at(),
            download_path: format!("/audit/archives/{id}"),
            records: archive.records,
        }
    }
}

/// Asks for the archive of the months `from` to `to` (`YYYY-MM`).
///
/// # Errors
/// `FORBIDDEN` unless the caller is an admin or an auditor; `INVALID_INPUT`
/// for a month badly written, a reversed range, one before the company
/// began or one not yet begun.
pub(super) async fn request(
    backend: &Backend,
    caller: &Caller,
    context: &CommandContext,
    (from, to): (&str, &str),
) -> ApiResult<CompanyArchive> {
    caller.require_auditing()?;
    let (from, to) = (Month::parse("from", from)?, Month::parse("to", to)?);
    let tenant = backend.commands.load_latest::<Tenant>(caller.tenant).await?;
    let since = super::retention::signed_up(backend.store.as_ref(), caller.tenant, &tenant.time_zone)
        .await
        .map_err(ApiError::internal)?;
    // The request's command id names the archive: a request sent again
    // answers the same archive.
    let archive_id = context.command_id;
    let action = ArchiveAction::Request {
        archive_id,
        from,
        to,
        records: caller.has(Role::Auditor),
        by: caller.user.id,
        since,
        zone: tenant.time_zone.clone(),
    };
    let command = ArchiveCommand { by_reader: true, action };
    backend.execute::<Archives>(caller.tenant, context, command).await?;
    let archives = backend.commands.load_latest::<Archives>(caller.tenant).await?;
    Ok(CompanyArchive::new(archive_id, archives.archive(archive_id)?))
}

/// The company's archives, newest first.
///
/// # Errors
/// `FORBIDDEN` unless the caller is an admin or an auditor.
pub(super) async fn list(backend: &Backend, caller: &Caller) -> ApiResult<Vec<CompanyArchive>> {
    caller.require_auditing()?;
    let archives = backend.commands.load_latest::<Archives>(caller.tenant).await?;
    let mut list: Vec<CompanyArchive> = archives.archives.iter().map(|(id, a)| CompanyArchive::new(*id, a)).collect();
    list.sort_by(|a, b| b.requested_at.cmp(&a.requested_at).then(b.id.cmp(&a.id)));
    Ok(list)
}

pub(super) fn routes(config: &mut web::ServiceConfig) {
    config.service(rest::resource("/audit/archives/{id}", "GET").route(web::get().to(download)));
}

/// `GET /audit/archives/{id}`: an archive, for an admin or an auditor of its
/// company, within 30 days of the request.
async fn download(req: HttpRequest, backend: web::Data<Arc<Backend>>, id: web::Path<Uuid>) -> HttpResponse {
    let id = id.into_inner();
    rest::download(&req, |token| async move {
        let caller = authenticate(&backend, &token).await?;
        caller.require_auditing()?;
        let archives = backend.commands.load_latest::<Archives>(caller.tenant).await?;
        let archive = archives.archive(id)?;
        if archive.records && !caller.has(Role::Auditor) {
            return Err(ApiError::forbidden("this archive opens the company's records: only auditors download it"));
        }
        let sha256 = archive.download(backend.clock.now())?;
        let blob = backend.export(caller.tenant, sha256).await?;
        Ok(Download { name: format!("archive-{id}.zip"), content_type: "application/zip".into(), blob })
    })
    .await
}

/// The worker that makes the archives asked for.
pub(super) const WORKER: Worker = Worker { name: "archives", start: start_worker };

fn start_worker(mut context: WorkerContext) -> Starting {
    Box::pin(async move {
        // What a stopped process left half made is of no use: the folder
        // starts empty (one process at a time runs the workers).
        context.scratch = context.scratch.join("archives");
        let _ = std::fs::remove_dir_all(&context.scratch);
        // Without it, each archive fails and says why; the other workers
        // run on.
        if let Err(e) = std::fs::create_dir_all(&context.scratch) {
            tracing::warn!(error = %e, folder = %context.scratch.display(), "no scratch folder for archives");
        }
        let pick = |event: &RecordedEvent| {
            let tenant = event.metadata.tenant.filter(|_| event.category() == Archives::CATEGORY)?;
            match event.decode::<ArchiveEvent>() {
                Ok(ArchiveEvent::Requested { archive_id, .. }) => Some((tenant, archive_id)),
                _ => None,
            }
        };
        let store = context.commands.store().clone();
        let place = Place::of(context.read_models.clone(), WORKER.name);
        following(store, place, pick, move |(tenant, archive_id)| {
            let context = context.clone();
            async move { make(&context, tenant, archive_id).await }
        })
        .await
    })
}

/// Makes one archive and records how it ended.
async fn make(context: &WorkerContext, tenant: Uuid, archive_id: Uuid) {
    let archives = until_done("an archive's request", || context.commands.load::<Archives>(tenant)).await;
    let Some(archive) = archives.state.archives.get(&archive_id).filter(|a| a.file.is_preparing()).cloned() else {
        return;
    };
    // Compressing, hashing and writing the files is work for a thread of
    // its own, not for the server's.
    let (making, runtime) = (context.clone(), tokio::runtime::Handle::current());
    let made = tokio::task::spawn_blocking(move || runtime.block_on(written(&making, tenant, &archive))).await;
    let action = match made {
        Ok(Ok((stored, events))) => {
            ArchiveAction::Complete { archive_id, sha256: stored.sha256, size: stored.size, events }
        }
        Ok(Err(reason)) => ArchiveAction::Fail { archive_id, reason },
        Err(e) => ArchiveAction::Fail { archive_id, reason: format!("making it stopped: {e}") },
    };
    let command_id = Uuid::new_v5(&archive_id, b"finish-archive");
    let finish = CommandContext::new(command_id, Actor::System, Some(tenant));
    let command = ArchiveCommand { by_reader: false, action };
    until_decided::<Archives>(&context.commands, "recording an archive", (tenant, &finish, command)).await;
}

/// The archive written into a file in the worker's scratch folder, then into the blob
/// store; its blob and how many events it holds.
async fn written(context: &WorkerContext, tenant: Uuid, archive: &Archive) -> Result<(blobs::StoredBlob, u64), String> {
    let company = context.commands.load_latest::<Tenant>(tenant).await.map_err(|e| e.to_string())?;
    let keys: Vec<_> = match archive.records {
        true => (context.payloads.keys().live_keys(tenant).await)
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|(key, _)| *key == KeyRef::company(tenant))
            .collect(),
        false => Vec::new(),
    };
    let described = archived_company(tenant, &company, "");
    let sources = (context.commands.store().clone(), context.payloads.clone(), context.blobs.clone());
    let mut renderer = ArchiveRenderer::new(sources, (tenant, &company), (false, archive.records));
    let scratch = tempfile::tempdir_in(&context.scratch).map_err(|e| format!("a scratch directory: {e}"))?;
    let out = scratch.path().join("archive.zip");
    let asked = audit::archive::Export {
        company: &described,
        from: archive.from,
        to: archive.to,
        keys: &keys,
        withheld: &[WITHHELD],
        schemas: crate::schema::event_schemas(),
        renderer: Some(&mut renderer),
        after: None,
    };
    let manifest = audit::archive::export(context.stored.as_ref(), asked, &context.checkpoints.key, &out, |_| {})
        .await
        .map_err(|e| e.to_string())?;
    let mut file = tokio::fs::File::open(&out).await.map_err(|e| e.to_string())?;
    let exports = blobs::exports_of(tenant);
    let stored = context.blobs.put(exports, &mut file, MAX_ARCHIVE).await.map_err(|e| format!("storing it: {e}"))?;
    Ok((stored, manifest.events))
}
