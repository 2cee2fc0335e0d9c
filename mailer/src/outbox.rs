//! The outbox: every external recipient of a sent or forwarded mail is
//! delivered through the relay, with retries, and the outcome is recorded
//! on the sender's mailbox as an event (rule E4: sent / failed, with the
//! relay's answer).
//!
//! At start the outbox takes the copies a read model knows to be waiting
//! at a position, reads the log from there to the head to learn which of
//! those and later ones have no outcome yet, and only then begins to
//! deliver, so nothing reported before a restart is sent twice. Without a
//! relay the copies stay queued, which the sender's tracking shows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use blobs::Blobs;
use chrono::{DateTime, Utc};
use commands::{CommandContext, CommandError, Commands};
use domain::mail::message::Content;
use domain::mail::{DeliveryReport, MailAddress, Mailbox, MailboxAction, MailboxCommand, MailboxEvent, OutgoingMail};
use domain::tenant::{Tenant, TenantEvent};
use domain::{Actor, Aggregate};
use store::{RecordedEvent, StoreError};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{Relay, RelayError, render};

/// How often a delivery is tried before it is reported failed.
const ATTEMPTS: u32 = 5;
/// The wait before the first retry; it doubles with each further one.
const FIRST_RETRY: Duration = Duration::from_secs(2);

/// A copy a read model knows to be waiting for its delivery to be
/// reported: the event at `position` asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingCopy {
    pub position: u64,
    pub mail_id: Uuid,
    pub address: String,
}

/// One external copy to deliver.
#[derive(Clone)]
struct Delivery {
    sender: Uuid,
    tenant: Option<Uuid>,
    mail: Arc<OutgoingMail>,
    sent_at: DateTime<Utc>,
    address: MailAddress,
    /// The position of the event that asked for it.
    position: u64,
}

/// How far the outbox has handled the log: every copy asked for up to
/// `followed` is queued, and those under way hold it back until their
/// outcome is recorded.
struct Handled {
    followed: u64,
    /// Copies under way, by the position that asked for them.
    under_way: BTreeMap<u64, usize>,
    watch: watch::Sender<u64>,
}

impl Handled {
    fn publish(&self) {
        let oldest = self.under_way.keys().next().map_or(u64::MAX, |p| p - 1);
        self.watch.send_replace(self.followed.min(oldest));
    }

    fn start(&mut self, position: u64) {
        *self.under_way.entry(position).or_default() += 1;
    }

    fn finish(&mut self, position: u64) {
        if let Some(count) = self.under_way.get_mut(&position) {
            *count -= 1;
            if *count == 0 {
                self.under_way.remove(&position);
            }
        }
        self.publish();
    }
}

fn lock(handled: &Mutex<Handled>) -> std::sync::MutexGuard<'_, Handled> {
    handled.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The running outbox; dropping it stops it.
pub struct Outbox {
    tasks: Vec<JoinHandle<()>>,
    handled: watch::Receiver<u64>,
}

impl Drop for Outbox {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Adds to `pending` the external copies `event` sends and removes those it
/// reports on, and those of a sender deleted or a company terminated since
/// (their reports may be unreadable now: rules U1, B3); returns the added
/// ones.
fn track(event: &RecordedEvent, pending: &mut BTreeMap<(Uuid, MailAddress), Delivery>) -> Vec<Delivery> {
    if event.category() == Tenant::CATEGORY {
        match event.decode::<TenantEvent>() {
            Ok(TenantEvent::UserDeleted { user_id }) => pending.retain(|_, d| d.sender != user_id),
            Ok(TenantEvent::Terminated { .. }) => pending.retain(|_, d| d.tenant != event.metadata.tenant),
            _ => {}
        }
        return vec![];
    }
    if event.category() != Mailbox::CATEGORY {
        return vec![];
    }
    let (Some(sender), Ok(decoded)) = (event.stream_id(), event.decode::<MailboxEvent>()) else { return vec![] };
    match decoded {
        MailboxEvent::MailSent { mail, sent_at, .. } | MailboxEvent::MailForwarded { mail, sent_at, .. } => {
            let mail = Arc::new(mail);
            let added: Vec<Delivery> = mail
                .external()
                .map(|r| Delivery {
                    sender,
                    tenant: event.metadata.tenant,
                    mail: mail.clone(),
                    sent_at,
                    address: r.address.clone(),
                    position: event.position,
                })
                .collect();
            // A copy already waiting is not asked for again.
            added
                .into_iter()
                .filter(|d| pending.insert((mail.mail_id, d.address.clone()), d.clone()).is_none())
                .collect()
        }
        MailboxEvent::DeliveryReported { mail_id, address, .. } => {
            pending.remove(&(mail_id, address));
            vec![]
        }
        _ => vec![],
    }
}

impl Outbox {
    /// The position up to which the outbox has handled the log: every
    /// external copy asked for up to it is delivered and its outcome
    /// recorded, or waits for a relay when none is configured.
    pub fn handled(&self) -> watch::Receiver<u64> {
        self.handled.clone()
    }

    /// Reads the pending deliveries from the log, then delivers them and
    /// every new one through `relay` (none: they stay queued).
    ///
    /// # Errors
    /// When the event store fails.
    pub async fn start(
        commands: Arc<Commands>,
        blobs: Arc<dyn Blobs>,
        relay: Option<Relay>,
        (mut after, waiting): (u64, Vec<WaitingCopy>),
    ) -> Result<Self, StoreError> {
        let store = commands.store().clone();
        let mut pending = BTreeMap::new();
        // The copies waiting, from the events that asked for them.
        let wanted: HashSet<(Uuid, String)> = waiting.iter().map(|w| (w.mail_id, w.address.clone())).collect();
        let positions: BTreeSet<u64> = waiting.iter().map(|w| w.position).collect();
        for position in positions {
            let events = store.read_all(position - 1, 1).await?;
            if !events.iter().any(|e| e.position == position) {
                tracing::warn!(
                    position,
                    "the event that asked for waiting copies is not in the log; they are not sent"
                );
            }
            for event in events.iter().filter(|e| e.position == position) {
                let mut asked = BTreeMap::new();
                track(event, &mut asked);
                let still =
                    asked.into_iter().filter(|((mail, address), _)| wanted.contains(&(*mail, address.to_string())));
                pending.extend(still);
            }
        }
        loop {
            let batch = store.read_all(after, 10_000).await?;
            let Some(last) = batch.last() else { break };
            after = last.position;
            for event in &batch {
                track(event, &mut pending);
            }
        }
        let (queue, mut next) = mpsc::unbounded_channel::<Delivery>();
        let (watch, handled) = watch::channel(after);
        let progress = Arc::new(Mutex::new(Handled { followed: after, under_way: BTreeMap::new(), watch }));
        // Without a relay nothing is under way: the copies wait queued.
        let delivering = relay.is_some();
        for delivery in pending.values() {
            if delivering {
                lock(&progress).start(delivery.position);
            }
            let _ = queue.send(delivery.clone());
        }
        // The copies under way hold the handled position back from now.
        lock(&progress).publish();
        let queued = pending.len();
        let following = progress.clone();
        let follower = tokio::spawn(store::follow(store, after, move |batch| {
            let mut handled = lock(&following);
            for event in batch {
                for delivery in track(event, &mut pending) {
                    if delivering {
                        handled.start(delivery.position);
                    }
                    let _ = queue.send(delivery);
                }
            }
            if let Some(last) = batch.last() {
                handled.followed = last.position;
            }
            handled.publish();
        }));
        let Some(relay) = relay else {
            tracing::info!(queued, "no SMTP relay is configured; external mail stays queued");
            let drain = tokio::spawn(async move { while next.recv().await.is_some() {} });
            return Ok(Self { tasks: vec![follower, drain], handled });
        };
        let deliverer = tokio::spawn(async move {
            while let Some(delivery) = next.recv().await {
                let (commands, relay, blobs, progress) =
                    (commands.clone(), relay.clone(), blobs.clone(), progress.clone());
                // Each copy is tried on its own, so one slow retry does not
                // hold up the rest.
                tokio::spawn(async move {
                    let position = delivery.position;
                    deliver(&commands, &relay, blobs.as_ref(), delivery).await;
                    lock(&progress).finish(position);
                });
            }
        });
        Ok(Self { tasks: vec![follower, deliverer], handled })
    }
}

async fn deliver(commands: &Arc<Commands>, relay: &Relay, blobs: &dyn Blobs, delivery: Delivery) {
    let report = match attempt_all(relay, blobs, &delivery).await {
        Ok(reply) => DeliveryReport::Sent { reply },
        Err(e) => DeliveryReport::Failed { reply: e.reply },
    };
    let mail_id = delivery.mail.mail_id;
    let command = MailboxCommand {
        owner: delivery.sender,
        action: MailboxAction::ReportDelivery { mail_id, address: delivery.address.clone(), report },
    };
    let key = format!("{mail_id}/{}", delivery.address);
    let context = CommandContext::new(Uuid::new_v5(&mail_id, key.as_bytes()), Actor::System, delivery.tenant);
    let mut backoff = Duration::from_millis(100);
    loop {
        match commands.execute::<Mailbox>(delivery.sender, &context, command.clone()).await {
            Ok(_) | Err(CommandError::Rejected(_)) => return,
            Err(e) => {
                tracing::warn!(%mail_id, error = %e, "delivery report not recorded; trying again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Tries the relay until it takes the copy, refuses it for good, or the
/// attempts run out.
async fn attempt_all(relay: &Relay, blobs: &dyn Blobs, delivery: &Delivery) -> Result<String, RelayError> {
    let files = attachments(blobs, delivery.tenant.unwrap_or_default(), &delivery.mail.content).await;
    let message = render(&delivery.mail, delivery.sent_at, |sha| files.get(sha).cloned())
        .map_err(|reply| RelayError { reply, permanent: true })?;
    let (from, to) = (delivery.mail.from.to_string(), delivery.address.to_string());
    let mut wait = FIRST_RETRY;
    let mut attempt = 1;
    loop {
        match relay.send(&from, &to, &message).await {
            Ok(reply) => return Ok(reply),
            Err(e) if e.permanent || attempt >= ATTEMPTS => return Err(e),
            Err(e) => {
                tracing::info!(mail = %delivery.mail.mail_id, to, attempt, reply = e.reply, "relay refused for now; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
        }
    }
}

/// The bytes of a mail's attachments the store holds, by digest: the
/// message is built in memory, so each is read whole (a missing or
/// unreadable one is left out, and the rendering names it).
pub async fn attachments(blobs: &dyn Blobs, tenant: Uuid, content: &Content) -> HashMap<String, Vec<u8>> {
    let mut files = HashMap::new();
    for file in &content.attachments {
        if files.contains_key(&file.sha256) {
            continue;
        }
        let Ok(Some(blob)) = blobs.open(tenant, &file.sha256).await else { continue };
        let mut bytes = Vec::with_capacity(usize::try_from(blob.size).unwrap_or_default());
        let mut reader = blob.reader;
        if reader.read_to_end(&mut bytes).await.is_ok() {
            files.insert(file.sha256.clone(), bytes);
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use domain::DomainEvent;
    use domain::mail::message::{Content, DEFAULT_ATTACHMENT_LIMIT, Recipient, RecipientKind};
    use store::{EventData, Metadata};

    use super::*;

    fn recorded(stream: String, tenant: Uuid, event: &impl DomainEvent, position: u64) -> RecordedEvent {
        let metadata = Metadata { tenant: Some(tenant), occurred_at: chrono::Utc::now(), ..Metadata::default() };
        EventData::json(Uuid::now_v7(), event.event_type(), 1, event, metadata).unwrap().recorded(
            &stream,
            0,
            position,
            chrono::Utc::now(),
        )
    }

    // rules U1, B3
    #[test]
    fn the_copies_of_a_deleted_sender_or_a_terminated_company_are_no_longer_sent() {
        let (tenant, kim, lee) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let sent = |sender: Uuid, n: u64| {
            let mail = OutgoingMail {
                mail_id: Uuid::now_v7(),
                from: MailAddress::parse("kim@acme.kr").unwrap(),
                recipients: vec![Recipient {
                    address: MailAddress::parse("friend@partner.org").unwrap(),
                    kind: RecipientKind::To,
                    user: None,
                }],
                content: Content::parse("Hello", "Body", None, vec![], DEFAULT_ATTACHMENT_LIMIT).unwrap(),
                draft_id: None,
            };
            let event = MailboxEvent::MailSent { mail, sent_at: chrono::Utc::now(), quota: None };
            recorded(format!("mailbox-{}", sender.simple()), tenant, &event, n)
        };
        let mut pending = BTreeMap::new();
        assert_eq!(track(&sent(kim, 1), &mut pending).len(), 1);
        assert_eq!(track(&sent(lee, 2), &mut pending).len(), 1);
        let deleted = TenantEvent::UserDeleted { user_id: kim };
        track(&recorded(format!("tenant-{}", tenant.simple()), tenant, &deleted, 3), &mut pending);
        assert_eq!(pending.values().map(|d| d.sender).collect::<Vec<_>>(), [lee]);
        let terminated = TenantEvent::Terminated { domains: Default::default() };
        track(&recorded(format!("tenant-{}", tenant.simple()), tenant, &terminated, 4), &mut pending);
        assert!(pending.is_empty());
    }
}
