//! Webmail over HTTP, one line each: `bench <name> <value> <unit>`, with
//! each figure's ratio to a trivial query (`{ __typename }`) through the
//! same server, connections and load generator in the same run.
//!
//! The real server (the embedded default: events and read models on disk) runs in this
//! process; the clients speak GraphQL to it over loopback, as front ends do.
//! Client and server share the machine, so the figures are conservative.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tests::bench_server::{BenchServer, gql};
use tests::workload::report;

/// Concurrent clients sending mail.
const SENDERS: usize = 32;
/// Mails each sender sends (below the daily limit of 500 deliveries).
const SENDS_EACH: usize = 300;
/// Concurrent connections reading an inbox page.
const READERS: usize = 64;
/// Pages each reader requests.
const READS_EACH: usize = 400;

const SEND: &str = "mutation($to: String!) { sendMail(input: { to: [$to], subject: \"주간 업무 보고\",
    text: \"이번 주 진행 상황을 공유드립니다. 자세한 내용은 첨부를 확인해 주세요.\" }) { id } }";
const INBOX: &str = "{ mailbox(folder: \"inbox\", first: 20) { totalCount edges { node { id from subject snippet at read hasAttachments } } } }";
/// Words every mail sent holds: each hit of the reader's 600 (300 in, 300
/// out) is a match, the page the newest 20.
const SEARCH: &str = "{ searchMail(query: \"업무 보고\", first: 20) { totalCount edges { node { id from subject snippet at read hasAttachments } } } }";
/// The trivial query every HTTP figure is set beside: the same server,
/// connections and load generator, with nothing to read.
const TRIVIAL: &str = "{ __typename }";

/// `sendMail` mutations per second from `SENDERS` concurrent clients, each
/// to one colleague.
async fn send_rate(client: &reqwest::Client, url: &str, tokens: &[String]) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let (client, url, token) = (client.clone(), url.to_owned(), token.clone());
            tokio::spawn(async move {
                let to = format!("user{}@bench.co.kr", (i + 1) % SENDERS);
                for _ in 0..SENDS_EACH {
                    gql(&client, &url, Some(&token), SEND, json!({ "to": to })).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("sender");
    }
    (SENDERS * SENDS_EACH) as f64 / started.elapsed().as_secs_f64()
}

/// Requests per second and the 99th percentile latency of `query`, whose
/// answer holds `nodes` nodes, from `READERS` concurrent connections. Each
/// reader is one bare HTTP/1.1 connection (hyper) sending a prepared
/// request, so that the load generator takes as little of the server's CPU
/// as it can.
async fn read_rate(address: std::net::SocketAddr, token: &str, query: &str, nodes: usize) -> (f64, Duration) {
    let body = bytes::Bytes::from(json!({ "query": query }).to_string());
    let authorization = format!("Bearer {token}");
    let started = Instant::now();
    let tasks: Vec<_> = (0..READERS)
        .map(|_| {
            let (body, authorization) = (body.clone(), authorization.clone());
            tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(address).await.expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                        .await
                        .expect("handshake");
                tokio::spawn(connection);
                let mut latencies = Vec::with_capacity(READS_EACH);
                for _ in 0..READS_EACH {
                    let request = hyper::Request::post("/graphql")
                        .header("host", address.to_string())
                        .header("content-type", "application/json")
                        .header("authorization", authorization.as_str())
                        .body(http_body_util::Full::new(body.clone()))
                        .expect("request");
                    let asked = Instant::now();
                    let response = sender.send_request(request).await.expect("response");
                    let ok = response.status().is_success();
                    let answer = http_body_util::BodyExt::collect(response.into_body()).await.expect("body").to_bytes();
                    latencies.push(asked.elapsed());
                    // The answer is checked, not parsed.
                    let found = answer.windows(7).filter(|w| w == b"\"node\":").count();
                    assert!(ok && found == nodes, "{}", String::from_utf8_lossy(&answer));
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(READERS * READS_EACH);
    for task in tasks {
        latencies.extend(task.await.expect("reader"));
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    (rate, p99)
}

/// The allocator of the `groupware` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = BenchServer::start().await;
    let (_, people) = server.company(SENDERS).await;
    let tokens: Arc<Vec<String>> = Arc::new(people.into_iter().map(|(_, token)| token).collect());
    let sends = send_rate(&server.client, &server.url, &tokens).await;
    report("send_mail_32_clients", sends, "mutations/s");
    let (trivial, trivial_p99) = read_rate(server.address, &tokens[1], TRIVIAL, 0).await;
    report("trivial_query_64_connections", trivial, "requests/s");
    report("trivial_query_64_connections_p99", trivial_p99.as_secs_f64() * 1000.0, "ms");
    report("send_mail_to_trivial_query", sends / trivial, "ratio");
    for (name, query) in [("inbox_page", INBOX), ("search_page", SEARCH)] {
        let (rate, p99) = read_rate(server.address, &tokens[1], query, 20).await;
        report(&format!("{name}_64_connections"), rate, "requests/s");
        report(&format!("{name}_64_connections_p99"), p99.as_secs_f64() * 1000.0, "ms");
        report(&format!("{name}_to_trivial_query"), rate / trivial, "ratio");
    }
}
