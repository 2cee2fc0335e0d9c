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
    async fn a_row_of_another_shape_is_an_error_naming_table_and_key() {
        let store = MemoryReadModels::default();
        let mut tx = Transaction::new(&store);
        tx.put("notes", "t/1".into(), serde_json::json!({ "other": 1 }));
        store.commit("notes.v1", tx.into_changes(), 0, 1).await.unwrap();
        let error = NOTES.get(&store, "t/1").await.unwrap_err();
        assert!(matches!(error, ProjectionError::Row { table: "notes", ref key, .. } if key == "t/1"), "{error}");
    }
}
