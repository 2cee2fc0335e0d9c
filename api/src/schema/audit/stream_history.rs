//! The history of one stream, read from the log itself, with the envelope
//! of each event. Content follows the rules of the rest of the API: a
//! mailbox's events are its owner's alone, a document's are for those who
//! may open it, HR streams are for HR managers (and a ledger for its owner),
//! the company's setup streams for its admins; auditors read all of these
//! but mail; anyone else, and everyone for a kind of stream without a rule
//! here, sees each event's type, actor and times with the content withheld.
//! The same rules answer for a stream's state at a past point.

use async_graphql::{Json, SimpleObject};
use chrono::{DateTime, Utc};
use commands::{AsOf, stream_name};
use domain::approval::{Absences, ApprovalSetup, Backups, Document, DocumentNumbers};
use domain::audit::Checkpoints;
use domain::audit::archives::Archives;
use domain::hr::{CertificateRegister, LeaveLedger, Personnel};
use domain::mail::Mailbox;
use domain::organisation::Organisation;
use domain::registry::DomainRegistration;
use domain::tenant::Tenant;
use domain::timer::Timer;
use domain::values::Role;
use domain::{Aggregate, DomainError};
use store::Direction;
use uuid::Uuid;

use crate::backend::Backend;
use crate::errors::{ApiError, ApiResult};
use crate::schema::pagination::{Page, PageRequest};
use crate::schema::types::{StoredEvent, redact};
use crate::schema::{Caller, approval};

/// The list name of stream-history cursors.
const LIST: &str = "stream";

/// One page of `stream`, oldest first, when it is the caller's company's.
pub(super) async fn stream_history(
    backend: &Backend,
    caller: &Caller,
    stream: &str,
    request: &PageRequest,
) -> ApiResult<Page<StoredEvent>> {
    let window = request.window(LIST)?;
    let invalid = || ApiError::new(crate::errors::Code::Validation, "the cursor is not a cursor of this list");
    let from = window
        .from
        .as_deref()
        .map(|v| v.parse::<u64>().ok().filter(|v| i64::try_from(*v).is_ok()).ok_or_else(invalid))
        .transpose()?;
    let store = &backend.store;
    let not_found = || ApiError::not_found(format!("stream `{stream}`"));
    let last = companys_newest(backend, caller, stream).await?;
    let events = match (window.backwards, from) {
        (false, from) => {
            let start = from.map_or(0, |v| v + 1);
            store.read_stream(stream, Direction::Forwards, Some(start), window.size + 1).await
        }
        (true, Some(0)) => Ok(Vec::new()),
        (true, before) => {
            let start = before.map(|v| v - 1);
            store.read_stream(stream, Direction::Backwards, start, window.size + 1).await
        }
    }?;
    if events.iter().any(|e| e.metadata.tenant != Some(caller.tenant)) {
        return Err(not_found());
    }
    let shown = content_shown(backend, caller, stream).await?;
    let items = events.iter().map(|e| (e.version.to_string(), StoredEvent::from_recorded(e, shown))).collect();
    let total_count = usize::try_from(last.version + 1).unwrap_or(usize::MAX);
    Ok(window.connection(LIST, items, total_count))
}

/// A stream's aggregate as it was at a point of its past.
#[derive(SimpleObject, Debug, Clone)]
pub struct HistoricalState {
    pub stream_id: String,
    /// The version of the last event replayed; none when the stream had
    /// no events yet.
    pub version: Option<u64>,
    /// The log position of that event.
    pub position: Option<u64>,
    /// When that event occurred.
    pub occurred_at: Option<DateTime<Utc>>,
    /// The state, as the aggregate keeps it (secrets such as password
    /// hashes redacted); none when withheld from the caller.
    pub state: Option<Json<serde_json::Value>>,
    /// Whether the content is withheld (the same rules as `streamHistory`).
    pub content_withheld: bool,
}

/// `stream`'s aggregate as it was at `as_of`, replayed from the log, when
/// the stream is the caller's company's.
///
/// # Errors
/// `NOT_FOUND` for a stream of another company or of no known kind;
/// `VALIDATION` for a point before the company existed.
pub(super) async fn historical_state(
    backend: &Backend,
    caller: &Caller,
    stream: &str,
    as_of: AsOf,
) -> ApiResult<HistoricalState> {
    let not_found = || ApiError::not_found(format!("stream `{stream}`"));
    let (category, id) = stream.split_once('-').ok_or_else(not_found)?;
    let id = Uuid::try_parse(id).map_err(|_| not_found())?;
    // The aggregate is loaded by its id: the name must be the one the
    // store knows it by, so the check below reads the same stream.
    if stream != format!("{category}-{}", id.simple()) {
        return Err(not_found());
    }
    companys_newest(backend, caller, stream).await?;
    let company = stream_name::<Tenant>(caller.tenant);
    let signed_up = backend.store.read_stream(&company, Direction::Forwards, None, 1).await?;
    let signed_up = signed_up.first().ok_or_else(not_found)?;
    let before = match as_of {
        AsOf::Position(position) => position < signed_up.position,
        AsOf::Time(time) => time < signed_up.metadata.occurred_at,
    };
    if before {
        return Err(DomainError::invalid(
            "at",
            format!("the company did not exist yet: it signed up at {}", signed_up.metadata.occurred_at.to_rfc3339()),
        )
        .into());
    }
    let past = backend.reactions.state_as_of(&backend.commands, category, id, as_of).await.map_err(|e| match e {
        commands::CommandError::Rejected(_) => not_found(),
        other => other.into(),
    })?;
    let shown = content_shown(backend, caller, stream).await?;
    let state = shown.then(|| {
        let mut state = past.state;
        redact(&mut state);
        Json(state)
    });
    Ok(HistoricalState {
        stream_id: stream.to_owned(),
        version: past.version,
        position: past.position,
        occurred_at: past.occurred_at,
        state,
        content_withheld: !shown,
    })
}

/// The newest event of `stream` when the stream is the caller's company's
/// (its events say so); another company's stream, like one without events,
/// reads as missing.
async fn companys_newest(backend: &Backend, caller: &Caller, stream: &str) -> ApiResult<store::RecordedEvent> {
    let newest = backend.store.read_stream(stream, Direction::Backwards, None, 1).await?;
    newest
        .into_iter()
        .next()
        .filter(|e| e.metadata.tenant == Some(caller.tenant))
        .ok_or_else(|| ApiError::not_found(format!("stream `{stream}`")))
}

/// Whether the caller may see the content of `stream`'s events.
async fn content_shown(backend: &Backend, caller: &Caller, stream: &str) -> ApiResult<bool> {
    let (category, id) = stream.split_once('-').unwrap_or((stream, ""));
    let own = || Uuid::try_parse(id).is_ok_and(|id| id == caller.user.id);
    // Mail is its owner's alone (rule E7 opens it to admins and auditors
    // only with the secure-mail add-on).
    if category == Mailbox::CATEGORY {
        return Ok(own());
    }
    // Auditors read the company's records: documents, leave, HR, setup.
    let auditor = caller.has(Role::Auditor);
    Ok(match category {
        Document::CATEGORY => match Uuid::try_parse(id) {
            Ok(_) if auditor => true,
            Ok(document) => approval::may_open(backend, caller, document).await?,
            Err(_) => false,
        },
        LeaveLedger::CATEGORY => auditor || own() || caller.has(Role::HrManager),
        // An auditor's archive opens the records; its blob's digest is
        // theirs too.
        Archives::CATEGORY => auditor,
        Personnel::CATEGORY | CertificateRegister::CATEGORY => auditor || caller.has(Role::HrManager),
        // The company's own setup and bookkeeping, which its admins manage.
        Tenant::CATEGORY
        | Organisation::CATEGORY
        | ApprovalSetup::CATEGORY
        | DocumentNumbers::CATEGORY
        | Backups::CATEGORY
        | Absences::CATEGORY
        | Timer::CATEGORY
        | DomainRegistration::CATEGORY
        | Checkpoints::CATEGORY => true,
        // A stream of a kind not named here shows no content until its
        // rule is written down.
        _ => false,
    })
}
