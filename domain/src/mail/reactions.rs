//! What mail events cause elsewhere (see [`crate::reaction`]):
//!
//! - A scheduled mail (rule E2) gets a durable timer; when it goes off, the
//!   mail is delivered.
//! - A mail arriving in the inbox of a user who forwards (rule E5) is
//!   forwarded by that user's mailbox, which refuses a mail it has already
//!   forwarded, so a loop between users ends.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Content, Mailbox, MailboxAction, MailboxCommand, MailboxEvent};
use crate::reaction::{Cause, FollowUp};
use crate::timer::{Timer, TimerCommand};

/// The kind of the timers of scheduled mail.
pub const SCHEDULED_SEND: &str = "mail.scheduled-send";

/// What a scheduled-send timer carries.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct ScheduledSend {
    user: Uuid,
    mail: Uuid,
}

/// What the mail reactions remember of earlier events: who forwards.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Forwarders {
    users: HashSet<Uuid>,
}

/// Rules E2 and E5: the follow-ups of an event of `cause.stream_id`'s
/// mailbox.
pub fn react(forwarders: &mut Forwarders, cause: &Cause, event: &MailboxEvent) -> Vec<FollowUp> {
    let owner = cause.stream_id;
    let mut follow_ups = Vec::new();
    match event {
        MailboxEvent::ForwardingSet { forwarding } => {
            if forwarding.to.is_empty() {
                forwarders.users.remove(&owner);
            } else {
                forwarders.users.insert(owner);
            }
        }
        MailboxEvent::MailScheduled { mail, due, .. } => {
            let timer_id = Uuid::new_v5(&mail.mail_id, b"scheduled-send");
            let payload = serde_json::json!(ScheduledSend { user: owner, mail: mail.mail_id }).to_string();
            follow_ups.push(FollowUp::command::<Timer>(
                timer_id,
                Uuid::new_v5(&timer_id, b"schedule"),
                TimerCommand::Schedule { timer_id, due: *due, kind: SCHEDULED_SEND.into(), payload },
            ));
        }
        _ => {}
    }
    let content = match event {
        MailboxEvent::MailSent { mail, .. } | MailboxEvent::MailForwarded { mail, .. } => Some(&mail.content),
        MailboxEvent::MailReceived { mail, .. } => Some(&mail.content),
        _ => None,
    };
    if let Some(content) = content {
        for delivery in event.inbox_deliveries(owner) {
            if delivery.forwardable && forwarders.users.contains(&delivery.user) {
                follow_ups.push(forward(delivery.user, delivery.mail_id, delivery.root, content));
            }
        }
    }
    follow_ups
}

fn forward(user: Uuid, source: Uuid, root: Uuid, content: &Content) -> FollowUp {
    let mail_id = Uuid::new_v5(&source, user.as_bytes());
    FollowUp::command::<Mailbox>(
        user,
        Uuid::new_v5(&mail_id, b"forward"),
        MailboxCommand {
            owner: user,
            action: MailboxAction::Forward { mail_id, source, root, content: content.clone() },
        },
    )
}

/// Rule E2: a scheduled-send timer went off; `command_id` is the firing's.
/// Nothing when the timer does not carry its mail.
pub fn on_scheduled_send(payload: &str, command_id: Uuid) -> Vec<FollowUp> {
    let Ok(ScheduledSend { user, mail }) = serde_json::from_str(payload) else { return Vec::new() };
    let command = MailboxCommand { owner: user, action: MailboxAction::DeliverScheduled { mail_id: mail } };
    vec![FollowUp::command::<Mailbox>(user, command_id, command)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::message::DEFAULT_ATTACHMENT_LIMIT;
    use crate::mail::{Forwarding, IncomingMail, MailAddress, OutgoingMail, QuotaUse, Recipient, RecipientKind};
    use crate::testing::at;

    const OWNER: Uuid = Uuid::from_u128(1);
    const FORWARDER: Uuid = Uuid::from_u128(2);
    const OTHER: Uuid = Uuid::from_u128(3);

    fn cause(stream_id: Uuid) -> Cause {
        Cause {
            event_id: Uuid::from_u128(99),
            stream_id,
            tenant: Some(Uuid::from_u128(9)),
            recorded_at: at("2026-11-28T09:00:00+09:00"),
        }
    }

    fn content() -> Content {
        Content::parse("Hello", "Body", None, vec![], DEFAULT_ATTACHMENT_LIMIT).unwrap()
    }

    fn to_users(users: &[Uuid]) -> OutgoingMail {
        let recipients = users
            .iter()
            .map(|user| Recipient {
                address: MailAddress::parse(&format!("u{}@example.com", user.as_u128())).unwrap(),
                kind: RecipientKind::To,
                user: Some(*user),
            })
            .collect();
        OutgoingMail {
            mail_id: Uuid::from_u128(50),
            from: MailAddress::parse("owner@example.com").unwrap(),
            recipients,
            content: content(),
            draft_id: None,
        }
    }

    fn forwarding_to(to: Vec<Recipient>) -> MailboxEvent {
        MailboxEvent::ForwardingSet { forwarding: Forwarding { from: None, to, keep_copy: true, admin_only: false } }
    }

    fn forwarded_to(follow_ups: &[FollowUp]) -> Vec<(Uuid, Uuid)> {
        follow_ups
            .iter()
            .filter_map(|f| f.as_command::<Mailbox>())
            .filter_map(|(user, _, command)| match &command.action {
                MailboxAction::Forward { source, .. } => Some((user, *source)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn rule_e2_a_scheduled_mail_sets_a_timer_whose_firing_delivers_it() {
        let mail = to_users(&[OTHER]);
        let due = at("2026-11-29T09:00:00+09:00");
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        let scheduled = MailboxEvent::MailScheduled { mail: mail.clone(), due, quota: QuotaUse { day, deliveries: 1 } };
        let follow_ups = react(&mut Forwarders::default(), &cause(OWNER), &scheduled);
        assert_eq!(follow_ups.len(), 1);
        let (timer, command_id, command) = follow_ups[0].as_command::<Timer>().expect("a timer");
        assert_eq!(timer, Uuid::new_v5(&mail.mail_id, b"scheduled-send"));
        assert_eq!(command_id, Uuid::new_v5(&timer, b"schedule"));
        let TimerCommand::Schedule { due: timer_due, kind, payload, .. } = command else { panic!("{command:?}") };
        assert_eq!((*timer_due, kind.as_str()), (due, SCHEDULED_SEND));

        let fired = Uuid::from_u128(77);
        let delivery = on_scheduled_send(payload, fired);
        let (user, command_id, command) = delivery[0].as_command::<Mailbox>().expect("a delivery");
        assert_eq!((user, command_id), (OWNER, fired));
        assert_eq!(command.action, MailboxAction::DeliverScheduled { mail_id: mail.mail_id });
        assert!(on_scheduled_send("not a payload", fired).is_empty());
    }

    #[test]
    fn rule_e5_mail_reaching_a_user_who_forwards_is_forwarded_until_forwarding_is_off() {
        let mut forwarders = Forwarders::default();
        let elsewhere =
            Recipient { address: MailAddress::parse("me@elsewhere.org").unwrap(), kind: RecipientKind::To, user: None };
        assert!(react(&mut forwarders, &cause(FORWARDER), &forwarding_to(vec![elsewhere])).is_empty());

        let sent = MailboxEvent::MailSent {
            mail: to_users(&[FORWARDER, OTHER]),
            sent_at: at("2026-11-28T09:00:00+09:00"),
            quota: None,
        };
        let follow_ups = react(&mut forwarders, &cause(OWNER), &sent);
        assert_eq!(forwarded_to(&follow_ups), vec![(FORWARDER, Uuid::from_u128(50))]);
        let (_, command_id, command) = follow_ups[0].as_command::<Mailbox>().unwrap();
        let MailboxAction::Forward { mail_id, .. } = &command.action else { panic!() };
        assert_eq!(*mail_id, Uuid::new_v5(&Uuid::from_u128(50), FORWARDER.as_bytes()));
        assert_eq!(command_id, Uuid::new_v5(mail_id, b"forward"));

        // Mail from outside, too.
        let received = MailboxEvent::MailReceived {
            mail: IncomingMail {
                mail_id: Uuid::from_u128(60),
                from: "someone@elsewhere.org".into(),
                to: vec![],
                cc: vec![],
                content: content(),
            },
            received_at: at("2026-11-28T09:00:00+09:00"),
        };
        assert_eq!(
            forwarded_to(&react(&mut forwarders, &cause(FORWARDER), &received)),
            vec![(FORWARDER, Uuid::from_u128(60))]
        );

        react(&mut forwarders, &cause(FORWARDER), &forwarding_to(vec![]));
        assert!(forwarded_to(&react(&mut forwarders, &cause(OWNER), &sent)).is_empty());
    }
}
