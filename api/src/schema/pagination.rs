//! Relay connections over read-model tables.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{OutputType, SimpleObject};

use crate::app::Services;
use crate::errors::{ApiError, ApiResult, Code};

/// The page size when `first` is not given, and the most a page may hold.
const DEFAULT_PAGE: usize = 20;
pub const MAX_PAGE: usize = 100;

/// Extra fields of every connection.
#[derive(SimpleObject)]
pub struct Counted {
    /// All items of the list, on every page.
    pub total_count: usize,
}

pub type Page<T> = Connection<String, T, Counted>;

/// Checks `first` and gives the page size.
///
/// # Errors
/// `VALIDATION` for a negative size, `LIMIT_EXCEEDED` above [`MAX_PAGE`].
pub fn page_size(first: Option<i32>) -> ApiResult<usize> {
    match first {
        None => Ok(DEFAULT_PAGE),
        Some(n) if n < 0 => Err(ApiError::new(Code::Validation, "`first` cannot be negative")),
        Some(n) if n as usize > MAX_PAGE => {
            Err(ApiError::new(Code::LimitExceeded, format!("`first` is at most {MAX_PAGE}")))
        }
        Some(n) => Ok(n as usize),
    }
}

/// One page of the rows of `table` under `prefix`, in key order; cursors are
/// the keys without the prefix.
pub async fn page<T: OutputType>(
    services: &Services,
    table: &str,
    prefix: &str,
    first: Option<i32>,
    after: Option<String>,
    to_node: impl Fn(serde_json::Value) -> ApiResult<T>,
) -> ApiResult<Page<T>> {
    let total_count = services.read_models().count(table, prefix).await?;
    counted_page(services, table, prefix, (first, after), total_count, to_node).await
}

/// Like [`page`], for a list whose size a read model keeps.
pub async fn counted_page<T: OutputType>(
    services: &Services,
    table: &str,
    prefix: &str,
    (first, after): (Option<i32>, Option<String>),
    total_count: usize,
    to_node: impl Fn(serde_json::Value) -> ApiResult<T>,
) -> ApiResult<Page<T>> {
    let size = page_size(first)?;
    let after_key = after.as_ref().map(|a| format!("{prefix}{a}"));
    let mut rows = services.read_models().scan(table, prefix, after_key.as_deref(), size + 1).await?;
    let has_next = rows.len() > size;
    rows.truncate(size);
    let mut connection = Connection::with_additional_fields(after.is_some(), has_next, Counted { total_count });
    for (key, value) in rows {
        let cursor = key.strip_prefix(prefix).unwrap_or(&key).to_owned();
        connection.edges.push(Edge::new(cursor, to_node(value)?));
    }
    Ok(connection)
}
