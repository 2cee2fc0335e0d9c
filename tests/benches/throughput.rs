//! Throughput figures of the embedded configuration, one line each:
//! `bench <name> <value> <unit>`, beside plain SQLite inserting rows of the
//! same size in the same run (one row per transaction, and 100), with each
//! figure's ratio to its baseline.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use commands::{CommandContext, Commands, ManualClock};
use domain::Actor;
use domain::tenant::{NewAccount, Tenant, TenantCommand};
use domain::values::{BillingCycle, DomainName, LoginId, MemberType, Name, PasswordHash, TimeZone};
use projections::MemoryReadModels;
use snapshots::{SealedSnapshots, SnapshotPolicy, SnapshotStore, SqliteSnapshotStore};
use store::EventStore;
use store::sealing::{Sealed, Sealer, SqliteKeys};
use store::sqlite::SqliteEventStore;
use tests::workload::{batch_appends, durable_appends, durable_appends_sealed, report, sqlite_inserts};
use uuid::Uuid;

fn open(dir: &tempfile::TempDir, name: &str) -> Arc<SqliteEventStore> {
    Arc::new(SqliteEventStore::open(dir.path().join(name), store::system_now()).expect("store"))
}

/// `store` read and written as the server does: with its cold history (none
/// here) read in place, and through `sealer`, or without sealing.
async fn sealed(store: Arc<SqliteEventStore>, sealer: Option<Arc<Sealer>>) -> Arc<dyn EventStore> {
    let cold = std::env::temp_dir().join("groupware-bench-cold");
    let store: Arc<dyn EventStore> = Arc::new(audit::cold::Tiered::open(store, cold, None).await.expect("log"));
    match sealer {
        Some(sealer) => Arc::new(Sealed::new(store, sealer)),
        None => store,
    }
}

/// Reads the whole log through a subscription into an in-memory projection
/// (events per type and per tenant).
async fn replay(store: Arc<SqliteEventStore>) -> (u64, f64) {
    let head = *store.head().borrow();
    let started = Instant::now();
    let mut subscription = store.clone().subscribe_all(0);
    let mut per_type: HashMap<String, u64> = HashMap::new();
    let mut per_tenant: HashMap<Uuid, u64> = HashMap::new();
    let mut read = 0u64;
    while read < head {
        let batch = subscription.next_batch().await.expect("open").expect("batch");
        for e in &batch {
            match per_type.get_mut(&e.event_type) {
                Some(n) => *n += 1,
                None => drop(per_type.insert(e.event_type.clone(), 1)),
            }
            if let Some(t) = e.metadata.tenant {
                *per_tenant.entry(t).or_default() += 1;
            }
        }
        read += batch.len() as u64;
    }
    assert_eq!(per_type.values().sum::<u64>(), head);
    (read, read as f64 / started.elapsed().as_secs_f64())
}

fn account(login: &str) -> NewAccount {
    NewAccount {
        user_id: Uuid::now_v7(),
        login: LoginId::parse(login).expect("login"),
        name: Name::parse("name", "사용자").expect("name"),
        password_hash: PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
    }
}

/// Commands through the whole pipeline (load with snapshots, decide,
/// append), 16 tenants at once, each creating users.
async fn commands_per_second(dir: &tempfile::TempDir, name: &str, sealer: Option<Arc<Sealer>>) -> f64 {
    let store = sealed(open(dir, &format!("{name}.db")), sealer.clone()).await;
    let mut snapshots: Arc<dyn SnapshotStore> =
        Arc::new(SqliteSnapshotStore::open(dir.path().join(format!("{name}-snap.db"))).expect("snapshots"));
    if let Some(sealer) = sealer {
        snapshots = Arc::new(SealedSnapshots::new(snapshots, sealer));
    }
    let commands = Arc::new(
        Commands::new(
            store,
            Some(snapshots),
            SnapshotPolicy::default(),
            Arc::new(ManualClock::new(Utc::now())),
            std::time::Duration::from_secs(10),
        )
        .await
        .expect("commands"),
    );
    let tenants = 16;
    let per_tenant = 300;
    let started = Instant::now();
    let tasks: Vec<_> = (0..tenants)
        .map(|t| {
            let commands = commands.clone();
            tokio::spawn(async move {
                let domain = DomainName::parse(&format!("company{t}.co.kr")).expect("domain");
                let tenant = domain.tenant_id();
                let admin = account("admin");
                let admin_id = admin.user_id;
                let sign_up = TenantCommand::SignUp {
                    domain,
                    company_name: Name::parse("companyName", "회사").expect("name"),
                    member_type: MemberType::Business,
                    billing_cycle: BillingCycle::parse(1).expect("cycle"),
                    time_zone: TimeZone::default(),
                    admin,
                };
                let context = CommandContext::new(Uuid::now_v7(), Actor::Anonymous, Some(tenant));
                commands.execute::<Tenant>(tenant, &context, sign_up).await.expect("sign up");
                for u in 1..per_tenant {
                    let context = CommandContext::new(Uuid::now_v7(), Actor::User(admin_id), Some(tenant));
                    let create =
                        TenantCommand::CreateUser { account: account(&format!("user{u}")), roles: BTreeSet::new() };
                    commands.execute::<Tenant>(tenant, &context, create).await.expect("create");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("tenant");
    }
    (tenants * per_tenant) as f64 / started.elapsed().as_secs_f64()
}

/// 64 callers completing documents of one company at once, each taking
/// its number from the company's one sequence for the year (a stream whose
/// commands go in batches); numbers per second.
async fn numbers_per_second(dir: &tempfile::TempDir, callers: usize, per_caller: usize) -> f64 {
    use domain::approval::{AssignNumber, DocumentNumbers};
    let commands = Arc::new(
        Commands::new(
            open(dir, "numbers.db"),
            None,
            SnapshotPolicy::default(),
            Arc::new(ManualClock::new(Utc::now())),
            std::time::Duration::from_secs(10),
        )
        .await
        .expect("commands"),
    );
    let tenant = Uuid::now_v7();
    let numbers = DocumentNumbers::id(tenant, 2026);
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let commands = commands.clone();
            tokio::spawn(async move {
                for _ in 0..per_caller {
                    let context = CommandContext::new(Uuid::now_v7(), Actor::System, Some(tenant));
                    let assign = AssignNumber { document_id: Uuid::now_v7(), prefix: "ACME".into(), year: 2026 };
                    commands.execute::<DocumentNumbers>(numbers, &context, assign).await.expect("number");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("caller");
    }
    (callers * per_caller) as f64 / started.elapsed().as_secs_f64()
}

/// The real projectors (tenants, users, audit trail) rebuilt from the log
/// of the command benchmark.
async fn rebuild_real(dir: &tempfile::TempDir, name: &str, sealer: Option<Arc<Sealer>>) -> f64 {
    let store = sealed(open(dir, &format!("{name}.db")), sealer).await;
    let models = MemoryReadModels::default();
    let started = Instant::now();
    let read = projections::rebuild(store.as_ref(), &models, &api::projectors()).await.expect("rebuild");
    read as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The baselines, measured in this run on this machine.
    let one_row = sqlite_inserts(&dir.path().join("baseline-1.db"), 1, 2_000);
    report("sqlite_one_row_transactions", one_row, "rows/s");
    let hundred_rows = sqlite_inserts(&dir.path().join("baseline-100.db"), 100, 2_000);
    report("sqlite_100_row_transactions", hundred_rows, "rows/s");
    for (writers, per_writer) in [(1, 2_000), (8, 1_000), (64, 500)] {
        let store = open(&dir, &format!("appends-{writers}.db"));
        let rate = durable_appends(store, writers, per_writer).await;
        let name = format!("durable_appends_{writers}_writer{}", if writers == 1 { "" } else { "s" });
        report(&name, rate, "events/s");
        report(&format!("{name}_to_sqlite_one_row"), rate / one_row, "ratio");
    }
    // The cost of sealing (rule U1): 64 writers through the sealing store,
    // each with a key of its own, beside the same run without it.
    let keys = Arc::new(SqliteKeys::open(dir.path().join("keys.db")).expect("keys"));
    let sealer = Arc::new(Sealer::new(keys));
    let (mut plain, mut with_keys) = (0.0, 0.0);
    for round in 0..2 {
        plain += durable_appends(open(&dir, &format!("plain-{round}.db")), 64, 500).await;
        let store = sealed(open(&dir, &format!("sealed-{round}.db")), Some(sealer.clone())).await;
        with_keys += durable_appends_sealed(store, 64, 500, true).await;
    }
    report("sealed_durable_appends_64_writers", with_keys / 2.0, "events/s");
    report("sealing_cost_ratio_64_writers", with_keys / plain, "ratio");
    let log = open(&dir, "log.db");
    let batches = batch_appends(log.clone(), 1, 2_000).await;
    report("append_batches_of_100", batches, "events/s");
    report("append_batches_of_100_to_sqlite_100_rows", batches / hundred_rows, "ratio");
    report("append_batches_of_100_8_callers", batch_appends(log.clone(), 8, 1_000).await, "events/s");
    let (events, rate) = replay(log).await;
    println!("# replayed {events} events");
    report("replay_into_memory_projection", rate, "events/s");
    // The server's way (every payload sealed with its company's key), and
    // the same without sealing.
    let commands = commands_per_second(&dir, "commands", Some(sealer.clone())).await;
    let unsealed = commands_per_second(&dir, "unsealed", None).await;
    report("commands_through_pipeline", commands, "commands/s");
    report("commands_through_pipeline_unsealed", unsealed, "commands/s");
    report("document_numbers_64_callers", numbers_per_second(&dir, 64, 300).await, "numbers/s");
    let rebuild = rebuild_real(&dir, "commands", Some(sealer)).await;
    let rebuild_unsealed = rebuild_real(&dir, "unsealed", None).await;
    report("rebuild_tenant_user_audit_read_models", rebuild, "events/s");
    report("rebuild_tenant_user_audit_read_models_unsealed", rebuild_unsealed, "events/s");
    report("rebuild_to_sqlite_100_rows", rebuild / hundred_rows, "ratio");
}
