//! The HTTP surface: `/graphql` (POST, GET, WebSocket), `/healthz`,
//! `/metrics`, and `/test/clock` when the clock is manual.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::Service as _;
use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, guard, web};
use async_graphql::http::GraphiQLSource;
use async_graphql::http::MultipartOptions;
use async_graphql::{BatchRequest, BatchResponse, Data, ParseRequestError};
use async_graphql_actix_web::GraphQLSubscription;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;

use crate::app::Services;
use crate::errors::Code;
use crate::schema::{AppSchema, RequestInfo, build_schema};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// The most files one multipart request may upload.
const MAX_FILES: usize = 20;

/// The most operations one batched request may hold.
const MAX_BATCH: usize = 10;

pub fn server(listener: TcpListener, services: Arc<Services>) -> std::io::Result<actix_web::dev::Server> {
    let schema = build_schema(services.clone());
    let manual = services.manual_clock.is_some();
    let server = HttpServer::new(move || {
        let metrics_services = services.clone();
        let mut app = App::new()
            .app_data(web::Data::new(services.clone()))
            .app_data(web::Data::new(schema.clone()))
            .wrap_fn(move |req, srv| {
                let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
                let started = Instant::now();
                let services = metrics_services.clone();
                let response = srv.call(req);
                async move {
                    let response = response.await?;
                    services
                        .metrics
                        .latency
                        .with_label_values(&[route.as_str()])
                        .observe(started.elapsed().as_secs_f64());
                    services.metrics.requests.with_label_values(&[route.as_str(), response.status().as_str()]).inc();
                    Ok(response)
                }
            })
            .route("/graphql", web::post().to(graphql_post))
            .route("/graphql", web::get().guard(guard::Header("upgrade", "websocket")).to(graphql_ws))
            .route("/graphql", web::get().to(graphql_get))
            .route("/inbound", web::post().to(crate::inbound::receive))
            .route("/mail/{mail}/attachments/{sha256}", web::get().to(attachment))
            .route("/hr/leave-adjustments.csv", web::get().to(leave_csv_template))
            .route("/approval/backups/{id}", web::get().to(backup))
            .route("/healthz", web::get().to(healthz))
            .route("/metrics", web::get().to(metrics));
        if manual {
            app = app.route("/test/clock", web::post().to(set_clock)).route("/test/clock", web::get().to(get_clock));
        }
        app
    })
    .listen(listener)?
    .run();
    Ok(server)
}

/// Reads a request body of at most `limit` bytes.
pub(crate) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, HttpResponse> {
    let too_large = || {
        request_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::LimitExceeded,
            &format!("the request body is larger than {limit} bytes"),
        )
    };
    let declared =
        req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return Err(request_error(StatusCode::BAD_REQUEST, Code::Validation, "the request body could not be read"));
        };
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A GraphQL error response outside execution (malformed or oversized body).
fn request_error(status: StatusCode, code: Code, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(GRAPHQL_RESPONSE)
        .json(json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] }))
}

fn request_info(req: &HttpRequest) -> RequestInfo {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_owned());
    RequestInfo { token, client_address: req.peer_addr().map(|a| a.ip().to_string()) }
}

async fn graphql_post(
    req: HttpRequest,
    services: web::Data<Arc<Services>>,
    schema: web::Data<AppSchema>,
    payload: web::Payload,
) -> HttpResponse {
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let multipart = content_type.starts_with("multipart/form-data");
    let json_body = content_type.starts_with("application/json") || content_type.starts_with(GRAPHQL_RESPONSE);
    if !json_body && !multipart {
        return request_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::Validation,
            "send the GraphQL request as application/json (or multipart/form-data with files)",
        );
    }
    // Uploads may carry a mail's worth of attachments beside the query.
    let attachment_limit = usize::try_from(services.settings.attachment_limit).unwrap_or(usize::MAX);
    let limit = if multipart {
        services.settings.max_body_bytes.saturating_add(attachment_limit)
    } else {
        services.settings.max_body_bytes
    };
    let body = match read_body(&req, payload, limit).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let request = if multipart {
        let options = MultipartOptions::default().max_file_size(attachment_limit).max_num_files(MAX_FILES);
        match async_graphql::http::receive_batch_body(Some(&content_type), &body[..], options).await {
            Ok(request) => request,
            Err(ParseRequestError::PayloadTooLarge) => {
                return request_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Code::LimitExceeded,
                    &format!("an uploaded file is larger than {attachment_limit} bytes"),
                );
            }
            Err(e) => {
                let message = format!("the multipart request is not valid: {e}");
                return request_error(StatusCode::BAD_REQUEST, Code::Validation, &message);
            }
        }
    } else {
        match serde_json::from_slice::<BatchRequest>(&body) {
            Ok(r) => r,
            Err(e) => {
                return request_error(
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

async fn graphql_get(req: HttpRequest, schema: web::Data<AppSchema>) -> HttpResponse {
    let wants_html = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"));
    let has_query = web::Query::<GetParams>::from_query(req.query_string()).is_ok_and(|p| p.query.is_some());
    if wants_html && !has_query {
        let page = GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql").finish();
        return HttpResponse::Ok().content_type("text/html; charset=utf-8").body(page);
    }
    let request = match async_graphql::http::parse_query_string(req.query_string()) {
        Ok(r) => r,
        Err(e) => return request_error(StatusCode::BAD_REQUEST, Code::Validation, &e.to_string()),
    };
    // GraphQL over HTTP: GET may only read.
    let is_mutation = async_graphql::parser::parse_query(&request.query).is_ok_and(|doc| {
        doc.operations.iter().any(|(_, op)| op.node.ty != async_graphql::parser::types::OperationType::Query)
    });
    if is_mutation {
        return request_error(StatusCode::METHOD_NOT_ALLOWED, Code::Validation, "mutations must be sent with POST");
    }
    execute(&req, &schema, BatchRequest::Single(request)).await
}

async fn execute(req: &HttpRequest, schema: &AppSchema, request: BatchRequest) -> HttpResponse {
    let response = schema.execute_batch(request.data(request_info(req))).await;
    let response = with_codes(response);
    let accepts_graphql_response = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.contains(GRAPHQL_RESPONSE) || v.contains("*/*"));
    // GraphQL over HTTP: a request that could not start executing (errors
    // without a path: syntax, validation, limits) is a 400 for clients that
    // accept the GraphQL response type; field errors keep 200.
    let request_failed = match &response {
        BatchResponse::Single(r) => {
            r.data == async_graphql::Value::Null && !r.errors.is_empty() && r.errors.iter().all(|e| e.path.is_empty())
        }
        BatchResponse::Batch(_) => false,
    };
    let (status, content_type) = if accepts_graphql_response {
        (if request_failed { StatusCode::BAD_REQUEST } else { StatusCode::OK }, GRAPHQL_RESPONSE)
    } else {
        (StatusCode::OK, "application/json")
    };
    HttpResponse::build(status).content_type(content_type).json(&response)
}

/// Gives every error a code: errors raised before execution (syntax,
/// validation, limits) carry none of their own.
fn with_codes(response: BatchResponse) -> BatchResponse {
    let fix = |mut r: async_graphql::Response| {
        for error in &mut r.errors {
            let has_code = error.extensions.as_ref().is_some_and(|e| e.get("code").is_some());
            if !has_code {
                let lower = error.message.to_lowercase();
                let code = if lower.contains("too deep") || lower.contains("too complex") || lower.contains("too many")
                {
                    Code::LimitExceeded
                } else {
                    Code::Validation
                };
                error.extensions.get_or_insert_with(Default::default).set("code", code.as_str());
            }
        }
        r
    };
    match response {
        BatchResponse::Single(r) => BatchResponse::Single(fix(r)),
        BatchResponse::Batch(rs) => BatchResponse::Batch(rs.into_iter().map(fix).collect()),
    }
}

async fn graphql_ws(
    req: HttpRequest,
    schema: web::Data<AppSchema>,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let client_address = req.peer_addr().map(|a| a.ip().to_string());
    GraphQLSubscription::new(AppSchema::clone(&schema))
        .on_connection_init(move |value: serde_json::Value| {
            let client_address = client_address.clone();
            async move {
                let token = ["Authorization", "authorization", "token"]
                    .iter()
                    .find_map(|k| value.get(*k).and_then(|v| v.as_str()))
                    .map(|v| v.trim_start_matches("Bearer ").trim().to_owned());
                let mut data = Data::default();
                data.insert(RequestInfo { token, client_address });
                Ok(data)
            }
        })
        .start(&req, payload)
}

/// A backup archive (rule A10), for an admin, within 30 days.
async fn backup(req: HttpRequest, services: web::Data<Arc<Services>>, id: web::Path<uuid::Uuid>) -> HttpResponse {
    let id = id.into_inner();
    let Some(token) = request_info(&req).token else {
        return request_error(StatusCode::UNAUTHORIZED, Code::Unauthenticated, "log in first");
    };
    match crate::schema::approval::backup_archive(&services, &token, id).await {
        Ok(bytes) => HttpResponse::Ok()
            .content_type("application/zip")
            .insert_header(actix_web::http::header::ContentDisposition::attachment(format!("approval-backup-{id}.zip")))
            .body(bytes),
        Err(e) => request_error(e.code.http_status(), e.code, &e.message),
    }
}

/// The template of the leave adjustment upload (rule H5).
async fn leave_csv_template() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("content-disposition", "attachment; filename=\"leave-adjustments.csv\""))
        .body(crate::schema::hr::leave_csv_template())
}

async fn healthz(services: web::Data<Arc<Services>>) -> HttpResponse {
    let body = json!({
        "status": if services.is_ready() { "ready" } else { "starting" },
        "position": services.projections.position(),
        "head": *services.store.head().borrow(),
    });
    if services.is_ready() { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

async fn metrics(services: web::Data<Arc<Services>>) -> HttpResponse {
    let head = *services.store.head().borrow();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(services.metrics.render(head, &services.projections.checkpoints()))
}

#[derive(Deserialize)]
struct ClockChange {
    now: Option<String>,
    advance: Option<String>,
}

async fn set_clock(services: web::Data<Arc<Services>>, change: web::Json<ClockChange>) -> HttpResponse {
    let Some(clock) = &services.manual_clock else { return HttpResponse::NotFound().finish() };
    let bad = |m: String| HttpResponse::BadRequest().json(json!({ "error": m, "code": Code::Validation.as_str() }));
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
    get_clock(services).await
}

async fn get_clock(services: web::Data<Arc<Services>>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "now": services.clock.now().to_rfc3339() }))
}

/// `GET /mail/{mail}/attachments/{sha256}`: a file of a mail in the caller's
/// mailbox, with the caller's bearer token.
async fn attachment(
    req: HttpRequest,
    services: web::Data<Arc<Services>>,
    path: web::Path<(uuid::Uuid, String)>,
) -> HttpResponse {
    let (mail, sha256) = path.into_inner();
    let Some(token) = request_info(&req).token else {
        return request_error(StatusCode::UNAUTHORIZED, Code::Unauthenticated, "log in first");
    };
    match crate::schema::mail::attachment(&services, &token, mail, &sha256).await {
        Ok((info, bytes)) => HttpResponse::Ok()
            .content_type(info.content_type.clone())
            .insert_header(actix_web::http::header::ContentDisposition::attachment(info.name))
            .body(bytes),
        Err(e) => request_error(e.code.http_status(), e.code, &e.message),
    }
}
