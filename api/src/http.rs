//! The HTTP surface: `/graphql` (POST, GET, WebSocket), GraphiQL and its
//! files under `/graphiql/`, `/healthz`, `/metrics`, `/inbound`,
//! `/test/clock` when the clock is manual, and the capabilities' own
//! routes (downloads).
//!
//! Every error outside GraphQL execution has one JSON shape,
//! `{"errors":[{"message": .., "extensions": {"code": .., ..}}]}`: bad path
//! segments, bad JSON bodies, unknown routes (404) and methods (405 with
//! `Allow`) included.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::Service as _;
use actix_web::error::{InternalError, JsonPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, ALLOW, CONTENT_TYPE};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, guard, web};
use async_graphql::http::MultipartOptions;
use async_graphql::{BatchRequest, BatchResponse, Data, ParseRequestError};
use async_graphql_actix_web::GraphQLSubscription;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::backend::Backend;
use crate::errors::{ApiError, Code};
use crate::rest::{authorization_bearer, bearer_token, error_body, error_response, read_body, resource};
use crate::schema::{RequestInfo, Schemas, build_schemas};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// The most files one multipart request may upload.
const MAX_FILES: usize = 20;

/// The most operations one batched request may hold.
const MAX_BATCH: usize = 10;

/// The server on `listener`, with the capabilities' `routes` besides the
/// common ones.
pub fn server(
    listener: TcpListener,
    backend: Arc<Backend>,
    routes: Vec<fn(&mut web::ServiceConfig)>,
) -> std::io::Result<actix_web::dev::Server> {
    let schema = build_schemas(backend.clone());
    let manual = backend.manual_clock.is_some();
    let server = HttpServer::new(move || {
        let metrics_services = backend.clone();
        let mut app = App::new()
            .app_data(web::Data::new(backend.clone()))
            .app_data(web::Data::new(schema.clone()))
            .wrap_fn(move |req, srv| {
                let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
                let started = Instant::now();
                let backend = metrics_services.clone();
                let response = srv.call(req);
                async move {
                    let response = response.await?;
                    backend
                        .metrics
                        .latency
                        .with_label_values(&[route.as_str()])
                        .observe(started.elapsed().as_secs_f64());
                    backend.metrics.requests.with_label_values(&[route.as_str(), response.status().as_str()]).inc();
                    Ok(response)
                }
            })
            .app_data(web::PathConfig::default().error_handler(|e, _| {
                let message = format!("a part of the path is not valid: {e}");
                InternalError::from_response(e, error_response(StatusCode::BAD_REQUEST, Code::Validation, &message))
                    .into()
            }))
            .app_data(web::JsonConfig::default().error_handler(|e, _| {
                let (status, code) = match &e {
                    JsonPayloadError::ContentType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, Code::Validation),
                    JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                        (StatusCode::PAYLOAD_TOO_LARGE, Code::LimitExceeded)
                    }
                    _ => (StatusCode::BAD_REQUEST, Code::Validation),
                };
                let message = format!("the body is not valid JSON for this endpoint: {e}");
                InternalError::from_response(e, error_response(status, code, &message)).into()
            }))
            .service(
                resource("/graphql", "GET, POST")
                    .route(web::post().to(graphql_post))
                    .route(web::get().guard(guard::fn_guard(wants_websocket)).to(graphql_ws))
                    .route(web::get().to(graphql_get)),
            )
            .service(resource("/graphiql/{file}", "GET").route(web::get().to(crate::graphiql::asset)))
            .service(resource("/inbound", "POST").route(web::post().to(crate::inbound::receive)))
            .service(resource("/healthz", "GET").route(web::get().to(healthz)))
            .service(resource("/metrics", "GET").route(web::get().to(metrics)));
        for &routes in &routes {
            app = app.configure(routes);
        }
        if manual {
            app = app.service(
                resource("/test/clock", "GET, POST").route(web::post().to(set_clock)).route(web::get().to(get_clock)),
            );
        }
        app.default_service(web::to(|| async {
            error_response(StatusCode::NOT_FOUND, Code::NotFound, "there is nothing at this address")
        }))
    })
    .listen(listener)?
    .run();
    Ok(server)
}

/// Whether the client asked for `application/graphql-response+json`; a
/// missing `Accept`, `*/*` and `application/json` get `application/json`.
fn wants_graphql_response(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains(GRAPHQL_RESPONSE))
}

/// A GraphQL request refused before it reached the schema (malformed or
/// oversized body), in the media type the client accepts.
fn request_error(req: &HttpRequest, status: StatusCode, code: Code, message: &str) -> HttpResponse {
    let content_type = if wants_graphql_response(req) { GRAPHQL_RESPONSE } else { "application/json" };
    HttpResponse::build(status).content_type(content_type).json(error_body(code, message, serde_json::Map::new()))
}

fn request_info(req: &HttpRequest) -> RequestInfo {
    let token = authorization_bearer(req).map(str::to_owned);
    RequestInfo { token, client_address: req.peer_addr().map(|a| a.ip().to_string()) }
}

async fn graphql_post(
    req: HttpRequest,
    backend: web::Data<Arc<Backend>>,
    schema: web::Data<Schemas>,
    payload: web::Payload,
) -> HttpResponse {
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let multipart = essence == "multipart/form-data";
    let json_body = essence == "application/json" || essence == GRAPHQL_RESPONSE;
    if !json_body && !multipart {
        return request_error(
            &req,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::Validation,
            "send the GraphQL request as application/json (or multipart/form-data with files)",
        );
    }
    // Uploads may carry a mail's worth of attachments beside the query.
    let attachment_limit = usize::try_from(backend.settings.attachment_limit).unwrap_or(usize::MAX);
    let limit = if multipart {
        backend.settings.max_body_bytes.saturating_add(attachment_limit)
    } else {
        backend.settings.max_body_bytes
    };
    let body = match read_body(&req, payload, limit).await {
        Ok(body) => body,
        Err(e) => return request_error(&req, e.code.http_status(), e.code, &e.message),
    };
    let request = if multipart {
        let options = MultipartOptions::default().max_file_size(attachment_limit).max_num_files(MAX_FILES);
        match async_graphql::http::receive_batch_body(Some(&content_type), &body[..], options).await {
            Ok(request) => request,
            Err(ParseRequestError::PayloadTooLarge) => {
                return request_error(
                    &req,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Code::LimitExceeded,
                    &format!("an uploaded file is larger than {attachment_limit} bytes"),
                );
            }
            Err(e) => {
                let message = format!("the multipart request is not valid: {e}");
                return request_error(&req, StatusCode::BAD_REQUEST, Code::Validation, &message);
            }
        }
    } else {
        // serde_json refuses input nested deeper than 128 levels before
        // the boundary walks what it built.
        match serde_json::from_slice::<BatchRequest>(&body) {
            Ok(r) => r,
            Err(e) => {
                return request_error(
                    &req,
                    StatusCode::BAD_REQUEST,
                    Code::Validation,
                    &format!("the body is not a GraphQL request: {e}"),
                );
            }
        }
    };
    if let BatchRequest::Batch(requests) = &request
        && requests.len() > MAX_BATCH
    {
        return request_error(
            &req,
            StatusCode::BAD_REQUEST,
            Code::LimitExceeded,
            &format!("a batch holds at most {MAX_BATCH} operations"),
        );
    }
    execute(&req, &schema, request).await
}

#[derive(Deserialize)]
struct GetParams {
    query: Option<String>,
}

async fn graphql_get(req: HttpRequest, schema: web::Data<Schemas>) -> HttpResponse {
    let wants_html = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("text/html"));
    let has_query = web::Query::<GetParams>::from_query(req.query_string()).is_ok_and(|p| p.query.is_some());
    if wants_html && !has_query {
        return crate::graphiql::page();
    }
    let mut request = match async_graphql::http::parse_query_string(req.query_string()) {
        Ok(r) => r,
        Err(e) => return request_error(&req, StatusCode::BAD_REQUEST, Code::Validation, &e.to_string()),
    };
    // The boundary's checks come before this handler parses the query.
    if let Err(e) = crate::boundary::check(&request) {
        return respond(&req, BatchResponse::Single(async_graphql::Response::from_errors(vec![e])));
    }
    // GraphQL over HTTP: GET may only read. The request keeps what was
    // parsed here, so that nothing parses it again.
    let is_mutation = request.parsed_query().is_ok_and(|doc| {
        doc.operations.iter().any(|(_, op)| op.node.ty != async_graphql::parser::types::OperationType::Query)
    });
    if is_mutation {
        let mut response =
            request_error(&req, StatusCode::METHOD_NOT_ALLOWED, Code::Validation, "mutations must be sent with POST");
        response.headers_mut().insert(ALLOW, actix_web::http::header::HeaderValue::from_static("POST"));
        return response;
    }
    execute(&req, &schema, BatchRequest::Single(request)).await
}

/// Runs each request of the batch past the boundary and then on the schema
/// that suits it.
async fn execute(req: &HttpRequest, schemas: &Schemas, request: BatchRequest) -> HttpResponse {
    let run = |mut request: async_graphql::Request| async move {
        let schema = match crate::boundary::admit(&mut request) {
            Ok(true) => &schemas.introspection,
            Ok(false) => &schemas.http,
            Err(e) => return async_graphql::Response::from_errors(vec![e]),
        };
        crate::boundary::with_codes(schema.execute(request.data(request_info(req))).await)
    };
    let response = match request {
        BatchRequest::Single(request) => BatchResponse::Single(run(request).await),
        BatchRequest::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            for request in requests {
                responses.push(run(request).await);
            }
            BatchResponse::Batch(responses)
        }
    };
    respond(req, response)
}

/// GraphQL over HTTP: a request that could not start executing (errors
/// without a path: syntax, validation, limits) has no `data` entry, and is a
/// 400 for clients that accept the GraphQL response type; field errors keep
/// 200.
fn respond(req: &HttpRequest, response: BatchResponse) -> HttpResponse {
    let failed = matches!(&response, BatchResponse::Single(r) if failed_before_execution(r));
    let mut answer = if wants_graphql_response(req) {
        let mut answer = HttpResponse::build(if failed { StatusCode::BAD_REQUEST } else { StatusCode::OK });
        answer.content_type(GRAPHQL_RESPONSE);
        answer
    } else {
        let mut answer = HttpResponse::Ok();
        answer.content_type("application/json");
        answer
    };
    match response {
        // Most answers are written straight out.
        BatchResponse::Single(r) if !failed => answer.json(&r),
        BatchResponse::Single(r) => answer.json(response_body(r)),
        BatchResponse::Batch(rs) => answer.json(Value::Array(rs.into_iter().map(response_body).collect())),
    }
}

/// Whether a response is of a request that could not start executing.
fn failed_before_execution(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// A response as JSON, without `data` when it failed before execution.
fn response_body(response: async_graphql::Response) -> Value {
    let failed = failed_before_execution(&response);
    let mut body = match serde_json::to_value(&response) {
        Ok(body) => body,
        Err(e) => {
            let e = ApiError::internal(e);
            return error_body(e.code, &e.message, serde_json::Map::new());
        }
    };
    if failed && let Some(fields) = body.as_object_mut() {
        fields.remove("data");
    }
    body
}

/// An `Upgrade: websocket` request, in any case (RFC 6455, 4.2.1).
fn wants_websocket(ctx: &guard::GuardContext<'_>) -> bool {
    ctx.head()
        .headers()
        .get(actix_web::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

async fn graphql_ws(req: HttpRequest, schema: web::Data<Schemas>, payload: web::Payload) -> HttpResponse {
    let client_address = req.peer_addr().map(|a| a.ip().to_string());
    let started = GraphQLSubscription::new(schema.websocket.clone())
        .on_connection_init(move |value: serde_json::Value| {
            let client_address = client_address.clone();
            async move {
                // `{"Authorization": "Bearer <token>"}`, or the bare token.
                let token = ["Authorization", "authorization", "token"]
                    .iter()
                    .find_map(|k| value.get(*k).and_then(|v| v.as_str()))
                    .map(|v| bearer_token(v).unwrap_or(v.trim()).to_owned());
                let mut data = Data::default();
                data.insert(RequestInfo { token, client_address });
                Ok(data)
            }
        })
        .start(&req, payload);
    started.unwrap_or_else(|e| {
        error_response(StatusCode::BAD_REQUEST, Code::Validation, &format!("not a GraphQL WebSocket handshake: {e}"))
    })
}

async fn healthz(backend: web::Data<Arc<Backend>>) -> HttpResponse {
    // A projector stopped at an event it cannot apply does not make the
    // server unready (everything else works); it is named here.
    let stopped: Vec<Value> = backend
        .projections
        .progress()
        .into_iter()
        .filter_map(|(projector, p)| p.stopped.map(|s| json!({ "projector": projector, "position": s.position })))
        .collect();
    let body = json!({
        "status": if backend.is_ready() { "ready" } else { "starting" },
        "position": backend.projections.position(),
        "head": *backend.store.head().borrow(),
        "stopped": stopped,
    });
    if backend.is_ready() { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

async fn metrics(backend: web::Data<Arc<Backend>>) -> HttpResponse {
    let head = *backend.store.head().borrow();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(backend.metrics.render(head, &backend.projections.progress()))
}

#[derive(Deserialize)]
struct ClockChange {
    now: Option<String>,
    advance: Option<String>,
}

async fn set_clock(backend: web::Data<Arc<Backend>>, change: web::Json<ClockChange>) -> HttpResponse {
    let Some(clock) = &backend.manual_clock else {
        return error_response(StatusCode::NOT_FOUND, Code::NotFound, "the clock is not manual");
    };
    let bad = |m: String| error_response(StatusCode::BAD_REQUEST, Code::Validation, &m);
    match (&change.now, &change.advance) {
        (Some(now), None) => match chrono::DateTime::parse_from_rfc3339(now) {
            Ok(t) => clock.set(t.with_timezone(&chrono::Utc)),
            Err(e) => return bad(format!("`now` is not an RFC 3339 time: {e}")),
        },
        (None, Some(advance)) => match iso8601::duration(advance) {
            Ok(d) => match chrono::Duration::from_std(std::time::Duration::from(d)) {
                Ok(d) if clock.advance(d) => {}
                _ => return bad("`advance` moves the clock past the last time it can show".into()),
            },
            Err(e) => return bad(format!("`advance` is not an ISO 8601 duration such as PT24H: {e}")),
        },
        _ => return bad("give either `now` or `advance`".into()),
    }
    get_clock(backend).await
}

async fn get_clock(backend: web::Data<Arc<Backend>>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "now": backend.clock.now().to_rfc3339() }))
}
