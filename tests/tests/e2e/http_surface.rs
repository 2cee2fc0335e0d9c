//! The HTTP surface: GraphQL over HTTP (POST, GET, GraphiQL, WebSocket),
//! health, metrics, the test clock, and the schema contract.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tests::{TestApp, TestStorage, code, snapshot_settings};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

#[tokio::test]
async fn health_metrics_graphiql_and_get_queries_answer() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("surface.com").await;
    let health: Value = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ready");
    // The sign-up: two commands (the domain's claim in the registry, then the
    // company with its admin), three events.
    assert_eq!(health["head"], 3);

    let metrics = app.metrics().await;
    for name in [
        "groupware_http_requests_total",
        "groupware_http_request_duration_seconds_bucket",
        "groupware_events_appended_total 3",
        "groupware_commands_total{outcome=\"applied\"} 2",
        "groupware_projection_lag_events{projector=\"audit.v3\"} 0",
    ] {
        assert!(metrics.contains(name), "metrics lack {name}:\n{metrics}");
    }

    let get = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "{ me { userId } }")])
        .header("accept", GRAPHQL_RESPONSE)
        .bearer_auth(&acme.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.headers()["content-type"], GRAPHQL_RESPONSE);
    let body: Value = get.json().await.unwrap();
    assert_eq!(body["data"]["me"]["userId"], "admin");

    // A field error keeps 200; a request that cannot run is a 400.
    let field_error = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "{ me { userId } }")])
        .header("accept", GRAPHQL_RESPONSE)
        .send()
        .await
        .unwrap();
    assert_eq!(field_error.status(), 200);
    let syntax = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "{ me { ")])
        .header("accept", GRAPHQL_RESPONSE)
        .send()
        .await
        .unwrap();
    assert_eq!(syntax.status(), 400);

    let mutation = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[(
            "query",
            "mutation { login(domain: \"surface.com\", userId: \"admin\", password: \"s3cret-pass\") { token } }",
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(mutation.status(), 405);
    assert_eq!(mutation.headers()["allow"], "POST");
}

#[tokio::test]
async fn the_clock_endpoint_exists_only_on_a_manual_clock() {
    let app = TestApp::spawn().await;
    let set = app.clock(json!({ "now": "2026-11-26T23:59:59+09:00" })).await;
    assert_eq!(set["now"], "2026-11-26T14:59:59+00:00");
    let moved = app.clock(json!({ "advance": "PT24H" })).await;
    assert_eq!(moved["now"], "2026-11-27T14:59:59+00:00");
    let bad = app
        .client
        .post(format!("{}/test/clock", app.address))
        .json(&json!({ "advance": "soon" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let storage = TestStorage::new().await;
    let mut system = storage.settings();
    system.clock = api::ClockKind::System;
    let app = TestApp::spawn_with(system).await;
    let absent = app
        .client
        .post(format!("{}/test/clock", app.address))
        .json(&json!({ "advance": "PT1H" }))
        .send()
        .await
        .unwrap();
    assert_eq!(absent.status(), 404);
}

#[tokio::test]
async fn admins_receive_new_audit_entries_over_a_websocket_subscription() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("realtime.co.kr").await;
    let mut request = format!("{}/graphql", app.address.replace("http://", "ws://")).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", acme.admin_token) } }),
    ))
    .await
    .unwrap();
    let ack = ws.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"));
    ws.send(send(json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { auditTrailAppended { type stream actor { userId } } }" } })))
        .await
        .unwrap();
    // The subscription starts at the head it sees; keep writing until it
    // reports a write.
    for i in 0..50 {
        app.create_user(&acme, &format!("user{i}")).await;
        let Ok(Some(Ok(message))) = tokio::time::timeout(std::time::Duration::from_millis(500), ws.next()).await else {
            continue;
        };
        let message: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        assert_eq!(message["type"], "next", "{message}");
        let entry = &message["payload"]["data"]["auditTrailAppended"];
        assert_eq!(entry["type"], "UserCreated");
        assert_eq!(entry["actor"]["userId"], "admin");
        return;
    }
    panic!("no entry arrived over the subscription");
}

#[tokio::test]
async fn the_graphql_schema_is_the_published_contract() {
    snapshot_settings().bind(|| insta::assert_snapshot!("schema", api::schema::sdl()));
}

type WebSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws connection, acknowledged.
async fn websocket(app: &TestApp, token: Option<&str>) -> WebSocket {
    let mut request = format!("{}/graphql", app.address.replace("http://", "ws://")).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let payload = token.map_or_else(|| json!({}), |t| json!({ "Authorization": format!("Bearer {t}") }));
    ws.send(Message::Text(json!({ "type": "connection_init", "payload": payload }).to_string().into())).await.unwrap();
    let ack = ws.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack:?}");
    ws
}

/// Sends one operation over the WebSocket and returns the payload of its
/// first answer.
async fn over_websocket(ws: &mut WebSocket, id: &str, payload: Value) -> Value {
    let subscribe = json!({ "id": id, "type": "subscribe", "payload": payload });
    ws.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    loop {
        let message = ws.next().await.expect("an answer").expect("a message");
        let message: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        if message["id"] == id && message["type"] != "complete" {
            return message["payload"].clone();
        }
    }
}

/// `[[[ … 1 … ]]]` or `{a: {a: … 1 … }}`, `levels` deep.
fn nested(levels: usize, object: bool) -> String {
    if object {
        format!("{}1{}", "{a: ".repeat(levels), "}".repeat(levels))
    } else {
        format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
    }
}

// Nested literals and variables are limited before anything recursive walks
// them, on every path a request can take, and the server keeps answering.
#[tokio::test]
async fn a_chain_of_fragments_is_refused_and_the_server_keeps_answering() {
    let app = TestApp::spawn().await;
    // 20,000 fragments, each spreading the next, none used by the operation:
    // the text nests one level, validation would follow the chain.
    let chain: String = (0..20_000).map(|i| format!("fragment f{i} on User {{ ...f{} }}\n", i + 1)).collect();
    let query = format!("{{ __typename }}\n{chain}fragment f20000 on User {{ id }}");
    let r = app.gql(None, &query, json!({})).await;
    assert_eq!(code(&r), "LIMIT_EXCEEDED", "{}", r.to_string().chars().take(300).collect::<String>());
    let r = app.gql(None, "{ __typename }", json!({})).await;
    assert_eq!(r["data"]["__typename"], "QueryRoot", "{r}");
}

#[tokio::test]
async fn deeply_nested_input_is_refused_on_every_path_and_the_server_keeps_answering() {
    let app = TestApp::spawn().await;
    let url = format!("{}/graphql", app.address);
    let deep_list = format!("{{ me(x: {}) {{ id }} }}", nested(2000, false));
    let deep_object = format!("{{ me(x: {}) {{ id }} }}", nested(2000, true));

    for query in [&deep_list, &deep_object] {
        let r = app.gql(None, query, json!({})).await;
        assert_eq!(code(&r), "LIMIT_EXCEEDED", "{r}");
        let strict = app
            .client
            .post(&url)
            .header("accept", GRAPHQL_RESPONSE)
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap();
        assert_eq!(strict.status(), 400);
        let body: Value = strict.json().await.unwrap();
        assert_eq!(code(&body), "LIMIT_EXCEEDED");
        assert!(body.get("data").is_none(), "{body}");

        let get = app.client.get(&url).query(&[("query", query.as_str())]).send().await.unwrap();
        let body: Value = get.json().await.unwrap();
        assert_eq!(code(&body), "LIMIT_EXCEEDED", "{body}");
    }

    // Variables: deeper than serde_json reads (128) and deeper than the
    // boundary allows (64), in the JSON body, through GET and in multipart
    // `operations`.
    let query = "query($x: [Int]) { __typename }";
    for (levels, expected) in [(2000, "VALIDATION"), (100, "LIMIT_EXCEEDED")] {
        let body = format!(r#"{{"query": "{query}", "variables": {{"x": {}}}}}"#, nested(levels, false));
        let r = app.client.post(&url).header("content-type", "application/json").body(body.clone()).send().await;
        let r: Value = r.unwrap().json().await.unwrap();
        assert_eq!(code(&r), expected, "{levels}: {r}");

        let variables = format!(r#"{{"x": {}}}"#, nested(levels, false));
        let get = app.client.get(&url).query(&[("query", query), ("variables", variables.as_str())]).send().await;
        let r: Value = get.unwrap().json().await.unwrap();
        assert_eq!(code(&r), expected, "{levels} over GET: {r}");

        let form = reqwest::multipart::Form::new().text("operations", body).text("map", "{}");
        let r: Value = app.client.post(&url).multipart(form).send().await.unwrap().json().await.unwrap();
        assert_eq!(code(&r), expected, "{levels} in multipart: {r}");
    }
    let form = reqwest::multipart::Form::new()
        .text("operations", json!({ "query": deep_object }).to_string())
        .text("map", "{}");
    let r: Value = app.client.post(&url).multipart(form).send().await.unwrap().json().await.unwrap();
    assert_eq!(code(&r), "LIMIT_EXCEEDED", "{r}");

    let mut ws = websocket(&app, None).await;
    let r = over_websocket(&mut ws, "deep", json!({ "query": deep_list })).await;
    assert_eq!(code(&r), "LIMIT_EXCEEDED", "{r}");
    let variables = json!({ "x": serde_json::from_str::<Value>(&nested(100, false)).unwrap() });
    let r = over_websocket(&mut ws, "deep-variables", json!({ "query": query, "variables": variables })).await;
    assert_eq!(code(&r), "LIMIT_EXCEEDED", "{r}");
    let r = over_websocket(&mut ws, "fine", json!({ "query": "{ __typename }" })).await;
    assert_eq!(r["data"]["__typename"], "QueryRoot", "{r}");
    // A message deeper than serde_json reads ends that connection only.
    let variables = format!(r#"{{"x": {}}}"#, nested(2000, false));
    let message =
        format!(r#"{{"id": "d", "type": "subscribe", "payload": {{"query": "{query}", "variables": {variables}}}}}"#);
    ws.send(Message::Text(message.into())).await.unwrap();
    let mut ws = websocket(&app, None).await;
    let r = over_websocket(&mut ws, "again", json!({ "query": "{ __typename }" })).await;
    assert_eq!(r["data"]["__typename"], "QueryRoot", "{r}");

    let r = app.gql(None, "{ __typename }", json!({})).await;
    assert_eq!(r, json!({ "data": { "__typename": "QueryRoot" } }));
    let health = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

// NUL cannot be stored as PostgreSQL text and no form needs it: refused at
// the boundary, whether sent in variables or as a `\u0000` escape.
#[tokio::test]
async fn text_with_a_nul_character_is_refused_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("nul.co.kr").await;
    let head = app.head().await;
    let send = "mutation($input: ComposeInput!) { sendMail(input: $input) { id } }";
    let r = app
        .gql(Some(&acme.admin_token), send, json!({ "input": { "to": ["admin@nul.co.kr"], "subject": "a\u{0}b" } }))
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert_eq!(r["errors"][0]["message"], "text may not contain NUL characters");
    let literal = r#"mutation { sendMail(input: { to: ["admin@nul.co.kr"], subject: "a\u0000b" }) { id } }"#;
    let r = app.gql(Some(&acme.admin_token), literal, json!({})).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert_eq!(r["errors"][0]["message"], "text may not contain NUL characters");
    assert_eq!(app.head().await, head, "nothing was written");
    let r = app
        .gql(Some(&acme.admin_token), send, json!({ "input": { "to": ["admin@nul.co.kr"], "subject": "a\\u0000b" } }))
        .await;
    assert!(r["data"]["sendMail"]["id"].is_string(), "a backslash followed by u0000 is ordinary text: {r}");
}

// The introspection query that graphql-js, GraphiQL and code generators send
// (depth 15) passes at the default limits; other operations stay limited to
// depth 12.
#[tokio::test]
async fn standard_introspection_passes_at_the_default_limits_and_ordinary_queries_stay_limited() {
    let app = TestApp::spawn().await;
    let introspection = include_str!("fixtures/introspection.graphql");
    let r = app.gql(None, introspection, json!({})).await;
    assert!(r.get("errors").is_none(), "{r}");
    assert_eq!(r["data"]["__schema"]["queryType"]["name"], "QueryRoot");
    assert!(r["data"]["__schema"]["types"].as_array().is_some_and(|t| t.len() > 50));

    // With one ordinary field beside introspection, depth 12 runs and 13 is
    // refused.
    let ordinary = |levels: usize| {
        format!(
            "{{ me {{ id }} __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
            "ofType { ".repeat(levels - 5),
            "}".repeat(levels - 5)
        )
    };
    let r = app.gql(None, &ordinary(12), json!({})).await;
    assert!(r["data"]["__schema"]["types"].is_array(), "{r}");
    let r = app.gql(None, &ordinary(13), json!({})).await;
    assert_eq!(code(&r), "LIMIT_EXCEEDED", "{r}");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("nested too deep"), "{r}");
    // Introspection alone has its own, higher bound.
    let deep_introspection = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(17),
        "}".repeat(17)
    );
    let r = app.gql(None, &deep_introspection, json!({})).await;
    assert_eq!(code(&r), "LIMIT_EXCEEDED", "{r}");
}

// Over the WebSocket, errors raised before execution carry codes as over HTTP.
#[tokio::test]
async fn websocket_request_errors_carry_codes() {
    let app = TestApp::spawn().await;
    let mut ws = websocket(&app, None).await;
    for (id, query, expected) in [
        ("unknown", "subscription { nothingHere }", "VALIDATION"),
        ("syntax", "subscription { ", "VALIDATION"),
        (
            "deep",
            &*format!(
                "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
                "ofType { ".repeat(17),
                "}".repeat(17)
            ),
            "LIMIT_EXCEEDED",
        ),
        (
            "complex",
            &*format!("{{ {} }}", (0..300).map(|i| format!("a{i}: users {{ totalCount }} ")).collect::<String>()),
            "LIMIT_EXCEEDED",
        ),
    ] {
        let r = over_websocket(&mut ws, id, json!({ "query": query })).await;
        assert_eq!(code(&r), expected, "{id}: {r}");
    }
}

// GraphQL over HTTP: without `Accept`, or with `*/*`, the answer is
// `application/json`; `application/graphql-response+json` answers a request
// that could not run with 400 and no `data` entry.
#[tokio::test]
async fn accept_negotiation_and_failed_requests_without_data() {
    let app = TestApp::spawn().await;
    let url = format!("{}/graphql", app.address);
    let body = json!({ "query": "{ nothingHere }" });
    for accept in ["*/*", "application/json"] {
        let r = app.client.post(&url).json(&body).header("accept", accept).send().await.unwrap();
        assert_eq!(r.status(), 200, "{accept}");
        assert_eq!(r.headers()["content-type"], "application/json", "{accept}");
        let r: Value = r.json().await.unwrap();
        assert_eq!(code(&r), "VALIDATION");
        assert!(r.get("data").is_none(), "{r}");
    }
    // reqwest always sends an `Accept`; without one, by hand.
    let body = body.to_string();
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_lowercase().contains("content-type: application/json\r\n"), "{head}");
    let r: Value = serde_json::from_str(body).unwrap();
    assert_eq!(code(&r), "VALIDATION");
    assert!(r.get("data").is_none(), "{r}");
    for (query, failed) in [("{ nothingHere }", true), ("{ me { ", true), ("{ me { id } }", false)] {
        let r = app
            .client
            .post(&url)
            .header("accept", "Application/GraphQL-Response+JSON")
            .header("content-type", "Application/JSON; charset=utf-8")
            .body(json!({ "query": query }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), if failed { 400 } else { 200 }, "{query}");
        assert_eq!(r.headers()["content-type"], GRAPHQL_RESPONSE);
        let r: Value = r.json().await.unwrap();
        assert_eq!(r.get("data").is_none(), failed, "{query}: {r}");
    }
}

/// The one error shape outside GraphQL: its code.
async fn plain_error(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = response.json().await.unwrap();
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    code(&body)
}

// Errors outside GraphQL share one JSON shape with a code; a 405 names the
// allowed methods; inbound mail says when it is switched off.
#[tokio::test]
async fn errors_outside_graphql_have_one_shape() {
    let app = TestApp::spawn().await;
    let at = |path: &str| format!("{}{path}", app.address);
    let bad_path = app.client.get(at("/mail/not-a-uuid/attachments/x")).bearer_auth("t").send().await.unwrap();
    assert_eq!(plain_error(bad_path, 400).await, "VALIDATION");
    let bad_backup = app.client.get(at("/approval/backups/42")).send().await.unwrap();
    assert_eq!(plain_error(bad_backup, 400).await, "VALIDATION");
    assert_eq!(plain_error(app.client.get(at("/nowhere")).send().await.unwrap(), 404).await, "NOT_FOUND");
    for (method, path, allow) in [
        (reqwest::Method::PUT, "/graphql", "GET, POST"),
        (reqwest::Method::POST, "/healthz", "GET"),
        (reqwest::Method::GET, "/inbound", "POST"),
        (reqwest::Method::DELETE, "/test/clock", "GET, POST"),
    ] {
        let r = app.client.request(method.clone(), at(path)).send().await.unwrap();
        assert_eq!(r.headers()["allow"], allow, "{method} {path}");
        assert_eq!(plain_error(r, 405).await, "VALIDATION");
    }
    let bad_clock = app.client.post(at("/test/clock")).json(&json!({ "advance": "soon" })).send().await.unwrap();
    assert_eq!(plain_error(bad_clock, 400).await, "VALIDATION");
    let not_json = app.client.post(at("/test/clock")).header("content-type", "application/json").body("{").send().await;
    assert_eq!(plain_error(not_json.unwrap(), 400).await, "VALIDATION");
    let mixed_case = app
        .client
        .post(at("/test/clock"))
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(json!({ "advance": "PT1H" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(mixed_case.status(), 200);

    let inbound = app.client.post(at("/inbound")).bearer_auth("anything").body("From: a@b.c\r\n\r\nx").send().await;
    let inbound = inbound.unwrap();
    assert_eq!(inbound.status(), 404);
    let body: Value = inbound.json().await.unwrap();
    assert_eq!(code(&body), "NOT_FOUND");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("switched off"), "{body}");

    // A WebSocket upgrade (named in any case) that is not a valid handshake.
    let handshake = app.client.get(at("/graphql")).header("upgrade", "WebSocket").send().await.unwrap();
    assert_eq!(plain_error(handshake, 400).await, "VALIDATION");
}

// The bearer scheme is named in any case, on every endpoint that takes one.
#[tokio::test]
async fn the_bearer_scheme_is_matched_in_any_case() {
    let storage = TestStorage::new().await;
    let mut settings = storage.settings();
    settings.inbound_secret = Some("mta-secret".into());
    let app = TestApp::spawn_with(settings).await;
    let acme = app.sign_up("bearer.kr").await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let me = app
            .client
            .post(format!("{}/graphql", app.address))
            .header("authorization", format!("{scheme} {}", acme.admin_token))
            .json(&json!({ "query": "{ me { userId } }" }))
            .send()
            .await
            .unwrap();
        let me: Value = me.json().await.unwrap();
        assert_eq!(me["data"]["me"]["userId"], "admin", "{scheme}: {me}");
        let inbound = app
            .client
            .post(format!("{}/inbound?to=admin@bearer.kr", app.address))
            .header("authorization", format!("{scheme} mta-secret"))
            .body("From: Park <park@partner.org>\r\nTo: admin@bearer.kr\r\nSubject: hi\r\n\r\nHello.\r\n")
            .send()
            .await
            .unwrap();
        assert_eq!(inbound.status(), 200, "{scheme}: {}", inbound.text().await.unwrap());
    }
}

// GraphiQL works without internet access: the page refers only to files the
// server itself serves.
#[tokio::test]
async fn graphiql_is_served_entirely_by_the_server() {
    let app = TestApp::spawn().await;
    let page = app.client.get(format!("{}/graphql", app.address)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = page.text().await.unwrap();
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("//cdn"), "{page}");
    let referenced: Vec<&str> = page.split(['"', '\'']).filter(|s| s.starts_with("/graphiql/")).collect();
    assert_eq!(referenced.len(), 4, "{referenced:?}");
    for path in referenced {
        let r = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let expected = if path.ends_with(".css") { "text/css" } else { "text/javascript" };
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with(expected), "{path}");
        assert!(r.headers()["cache-control"].to_str().unwrap().contains("max-age=31536000"), "{path}");
        assert!(r.bytes().await.unwrap().len() > 10_000, "{path}");
    }
    let missing = app.client.get(format!("{}/graphiql/nothing.js", app.address)).send().await.unwrap();
    assert_eq!(plain_error(missing, 404).await, "NOT_FOUND");
}
