//! The HTTP surface: GraphQL over HTTP (POST, GET, GraphiQL, WebSocket),
//! health, metrics, the test clock, and the schema contract.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tests::{TestApp, TestStorage, snapshot_settings};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn health_metrics_graphiql_and_get_queries_answer() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("surface.com").await;
    let health: Value = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ready");
    assert_eq!(health["head"], 2);

    let metrics = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    for name in [
        "groupware_http_requests_total",
        "groupware_http_request_duration_seconds_bucket",
        "groupware_events_appended_total 2",
        "groupware_commands_total{outcome=\"applied\"} 1",
        "groupware_projection_lag_events{projector=\"audit.v1\"} 0",
    ] {
        assert!(metrics.contains(name), "metrics lack {name}:\n{metrics}");
    }

    let graphiql =
        app.client.get(format!("{}/graphql", app.address)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(graphiql.status(), 200);
    assert!(graphiql.text().await.unwrap().to_lowercase().contains("graphiql"));

    let get = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "{ me { userId } }")])
        .bearer_auth(&acme.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.headers()["content-type"], "application/graphql-response+json");
    let body: Value = get.json().await.unwrap();
    assert_eq!(body["data"]["me"]["userId"], "admin");

    // A field error keeps 200; a request that cannot run is a 400.
    let field_error = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "{ me { userId } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(field_error.status(), 200);
    let syntax =
        app.client.get(format!("{}/graphql", app.address)).query(&[("query", "{ me { ")]).send().await.unwrap();
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
