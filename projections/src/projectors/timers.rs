//! The timers not yet fired or cancelled, for the scheduler to start from
//! instead of the log's start.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::Aggregate;
use domain::timer::{Timer, TimerEvent};
use serde::{Deserialize, Serialize};
use store::RecordedEvent;
use uuid::Uuid;

use super::unreadable;
use crate::{ProjectionError, Projector, ReadModelStore, Table, Transaction};

/// A timer waiting for its time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingTimerRow {
    pub timer_id: Uuid,
    pub due: DateTime<Utc>,
    pub kind: String,
    pub payload: String,
    pub tenant: Option<Uuid>,
}

/// [`pending_key`] → a timer waiting for its time.
pub const TIMERS_PENDING: Table<PendingTimerRow> = Table::new("timers_pending");

/// The company's timers first (a terminated company's leave with it), then
/// the timer; `-` for the timers of no company.
pub fn pending_key(tenant: Option<Uuid>, timer: Uuid) -> String {
    format!("{}/{timer}", tenant.map_or_else(|| "-".to_owned(), |t| t.to_string()))
}

/// Every timer waiting for its time, as of the projector's checkpoint.
///
/// # Errors
/// When the store fails or a row is not a [`PendingTimerRow`].
pub async fn pending(store: &dyn ReadModelStore) -> Result<Vec<PendingTimerRow>, ProjectionError> {
    TIMERS_PENDING.all(store, "").await
}

pub struct TimersProjector;

#[async_trait]
impl Projector for TimersProjector {
    fn name(&self) -> &'static str {
        "timers.v1"
    }

    fn tables(&self) -> &'static [&'static str] {
        const TABLES: &[&str] = &[TIMERS_PENDING.name()];
        TABLES
    }

    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError> {
        if event.category() != Timer::CATEGORY {
            return Ok(());
        }
        let tenant = event.metadata.tenant;
        match event.decode::<TimerEvent>().map_err(|e| unreadable(event, e))? {
            TimerEvent::Scheduled { timer_id, due, kind, payload } => {
                let row = PendingTimerRow { timer_id, due, kind, payload, tenant };
                TIMERS_PENDING.put(tx, pending_key(tenant, timer_id), &row)?;
            }
            TimerEvent::Fired { timer_id, .. } | TimerEvent::Cancelled { timer_id, .. } => {
                TIMERS_PENDING.delete(tx, pending_key(tenant, timer_id));
            }
        }
        Ok(())
    }
}
