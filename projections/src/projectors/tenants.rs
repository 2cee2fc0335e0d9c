//! The tenants read model: each company and its domains.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::tenant::TenantEvent;
use domain::values::{DomainName, MemberType, Name, TimeZone};
use serde::{Deserialize, Serialize};
use store::RecordedEvent;
use uuid::Uuid;

use super::{tenant_event, unreadable};
use crate::{ProjectionError, Projector, ReadModelStore, Table, Transaction};

/// A company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantRow {
    pub id: Uuid,
    /// The primary domain.
    pub domain: DomainName,
    /// The domains added beside the primary one (rule T3).
    pub additional_domains: BTreeSet<DomainName>,
    pub company_name: Name,
    pub member_type: MemberType,
    pub billing_cycle_months: u8,
    pub time_zone: TimeZone,
    pub signed_up_at: DateTime<Utc>,
}

/// The company a domain belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantDomainRow {
    pub tenant_id: Uuid,
    /// Whether it is the company's primary domain.
    pub primary: bool,
}

/// [`tenant_key`] → the company.
pub const TENANTS: Table<TenantRow> = Table::new("tenants");
/// [`domain_key`] → the company holding it, for primary and additional
/// domains (rule T3).
pub const TENANT_DOMAINS: Table<TenantDomainRow> = Table::new("tenant_domains");

pub fn tenant_key(tenant: Uuid) -> String {
    tenant.to_string()
}

pub fn domain_key(domain: &DomainName) -> String {
    domain.to_string()
}

/// A company.
///
/// # Errors
/// When the store fails or the row is not a [`TenantRow`].
pub async fn tenant(store: &dyn ReadModelStore, tenant: Uuid) -> Result<Option<TenantRow>, ProjectionError> {
    TENANTS.get(store, &tenant_key(tenant)).await
}

/// The company holding `domain`, if one does.
///
/// # Errors
/// When the store fails or the row is not a [`TenantDomainRow`].
pub async fn domain_holder(
    store: &dyn ReadModelStore,
    domain: &DomainName,
) -> Result<Option<TenantDomainRow>, ProjectionError> {
    TENANT_DOMAINS.get(store, &domain_key(domain)).await
}

pub struct TenantsProjector;

#[async_trait]
impl Projector for TenantsProjector {
    fn name(&self) -> &'static str {
        "tenants.v2"
    }

    fn tables(&self) -> &'static [&'static str] {
        const TABLES: &[&str] = &[TENANTS.name(), TENANT_DOMAINS.name()];
        TABLES
    }

    async fn apply(&self, event: &RecordedEvent, tx: &mut Transaction<'_>) -> Result<(), ProjectionError> {
        let Some((tenant, tenant_event)) = tenant_event(event)? else { return Ok(()) };
        match &tenant_event {
            TenantEvent::SignedUp {
                domain, company_name, member_type, billing_cycle, time_zone, signed_up_at, ..
            } => {
                let row = TenantRow {
                    id: tenant,
                    domain: domain.clone(),
                    additional_domains: BTreeSet::new(),
                    company_name: company_name.clone(),
                    member_type: *member_type,
                    billing_cycle_months: billing_cycle.months(),
                    time_zone: time_zone.clone(),
                    signed_up_at: *signed_up_at,
                };
                TENANTS.put(tx, tenant_key(tenant), &row)?;
                TENANT_DOMAINS.put(tx, domain_key(domain), &TenantDomainRow { tenant_id: tenant, primary: true })?;
            }
            TenantEvent::DomainAdded { domain } | TenantEvent::DomainRemoved { domain } => {
                let added = matches!(tenant_event, TenantEvent::DomainAdded { .. });
                let key = tenant_key(tenant);
                let mut row =
                    TENANTS.read(tx, &key).await?.ok_or_else(|| unreadable(event, format!("no tenant {tenant}")))?;
                // Each company changes only its own mapping: another
                // company's primary domain is never taken over or dropped
                // (histories from before the domain registry can hold both).
                let mapped = TENANT_DOMAINS.read(tx, &domain_key(domain)).await?;
                let others = mapped.is_some_and(|m| m.tenant_id != tenant);
                if added {
                    row.additional_domains.insert(domain.clone());
                    if !others {
                        let holder = TenantDomainRow { tenant_id: tenant, primary: false };
                        TENANT_DOMAINS.put(tx, domain_key(domain), &holder)?;
                    }
                } else {
                    row.additional_domains.remove(domain);
                    if !others {
                        TENANT_DOMAINS.delete(tx, domain_key(domain));
                    }
                }
                TENANTS.put(tx, key, &row)?;
            }
            // Rule B3: the company's domains are free again (its other rows
            // go with every projector's, by the runner).
            TenantEvent::Terminated { domains } => {
                for domain in domains {
                    if TENANT_DOMAINS.read(tx, &domain_key(domain)).await?.is_some_and(|m| m.tenant_id == tenant) {
                        TENANT_DOMAINS.delete(tx, domain_key(domain));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}
