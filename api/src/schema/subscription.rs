//! Subscriptions over WebSocket (graphql-transport-ws).

use async_graphql::{Context, Result, Subscription};
use domain::Aggregate;
use domain::mail::{Mailbox, MailboxEvent};
use futures::Stream;
use projections::projectors::{audit, mailboxes};

use super::mail::types::MailSummary;
use super::types::AuditEntry;
use super::{authenticate, backend, caller, request};

pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// New events of the caller's company as they are recorded (admins and
    /// auditors).
    async fn audit_trail_appended(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = AuditEntry>> {
        let caller = caller(ctx).await?;
        caller.require_auditing()?;
        let backend = backend(ctx).clone();
        let tenant = caller.tenant;
        let token = request(ctx).and_then(|r| r.token.clone()).unwrap_or_default();
        // Entries are announced once the audit trail holds them.
        let from = *backend.store.head().borrow();
        let mut subscription = backend.store.clone().subscribe_all(from);
        Ok(async_stream::stream! {
            while let Some(Ok(batch)) = subscription.next_batch().await {
                // The caller is checked again for every batch: an expired
                // token, a deleted user or a revoked role ends the stream.
                let still_allowed = authenticate(&backend, &token).await.is_ok_and(|c| c.require_auditing().is_ok());
                if !still_allowed {
                    break;
                }
                for event in batch.into_iter().filter(|e| e.metadata.tenant == Some(tenant)) {
                    backend.projections.wait_for(event.position, std::time::Duration::from_secs(10)).await;
                    if let Ok(Some(row)) = audit::audit_entry(backend.read_models(), tenant, event.position).await {
                        yield AuditEntry::new(tenant, row);
                    }
                }
            }
        })
    }

    /// The caller's new mail as it arrives in their inbox (rule E8).
    async fn mail_received(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = MailSummary>> {
        let caller = caller(ctx).await?;
        let backend = backend(ctx).clone();
        let token = request(ctx).and_then(|r| r.token.clone()).unwrap_or_default();
        let from = *backend.store.head().borrow();
        let mut subscription = backend.store.clone().subscribe_all(from);
        Ok(async_stream::stream! {
            while let Some(Ok(batch)) = subscription.next_batch().await {
                // A token that expired or a user deleted meanwhile ends it.
                if authenticate(&backend, &token).await.is_err() {
                    break;
                }
                for event in batch.iter().filter(|e| e.metadata.tenant == Some(caller.tenant) && e.category() == Mailbox::CATEGORY) {
                    let (Some(owner), Ok(decoded)) = (event.stream_id(), event.decode::<MailboxEvent>()) else { continue };
                    for delivery in decoded.inbox_deliveries(owner).into_iter().filter(|d| d.user == caller.user.id) {
                        backend.projections.wait_for(event.position, std::time::Duration::from_secs(10)).await;
                        let entry = mailboxes::entry(backend.read_models(), caller.tenant, caller.user.id, delivery.mail_id).await;
                        if let Ok(Some(entry)) = entry {
                            yield MailSummary::new(caller.tenant, entry);
                        }
                    }
                }
            }
        })
    }
}
