//! The command line's long-running commands: `verify`, with progress shown
//! on a terminal (a bar with the rate and the time left) or, without one,
//! as log lines.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Context;
use domain::Aggregate;
use domain::registry::DomainRegistration;
use domain::values::DomainName;
use indicatif::{ProgressBar, ProgressStyle};
use uuid::Uuid;

use crate::Settings;
use crate::backend::open_event_store;
use crate::settings::EventStoreKind;

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

/// The company that holds `domain` (its primary or an additional domain),
/// from the domain registry's stream.
async fn company_of(store: &dyn store::EventStore, domain: &str) -> anyhow::Result<Uuid> {
    let name = DomainName::parse(domain).map_err(|e| anyhow::anyhow!("{domain}: {e}"))?;
    let stream = commands::stream_name::<DomainRegistration>(name.tenant_id());
    let loaded =
        snapshots::load(store, None, &stream, DomainRegistration::SNAPSHOT_VERSION, |state: DomainRegistration, e| {
            e.decode().map(|event| state.evolve(&event)).map_err(|e| e.to_string())
        })
        .await?;
    loaded.state.holder.map(|h| h.tenant).ok_or_else(|| anyhow::anyhow!("no company holds the domain {domain}"))
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
    if settings.events == EventStoreKind::Embedded {
        let file = settings.data_dir.join("events.db");
        anyhow::ensure!(file.exists(), "no event store at {}", file.display());
    }
    let store = open_event_store(settings, store::system_now()).await?;
    let scope = match company {
        Some(domain) => Some(company_of(store.as_ref(), domain).await?),
        None => None,
    };
    let trusted = match public_key {
        Some(hex) => audit::PublicKey::parse_hex(hex).map_err(|e| anyhow::anyhow!("--public-key: {e}"))?,
        None => {
            let file = settings.data_dir.join("checkpoint.key");
            anyhow::ensure!(file.exists(), "no checkpoint key at {}: give the auditors' --public-key", file.display());
            crate::secrets::checkpoint_key(&settings.data_dir).context("the checkpoint key")?.public()
        }
    };
    let mut progress = Progress::new("events");
    let verified = audit::verify(store.as_ref(), scope, Some(trusted), |p| progress.update(p.done, p.total)).await;
    let report = match verified {
        Ok(report) => report,
        Err(e) => {
            progress.finish(0);
            anyhow::bail!("the log does not verify: {e}");
        }
    };
    let (took, rate) = progress.finish(report.events);
    Ok(format!(
        "verified: {} events read, {} links of {} {} and {} signed checkpoints match (key {trusted}), in {took:.2?} ({rate:.0} events/s)",
        report.events,
        report.linked,
        report.companies,
        if report.companies == 1 { "company" } else { "companies" },
        report.checkpoints,
    ))
}
