//! What HR reads: cards, leave balances and their history.

use async_graphql::{Context, Object, Result};
use projections::projectors::hr::{self as read, LEAVE_ENTRIES};
use uuid::Uuid;

use super::types::{HrCard, LeaveBalance, LeaveEntry};
use super::{balance, card, may_read, no_ledger, require_hr};
use crate::errors::ApiError;
use crate::schema::pagination::{Page, PageRequest, counted_page};
use crate::schema::{backend, caller};

#[derive(Default)]
pub struct HrQuery;

#[Object]
impl HrQuery {
    /// Every HR card, by employee number (HR managers only; rule H1).
    async fn hr_cards(&self, ctx: &Context<'_>) -> Result<Vec<HrCard>> {
        let caller = caller(ctx).await?;
        require_hr(&caller)?;
        let rows = read::cards(backend(ctx).read_models(), caller.tenant).await.map_err(ApiError::from)?;
        let mut cards: Vec<HrCard> = rows.into_iter().map(HrCard::from).collect();
        cards.sort_by(|a, b| a.employee_no.cmp(&b.employee_no));
        Ok(cards)
    }

    /// One card: one's own, or any as an HR manager.
    async fn hr_card(&self, ctx: &Context<'_>, id: Uuid) -> Result<HrCard> {
        let caller = caller(ctx).await?;
        may_read(&caller, id)?;
        Ok(card(backend(ctx), caller.tenant, id).await?.ok_or_else(|| ApiError::not_found(format!("HR card {id}")))?)
    }

    /// A leave balance: one's own by default (rule H4).
    async fn leave_balance(&self, ctx: &Context<'_>, employee_id: Option<Uuid>) -> Result<LeaveBalance> {
        let caller = caller(ctx).await?;
        let employee = employee_id.unwrap_or(caller.user.id);
        may_read(&caller, employee)?;
        Ok(balance(backend(ctx), caller.tenant, employee).await?)
    }

    /// Every change of a balance, oldest first (rule H5).
    async fn leave_history(
        &self,
        ctx: &Context<'_>,
        employee_id: Option<Uuid>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Page<LeaveEntry>> {
        let caller = caller(ctx).await?;
        let employee = employee_id.unwrap_or(caller.user.id);
        may_read(&caller, employee)?;
        let backend = backend(ctx);
        // Someone else without a ledger here (another company's user, say)
        // reads as missing, as their balance does.
        if employee != caller.user.id {
            let ledger = read::ledger(backend.read_models(), caller.tenant, employee).await.map_err(ApiError::from)?;
            ledger.ok_or_else(|| no_ledger(employee))?;
        }
        let prefix = read::entries_prefix(caller.tenant, employee);
        let request = PageRequest::new(first, after, last, before);
        let total = read::entry_count(backend.read_models(), caller.tenant, employee).await?;
        Ok(counted_page(backend, LEAVE_ENTRIES, &prefix, &request, total, |row| Ok(LeaveEntry::from(row))).await?)
    }
}
