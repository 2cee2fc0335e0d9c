//! The process managers: events of one stream that call for commands
//! elsewhere.
//!
//! - A scheduled mail (rule E2) gets a durable timer; when it goes off, the
//!   mail is delivered.
//! - A mail arriving in the inbox of a user who forwards (rule E5) is
//!   forwarded by that user's mailbox, which refuses a mail it has already
//!   forwarded, so a loop between users ends.
//! - A completed approval document gets its number (see
//!   [`number_document`]).
//! - A recalled approval document sends a notice to everyone on its line
//!   (rule A7).
//! - Leave ledgers open, accrue and take leave (see `leave_processes`).
//!
//! Every command the process issues carries an id derived from the event
//! that caused it. The process reads the log from its start each time it
//! starts: what it already did is found in the command log and not done
//! again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use domain::approval::{
    ApprovalSetup, AssignNumber, Document, DocumentAction, DocumentCommand, DocumentEvent, DocumentNumbers,
    NumberingEvent,
};
use domain::mail::{Content, Mailbox, MailboxAction, MailboxCommand, MailboxEvent};
use domain::tenant::Tenant;
use domain::timer::{Timer, TimerCommand};
use domain::{Actor, Aggregate, DomainError};
use serde::{Deserialize, Serialize};
use store::RecordedEvent;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::leave_processes::{self, LeaveReaction};
use crate::{CommandContext, CommandError, Commands, FiredTimer, TimerHandler};

/// The kind of the timers of scheduled mail.
pub const SCHEDULED_SEND: &str = "mail.scheduled-send";

/// What a scheduled-send timer carries.
#[derive(Debug, Serialize, Deserialize)]
struct ScheduledSend {
    user: Uuid,
    mail: Uuid,
}

/// The handler that delivers a scheduled mail when its timer goes off.
pub fn scheduled_send_handler(commands: Arc<Commands>) -> (String, TimerHandler) {
    let handler: TimerHandler = Arc::new(move |fired: FiredTimer| {
        let commands = commands.clone();
        Box::pin(async move {
            let Ok(payload) = serde_json::from_str::<ScheduledSend>(&fired.payload) else {
                tracing::error!(timer = %fired.timer_id, "a scheduled-send timer without its mail; dropped");
                return Ok(());
            };
            let context = CommandContext::new(fired.command_id, Actor::System, fired.tenant);
            let command = MailboxCommand {
                owner: payload.user,
                action: MailboxAction::DeliverScheduled { mail_id: payload.mail },
            };
            commands.execute::<Mailbox>(payload.user, &context, command).await.map(drop)
        })
    });
    (SCHEDULED_SEND.to_owned(), handler)
}

/// The running processes; dropping them stops them.
pub struct Processes {
    task: JoinHandle<()>,
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One command the process issues.
enum Reaction {
    Timer { id: Uuid, command_id: Uuid, command: TimerCommand },
    Mailbox { user: Uuid, command_id: Uuid, command: MailboxCommand },
    Number { document: Uuid, completed_at: DateTime<Utc> },
    Leave(LeaveReaction),
}

#[derive(Default)]
struct State {
    /// Users whose incoming mail is forwarded.
    forwarding: HashSet<Uuid>,
}

impl State {
    fn react(&mut self, event: &RecordedEvent) -> Vec<Reaction> {
        let mut reactions: Vec<Reaction> = leave_processes::reactions(event).into_iter().map(Reaction::Leave).collect();
        if event.category() == Document::CATEGORY {
            reactions.extend(document_reactions(event));
            return reactions;
        }
        if event.category() != Mailbox::CATEGORY {
            return reactions;
        }
        let (Some(owner), Ok(decoded)) = (event.stream_id(), event.decode::<MailboxEvent>()) else {
            tracing::error!(position = event.position, "an unreadable mailbox event; skipped");
            return reactions;
        };
        match &decoded {
            MailboxEvent::ForwardingSet { forwarding } => {
                if forwarding.to.is_empty() {
                    self.forwarding.remove(&owner);
                } else {
                    self.forwarding.insert(owner);
                }
            }
            MailboxEvent::MailScheduled { mail, due, .. } => {
                let id = Uuid::new_v5(&mail.mail_id, b"scheduled-send");
                let payload = serde_json::json!(ScheduledSend { user: owner, mail: mail.mail_id }).to_string();
                reactions.push(Reaction::Timer {
                    id,
                    command_id: Uuid::new_v5(&id, b"schedule"),
                    command: TimerCommand::Schedule { timer_id: id, due: *due, kind: SCHEDULED_SEND.into(), payload },
                });
            }
            _ => {}
        }
        let content = match &decoded {
            MailboxEvent::MailSent { mail, .. } | MailboxEvent::MailForwarded { mail, .. } => Some(&mail.content),
            MailboxEvent::MailReceived { mail, .. } => Some(&mail.content),
            _ => None,
        };
        if let Some(content) = content {
            for delivery in decoded.inbox_deliveries(owner) {
                if delivery.forwardable && self.forwarding.contains(&delivery.user) {
                    reactions.push(forward(delivery.user, delivery.mail_id, delivery.root, content));
                }
            }
        }
        reactions
    }
}

fn forward(user: Uuid, source: Uuid, root: Uuid, content: &Content) -> Reaction {
    let mail_id = Uuid::new_v5(&source, user.as_bytes());
    Reaction::Mailbox {
        user,
        command_id: Uuid::new_v5(&mail_id, b"forward"),
        command: MailboxCommand {
            owner: user,
            action: MailboxAction::Forward { mail_id, source, root, content: content.clone() },
        },
    }
}

/// The commands a document event calls for.
fn document_reactions(event: &RecordedEvent) -> Vec<Reaction> {
    let (Some(document), Ok(decoded)) = (event.stream_id(), event.decode::<DocumentEvent>()) else {
        tracing::error!(position = event.position, "an unreadable document event; skipped");
        return vec![];
    };
    match decoded {
        DocumentEvent::Completed { at } => vec![Reaction::Number { document, completed_at: at }],
        DocumentEvent::Recalled { by, reason, notify, .. } => notify
            .into_iter()
            .map(|user| {
                let notice_id = Uuid::new_v5(&event.id, user.as_bytes());
                let text = format!(
                    "Approval document {document} was recalled by its drafter ({by}). Reason: {reason}. \
                     It has left your boxes; the drafter may submit it again."
                );
                Reaction::Mailbox {
                    user,
                    command_id: Uuid::new_v5(&notice_id, b"notice"),
                    command: MailboxCommand {
                        owner: user,
                        action: MailboxAction::DeliverNotice {
                            notice_id,
                            subject: "An approval document was recalled".into(),
                            text,
                        },
                    },
                }
            })
            .collect(),
        _ => vec![],
    }
}

/// Whether the document already has its number.
async fn numbered(commands: &Arc<Commands>, document: Uuid) -> bool {
    commands.load_latest::<Document>(document).await.is_ok_and(|d| d.number.is_some())
}

/// Gives a completed document its number: the next of its tenant's year
/// (in the tenant's time zone), with the company's prefix or, without one,
/// the first label of its domain. Running it again for the same document
/// changes nothing, so the API and the process may both run it.
///
/// Gives the number and the log position of its record.
///
/// # Errors
/// When the store fails, or a rule refuses (the year's numbers run out).
pub async fn number_document(
    commands: &Arc<Commands>,
    tenant: Uuid,
    document: Uuid,
    completed_at: DateTime<Utc>,
    cause: Option<&RecordedEvent>,
) -> Result<(String, u64), CommandError> {
    let company = commands.load_latest::<Tenant>(tenant).await?;
    let setup = commands.load_latest::<ApprovalSetup>(tenant).await?;
    let prefix = setup.settings.number_prefix.unwrap_or_else(|| {
        let domain = company.domain.as_ref().map(ToString::to_string).unwrap_or_default();
        domain.split('.').next().unwrap_or("DOC").to_ascii_uppercase()
    });
    let year = completed_at.with_timezone(&company.time_zone.tz()).year();
    let numbers = DocumentNumbers::id(tenant, year);
    let context = |what: &[u8]| {
        let command_id = Uuid::new_v5(&document, what);
        match cause {
            Some(cause) => caused_by(command_id, Some(tenant), cause),
            None => CommandContext::new(command_id, Actor::System, Some(tenant)),
        }
    };
    let assign = AssignNumber { document_id: document, prefix, year };
    // The command id makes one document take one number of the sequence.
    let assigned = commands.execute::<DocumentNumbers>(numbers, &context(b"assign-number"), assign).await?;
    let mut number = assigned.events.into_iter().find_map(|e| match e {
        NumberingEvent::Assigned { document_id, number, .. } if document_id == document => Some(number),
        NumberingEvent::Assigned { .. } => None,
    });
    if number.is_none() {
        // Another process numbered it first.
        number = commands.load::<DocumentNumbers>(numbers).await?.state.given(document).map(str::to_owned);
    }
    let number = number.ok_or_else(|| DomainError::Conflict(format!("document {document} got no number")))?;
    let record = DocumentCommand { by: Uuid::nil(), action: DocumentAction::RecordNumber { number: number.clone() } };
    let recorded = commands.execute::<Document>(document, &context(b"record-number"), record).await?;
    Ok((number, recorded.position))
}

impl Processes {
    /// Starts reading the log from its start.
    pub fn start(commands: Arc<Commands>) -> Self {
        Self { task: tokio::spawn(run(commands)) }
    }
}

async fn run(commands: Arc<Commands>) {
    let mut state = State::default();
    let mut after = 0;
    let mut backoff = Duration::from_millis(50);
    loop {
        let mut subscription = commands.store().clone().subscribe_all(after);
        while let Some(batch) = subscription.next_batch().await {
            let Ok(batch) = batch.inspect_err(|e| tracing::warn!(error = %e, after, "processes: log failed")) else {
                break;
            };
            for event in &batch {
                let tenant = event.metadata.tenant;
                for reaction in state.react(event) {
                    carry_out(&commands, tenant, event, reaction).await;
                }
                after = event.position;
            }
            backoff = Duration::from_millis(50);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Runs one reaction until it is done or refused; a store that fails is
/// tried again, with back-off, so no reaction is lost.
async fn carry_out(commands: &Arc<Commands>, tenant: Option<Uuid>, cause: &RecordedEvent, reaction: Reaction) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let result = match &reaction {
            Reaction::Timer { id, command_id, command } => {
                let context = caused_by(*command_id, tenant, cause);
                commands.execute::<Timer>(*id, &context, command.clone()).await.map(drop)
            }
            Reaction::Mailbox { user, command_id, command } => {
                let context = caused_by(*command_id, tenant, cause);
                commands.execute::<Mailbox>(*user, &context, command.clone()).await.map(drop)
            }
            Reaction::Number { document, completed_at } => match tenant {
                // The API numbers a document as it completes; the process
                // covers a crash in between.
                Some(_) if numbered(commands, *document).await => Ok(()),
                Some(tenant) => {
                    number_document(commands, tenant, *document, *completed_at, Some(cause)).await.map(drop)
                }
                None => Err(DomainError::invalid("tenant", "a document without a tenant").into()),
            },
            Reaction::Leave(leave) => match tenant {
                Some(tenant) => leave_processes::carry_out(commands, tenant, leave).await,
                None => Err(DomainError::invalid("tenant", "leave without a tenant").into()),
            },
        };
        match result {
            Ok(()) => return,
            Err(CommandError::Rejected(e)) => {
                tracing::info!(position = cause.position, reason = %e, "process: refused");
                return;
            }
            Err(e) => {
                tracing::warn!(position = cause.position, error = %e, "process: failed; trying again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

fn caused_by(command_id: Uuid, tenant: Option<Uuid>, cause: &RecordedEvent) -> CommandContext {
    let mut context = CommandContext::new(command_id, Actor::System, tenant);
    context.causation_id = Some(cause.id);
    context.correlation_id = cause.metadata.correlation_id.or(cause.metadata.command_id);
    context
}
