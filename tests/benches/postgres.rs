//! Throughput on PostgreSQL (`DATABASE_URL`, a fresh database), beside
//! `pgbench` inserting rows of the same size into a plain table with the
//! same number of clients. One line each: `bench <name> <value> <unit>`.

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use projections::PostgresReadModels;
use store::postgres::{PostgresEventStore, TestDatabase};
use store::{EventData, EventStore, ExpectedVersion, Metadata};
use uuid::Uuid;

fn report(name: &str, value: f64, unit: &str) {
    println!("bench {name} {value:.2} {unit}");
}

/// About 250 bytes of payload, like the rows pgbench inserts.
fn payload() -> serde_json::Value {
    serde_json::json!({ "subject": "주간 업무 보고", "from": "kim@acme.co.kr", "to": ["lee@acme.co.kr", "park@acme.co.kr"], "size": 48213, "flags": ["seen"], "folder": "inbox", "snippet": "이번 주 진행 상황을 공유드립니다" })
}

fn event(tenant: Uuid) -> EventData {
    let metadata = Metadata {
        tenant: Some(tenant),
        actor: Some(tenant),
        command_id: Some(Uuid::now_v7()),
        occurred_at: Utc::now(),
        ..Metadata::default()
    };
    EventData::json(Uuid::now_v7(), "MailSent", 1, &payload(), metadata).expect("json")
}

async fn appends(store: &Arc<PostgresEventStore>, writers: usize, per_writer: usize) -> f64 {
    let tenant = Uuid::now_v7();
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let stream = format!("mail-{}", Uuid::now_v7().simple());
                for n in 0..per_writer as u64 {
                    let expected = if n == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(n - 1) };
                    store.append(&stream, expected, vec![event(tenant)]).await.expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer");
    }
    (writers * per_writer) as f64 / started.elapsed().as_secs_f64()
}

async fn batches(store: &Arc<PostgresEventStore>, callers: usize, per_caller: usize) -> f64 {
    let tenant = Uuid::now_v7();
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..per_caller {
                    let batch = (0..100).map(|_| event(tenant)).collect();
                    let stream = format!("batch-{}", Uuid::now_v7().simple());
                    store.append(&stream, ExpectedVersion::NoStream, batch).await.expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("caller");
    }
    (callers * per_caller * 100) as f64 / started.elapsed().as_secs_f64()
}

/// pgbench's insert rate into a plain table with `clients` clients.
fn pgbench(url: &str, clients: usize) -> Option<f64> {
    let dir = tempfile::tempdir().ok()?;
    let script = dir.path().join("insert.sql");
    std::fs::write(&script, "INSERT INTO bench_rows (data) VALUES (repeat('x', 250));\n").ok()?;
    let output = Command::new("pgbench")
        .args(["-n", "-T", "5", "-j", "2", "-c", &clients.to_string(), "-f"])
        .arg(&script)
        .arg(url)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(database) = TestDatabase::create().await else {
        println!("# PostgreSQL not reachable: no PostgreSQL figures");
        return;
    };
    let store = Arc::new(PostgresEventStore::connect(&database.url, store::system_now()).await.expect("connect"));
    report("pg_durable_appends_1_writer", appends(&store, 1, 1_000).await, "events/s");
    report("pg_durable_appends_8_writers", appends(&store, 8, 500).await, "events/s");
    let ours_64 = appends(&store, 64, 200).await;
    report("pg_durable_appends_64_writers", ours_64, "events/s");
    report("pg_append_batches_of_100", batches(&store, 1, 300).await, "events/s");
    report("pg_append_batches_of_100_8_callers", batches(&store, 8, 100).await, "events/s");

    // The whole log into PostgreSQL read models, from position 0.
    let read_models = PostgresReadModels::connect(&database.url).await.expect("read models");
    let started = Instant::now();
    let read =
        projections::rebuild(store.as_ref(), &read_models, &projections::projectors::all()).await.expect("rebuild");
    println!("# rebuilt {read} events");
    report("pg_rebuild_read_models", read as f64 / started.elapsed().as_secs_f64(), "events/s");

    let (client, connection) = tokio_postgres::connect(&database.url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
        .batch_execute("CREATE TABLE bench_rows (id BIGSERIAL PRIMARY KEY, data TEXT NOT NULL)")
        .await
        .expect("table");
    match pgbench(&database.url, 64) {
        Some(tps) => {
            report("pgbench_insert_64_clients", tps, "rows/s");
            report("pg_append_vs_pgbench", ours_64 / tps, "ratio");
        }
        None => println!("# pgbench not found or failed: no ratio"),
    }
}
