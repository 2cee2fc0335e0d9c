//! The gate every GraphQL request passes, on every transport (POST, GET,
//! multipart, WebSocket): an async-graphql extension, so that one place
//! covers them all.
//!
//! - Before anything parses the query, a flat scan of its text and of its
//!   variables refuses nesting deeper than [`MAX_NESTING`] (the parser and
//!   the validators recurse once per level; thousands of levels would exhaust
//!   a worker's stack) and NUL characters (PostgreSQL text cannot hold them
//!   and no form field needs them). After parsing, a query may define at
//!   most [`MAX_FRAGMENTS`] fragments, for the same reason.
//! - Selection depth is limited to `max_query_depth`, except for operations
//!   that only introspect the schema, which may nest to
//!   [`INTROSPECTION_DEPTH`]: the standard introspection query of graphql-js
//!   (GraphiQL, code generators, Postman) needs 15.
//! - Every error leaves with an `extensions.code`, also the ones async-graphql
//!   raises itself before execution (syntax, validation, limits).

use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest, NextSubscribe,
    NextValidation,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType, Selection};
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables};
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::errors::Code;

/// The deepest nesting of brackets, braces and parentheses in a query's
/// text, and of lists and objects in its variables. Far above what any
/// legitimate query needs (its selections are limited to `max_query_depth`,
/// input objects nest a few levels), far below what strains a thread's stack.
pub const MAX_NESTING: usize = 64;

/// The most fragments one query may define. The standard introspection
/// query defines 3.
pub const MAX_FRAGMENTS: usize = 100;

/// The selection depth an operation that only introspects the schema may
/// reach (unless `max_query_depth` allows more).
pub const INTROSPECTION_DEPTH: usize = 20;

const NUL_MESSAGE: &str = "text may not contain NUL characters";

/// The extension's factory, installed on the schema.
pub struct Boundary {
    max_depth: usize,
}

impl Boundary {
    pub fn new(max_depth: usize) -> Self {
        Self { max_depth }
    }
}

impl ExtensionFactory for Boundary {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(BoundaryExtension { max_depth: self.max_depth, request: Mutex::default() })
    }
}

/// One request's passage through the gate.
struct BoundaryExtension {
    max_depth: usize,
    request: Mutex<Seen>,
}

/// What the earlier hooks learnt of the request for the later ones.
#[derive(Default)]
struct Seen {
    operation_name: Option<String>,
    introspection_only: bool,
}

impl BoundaryExtension {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.request.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl Extension for BoundaryExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        with_codes(next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream).map(with_codes).boxed()
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        check(&request)?;
        self.seen().operation_name.clone_from(&request.operation_name);
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        check_fragments(&document)?;
        let mut seen = self.seen();
        seen.introspection_only = introspection_only(&document, seen.operation_name.as_deref());
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let limit =
            if self.seen().introspection_only { self.max_depth.max(INTROSPECTION_DEPTH) } else { self.max_depth };
        if result.depth > limit {
            return Err(vec![refused(
                Code::LimitExceeded,
                format!("the query is nested too deep (at most {limit} levels)"),
            )]);
        }
        Ok(result)
    }
}

/// The flat checks of a request, before anything parses it: nesting and
/// NUL characters in the query text, the variables and the uploads' names.
///
/// # Errors
/// `LIMIT_EXCEEDED` for nesting deeper than [`MAX_NESTING`], `VALIDATION`
/// for a NUL character.
pub(crate) fn check(request: &Request) -> ServerResult<()> {
    scan_query(&request.query)?;
    scan_variables(&request.variables)?;
    let upload_names = request.uploads.iter().flat_map(|u| std::iter::once(&u.filename).chain(&u.content_type));
    for name in upload_names {
        if name.contains('\0') {
            return Err(refused(Code::Validation, NUL_MESSAGE));
        }
    }
    Ok(())
}

/// The checks of a request that a schema without this extension will run
/// (HTTP, where the extension's cost on every field resolved is not worth
/// paying): the flat checks, then, once parsed, the fragments. Whether the
/// request only introspects the schema (and may nest deeper); a query that
/// does not parse is left to the schema to report.
///
/// # Errors
/// As [`check`], and `LIMIT_EXCEEDED` for more than [`MAX_FRAGMENTS`]
/// fragments.
pub(crate) fn admit(request: &mut Request) -> ServerResult<bool> {
    check(request)?;
    let operation_name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else { return Ok(false) };
    check_fragments(document)?;
    Ok(introspection_only(document, operation_name.as_deref()))
}

/// Validation follows fragment spreads from every fragment defined, used
/// or not, one stack frame per link: a long chain of them would exhaust a
/// worker's stack although its text nests one level.
fn check_fragments(document: &ExecutableDocument) -> ServerResult<()> {
    if document.fragments.len() > MAX_FRAGMENTS {
        return Err(refused(Code::LimitExceeded, format!("a query defines at most {MAX_FRAGMENTS} fragments")));
    }
    Ok(())
}

fn refused(code: Code, message: impl Into<String>) -> ServerError {
    let mut error = ServerError::new(message, None);
    error.extensions.get_or_insert_with(Default::default).set("code", code.as_str());
    error
}

fn too_deep() -> ServerError {
    refused(Code::LimitExceeded, format!("the request nests deeper than {MAX_NESTING} levels"))
}

/// Scans a query's text as GraphQL's lexer reads it (strings, block
/// strings, comments), counting the nesting of `{[(` and looking for NUL,
/// raw or written as `\u0000` in a string. Malformed text is left to the
/// parser, which fails no later than where this scan stops understanding.
fn scan_query(text: &str) -> ServerResult<()> {
    if text.contains('\0') {
        return Err(refused(Code::Validation, NUL_MESSAGE));
    }
    let bytes = text.as_bytes();
    let line_end = |b: u8| b == b'\n' || b == b'\r';
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && !line_end(bytes[i]) {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 3;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && !line_end(bytes[i]) {
                    if bytes[i] == b'\\' {
                        if bytes[i + 1..].starts_with(b"u0000") {
                            return Err(refused(Code::Validation, NUL_MESSAGE));
                        }
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(too_deep());
                }
                i += 1;
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Walks the variables without recursion: nesting and NUL in strings,
/// enum values and object keys.
fn scan_variables(variables: &Variables) -> ServerResult<()> {
    let mut pending: Vec<(&str, &Value, usize)> = variables.iter().map(|(k, v)| (k.as_str(), v, 1)).collect();
    while let Some((key, value, depth)) = pending.pop() {
        if depth > MAX_NESTING {
            return Err(too_deep());
        }
        let text = match value {
            Value::String(s) => Some(s.as_str()),
            Value::Enum(name) => Some(name.as_str()),
            _ => None,
        };
        if key.contains('\0') || text.is_some_and(|t| t.contains('\0')) {
            return Err(refused(Code::Validation, NUL_MESSAGE));
        }
        match value {
            Value::List(items) => pending.extend(items.iter().map(|v| ("", v, depth + 1))),
            Value::Object(fields) => pending.extend(fields.iter().map(|(k, v)| (k.as_str(), v, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// Whether the operation the request runs is a query whose every root
/// field is `__schema`, `__type` or `__typename`.
fn introspection_only(document: &ExecutableDocument, operation_name: Option<&str>) -> bool {
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    };
    operation.is_some_and(|operation| {
        operation.node.ty == OperationType::Query
            && operation.node.selection_set.node.items.iter().all(|item| match &item.node {
                Selection::Field(field) => {
                    matches!(field.node.name.node.as_str(), "__schema" | "__type" | "__typename")
                }
                Selection::FragmentSpread(_) | Selection::InlineFragment(_) => false,
            })
    })
}

/// Gives every error a code: the ones async-graphql raises before execution
/// (syntax, validation, limits) carry none of their own.
pub(crate) fn with_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        let has_code = error.extensions.as_ref().is_some_and(|e| e.get("code").is_some());
        if !has_code {
            let lower = error.message.to_lowercase();
            let code = if ["too deep", "too complex", "too many", "greater than"].iter().any(|m| lower.contains(m)) {
                Code::LimitExceeded
            } else {
                Code::Validation
            };
            error.extensions.get_or_insert_with(Default::default).set("code", code.as_str());
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(result: ServerResult<()>) -> Option<String> {
        result.err().map(|e| {
            let extensions = e.extensions.expect("extensions");
            extensions.get("code").expect("code").to_string().trim_matches('"').to_owned()
        })
    }

    #[test]
    fn nesting_is_counted_outside_strings_block_strings_and_comments() {
        let deep = format!("{{ me(x: {}1{}) {{ id }} }}", "[".repeat(2000), "]".repeat(2000));
        assert_eq!(code(scan_query(&deep)).as_deref(), Some("LIMIT_EXCEEDED"));
        let deep_object = format!("{{ me(x: {}1{}) {{ id }} }}", "{a: ".repeat(2000), "}".repeat(2000));
        assert_eq!(code(scan_query(&deep_object)).as_deref(), Some("LIMIT_EXCEEDED"));
        let quoted = "[".repeat(2000);
        for harmless in [
            format!("{{ me(x: \"{quoted}\") {{ id }} }}"),
            format!("{{ me(x: \"\"\"{quoted} \\\"\"\" {quoted}\"\"\") {{ id }} }}"),
            format!("# {quoted}\n{{ me {{ id }} }}"),
            format!("{{ me(x: \"\\\"{quoted}\") {{ id }} }}"),
        ] {
            assert_eq!(code(scan_query(&harmless)), None, "{harmless}");
        }
        let at_limit = format!("{}{}", "{".repeat(MAX_NESTING), "}".repeat(MAX_NESTING));
        assert_eq!(code(scan_query(&at_limit)), None);
        // Closing brackets do not buy depth for later openings.
        let unbalanced = format!("{}{}", "}".repeat(100), "{".repeat(MAX_NESTING + 1));
        assert_eq!(code(scan_query(&unbalanced)).as_deref(), Some("LIMIT_EXCEEDED"));
    }

    #[test]
    fn nul_is_refused_raw_or_escaped_in_a_string() {
        for text in ["{ me(x: \"a\0b\") { id } }", "{ me(x: \"a\\u0000b\") { id } }", "# \0\n{ me { id } }"] {
            assert_eq!(code(scan_query(text)).as_deref(), Some("VALIDATION"), "{text:?}");
        }
        // An escaped backslash followed by `u0000` is text, not NUL.
        assert_eq!(code(scan_query("{ me(x: \"a\\\\u0000b\") { id } }")), None);
        assert_eq!(code(scan_query("{ me(x: \"\\u0001\") { id } }")), None);
    }

    #[test]
    fn variables_are_walked_without_recursion() {
        let mut deep = serde_json::json!(1);
        for _ in 0..500 {
            deep = serde_json::json!([deep]);
        }
        let value = Value::from_json(serde_json::json!({ "x": deep })).expect("value");
        let variables = Variables::from_value(value);
        assert_eq!(code(scan_variables(&variables)).as_deref(), Some("LIMIT_EXCEEDED"));
        let nul = Variables::from_json(serde_json::json!({ "input": { "subject": ["ok", "a\u{0}b"] } }));
        assert_eq!(code(scan_variables(&nul)).as_deref(), Some("VALIDATION"));
        let key = Variables::from_json(serde_json::json!({ "input": { "a\u{0}": 1 } }));
        assert_eq!(code(scan_variables(&key)).as_deref(), Some("VALIDATION"));
        let fine = Variables::from_json(serde_json::json!({ "input": { "subject": ["안녕", { "a": [1, 2] }] } }));
        assert_eq!(code(scan_variables(&fine)), None);
    }
}
