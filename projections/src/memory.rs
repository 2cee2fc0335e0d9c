//! The in-memory read-model store, the embedded default. It holds nothing
//! across restarts: the runners rebuild it from the event log at start.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use async_trait::async_trait;
use serde_json::Value;

use crate::model::{check_key, past};
use crate::{Change, Claim, ProjectionError, ReadModelStore, Row};

#[derive(Default)]
struct Tables {
    rows: HashMap<String, BTreeMap<String, Value>>,
    checkpoints: HashMap<String, u64>,
}

/// Read models in memory.
#[derive(Default)]
pub struct MemoryReadModels {
    tables: RwLock<Tables>,
}

impl MemoryReadModels {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl ReadModelStore for MemoryReadModels {
    async fn get(&self, table: &str, key: &str) -> Result<Option<Value>, ProjectionError> {
        check_key(key)?;
        Ok(self.read().rows.get(table).and_then(|t| t.get(key)).cloned())
    }

    async fn scan(
        &self,
        table: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Row>, ProjectionError> {
        check_key(prefix)?;
        after.map(check_key).transpose()?;
        let tables = self.read();
        let Some(rows) = tables.rows.get(table) else { return Ok(Vec::new()) };
        let start = match after {
            Some(after) if after >= prefix => std::ops::Bound::Excluded(after.to_owned()),
            _ => std::ops::Bound::Included(prefix.to_owned()),
        };
        Ok(rows
            .range((start, std::ops::Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn scan_back(
        &self,
        table: &str,
        prefix: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Row>, ProjectionError> {
        check_key(prefix)?;
        before.map(check_key).transpose()?;
        let tables = self.read();
        let Some(rows) = tables.rows.get(table) else { return Ok(Vec::new()) };
        // Every key under `prefix` sorts below `prefix` + the last character.
        let past = past(prefix);
        let end = before.filter(|b| *b < past.as_str()).map_or(past.clone(), str::to_owned);
        if end.as_str() <= prefix {
            return Ok(Vec::new());
        }
        Ok(rows
            .range((std::ops::Bound::Included(prefix.to_owned()), std::ops::Bound::Excluded(end)))
            .rev()
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn count(&self, table: &str, prefix: &str) -> Result<usize, ProjectionError> {
        check_key(prefix)?;
        let tables = self.read();
        Ok(tables
            .rows
            .get(table)
            .map_or(0, |rows| rows.range(prefix.to_owned()..).take_while(|(k, _)| k.starts_with(prefix)).count()))
    }

    async fn commit(&self, projector: &str, changes: Vec<Change>, from: u64, to: u64) -> Result<(), ProjectionError> {
        changes.iter().try_for_each(|c| check_key(c.key()))?;
        let mut tables = self.tables.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let actual = tables.checkpoints.get(projector).copied().unwrap_or(0);
        if actual != from {
            return Err(ProjectionError::CheckpointMoved { projector: projector.to_owned(), expected: from, actual });
        }
        for change in changes {
            match change {
                Change::Put { table, key, value } => {
                    tables.rows.entry(table.to_owned()).or_default().insert(key, value);
                }
                Change::Delete { table, key } => {
                    if let Some(rows) = tables.rows.get_mut(table) {
                        rows.remove(&key);
                    }
                }
            }
        }
        tables.checkpoints.insert(projector.to_owned(), to);
        Ok(())
    }

    async fn empty_unstarted(&self, projector: &str, tables: &[&str]) -> Result<bool, ProjectionError> {
        let mut store = self.tables.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if store.checkpoints.get(projector).copied().unwrap_or(0) > 0 {
            return Ok(false);
        }
        let mut emptied = false;
        for table in tables {
            emptied |= store.rows.remove(*table).is_some_and(|rows| !rows.is_empty());
        }
        Ok(emptied)
    }

    /// One process holds memory: the claim is always granted.
    async fn try_claim(&self, _projector: &str) -> Result<Option<Claim>, ProjectionError> {
        Ok(Some(Box::new(())))
    }

    async fn checkpoint(&self, projector: &str) -> Result<u64, ProjectionError> {
        Ok(self.read().checkpoints.get(projector).copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::read_model_conformance_suite!(async { Some((MemoryReadModels::default(), ())) });
}
