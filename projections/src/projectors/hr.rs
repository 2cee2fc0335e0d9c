//! HR read models (rules H2–H6): HR cards with their status history, leave
//! balances, and every change of a balance with who, when, why, before and
//! after. Sealed resident numbers stay in the log; the cards only say
//! whether one is on file.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use domain::Aggregate;
use domain::hr::{
    AdjustmentSource, Card, EmploymentStatus, LeaveEvent, LeaveLedger, Personnel, PersonnelEvent, StatusChange,
};
use serde::{Deserialize, Serialize};
use store::RecordedEvent;
use uuid::Uuid;

use super::unreadable;
use crate::{Counts, ProjectionError, Projector, ReadModelStore, Table, Transaction};

/// An HR card (rule H2): what it states, and the card as the domain
/// evolves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardRow {
    pub id: Uuid,
    pub employee_no: String,
    pub name: String,
    /// The mail account, when the person has one.
    pub user_id: Option<Uuid>,
    pub department_id: Option<Uuid>,
    pub position_id: Option<Uuid>,
    pub hire_date: Option<NaiveDate>,
    pub birth_date: Option<NaiveDate>,
    pub photo_sha256: Option<String>,
    pub duties: Option<String>,
    /// Whether a resident number is on file.
    pub has_resident_number: bool,
    pub status: EmploymentStatus,
    /// Rule H3: every change, oldest first.
    pub history: Vec<StatusChange>,
    pub card: Card,
}

impl CardRow {
    fn new(id: Uuid, card: Card) -> Self {
        let d = &card.details;
        Self {
            id,
            employee_no: d.employee_no.clone(),
            name: d.name.clone(),
            user_id: d.user,
            department_id: d.department,
            position_id: d.position,
            hire_date: d.hire_date,
            birth_date: d.birth_date,
            photo_sha256: d.photo.clone(),
            duties: d.duties.clone(),
            has_resident_number: d.sealed_resident_number.is_some(),
            status: card.status,
            history: card.history.clone(),
            card,
        }
    }
}

/// A leave balance (rule H4), in quarter days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerRow {
    pub employee_id: Uuid,
    /// None until the ledger is opened.
    pub hire_date: Option<NaiveDate>,
    pub balance: i64,
    /// What leave requests in progress have reserved (rule H6).
    pub reserved: i64,
    /// When the next grant or lapse is due.
    pub next_due: Option<NaiveDate>,
    pub ledger: LeaveLedger,
}

/// What changed a balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntryKind {
    Granted,
    Lapsed,
    Adjusted,
    Taken,
    Restored,
}

impl EntryKind {
    /// The kind's name, as the row spells it.
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Granted => "GRANTED",
            EntryKind::Lapsed => "LAPSED",
            EntryKind::Adjusted => "ADJUSTED",
            EntryKind::Taken => "TAKEN",
            EntryKind::Restored => "RESTORED",
        }
    }
}

/// One change of a balance, with who, when, why, before and after (rule
/// H5), in quarter days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryRow {
    pub kind: EntryKind,
    /// Where an adjustment came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<AdjustmentSource>,
    pub quarters: i64,
    pub before: i64,
    pub after: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who adjusted the balance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Uuid>,
    /// The leave request that took or gave back the days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<Uuid>,
    /// The day a grant or lapse took effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<NaiveDate>,
    pub at: DateTime<Utc>,
}

/// `tenant/employee id` → the card.
pub const HR_CARDS: Table<CardRow> = Table::new("hr_cards");
/// `tenant/employee id` → the leave balance.
pub const LEAVE_LEDGERS: Table<LedgerRow> = Table::new("leave_ledgers");
/// `tenant/employee id/<stream version>` → one change of a balance.
pub const LEAVE_ENTRIES: Table<EntryRow> = Table::new("leave_entries");

/// How many entries each ledger has, under [`entries_prefix`].
pub const LEAVE_ENTRY_COUNTS: Counts = Counts::new("leave_entry_counts");

const TABLES: &[&str] = &[HR_CARDS.name(), LEAVE_LEDGERS.name(), LEAVE_ENTRIES.name(), LEAVE_ENTRY_COUNTS.name()];

/// The most cards or ledgers one listing reads.
const MAX_ROWS: usize = 100_000;

pub fn card_key(tenant: Uuid, employee: Uuid) -> String {
    format!("{tenant}/{employee}")
}

pub fn ledger_key(tenant: Uuid, employee: Uuid) -> String {
    format!("{tenant}/{employee}")
}

/// The prefix of every change of an employee's balance.
pub fn entries_prefix(tenant: Uuid, employee: Uuid) -> String {
    format!("{}/", ledger_key(tenant, employee))
}

/// How many entries `employee`'s ledger has, without counting them.
///
/// # Errors
/// When the store fails.
pub async fn entry_count(store: &dyn ReadModelStore, tenant: Uuid, employee: Uuid) -> Result<usize, ProjectionError> {
    LEAVE_ENTRY_COUNTS.get(store, LEAVE_ENTRIES.name(), &entries_prefix(tenant, employee)).await
}

/// The prefix of every row of a tenant.
fn tenant_prefix(tenant: Uuid) -> String {
    format!("{tenant}/")
}

/// One card.
///
/// # Errors
/// When the store fails or the row is not a card.
pub async fn card(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    employee: Uuid,
) -> Result<Option<CardRow>, ProjectionError> {
    HR_CARDS.get(store, &card_key(tenant, employee)).await
}

/// Every card of a tenant, in no particular order.
///
/// # Errors
/// When the store fails or a row is not a card.
pub async fn cards(store: &dyn ReadModelStore, tenant: Uuid) -> Result<Vec<CardRow>, ProjectionError> {
    let rows = HR_CARDS.scan(store, &tenant_prefix(tenant), None, MAX_ROWS).await?;
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

/// One leave ledger, opened or not.
///
/// # Errors
/// When the store fails or the row is not a ledger.
pub async fn ledger(
    store: &dyn ReadModelStore,
    tenant: Uuid,
    employee: Uuid,
) -> Result<Option<LedgerRow>, ProjectionError> {
    LEAVE_LEDGERS.get(store, &ledger_key(tenant, employee)).await
}

/// Every leave ledger of a tenant, opened or not, by employee.
///
/// # Errors
/// When the store fails or a row is not a ledger.
pub async fn ledgers(store: &dyn ReadModelStore, tenant: Uuid) -> Result<Vec<LedgerRow>, ProjectionError> {
    let rows = LEAVE_LEDGERS.scan(store, &tenant_prefix(tenant), None, MAX_ROWS).await?;
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

pub struct HrProjector;

/// One change of a balance, for the ledger's history.
pub fn leave_entry(event: &LeaveEvent, at: DateTime<Utc>) -> Option<EntryRow> {
    let row = |kind, quarters, before, after| EntryRow {
        kind,
        source: None,
        quarters,
        before,
        after,
        reason: None,
        by: None,
        document_id: None,
        on: None,
        at,
    };
    Some(match event {
        // Reservations hold days without changing the balance.
        LeaveEvent::Opened { .. } | LeaveEvent::Reserved { .. } | LeaveEvent::Released { .. } => return None,
        LeaveEvent::Granted { accrual, after } => EntryRow {
            reason: Some(format!("{:?} grant {}", accrual.kind, accrual.grant_id)),
            on: Some(accrual.granted_on),
            ..row(EntryKind::Granted, accrual.quarters, after - accrual.quarters, *after)
        },
        LeaveEvent::Lapsed { grant_id, quarters, on, after } => EntryRow {
            reason: Some(format!("grant {grant_id} lapsed")),
            on: Some(*on),
            ..row(EntryKind::Lapsed, -quarters, after + quarters, *after)
        },
        LeaveEvent::Adjusted { source, before, after, reason, by, at: when, .. } => EntryRow {
            source: Some(*source),
            reason: Some(reason.clone()),
            by: Some(*by),
            at: *when,
            ..row(EntryKind::Adjusted, after - before, *before, *after)
        },
        LeaveEvent::Taken { document, quarters, before, after } => {
            EntryRow { document_id: Some(*document), ..row(EntryKind::Taken, -quarters, *before, *after) }
        }
        LeaveEvent::Restored { document, quarters, before, after } => {
            EntryRow { document_id: Some(*document), ..row(EntryKind::Restored, *quarters, *before, *after) }
        }
    })
}

#[async_trait]
impl Projector for HrProjector {
    fn name(&self) -> &'static str {
        "hr.v2"
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError> {
        let category = event.category();
        if category != Personnel::CATEGORY && category != LeaveLedger::CATEGORY {
            return Ok(());
        }
        let tenant = event.metadata.tenant.ok_or_else(|| unreadable(event, "no tenant in metadata"))?;
        if category == Personnel::CATEGORY {
            let decoded = event.decode::<PersonnelEvent>().map_err(|e| unreadable(event, e))?;
            let (PersonnelEvent::CardCreated { employee_id, .. }
            | PersonnelEvent::CardUpdated { employee_id, .. }
            | PersonnelEvent::StatusChanged { employee_id, .. }) = &decoded;
            let key = card_key(tenant, *employee_id);
            // The card as the domain evolves it, from the row's last state.
            let mut personnel = Personnel::default();
            if let Some(row) = HR_CARDS.read(tx, &key).await? {
                personnel.cards.insert(*employee_id, row.card);
            }
            let personnel = personnel.evolve(&decoded);
            let card = personnel.card(*employee_id).map_err(|e| unreadable(event, e))?;
            return HR_CARDS.put(tx, key, &CardRow::new(*employee_id, card.clone()));
        }
        let employee = event.stream_id().ok_or_else(|| unreadable(event, "a ledger stream without an id"))?;
        let decoded = event.decode::<LeaveEvent>().map_err(|e| unreadable(event, e))?;
        let key = ledger_key(tenant, employee);
        let before = LEAVE_LEDGERS.read(tx, &key).await?.map(|row| row.ledger).unwrap_or_default();
        let ledger = before.evolve(&decoded);
        if let Some(entry) = leave_entry(&decoded, event.recorded_at) {
            let prefix = entries_prefix(tenant, employee);
            let entry_key = format!("{prefix}{:010}", event.version);
            LEAVE_ENTRIES.put_counted(tx, LEAVE_ENTRY_COUNTS, entry_key, &entry, &[&prefix]).await?;
        }
        let row = LedgerRow {
            employee_id: employee,
            hire_date: ledger.hire_date,
            balance: ledger.balance(),
            reserved: ledger.reserved_total(),
            next_due: ledger.next_due(),
            ledger,
        };
        LEAVE_LEDGERS.put(tx, key, &row)
    }
}
