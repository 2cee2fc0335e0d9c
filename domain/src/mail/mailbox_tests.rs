use uuid::Uuid;

use super::*;
use crate::ErrorKind;
use crate::mail::message::DEFAULT_ATTACHMENT_LIMIT;
use crate::testing::{at, given};

const OWNER: Uuid = Uuid::from_u128(1);
const OTHER: Uuid = Uuid::from_u128(2);
const ADMIN: Uuid = Uuid::from_u128(3);

fn address(s: &str) -> MailAddress {
    MailAddress::parse(s).unwrap()
}

fn internal(n: u128) -> Recipient {
    Recipient {
        address: address(&format!("user{n}@example.com")),
        kind: RecipientKind::To,
        user: Some(Uuid::from_u128(100 + n)),
    }
}

fn external(n: u128) -> Recipient {
    Recipient { address: address(&format!("friend{n}@elsewhere.org")), kind: RecipientKind::To, user: None }
}

fn mail(id: u128, recipients: Vec<Recipient>) -> OutgoingMail {
    OutgoingMail {
        mail_id: Uuid::from_u128(id),
        from: address("owner@example.com"),
        recipients,
        content: Content::parse("Hello", "Body", None, vec![], DEFAULT_ATTACHMENT_LIMIT).unwrap(),
        draft_id: None,
    }
}

fn to_internal(id: u128, count: u128) -> OutgoingMail {
    mail(id, (0..count).map(internal).collect())
}

fn command(action: MailboxAction) -> MailboxCommand {
    MailboxCommand { owner: OWNER, action }
}

/// The reset a refused send offers in these tests.
const OFFER: ResetOffer = ResetOffer { token: Uuid::from_u128(7), notice_id: Uuid::from_u128(8) };

fn send(mail: OutgoingMail) -> MailboxCommand {
    command(MailboxAction::Send { mail, time_zone: TimeZone::default(), offer: OFFER })
}

fn owner() -> Actor {
    Actor::User(OWNER)
}

/// The events of sending `mail` at `sent_at` (Seoul's day is the quota day).
fn sent(mail: OutgoingMail, sent_at: &str, deliveries: u32) -> MailboxEvent {
    let sent_at = at(sent_at);
    let day = sent_at.with_timezone(&chrono_tz::Asia::Seoul).date_naive();
    MailboxEvent::MailSent { mail, sent_at, quota: Some(QuotaUse { day, deliveries }) }
}

/// Refused for a limit, by `rule`.
#[track_caller]
fn refused_with_limit(result: Result<Vec<MailboxEvent>, DomainError>, rule: &str) {
    refused_by(result, ErrorKind::LimitExceeded, rule);
}

/// Refused with an error of `kind` by the rule `rule`, whatever its words.
#[track_caller]
fn refused_by<T: std::fmt::Debug>(result: Result<T, DomainError>, kind: ErrorKind, rule: &str) {
    assert!(matches!(&result, Err(e) if e.kind() == kind && e.rule() == Some(rule)), "{result:?}");
}

fn decide(
    events: &[MailboxEvent],
    actor: Actor,
    cmd: &MailboxCommand,
    now: &str,
) -> Result<Vec<MailboxEvent>, DomainError> {
    let state = events.iter().fold(Mailbox::default(), Mailbox::evolve);
    state.authorize(&actor, cmd).and_then(|()| state.decide(cmd, at(now)))
}

// rule E1
#[test]
fn rule_e1_it_sends_to_100_recipients_and_refuses_101() {
    let now = "2026-11-26T09:00:00+09:00";
    given::<Mailbox>(vec![]).when_at(owner(), send(to_internal(1, 100)), at(now)).then(vec![sent(
        to_internal(1, 100),
        now,
        100,
    )]);
    refused_with_limit(decide(&[], owner(), &send(to_internal(1, 101)), now), "E1");
}

// rule E1
#[test]
fn rule_e1_it_refuses_a_mail_without_recipients() {
    given::<Mailbox>(vec![])
        .when(owner(), send(mail(1, vec![])))
        .then_refused(DomainError::invalid("recipients", "a mail needs at least one recipient"));
}

fn four_hundred_sent() -> Vec<MailboxEvent> {
    (0..4).map(|i| sent(to_internal(10 + i, 100), "2026-11-26T09:00:00+09:00", (i as u32 + 1) * 100)).collect()
}

// rule E1
#[test]
fn rule_e1_it_allows_500_deliveries_a_day_and_refuses_the_501st() {
    let history = four_hundred_sent();
    let now = "2026-11-26T23:59:59+09:00";
    assert_eq!(
        decide(&history, owner(), &send(to_internal(20, 100)), now),
        Ok(vec![sent(to_internal(20, 100), now, 500)])
    );
    let mut full = history.clone();
    full.push(sent(to_internal(20, 100), now, 500));
    refused_with_limit(decide(&full, owner(), &send(to_internal(21, 1)), now), "E1");
    // Also one over with a partly used count.
    refused_with_limit(decide(&history, owner(), &send(to_internal(22, 101)), now), "E1");
}

// rule E1: the count resets at midnight in the tenant's time zone.
#[test]
fn rule_e1_the_daily_count_resets_at_midnight_in_the_tenants_time_zone() {
    let mut full = four_hundred_sent();
    full.push(sent(to_internal(20, 100), "2026-11-26T12:00:00+09:00", 500));
    refused_with_limit(decide(&full, owner(), &send(to_internal(21, 1)), "2026-11-26T23:59:59+09:00"), "E1");
    let midnight = "2026-11-27T00:00:00+09:00";
    assert_eq!(
        decide(&full, owner(), &send(to_internal(21, 1)), midnight),
        Ok(vec![sent(to_internal(21, 1), midnight, 1)])
    );
    // Midnight in UTC is not midnight in Seoul.
    refused_with_limit(decide(&full, owner(), &send(to_internal(21, 1)), "2026-11-26T00:00:01+00:00"), "E1");
}

fn reset(token: u128) -> MailboxCommand {
    command(MailboxAction::ResetQuota { token: Uuid::from_u128(token), time_zone: TimeZone::default() })
}

// rule E1: the reset link restores the full 500 for the day, once.
#[test]
fn rule_e1_the_reset_link_restores_the_full_quota_once() {
    let now = "2026-11-26T15:00:00+09:00";
    let day = at(now).with_timezone(&chrono_tz::Asia::Seoul).date_naive();
    let mut history = four_hundred_sent();
    history.push(sent(to_internal(20, 100), now, 500));
    // A refusal for the daily limit calls for the offer of the reset its
    // command names; the system records it once a day.
    let refused = send(to_internal(21, 1));
    assert_eq!(decide(&history, owner(), &refused, now), Err(daily_limit_reached()));
    let state = history.iter().fold(Mailbox::default(), Mailbox::evolve);
    let offer = state.after_refusal(&refused, &daily_limit_reached()).expect("an offer");
    assert!(matches!(offer.action, MailboxAction::OfferQuotaReset { offer: OFFER, .. }), "{offer:?}");
    let offered = MailboxEvent::QuotaResetOffered { token: Uuid::from_u128(7), day, notice_id: Uuid::from_u128(8) };
    assert_eq!(decide(&history, Actor::System, &offer, now), Ok(vec![offered.clone()]));
    history.push(offered);
    // A second refusal the same day offers nothing new.
    assert_eq!(decide(&history, Actor::System, &offer, now), Ok(vec![]));
    // Only the system offers; other refusals call for nothing.
    assert!(decide(&history, owner(), &offer, now).is_err());
    let too_many = send(to_internal(23, 101));
    let refusal = decide(&history, owner(), &too_many, now).unwrap_err();
    assert_eq!(state.after_refusal(&too_many, &refusal), None);
    let reset_event = MailboxEvent::QuotaReset { token: Uuid::from_u128(7), day };
    assert_eq!(decide(&history, owner(), &reset(7), now), Ok(vec![reset_event.clone()]));
    history.push(reset_event);
    assert_eq!(
        decide(&history, owner(), &send(to_internal(30, 100)), now),
        Ok(vec![sent(to_internal(30, 100), now, 100)])
    );
    let used = decide(&history, owner(), &reset(7), now);
    assert!(matches!(&used, Err(e) if e.field() == Some("token")), "{used:?}");
    refused_by(used, ErrorKind::Validation, "E1");
}

// rule E1
#[test]
fn rule_e1_a_reset_link_expires_at_midnight() {
    let day = at("2026-11-26T15:00:00+09:00").with_timezone(&chrono_tz::Asia::Seoul).date_naive();
    let history =
        vec![MailboxEvent::QuotaResetOffered { token: Uuid::from_u128(7), day, notice_id: Uuid::from_u128(8) }];
    assert!(decide(&history, owner(), &reset(7), "2026-11-26T23:59:59+09:00").is_ok());
    refused_by(decide(&history, owner(), &reset(7), "2026-11-27T00:00:00+09:00"), ErrorKind::Conflict, "E1");
}

fn schedule(mail: OutgoingMail, due: &str) -> MailboxCommand {
    command(MailboxAction::Schedule { mail, due: at(due), time_zone: TimeZone::default(), offer: OFFER })
}

fn scheduled(mail: OutgoingMail, due: &str, now: &str, deliveries: u32) -> MailboxEvent {
    let day = at(now).with_timezone(&chrono_tz::Asia::Seoul).date_naive();
    MailboxEvent::MailScheduled { mail, due: at(due), quota: QuotaUse { day, deliveries } }
}

// rule E2
#[test]
fn rule_e2_a_mail_is_scheduled_for_the_future_only() {
    let now = "2026-11-26T09:00:00+09:00";
    given::<Mailbox>(vec![])
        .when_at(owner(), schedule(to_internal(1, 1), now), at(now))
        .then_refused(DomainError::invalid("sendAt", "a mail can only be scheduled for a future time").by_rule("E2"));
    let due = "2026-11-26T09:00:01+09:00";
    given::<Mailbox>(vec![]).when_at(owner(), schedule(to_internal(1, 1), due), at(now)).then(vec![scheduled(
        to_internal(1, 1),
        due,
        now,
        1,
    )]);
}

// rule E2: it can be cancelled only before its time.
#[test]
fn rule_e2_a_scheduled_mail_is_cancelled_only_before_its_time() {
    let due = "2026-11-26T18:00:00+09:00";
    let history = vec![scheduled(to_internal(1, 1), due, "2026-11-26T09:00:00+09:00", 1)];
    let cancel = command(MailboxAction::CancelScheduled { mail_id: Uuid::from_u128(1) });
    let events = decide(&history, owner(), &cancel, "2026-11-26T17:59:59+09:00").unwrap();
    assert!(matches!(&events[..], [MailboxEvent::ScheduleCancelled { draft, .. }] if draft.to.len() == 1));
    refused_by(decide(&history, owner(), &cancel, due), ErrorKind::Conflict, "E2");
}

// rule E2: delivered at its time; cancelling afterwards is refused.
#[test]
fn rule_e2_a_scheduled_mail_is_delivered_at_its_time() {
    let due = "2026-11-26T18:00:00+09:00";
    let mut history = vec![scheduled(to_internal(1, 1), due, "2026-11-26T09:00:00+09:00", 1)];
    let deliver = command(MailboxAction::DeliverScheduled { mail_id: Uuid::from_u128(1) });
    refused_by(decide(&history, Actor::System, &deliver, "2026-11-26T17:59:59+09:00"), ErrorKind::Conflict, "E2");
    let delivered = MailboxEvent::MailSent { mail: to_internal(1, 1), sent_at: at(due), quota: None };
    assert_eq!(decide(&history, Actor::System, &deliver, due), Ok(vec![delivered.clone()]));
    history.push(delivered);
    // Firing again does nothing; cancelling is refused with a clear error.
    assert_eq!(decide(&history, Actor::System, &deliver, due), Ok(vec![]));
    let cancel = command(MailboxAction::CancelScheduled { mail_id: Uuid::from_u128(1) });
    let late = decide(&history, owner(), &cancel, "2026-11-26T17:00:00+09:00");
    assert!(matches!(&late, Err(e) if e.to_string().contains("already delivered")), "{late:?}");
    refused_by(late, ErrorKind::Conflict, "E2");
    // A user cannot deliver by hand.
    assert!(matches!(decide(&history, owner(), &deliver, due), Err(DomainError::Forbidden(_))));
}

fn recall(id: u128, recipients: Option<Vec<u128>>) -> MailboxCommand {
    command(MailboxAction::Recall {
        mail_id: Uuid::from_u128(id),
        recipients: recipients.map(|r| r.into_iter().map(|n| Uuid::from_u128(100 + n)).collect()),
    })
}

// rule E3: within 24 hours of sending, whether or not it was read.
#[test]
fn rule_e3_it_recalls_within_24_hours_and_refuses_after() {
    let mixed = mail(1, vec![internal(1), internal(2), external(1)]);
    let history = vec![sent(mixed, "2026-11-26T09:00:00+09:00", 3)];
    let all = MailboxEvent::MailRecalled {
        mail_id: Uuid::from_u128(1),
        recipients: vec![Uuid::from_u128(101), Uuid::from_u128(102)],
    };
    assert_eq!(decide(&history, owner(), &recall(1, None), "2026-11-27T08:59:59+09:00"), Ok(vec![all]));
    let late = decide(&history, owner(), &recall(1, None), "2026-11-27T09:00:01+09:00");
    assert!(matches!(&late, Err(e) if e.to_string().contains("24 hours")), "{late:?}");
    refused_by(late, ErrorKind::Conflict, "E3");
}

// rule E3: a mailbox keeps only the mails it can still recall, so its
// state stays small after years of mail; one let go is refused as too late.
#[test]
fn rule_e3_a_mailbox_keeps_only_the_mails_it_can_still_recall() {
    let mut history = vec![sent(to_internal(1, 1), "2026-11-26T09:00:00+09:00", 1)];
    history.push(sent(to_internal(2, 1), "2026-11-27T08:59:59+09:00", 2));
    let state = history.iter().fold(Mailbox::default(), Mailbox::evolve);
    assert_eq!(state.sent.len(), 2, "both inside the window of the newest");
    history.push(sent(to_internal(3, 1), "2026-11-27T09:00:01+09:00", 3));
    let state = history.iter().fold(Mailbox::default(), Mailbox::evolve);
    assert_eq!(state.sent.keys().copied().collect::<Vec<_>>(), [Uuid::from_u128(2), Uuid::from_u128(3)]);
    let late = decide(&history, owner(), &recall(1, None), "2026-11-27T09:00:02+09:00");
    assert!(matches!(&late, Err(e) if e.to_string().contains("24 hours")), "{late:?}");
    refused_by(late, ErrorKind::Conflict, "E3");
    let recalled = MailboxEvent::MailRecalled { mail_id: Uuid::from_u128(2), recipients: vec![Uuid::from_u128(100)] };
    assert_eq!(decide(&history, owner(), &recall(2, None), "2026-11-27T09:00:02+09:00"), Ok(vec![recalled]));
    // A month of mail, one a minute: what is kept is one day's.
    let start = at("2026-01-01T00:00:00Z");
    let month = (0..43_200).map(|minute| MailboxEvent::MailSent {
        mail: to_internal(1_000 + minute, 1),
        sent_at: start + Duration::minutes(i64::try_from(minute).unwrap()),
        quota: None,
    });
    let state = month.fold(Mailbox::default(), |state, event| state.evolve(&event));
    assert_eq!(state.sent.len(), 24 * 60 + 1);
}

// rule E3: per recipient; external recipients are not recallable.
#[test]
fn rule_e3_it_recalls_from_one_recipient_and_then_from_the_rest() {
    let mut history = vec![sent(mail(1, vec![internal(1), internal(2), external(1)]), "2026-11-26T09:00:00+09:00", 3)];
    let one = MailboxEvent::MailRecalled { mail_id: Uuid::from_u128(1), recipients: vec![Uuid::from_u128(101)] };
    assert_eq!(
        decide(&history, owner(), &recall(1, Some(vec![1])), "2026-11-26T10:00:00+09:00"),
        Ok(vec![one.clone()])
    );
    history.push(one);
    let rest = MailboxEvent::MailRecalled { mail_id: Uuid::from_u128(1), recipients: vec![Uuid::from_u128(102)] };
    assert_eq!(decide(&history, owner(), &recall(1, None), "2026-11-26T10:00:00+09:00"), Ok(vec![rest.clone()]));
    history.push(rest);
    assert_eq!(decide(&history, owner(), &recall(1, None), "2026-11-26T10:00:00+09:00"), Ok(vec![]));
    refused_by(
        decide(&history, owner(), &recall(1, Some(vec![9])), "2026-11-26T10:00:00+09:00"),
        ErrorKind::Validation,
        "E3",
    );
}

// rule E3: only the sender recalls; another user's mail is unknown here.
#[test]
fn rule_e3_it_refuses_to_recall_a_mail_it_did_not_send() {
    given::<Mailbox>(vec![])
        .when(owner(), recall(1, None))
        .then_refused(DomainError::NotFound(format!("sent mail {}", Uuid::from_u128(1))));
    let history = vec![sent(to_internal(1, 1), "2026-11-26T09:00:00+09:00", 1)];
    assert!(matches!(
        decide(&history, Actor::User(OTHER), &recall(1, None), "2026-11-26T10:00:00+09:00"),
        Err(DomainError::Forbidden(_))
    ));
}

fn forwarding(count: u128, admin_only: bool) -> Forwarding {
    Forwarding {
        from: Some(address("owner@example.com")),
        to: (0..count).map(external).collect(),
        keep_copy: true,
        admin_only,
    }
}

fn set_forwarding(f: Forwarding, by_admin: bool) -> MailboxCommand {
    command(MailboxAction::SetForwarding { forwarding: f, by_admin })
}

// rule E5
#[test]
fn rule_e5_it_forwards_to_20_addresses_and_refuses_21() {
    given::<Mailbox>(vec![])
        .when(owner(), set_forwarding(forwarding(20, false), false))
        .then(vec![MailboxEvent::ForwardingSet { forwarding: forwarding(20, false) }]);
    refused_with_limit(
        decide(&[], owner(), &set_forwarding(forwarding(21, false), false), "2026-11-26T09:00:00Z"),
        "E5",
    );
}

// rule E5: admin-only forwarding locks the user out.
#[test]
fn rule_e5_admin_only_forwarding_refuses_the_users_own_changes() {
    let history = vec![MailboxEvent::ForwardingSet { forwarding: forwarding(1, true) }];
    refused_by(
        decide(&history, owner(), &set_forwarding(forwarding(0, false), false), "2026-11-26T09:00:00Z"),
        ErrorKind::Forbidden,
        "E5",
    );
    assert!(
        decide(&history, Actor::User(ADMIN), &set_forwarding(forwarding(0, false), true), "2026-11-26T09:00:00Z")
            .is_ok()
    );
    assert!(
        decide(&[], Actor::User(OTHER), &set_forwarding(forwarding(1, false), false), "2026-11-26T09:00:00Z").is_err()
    );
}

// rule E5
#[test]
fn rule_e5_a_mailbox_does_not_forward_to_itself() {
    let mut to_self = forwarding(1, false);
    to_self.to.push(Recipient { address: address("owner@example.com"), kind: RecipientKind::To, user: Some(OWNER) });
    assert!(matches!(
        decide(&[], owner(), &set_forwarding(to_self, false), "2026-11-26T09:00:00Z"),
        Err(DomainError::Invalid { .. })
    ));
}

fn forward(mail_id: u128, root: u128) -> MailboxCommand {
    command(MailboxAction::Forward {
        mail_id: Uuid::from_u128(mail_id),
        source: Uuid::from_u128(root),
        root: Uuid::from_u128(root),
        content: Content::default(),
    })
}

// rule E5: a mail is not forwarded twice by the same user, so a loop ends.
#[test]
fn rule_e5_a_mail_is_forwarded_once_per_user() {
    let mut history = vec![MailboxEvent::ForwardingSet { forwarding: forwarding(2, false) }];
    let events = decide(&history, Actor::System, &forward(50, 5), "2026-11-26T09:00:00Z").unwrap();
    assert!(
        matches!(&events[..], [MailboxEvent::MailForwarded { mail, keep_copy: true, .. }] if mail.recipients.len() == 2)
    );
    history.extend(events);
    // The same mail coming back around (a copy with the same root) stops here.
    assert_eq!(decide(&history, Actor::System, &forward(51, 5), "2026-11-26T09:00:00Z"), Ok(vec![]));
    // Without forwarding, nothing is forwarded.
    assert_eq!(decide(&[], Actor::System, &forward(52, 6), "2026-11-26T09:00:00Z"), Ok(vec![]));
}

// rule E5: the guard against loops remembers a forwarded mail for a month,
// not for ever.
#[test]
fn rule_e5_the_forwarding_guard_forgets_a_mail_after_its_horizon() {
    let mut history = vec![MailboxEvent::ForwardingSet { forwarding: forwarding(1, false) }];
    history.extend(decide(&history, Actor::System, &forward(50, 5), "2026-11-01T09:00:00Z").unwrap());
    let later = decide(&history, Actor::System, &forward(60, 6), "2026-12-01T09:00:01Z").unwrap();
    history.extend(later);
    let state = history.iter().fold(Mailbox::default(), Mailbox::evolve);
    assert_eq!(state.forwarded.keys().copied().collect::<Vec<_>>(), [Uuid::from_u128(6)]);
    history.extend(decide(&history, Actor::System, &forward(61, 6), "2026-12-01T09:00:02Z").unwrap());
    let state = history.iter().fold(Mailbox::default(), Mailbox::evolve);
    assert_eq!(state.forwarded.len(), 1, "the same root inside the horizon is still refused");
}

fn folder(n: u128) -> Uuid {
    Uuid::from_u128(900 + n)
}

// rule E8
#[test]
fn rule_e8_user_folders_are_created_renamed_and_deleted_when_empty() {
    let create = command(MailboxAction::CreateFolder { folder_id: folder(1), name: " Projects ".into() });
    let created = MailboxEvent::FolderCreated { folder_id: folder(1), name: "Projects".into() };
    given::<Mailbox>(vec![]).when(owner(), create).then(vec![created.clone()]);
    let duplicate = command(MailboxAction::CreateFolder { folder_id: folder(2), name: "projects".into() });
    assert!(matches!(
        decide(std::slice::from_ref(&created), owner(), &duplicate, "2026-11-26T09:00:00Z"),
        Err(DomainError::Conflict(_))
    ));
    let rename = command(MailboxAction::RenameFolder { folder_id: folder(1), name: "Archive".into() });
    given::<Mailbox>(vec![created.clone()])
        .when(owner(), rename)
        .then(vec![MailboxEvent::FolderRenamed { folder_id: folder(1), name: "Archive".into() }]);
    let full = command(MailboxAction::DeleteFolder { folder_id: folder(1), mail_count: 1 });
    assert!(matches!(
        decide(std::slice::from_ref(&created), owner(), &full, "2026-11-26T09:00:00Z"),
        Err(DomainError::Conflict(_))
    ));
    let empty = command(MailboxAction::DeleteFolder { folder_id: folder(1), mail_count: 0 });
    given::<Mailbox>(vec![created])
        .when(owner(), empty)
        .then(vec![MailboxEvent::FolderDeleted { folder_id: folder(1) }]);
}

// rule E8
#[test]
fn rule_e8_mail_moves_only_into_folders_that_take_it() {
    let ids = vec![Uuid::from_u128(1)];
    let into = |to| command(MailboxAction::Move { mail_ids: ids.clone(), to });
    assert!(decide(&[], owner(), &into(Folder::Trash), "2026-11-26T09:00:00Z").is_ok());
    refused_by(decide(&[], owner(), &into(Folder::Drafts), "2026-11-26T09:00:00Z"), ErrorKind::Validation, "E8");
    // Another user's folder is not one of this mailbox's.
    assert!(matches!(
        decide(&[], owner(), &into(Folder::User(folder(7))), "2026-11-26T09:00:00Z"),
        Err(DomainError::NotFound(_))
    ));
    let none = command(MailboxAction::Move { mail_ids: vec![], to: Folder::Trash });
    assert!(matches!(decide(&[], owner(), &none, "2026-11-26T09:00:00Z"), Err(DomainError::Invalid { .. })));
}

// rule E8: a draft and a scheduled mail stay in their folders; the mail
// beside them moves.
#[test]
fn rule_e8_drafts_and_scheduled_mail_do_not_move() {
    let saved = MailboxEvent::DraftSaved { draft_id: Uuid::from_u128(1), draft: Draft::default() };
    let now = "2026-11-26T09:00:00+09:00";
    let waiting = scheduled(to_internal(2, 1), "2026-11-27T09:00:00+09:00", now, 1);
    let history = vec![saved, waiting, sent(to_internal(3, 1), now, 2)];
    let moving = |ids: &[u128]| {
        command(MailboxAction::Move { mail_ids: ids.iter().map(|i| Uuid::from_u128(*i)).collect(), to: Folder::Trash })
    };
    for refused in [&[1][..], &[2], &[3, 1], &[3, 2]] {
        given::<Mailbox>(history.clone())
            .when(owner(), moving(refused))
            .then_refused_as(ErrorKind::Validation, Some("ids"));
        refused_by(decide(&history, owner(), &moving(refused), now), ErrorKind::Validation, "E8");
    }
    given::<Mailbox>(history)
        .when(owner(), moving(&[3, 4]))
        .then(vec![MailboxEvent::Moved { mail_ids: vec![Uuid::from_u128(3), Uuid::from_u128(4)], to: Folder::Trash }]);
}

// rule E8: a cancelled scheduled mail is a draft, and stays one.
#[test]
fn rule_e8_a_cancelled_scheduled_mail_does_not_move_either() {
    let now = "2026-11-26T09:00:00+09:00";
    let waiting = scheduled(to_internal(2, 1), "2026-11-27T09:00:00+09:00", now, 1);
    let cancelled =
        MailboxEvent::ScheduleCancelled { mail_id: Uuid::from_u128(2), draft: as_draft(&to_internal(2, 1)) };
    given::<Mailbox>(vec![waiting, cancelled])
        .when(owner(), command(MailboxAction::Move { mail_ids: vec![Uuid::from_u128(2)], to: Folder::Inbox }))
        .then_refused_as(ErrorKind::Validation, Some("ids"));
}

// rule E1: the notice names the limit, the day and its one-time token.
#[test]
fn rule_e1_the_quota_notice_carries_its_reset_token() {
    let token = Uuid::from_u128(7);
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let text = quota_notice_text(token, day);
    assert!(text.contains(&format!("token={token}")), "{text}");
    assert!(text.contains("2026-11-26") && text.contains(&DAILY_DELIVERIES.to_string()), "{text}");
}

// rule E8: drafts are saved, replaced, sent and deleted.
#[test]
fn rule_e8_a_draft_is_saved_and_sending_it_removes_it() {
    let draft = Draft { to: vec![address("a@example.com")], ..Draft::default() };
    let saved = MailboxEvent::DraftSaved { draft_id: Uuid::from_u128(1), draft: draft.clone() };
    let mut from_draft = to_internal(2, 1);
    from_draft.draft_id = Some(Uuid::from_u128(1));
    let now = "2026-11-26T09:00:00+09:00";
    let state = [saved.clone(), sent(from_draft.clone(), now, 1)].iter().fold(Mailbox::default(), Mailbox::evolve);
    assert!(state.drafts.is_empty());
    // Sending a draft that does not exist is refused.
    assert!(matches!(decide(&[], owner(), &send(from_draft), now), Err(DomainError::NotFound(_))));
    let delete = command(MailboxAction::DeleteDraft { draft_id: Uuid::from_u128(1) });
    given::<Mailbox>(vec![saved])
        .when(owner(), delete.clone())
        .then(vec![MailboxEvent::DraftDeleted { draft_id: Uuid::from_u128(1) }]);
    assert!(matches!(decide(&[], owner(), &delete, now), Err(DomainError::NotFound(_))));
}

#[test]
fn a_mailbox_is_only_its_owners() {
    let actions =
        [send(to_internal(1, 1)), command(MailboxAction::MarkRead { mail_id: Uuid::from_u128(1), read: true })];
    for action in actions {
        assert!(matches!(
            decide(&[], Actor::User(OTHER), &action, "2026-11-26T09:00:00Z"),
            Err(DomainError::Forbidden(_))
        ));
        assert!(matches!(
            decide(&[], Actor::Anonymous, &action, "2026-11-26T09:00:00Z"),
            Err(DomainError::Unauthenticated(_))
        ));
    }
}

#[test]
fn events_keep_their_stored_names() {
    let event = MailboxEvent::MailRecalled { mail_id: Uuid::from_u128(1), recipients: vec![] };
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json["type"], event.event_type());
    assert_eq!(serde_json::from_value::<MailboxEvent>(json).unwrap(), event);
}

// rule U1
#[test]
fn rule_u1_a_mailbox_is_sealed_with_its_owners_key_but_mail_to_colleagues_with_the_companys() {
    assert_eq!(Mailbox::SEALING, Sealing::Owner);
    let alone = [
        sent(mail(1, vec![external(1)]), "2026-11-26T09:00:00+09:00", 1),
        MailboxEvent::NoticeDelivered { notice_id: Uuid::from_u128(2), subject: "s".into(), text: "t".into() },
        MailboxEvent::FolderCreated { folder_id: Uuid::from_u128(3), name: "plans".into() },
    ];
    for event in alone {
        assert_eq!(event.sealing(OWNER), None, "{event:?} is the owner's alone");
    }
    let shared = sent(mail(4, vec![external(1), internal(2)]), "2026-11-26T09:00:00+09:00", 2);
    assert_eq!(shared.sealing(OWNER), Some(Sealing::CompanyMail), "colleagues keep their copies of it");
    let to_self = mail(6, vec![Recipient { user: Some(OWNER), ..internal(1) }, external(2)]);
    assert_eq!(sent(to_self, "2026-11-26T09:00:00+09:00", 2).sealing(OWNER), None, "a mail to oneself is one's own");
    let recalled = MailboxEvent::MailRecalled { mail_id: Uuid::from_u128(4), recipients: vec![Uuid::from_u128(102)] };
    assert_eq!(recalled.sealing(OWNER), Some(Sealing::CompanyMail), "it takes the colleagues' copies back");
    let forwarded = MailboxEvent::MailForwarded {
        mail: to_internal(5, 1),
        source: Uuid::from_u128(4),
        root: Uuid::from_u128(4),
        keep_copy: true,
        sent_at: at("2026-11-26T09:00:00+09:00"),
    };
    assert_eq!(forwarded.sealing(OWNER), Some(Sealing::CompanyMail));
}
