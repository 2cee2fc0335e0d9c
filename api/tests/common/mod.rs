//! Server processes for the tests that start the `groupware` binary.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// Ends the process at once, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `groupware serve` on `data_dir` with `args` besides, on a free port.
pub fn start(data_dir: &std::path::Path, args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_groupware"))
        .args(["serve", "--port", "0", "--password-memory-kib", "1024"])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().expect("the server said where it listens").expect("stdout line");
        if let Some(url) = line.strip_prefix("groupware listening on ") {
            break url.trim().to_owned();
        }
    };
    // Keep reading, so the server never writes into a closed pipe; its log
    // goes with the test's output (shown when the test fails).
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(|line| eprintln!("server: {line}")));
    Server { child, url }
}

pub async fn ready(client: &reqwest::Client, server: &Server) {
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("{}/healthz", server.url)).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{} never became ready", server.url);
}

pub async fn gql(
    client: &reqwest::Client,
    server: &Server,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let mut request =
        client.post(format!("{}/graphql", server.url)).json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request").json().await.expect("json")
}

/// Signs a company up for `domain` with the admin `admin` / `s3cret-pass`.
pub async fn sign_up(client: &reqwest::Client, server: &Server, domain: &str) {
    let signed = gql(
        client,
        server,
        None,
        "mutation($d: String!) { signUp(input: { domain: $d, companyName: \"둘\", memberType: BUSINESS,
           billingCycleMonths: 1, adminUserId: \"admin\", adminName: \"관리자\", adminPassword: \"s3cret-pass\" })
           { tenant { id } } }",
        json!({ "d": domain }),
    )
    .await;
    assert!(signed["data"]["signUp"]["tenant"]["id"].is_string(), "{signed}");
}

/// A token of `user` of the company at `domain`.
pub async fn login(client: &reqwest::Client, server: &Server, domain: &str, user: &str, password: &str) -> String {
    let login = gql(
        client,
        server,
        None,
        "mutation($d: String!, $u: String!, $p: String!) { login(domain: $d, userId: $u, password: $p) { token } }",
        json!({ "d": domain, "u": user, "p": password }),
    )
    .await;
    login["data"]["login"]["token"].as_str().unwrap_or_else(|| panic!("{login}")).to_owned()
}
