//! The auditors' figures over a log of 1,000,000 events of one company in
//! the embedded store: exporting an archive and verifying it offline, and
//! verifying the live log's chain, in events per second, each with the
//! process's peak resident memory during that step. One line each:
//! `bench <name> <value> <unit>`.

use std::sync::Arc;
use std::time::Instant;

use audit::archive::{Company, Month, export, verify_archive};
use audit::{CheckpointKey, verify};
use chrono::{Datelike, Utc};
use store::EventStore;
use store::sqlite::SqliteEventStore;
use tests::workload::{batch_appends_of, report};
use uuid::Uuid;

const EVENTS: usize = 1_000_000;

/// The peak resident memory since the last reset, in MB, and a reset for
/// the next step (Linux: `/proc/self/clear_refs`).
fn peak_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    kb / 1024.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SqliteEventStore::open(dir.path().join("events.db"), store::system_now()).expect("store"));
    let company = Company { id: Uuid::now_v7(), domain: "bench.co.kr".into(), time_zone: "UTC".into() };
    let filled = Instant::now();
    batch_appends_of(store.clone(), company.id, 4, EVENTS / 400).await;
    println!("# {EVENTS} events written in {:.1?}", filled.elapsed());
    let key = CheckpointKey::from_seed([9; 32]);
    let month = Month::parse(&format!("{:04}-{:02}", Utc::now().year(), Utc::now().month())).expect("month");
    peak_mb();

    let out = dir.path().join("archive.zip");
    let started = Instant::now();
    let manifest = export(store.as_ref(), &company, (month, month), &key, &out, |_| {}).await.expect("export");
    let took = started.elapsed().as_secs_f64();
    assert_eq!(manifest.events, EVENTS as u64);
    report("archive_export_1m_events", EVENTS as f64 / took, "events/s");
    report("archive_export_peak_memory", peak_mb(), "MB");
    println!("# archive of {:.0} MB", std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0) as f64 / 1e6);

    let started = Instant::now();
    let verified = verify_archive(&out, Some(key.public()), |_| {}).expect("verify");
    assert_eq!(verified.manifest.events, EVENTS as u64);
    report("archive_verify_1m_events", EVENTS as f64 / started.elapsed().as_secs_f64(), "events/s");
    report("archive_verify_peak_memory", peak_mb(), "MB");

    let started = Instant::now();
    let checked = verify(store.as_ref() as &dyn EventStore, None, Some(key.public()), |_| {}).await.expect("chain");
    assert_eq!(checked.events, EVENTS as u64);
    report("log_verify_1m_events", EVENTS as f64 / started.elapsed().as_secs_f64(), "events/s");
    report("log_verify_peak_memory", peak_mb(), "MB");
}
