//! The GraphQL types of e-approval, built from the domain's own state.

use std::collections::BTreeMap;

use async_graphql::{ComplexObject, Context, Enum, InputObject, Json, Result, SimpleObject};
use chrono::{DateTime, Utc};
use domain::approval::{self as approval, AgreerState, ApproverSlot, FieldKind, Receiver, Review, SlotState, Status};
use projections::projectors::approval::HistoryRow;
use serde_json::Value;
use uuid::Uuid;

use crate::errors::ApiResult;
use crate::schema::types::FileFields;
use crate::schema::{User, backend, load_user};

/// How agreers or receivers take their turns (rule A2).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "approval::Flow")]
pub enum Flow {
    Sequential,
    Parallel,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Number,
    Date,
    DateRange,
    Choice,
    Table,
}

/// A field of a form.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "FormFieldInput")]
pub struct FormField {
    pub key: String,
    pub label: String,
    #[graphql(name = "type")]
    pub kind: FieldType,
    /// The choices of a CHOICE field.
    #[graphql(default)]
    pub options: Vec<String>,
    /// The columns of a TABLE field.
    #[graphql(default)]
    pub columns: Vec<String>,
    #[graphql(default)]
    pub required: bool,
}

impl From<&approval::FormField> for FormField {
    fn from(field: &approval::FormField) -> Self {
        let (kind, options, columns) = match &field.kind {
            FieldKind::Text => (FieldType::Text, vec![], vec![]),
            FieldKind::Number => (FieldType::Number, vec![], vec![]),
            FieldKind::Date => (FieldType::Date, vec![], vec![]),
            FieldKind::DateRange => (FieldType::DateRange, vec![], vec![]),
            FieldKind::Choice { options } => (FieldType::Choice, options.clone(), vec![]),
            FieldKind::Table { columns } => (FieldType::Table, vec![], columns.clone()),
        };
        Self { key: field.key.clone(), label: field.label.clone(), kind, options, columns, required: field.required }
    }
}

impl From<FormField> for approval::FormField {
    fn from(field: FormField) -> Self {
        let kind = match field.kind {
            FieldType::Text => FieldKind::Text,
            FieldType::Number => FieldKind::Number,
            FieldType::Date => FieldKind::Date,
            FieldType::DateRange => FieldKind::DateRange,
            FieldType::Choice => FieldKind::Choice { options: field.options },
            FieldType::Table => FieldKind::Table { columns: field.columns },
        };
        Self { key: field.key, label: field.label, kind, required: field.required }
    }
}

/// What an admin states about a form (rule A9).
#[derive(InputObject, Debug, Clone)]
pub struct FormInput {
    pub name: String,
    pub abbreviation: String,
    pub fields: Vec<FormField>,
    #[graphql(default)]
    pub default_approver_ids: Vec<Uuid>,
    /// Whether its documents appear in the department box (rule A6).
    #[graphql(default = true)]
    pub public: bool,
    /// A leave request needs a required NUMBER field `days`.
    #[graphql(default)]
    pub leave_request: bool,
}

impl From<FormInput> for approval::FormSpec {
    fn from(input: FormInput) -> Self {
        Self {
            name: input.name,
            abbreviation: input.abbreviation,
            fields: input.fields.into_iter().map(Into::into).collect(),
            default_approvers: input.default_approver_ids,
            public: input.public,
            leave_request: input.leave_request,
        }
    }
}

/// A form documents are drafted from.
#[derive(SimpleObject, Debug, Clone)]
pub struct ApprovalForm {
    pub id: Uuid,
    pub name: String,
    pub abbreviation: String,
    pub fields: Vec<FormField>,
    pub default_approver_ids: Vec<Uuid>,
    pub public: bool,
    pub leave_request: bool,
}

impl From<&approval::Form> for ApprovalForm {
    fn from(form: &approval::Form) -> Self {
        Self {
            id: form.id,
            name: form.spec.name.clone(),
            abbreviation: form.spec.abbreviation.clone(),
            fields: form.spec.fields.iter().map(Into::into).collect(),
            default_approver_ids: form.spec.default_approvers.clone(),
            public: form.spec.public,
            leave_request: form.spec.leave_request,
        }
    }
}

/// The company's approval settings.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "ApprovalSettingsInput")]
pub struct ApprovalSettings {
    /// Rule A2: how agreement and reception run unless a line says otherwise.
    pub default_flow: Flow,
    pub agreers_may_reject: bool,
    pub negative_leave_allowed: bool,
    /// The `<company>` of document numbers; none: from the primary domain.
    pub number_prefix: Option<String>,
}

impl From<approval::ApprovalSettings> for ApprovalSettings {
    fn from(s: approval::ApprovalSettings) -> Self {
        Self {
            default_flow: s.default_flow.into(),
            agreers_may_reject: s.agreers_may_reject,
            negative_leave_allowed: s.negative_leave_allowed,
            number_prefix: s.number_prefix,
        }
    }
}

impl From<ApprovalSettings> for approval::ApprovalSettings {
    fn from(s: ApprovalSettings) -> Self {
        Self {
            default_flow: s.default_flow.into(),
            agreers_may_reject: s.agreers_may_reject,
            negative_leave_allowed: s.negative_leave_allowed,
            number_prefix: s.number_prefix,
        }
    }
}

/// A receiver of a completed document: a user or a department.
#[derive(InputObject, Debug, Clone)]
pub struct ReceiverInput {
    pub user_id: Option<Uuid>,
    pub department_id: Option<Uuid>,
}

/// An approval line as the drafter writes it (rule A1).
#[derive(InputObject, Debug, Clone, Default)]
pub struct LineInput {
    /// 결재, in order.
    pub approver_ids: Vec<Uuid>,
    /// 합의; they act before the approvers.
    #[graphql(default)]
    pub agreer_ids: Vec<Uuid>,
    /// None: the company's default.
    pub agreement: Option<Flow>,
    /// 수신.
    #[graphql(default)]
    pub receivers: Vec<ReceiverInput>,
    pub reception: Option<Flow>,
    /// 열람: read from submission.
    #[graphql(default)]
    pub reader_ids: Vec<Uuid>,
    /// 공람: read once completed.
    #[graphql(default)]
    pub circulation_ids: Vec<Uuid>,
    /// 참조.
    #[graphql(default)]
    pub reference_ids: Vec<Uuid>,
}

impl LineInput {
    /// The domain's line.
    ///
    /// # Errors
    /// `VALIDATION` for a receiver that is neither or both a user and a
    /// department.
    pub fn into_domain(self) -> ApiResult<approval::LineInput> {
        let receivers = self
            .receivers
            .into_iter()
            .map(|r| match (r.user_id, r.department_id) {
                (Some(user), None) => Ok(Receiver::User(user)),
                (None, Some(department)) => Ok(Receiver::Department(department)),
                _ => Err(domain::DomainError::invalid("line.receivers", "a receiver is a user or a department").into()),
            })
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(approval::LineInput {
            approvers: self.approver_ids,
            agreers: self.agreer_ids,
            agreement: self.agreement.map(Into::into),
            receivers,
            reception: self.reception.map(Into::into),
            readers: self.reader_ids,
            circulation: self.circulation_ids,
            references: self.reference_ids,
        })
    }
}

/// What a drafter writes.
#[derive(InputObject, Debug, Clone)]
pub struct DocumentInput {
    pub form_id: Uuid,
    pub title: String,
    /// The values of the form's fields by key.
    #[graphql(default)]
    pub fields: Json<BTreeMap<String, Value>>,
    pub line: LineInput,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::approval::Status")]
pub enum DocumentStatus {
    Draft,
    InProgress,
    Completed,
    Rejected,
    Recalled,
    Cancelled,
    Discarded,
}

/// A document box (rule A8).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::approval::DocBox")]
pub enum DocumentBox {
    Drafts,
    /// Waiting for my approval or agreement.
    Pending,
    /// In progress: drafted or acted on by me.
    InProgress,
    Completed,
    Rejected,
    /// Recalled documents and cancelled leave requests.
    Recalled,
    Received,
    /// 참조, 열람 and (once completed) 공람.
    Reference,
    /// 후열 to confirm.
    PostReview,
    /// A department's completed public documents (`departmentId`, the
    /// caller's by default).
    Department,
    /// Received by a department the caller heads or manages the box of,
    /// not yet taken.
    DepartmentReceived,
}

/// How many documents a box of the caller holds.
#[derive(SimpleObject, Debug, Clone)]
pub struct DocumentBoxCount {
    #[graphql(name = "box")]
    pub kind: DocumentBox,
    pub count: i64,
}

/// How to approve (rule A3).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApprovalMode {
    /// At one's turn.
    #[default]
    Normal,
    /// 전결: complete the document at once.
    Final,
    /// 선결: before one's turn.
    Ahead,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApproverState {
    Waiting,
    Approved,
    ApprovedAhead,
    /// 전결 by this approver.
    ApprovedFinal,
    /// Skipped by a 전결: the slot reads 전결.
    Skipped,
    /// Passed over by a later approver's 선결 (후열).
    PassedOver,
    Rejected,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostReview {
    None,
    Pending,
    Confirmed,
}

/// A user, resolved when asked for.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Person {
    pub id: Uuid,
    #[graphql(skip)]
    pub tenant: Uuid,
}

#[ComplexObject]
impl Person {
    /// None once the user is deleted.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(load_user(backend(ctx), self.tenant, self.id).await?)
    }
}

fn person(tenant: Uuid, id: Uuid) -> Person {
    Person { id, tenant }
}

/// An approver's place on the line.
#[derive(SimpleObject, Debug, Clone)]
pub struct ApproverSlotView {
    pub approver: Person,
    pub state: ApproverState,
    /// Who acted: the approver, or their delegate after 대결.
    pub acted_by: Option<Person>,
    pub acted_at: Option<DateTime<Utc>>,
    /// What the slot reads: 결재, 선결, 전결, 대결, 후열, 반려, or empty.
    pub label: String,
    /// 보류.
    pub held: bool,
    pub post_review: PostReview,
    pub reviewed_at: Option<DateTime<Utc>>,
}

fn approver_view(tenant: Uuid, slot: &ApproverSlot) -> ApproverSlotView {
    let state = match slot.state {
        SlotState::Waiting => ApproverState::Waiting,
        SlotState::Approved { .. } => ApproverState::Approved,
        SlotState::ApprovedAhead { .. } => ApproverState::ApprovedAhead,
        SlotState::ApprovedFinal { .. } => ApproverState::ApprovedFinal,
        SlotState::Skipped => ApproverState::Skipped,
        SlotState::PassedOver => ApproverState::PassedOver,
        SlotState::Rejected { .. } => ApproverState::Rejected,
    };
    let (label, acted) = slot.mark();
    let (post_review, reviewed_at) = match slot.review {
        Review::None => (PostReview::None, None),
        Review::Pending => (PostReview::Pending, None),
        Review::Confirmed { at } => (PostReview::Confirmed, Some(at)),
    };
    ApproverSlotView {
        approver: person(tenant, slot.user),
        state,
        acted_by: acted.map(|(by, _)| person(tenant, by)),
        acted_at: acted.map(|(_, at)| at),
        label: label.to_owned(),
        held: slot.held,
        post_review,
        reviewed_at,
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgreementState {
    Waiting,
    Agreed,
    Refused,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct AgreerSlotView {
    pub agreer: Person,
    pub state: AgreementState,
    pub acted_at: Option<DateTime<Utc>>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct ReceiverSlotView {
    pub user: Option<Person>,
    pub department_id: Option<Uuid>,
    pub taken_by: Option<Person>,
    pub taken_at: Option<DateTime<Utc>>,
}

/// The line with the state of every place.
#[derive(SimpleObject, Debug, Clone)]
pub struct ApprovalLine {
    pub approvers: Vec<ApproverSlotView>,
    pub agreers: Vec<AgreerSlotView>,
    pub agreement: Flow,
    pub receivers: Vec<ReceiverSlotView>,
    pub reception: Flow,
    pub readers: Vec<Person>,
    pub circulation: Vec<Person>,
    pub references: Vec<Person>,
}

fn line_view(tenant: Uuid, line: &approval::Line) -> ApprovalLine {
    let people = |ids: &[Uuid]| ids.iter().map(|id| person(tenant, *id)).collect();
    ApprovalLine {
        approvers: line.approvers.iter().map(|s| approver_view(tenant, s)).collect(),
        agreers: line
            .agreers
            .iter()
            .map(|a| {
                let (state, acted_at) = match a.state {
                    AgreerState::Waiting => (AgreementState::Waiting, None),
                    AgreerState::Agreed { at } => (AgreementState::Agreed, Some(at)),
                    AgreerState::Refused { at } => (AgreementState::Refused, Some(at)),
                };
                AgreerSlotView { agreer: person(tenant, a.user), state, acted_at }
            })
            .collect(),
        agreement: line.agreement.into(),
        receivers: line
            .receivers
            .iter()
            .map(|r| {
                let (user, department_id) = match r.receiver {
                    Receiver::User(u) => (Some(person(tenant, u)), None),
                    Receiver::Department(d) => (None, Some(d)),
                };
                ReceiverSlotView {
                    user,
                    department_id,
                    taken_by: r.taken.map(|(by, _)| person(tenant, by)),
                    taken_at: r.taken.map(|(_, at)| at),
                }
            })
            .collect(),
        reception: line.reception.into(),
        readers: people(&line.readers),
        circulation: people(&line.circulation),
        references: people(&line.references),
    }
}

/// One action of a document's history.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct HistoryEntry {
    /// SUBMITTED, RESUBMITTED, APPROVED, APPROVED_FINAL, APPROVED_AHEAD,
    /// REJECTED, HELD, REVIEW_CONFIRMED, AGREED, AGREEMENT_REFUSED,
    /// COMPLETED, RECEIVED, RECALLED, CANCELLED or REASSIGNED.
    pub action: String,
    #[graphql(skip)]
    pub by: Option<Uuid>,
    #[graphql(skip)]
    pub on_behalf_of: Option<Uuid>,
    #[graphql(skip)]
    pub reassigned: Option<(Uuid, Uuid)>,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
    /// The version of the document the action was on.
    pub version: u32,
    #[graphql(skip)]
    pub tenant: Uuid,
}

impl HistoryEntry {
    pub fn new(tenant: Uuid, row: HistoryRow) -> Self {
        Self {
            action: row.action.name().to_owned(),
            by: row.by,
            on_behalf_of: row.on_behalf_of,
            reassigned: row.reassigned,
            comment: row.comment,
            at: row.at,
            version: row.version,
            tenant,
        }
    }
}

#[ComplexObject]
impl HistoryEntry {
    /// Who acted (none for the completion itself).
    async fn by(&self) -> Option<Person> {
        self.by.map(|id| person(self.tenant, id))
    }

    /// The absent approver a delegate acted for (대결).
    async fn on_behalf_of(&self) -> Option<Person> {
        self.on_behalf_of.map(|id| person(self.tenant, id))
    }

    /// For REASSIGNED: the deleted user whose places were given (rule U1).
    async fn reassigned_from(&self) -> Option<Person> {
        self.reassigned.map(|(from, _)| person(self.tenant, from))
    }

    /// For REASSIGNED: who took the places.
    async fn reassigned_to(&self) -> Option<Person> {
        self.reassigned.map(|(_, to)| person(self.tenant, to))
    }
}

/// An approval document as its readers see it.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct ApprovalDocument {
    pub id: Uuid,
    /// `<company>-YYYY-NNNNN`, once completed.
    pub number: Option<String>,
    pub title: String,
    pub status: DocumentStatus,
    /// 1, and one more at each resubmission.
    pub version: u32,
    pub form: Option<ApprovalForm>,
    pub fields: Json<BTreeMap<String, Value>>,
    pub drafter: Person,
    pub department_id: Option<Uuid>,
    pub line: ApprovalLine,
    pub submitted_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl ApprovalDocument {
    pub fn new(tenant: Uuid, id: Uuid, document: &approval::Document) -> Self {
        Self {
            id,
            number: document.number.clone(),
            title: document.title.clone(),
            status: document.status.unwrap_or(Status::Draft).into(),
            version: document.version,
            form: document.form.as_ref().map(Into::into),
            fields: Json(document.fields.clone()),
            drafter: person(tenant, document.drafter),
            department_id: document.department,
            line: line_view(tenant, &document.line),
            submitted_at: document.submitted_at,
            completed_at: document.completed_at,
            updated_at: document.updated_at,
        }
    }
}

#[ComplexObject]
impl ApprovalDocument {
    /// Every action on the document, oldest first, with who, when and
    /// the comment.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<HistoryEntry>> {
        Ok(super::history(backend(ctx), self.drafter.tenant, self.id).await?)
    }
}

/// A document waiting for an absent approver the caller stands in for (대결).
#[derive(SimpleObject, Debug, Clone)]
pub struct DelegatedDocument {
    /// The absent approver.
    pub on_behalf_of: Person,
    pub document: ApprovalDocument,
}

impl DelegatedDocument {
    pub fn new(tenant: Uuid, approver: Uuid, document: ApprovalDocument) -> Self {
        Self { on_behalf_of: person(tenant, approver), document }
    }
}

/// A registered absence (rule A4).
#[derive(SimpleObject, Debug, Clone)]
pub struct AbsenceView {
    pub id: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub reason: String,
    #[graphql(name = "delegateId")]
    pub delegate: Uuid,
}

impl AbsenceView {
    pub fn new(id: Uuid, absence: &approval::Absence) -> Self {
        Self { id, from: absence.from, to: absence.to, reason: absence.reason.clone(), delegate: absence.delegate }
    }
}

/// A backup of documents (rule A10).
#[derive(SimpleObject, Debug, Clone)]
pub struct DocumentBackup {
    pub id: Uuid,
    /// YYYYMMDD.
    pub from: String,
    pub to: String,
    pub requested_at: DateTime<Utc>,
    /// PREPARING, READY or FAILED.
    pub status: String,
    pub documents: Option<u32>,
    pub size: Option<u64>,
    pub failure: Option<String>,
    /// It can be downloaded (at `downloadPath`) until then.
    pub expires_at: DateTime<Utc>,
    pub download_path: String,
}

impl DocumentBackup {
    pub fn new(id: Uuid, backup: &approval::Backup) -> Self {
        let file = FileFields::of(&backup.file);
        Self {
            id,
            from: backup.from.format("%Y%m%d").to_string(),
            to: backup.to.format("%Y%m%d").to_string(),
            requested_at: backup.file.requested_at,
            status: file.status.to_owned(),
            documents: file.items.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            size: file.size,
            failure: file.failure,
            expires_at: backup.file.expires_at(),
            download_path: format!("/approval/backups/{id}"),
        }
    }
}
