//! HR read models (rules H2–H6): HR cards with their status history, leave
//! balances, and every change of a balance with who, when, why, before and
//! after. Sealed resident numbers stay in the log; the cards only say
//! whether one is on file.

use async_trait::async_trait;
use domain::Aggregate;
use domain::hr::{LeaveEvent, LeaveLedger, Personnel, PersonnelEvent};
use serde_json::{Value, json};
use store::RecordedEvent;
use uuid::Uuid;

use super::unreadable;
use crate::{ProjectionError, Projector, Transaction};

/// `tenant/employee id` → the card.
pub const HR_CARDS: &str = "hr_cards";
/// `tenant/employee id` → `{ employeeId, hireDate, balance, reserved, nextDue,
/// ledger }` (balance and the days reserved by leave requests in progress
/// in quarter days; `ledger` is the domain state).
pub const LEAVE_LEDGERS: &str = "leave_ledgers";
/// `tenant/employee id/<stream version>` → one change of a balance.
pub const LEAVE_ENTRIES: &str = "leave_entries";

pub struct HrProjector;

fn card_row(id: Uuid, card: &domain::hr::Card) -> Value {
    let d = &card.details;
    json!({
        "id": id,
        "employeeNo": d.employee_no,
        "name": d.name,
        "userId": d.user,
        "departmentId": d.department,
        "positionId": d.position,
        "hireDate": d.hire_date,
        "birthDate": d.birth_date,
        "photoSha256": d.photo,
        "duties": d.duties,
        "hasResidentNumber": d.sealed_resident_number.is_some(),
        "status": card.status,
        "history": card.history,
    })
}

/// One change of a balance, for the ledger's history.
fn entry(event: &LeaveEvent, at: chrono::DateTime<chrono::Utc>) -> Option<Value> {
    Some(match event {
        // Reservations hold days without changing the balance.
        LeaveEvent::Opened { .. } | LeaveEvent::Reserved { .. } | LeaveEvent::Released { .. } => return None,
        LeaveEvent::Granted { accrual, after } => json!({
            "kind": "GRANTED", "quarters": accrual.quarters, "before": after - accrual.quarters, "after": after,
            "reason": format!("{:?} grant {}", accrual.kind, accrual.grant_id), "on": accrual.granted_on, "at": at,
        }),
        LeaveEvent::Lapsed { grant_id, quarters, on, after } => json!({
            "kind": "LAPSED", "quarters": -quarters, "before": after + quarters, "after": after,
            "reason": format!("grant {grant_id} lapsed"), "on": on, "at": at,
        }),
        LeaveEvent::Adjusted { source, before, after, reason, by, at: when, .. } => json!({
            "kind": "ADJUSTED", "source": source, "quarters": after - before, "before": before, "after": after,
            "reason": reason, "by": by, "at": when,
        }),
        LeaveEvent::Taken { document, quarters, before, after } => json!({
            "kind": "TAKEN", "quarters": -quarters, "before": before, "after": after, "documentId": document, "at": at,
        }),
        LeaveEvent::Restored { document, quarters, before, after } => json!({
            "kind": "RESTORED", "quarters": quarters, "before": before, "after": after, "documentId": document, "at": at,
        }),
    })
}

#[async_trait]
impl Projector for HrProjector {
    fn name(&self) -> &'static str {
        "hr.v1"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[HR_CARDS, LEAVE_LEDGERS, LEAVE_ENTRIES]
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
            let key = format!("{tenant}/{employee_id}");
            // The card as the domain evolves it, from the row's last state.
            let mut personnel = Personnel::default();
            if let Some(row) = tx.get(HR_CARDS, &key).await? {
                let card = serde_json::from_value(row["card"].clone()).map_err(|e| unreadable(event, e))?;
                personnel.cards.insert(*employee_id, card);
            }
            let personnel = personnel.evolve(&decoded);
            let card = personnel.card(*employee_id).map_err(|e| unreadable(event, e))?;
            let mut row = card_row(*employee_id, card);
            row["card"] = json!(card);
            tx.put(HR_CARDS, key, row);
            return Ok(());
        }
        let employee = event.stream_id().ok_or_else(|| unreadable(event, "a ledger stream without an id"))?;
        let decoded = event.decode::<LeaveEvent>().map_err(|e| unreadable(event, e))?;
        let key = format!("{tenant}/{employee}");
        let before: LeaveLedger = match tx.get(LEAVE_LEDGERS, &key).await? {
            Some(row) => serde_json::from_value(row["ledger"].clone()).map_err(|e| unreadable(event, e))?,
            None => LeaveLedger::default(),
        };
        let ledger = before.evolve(&decoded);
        if let Some(entry) = entry(&decoded, event.recorded_at) {
            tx.put(LEAVE_ENTRIES, format!("{key}/{:010}", event.version), entry);
        }
        tx.put(
            LEAVE_LEDGERS,
            key,
            json!({ "employeeId": employee, "hireDate": ledger.hire_date, "balance": ledger.balance(),
                    "reserved": ledger.reserved_total(), "nextDue": ledger.next_due(), "ledger": ledger }),
        );
        Ok(())
    }
}
