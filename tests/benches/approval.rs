//! E-approval over HTTP, one line each: `bench <name> <value> <unit>`, with
//! the approvals' ratio to a trivial query (`{ __typename }`) from the same
//! clients through the same server in the same run.
//!
//! 32 clients, each the first approver of one colleague's documents and the
//! second of another's. The first round of approvals moves each document on;
//! the second completes it, which also numbers it from the company's one
//! sequence for the year. Client and server share the machine.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tests::bench_server::{BenchServer, gql};
use tests::workload::report;

/// Concurrent clients.
const CLIENTS: usize = 32;
/// Documents each client drafts.
const DOCUMENTS_EACH: usize = 60;

const SUBMIT: &str = "mutation($input: DocumentInput!) { submitDocument(input: $input) { id } }";
const APPROVE: &str = "mutation($id: UUID!) { approveDocument(id: $id, comment: \"확인했습니다\") { status } }";

/// Each client's documents, submitted with a line of its next two
/// colleagues; submissions per second.
async fn submit_all(server: &BenchServer, form: &str, people: &Arc<Vec<(String, String)>>) -> (f64, Vec<Vec<String>>) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (client, url, people, form) =
                (server.client.clone(), server.url.clone(), people.clone(), form.to_owned());
            tokio::spawn(async move {
                let line = json!({ "approverIds": [people[(i + 1) % CLIENTS].0, people[(i + 2) % CLIENTS].0] });
                let mut ids = Vec::with_capacity(DOCUMENTS_EACH);
                for n in 0..DOCUMENTS_EACH {
                    let input = json!({ "formId": form, "title": format!("지출 결의 {n}"),
                        "fields": { "body": "법인카드 사용 내역을 보고드립니다.", "amount": 125000 }, "line": line });
                    let r = gql(&client, &url, Some(&people[i].1), SUBMIT, json!({ "input": input })).await;
                    ids.push(r["data"]["submitDocument"]["id"].as_str().expect("id").to_owned());
                }
                ids
            })
        })
        .collect();
    let mut documents = Vec::with_capacity(CLIENTS);
    for task in tasks {
        documents.push(task.await.expect("drafter"));
    }
    ((CLIENTS * DOCUMENTS_EACH) as f64 / started.elapsed().as_secs_f64(), documents)
}

/// Every client approves the documents of the drafter `offset` places
/// before it; approvals per second.
async fn approve_round(
    server: &BenchServer,
    people: &Arc<Vec<(String, String)>>,
    documents: &Arc<Vec<Vec<String>>>,
    offset: usize,
    expected: &'static str,
) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (client, url, people, documents) =
                (server.client.clone(), server.url.clone(), people.clone(), documents.clone());
            tokio::spawn(async move {
                let drafter = (i + CLIENTS - offset) % CLIENTS;
                for id in &documents[drafter] {
                    let r = gql(&client, &url, Some(&people[i].1), APPROVE, json!({ "id": id })).await;
                    assert_eq!(r["data"]["approveDocument"]["status"], expected, "{r}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("approver");
    }
    (CLIENTS * DOCUMENTS_EACH) as f64 / started.elapsed().as_secs_f64()
}

/// The baseline of the figures: `{ __typename }` from the same clients
/// through the same server and client, as many requests as a round of
/// approvals; requests per second.
async fn trivial_rate(server: &BenchServer, people: &Arc<Vec<(String, String)>>) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (client, url, people) = (server.client.clone(), server.url.clone(), people.clone());
            tokio::spawn(async move {
                for _ in 0..DOCUMENTS_EACH {
                    let r = gql(&client, &url, Some(&people[i].1), "{ __typename }", json!({})).await;
                    assert_eq!(r["data"]["__typename"], "QueryRoot", "{r}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("client");
    }
    (CLIENTS * DOCUMENTS_EACH) as f64 / started.elapsed().as_secs_f64()
}

/// The allocator of the `groupware` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = BenchServer::start().await;
    let (admin, people) = server.company(CLIENTS).await;
    let form = server
        .gql(
            Some(&admin),
            "mutation { createApprovalForm(input: { name: \"지출결의서\", abbreviation: \"EX\", fields: [
                { key: \"body\", label: \"내용\", type: TEXT, required: true },
                { key: \"amount\", label: \"금액\", type: NUMBER, required: true }] }) { id } }",
            json!({}),
        )
        .await;
    let form = form["data"]["createApprovalForm"]["id"].as_str().expect("form").to_owned();
    let people = Arc::new(people);
    let (submit_rate, documents) = submit_all(&server, &form, &people).await;
    report("submit_document_32_clients", submit_rate, "mutations/s");
    let documents = Arc::new(documents);
    let started = Instant::now();
    let first = approve_round(&server, &people, &documents, 1, "IN_PROGRESS").await;
    let last = approve_round(&server, &people, &documents, 2, "COMPLETED").await;
    let overall = (2 * CLIENTS * DOCUMENTS_EACH) as f64 / started.elapsed().as_secs_f64();
    report("approve_document_32_clients", overall, "actions/s");
    report("approve_document_32_clients_moving_on", first, "actions/s");
    report("approve_document_32_clients_completing", last, "actions/s");
    let trivial = trivial_rate(&server, &people).await;
    report("trivial_query_32_clients", trivial, "requests/s");
    report("approve_document_to_trivial_query", overall / trivial, "ratio");
    report("approve_document_completing_to_trivial_query", last / trivial, "ratio");
}
