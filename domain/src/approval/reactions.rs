//! What approval events cause elsewhere (see [`crate::reaction`]):
//!
//! - A completed document gets its number: the next of its company's year
//!   ([`AssignNumber::for_document`]); the number given is then recorded
//!   on the document.
//! - A recalled document sends a notice to everyone on its line (rule A7).

use uuid::Uuid;

use super::numbering::NumberBasis;
use super::numbering::NumberingEvent;
use super::{ApprovalSetup, AssignNumber, Document, DocumentAction, DocumentCommand, DocumentEvent, DocumentNumbers};
use crate::mail::{Mailbox, MailboxAction, MailboxCommand};
use crate::reaction::{Cause, FollowUp};
use crate::tenant::Tenant;

/// The subject of the notice a recall sends (rule A7).
pub const RECALL_NOTICE_SUBJECT: &str = "An approval document was recalled";

/// The text of the notice a recall sends (rule A7).
pub fn recall_notice(document: Uuid, by: Uuid, reason: &str) -> String {
    format!(
        "Approval document {document} was recalled by its drafter ({by}). Reason: {reason}. \
         It has left your boxes; the drafter may submit it again."
    )
}

/// The follow-ups of an event of the document `cause.stream_id`.
pub fn on_document(cause: &Cause, event: &DocumentEvent) -> Vec<FollowUp> {
    let document = cause.stream_id;
    match event {
        DocumentEvent::Completed { at } => {
            let (Some(tenant), completed_at) = (cause.tenant, *at) else { return Vec::new() };
            vec![FollowUp::after_reading::<Document>(document, move |state| {
                if state.number.is_some() {
                    return Vec::new();
                }
                vec![FollowUp::after_reading::<Tenant>(tenant, move |company| {
                    let basis = NumberBasis::of(company, completed_at);
                    vec![FollowUp::after_reading::<ApprovalSetup>(tenant, move |setup| {
                        let assign = AssignNumber::for_document(document, &basis, setup);
                        let numbers = DocumentNumbers::id(tenant, assign.year);
                        // The command id makes one document take one number.
                        vec![FollowUp::command::<DocumentNumbers>(
                            numbers,
                            Uuid::new_v5(&document, b"assign-number"),
                            assign,
                        )]
                    })]
                })]
            })]
        }
        DocumentEvent::Recalled { by, reason, notify, .. } => notify
            .iter()
            .map(|&user| {
                let notice_id = Uuid::new_v5(&cause.event_id, user.as_bytes());
                let action = MailboxAction::DeliverNotice {
                    notice_id,
                    subject: RECALL_NOTICE_SUBJECT.into(),
                    text: recall_notice(document, *by, reason),
                };
                FollowUp::command::<Mailbox>(
                    user,
                    Uuid::new_v5(&notice_id, b"notice"),
                    MailboxCommand { owner: user, action },
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A number given is recorded on its document.
pub fn on_numbering(_cause: &Cause, event: &NumberingEvent) -> Vec<FollowUp> {
    let NumberingEvent::Assigned { document_id, number, .. } = event;
    let record = DocumentCommand { by: Uuid::nil(), action: DocumentAction::RecordNumber { number: number.clone() } };
    vec![FollowUp::command::<Document>(*document_id, Uuid::new_v5(document_id, b"record-number"), record)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reaction::Read;
    use crate::testing::at;
    use crate::values::{DomainName, TimeZone};

    const TENANT: Uuid = Uuid::from_u128(9);
    const DOCUMENT: Uuid = Uuid::from_u128(7);

    fn cause() -> Cause {
        Cause {
            event_id: Uuid::from_u128(99),
            stream_id: DOCUMENT,
            tenant: Some(TENANT),
            recorded_at: at("2026-12-31T15:00:00Z"),
        }
    }

    fn read(follow_up: FollowUp) -> Read {
        match follow_up {
            FollowUp::Read(read) => read,
            FollowUp::Issue(_) => panic!("a read, not {follow_up:?}"),
        }
    }

    fn company() -> Tenant {
        Tenant {
            domain: Some(DomainName::parse("acme.co.kr").unwrap()),
            time_zone: TimeZone::parse("Asia/Seoul").unwrap(),
            ..Tenant::default()
        }
    }

    /// The number request of a document completed at `completed_at`.
    fn number_request(completed_at: &str, setup: &ApprovalSetup) -> (Uuid, Uuid, AssignNumber) {
        let completed = DocumentEvent::Completed { at: at(completed_at) };
        let document = read(on_document(&cause(), &completed).remove(0));
        let tenant = read(document.then_with(&Document::default()).remove(0));
        let setup_read = read(tenant.then_with(&company()).remove(0));
        let assign = setup_read.then_with(setup);
        let (numbers, command_id, command) = assign[0].as_command::<DocumentNumbers>().expect("a number request");
        (numbers, command_id, command.clone())
    }

    #[test]
    fn a_completed_document_asks_for_the_number_of_its_year_in_the_company_zone_with_its_prefix() {
        // 2027-01-01 00:00 in Seoul is still 2026 in UTC.
        let (numbers, command_id, assign) = number_request("2026-12-31T15:00:00Z", &ApprovalSetup::default());
        assert_eq!(assign, AssignNumber { document_id: DOCUMENT, prefix: "ACME".into(), year: 2027 });
        assert_eq!(numbers, DocumentNumbers::id(TENANT, 2027));
        assert_eq!(command_id, Uuid::new_v5(&DOCUMENT, b"assign-number"));
        let (_, _, assign) = number_request("2026-12-31T14:59:59Z", &ApprovalSetup::default());
        assert_eq!(assign.year, 2026);

        let mut setup = ApprovalSetup::default();
        setup.settings.number_prefix = Some("HQ".into());
        assert_eq!(number_request("2026-12-31T15:00:00Z", &setup).2.prefix, "HQ");
    }

    #[test]
    fn a_numbered_document_asks_for_no_other_and_a_number_given_is_recorded_on_it() {
        let completed = DocumentEvent::Completed { at: at("2026-11-28T09:00:00+09:00") };
        let document = read(on_document(&cause(), &completed).remove(0));
        let numbered = Document { number: Some("ACME-2026-00001".into()), ..Document::default() };
        assert!(document.then_with(&numbered).is_empty());

        let given = NumberingEvent::Assigned { document_id: DOCUMENT, sequence: 1, number: "ACME-2026-00001".into() };
        let record = on_numbering(&cause(), &given);
        let (document, command_id, command) = record[0].as_command::<Document>().expect("a record");
        assert_eq!((document, command_id), (DOCUMENT, Uuid::new_v5(&DOCUMENT, b"record-number")));
        assert!(matches!(&command.action, DocumentAction::RecordNumber { number } if number == "ACME-2026-00001"));
    }

    #[test]
    fn rule_a7_a_recall_sends_everyone_on_the_line_a_notice_once() {
        let (by, first, second) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let recalled = DocumentEvent::Recalled {
            by,
            reason: "wrong amount".into(),
            notify: vec![first, second],
            at: at("2026-11-28T09:00:00+09:00"),
        };
        let notices = on_document(&cause(), &recalled);
        let sent: Vec<_> = notices.iter().filter_map(|n| n.as_command::<Mailbox>()).collect();
        assert_eq!(sent.iter().map(|(user, _, _)| *user).collect::<Vec<_>>(), vec![first, second]);
        for (user, command_id, command) in sent {
            let notice_id = Uuid::new_v5(&cause().event_id, user.as_bytes());
            assert_eq!(command_id, Uuid::new_v5(&notice_id, b"notice"));
            let MailboxAction::DeliverNotice { notice_id: id, subject, text } = &command.action else { panic!() };
            assert_eq!((*id, subject.as_str()), (notice_id, RECALL_NOTICE_SUBJECT));
            assert!(text.contains("wrong amount"), "{text}");
        }
    }
}
