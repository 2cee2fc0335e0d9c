//! The leave adjustment CSV (rule H5): its template, and the check of an
//! uploaded file, every row before any is applied.

use std::collections::BTreeMap;

use domain::DomainError;
use domain::hr::leave::{keeps_reserved, quarters};
use projections::projectors::hr as read;
use uuid::Uuid;

use super::ledgers;
use crate::backend::Backend;
use crate::errors::ApiResult;

/// The header of the leave adjustment CSV.
const LEAVE_CSV_HEADER: [&str; 3] = ["employee_no", "balance_days", "reason"];

/// The rows of a leave CSV, each checked, as (employee, new balance,
/// reason); or every bad row with its line number. A new balance below what
/// requests in progress have reserved is a bad row unless the company
/// allows negative balances.
pub(super) async fn parse_csv(
    backend: &Backend,
    tenant: Uuid,
    csv: &str,
    negative_allowed: bool,
) -> ApiResult<Vec<(Uuid, i64, String)>> {
    let cards = read::cards(backend.read_models(), tenant).await?;
    let by_number: BTreeMap<String, Option<Uuid>> = cards.into_iter().map(|c| (c.employee_no, c.user_id)).collect();
    let ledgers = ledgers(backend, tenant).await?;
    let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(csv.as_bytes());
    let header =
        reader.headers().map_err(|e| DomainError::invalid("csv", format!("line 1: {e}")).by_rule("H5"))?.clone();
    if header.iter().collect::<Vec<_>>() != LEAVE_CSV_HEADER {
        return Err(DomainError::invalid("csv", format!("line 1: the header is {}", LEAVE_CSV_HEADER.join(",")))
            .by_rule("H5")
            .into());
    }
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let (number, balance, reason) = (&record[0], &record[1], &record[2]);
        let employee = match by_number.get(number) {
            None => Err(format!("no employee number {number}")),
            Some(None) => Err(format!("{number} has no mail account, so no leave")),
            Some(Some(user)) if !ledgers.contains_key(user) => {
                Err(format!("{number} has no leave ledger (no hire date)"))
            }
            Some(Some(user)) => Ok(*user),
        };
        let held = employee.as_ref().ok().and_then(|e| ledgers.get(e).copied());
        let balance = balance
            .parse::<f64>()
            .map_err(|_| format!("`{balance}` is not a number of days"))
            .and_then(|days| quarters("balance_days", days).map_err(|e| e.to_string()))
            .and_then(|after| match held {
                Some(held) => keeps_reserved(held.balance, after, held.reserved, negative_allowed)
                    .map(|()| after)
                    .map_err(|e| e.to_string()),
                None => Ok(after),
            });
        let reason = if reason.is_empty() { Err("a reason is required".to_owned()) } else { Ok(reason.to_owned()) };
        match (employee, balance, reason) {
            (Ok(employee), Ok(balance), Ok(reason)) => rows.push((employee, balance, reason)),
            (employee, balance, reason) => {
                let why: Vec<String> = [employee.err(), balance.err(), reason.err()].into_iter().flatten().collect();
                problems.push(format!("line {line}: {}", why.join("; ")));
            }
        }
    }
    if !problems.is_empty() {
        return Err(DomainError::invalid("csv", format!("nothing was applied. {}", problems.join(". ")))
            .by_rule("H5")
            .into());
    }
    if rows.is_empty() {
        return Err(DomainError::invalid("csv", "the file has no rows").by_rule("H5").into());
    }
    Ok(rows)
}

/// The template the CSV upload expects.
pub fn leave_csv_template() -> String {
    format!("{}\nE-0001,15,carried over from last year\n", LEAVE_CSV_HEADER.join(","))
}
