//! The command line's long-running commands — `verify` and `archive
//! export | verify | replay` — with progress shown on a terminal (a bar with
//! the rate and the time left) or, without one, as log lines, and a
//! one-line summary at the end.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use domain::Aggregate;
use domain::registry::DomainRegistration;
use domain::tenant::Tenant;
use domain::values::DomainName;
use indicatif::{ProgressBar, ProgressStyle};
use store::sealing::KeyStore;
use uuid::Uuid;

use crate::Settings;
use crate::backend::open_event_store;
use crate::renderings::{ArchiveRenderer, archived_company};
use crate::settings::{EventStoreKind, ReadModelKind};

/// How often progress is logged without a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Shows how far a long command has come: a bar on a terminal, a line
/// every few seconds otherwise.
pub struct Progress {
    bar: Option<ProgressBar>,
    what: &'static str,
    started: Instant,
    logged: Instant,
}

impl Progress {
    /// Progress of a command that goes through `what` (events, say).
    pub fn new(what: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{{bar:40}} {{human_pos}}/{{human_len}} {what} ({{per_sec}}, {{eta}} left)"
                ))
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Self { bar, what, started: Instant::now(), logged: Instant::now() }
    }

    /// `done` of `total`.
    pub fn update(&mut self, done: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
        } else if self.logged.elapsed() >= LOG_EVERY {
            self.logged = Instant::now();
            let rate = per_second(done, self.started.elapsed());
            let left = if rate > 0.0 {
                format!("{:.0} s left", (total.saturating_sub(done)) as f64 / rate)
            } else {
                String::new()
            };
            tracing::info!("{done} of {total} {} ({rate:.0}/s) {left}", self.what);
        }
    }

    /// Ends the display; returns the time taken and the rate.
    pub fn finish(self, done: u64) -> (Duration, f64) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
        let took = self.started.elapsed();
        (took, per_second(done, took))
    }
}

fn per_second(done: u64, took: Duration) -> f64 {
    done as f64 / took.as_secs_f64().max(1e-9)
}

/// The state of aggregate `id`, replayed from the log.
async fn replayed<A: Aggregate>(store: &dyn store::EventStore, id: Uuid) -> anyhow::Result<A> {
    let stream = commands::stream_name::<A>(id);
    let loaded = snapshots::load(store, None, &stream, A::SNAPSHOT_VERSION, commands::fold::<A>).await?;
    Ok(loaded.state)
}

/// The company that holds `domain` (its primary or an additional domain),
/// from the domain registry's stream; in a log without the registry (one
/// replayed from a company's archive), the company that signed up with it.
async fn company_of(store: &dyn store::EventStore, domain: &str) -> anyhow::Result<Uuid> {
    let name = DomainName::parse(domain).map_err(|e| anyhow::anyhow!("{domain}: {e}"))?;
    let registration = replayed::<DomainRegistration>(store, name.tenant_id()).await?;
    if let Some(holder) = registration.holder {
        return Ok(holder.tenant);
    }
    let signed_up = replayed::<Tenant>(store, name.tenant_id()).await?;
    signed_up.id.ok_or_else(|| anyhow::anyhow!("no company holds the domain {domain}"))
}

/// The store `settings` name, which must hold events already.
async fn existing_store(settings: &Settings) -> anyhow::Result<crate::backend::EventStores> {
    if settings.events == EventStoreKind::Embedded {
        let file = settings.data_dir.join("events.db");
        anyhow::ensure!(file.exists(), "no event store at {}", file.display());
    }
    open_event_store(settings, store::system_now()).await
}

/// The key that signs checkpoints and archives, beside the data; never
/// made here.
fn existing_key(settings: &Settings) -> anyhow::Result<audit::CheckpointKey> {
    let key = crate::secrets::existing_checkpoint_key(&settings.data_dir).context("the checkpoint key")?;
    let file = settings.data_dir.join("checkpoint.key");
    key.ok_or_else(|| anyhow::anyhow!("no checkpoint key at {}: give the auditors' --public-key", file.display()))
}

fn public_key(hex: Option<&str>) -> anyhow::Result<Option<audit::PublicKey>> {
    hex.map(|hex| audit::PublicKey::parse_hex(hex).map_err(|e| anyhow::anyhow!("--public-key: {e}"))).transpose()
}

/// `groupware archive export`: the company holding `domain`, its events of
/// the months `from` to `to` (`YYYY-MM`, in its time zone), into a new
/// archive at `out`, signed with the key beside the data.
///
/// # Errors
/// A reversed or empty range, a domain no company holds, a store or file
/// that fails.
pub async fn archive_export(
    settings: &Settings,
    domain: &str,
    (from, to): (&str, &str),
    out: &std::path::Path,
) -> anyhow::Result<String> {
    let months = (audit::archive::Month::parse("from", from)?, audit::archive::Month::parse("to", to)?);
    let stores = existing_store(settings).await?;
    let key = existing_key(settings)?;
    let id = company_of(stores.opened.as_ref(), domain).await?;
    let tenant = replayed::<Tenant>(stores.opened.as_ref(), id).await?;
    let keys = stores.sealer.keys().live_keys(id).await?;
    let company = archived_company(id, &tenant, domain);
    let blobs = blobs::FileBlobs::open(settings.data_dir.join("blobs")).await.context("opening the blob store")?;
    // Whoever holds the data directory holds the keys: mail is rendered.
    let sources = (stores.opened.clone(), stores.sealer.clone(), Arc::new(blobs) as Arc<dyn blobs::Blobs>);
    let mut renderer = ArchiveRenderer::new(sources, (id, &tenant), (true, true));
    let asked = audit::archive::Export {
        company: &company,
        from: months.0,
        to: months.1,
        keys: &keys,
        withheld: &[],
        schemas: crate::schema::event_schemas(),
        renderer: Some(&mut renderer),
        after: None,
    };
    let mut progress = Progress::new("events read");
    let exported = audit::archive::export(stores.stored.as_ref(), asked, &key, out, |p| {
        progress.update(p.done, p.total);
    })
    .await;
    let (took, rate) = progress.finish(exported.as_ref().map_or(0, |m| m.last_position));
    let manifest = exported?;
    Ok(format!(
        "archived {} events of {} from {} to {} into {} in {took:.2?} ({rate:.0} events/s read)",
        manifest.events,
        company.domain,
        manifest.from,
        manifest.to,
        out.display()
    ))
}

/// `groupware archive verify`: an archive checked without a server.
///
/// # Errors
/// What does not match; a file that is not an archive.
pub fn archive_verify(file: &std::path::Path, key: Option<&str>) -> anyhow::Result<String> {
    let trusted = public_key(key)?;
    let mut progress = Progress::new("events");
    let verified = audit::archive::verify_archive(file, trusted, |p| progress.update(p.done, p.total));
    let (took, rate) = progress.finish(verified.as_ref().map_or(0, |r| r.manifest.events));
    let report = verified?;
    let m = &report.manifest;
    Ok(format!(
        "verified: {} events of {} from {} to {} in {} files, {} signed checkpoints, signed by {}{}, in {took:.2?} ({rate:.0} events/s)",
        m.events,
        m.company.domain,
        m.from,
        m.to,
        m.files.len(),
        m.checkpoints.len(),
        report.key,
        if trusted.is_some() { "" } else { " (the key the manifest names: give --public-key to check against yours)" },
    ))
}

/// `groupware archive replay`: a verified archive written into a new
/// embedded store under `data_dir`, with the keys that open its sealed
/// payloads, for `groupware serve --read-only`.
///
/// # Errors
/// An archive that does not verify; a data directory that holds a store.
pub async fn archive_replay(
    file: &std::path::Path,
    data_dir: &std::path::Path,
    key: Option<&str>,
) -> anyhow::Result<String> {
    let report = audit::archive::verify_archive(file, public_key(key)?, |_| {})?;
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let target = data_dir.join("events.db");
    let mut import = store::sqlite::Import::create(&target)?;
    let mut progress = Progress::new("events");
    let total = report.manifest.events;
    let mut done = 0;
    let replayed = audit::archive::for_each_event(file, &report.manifest, |event| {
        import.push(event).map_err(audit::archive::ArchiveError::from)?;
        done += 1;
        progress.update(done, total);
        Ok(())
    })
    .map_err(anyhow::Error::from)
    .and_then(|()| Ok(import.finish()?));
    let (took, rate) = progress.finish(done);
    if let Err(e) = replayed {
        for name in ["events.db", "events.db-wal", "events.db-shm"] {
            let _ = std::fs::remove_file(data_dir.join(name));
        }
        return Err(e);
    }
    let keys = audit::archive::keys(file, &report.manifest)?;
    store::sealing::SqliteKeys::open(data_dir.join("keys.db"))?.import(keys).await?;
    Ok(format!(
        "replayed {done} events of {} into {} in {took:.2?} ({rate:.0} events/s); serve them with \
         `groupware serve --read-only --data-dir {}`",
        report.manifest.company.domain,
        target.display(),
        data_dir.display()
    ))
}

/// `groupware rebuild`: the whole event log replayed into fresh read
/// models. PostgreSQL read models are rebuilt beside the serving ones,
/// which take over when caught up (no downtime); embedded ones into a new
/// file that then replaces the data directory's (with the server
/// stopped; the mail index, built from them, is removed and built again
/// when the server starts); in-memory ones are built and dropped, which checks that the
/// log replays.
///
/// # Errors
/// When a store cannot be opened or an event cannot be projected.
pub async fn rebuild(settings: &Settings) -> anyhow::Result<String> {
    let store = existing_store(settings).await?.opened;
    let mut progress = Progress::new("events");
    let mut report = |done: u64, head: u64| progress.update(done, head);
    let read = match &settings.read_models {
        ReadModelKind::Embedded => {
            // Built beside the serving file, which it replaces only once
            // the whole log is in.
            let file = crate::backend::read_models_file(settings);
            let fresh = file.with_extension("db.rebuilding");
            remove_sqlite_file(&fresh, &["", "-wal", "-shm"])?;
            let models =
                projections::SqliteReadModels::open(&fresh).with_context(|| format!("making {}", fresh.display()))?;
            let read =
                projections::rebuild_with(store.as_ref(), &models, &crate::schema::projectors(), &mut report).await?;
            models.close()?;
            // The old file's write-ahead log must not meet the new file.
            remove_sqlite_file(&file, &["-wal", "-shm"])?;
            std::fs::rename(&fresh, &file)
                .with_context(|| format!("moving the rebuilt read models to {}", file.display()))?;
            // The mail index follows the read models: the server builds it
            // again from them as it starts. It is moved aside in one step
            // and only then removed, so that a rebuild stopped on the way
            // leaves the whole index or none (an index missing some of its
            // files cannot be opened).
            let index = crate::backend::mail_index_folder(settings);
            let aside = std::path::PathBuf::from(format!("{}.removing", index.display()));
            remove_folder(&aside)?;
            match std::fs::rename(&index, &aside) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("moving the mail index {} aside", index.display()));
                }
                _ => {}
            }
            remove_folder(&aside)?;
            read
        }
        ReadModelKind::Memory => {
            let models = projections::MemoryReadModels::default();
            projections::rebuild_with(store.as_ref(), &models, &crate::schema::projectors(), &mut report).await?
        }
        #[cfg(feature = "postgres")]
        ReadModelKind::Postgres(url) => {
            let models = crate::backend::postgres_read_models(url).await?;
            let mut read = 0;
            for projector in crate::schema::projectors() {
                read = read.max(models.rebuild_beside(store.as_ref(), &projector, &mut report).await?);
            }
            read
        }
        #[cfg(not(feature = "postgres"))]
        ReadModelKind::Postgres(url) => return Err(crate::settings::not_built(url, "PostgreSQL", "postgres")),
    };
    let (took, rate) = progress.finish(read);
    Ok(format!("rebuilt read models from {read} events in {took:.2?} ({rate:.0} events/s)"))
}

/// Removes the folder at `path` with what it holds, if it is there.
fn remove_folder(path: &std::path::Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Removes the parts of the SQLite file at `path` named by `suffixes`
/// (`""` the file, `-wal` its write-ahead log, `-shm` its shared memory)
/// that are there.
fn remove_sqlite_file(path: &std::path::Path, suffixes: &[&str]) -> anyhow::Result<()> {
    for suffix in suffixes {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", file.display()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `groupware verify`: the log of the data directory's store (or the one
/// `settings` names) checked against its chains, checkpoints and heads.
/// The checkpoints' signatures are checked with `public_key` (hexadecimal,
/// as `auditKey` gives it), else with the key beside the data.
///
/// # Errors
/// What does not match, naming the first event; a store that cannot be
/// opened; a domain no company holds.
pub async fn verify(settings: &Settings, company: Option<&str>, public_key: Option<&str>) -> anyhow::Result<String> {
    let stores = existing_store(settings).await?;
    let scope = match company {
        Some(domain) => Some(company_of(stores.opened.as_ref(), domain).await?),
        None => None,
    };
    let trusted = match self::public_key(public_key)? {
        Some(key) => key,
        None => existing_key(settings)?.public(),
    };
    let mut progress = Progress::new("events");
    let verified =
        audit::verify(stores.stored.as_ref(), scope, Some(trusted), |p| progress.update(p.done, p.total)).await;
    let report = match verified {
        Ok(report) => report,
        Err(e) => {
            progress.finish(0);
            anyhow::bail!("the log does not verify: {e}");
        }
    };
    let (took, rate) = progress.finish(report.events);
    Ok(format!(
        "verified: {} events read, {} links checked, {} {}, {} signed checkpoints match (key {trusted}), in {took:.2?} ({rate:.0} events/s)",
        report.events,
        report.linked,
        report.companies,
        if report.companies == 1 { "company" } else { "companies" },
        report.checkpoints,
    ))
}
