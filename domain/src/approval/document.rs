//! An approval document (rules A1–A7): drafted from a form, submitted with a
//! line, acted on by agreers and approvers, received, numbered, recalled or
//! cancelled. One stream per document (`document-<id>`); every action is an
//! event with who, when and a comment.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::absence::Absences;
use super::line::{AgreerState, Line, LineInput, Receiver, Review, SlotState};
use super::setup::{ApprovalSettings, Form};
use crate::{Actor, Aggregate, DomainError, DomainEvent};

const MAX_TITLE: usize = 200;
const MAX_COMMENT: usize = 2_000;

/// Where a document stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Draft,
    InProgress,
    Completed,
    Rejected,
    Recalled,
    /// A leave request withdrawn by its drafter (rule A7).
    Cancelled,
    /// A draft thrown away.
    Discarded,
}

/// What a drafter writes.
#[derive(Debug, Clone, PartialEq, schemars::JsonSchema)]
pub struct Draft {
    pub form: Form,
    pub title: String,
    pub fields: BTreeMap<String, Value>,
    pub line: LineInput,
}

/// An approver acting for someone absent (대결, rule A4): the absent
/// approver and their registered absences, as the caller loaded them.
#[derive(Debug, Clone, PartialEq)]
pub struct OnBehalf {
    pub approver: Uuid,
    pub absences: Absences,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DocumentAction {
    /// Creates or replaces a draft. `department`: the drafter's.
    SaveDraft {
        draft: Draft,
        department: Option<Uuid>,
    },
    DiscardDraft,
    /// 상신, or 재기안 after a rejection or a recall (a new version). The
    /// caller has checked that every user and department of the line exists.
    /// `submission`: when given, the submission is refused unless it is
    /// this one ([`Document::next_submission`]); a leave request's
    /// reservation names it (rule H6).
    Submit {
        draft: Draft,
        department: Option<Uuid>,
        settings: ApprovalSettings,
        submission: Option<u32>,
    },
    /// At one's turn.
    Approve {
        comment: Option<String>,
        on_behalf: Option<OnBehalf>,
    },
    /// 전결: at one's turn, completing the document at once.
    ApproveFinal {
        comment: Option<String>,
        on_behalf: Option<OnBehalf>,
    },
    /// 선결: before one's turn.
    ApproveAhead {
        comment: Option<String>,
    },
    /// 반려: at one's turn; the document goes back to the drafter.
    Reject {
        comment: Option<String>,
        on_behalf: Option<OnBehalf>,
    },
    /// 보류.
    Hold {
        comment: Option<String>,
    },
    /// 후열: an approver passed over by 선결 or replaced by 대결 confirms.
    ConfirmReview {
        comment: Option<String>,
    },
    Agree {
        comment: Option<String>,
    },
    /// An agreer refuses, where the company allows it.
    RefuseAgreement {
        comment: Option<String>,
    },
    /// A receiver takes the completed document. `handles`: the departments
    /// whose head or box manager the caller is.
    Receive {
        handles: BTreeSet<Uuid>,
    },
    /// 회수 (rule A7).
    Recall {
        reason: String,
    },
    /// A leave request is cancelled instead (rules A7, H6).
    Cancel {
        reason: String,
    },
    /// The system: the number the document got at completion.
    RecordNumber {
        number: String,
    },
    /// An admin gives the places a deleted user still had to act on in the
    /// line (approving or agreeing) to another user (rule U1). The caller
    /// has checked that `from` is deleted and `to` is a user.
    Reassign {
        from: Uuid,
        to: Uuid,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct DocumentCommand {
    /// The user who acts (the system's commands name nobody: nil).
    pub by: Uuid,
    pub action: DocumentAction,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum DocumentEvent {
    #[serde(rename = "DocumentDraftSaved")]
    DraftSaved {
        drafter: Uuid,
        department: Option<Uuid>,
        form: Form,
        title: String,
        fields: BTreeMap<String, Value>,
        line: Line,
        at: DateTime<Utc>,
    },
    #[serde(rename = "DocumentDraftDiscarded")]
    DraftDiscarded { at: DateTime<Utc> },
    #[serde(rename = "DocumentSubmitted")]
    Submitted {
        drafter: Uuid,
        department: Option<Uuid>,
        form: Form,
        title: String,
        fields: BTreeMap<String, Value>,
        line: Line,
        agreers_may_reject: bool,
        version: u32,
        at: DateTime<Utc>,
    },
    #[serde(rename = "DocumentApproved")]
    Approved { approver: Uuid, by: Uuid, comment: Option<String>, at: DateTime<Utc> },
    #[serde(rename = "DocumentApprovedFinal")]
    ApprovedFinal { approver: Uuid, by: Uuid, comment: Option<String>, skipped: Vec<Uuid>, at: DateTime<Utc> },
    #[serde(rename = "DocumentApprovedAhead")]
    ApprovedAhead { approver: Uuid, comment: Option<String>, passed_over: Vec<Uuid>, at: DateTime<Utc> },
    #[serde(rename = "DocumentRejected")]
    Rejected { approver: Uuid, by: Uuid, comment: Option<String>, at: DateTime<Utc> },
    #[serde(rename = "DocumentHeld")]
    Held { approver: Uuid, comment: Option<String>, at: DateTime<Utc> },
    #[serde(rename = "DocumentReviewConfirmed")]
    ReviewConfirmed { approver: Uuid, comment: Option<String>, at: DateTime<Utc> },
    #[serde(rename = "DocumentAgreed")]
    Agreed { agreer: Uuid, comment: Option<String>, at: DateTime<Utc> },
    #[serde(rename = "DocumentAgreementRefused")]
    AgreementRefused { agreer: Uuid, comment: Option<String>, at: DateTime<Utc> },
    #[serde(rename = "DocumentCompleted")]
    Completed { at: DateTime<Utc> },
    #[serde(rename = "DocumentReceived")]
    Received { receiver: Receiver, by: Uuid, at: DateTime<Utc> },
    #[serde(rename = "DocumentRecalled")]
    Recalled { by: Uuid, reason: String, notify: Vec<Uuid>, at: DateTime<Utc> },
    /// `restored_quarters`: the leave an approved request gives back.
    #[serde(rename = "DocumentCancelled")]
    Cancelled { by: Uuid, reason: String, restored_quarters: Option<i64>, at: DateTime<Utc> },
    #[serde(rename = "DocumentNumbered")]
    Numbered { number: String },
    #[serde(rename = "DocumentReassigned")]
    Reassigned { from: Uuid, to: Uuid, by: Uuid, at: DateTime<Utc> },
}

impl DomainEvent for DocumentEvent {
    fn event_type(&self) -> &'static str {
        use DocumentEvent as E;
        match self {
            E::DraftSaved { .. } => "DocumentDraftSaved",
            E::DraftDiscarded { .. } => "DocumentDraftDiscarded",
            E::Submitted { .. } => "DocumentSubmitted",
            E::Approved { .. } => "DocumentApproved",
            E::ApprovedFinal { .. } => "DocumentApprovedFinal",
            E::ApprovedAhead { .. } => "DocumentApprovedAhead",
            E::Rejected { .. } => "DocumentRejected",
            E::Held { .. } => "DocumentHeld",
            E::ReviewConfirmed { .. } => "DocumentReviewConfirmed",
            E::Agreed { .. } => "DocumentAgreed",
            E::AgreementRefused { .. } => "DocumentAgreementRefused",
            E::Completed { .. } => "DocumentCompleted",
            E::Received { .. } => "DocumentReceived",
            E::Recalled { .. } => "DocumentRecalled",
            E::Cancelled { .. } => "DocumentCancelled",
            E::Numbered { .. } => "DocumentNumbered",
            E::Reassigned { .. } => "DocumentReassigned",
        }
    }
}

/// The state of a document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub status: Option<Status>,
    pub drafter: Uuid,
    /// The drafter's department when drafted.
    pub department: Option<Uuid>,
    pub form: Option<Form>,
    pub title: String,
    pub fields: BTreeMap<String, Value>,
    pub line: Line,
    pub agreers_may_reject: bool,
    /// 1 at the first submission, one more at each 재기안.
    pub version: u32,
    pub submitted_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub number: Option<String>,
}

fn comment(input: &Option<String>) -> Result<Option<String>, DomainError> {
    match input.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) if text.chars().count() > MAX_COMMENT => {
            Err(DomainError::invalid("comment", format!("a comment has at most {MAX_COMMENT} characters")))
        }
        Some(text) => Ok(Some(text.to_owned())),
    }
}

/// Rule A7: a recall (or a leave request's cancellation) states a reason.
fn reason(input: &str) -> Result<String, DomainError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(DomainError::invalid("reason", "a reason is required").by_rule("A7"));
    }
    if text.chars().count() > MAX_COMMENT {
        return Err(DomainError::invalid("reason", format!("a reason has at most {MAX_COMMENT} characters")));
    }
    Ok(text.to_owned())
}

/// `error`, as a refusal of `rule` when one is named.
fn by_rule(error: DomainError, rule: Option<&'static str>) -> DomainError {
    match rule {
        Some(rule) => error.by_rule(rule),
        None => error,
    }
}

fn title(input: &str) -> Result<String, DomainError> {
    let text = input.trim();
    if text.is_empty() || text.chars().count() > MAX_TITLE {
        return Err(DomainError::invalid("title", format!("a title has 1 to {MAX_TITLE} characters")));
    }
    Ok(text.to_owned())
}

impl Document {
    fn status(&self) -> Result<Status, DomainError> {
        self.status.ok_or_else(|| DomainError::NotFound("document".into()))
    }

    /// The document is `wanted`; else a refusal saying `what`, as one of
    /// `rule` when it is a rule's.
    fn require(&self, wanted: Status, what: &str, rule: Option<&'static str>) -> Result<(), DomainError> {
        let status = self.status()?;
        if status != wanted {
            return Err(by_rule(DomainError::Conflict(format!("the document is {}; {what}", status.describe())), rule));
        }
        Ok(())
    }

    /// Whether the document is a leave request.
    pub fn is_leave_request(&self) -> bool {
        self.form.as_ref().is_some_and(|f| f.spec.leave_request)
    }

    /// The version the next submission gets: 1, or one more after a
    /// rejection or recall (재기안).
    pub fn next_submission(&self) -> u32 {
        match self.status {
            Some(Status::Rejected | Status::Recalled) => self.version + 1,
            _ => 1,
        }
    }

    /// Rule H6: whether the document is now in its `submission`th
    /// submission by `drafter` (in progress or completed). A leave request
    /// whose submission failed keeps what it reserved when so (another
    /// request made that submission, or the failure came after it was
    /// saved), and releases it otherwise.
    pub fn holds_submission(&self, drafter: Uuid, submission: u32) -> bool {
        self.drafter == drafter && self.version == submission && self.ended_submissions() < submission
    }

    /// The submissions that are over without taking leave (rule H6): all
    /// of them once the document is rejected or recalled, every one for
    /// ever once it is cancelled or discarded, all but the last while that
    /// one is in progress or completed.
    pub fn ended_submissions(&self) -> u32 {
        match self.status {
            Some(Status::Cancelled | Status::Discarded) => u32::MAX,
            Some(Status::InProgress | Status::Completed) => self.version.saturating_sub(1),
            _ => self.version,
        }
    }

    /// The leave days the document asks for, in quarter days.
    pub fn leave_quarters(&self) -> Option<i64> {
        self.form.as_ref().and_then(|f| f.leave_quarters(&self.fields))
    }

    /// The approver `actor` acts as: themselves, or an absent approver whose
    /// delegate they are now (대결).
    fn acting_as(&self, actor: Uuid, on_behalf: Option<&OnBehalf>, now: DateTime<Utc>) -> Result<Uuid, DomainError> {
        match on_behalf {
            None => Ok(actor),
            Some(behalf) if behalf.absences.delegate_may_act(actor, now) => Ok(behalf.approver),
            Some(behalf) => Err(DomainError::Forbidden(format!(
                "user {} has no registered absence now with you as the delegate",
                behalf.approver
            ))
            .by_rule("A4")),
        }
    }

    /// The index of `approver`'s slot, provided they may still act: the
    /// document is in progress, agreement is done, and they have not acted.
    fn waiting_slot(&self, approver: Uuid) -> Result<usize, DomainError> {
        self.require(Status::InProgress, "only a document in progress is approved", Some("A3"))?;
        let slot = self
            .line
            .approver(approver)
            .ok_or_else(|| DomainError::Forbidden("you are not an approver of this document".into()).by_rule("A3"))?;
        if self.line.approvers[slot].state != SlotState::Waiting {
            return Err(DomainError::Conflict("this approver has already acted on the document".into()).by_rule("A3"));
        }
        if !self.line.agreement_done() {
            return Err(DomainError::Conflict("the agreers have not all agreed yet".into()).by_rule("A2"));
        }
        Ok(slot)
    }

    /// The index of `approver`'s slot, provided it is their turn.
    fn turn_of(&self, approver: Uuid) -> Result<usize, DomainError> {
        let slot = self.waiting_slot(approver)?;
        if self.line.current_approver() != Some(slot) {
            return Err(DomainError::Conflict("it is not your turn yet; approve ahead (선결) to act before it".into())
                .by_rule("A3"));
        }
        Ok(slot)
    }

    /// Whether no approver waits once `slot` has acted.
    fn last_after(&self, slot: usize) -> bool {
        self.line.approvers.iter().enumerate().all(|(i, s)| i == slot || s.state != SlotState::Waiting)
    }

    fn agreer_turn(&self, agreer: Uuid) -> Result<(), DomainError> {
        self.require(Status::InProgress, "only a document in progress is agreed to", Some("A2"))?;
        let Some(slot) = self.line.agreers.iter().find(|a| a.user == agreer) else {
            return Err(DomainError::Forbidden("you are not an agreer of this document".into()).by_rule("A2"));
        };
        if slot.state != AgreerState::Waiting {
            return Err(DomainError::Conflict("you have already acted on this document".into()).by_rule("A2"));
        }
        if !self.line.current_agreers().contains(&agreer) {
            return Err(DomainError::Conflict("it is not your turn to agree yet".into()).by_rule("A2"));
        }
        Ok(())
    }

    fn check_draft(&self, actor: Uuid, draft: &Draft, complete: bool) -> Result<String, DomainError> {
        if let Some(status) = self.status {
            if self.drafter != actor {
                return Err(DomainError::Forbidden("only the drafter edits a document".into()).by_rule("A1"));
            }
            let editable = if complete {
                matches!(status, Status::Draft | Status::Rejected | Status::Recalled)
            } else {
                status == Status::Draft
            };
            if !editable {
                return Err(DomainError::Conflict(format!("the document is {}", status.describe())).by_rule("A1"));
            }
        }
        draft.form.check_values(&draft.fields, complete)?;
        title(&draft.title)
    }
}

impl Status {
    fn describe(self) -> &'static str {
        match self {
            Status::Draft => "a draft",
            Status::InProgress => "in progress",
            Status::Completed => "completed",
            Status::Rejected => "rejected",
            Status::Recalled => "recalled",
            Status::Cancelled => "cancelled",
            Status::Discarded => "discarded",
        }
    }
}

impl Aggregate for Document {
    type Command = DocumentCommand;
    type Event = DocumentEvent;

    const CATEGORY: &'static str = "document";
    const SNAPSHOT_VERSION: u32 = 1;

    fn authorize(&self, actor: &Actor, command: &DocumentCommand) -> Result<(), DomainError> {
        match (actor, &command.action) {
            (Actor::System, _) => Ok(()),
            (Actor::Anonymous, _) => Err(DomainError::Unauthenticated("log in first".into())),
            (Actor::User(_), DocumentAction::RecordNumber { .. }) => {
                Err(DomainError::Forbidden("only the system numbers documents".into()))
            }
            (Actor::User(id), _) if *id == command.by => Ok(()),
            (Actor::User(_), _) => Err(DomainError::Forbidden("a user acts only in their own name".into())),
        }
    }

    fn decide(&self, command: &DocumentCommand, now: DateTime<Utc>) -> Result<Vec<DocumentEvent>, DomainError> {
        use DocumentAction as A;
        use DocumentEvent as E;
        let actor = command.by;
        let events = match &command.action {
            A::SaveDraft { draft, department } => {
                let title = self.check_draft(actor, draft, false)?;
                vec![E::DraftSaved {
                    drafter: actor,
                    department: *department,
                    form: draft.form.clone(),
                    title,
                    fields: draft.fields.clone(),
                    line: Line::new(&draft.line, Default::default()),
                    at: now,
                }]
            }
            A::DiscardDraft => {
                self.require(Status::Draft, "only a draft is discarded", None)?;
                self.drafter_only(actor, None)?;
                vec![E::DraftDiscarded { at: now }]
            }
            A::Submit { draft, department, settings, submission } => {
                let title = self.check_draft(actor, draft, true)?;
                Line::check(&draft.line, actor)?;
                let version = self.next_submission();
                if submission.is_some_and(|s| s != version) {
                    return Err(DomainError::Conflict("the document changed meanwhile; submit it again".into()));
                }
                vec![E::Submitted {
                    drafter: actor,
                    department: *department,
                    form: draft.form.clone(),
                    title,
                    fields: draft.fields.clone(),
                    line: Line::new(&draft.line, settings.default_flow),
                    agreers_may_reject: settings.agreers_may_reject,
                    version,
                    at: now,
                }]
            }
            A::Approve { comment: text, on_behalf } => {
                let approver = self.acting_as(actor, on_behalf.as_ref(), now)?;
                let slot = self.turn_of(approver)?;
                let mut events = vec![E::Approved { approver, by: actor, comment: comment(text)?, at: now }];
                if self.last_after(slot) {
                    events.push(E::Completed { at: now });
                }
                events
            }
            A::ApproveFinal { comment: text, on_behalf } => {
                let approver = self.acting_as(actor, on_behalf.as_ref(), now)?;
                let slot = self.turn_of(approver)?;
                let skipped = self.line.approvers[slot + 1..].iter().map(|s| s.user).collect();
                vec![
                    E::ApprovedFinal { approver, by: actor, comment: comment(text)?, skipped, at: now },
                    E::Completed { at: now },
                ]
            }
            A::ApproveAhead { comment: text } => {
                let slot = self.waiting_slot(actor)?;
                if self.line.current_approver() == Some(slot) {
                    return Err(DomainError::Conflict("it is your turn: approve rather than approve ahead".into())
                        .by_rule("A3"));
                }
                let passed_over = self.line.approvers[..slot]
                    .iter()
                    .filter(|s| s.state == SlotState::Waiting)
                    .map(|s| s.user)
                    .collect();
                let mut events =
                    vec![E::ApprovedAhead { approver: actor, comment: comment(text)?, passed_over, at: now }];
                if self.line.approvers[slot + 1..].iter().all(|s| s.state != SlotState::Waiting) {
                    events.push(E::Completed { at: now });
                }
                events
            }
            A::Reject { comment: text, on_behalf } => {
                let approver = self.acting_as(actor, on_behalf.as_ref(), now)?;
                self.turn_of(approver)?;
                vec![E::Rejected { approver, by: actor, comment: comment(text)?, at: now }]
            }
            A::Hold { comment: text } => {
                let slot = self.turn_of(actor)?;
                if self.line.approvers[slot].held {
                    return Err(DomainError::Conflict("the document is already on hold".into()).by_rule("A3"));
                }
                vec![E::Held { approver: actor, comment: comment(text)?, at: now }]
            }
            A::ConfirmReview { comment: text } => {
                let status = self.status()?;
                if matches!(status, Status::Draft | Status::Discarded) {
                    return Err(DomainError::Conflict("a draft has nothing to confirm".into()).by_rule("A3"));
                }
                let slot = self.line.approver(actor).ok_or_else(|| {
                    DomainError::Forbidden("you are not an approver of this document".into()).by_rule("A3")
                })?;
                if self.line.approvers[slot].review != Review::Pending {
                    return Err(DomainError::Conflict("you have nothing to confirm (후열) on this document".into())
                        .by_rule("A3"));
                }
                vec![E::ReviewConfirmed { approver: actor, comment: comment(text)?, at: now }]
            }
            A::Agree { comment: text } => {
                self.agreer_turn(actor)?;
                vec![E::Agreed { agreer: actor, comment: comment(text)?, at: now }]
            }
            A::RefuseAgreement { comment: text } => {
                self.agreer_turn(actor)?;
                if !self.agreers_may_reject {
                    return Err(DomainError::Forbidden("in this company agreers may not refuse".into()).by_rule("A2"));
                }
                vec![E::AgreementRefused { agreer: actor, comment: comment(text)?, at: now }]
            }
            A::Receive { handles } => {
                self.require(Status::Completed, "only a completed document is received", Some("A2"))?;
                let open = self.line.open_receivers();
                let mine = |r: &Receiver| match r {
                    Receiver::User(u) => *u == actor,
                    Receiver::Department(d) => handles.contains(d),
                };
                let Some(index) = open.iter().copied().find(|i| mine(&self.line.receivers[*i].receiver)) else {
                    let taken = self.line.receivers.iter().any(|r| r.taken.is_some() && mine(&r.receiver));
                    let named = self.line.receivers.iter().any(|r| mine(&r.receiver));
                    return Err(if taken {
                        DomainError::Conflict("the document has already been received".into())
                    } else if named {
                        DomainError::Conflict("it is not your turn to receive the document yet".into())
                    } else {
                        DomainError::Forbidden("you are not a receiver of this document".into())
                    }
                    .by_rule("A2"));
                };
                vec![E::Received { receiver: self.line.receivers[index].receiver, by: actor, at: now }]
            }
            A::Recall { reason: text } => {
                self.drafter_only(actor, Some("A7"))?;
                if self.is_leave_request() {
                    return Err(DomainError::Conflict("a leave request is not recalled; cancel it instead".into())
                        .by_rule("A7"));
                }
                self.require(Status::InProgress, "only a document in progress is recalled", Some("A7"))?;
                let reason = reason(text)?;
                vec![E::Recalled { by: actor, reason, notify: self.line.people().into_iter().collect(), at: now }]
            }
            A::Cancel { reason: text } => {
                self.drafter_only(actor, Some("A7"))?;
                if !self.is_leave_request() {
                    return Err(
                        DomainError::Conflict("only a leave request is cancelled; recall others".into()).by_rule("A7")
                    );
                }
                let status = self.status()?;
                if !matches!(status, Status::InProgress | Status::Completed) {
                    return Err(DomainError::Conflict(format!("the document is {}", status.describe())).by_rule("A7"));
                }
                let reason = reason(text)?;
                let restored_quarters = (status == Status::Completed).then(|| self.leave_quarters()).flatten();
                vec![E::Cancelled { by: actor, reason, restored_quarters, at: now }]
            }
            A::RecordNumber { number } => {
                self.require(Status::Completed, "only a completed document is numbered", None)?;
                match &self.number {
                    Some(existing) if existing == number => vec![],
                    Some(existing) => return Err(DomainError::Conflict(format!("the document is already {existing}"))),
                    None => vec![E::Numbered { number: number.clone() }],
                }
            }
            A::Reassign { from, to } => {
                self.require(Status::InProgress, "only a document in progress waits for anyone", Some("U1"))?;
                if !self.line.waits_for(*from) {
                    return Err(DomainError::NotFound(format!("a place of user {from} still to act on")).by_rule("U1"));
                }
                if *to == self.drafter
                    || self.line.approvers.iter().any(|a| a.user == *to)
                    || self.line.agreers.iter().any(|a| a.user == *to)
                {
                    return Err(DomainError::Conflict("the new user already stands in the line".into()).by_rule("U1"));
                }
                vec![E::Reassigned { from: *from, to: *to, by: actor, at: now }]
            }
        };
        Ok(events)
    }

    fn evolve(mut self, event: &DocumentEvent) -> Self {
        use DocumentEvent as E;
        match event {
            E::DraftSaved { drafter, department, form, title, fields, line, at } => {
                self.status = Some(Status::Draft);
                self.write(*drafter, *department, form, title, fields, line, *at);
            }
            E::DraftDiscarded { at } => {
                self.status = Some(Status::Discarded);
                self.updated_at = Some(*at);
            }
            E::Submitted { drafter, department, form, title, fields, line, agreers_may_reject, version, at } => {
                self.status = Some(Status::InProgress);
                self.write(*drafter, *department, form, title, fields, line, *at);
                self.agreers_may_reject = *agreers_may_reject;
                self.version = *version;
                self.submitted_at = Some(*at);
                self.completed_at = None;
            }
            E::Approved { approver, by, at, .. } => {
                self.slot(*approver, |s| {
                    s.state = SlotState::Approved { by: *by, at: *at };
                    s.held = false;
                    if by != approver {
                        s.review = Review::Pending;
                    }
                });
                self.updated_at = Some(*at);
            }
            E::ApprovedFinal { approver, by, skipped, at, .. } => {
                self.slot(*approver, |s| {
                    s.state = SlotState::ApprovedFinal { by: *by, at: *at };
                    s.held = false;
                    if by != approver {
                        s.review = Review::Pending;
                    }
                });
                for user in skipped {
                    self.slot(*user, |s| s.state = SlotState::Skipped);
                }
                self.updated_at = Some(*at);
            }
            E::ApprovedAhead { approver, passed_over, at, .. } => {
                self.slot(*approver, |s| s.state = SlotState::ApprovedAhead { at: *at });
                for user in passed_over {
                    self.slot(*user, |s| {
                        s.state = SlotState::PassedOver;
                        s.held = false;
                        s.review = Review::Pending;
                    });
                }
                self.updated_at = Some(*at);
            }
            E::Rejected { approver, by, at, .. } => {
                self.slot(*approver, |s| {
                    s.state = SlotState::Rejected { by: *by, at: *at };
                    s.held = false;
                });
                self.status = Some(Status::Rejected);
                self.updated_at = Some(*at);
            }
            E::Held { approver, at, .. } => {
                self.slot(*approver, |s| s.held = true);
                self.updated_at = Some(*at);
            }
            E::ReviewConfirmed { approver, at, .. } => {
                self.slot(*approver, |s| s.review = Review::Confirmed { at: *at });
                self.updated_at = Some(*at);
            }
            E::Agreed { agreer, at, .. } => {
                self.agreer(*agreer, AgreerState::Agreed { at: *at });
                self.updated_at = Some(*at);
            }
            E::AgreementRefused { agreer, at, .. } => {
                self.agreer(*agreer, AgreerState::Refused { at: *at });
                self.status = Some(Status::Rejected);
                self.updated_at = Some(*at);
            }
            E::Completed { at } => {
                self.status = Some(Status::Completed);
                self.completed_at = Some(*at);
                self.updated_at = Some(*at);
            }
            E::Received { receiver, by, at } => {
                if let Some(slot) = self.line.receivers.iter_mut().find(|r| r.receiver == *receiver) {
                    slot.taken = Some((*by, *at));
                }
                self.updated_at = Some(*at);
            }
            E::Recalled { at, .. } => {
                self.status = Some(Status::Recalled);
                self.updated_at = Some(*at);
            }
            E::Cancelled { at, .. } => {
                self.status = Some(Status::Cancelled);
                self.updated_at = Some(*at);
            }
            E::Numbered { number } => self.number = Some(number.clone()),
            E::Reassigned { from, to, at, .. } => {
                self.line.reassign(*from, *to);
                self.updated_at = Some(*at);
            }
        }
        self
    }
}

impl Document {
    /// Takes what the drafter wrote, from a saved draft or a submission.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        drafter: Uuid,
        department: Option<Uuid>,
        form: &Form,
        title: &str,
        fields: &BTreeMap<String, Value>,
        line: &Line,
        at: DateTime<Utc>,
    ) {
        self.drafter = drafter;
        self.department = department;
        self.form = Some(form.clone());
        self.title = title.to_owned();
        self.fields = fields.clone();
        self.line = line.clone();
        self.updated_at = Some(at);
    }

    /// Only the drafter acts; else a refusal, as one of `rule` when it is a
    /// rule's.
    fn drafter_only(&self, actor: Uuid, rule: Option<&'static str>) -> Result<(), DomainError> {
        // A document that does not exist has no drafter to be.
        self.status()?;
        if self.drafter != actor {
            return Err(by_rule(DomainError::Forbidden("only the drafter may do this".into()), rule));
        }
        Ok(())
    }

    fn slot(&mut self, approver: Uuid, change: impl FnOnce(&mut super::line::ApproverSlot)) {
        if let Some(slot) = self.line.approvers.iter_mut().find(|s| s.user == approver) {
            change(slot);
        }
    }

    fn agreer(&mut self, agreer: Uuid, state: AgreerState) {
        if let Some(slot) = self.line.agreers.iter_mut().find(|a| a.user == agreer) {
            slot.state = state;
        }
    }
}
