//! The tenants read model: each company and its domain.

use async_trait::async_trait;
use domain::tenant::TenantEvent;
use serde_json::json;
use store::RecordedEvent;

use super::tenant_event;
use crate::{ProjectionError, Projector, Transaction};

/// `tenant id` → the company.
pub const TENANTS: &str = "tenants";
/// `domain` → `{ "tenantId": .. }`.
pub const TENANT_DOMAINS: &str = "tenant_domains";

pub struct TenantsProjector;

#[async_trait]
impl Projector for TenantsProjector {
    fn name(&self) -> &'static str {
        "tenants.v1"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[TENANTS, TENANT_DOMAINS]
    }

    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError> {
        let Some((
            tenant,
            TenantEvent::SignedUp { domain, company_name, member_type, billing_cycle, time_zone, signed_up_at, .. },
        )) = tenant_event(event)?
        else {
            return Ok(());
        };
        tx.put(
            TENANTS,
            tenant.to_string(),
            json!({
                "id": tenant,
                "domain": domain,
                "companyName": company_name,
                "memberType": member_type,
                "billingCycleMonths": billing_cycle.months(),
                "timeZone": time_zone,
                "signedUpAt": signed_up_at,
            }),
        );
        tx.put(TENANT_DOMAINS, domain.to_string(), json!({ "tenantId": tenant }));
        Ok(())
    }
}
