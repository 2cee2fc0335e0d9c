//! Throughput on PostgreSQL (`DATABASE_URL`, a fresh database), beside
//! `pgbench` inserting rows of the same size into a plain table with the
//! same number of clients. One line each: `bench <name> <value> <unit>`.

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use projections::PostgresReadModels;
use store::EventStore;
use store::postgres::{PostgresEventStore, TestDatabase};
use tests::workload::{batch_appends, durable_appends, report};

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
    let events: Arc<dyn EventStore> = store.clone();
    report("pg_durable_appends_1_writer", durable_appends(events.clone(), 1, 1_000).await, "events/s");
    report("pg_durable_appends_8_writers", durable_appends(events.clone(), 8, 500).await, "events/s");
    let ours_64 = durable_appends(events.clone(), 64, 200).await;
    report("pg_durable_appends_64_writers", ours_64, "events/s");
    report("pg_append_batches_of_100", batch_appends(events.clone(), 1, 300).await, "events/s");
    report("pg_append_batches_of_100_8_callers", batch_appends(events, 8, 100).await, "events/s");

    // The whole log into PostgreSQL read models, from position 0.
    let read_models = PostgresReadModels::connect(&database.url).await.expect("read models");
    let started = Instant::now();
    let read = projections::rebuild(store.as_ref(), &read_models, &api::projectors()).await.expect("rebuild");
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
