//! The tenants read model: each company and its domain.

use std::collections::BTreeSet;

use async_trait::async_trait;
use domain::tenant::TenantEvent;
use domain::values::DomainName;
use serde_json::json;
use store::RecordedEvent;

use super::{tenant_event, unreadable};
use crate::{ProjectionError, Projector, Transaction};

/// `tenant id` → the company.
pub const TENANTS: &str = "tenants";
/// `domain` → `{ "tenantId": .., "primary": .. }`, for primary and
/// additional domains (rule T3).
pub const TENANT_DOMAINS: &str = "tenant_domains";

pub struct TenantsProjector;

#[async_trait]
impl Projector for TenantsProjector {
    fn name(&self) -> &'static str {
        "tenants.v2"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[TENANTS, TENANT_DOMAINS]
    }

    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError> {
        let Some((tenant, tenant_event)) = tenant_event(event)? else { return Ok(()) };
        match &tenant_event {
            TenantEvent::SignedUp {
                domain, company_name, member_type, billing_cycle, time_zone, signed_up_at, ..
            } => {
                tx.put(
                    TENANTS,
                    tenant.to_string(),
                    json!({
                        "id": tenant,
                        "domain": domain,
                        "additionalDomains": [],
                        "companyName": company_name,
                        "memberType": member_type,
                        "billingCycleMonths": billing_cycle.months(),
                        "timeZone": time_zone,
                        "signedUpAt": signed_up_at,
                    }),
                );
                tx.put(TENANT_DOMAINS, domain.to_string(), json!({ "tenantId": tenant, "primary": true }));
            }
            TenantEvent::DomainAdded { domain } | TenantEvent::DomainRemoved { domain } => {
                let added = matches!(tenant_event, TenantEvent::DomainAdded { .. });
                let key = tenant.to_string();
                let mut row =
                    tx.get(TENANTS, &key).await?.ok_or_else(|| unreadable(event, format!("no tenant {tenant}")))?;
                let mut domains: BTreeSet<DomainName> =
                    serde_json::from_value(row["additionalDomains"].clone()).map_err(|e| unreadable(event, e))?;
                // Each company changes only its own mapping: another
                // company's primary domain is never taken over or dropped
                // (histories from before the domain registry can hold both).
                let mapped = tx.get(TENANT_DOMAINS, domain.as_str()).await?;
                let mapped_to = mapped.as_ref().map(|row| row["tenantId"].clone());
                let others = mapped_to.is_some_and(|t| t != json!(tenant));
                if added {
                    domains.insert(domain.clone());
                    if !others {
                        tx.put(TENANT_DOMAINS, domain.to_string(), json!({ "tenantId": tenant, "primary": false }));
                    }
                } else {
                    domains.remove(domain);
                    if !others {
                        tx.delete(TENANT_DOMAINS, domain.to_string());
                    }
                }
                row["additionalDomains"] = json!(domains);
                tx.put(TENANTS, key, row);
            }
            _ => {}
        }
        Ok(())
    }
}
