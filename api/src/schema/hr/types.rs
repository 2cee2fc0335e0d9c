//! The GraphQL types of HR and leave, built from the read models.

use async_graphql::{Enum, InputObject, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use domain::hr::QUARTERS;
use projections::projectors::hr::{CardRow, EntryRow, LedgerRow};
use uuid::Uuid;

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "EmploymentStatus", remote = "domain::hr::EmploymentStatus")]
pub enum Status {
    Active,
    OnLeave,
    Retired,
}

/// One change of employment status (rule H3).
#[derive(SimpleObject, Debug, Clone)]
pub struct StatusChange {
    pub status: Status,
    pub on: NaiveDate,
    pub reason: String,
    pub at: DateTime<Utc>,
}

impl From<domain::hr::StatusChange> for StatusChange {
    fn from(change: domain::hr::StatusChange) -> Self {
        Self { status: change.status.into(), on: change.on, reason: change.reason, at: change.at }
    }
}

/// An HR card (rule H2).
#[derive(SimpleObject, Debug, Clone)]
pub struct HrCard {
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
    /// Whether a resident number is on file (it is never shown whole).
    pub has_resident_number: bool,
    pub status: Status,
    pub history: Vec<StatusChange>,
}

impl From<CardRow> for HrCard {
    fn from(row: CardRow) -> Self {
        Self {
            id: row.id,
            employee_no: row.employee_no,
            name: row.name,
            user_id: row.user_id,
            department_id: row.department_id,
            position_id: row.position_id,
            hire_date: row.hire_date,
            birth_date: row.birth_date,
            photo_sha256: row.photo_sha256,
            duties: row.duties,
            has_resident_number: row.has_resident_number,
            status: row.status.into(),
            history: row.history.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(InputObject, Debug, Clone)]
pub struct HrCardInput {
    pub employee_no: String,
    pub name: String,
    /// Leave it out for people without a mail account.
    pub user_id: Option<Uuid>,
    pub department_id: Option<Uuid>,
    pub position_id: Option<Uuid>,
    pub hire_date: Option<NaiveDate>,
    pub birth_date: Option<NaiveDate>,
    /// A blob uploaded beforehand.
    pub photo_sha256: Option<String>,
    pub duties: Option<String>,
    /// `YYMMDD-NNNNNNN`; stored sealed. Left out on an update, the one on
    /// file stays.
    pub resident_number: Option<String>,
}

/// A leave balance (rule H4).
#[derive(SimpleObject, Debug, Clone)]
pub struct LeaveBalance {
    pub employee_id: Uuid,
    pub hire_date: Option<NaiveDate>,
    /// In days (a multiple of 0.25).
    pub days: f64,
    pub quarter_days: i64,
    /// What leave requests in progress have reserved, in days (rule H6).
    pub reserved_days: f64,
    pub reserved_quarter_days: i64,
    /// When the next grant or lapse is due.
    pub next_due: Option<NaiveDate>,
}

impl From<&LedgerRow> for LeaveBalance {
    fn from(row: &LedgerRow) -> Self {
        Self {
            employee_id: row.employee_id,
            hire_date: row.hire_date,
            days: row.balance as f64 / QUARTERS as f64,
            quarter_days: row.balance,
            reserved_days: row.reserved as f64 / QUARTERS as f64,
            reserved_quarter_days: row.reserved,
            next_due: row.next_due,
        }
    }
}

/// One change of a balance, with who, when, why, before and after (rule H5).
#[derive(SimpleObject, Debug, Clone)]
pub struct LeaveEntry {
    /// GRANTED, LAPSED, ADJUSTED, TAKEN or RESTORED.
    pub kind: String,
    /// For adjustments: Csv, Bulk, Partial or Direct.
    pub source: Option<String>,
    pub quarters: i64,
    pub before: i64,
    pub after: i64,
    pub reason: Option<String>,
    pub by: Option<Uuid>,
    pub document_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

impl From<EntryRow> for LeaveEntry {
    fn from(row: EntryRow) -> Self {
        Self {
            kind: row.kind.name().to_owned(),
            source: row.source.map(|source| format!("{source:?}")),
            quarters: row.quarters,
            before: row.before,
            after: row.after,
            reason: row.reason,
            by: row.by,
            document_id: row.document_id,
            at: row.at,
        }
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdjustMode {
    /// Move the balance by `days`.
    Delta,
    /// Set the balance to `days`.
    Set,
}

#[cfg(test)]
mod tests {
    use domain::hr::AdjustmentSource;

    /// The API names an adjustment's source as the events spell it.
    #[test]
    fn sources_read_as_stored() {
        for source in
            [AdjustmentSource::Csv, AdjustmentSource::Bulk, AdjustmentSource::Partial, AdjustmentSource::Direct]
        {
            assert_eq!(serde_json::json!(format!("{source:?}")), serde_json::to_value(source).unwrap());
        }
    }
}
