//! Relay connections over read-model tables: `first`/`after` pages forwards,
//! `last`/`before` backwards, with opaque cursors that name their list.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{OutputType, SimpleObject};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use projections::Table;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::Backend;
use crate::errors::{ApiError, ApiResult, Code};

/// The page size when neither `first` nor `last` is given, and the most a
/// page may hold.
const DEFAULT_PAGE: usize = 20;
pub const MAX_PAGE: usize = 100;

/// Extra fields of every connection.
#[derive(SimpleObject)]
pub struct Counted {
    /// All items of the list, on every page.
    pub total_count: usize,
}

pub type Page<T> = Connection<String, T, Counted>;

/// The page a client asks for, as Relay's four arguments.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

impl PageRequest {
    pub fn new(first: Option<i32>, after: Option<String>, last: Option<i32>, before: Option<String>) -> Self {
        Self { first, after, last, before }
    }

    /// The window the arguments describe within the list `list`, with its
    /// cursor decoded.
    ///
    /// # Errors
    /// `VALIDATION` for a negative size, for `first` or `after` given with
    /// `last` or `before`, or a cursor that is not one of `list`;
    /// `LIMIT_EXCEEDED` for a size above [`MAX_PAGE`].
    pub fn window(&self, list: &str) -> ApiResult<Window> {
        let forwards = self.first.is_some() || self.after.is_some();
        let backwards = self.last.is_some() || self.before.is_some();
        if forwards && backwards {
            return Err(ApiError::new(
                Code::Validation,
                "page forwards with `first`/`after` or backwards with `last`/`before`, not both",
            ));
        }
        if backwards {
            let size = page_size("last", self.last)?;
            let before = self.before.as_deref().map(|c| Cursor::decode(list, "before", c)).transpose()?;
            Ok(Window { size, from: before, backwards: true })
        } else {
            let size = page_size("first", self.first)?;
            let after = self.after.as_deref().map(|c| Cursor::decode(list, "after", c)).transpose()?;
            Ok(Window { size, from: after, backwards: false })
        }
    }
}

/// A decoded page request: how many items, from which position (exclusive),
/// and which way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub size: usize,
    /// The position the cursor names, without the list's name.
    pub from: Option<String>,
    pub backwards: bool,
}

impl Window {
    /// A connection for `items` (at most `size + 1` read from the store in
    /// the window's direction, nearest first): the extra one tells whether
    /// more lie beyond; the edges come out in the list's order.
    pub fn connection<T: OutputType>(&self, list: &str, mut items: Vec<(String, T)>, total_count: usize) -> Page<T> {
        let more = items.len() > self.size;
        items.truncate(self.size);
        let started = self.from.is_some();
        let (has_previous, has_next) = if self.backwards { (more, started) } else { (started, more) };
        if self.backwards {
            items.reverse();
        }
        let mut connection = Connection::with_additional_fields(has_previous, has_next, Counted { total_count });
        connection
            .edges
            .extend(items.into_iter().map(|(position, node)| Edge::new(Cursor::encode(list, &position), node)));
        connection
    }
}

/// Checks a page size.
fn page_size(name: &str, size: Option<i32>) -> ApiResult<usize> {
    match size {
        None => Ok(DEFAULT_PAGE),
        Some(n) if n < 0 => Err(ApiError::new(Code::Validation, format!("`{name}` cannot be negative"))),
        Some(n) if n as usize > MAX_PAGE => {
            Err(ApiError::new(Code::LimitExceeded, format!("`{name}` is at most {MAX_PAGE}")))
        }
        Some(n) => Ok(n as usize),
    }
}

/// Cursors: the list's name and a position in it, base64url-encoded, so
/// that a client cannot mistake them for data nor pass one list's cursor to
/// another.
pub struct Cursor;

impl Cursor {
    pub fn encode(list: &str, position: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!("{list}:{position}"))
    }

    /// The position a cursor of `list` names.
    ///
    /// # Errors
    /// `VALIDATION` when `cursor` is not a cursor of `list`.
    pub fn decode(list: &str, argument: &str, cursor: &str) -> ApiResult<String> {
        let invalid = || ApiError::new(Code::Validation, format!("`{argument}` is not a cursor of this list"));
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let position = text.strip_prefix(list).and_then(|t| t.strip_prefix(':')).ok_or_else(invalid)?;
        if position.is_empty() || position.chars().any(char::is_control) {
            return Err(invalid());
        }
        Ok(position.to_owned())
    }
}

/// One page of the rows of `table` under `prefix`, in key order, of a
/// list whose size a read model keeps (`total_count`); cursors name the
/// keys without the prefix.
pub async fn counted_page<R, T>(
    backend: &Backend,
    table: Table<R>,
    prefix: &str,
    request: &PageRequest,
    total_count: usize,
    to_node: impl Fn(R) -> ApiResult<T>,
) -> ApiResult<Page<T>>
where
    R: Serialize + DeserializeOwned,
    T: OutputType,
{
    let window = request.window(table.name())?;
    rows_page(backend, table, prefix, &window, total_count, to_node).await
}

/// How many rows a filtered page reads at a time.
const FILTER_CHUNK: usize = 256;

/// One page of the rows that the entries of `index` under `prefix` lead
/// to (`resolve` reads the row an entry names; an entry whose row is gone
/// is passed over) and that `keep` accepts, in the index's key order:
/// reads on from the cursor until the page is full or the entries end.
/// `total_count`, when the caller knows it (every entry kept), spares
/// counting by reading the whole prefix.
#[allow(clippy::too_many_arguments)]
pub async fn filtered_page<I, R, T, F>(
    backend: &Backend,
    index: Table<I>,
    prefix: &str,
    request: &PageRequest,
    total_count: Option<usize>,
    resolve: impl Fn(I) -> F,
    keep: impl Fn(&R) -> bool,
    to_node: impl Fn(R) -> ApiResult<T>,
) -> ApiResult<Page<T>>
where
    I: Serialize + DeserializeOwned,
    T: OutputType,
    F: std::future::Future<Output = ApiResult<Option<R>>>,
{
    let window = request.window(index.name())?;
    let models = backend.read_models();
    let mut from = window.from.as_ref().map(|position| format!("{prefix}{position}"));
    let mut items = Vec::new();
    'chunks: while items.len() <= window.size {
        let entries = if window.backwards {
            index.scan_back(models, prefix, from.as_deref(), FILTER_CHUNK).await?
        } else {
            index.scan(models, prefix, from.as_deref(), FILTER_CHUNK).await?
        };
        let full = entries.len() == FILTER_CHUNK;
        from = entries.last().map(|(key, _)| key.clone());
        for (key, entry) in entries {
            if items.len() > window.size {
                break 'chunks;
            }
            if let Some(row) = resolve(entry).await?.filter(|row| keep(row)) {
                items.push((key.strip_prefix(prefix).unwrap_or(&key).to_owned(), to_node(row)?));
            }
        }
        if !full {
            break;
        }
    }
    let total_count = match total_count {
        Some(known) => known,
        None => {
            let (mut counted, mut after) = (0, None::<String>);
            loop {
                let entries = index.scan(models, prefix, after.as_deref(), FILTER_CHUNK).await?;
                let full = entries.len() == FILTER_CHUNK;
                after = entries.last().map(|(key, _)| key.clone());
                for (_, entry) in entries {
                    counted += usize::from(resolve(entry).await?.is_some_and(|row| keep(&row)));
                }
                if !full {
                    break counted;
                }
            }
        }
    };
    Ok(window.connection(index.name(), items, total_count))
}

async fn rows_page<R, T>(
    backend: &Backend,
    table: Table<R>,
    prefix: &str,
    window: &Window,
    total_count: usize,
    to_node: impl Fn(R) -> ApiResult<T>,
) -> ApiResult<Page<T>>
where
    R: Serialize + DeserializeOwned,
    T: OutputType,
{
    let from = window.from.as_ref().map(|position| format!("{prefix}{position}"));
    let models = backend.read_models();
    let rows = if window.backwards {
        table.scan_back(models, prefix, from.as_deref(), window.size + 1).await?
    } else {
        table.scan(models, prefix, from.as_deref(), window.size + 1).await?
    };
    let items = rows
        .into_iter()
        .map(|(key, row)| Ok((key.strip_prefix(prefix).unwrap_or(&key).to_owned(), to_node(row)?)))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(window.connection(table.name(), items, total_count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_names_its_list_and_position() {
        let cursor = Cursor::encode("users", "kim.minsu");
        assert!(!cursor.contains("kim"), "opaque: {cursor}");
        assert_eq!(Cursor::decode("users", "after", &cursor).unwrap(), "kim.minsu");
        let other = Cursor::decode("audit", "after", &cursor).unwrap_err();
        assert_eq!(other.code, Code::Validation);
        for garbage in ["", "zzz", "!!!", "dXNlcnM", &URL_SAFE_NO_PAD.encode("users:\u{0}x")] {
            assert_eq!(Cursor::decode("users", "after", garbage).unwrap_err().code, Code::Validation, "{garbage}");
        }
    }

    #[test]
    fn a_page_goes_one_way() {
        let both = PageRequest::new(Some(2), None, Some(2), None).window("users").unwrap_err();
        assert_eq!(both.code, Code::Validation);
        let back = PageRequest::new(None, None, Some(3), Some(Cursor::encode("users", "b"))).window("users").unwrap();
        assert_eq!(back, Window { size: 3, from: Some("b".into()), backwards: true });
        assert_eq!(
            PageRequest::new(None, None, Some(101), None).window("users").unwrap_err().code,
            Code::LimitExceeded
        );
        assert_eq!(PageRequest::new(Some(-1), None, None, None).window("users").unwrap_err().code, Code::Validation);
    }

    #[test]
    fn a_backward_page_comes_out_in_list_order() {
        let window = Window { size: 2, from: Some("d".into()), backwards: true };
        let page = window.connection("t", vec![("c".into(), 3), ("b".into(), 2), ("a".into(), 1)], 4);
        let nodes: Vec<i32> = page.edges.iter().map(|e| e.node).collect();
        assert_eq!(nodes, vec![2, 3]);
        assert!(page.has_previous_page);
        assert!(page.has_next_page);
    }
}
