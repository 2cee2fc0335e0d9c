//! GraphiQL, served entirely by this server so that it works without
//! internet access: the page and the vendored builds of GraphiQL 4.1.2,
//! React 18.3.1 and ReactDOM 18.3.1 (MIT; licences beside them in
//! `api/assets/graphiql/`). File names carry the versions, so the files may
//! be cached for good.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, web};

use crate::errors::Code;

const PAGE: &str = include_str!("../assets/graphiql/index.html");

/// The files under `/graphiql/`: name, content type, bytes.
const ASSETS: [(&str, &str, &[u8]); 4] = [
    (
        "graphiql-4.1.2.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/graphiql-4.1.2.min.js"),
    ),
    ("graphiql-4.1.2.min.css", "text/css; charset=utf-8", include_bytes!("../assets/graphiql/graphiql-4.1.2.min.css")),
    (
        "react-18.3.1.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/react-18.3.1.production.min.js"),
    ),
    (
        "react-dom-18.3.1.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/react-dom-18.3.1.production.min.js"),
    ),
];

/// The GraphiQL page, for a browser's `GET /graphql`.
pub(crate) fn page() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").insert_header((CACHE_CONTROL, "no-cache")).body(PAGE)
}

/// `GET /graphiql/{file}`: one of the vendored files.
pub(crate) async fn asset(file: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(name, _, _)| *name == file.as_str()) {
        Some((_, content_type, bytes)) => HttpResponse::Ok()
            .content_type(*content_type)
            .insert_header((CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")))
            .body(*bytes),
        None => crate::rest::error_response(StatusCode::NOT_FOUND, Code::NotFound, "no such GraphiQL file"),
    }
}
