//! The auditors' figures over a log of 1,000,000 events of one company in
//! the embedded store: exporting an archive and verifying it offline, and
//! verifying the live log's chain, then moving the million out of the log
//! into that archive and reading the log back whole through it (retention),
//! in events per second, each with the
//! highest anonymous resident memory of the process during that step
//! (sampled every 10 ms; file pages the store maps are left out) and how
//! much of it the step added. One line each:
//! `bench <name> <value> <unit>`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use audit::archive::{Company, Export, Month, export, verify_archive};
use audit::cold::Tiered;
use audit::{CheckpointKey, verify};
use chrono::{Datelike, Utc};
use store::EventStore;
use store::chain::ChainHash;
use store::cold::ColdSegment;
use store::sqlite::SqliteEventStore;
use tests::workload::{batch_appends_of, report, resident_mb};
use uuid::Uuid;

const EVENTS: usize = 1_000_000;

/// Samples the resident memory every 10 ms until dropped; the highest.
struct Peak {
    highest: Arc<std::sync::Mutex<f64>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Peak {
    fn start() -> Self {
        let (highest, stop) = (Arc::new(std::sync::Mutex::new(resident_mb())), Arc::default());
        let (h, s) = (Arc::clone(&highest), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !std::sync::atomic::AtomicBool::load(&s, std::sync::atomic::Ordering::Relaxed) {
                let now = resident_mb();
                let mut highest = h.lock().expect("peak");
                *highest = highest.max(now);
                drop(highest);
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        });
        Self { highest, stop }
    }

    /// Reports the highest resident memory seen, and the memory at start.
    fn report(self, name: &str, before: f64) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let highest = *self.highest.lock().expect("peak");
        report(&format!("{name}_peak_memory"), highest, "MB");
        println!("# {name}: {before:.0} MB resident before, {:.0} MB more at the peak", highest - before);
    }
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
    let month = Month::parse("month", &format!("{:04}-{:02}", Utc::now().year(), Utc::now().month())).expect("month");
    let out = dir.path().join("archive.zip");
    let (before, peak) = (resident_mb(), Peak::start());
    let started = Instant::now();
    let asked = Export {
        company: &company,
        from: month,
        to: month,
        keys: &[],
        withheld: &[],
        schemas: &BTreeMap::new(),
        renderer: None,
        after: None,
    };
    let manifest = export(store.as_ref(), asked, &key, &out, |_| {}).await.expect("export");
    let took = started.elapsed().as_secs_f64();
    assert_eq!(manifest.events, EVENTS as u64);
    report("archive_export_1m_events", EVENTS as f64 / took, "events/s");
    peak.report("archive_export", before);
    println!("# archive of {:.0} MB", std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0) as f64 / 1e6);

    let (before, peak) = (resident_mb(), Peak::start());
    let started = Instant::now();
    let verified = verify_archive(&out, Some(key.public()), |_| {}).expect("verify");
    assert_eq!(verified.manifest.events, EVENTS as u64);
    report("archive_verify_1m_events", EVENTS as f64 / started.elapsed().as_secs_f64(), "events/s");
    peak.report("archive_verify", before);

    let (before, peak) = (resident_mb(), Peak::start());
    let started = Instant::now();
    let checked = verify(store.as_ref() as &dyn EventStore, None, Some(key.public()), |_| {}).await.expect("chain");
    assert_eq!(checked.events, EVENTS as u64);
    report("log_verify_1m_events", EVENTS as f64 / started.elapsed().as_secs_f64(), "events/s");
    peak.report("log_verify", before);

    // The million moved out of the log into that archive (retention), and
    // the log read back whole through it, as projections rebuilding read it.
    let cold = dir.path().join("cold");
    std::fs::create_dir_all(&cold).expect("cold folder");
    std::fs::rename(&out, cold.join("archive.zip")).expect("into the cold folder");
    let tiered = Tiered::open(store, cold, Some(key.public())).await.expect("log");
    let segment = ColdSegment {
        tenant: company.id,
        first_position: manifest.first_position,
        last_position: manifest.last_position,
        events: manifest.events,
        anchor: ChainHash::parse_hex(&manifest.chain_at_end).expect("anchor"),
        file: "archive.zip".into(),
    };
    let started = Instant::now();
    assert_eq!(tiered.purge(&segment).await.expect("moved out"), EVENTS as u64);
    report("cold_move_out_1m_events", EVENTS as f64 / started.elapsed().as_secs_f64(), "events/s");
    let (before, peak) = (resident_mb(), Peak::start());
    let started = Instant::now();
    let (mut after, mut read) = (0, 0);
    loop {
        let page = tiered.read_all(after, 4096).await.expect("page");
        let Some(last) = page.last() else { break };
        (after, read) = (last.position, read + page.len());
    }
    assert_eq!(read, EVENTS);
    report("cold_read_all_1m_events", EVENTS as f64 / started.elapsed().as_secs_f64(), "events/s");
    peak.report("cold_read_all", before);
}
