//! A company's e-approval setup: its forms (rule A9) and its approval
//! settings (rule A2 and the readings in DOMAIN.md). One stream per tenant
//! (`approvalsetup-<tenant>`), edited by admins.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{Actor, Aggregate, DomainError, DomainEvent};

const MAX_NAME: usize = 100;
const MAX_ABBREVIATION: usize = 20;
const MAX_FIELDS: usize = 50;
const MAX_OPTIONS: usize = 100;
/// The longest text a field holds.
const MAX_TEXT: usize = 20_000;
/// The most rows a table field holds.
const MAX_ROWS: usize = 500;
/// The key of the field a leave request states its days in.
pub const LEAVE_DAYS_FIELD: &str = "days";

/// How agreers or receivers take their turns (rule A2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Flow {
    /// One after another, in the order of the line.
    #[default]
    Sequential,
    /// All at once.
    Parallel,
}

/// What a form field holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind")]
pub enum FieldKind {
    Text,
    Number,
    /// `YYYY-MM-DD`.
    Date,
    /// `{ "from": "YYYY-MM-DD", "to": "YYYY-MM-DD" }`, from ≤ to.
    DateRange,
    Choice {
        options: Vec<String>,
    },
    /// Rows of `{ column: text }`.
    Table {
        columns: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FormField {
    /// The stable key values are stored under.
    pub key: String,
    pub label: String,
    pub kind: FieldKind,
    pub required: bool,
}

/// Everything an admin states about a form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FormSpec {
    pub name: String,
    /// Shown in lists, like `지출` or `LV`.
    pub abbreviation: String,
    pub fields: Vec<FormField>,
    /// The approvers a new document of this form starts with.
    pub default_approvers: Vec<Uuid>,
    /// Whether its documents appear in the department box (rule A6).
    pub public: bool,
    /// Whether it is a leave request (rules A7, H6): it then has a number
    /// field `days`, and its documents are cancelled rather than recalled.
    pub leave_request: bool,
}

/// A form as a document keeps it: what it was when the document was drafted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Form {
    pub id: Uuid,
    #[serde(flatten)]
    pub spec: FormSpec,
}

/// The tenant's approval settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApprovalSettings {
    /// Rule A2: how agreement and reception run unless a line says otherwise.
    pub default_flow: Flow,
    /// Whether an agreer may refuse (and so reject the document).
    pub agreers_may_reject: bool,
    /// Whether a leave request may take a balance below zero (rule H6).
    pub negative_leave_allowed: bool,
    /// The `<company>` part of document numbers; none: from the domain.
    pub number_prefix: Option<String>,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        Self {
            default_flow: Flow::Sequential,
            agreers_may_reject: true,
            negative_leave_allowed: false,
            number_prefix: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalSetupCommand {
    /// The caller has checked that the acting user is an admin.
    pub by_admin: bool,
    pub action: ApprovalSetupAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalSetupAction {
    /// `known_users`: the users of the tenant among the default approvers,
    /// as the caller found them.
    CreateForm {
        form_id: Uuid,
        spec: FormSpec,
        known_users: BTreeSet<Uuid>,
    },
    EditForm {
        form_id: Uuid,
        spec: FormSpec,
        known_users: BTreeSet<Uuid>,
    },
    /// Retired forms draft no new documents; documents already drafted keep
    /// their copy of the form.
    RetireForm {
        form_id: Uuid,
    },
    ChangeSettings {
        settings: ApprovalSettings,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum ApprovalSetupEvent {
    #[serde(rename = "ApprovalFormCreated")]
    FormCreated { form: Form },
    #[serde(rename = "ApprovalFormEdited")]
    FormEdited { form: Form },
    #[serde(rename = "ApprovalFormRetired")]
    FormRetired { form_id: Uuid },
    #[serde(rename = "ApprovalSettingsChanged")]
    SettingsChanged { settings: ApprovalSettings },
}

impl DomainEvent for ApprovalSetupEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ApprovalSetupEvent::FormCreated { .. } => "ApprovalFormCreated",
            ApprovalSetupEvent::FormEdited { .. } => "ApprovalFormEdited",
            ApprovalSetupEvent::FormRetired { .. } => "ApprovalFormRetired",
            ApprovalSetupEvent::SettingsChanged { .. } => "ApprovalSettingsChanged",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApprovalSetup {
    /// Forms in use.
    pub forms: BTreeMap<Uuid, Form>,
    pub settings: ApprovalSettings,
}

fn bounded(field: &'static str, input: &str, max: usize) -> Result<String, DomainError> {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max {
        return Err(DomainError::invalid(field, format!("1 to {max} characters")));
    }
    Ok(trimmed.to_owned())
}

impl FormSpec {
    /// The spec with trimmed names, or why it cannot be a form.
    fn checked(&self, known_users: &BTreeSet<Uuid>) -> Result<FormSpec, DomainError> {
        let name = bounded("name", &self.name, MAX_NAME)?;
        let abbreviation = bounded("abbreviation", &self.abbreviation, MAX_ABBREVIATION)?;
        if self.fields.len() > MAX_FIELDS {
            return Err(DomainError::invalid("fields", format!("a form has at most {MAX_FIELDS} fields")));
        }
        let mut keys = BTreeSet::new();
        let mut fields = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            let key = bounded("fields.key", &field.key, MAX_NAME)?;
            if !keys.insert(key.clone()) {
                return Err(DomainError::invalid("fields.key", format!("the key `{key}` appears twice")));
            }
            let kind = match &field.kind {
                FieldKind::Choice { options } => FieldKind::Choice { options: labels("fields.options", options)? },
                FieldKind::Table { columns } => FieldKind::Table { columns: labels("fields.columns", columns)? },
                other => other.clone(),
            };
            fields.push(FormField {
                key,
                label: bounded("fields.label", &field.label, MAX_NAME)?,
                kind,
                required: field.required,
            });
        }
        if self.leave_request
            && !fields.iter().any(|f| f.key == LEAVE_DAYS_FIELD && f.kind == FieldKind::Number && f.required)
        {
            return Err(DomainError::invalid(
                "fields",
                format!("a leave request form needs a required number field `{LEAVE_DAYS_FIELD}`"),
            ));
        }
        let mut seen = BTreeSet::new();
        for approver in &self.default_approvers {
            if !known_users.contains(approver) {
                return Err(DomainError::invalid("defaultApprovers", format!("no user {approver} in this company")));
            }
            if !seen.insert(approver) {
                return Err(DomainError::invalid("defaultApprovers", format!("user {approver} appears twice")));
            }
        }
        Ok(FormSpec { name, abbreviation, fields, ..self.clone() })
    }
}

/// Non-empty, distinct labels.
fn labels(field: &'static str, input: &[String]) -> Result<Vec<String>, DomainError> {
    if input.is_empty() || input.len() > MAX_OPTIONS {
        return Err(DomainError::invalid(field, format!("1 to {MAX_OPTIONS} entries")));
    }
    let mut out: Vec<String> = Vec::with_capacity(input.len());
    for label in input {
        let label = bounded(field, label, MAX_NAME)?;
        if out.contains(&label) {
            return Err(DomainError::invalid(field, format!("`{label}` appears twice")));
        }
        out.push(label);
    }
    Ok(out)
}

fn date(field: &'static str, value: &Value) -> Result<NaiveDate, DomainError> {
    value
        .as_str()
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .ok_or_else(|| DomainError::invalid(field, "a date is written YYYY-MM-DD"))
}

impl Form {
    /// Checks the values of a document drafted from this form: every key is
    /// a field, every value fits its field, and, when `complete`, every
    /// required field has a value.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] naming the first field that does not fit.
    pub fn check_values(&self, values: &BTreeMap<String, Value>, complete: bool) -> Result<(), DomainError> {
        for key in values.keys() {
            if !self.spec.fields.iter().any(|f| &f.key == key) {
                return Err(DomainError::invalid("fields", format!("the form has no field `{key}`")));
            }
        }
        for field in &self.spec.fields {
            match values.get(&field.key) {
                None | Some(Value::Null) if complete && field.required => {
                    return Err(DomainError::invalid("fields", format!("`{}` is required", field.label)));
                }
                None | Some(Value::Null) => {}
                Some(value) => check_value(field, value)?,
            }
        }
        Ok(())
    }

    /// The leave days a leave request asks for, in quarter days.
    pub fn leave_quarters(&self, values: &BTreeMap<String, Value>) -> Option<i64> {
        if !self.spec.leave_request {
            return None;
        }
        values.get(LEAVE_DAYS_FIELD).and_then(Value::as_f64).map(|days| (days * 4.0).round() as i64)
    }
}

fn check_value(field: &FormField, value: &Value) -> Result<(), DomainError> {
    let wrong = |what: &str| DomainError::invalid("fields", format!("`{}` must be {what}", field.label));
    match &field.kind {
        FieldKind::Text => match value.as_str() {
            Some(text) if text.chars().count() <= MAX_TEXT => Ok(()),
            _ => Err(wrong(&format!("a text of at most {MAX_TEXT} characters"))),
        },
        FieldKind::Number => match value.as_f64() {
            Some(n) if n.is_finite() => {
                if field.key == LEAVE_DAYS_FIELD && (n <= 0.0 || (n * 4.0).fract() != 0.0 || n > 365.0) {
                    return Err(wrong("a positive number of days in quarter days (1, 0.5, 0.25), at most 365"));
                }
                Ok(())
            }
            _ => Err(wrong("a number")),
        },
        FieldKind::Date => date("fields", value).map(drop).map_err(|_| wrong("a date YYYY-MM-DD")),
        FieldKind::DateRange => {
            let (Ok(from), Ok(to)) = (date("fields", &value["from"]), date("fields", &value["to"])) else {
                return Err(wrong("a range { from, to } of dates YYYY-MM-DD"));
            };
            if from > to {
                return Err(wrong("a range whose start is not after its end"));
            }
            Ok(())
        }
        FieldKind::Choice { options } => match value.as_str() {
            Some(choice) if options.iter().any(|o| o == choice) => Ok(()),
            _ => Err(wrong(&format!("one of {}", options.join(", ")))),
        },
        FieldKind::Table { columns } => {
            let Some(rows) = value.as_array().filter(|rows| rows.len() <= MAX_ROWS) else {
                return Err(wrong(&format!("a list of at most {MAX_ROWS} rows")));
            };
            for row in rows {
                let Some(cells) = row.as_object() else { return Err(wrong("a list of rows")) };
                for (column, cell) in cells {
                    if !columns.contains(column) {
                        return Err(wrong(&format!("rows with the columns {}", columns.join(", "))));
                    }
                    if cell.as_str().is_none_or(|c| c.chars().count() > MAX_TEXT) {
                        return Err(wrong("rows of texts"));
                    }
                }
            }
            Ok(())
        }
    }
}

impl ApprovalSetup {
    /// A form in use.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for an unknown or retired form.
    pub fn form(&self, id: Uuid) -> Result<&Form, DomainError> {
        self.forms.get(&id).ok_or_else(|| DomainError::NotFound(format!("form {id}")))
    }

    fn check_form_name(&self, form: Uuid, name: &str) -> Result<(), DomainError> {
        if self.forms.iter().any(|(id, f)| *id != form && f.spec.name.to_lowercase() == name.to_lowercase()) {
            return Err(DomainError::Conflict(format!("a form named `{name}` already exists")));
        }
        Ok(())
    }
}

fn prefix(input: &str) -> Result<String, DomainError> {
    let prefix = input.trim();
    let fits = (1..=20).contains(&prefix.len()) && prefix.chars().all(|c| c.is_ascii_alphanumeric());
    if !fits {
        return Err(DomainError::invalid("numberPrefix", "1 to 20 letters A–Z or digits"));
    }
    Ok(prefix.to_ascii_uppercase())
}

impl Aggregate for ApprovalSetup {
    type Command = ApprovalSetupCommand;
    type Event = ApprovalSetupEvent;

    const CATEGORY: &'static str = "approvalsetup";
    const SNAPSHOT_VERSION: u32 = 1;

    fn authorize(&self, actor: &Actor, command: &ApprovalSetupCommand) -> Result<(), DomainError> {
        match actor {
            Actor::System => Ok(()),
            Actor::User(_) if command.by_admin => Ok(()),
            // Rule A9: forms are the admins' to edit; rule A2: so are the
            // settings (the default flow, whether agreers may refuse).
            Actor::User(_) => {
                let rule = match command.action {
                    ApprovalSetupAction::ChangeSettings { .. } => "A2",
                    _ => "A9",
                };
                Err(DomainError::Forbidden("only an admin of the company edits forms and settings".into())
                    .by_rule(rule))
            }
            Actor::Anonymous => Err(DomainError::Unauthenticated("log in first".into())),
        }
    }

    fn decide(
        &self,
        command: &ApprovalSetupCommand,
        _now: DateTime<Utc>,
    ) -> Result<Vec<ApprovalSetupEvent>, DomainError> {
        use ApprovalSetupAction as A;
        use ApprovalSetupEvent as E;
        let event = match &command.action {
            A::CreateForm { form_id, spec, known_users } => {
                if self.forms.contains_key(form_id) {
                    return Err(DomainError::Conflict(format!("form {form_id} already exists")));
                }
                let spec = spec.checked(known_users)?;
                self.check_form_name(*form_id, &spec.name)?;
                E::FormCreated { form: Form { id: *form_id, spec } }
            }
            A::EditForm { form_id, spec, known_users } => {
                self.form(*form_id)?;
                let spec = spec.checked(known_users)?;
                self.check_form_name(*form_id, &spec.name)?;
                E::FormEdited { form: Form { id: *form_id, spec } }
            }
            A::RetireForm { form_id } => {
                self.form(*form_id)?;
                E::FormRetired { form_id: *form_id }
            }
            A::ChangeSettings { settings } => {
                let number_prefix = settings.number_prefix.as_deref().map(prefix).transpose()?;
                E::SettingsChanged { settings: ApprovalSettings { number_prefix, ..settings.clone() } }
            }
        };
        Ok(vec![event])
    }

    fn evolve(mut self, event: &ApprovalSetupEvent) -> Self {
        match event {
            ApprovalSetupEvent::FormCreated { form } | ApprovalSetupEvent::FormEdited { form } => {
                self.forms.insert(form.id, form.clone());
            }
            ApprovalSetupEvent::FormRetired { form_id } => {
                self.forms.remove(form_id);
            }
            ApprovalSetupEvent::SettingsChanged { settings } => self.settings = settings.clone(),
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;

    fn spec() -> FormSpec {
        FormSpec {
            name: " Leave request ".into(),
            abbreviation: "LV".into(),
            fields: vec![
                FormField { key: "days".into(), label: "Days".into(), kind: FieldKind::Number, required: true },
                FormField { key: "period".into(), label: "Period".into(), kind: FieldKind::DateRange, required: true },
                FormField {
                    key: "kind".into(),
                    label: "Kind".into(),
                    kind: FieldKind::Choice { options: vec!["annual".into(), "sick".into()] },
                    required: false,
                },
            ],
            default_approvers: vec![Uuid::from_u128(7)],
            public: false,
            leave_request: true,
        }
    }

    fn create(spec: FormSpec) -> ApprovalSetupCommand {
        let known_users = BTreeSet::from([Uuid::from_u128(7)]);
        ApprovalSetupCommand {
            by_admin: true,
            action: ApprovalSetupAction::CreateForm { form_id: Uuid::from_u128(1), spec, known_users },
        }
    }

    #[test]
    fn rule_a9_admins_create_forms_and_others_may_not() {
        let form = Form { id: Uuid::from_u128(1), spec: FormSpec { name: "Leave request".into(), ..spec() } };
        given::<ApprovalSetup>(vec![])
            .when(Actor::User(Uuid::from_u128(2)), create(spec()))
            .then(vec![ApprovalSetupEvent::FormCreated { form }]);
        let mut not_admin = create(spec());
        not_admin.by_admin = false;
        given::<ApprovalSetup>(vec![]).when(Actor::User(Uuid::from_u128(2)), not_admin).then_refused(
            DomainError::Forbidden("only an admin of the company edits forms and settings".into()).by_rule("A9"),
        );
    }

    #[test]
    fn rule_a9_a_form_is_checked_whole() {
        let broken = [
            FormSpec { name: " ".into(), ..spec() },
            FormSpec { default_approvers: vec![Uuid::from_u128(8)], ..spec() },
            FormSpec { fields: spec().fields[1..].to_vec(), ..spec() },
            FormSpec { fields: [spec().fields.clone(), spec().fields].concat(), ..spec() },
            FormSpec {
                fields: vec![FormField {
                    key: "kind".into(),
                    label: "Kind".into(),
                    kind: FieldKind::Choice { options: vec![] },
                    required: false,
                }],
                leave_request: false,
                ..spec()
            },
        ];
        for spec in broken {
            let result = ApprovalSetup::default().decide(&create(spec.clone()), Utc::now());
            assert!(matches!(result, Err(DomainError::Invalid { .. })), "{spec:?}: {result:?}");
        }
    }

    #[test]
    fn rule_a9_values_fit_their_fields() {
        let form = Form { id: Uuid::from_u128(1), spec: spec() };
        let values = |pairs: Value| serde_json::from_value::<BTreeMap<String, Value>>(pairs).unwrap();
        let good = values(serde_json::json!({ "days": 0.75, "period": { "from": "2026-12-01", "to": "2026-12-01" } }));
        assert_eq!(form.check_values(&good, true), Ok(()));
        assert_eq!(form.leave_quarters(&good), Some(3));
        for bad in [
            serde_json::json!({ "days": 0.3, "period": { "from": "2026-12-01", "to": "2026-12-01" } }),
            serde_json::json!({ "days": 1, "period": { "from": "2026-12-02", "to": "2026-12-01" } }),
            serde_json::json!({ "days": 1, "period": { "from": "2026-12-01", "to": "2026-12-01" }, "kind": "other" }),
            serde_json::json!({ "days": 1, "period": { "from": "2026-12-01", "to": "2026-12-01" }, "extra": 1 }),
            serde_json::json!({ "period": { "from": "2026-12-01", "to": "2026-12-01" } }),
        ] {
            assert!(form.check_values(&values(bad.clone()), true).is_err(), "{bad}");
        }
    }

    #[test]
    fn rule_a2_agreement_is_sequential_unless_the_admin_changes_it() {
        assert_eq!(ApprovalSettings::default().default_flow, Flow::Sequential);
        assert!(ApprovalSettings::default().agreers_may_reject);
        let settings =
            ApprovalSettings { default_flow: Flow::Parallel, number_prefix: Some("acme".into()), ..Default::default() };
        let command = ApprovalSetupCommand {
            by_admin: true,
            action: ApprovalSetupAction::ChangeSettings { settings: settings.clone() },
        };
        given::<ApprovalSetup>(vec![]).when(Actor::User(Uuid::from_u128(2)), command).then(vec![
            ApprovalSetupEvent::SettingsChanged {
                settings: ApprovalSettings { number_prefix: Some("ACME".into()), ..settings },
            },
        ]);
    }
}
