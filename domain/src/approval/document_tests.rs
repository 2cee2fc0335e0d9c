//! Rules A1–A7 on one document, with each action in each place of the line.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::testing::{at, given};
use crate::{Actor, Aggregate, DomainError, ErrorKind};

const DRAFTER: Uuid = Uuid::from_u128(1);
const FIRST: Uuid = Uuid::from_u128(11);
const MIDDLE: Uuid = Uuid::from_u128(12);
const LAST: Uuid = Uuid::from_u128(13);
const AGREER_A: Uuid = Uuid::from_u128(21);
const AGREER_B: Uuid = Uuid::from_u128(22);
const READER: Uuid = Uuid::from_u128(31);
const CIRCULATION: Uuid = Uuid::from_u128(32);
const REFERENCE: Uuid = Uuid::from_u128(33);
const RECEIVER: Uuid = Uuid::from_u128(41);
const DELEGATE: Uuid = Uuid::from_u128(51);
const STRANGER: Uuid = Uuid::from_u128(99);
const DEPARTMENT: Uuid = Uuid::from_u128(1001);
const RECEIVING_DEPARTMENT: Uuid = Uuid::from_u128(1002);

fn form(public: bool, leave: bool) -> Form {
    let mut fields =
        vec![FormField { key: "body".into(), label: "Body".into(), kind: FieldKind::Text, required: true }];
    if leave {
        fields.push(FormField { key: "days".into(), label: "Days".into(), kind: FieldKind::Number, required: true });
    }
    Form {
        id: Uuid::from_u128(500),
        spec: FormSpec {
            name: if leave { "Leave request" } else { "Report" }.into(),
            abbreviation: if leave { "LV" } else { "RP" }.into(),
            fields,
            default_approvers: vec![],
            public,
            leave_request: leave,
        },
    }
}

fn fields(leave: bool) -> BTreeMap<String, serde_json::Value> {
    let mut values = BTreeMap::from([("body".to_owned(), json!("Please approve"))]);
    if leave {
        values.insert("days".into(), json!(1.5));
    }
    values
}

fn three_approvers() -> LineInput {
    LineInput { approvers: vec![FIRST, MIDDLE, LAST], ..LineInput::default() }
}

fn draft(line: LineInput) -> Draft {
    Draft { form: form(true, false), title: "Quarterly report".into(), fields: fields(false), line }
}

fn submitted_with(form: Form, line: LineInput, flow: Flow) -> DocumentEvent {
    let values = fields(form.spec.leave_request);
    DocumentEvent::Submitted {
        drafter: DRAFTER,
        department: Some(DEPARTMENT),
        form,
        title: "Quarterly report".into(),
        fields: values,
        line: Line::new(&line, flow),
        agreers_may_reject: true,
        version: 1,
        at: at("2026-11-26T09:00:00+09:00"),
    }
}

fn submitted(line: LineInput) -> DocumentEvent {
    submitted_with(form(true, false), line, Flow::Sequential)
}

fn cmd(by: Uuid, action: DocumentAction) -> DocumentCommand {
    DocumentCommand { by, action }
}

fn approve(by: Uuid) -> DocumentCommand {
    cmd(by, DocumentAction::Approve { comment: None, on_behalf: None })
}

fn approved(user: Uuid) -> DocumentEvent {
    DocumentEvent::Approved { approver: user, by: user, comment: None, at: now() }
}

fn now() -> chrono::DateTime<chrono::Utc> {
    at("2026-11-26T09:00:00+09:00")
}

fn completed() -> DocumentEvent {
    DocumentEvent::Completed { at: now() }
}

fn state(events: &[DocumentEvent]) -> Document {
    events.iter().fold(Document::default(), Document::evolve)
}

/// The kind of refusal and the rule that refuses (none for refusals no
/// rule makes), for refusals whose wording is not the point.
#[track_caller]
fn refused(events: Vec<DocumentEvent>, actor: Uuid, command: DocumentCommand, kind: ErrorKind, rule: Option<&str>) {
    let document = state(&events);
    let result = document.authorize(&Actor::User(actor), &command).and_then(|()| document.decide(&command, now()));
    match result {
        Err(e) => assert_eq!((e.kind(), e.rule()), (kind, rule), "{e}"),
        Ok(events) => panic!("expected a {kind:?} refusal, got {events:?}"),
    }
}

// A1: submission with a line.

#[test]
fn rule_a1_a_drafter_submits_a_document_with_its_line() {
    let settings = ApprovalSettings::default();
    given::<Document>(vec![])
        .when(
            Actor::User(DRAFTER),
            cmd(
                DRAFTER,
                DocumentAction::Submit {
                    draft: draft(three_approvers()),
                    department: Some(DEPARTMENT),
                    settings,
                    submission: None,
                },
            ),
        )
        .then(vec![submitted(three_approvers())]);
}

#[test]
fn rule_a1_a_line_needs_an_approver_and_nobody_twice_and_not_the_drafter() {
    let settings = ApprovalSettings::default();
    // Someone twice is a malformed line; no approver, or the drafter on it,
    // is what rule A1 refuses.
    let lines = [
        (LineInput::default(), Some("A1")),
        (LineInput { approvers: vec![FIRST, FIRST], ..LineInput::default() }, None),
        (LineInput { approvers: vec![FIRST], agreers: vec![FIRST], ..LineInput::default() }, None),
        (LineInput { approvers: vec![DRAFTER], ..LineInput::default() }, Some("A1")),
    ];
    for (line, rule) in lines {
        let submit = DocumentAction::Submit {
            draft: draft(line),
            department: None,
            settings: settings.clone(),
            submission: None,
        };
        refused(vec![], DRAFTER, cmd(DRAFTER, submit), ErrorKind::Validation, rule);
    }
}

#[test]
fn rule_a1_a_submission_checks_the_form_fields() {
    let mut incomplete = draft(three_approvers());
    incomplete.fields.clear();
    let submit = DocumentAction::Submit {
        draft: incomplete.clone(),
        department: None,
        settings: ApprovalSettings::default(),
        submission: None,
    };
    refused(vec![], DRAFTER, cmd(DRAFTER, submit), ErrorKind::Validation, None);
    // A draft may be incomplete.
    let save = DocumentAction::SaveDraft { draft: incomplete, department: None };
    assert!(state(&[]).decide(&cmd(DRAFTER, save), now()).is_ok());
}

#[test]
fn rule_a9_a_document_keeps_the_form_it_was_drafted_from() {
    let document = state(&[submitted(three_approvers())]);
    assert_eq!(document.form, Some(form(true, false)));
}

// A3: approve at one's turn, in each place.

#[test]
fn rule_a3_approvers_approve_in_order_and_the_last_completes() {
    given::<Document>(vec![submitted(three_approvers())])
        .when(Actor::User(FIRST), approve(FIRST))
        .then(vec![approved(FIRST)]);
    given::<Document>(vec![submitted(three_approvers()), approved(FIRST)])
        .when(Actor::User(MIDDLE), approve(MIDDLE))
        .then(vec![approved(MIDDLE)]);
    given::<Document>(vec![submitted(three_approvers()), approved(FIRST), approved(MIDDLE)])
        .when(Actor::User(LAST), approve(LAST))
        .then(vec![approved(LAST), completed()]);
}

#[test]
fn rule_a3_approving_out_of_turn_or_twice_or_not_on_the_line_is_refused() {
    refused(vec![submitted(three_approvers())], MIDDLE, approve(MIDDLE), ErrorKind::Conflict, Some("A3"));
    refused(vec![submitted(three_approvers())], LAST, approve(LAST), ErrorKind::Conflict, Some("A3"));
    refused(
        vec![submitted(three_approvers()), approved(FIRST)],
        FIRST,
        approve(FIRST),
        ErrorKind::Conflict,
        Some("A3"),
    );
    refused(vec![submitted(three_approvers())], STRANGER, approve(STRANGER), ErrorKind::Forbidden, Some("A3"));
    // Nobody acts in somebody else's name.
    refused(vec![submitted(three_approvers())], STRANGER, approve(FIRST), ErrorKind::Forbidden, None);
}

#[test]
fn rule_a3_a_completed_document_takes_no_more_approvals() {
    let events = vec![submitted(three_approvers()), approved(FIRST), approved(MIDDLE), approved(LAST), completed()];
    refused(events, LAST, approve(LAST), ErrorKind::Conflict, Some("A3"));
}

// A3: reject (반려) in each place.

#[test]
fn rule_a3_reject_at_each_place_returns_the_document_to_the_drafter() {
    let history = [vec![], vec![approved(FIRST)], vec![approved(FIRST), approved(MIDDLE)]];
    for (approver, before) in [FIRST, MIDDLE, LAST].into_iter().zip(history) {
        let mut events = vec![submitted(three_approvers())];
        events.extend(before);
        let reject =
            cmd(approver, DocumentAction::Reject { comment: Some("  Redo the figures ".into()), on_behalf: None });
        let rejected =
            DocumentEvent::Rejected { approver, by: approver, comment: Some("Redo the figures".into()), at: now() };
        given::<Document>(events.clone()).when(Actor::User(approver), reject).then(vec![rejected.clone()]);
        events.push(rejected);
        let document = state(&events);
        assert_eq!(document.status, Some(Status::Rejected));
        assert!(document.placements().contains(&(Owner::User(DRAFTER), DocBox::Rejected)));
    }
}

#[test]
fn rule_a3_a_rejected_document_is_resubmitted_as_a_new_version() {
    let rejected = DocumentEvent::Rejected { approver: FIRST, by: FIRST, comment: None, at: now() };
    let events = vec![submitted(three_approvers()), rejected];
    let submit = |submission| DocumentAction::Submit {
        draft: draft(three_approvers()),
        department: None,
        settings: ApprovalSettings::default(),
        submission,
    };
    // Rule H6: a submission that names another version than the next one
    // (the one a leave reservation was made for) is refused.
    assert_eq!(state(&events).next_submission(), 2);
    assert_eq!(state(&events).ended_submissions(), 1);
    assert_eq!(
        state(&events).decide(&cmd(DRAFTER, submit(Some(1))), now()).map_err(|e| e.kind()),
        Err(crate::ErrorKind::Conflict)
    );
    let result = state(&events).decide(&cmd(DRAFTER, submit(Some(2))), now()).expect("resubmitted");
    assert!(matches!(result[0], DocumentEvent::Submitted { version: 2, .. }));
    let document = state(&[events, result].concat());
    assert_eq!(document.status, Some(Status::InProgress));
    assert_eq!(document.line.current_approver(), Some(0));
    assert_eq!(document.ended_submissions(), 1);
}

// Hold (보류).

#[test]
fn rule_a3_hold_keeps_the_document_with_the_approver_who_may_then_approve() {
    let held = DocumentEvent::Held { approver: MIDDLE, comment: Some("Waiting for figures".into()), at: now() };
    let events = vec![submitted(three_approvers()), approved(FIRST)];
    given::<Document>(events.clone())
        .when(Actor::User(MIDDLE), cmd(MIDDLE, DocumentAction::Hold { comment: Some("Waiting for figures".into()) }))
        .then(vec![held.clone()]);
    let with_hold = [events, vec![held]].concat();
    let document = state(&with_hold);
    assert_eq!(document.status, Some(Status::InProgress));
    assert!(document.placements().contains(&(Owner::User(MIDDLE), DocBox::Pending)));
    refused(
        with_hold.clone(),
        MIDDLE,
        cmd(MIDDLE, DocumentAction::Hold { comment: None }),
        ErrorKind::Conflict,
        Some("A3"),
    );
    given::<Document>(with_hold).when(Actor::User(MIDDLE), approve(MIDDLE)).then(vec![approved(MIDDLE)]);
}

// 전결 in each place.

#[test]
fn rule_a3_final_approval_completes_at_once_and_the_skipped_slots_read_final() {
    let cases = [(FIRST, vec![], vec![MIDDLE, LAST]), (MIDDLE, vec![approved(FIRST)], vec![LAST])];
    for (approver, before, skipped) in cases {
        let events = [vec![submitted(three_approvers())], before].concat();
        let final_approval =
            DocumentEvent::ApprovedFinal { approver, by: approver, comment: None, skipped: skipped.clone(), at: now() };
        given::<Document>(events.clone())
            .when(Actor::User(approver), cmd(approver, DocumentAction::ApproveFinal { comment: None, on_behalf: None }))
            .then(vec![final_approval.clone(), completed()]);
        let document = state(&[events, vec![final_approval, completed()]].concat());
        assert_eq!(document.status, Some(Status::Completed));
        for user in skipped {
            let slot = &document.line.approvers[document.line.approver(user).unwrap()];
            assert_eq!(slot.state, SlotState::Skipped);
        }
    }
    // At the last place 전결 is an ordinary completion.
    let events = vec![submitted(three_approvers()), approved(FIRST), approved(MIDDLE)];
    given::<Document>(events)
        .when(Actor::User(LAST), cmd(LAST, DocumentAction::ApproveFinal { comment: None, on_behalf: None }))
        .then(vec![
            DocumentEvent::ApprovedFinal { approver: LAST, by: LAST, comment: None, skipped: vec![], at: now() },
            completed(),
        ]);
}

#[test]
fn rule_a3_final_approval_out_of_turn_is_refused() {
    let action = DocumentAction::ApproveFinal { comment: None, on_behalf: None };
    refused(vec![submitted(three_approvers())], LAST, cmd(LAST, action), ErrorKind::Conflict, Some("A3"));
}

// 선결 in each place.

#[test]
fn rule_a3_approving_ahead_turns_earlier_approvers_into_post_reviewers() {
    let ahead = |approver, passed_over: Vec<Uuid>| DocumentEvent::ApprovedAhead {
        approver,
        comment: None,
        passed_over,
        at: now(),
    };
    let act = |by| cmd(by, DocumentAction::ApproveAhead { comment: None });
    // The middle approver acts before the first: the first becomes 후열.
    given::<Document>(vec![submitted(three_approvers())])
        .when(Actor::User(MIDDLE), act(MIDDLE))
        .then(vec![ahead(MIDDLE, vec![FIRST])]);
    // The last approver acts before both: the document completes.
    given::<Document>(vec![submitted(three_approvers())])
        .when(Actor::User(LAST), act(LAST))
        .then(vec![ahead(LAST, vec![FIRST, MIDDLE]), completed()]);
    let document = state(&[submitted(three_approvers()), ahead(MIDDLE, vec![FIRST])]);
    assert_eq!(document.line.current_approver(), Some(2));
    assert!(document.placements().contains(&(Owner::User(FIRST), DocBox::PostReview)));
    assert!(document.placements().contains(&(Owner::User(LAST), DocBox::Pending)));
    // The first approver cannot approve any more; they confirm.
    let passed = vec![submitted(three_approvers()), ahead(MIDDLE, vec![FIRST])];
    refused(passed.clone(), FIRST, approve(FIRST), ErrorKind::Conflict, Some("A3"));
    let confirmed = DocumentEvent::ReviewConfirmed { approver: FIRST, comment: None, at: now() };
    given::<Document>(passed.clone())
        .when(Actor::User(FIRST), cmd(FIRST, DocumentAction::ConfirmReview { comment: None }))
        .then(vec![confirmed.clone()]);
    // A confirmation is final: it cannot be given twice.
    refused(
        [passed, vec![confirmed]].concat(),
        FIRST,
        cmd(FIRST, DocumentAction::ConfirmReview { comment: None }),
        ErrorKind::Conflict,
        Some("A3"),
    );
}

#[test]
fn rule_a3_approving_ahead_needs_a_later_place_on_the_line() {
    let act = |by| cmd(by, DocumentAction::ApproveAhead { comment: None });
    // At one's own turn it is a plain approval.
    refused(vec![submitted(three_approvers())], FIRST, act(FIRST), ErrorKind::Conflict, Some("A3"));
    refused(vec![submitted(three_approvers())], STRANGER, act(STRANGER), ErrorKind::Forbidden, Some("A3"));
    // A drafter or a reader has no 선결 rights.
    let line = LineInput { readers: vec![READER], ..three_approvers() };
    refused(vec![submitted(line)], READER, act(READER), ErrorKind::Forbidden, Some("A3"));
}

// 대결 (rule A4).

fn absence_of(approver: Uuid) -> OnBehalf {
    let mut absences = Absences::default();
    absences.absences.insert(
        Uuid::from_u128(700),
        Absence {
            from: at("2026-11-26T00:00:00+09:00"),
            to: at("2026-11-28T00:00:00+09:00"),
            reason: "Business trip".into(),
            delegate: DELEGATE,
        },
    );
    OnBehalf { approver, absences }
}

#[test]
fn rule_a4_a_delegate_approves_for_an_absent_approver_who_then_gets_a_post_review() {
    let action = DocumentAction::Approve { comment: None, on_behalf: Some(absence_of(FIRST)) };
    let delegated = DocumentEvent::Approved { approver: FIRST, by: DELEGATE, comment: None, at: now() };
    given::<Document>(vec![submitted(three_approvers())])
        .when(Actor::User(DELEGATE), cmd(DELEGATE, action))
        .then(vec![delegated.clone()]);
    let document = state(&[submitted(three_approvers()), delegated]);
    let slot = &document.line.approvers[0];
    assert_eq!(slot.state, SlotState::Approved { by: DELEGATE, at: now() });
    assert_eq!(slot.review, Review::Pending);
    assert!(document.placements().contains(&(Owner::User(FIRST), DocBox::PostReview)));
    assert!(document.placements().contains(&(Owner::User(DELEGATE), DocBox::InProgress)));
    assert!(document.access().users.contains(&DELEGATE));
}

#[test]
fn rule_a4_a_delegate_acts_only_within_the_absence() {
    let document = state(&[submitted(three_approvers())]);
    let action = || cmd(DELEGATE, DocumentAction::Approve { comment: None, on_behalf: Some(absence_of(FIRST)) });
    // The last instant before the absence, and its end (exclusive).
    for moment in ["2026-11-25T23:59:59+09:00", "2026-11-28T00:00:00+09:00"] {
        let result = document.decide(&action(), at(moment));
        assert_eq!(result.map_err(|e| (e.kind(), e.rule())), Err((ErrorKind::Forbidden, Some("A4"))), "at {moment}");
    }
    assert!(document.decide(&action(), at("2026-11-27T23:59:59+09:00")).is_ok());
    // Somebody else is not the delegate.
    let other = cmd(STRANGER, DocumentAction::Approve { comment: None, on_behalf: Some(absence_of(FIRST)) });
    assert_eq!(
        document.decide(&other, now()).map_err(|e| (e.kind(), e.rule())),
        Err((ErrorKind::Forbidden, Some("A4")))
    );
    // 대결 follows the absent approver's turn.
    let early = cmd(DELEGATE, DocumentAction::Approve { comment: None, on_behalf: Some(absence_of(MIDDLE)) });
    assert_eq!(
        document.decide(&early, now()).map_err(|e| (e.kind(), e.rule())),
        Err((ErrorKind::Conflict, Some("A3")))
    );
}

#[test]
fn rule_a4_a_delegate_may_reject_or_approve_finally() {
    let document = state(&[submitted(three_approvers())]);
    let reject = cmd(DELEGATE, DocumentAction::Reject { comment: None, on_behalf: Some(absence_of(FIRST)) });
    assert_eq!(
        document.decide(&reject, now()),
        Ok(vec![DocumentEvent::Rejected { approver: FIRST, by: DELEGATE, comment: None, at: now() }])
    );
    let final_approval =
        cmd(DELEGATE, DocumentAction::ApproveFinal { comment: None, on_behalf: Some(absence_of(FIRST)) });
    let events = document.decide(&final_approval, now()).expect("전결 by a delegate");
    let done = state(&[vec![submitted(three_approvers())], events].concat());
    assert_eq!(done.status, Some(Status::Completed));
    assert_eq!(done.line.approvers[0].review, Review::Pending);
}

// A2: agreement, sequential by default or parallel.

fn with_agreers(flow: Option<Flow>) -> LineInput {
    LineInput { agreers: vec![AGREER_A, AGREER_B], agreement: flow, ..three_approvers() }
}

fn agree(by: Uuid) -> DocumentCommand {
    cmd(by, DocumentAction::Agree { comment: None })
}

fn agreed(by: Uuid) -> DocumentEvent {
    DocumentEvent::Agreed { agreer: by, comment: None, at: now() }
}

#[test]
fn rule_a2_agreement_is_sequential_by_default() {
    let events = vec![submitted_with(form(true, false), with_agreers(None), ApprovalSettings::default().default_flow)];
    refused(events.clone(), AGREER_B, agree(AGREER_B), ErrorKind::Conflict, Some("A2"));
    // Approvers wait for the agreement.
    refused(events.clone(), FIRST, approve(FIRST), ErrorKind::Conflict, Some("A2"));
    given::<Document>(events.clone()).when(Actor::User(AGREER_A), agree(AGREER_A)).then(vec![agreed(AGREER_A)]);
    let after_first = [events, vec![agreed(AGREER_A)]].concat();
    given::<Document>(after_first.clone()).when(Actor::User(AGREER_B), agree(AGREER_B)).then(vec![agreed(AGREER_B)]);
    refused(after_first.clone(), AGREER_A, agree(AGREER_A), ErrorKind::Conflict, Some("A2"));
    let document = state(&[after_first, vec![agreed(AGREER_B)]].concat());
    assert_eq!(document.line.current_approver(), Some(0));
}

#[test]
fn rule_a2_parallel_agreement_lets_every_agreer_act_at_once() {
    let events = vec![submitted_with(form(true, false), with_agreers(Some(Flow::Parallel)), Flow::Sequential)];
    given::<Document>(events.clone()).when(Actor::User(AGREER_B), agree(AGREER_B)).then(vec![agreed(AGREER_B)]);
    let document = state(&events);
    assert!(document.placements().contains(&(Owner::User(AGREER_A), DocBox::Pending)));
    assert!(document.placements().contains(&(Owner::User(AGREER_B), DocBox::Pending)));
    // The company default decides when the line does not say.
    let by_default = state(&[submitted_with(form(true, false), with_agreers(None), Flow::Parallel)]);
    assert_eq!(by_default.line.current_agreers(), vec![AGREER_A, AGREER_B]);
}

#[test]
fn rule_a2_an_agreer_may_refuse_where_the_company_allows_it() {
    let refuse = cmd(AGREER_A, DocumentAction::RefuseAgreement { comment: Some("Over budget".into()) });
    let events = vec![submitted(with_agreers(None))];
    given::<Document>(events.clone()).when(Actor::User(AGREER_A), refuse.clone()).then(vec![
        DocumentEvent::AgreementRefused { agreer: AGREER_A, comment: Some("Over budget".into()), at: now() },
    ]);
    let mut strict = events;
    if let DocumentEvent::Submitted { agreers_may_reject, .. } = &mut strict[0] {
        *agreers_may_reject = false;
    }
    refused(strict, AGREER_A, refuse, ErrorKind::Forbidden, Some("A2"));
}

// A2: reception, and a receiving department taken by one of its handlers.

fn completed_with(line: LineInput) -> Vec<DocumentEvent> {
    vec![
        submitted(line),
        DocumentEvent::ApprovedFinal {
            approver: FIRST,
            by: FIRST,
            comment: None,
            skipped: vec![MIDDLE, LAST],
            at: now(),
        },
        completed(),
    ]
}

#[test]
fn rule_a2_reception_is_sequential_or_parallel() {
    let receivers = vec![Receiver::User(RECEIVER), Receiver::Department(RECEIVING_DEPARTMENT)];
    let sequential = completed_with(LineInput { receivers: receivers.clone(), ..three_approvers() });
    let document = state(&sequential);
    assert!(document.placements().contains(&(Owner::User(RECEIVER), DocBox::Received)));
    assert!(!document.placements().contains(&(Owner::Department(RECEIVING_DEPARTMENT), DocBox::DepartmentReceived)));
    let take = |handles: BTreeSet<Uuid>| cmd(STRANGER, DocumentAction::Receive { handles });
    refused(
        sequential.clone(),
        STRANGER,
        take(BTreeSet::from([RECEIVING_DEPARTMENT])),
        ErrorKind::Conflict,
        Some("A2"),
    );
    let parallel = completed_with(LineInput { receivers, reception: Some(Flow::Parallel), ..three_approvers() });
    let taken =
        DocumentEvent::Received { receiver: Receiver::Department(RECEIVING_DEPARTMENT), by: STRANGER, at: now() };
    given::<Document>(parallel.clone())
        .when(Actor::User(STRANGER), take(BTreeSet::from([RECEIVING_DEPARTMENT])))
        .then(vec![taken.clone()]);
    // Taken, it leaves the department's box for the taker's.
    let document = state(&[parallel.clone(), vec![taken.clone()]].concat());
    let placements = document.placements();
    assert!(!placements.contains(&(Owner::Department(RECEIVING_DEPARTMENT), DocBox::DepartmentReceived)));
    assert!(placements.contains(&(Owner::User(STRANGER), DocBox::Received)));
    // Taking it twice, or without handling the department, is refused.
    refused(
        [parallel.clone(), vec![taken]].concat(),
        STRANGER,
        take(BTreeSet::from([RECEIVING_DEPARTMENT])),
        ErrorKind::Conflict,
        Some("A2"),
    );
    refused(parallel, STRANGER, take(BTreeSet::new()), ErrorKind::Forbidden, Some("A2"));
}

// A5: 열람 from submission, 공람 after completion; A6: the department box.

#[test]
fn rule_a5_readers_read_from_submission_and_circulation_after_completion() {
    let line = LineInput {
        readers: vec![READER],
        circulation: vec![CIRCULATION],
        references: vec![REFERENCE],
        ..three_approvers()
    };
    let in_progress = state(&[submitted(line.clone())]);
    let access = in_progress.access();
    assert!(access.users.contains(&READER) && access.users.contains(&REFERENCE));
    assert!(!access.users.contains(&CIRCULATION));
    assert!(!in_progress.placements().contains(&(Owner::User(CIRCULATION), DocBox::Reference)));
    assert!(in_progress.placements().contains(&(Owner::User(READER), DocBox::Reference)));
    let done = state(&completed_with(line));
    assert!(done.access().users.contains(&CIRCULATION));
    assert!(done.placements().contains(&(Owner::User(CIRCULATION), DocBox::Reference)));
    assert!(!done.access().users.contains(&STRANGER));
}

#[test]
fn rule_a6_public_documents_reach_the_department_box_private_ones_do_not() {
    let public = state(&completed_with(three_approvers()));
    assert!(public.placements().contains(&(Owner::Department(DEPARTMENT), DocBox::Department)));
    assert!(public.access().lets(STRANGER, Some(DEPARTMENT), &BTreeSet::new()));
    let mut events = completed_with(three_approvers());
    events[0] = submitted_with(form(false, false), three_approvers(), Flow::Sequential);
    let private = state(&events);
    assert!(!private.placements().iter().any(|(_, b)| *b == DocBox::Department));
    assert!(!private.access().lets(STRANGER, Some(DEPARTMENT), &BTreeSet::new()));
    // In progress, even a public document is not in the department box.
    let pending = state(&[submitted(three_approvers())]);
    assert!(!pending.access().lets(STRANGER, Some(DEPARTMENT), &BTreeSet::new()));
}

#[test]
fn rule_a8_each_party_finds_the_document_in_its_box() {
    let line = LineInput { references: vec![REFERENCE], ..three_approvers() };
    let document = state(&[submitted(line.clone()), approved(FIRST)]);
    let boxes = document.placements();
    assert!(boxes.contains(&(Owner::User(DRAFTER), DocBox::InProgress)));
    assert!(boxes.contains(&(Owner::User(FIRST), DocBox::InProgress)));
    assert!(boxes.contains(&(Owner::User(MIDDLE), DocBox::Pending)));
    assert!(!boxes.iter().any(|(o, _)| *o == Owner::User(LAST)));
    assert!(boxes.contains(&(Owner::User(REFERENCE), DocBox::Reference)));
    let done = state(&completed_with(line)).placements();
    for user in [DRAFTER, FIRST, MIDDLE, LAST] {
        assert!(done.contains(&(Owner::User(user), DocBox::Completed)));
    }
    let draft_only = state(&[DocumentEvent::DraftSaved {
        drafter: DRAFTER,
        department: None,
        form: form(true, false),
        title: "t".into(),
        fields: BTreeMap::new(),
        line: Line::default(),
        at: now(),
    }]);
    assert_eq!(draft_only.placements(), BTreeSet::from([(Owner::User(DRAFTER), DocBox::Drafts)]));
}

// A7: recall and cancel.

#[test]
fn rule_a7_the_drafter_recalls_with_a_reason_and_the_line_is_told() {
    let line = LineInput { agreers: vec![AGREER_A], references: vec![REFERENCE], ..three_approvers() };
    let recall = |reason: &str| cmd(DRAFTER, DocumentAction::Recall { reason: reason.into() });
    given::<Document>(vec![submitted(line.clone())]).when(Actor::User(DRAFTER), recall("Wrong figures")).then(vec![
        DocumentEvent::Recalled {
            by: DRAFTER,
            reason: "Wrong figures".into(),
            notify: vec![FIRST, MIDDLE, LAST, AGREER_A, REFERENCE],
            at: now(),
        },
    ]);
    refused(vec![submitted(line.clone())], DRAFTER, recall("   "), ErrorKind::Validation, Some("A7"));
    refused(
        vec![submitted(line.clone())],
        FIRST,
        cmd(FIRST, DocumentAction::Recall { reason: "x".into() }),
        ErrorKind::Forbidden,
        Some("A7"),
    );
    refused(completed_with(line), DRAFTER, recall("Too late"), ErrorKind::Conflict, Some("A7"));
}

#[test]
fn rule_a7_a_leave_request_is_cancelled_not_recalled_and_gives_its_days_back_once_approved() {
    let leave = |events: Vec<DocumentEvent>| {
        let mut events = events;
        events[0] = submitted_with(form(false, true), three_approvers(), Flow::Sequential);
        events
    };
    let in_progress = leave(vec![submitted(three_approvers())]);
    refused(
        in_progress.clone(),
        DRAFTER,
        cmd(DRAFTER, DocumentAction::Recall { reason: "x".into() }),
        ErrorKind::Conflict,
        Some("A7"),
    );
    let cancel = cmd(DRAFTER, DocumentAction::Cancel { reason: "Plans changed".into() });
    given::<Document>(in_progress).when(Actor::User(DRAFTER), cancel.clone()).then(vec![DocumentEvent::Cancelled {
        by: DRAFTER,
        reason: "Plans changed".into(),
        restored_quarters: None,
        at: now(),
    }]);
    given::<Document>(leave(completed_with(three_approvers()))).when(Actor::User(DRAFTER), cancel).then(vec![
        DocumentEvent::Cancelled { by: DRAFTER, reason: "Plans changed".into(), restored_quarters: Some(6), at: now() },
    ]);
    // Other documents are recalled, not cancelled.
    refused(
        vec![submitted(three_approvers())],
        DRAFTER,
        cmd(DRAFTER, DocumentAction::Cancel { reason: "x".into() }),
        ErrorKind::Conflict,
        Some("A7"),
    );
}

#[test]
fn a_number_is_recorded_once_and_only_by_the_system() {
    let events = completed_with(three_approvers());
    let record = |number: &str| cmd(Uuid::nil(), DocumentAction::RecordNumber { number: number.into() });
    given::<Document>(events.clone())
        .when(Actor::System, record("ACME-2026-00001"))
        .then(vec![DocumentEvent::Numbered { number: "ACME-2026-00001".into() }]);
    let numbered = [events.clone(), vec![DocumentEvent::Numbered { number: "ACME-2026-00001".into() }]].concat();
    given::<Document>(numbered.clone()).when(Actor::System, record("ACME-2026-00001")).then(vec![]);
    given::<Document>(numbered)
        .when(Actor::System, record("ACME-2026-00002"))
        .then_refused(DomainError::Conflict("the document is already ACME-2026-00001".into()));
    refused(events, DRAFTER, record("ACME-2026-00009"), ErrorKind::Forbidden, None);
}

#[test]
fn numbers_are_one_gap_free_sequence_per_year() {
    let assign = |doc: u128| AssignNumber { document_id: Uuid::from_u128(doc), prefix: "ACME".into(), year: 2026 };
    let mut numbers = DocumentNumbers::default();
    let mut given = Vec::new();
    for doc in 1..=3 {
        let events = numbers.decide(&assign(doc), now()).expect("numbered");
        given.extend(events.iter().map(|NumberingEvent::Assigned { number, .. }| number.clone()));
        numbers = events.iter().fold(numbers, DocumentNumbers::evolve);
    }
    assert_eq!(given, ["ACME-2026-00001", "ACME-2026-00002", "ACME-2026-00003"]);
    // Asked again for the same document, by another process: no new number.
    assert_eq!(numbers.decide(&assign(2), now()), Ok(vec![]));
    assert_eq!(numbers.given(Uuid::from_u128(2)), Some("ACME-2026-00002"));
    assert_ne!(DocumentNumbers::id(Uuid::from_u128(9), 2026), DocumentNumbers::id(Uuid::from_u128(9), 2027));
}

// U1: a deleted user's places in a line go to another user.

// rule U1
#[test]
fn rule_u1_an_admin_gives_a_deleted_approvers_waiting_places_to_another_user() {
    const ADMIN: Uuid = Uuid::from_u128(71);
    let history = vec![submitted(three_approvers()), approved(FIRST)];
    let reassign = |from, to| cmd(ADMIN, DocumentAction::Reassign { from, to });
    given::<Document>(history.clone())
        .when(Actor::User(ADMIN), reassign(MIDDLE, DELEGATE))
        .then(vec![DocumentEvent::Reassigned { from: MIDDLE, to: DELEGATE, by: ADMIN, at: now() }]);
    let mut moved = history.clone();
    moved.push(DocumentEvent::Reassigned { from: MIDDLE, to: DELEGATE, by: ADMIN, at: now() });
    let document = state(&moved);
    assert_eq!(document.line.approvers.iter().map(|a| a.user).collect::<Vec<_>>(), [FIRST, DELEGATE, LAST]);
    // The new approver acts at the deleted one's turn; the one who acted
    // keeps their name.
    given::<Document>(moved.clone()).when(Actor::User(DELEGATE), approve(DELEGATE)).then(vec![approved(DELEGATE)]);
    refused(moved.clone(), MIDDLE, approve(MIDDLE), ErrorKind::Forbidden, Some("A3"));
    refused(history.clone(), ADMIN, reassign(FIRST, DELEGATE), ErrorKind::NotFound, Some("U1"));
    refused(history.clone(), ADMIN, reassign(MIDDLE, LAST), ErrorKind::Conflict, Some("U1"));
    refused(history.clone(), ADMIN, reassign(MIDDLE, DRAFTER), ErrorKind::Conflict, Some("U1"));
    // An agreer's waiting place too.
    let agreeing = LineInput { approvers: vec![FIRST], agreers: vec![AGREER_A], ..LineInput::default() };
    given::<Document>(vec![submitted(agreeing)])
        .when(Actor::User(ADMIN), reassign(AGREER_A, DELEGATE))
        .then(vec![DocumentEvent::Reassigned { from: AGREER_A, to: DELEGATE, by: ADMIN, at: now() }]);
    let mut done = history;
    done.extend([approved(MIDDLE), approved(LAST), completed()]);
    refused(done, ADMIN, reassign(MIDDLE, DELEGATE), ErrorKind::Conflict, Some("U1"));
}
