//! Retention: each company's history older than its retention period
//! leaves the live log for cold storage (`audit::cold`), once it is in an
//! archive that verifies; and what admins and auditors see of it.
//!
//! The worker `retention` looks at every company at intervals. The months
//! that fell out of the period and have not left yet are exported (as
//! stored: sealed payloads stay sealed, and their keys stay in the key
//! store, so that deleting a person later still shreds what they wrote)
//! into the worker's scratch folder, verified, and every aggregate with
//! events in them gets a snapshot as it stands; only then does the file
//! move into the cold folder and the log remove the events (the store
//! checks that the file holds exactly them), and the move is recorded
//! (`HistoryMovedOut`). A move the log made but did not get recorded (a
//! stop in between) is recorded from the file at the next round.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};
use commands::{CommandContext, stream_name};
use domain::Actor;
use domain::audit::retention::{Purge, Retention, RetentionAction, RetentionCommand};
use domain::tenant::Tenant;
use domain::values::{Month, TimeZone};
use sha2::{Digest, Sha256};
use store::chain::ChainHash;
use store::cold::ColdSegment;
use store::{Direction, EventStore};
use uuid::Uuid;

use crate::backend::Backend;
use crate::capabilities::{Running, Starting, Stopping, Worker, WorkerContext};
use crate::errors::ApiResult;
use crate::renderings::archived_company;
use crate::schema::Caller;

/// Where the cold history is kept, and how often the worker looks.
#[derive(Clone)]
pub struct Retaining {
    pub cold: PathBuf,
    pub every: Duration,
}

/// The worker that moves history out of the log.
pub(super) const WORKER: Worker = Worker { name: "retention", start: start_worker };

fn start_worker(mut context: WorkerContext) -> Starting {
    Box::pin(async move {
        // It follows no events: whatever is in the log is handled.
        let handled = context.commands.store().head();
        // What a stopped process left half made is of no use.
        context.scratch = context.scratch.join("retention");
        let _ = std::fs::remove_dir_all(&context.scratch);
        let task = tokio::spawn(async move {
            let every = context.retention.every;
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut nothing_until = HashMap::new();
            loop {
                ticks.tick().await;
                move_out_every_company(&context, &mut nothing_until).await;
            }
        });
        Ok(Running { handled, guard: Box::new(Stopping(task)) })
    })
}

/// Every company's history that fell out of its period, out of the log.
/// `nothing_until` keeps, for each company, the last month of a range found
/// to hold none of its events: the log is not read again for it until
/// another month falls out.
async fn move_out_every_company(context: &WorkerContext, nothing_until: &mut HashMap<Uuid, Month>) {
    let heads = match context.stored.chain_heads().await {
        Ok(Some(heads)) => heads,
        Ok(None) => return,
        Err(e) => return tracing::warn!(error = %e, "the companies' history could not be looked at"),
    };
    for tenant in heads.iter().map(|h| h.chain).filter(|c| !c.is_nil()) {
        match move_out(context, tenant, nothing_until).await {
            Ok(Some(purge)) => tracing::info!(
                %tenant, from = %purge.from, to = %purge.to, events = purge.events, file = purge.file,
                "history older than the retention period left the log"
            ),
            Ok(None) => {}
            Err(reason) => tracing::warn!(
                %tenant, reason, "history older than the retention period stays in the log for now"
            ),
        }
    }
}

/// Moves `tenant`'s months that fell out of its retention period out of
/// the log; what moved, if anything did.
async fn move_out(
    context: &WorkerContext,
    tenant: Uuid,
    nothing_until: &mut HashMap<Uuid, Month>,
) -> Result<Option<Purge>, String> {
    let company = context.commands.load_stored::<Tenant>(tenant).await.map_err(|e| e.to_string())?.state;
    if company.id.is_none() || company.terminated {
        return Ok(None);
    }
    let (retention, segments) = recorded(context, tenant).await?;
    let keeps_from = retention.keeps_from(context.commands.clock().now(), &company.time_zone);
    let from = match retention.moved_out_until() {
        Some(month) => month,
        None => signed_up(context.commands.store().as_ref(), tenant, &company.time_zone).await?,
    };
    if from >= keeps_from {
        return Ok(None);
    }
    let to = keeps_from.previous();
    if nothing_until.get(&tenant) == Some(&to) {
        return Ok(None);
    }
    std::fs::create_dir_all(&context.scratch).map_err(|e| format!("the scratch folder: {e}"))?;
    forget_unmoved(context, tenant).await?;
    // The months go on from the last move's anchor: the log is read from
    // there, not from its start.
    let after = segments.last().map(|s| (s.last_position, s.anchor));
    let out = context.scratch.join(format!("{tenant}.zip"));
    let (making, runtime) = (context.clone(), tokio::runtime::Handle::current());
    let company = archived_company(tenant, &company, "");
    let exporting = out.clone();
    // Compressing and checking the file is work for a thread of its own.
    let made = tokio::task::spawn_blocking(move || {
        let asked = audit::archive::Export {
            company: &company,
            from,
            to,
            keys: &[],
            withheld: &[],
            schemas: crate::schema::event_schemas(),
            renderer: None,
            after,
        };
        let exported = runtime.block_on(audit::archive::export(
            making.stored.as_ref(),
            asked,
            &making.checkpoints.key,
            &exporting,
            |_| {},
        ));
        let manifest = match exported {
            Ok(manifest) => manifest,
            Err(audit::archive::ArchiveError::Empty(_)) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        audit::archive::verify_archive(&exporting, Some(making.checkpoints.key.public()), |_| {})
            .map_err(|e| format!("the archive does not verify: {e}"))?;
        // The index the cold history will read it by, made now: it names
        // the aggregates to snapshot.
        let streams = audit::cold::streams_of(&exporting, &manifest).map_err(|e| e.to_string())?;
        let aggregates: std::collections::BTreeSet<(String, Uuid)> = (streams.iter())
            .filter_map(|stream| match store::stream_parts(stream) {
                (category, Some(id)) => Some((category.to_owned(), id)),
                (_, None) => None,
            })
            .collect();
        Ok(Some((manifest, aggregates)))
    })
    .await
    .map_err(|e| format!("making the archive stopped: {e}"))?;
    let Some((manifest, aggregates)) = made? else {
        nothing_until.insert(tenant, to);
        return Ok(None);
    };
    // Loads begin at these snapshots from now on: none reads the events
    // about to leave.
    for (category, id) in aggregates {
        context.reactions.snapshot_now(&context.commands, &category, tenant, id).await.map_err(|e| e.to_string())?;
    }
    let file = format!("{tenant}-{from}-{to}.zip");
    let sha256 = digest(&out)?;
    std::fs::create_dir_all(&context.retention.cold).map_err(|e| format!("the cold folder: {e}"))?;
    let moved = context.retention.cold.join(&file);
    std::fs::rename(audit::cold::index_path(&out), audit::cold::index_path(&moved))
        .map_err(|e| format!("moving the archive's index: {e}"))?;
    std::fs::rename(&out, &moved).map_err(|e| format!("moving the archive: {e}"))?;
    let segment = ColdSegment {
        tenant,
        first_position: manifest.first_position,
        last_position: manifest.last_position,
        events: manifest.events,
        anchor: ChainHash::parse_hex(&manifest.chain_at_end).map_err(|e| e.to_string())?,
        file: file.clone(),
    };
    context.stored.purge(&segment).await.map_err(|e| e.to_string())?;
    let purge = Purge {
        from,
        to,
        first_position: segment.first_position,
        last_position: segment.last_position,
        events: segment.events,
        file,
        sha256,
        at: context.commands.clock().now(),
    };
    record(context, tenant, purge.clone()).await?;
    Ok(Some(purge))
}

/// `tenant`'s retention, with every move the log made recorded (one made
/// but not recorded is recorded now, from its file), and the company's
/// segments in the log.
async fn recorded(context: &WorkerContext, tenant: Uuid) -> Result<(Arc<Retention>, Vec<ColdSegment>), String> {
    let retention = context.commands.load_stored::<Retention>(tenant).await.map_err(|e| e.to_string())?.state;
    let through = retention.purges.last().map_or(0, |p| p.last_position);
    let segments: Vec<ColdSegment> = (context.stored.cold_segments().await.map_err(|e| e.to_string())?)
        .into_iter()
        .filter(|s| s.tenant == tenant)
        .collect();
    let unrecorded: Vec<&ColdSegment> = segments.iter().filter(|s| s.last_position > through).collect();
    if unrecorded.is_empty() {
        return Ok((retention, segments));
    }
    for segment in unrecorded {
        let path = context.retention.cold.join(&segment.file);
        let manifest = audit::archive::signed_manifest(&path, &context.checkpoints.key.public())
            .map_err(|e| format!("the cold history file {}: {e}", segment.file))?;
        let purge = Purge {
            from: manifest.from,
            to: manifest.to,
            first_position: segment.first_position,
            last_position: segment.last_position,
            events: segment.events,
            sha256: digest(&path)?,
            file: segment.file.clone(),
            at: context.commands.clock().now(),
        };
        record(context, tenant, purge).await?;
    }
    let retention = context.commands.load_stored::<Retention>(tenant).await.map_err(|e| e.to_string())?.state;
    Ok((retention, segments))
}

/// Removes the archive files of `tenant` in the cold folder that no
/// segment of the log names, as it stands now (a move that stopped between
/// the file and the log), with their indexes; nothing else.
async fn forget_unmoved(context: &WorkerContext, tenant: Uuid) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(&context.retention.cold) else { return Ok(()) };
    let segments = context.stored.cold_segments().await.map_err(|e| e.to_string())?;
    let prefix = format!("{tenant}-");
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let archive = name.strip_suffix(".streams.json").unwrap_or(&name);
        let unmoved = name.starts_with(&prefix)
            && archive.ends_with(".zip")
            && !segments.iter().any(|s| s.tenant == tenant && s.file == archive);
        if unmoved {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Records that `purge` left the log (once, whoever tries again).
async fn record(context: &WorkerContext, tenant: Uuid, purge: Purge) -> Result<(), String> {
    let command_id = Uuid::new_v5(&tenant, format!("history-moved-out-{}", purge.last_position).as_bytes());
    let recording = CommandContext::new(command_id, Actor::System, Some(tenant));
    let command = RetentionCommand { by_admin: false, action: RetentionAction::Record(purge) };
    context.commands.execute::<Retention>(tenant, &recording, command).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// The month `tenant` signed up in.
pub(super) async fn signed_up(store: &dyn EventStore, tenant: Uuid, zone: &TimeZone) -> Result<Month, String> {
    let first = store.read_stream(&stream_name::<Tenant>(tenant), Direction::Forwards, Some(0), 1).await;
    let began = first.map_err(|e| e.to_string())?.first().map_or_else(Utc::now, |e| e.metadata.occurred_at);
    Ok(Month::of(zone.date_at(began)))
}

/// The SHA-256 of the file at `path`, hexadecimal.
fn digest(path: &Path) -> Result<String, String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(hex::encode(hasher.finalize()))
}

/// How long the company keeps its history in the live log, and what has
/// left it for cold storage.
#[derive(SimpleObject)]
pub struct CompanyRetention {
    /// The months the company keeps, this one included (60 unless an
    /// admin set more).
    pub months: u32,
    /// The oldest month kept in the live log now (`YYYY-MM`, in the
    /// company's time zone); what is older leaves it at the next round.
    pub keeps_from: String,
    /// What has left the live log, oldest first.
    pub moved_out: Vec<MovedOut>,
}

/// A stretch of history moved out of the live log into an archive file.
#[derive(SimpleObject)]
pub struct MovedOut {
    pub from: String,
    pub to: String,
    pub first_position: u64,
    pub last_position: u64,
    pub events: u64,
    /// The archive file, in the data directory's cold folder.
    pub file: String,
    pub sha256: String,
    pub at: DateTime<Utc>,
}

/// The company's retention as the caller (an admin or an auditor) sees it.
///
/// # Errors
/// `FORBIDDEN` for anyone else; the store's failure.
pub(super) async fn retention(backend: &Backend, caller: &Caller) -> ApiResult<CompanyRetention> {
    caller.require_auditing()?;
    let retention = backend.commands.load_latest::<Retention>(caller.tenant).await?;
    let company = backend.commands.load_latest::<Tenant>(caller.tenant).await?;
    let keeps_from = retention.keeps_from(backend.commands.clock().now(), &company.time_zone);
    Ok(CompanyRetention {
        months: retention.months(),
        keeps_from: keeps_from.to_string(),
        moved_out: retention
            .purges
            .iter()
            .map(|p| MovedOut {
                from: p.from.to_string(),
                to: p.to.to_string(),
                first_position: p.first_position,
                last_position: p.last_position,
                events: p.events,
                file: p.file.clone(),
                sha256: p.sha256.clone(),
                at: p.at,
            })
            .collect(),
    })
}

/// Sets how many months the company keeps (admins only).
///
/// # Errors
/// `FORBIDDEN` for anyone but an admin; `VALIDATION` for a period outside
/// 60 to 600 months.
pub(super) async fn set_period(
    backend: &Backend,
    caller: &Caller,
    context: &CommandContext,
    months: u32,
) -> ApiResult<CompanyRetention> {
    caller.require_admin()?;
    let command = RetentionCommand { by_admin: true, action: RetentionAction::SetPeriod { months } };
    backend.execute::<Retention>(caller.tenant, context, command).await?;
    retention(backend, caller).await
}
