//! Typed tables: a table's name together with the type of its rows, so that
//! projectors write and queries read the same shape, through serde, and
//! nothing outside a projector module spells a row's fields.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ProjectionError, ReadModelStore, Transaction};

/// A read-model table whose rows are `R`s.
pub struct Table<R> {
    name: &'static str,
    row: PhantomData<fn() -> R>,
}

impl<R> Clone for Table<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Table<R> {}

impl<R> std::fmt::Debug for Table<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Table").field(&self.name).finish()
    }
}

impl<R> Table<R> {
    pub const fn new(name: &'static str) -> Self {
        Self { name, row: PhantomData }
    }

    /// The table's name in the store.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<R: Serialize + DeserializeOwned> Table<R> {
    fn decode(&self, key: &str, value: serde_json::Value) -> Result<R, ProjectionError> {
        serde_json::from_value(value).map_err(|e| ProjectionError::Row {
            table: self.name,
            key: key.to_owned(),
            reason: e.to_string(),
        })
    }

    /// One row.
    ///
    /// # Errors
    /// When the store fails or the row is not an `R`.
    pub async fn get(&self, store: &dyn ReadModelStore, key: &str) -> Result<Option<R>, ProjectionError> {
        store.get(self.name, key).await?.map(|value| self.decode(key, value)).transpose()
    }

    /// Up to `limit` rows whose key starts with `prefix` and is greater than
    /// `after`, in key order, with their keys.
    ///
    /// # Errors
    /// When the store fails or a row is not an `R`.
    pub async fn scan(
        &self,
        store: &dyn ReadModelStore,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, R)>, ProjectionError> {
        let rows = store.scan(self.name, prefix, after, limit).await?;
        rows.into_iter().map(|(key, value)| Ok((key.clone(), self.decode(&key, value)?))).collect()
    }

    /// Every row whose key starts with `prefix`, in key order, read a page
    /// at a time (for lists that stay small: what waits, say).
    ///
    /// # Errors
    /// When the store fails or a row is not an `R`.
    pub async fn all(&self, store: &dyn ReadModelStore, prefix: &str) -> Result<Vec<R>, ProjectionError> {
        const PAGE: usize = 10_000;
        let mut rows = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.scan(store, prefix, after.as_deref(), PAGE).await?;
            let full = page.len() == PAGE;
            after = page.last().map(|(key, _)| key.clone());
            rows.extend(page.into_iter().map(|(_, row)| row));
            if !full {
                return Ok(rows);
            }
        }
    }

    /// Up to `limit` rows whose key starts with `prefix` and is less than
    /// `before`, in reverse key order, with their keys.
    ///
    /// # Errors
    /// When the store fails or a row is not an `R`.
    pub async fn scan_back(
        &self,
        store: &dyn ReadModelStore,
        prefix: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, R)>, ProjectionError> {
        let rows = store.scan_back(self.name, prefix, before, limit).await?;
        rows.into_iter().map(|(key, value)| Ok((key.clone(), self.decode(&key, value)?))).collect()
    }

    /// How many rows have a key starting with `prefix`.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn count(&self, store: &dyn ReadModelStore, prefix: &str) -> Result<usize, ProjectionError> {
        store.count(self.name, prefix).await
    }

    /// A row as the batch `tx` left it.
    ///
    /// # Errors
    /// When the store fails or the row is not an `R`.
    pub async fn read(&self, tx: &Transaction<'_>, key: &str) -> Result<Option<R>, ProjectionError> {
        tx.get(self.name, key).await?.map(|value| self.decode(key, value)).transpose()
    }

    /// Every row whose key starts with `prefix` as the batch `tx` left
    /// them, in key order, with their keys.
    ///
    /// # Errors
    /// When the store fails or a row is not an `R`.
    pub async fn read_all(&self, tx: &Transaction<'_>, prefix: &str) -> Result<Vec<(String, R)>, ProjectionError> {
        let rows = tx.scan_all(self.name, prefix).await?;
        rows.into_iter().map(|(key, value)| Ok((key.clone(), self.decode(&key, value)?))).collect()
    }

    /// Whether any row's key starts with `prefix`, as the batch `tx` left
    /// them.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn any(&self, tx: &Transaction<'_>, prefix: &str) -> Result<bool, ProjectionError> {
        tx.any_under(self.name, prefix).await
    }

    /// Writes a row in the batch `tx`.
    ///
    /// # Errors
    /// When the row cannot be written as JSON.
    pub fn put(&self, tx: &mut Transaction<'_>, key: String, row: &R) -> Result<(), ProjectionError> {
        let value = serde_json::to_value(row).map_err(|e| ProjectionError::Row {
            table: self.name,
            key: key.clone(),
            reason: e.to_string(),
        })?;
        tx.put(self.name, key, value);
        Ok(())
    }

    /// Deletes a row in the batch `tx`.
    pub fn delete(&self, tx: &mut Transaction<'_>, key: String) {
        tx.delete(self.name, key);
    }

    /// Writes a row in the batch `tx`; when `key` held none, counts it in
    /// `counts` under each of `prefixes`.
    ///
    /// # Errors
    /// When the store fails or the row cannot be written as JSON.
    pub async fn put_counted(
        &self,
        tx: &mut Transaction<'_>,
        counts: Counts,
        key: String,
        row: &R,
        prefixes: &[&str],
    ) -> Result<(), ProjectionError> {
        if tx.get(self.name, &key).await?.is_none() {
            for prefix in prefixes {
                counts.add(tx, self.name, prefix, 1).await?;
            }
        }
        self.put(tx, key, row)
    }

    /// Deletes a row in the batch `tx`; when there was one, no longer counts
    /// it in `counts` under each of `prefixes`.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn delete_counted(
        &self,
        tx: &mut Transaction<'_>,
        counts: Counts,
        key: String,
        prefixes: &[&str],
    ) -> Result<(), ProjectionError> {
        if tx.get(self.name, &key).await?.is_some() {
            for prefix in prefixes {
                counts.add(tx, self.name, prefix, -1).await?;
            }
        }
        self.delete(tx, key);
        Ok(())
    }
}

/// How many rows tables hold under chosen prefixes, kept as rows of a
/// table of counts under `<prefix>|<table>` (the prefix first: a company's
/// counts start with its id and leave with its rows), so that a list's
/// `totalCount` costs one read however long the list.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    name: &'static str,
}

impl Counts {
    pub const fn new(name: &'static str) -> Self {
        Self { name }
    }

    /// The table of counts in the store.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    fn key(table: &str, prefix: &str) -> String {
        format!("{prefix}|{table}")
    }

    /// Adds `by` to the count of `table`'s rows under `prefix`, in the
    /// batch `tx`.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn add(
        &self,
        tx: &mut Transaction<'_>,
        table: &str,
        prefix: &str,
        by: i64,
    ) -> Result<(), ProjectionError> {
        let key = Self::key(table, prefix);
        let count = tx.get(self.name, &key).await?.and_then(|v| v.as_u64()).unwrap_or(0).saturating_add_signed(by);
        if count == 0 {
            tx.delete(self.name, key);
        } else {
            tx.put(self.name, key, serde_json::Value::from(count));
        }
        Ok(())
    }

    /// How many of `table`'s rows are under `prefix`.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn get(&self, store: &dyn ReadModelStore, table: &str, prefix: &str) -> Result<usize, ProjectionError> {
        let count = store.get(self.name, &Self::key(table, prefix)).await?.and_then(|v| v.as_u64()).unwrap_or(0);
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::MemoryReadModels;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Note {
        text: String,
    }

    const NOTES: Table<Note> = Table::new("notes");

    #[tokio::test]
    async fn rows_go_in_and_come_out_typed() {
        let store = MemoryReadModels::default();
        let mut tx = Transaction::new(&store);
        NOTES.put(&mut tx, "t/1".into(), &Note { text: "hello".into() }).unwrap();
        assert_eq!(NOTES.read(&tx, "t/1").await.unwrap(), Some(Note { text: "hello".into() }));
        let changes = tx.into_changes();
        store.commit("notes.v1", changes, 0, 1).await.unwrap();
        assert_eq!(NOTES.get(&store, "t/1").await.unwrap(), Some(Note { text: "hello".into() }));
        assert_eq!(NOTES.scan(&store, "t/", None, 10).await.unwrap().len(), 1);
        assert_eq!(NOTES.count(&store, "t/").await.unwrap(), 1);
    }

    #[tokio::test]
    async fn counted_rows_are_counted_once_and_uncounted_once() {
        const COUNTS: Counts = Counts::new("notes_counts");
        let store = MemoryReadModels::default();
        let mut tx = Transaction::new(&store);
        let note = Note { text: "hello".into() };
        for key in ["t/1", "t/2", "t/2", "u/1"] {
            NOTES.put_counted(&mut tx, COUNTS, key.into(), &note, &[&key[..2], ""]).await.unwrap();
        }
        store.commit("notes.v1", tx.into_changes(), 0, 1).await.unwrap();
        assert_eq!(COUNTS.get(&store, NOTES.name(), "t/").await.unwrap(), 2);
        assert_eq!(COUNTS.get(&store, NOTES.name(), "").await.unwrap(), 3);
        let mut tx = Transaction::new(&store);
        for key in ["t/1", "t/1", "t/9"] {
            NOTES.delete_counted(&mut tx, COUNTS, key.into(), &[&key[..2], ""]).await.unwrap();
        }
        store.commit("notes.v1", tx.into_changes(), 1, 2).await.unwrap();
        assert_eq!(COUNTS.get(&store, NOTES.name(), "t/").await.unwrap(), 1);
        assert_eq!(COUNTS.get(&store, NOTES.name(), "").await.unwrap(), 2);
        assert_eq!(COUNTS.get(&store, NOTES.name(), "x/").await.unwrap(), 0);
        assert_eq!(NOTES.count(&store, "").await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_row_of_another_shape_is_an_error_naming_table_and_key() {
        let store = MemoryReadModels::default();
        let mut tx = Transaction::new(&store);
        tx.put("notes", "t/1".into(), serde_json::json!({ "other": 1 }));
        store.commit("notes.v1", tx.into_changes(), 0, 1).await.unwrap();
        let error = NOTES.get(&store, "t/1").await.unwrap_err();
        assert!(matches!(error, ProjectionError::Row { table: "notes", ref key, .. } if key == "t/1"), "{error}");
    }
}
