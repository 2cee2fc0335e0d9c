//! Plain HTTP, besides GraphQL: the one JSON shape of an error, routes
//! that answer other methods with 405, bodies read up to a limit, bearer
//! tokens and files streamed to the client.

use std::future::Future;

use actix_web::body::SizedStream;
use actix_web::http::StatusCode;
use actix_web::http::header::{ALLOW, AUTHORIZATION, CONTENT_LENGTH, ContentDisposition};
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_util::io::ReaderStream;

use crate::errors::{ApiError, ApiResult, Code};

/// How much of a file is read for each piece of a streamed answer.
const DOWNLOAD_CHUNK: usize = 64 * 1024;

/// A resource whose other methods are answered with 405 and `Allow`.
pub(crate) fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
        let message = format!("{} is not allowed here; use {allow}", req.method());
        let mut response = error_response(StatusCode::METHOD_NOT_ALLOWED, Code::Validation, &message);
        response.headers_mut().insert(ALLOW, actix_web::http::header::HeaderValue::from_static(allow));
        response
    }))
}

/// Reads a request body of at most `limit` bytes.
///
/// # Errors
/// `LIMIT_EXCEEDED` for a larger body, `VALIDATION` for one that breaks off.
pub(crate) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let too_large = || ApiError::new(Code::LimitExceeded, format!("the request body is larger than {limit} bytes"));
    let declared =
        req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return Err(ApiError::new(Code::Validation, "the request body could not be read"));
        };
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The one shape of an error outside GraphQL execution; `extensions` adds
/// to the code what the client may act on.
pub(crate) fn error_body(code: Code, message: &str, extensions: serde_json::Map<String, Value>) -> Value {
    let mut all = serde_json::Map::from_iter([("code".to_owned(), Value::from(code.as_str()))]);
    all.extend(extensions);
    json!({ "errors": [{ "message": message, "extensions": all }] })
}

/// An error of a plain (non-GraphQL) endpoint, as JSON.
pub(crate) fn error_response(status: StatusCode, code: Code, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(error_body(code, message, serde_json::Map::new()))
}

/// The token of the request's `Authorization: Bearer <token>` header.
pub(crate) fn authorization_bearer(req: &HttpRequest) -> Option<&str> {
    req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_token)
}

/// The token of a `Bearer <token>` credential; the scheme's name is matched
/// in any case (RFC 9110, 11.1).
pub(crate) fn bearer_token(credential: &str) -> Option<&str> {
    let (scheme, token) = credential.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A stored file as an answer's body, read piece by piece as the client
/// takes it, with its length announced.
fn streamed(blob: blobs::Blob) -> SizedStream<ReaderStream<blobs::BlobReader>> {
    SizedStream::new(blob.size, ReaderStream::with_capacity(blob.reader, DOWNLOAD_CHUNK))
}

/// A refusal of a plain endpoint, as JSON with its code, and the input
/// and rule it is about.
pub(crate) fn refusal(e: &ApiError) -> HttpResponse {
    let mut extensions = serde_json::Map::new();
    if let Some(field) = e.field {
        extensions.insert("field".into(), field.into());
    }
    if let Some(rule) = e.rule {
        extensions.insert("rule".into(), rule.into());
    }
    HttpResponse::build(e.code.http_status()).json(error_body(e.code, &e.message, extensions))
}

/// A stored file to download, with the name and type it is served under.
pub(crate) struct Download {
    pub name: String,
    pub content_type: String,
    pub blob: blobs::Blob,
}

/// A download for the bearer of the request's token: `UNAUTHENTICATED`
/// without one; else what `open` finds for the token, or its error.
pub(crate) async fn download<F>(req: &HttpRequest, open: impl FnOnce(String) -> F) -> HttpResponse
where
    F: Future<Output = ApiResult<Download>>,
{
    let Some(token) = authorization_bearer(req) else {
        return error_response(StatusCode::UNAUTHORIZED, Code::Unauthenticated, "log in first");
    };
    match open(token.to_owned()).await {
        Ok(file) => HttpResponse::Ok()
            .content_type(file.content_type)
            .insert_header(ContentDisposition::attachment(file.name))
            .body(streamed(file.blob)),
        Err(e) => refusal(&e),
    }
}
