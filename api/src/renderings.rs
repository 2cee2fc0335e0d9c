//! Readable renderings of a company's records: an approval document as a
//! page with its line and history (for backups and archives), and the
//! renderer of an archive's events — every mail as an RFC 5322 `.eml`
//! message with its attachments, every document as its page, every leave
//! history as CSV.

use std::collections::BTreeSet;
use std::sync::Arc;

use audit::archive::{ArchiveError, Renderer, Renderings};
use blobs::Blobs;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use domain::Aggregate;
use domain::approval::{AgreerState, Document, DocumentEvent, Receiver, Status};
use domain::hr::LeaveLedger;
use domain::mail::{Mailbox, MailboxEvent};
use domain::tenant::Tenant;
use printing::{DocumentPage, HistoryLine, LineSlot};
use projections::projectors::approval::{HistoryRow, history_row};
use projections::projectors::hr::leave_entry;
use serde_json::Value;
use store::sealing::{Opened, Sealer};
use store::{Direction, EventStore, RecordedEvent};
use uuid::Uuid;

/// Everyone a document's page names: drafter, line and history.
pub(crate) fn people(document: &Document, history: &[HistoryRow]) -> BTreeSet<Uuid> {
    let line = &document.line;
    let receivers = line.receivers.iter().filter_map(|slot| match slot.receiver {
        Receiver::User(user) => Some(user),
        Receiver::Department(_) => None,
    });
    std::iter::once(document.drafter)
        .chain(line.agreers.iter().map(|slot| slot.user))
        .chain(line.approvers.iter().map(|slot| slot.user))
        .chain(receivers)
        .chain(line.references.iter().copied())
        .chain(history.iter().filter_map(|entry| entry.by))
        .collect()
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A document's page, its people named by `name` and its times shown in
/// `tz`.
pub(crate) fn document_page(
    document: &Document,
    company: &str,
    name: &dyn Fn(Uuid) -> String,
    history: &[HistoryRow],
    tz: Tz,
) -> DocumentPage {
    let time = |at: Option<DateTime<Utc>>| {
        at.map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
    };
    let slot = |role: &str, user: Uuid, mark: &str, at: Option<DateTime<Utc>>| LineSlot {
        role: role.into(),
        person: name(user),
        mark: mark.into(),
        at: time(at),
    };
    let mut line = Vec::new();
    for agreer in &document.line.agreers {
        let (mark, at) = match agreer.state {
            AgreerState::Waiting => ("", None),
            AgreerState::Agreed { at } => ("합의", Some(at)),
            AgreerState::Refused { at } => ("반대", Some(at)),
        };
        line.push(slot("합의", agreer.user, mark, at));
    }
    for approver in &document.line.approvers {
        let (mark, acted) = approver.mark();
        line.push(slot("결재", approver.user, mark, acted.map(|(_, at)| at)));
    }
    for receiver in &document.line.receivers {
        let at = receiver.taken.map(|(_, at)| at);
        let mark = if at.is_some() { "접수" } else { "" };
        match receiver.receiver {
            Receiver::User(user) => line.push(slot("수신", user, mark, at)),
            Receiver::Department(d) => line.push(LineSlot {
                role: "수신".into(),
                person: format!("department {d}"),
                mark: mark.into(),
                at: time(at),
            }),
        }
    }
    for user in &document.line.references {
        line.push(slot("참조", *user, "", None));
    }
    let form = document.form.as_ref();
    let fields = form
        .map(|f| {
            f.spec
                .fields
                .iter()
                .map(|field| (field.label.clone(), document.fields.get(&field.key).map(text).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let history = history
        .iter()
        .map(|entry| HistoryLine {
            at: time(Some(entry.at)),
            action: entry.action.name().to_owned(),
            by: entry.by.map(name).unwrap_or_default(),
            comment: entry.comment.clone().unwrap_or_default(),
        })
        .collect();
    DocumentPage {
        company: company.to_owned(),
        number: document.number.clone().unwrap_or_default(),
        title: document.title.clone(),
        form: form.map(|f| f.spec.name.clone()).unwrap_or_default(),
        status: format!("{:?}", document.status.unwrap_or(Status::Draft)),
        drafter: name(document.drafter),
        submitted_at: time(document.submitted_at),
        completed_at: time(document.completed_at),
        fields,
        line,
        history,
    }
}

/// How a person is named in renderings: by name and login while their
/// account lives (`found`), as deleted once it is gone.
pub(crate) fn person_named(found: Option<(&str, &str)>, id: Uuid) -> String {
    match found {
        Some((name, login)) => format!("{name} ({login})"),
        None => format!("deleted user {id}"),
    }
}

/// The file a document's page is kept in: its number, or its id before it
/// has one.
pub(crate) fn page_file(document: &Document, id: Uuid) -> String {
    format!("{}.html", document.number.clone().unwrap_or_else(|| id.to_string()))
}

/// Whether a document is a record of the company: submitted once, not a
/// draft or discarded.
pub(crate) fn is_record(document: &Document) -> bool {
    document.submitted_at.is_some() && !matches!(document.status, Some(Status::Draft | Status::Discarded) | None)
}

/// Renders an archive's events: mails as they pass (when `mail` allows),
/// documents as they stood at the archive's last event, and leave
/// histories (when `records` allows: HR is its managers' and auditors').
pub(crate) struct ArchiveRenderer {
    /// The log with payloads opened, for the streams read at the end.
    store: Arc<dyn EventStore>,
    sealer: Arc<Sealer>,
    blobs: Arc<dyn Blobs>,
    tenant: Uuid,
    company_name: String,
    zone: Tz,
    /// Whether mail content goes into the archive (rule E7: only where
    /// whoever asked may read it).
    mail: bool,
    /// Whether leave histories do.
    records: bool,
    documents: BTreeSet<Uuid>,
    ledgers: BTreeSet<Uuid>,
    /// The positions of the first and the last event passed.
    start: Option<u64>,
    end: u64,
}

impl ArchiveRenderer {
    /// A renderer of `tenant`'s events.
    pub(crate) fn new(
        (store, sealer, blobs): (Arc<dyn EventStore>, Arc<Sealer>, Arc<dyn Blobs>),
        (tenant, company): (Uuid, &Tenant),
        (mail, records): (bool, bool),
    ) -> Self {
        Self {
            store,
            sealer,
            blobs,
            tenant,
            company_name: company.company_name.as_ref().map(|n| n.as_str().to_owned()).unwrap_or_default(),
            zone: company.time_zone.tz(),
            mail,
            records,
            documents: BTreeSet::new(),
            ledgers: BTreeSet::new(),
            start: None,
            end: 0,
        }
    }

    /// The events of `stream` up to the archive's last one, opened.
    async fn stream_until_end(&self, stream: &str) -> Result<Vec<RecordedEvent>, ArchiveError> {
        const PAGE: usize = 1024;
        let mut events: Vec<RecordedEvent> = Vec::new();
        loop {
            let next = events.last().map_or(0, |e| e.version + 1);
            let page = self.store.read_stream(stream, Direction::Forwards, Some(next), PAGE).await?;
            let full = page.len() == PAGE;
            for event in page {
                if event.position > self.end {
                    return Ok(events);
                }
                events.push(event);
            }
            if !full {
                return Ok(events);
            }
        }
    }

    /// `A`'s state at the archive's last event.
    async fn state_at_end<A: Aggregate>(&self, id: Uuid) -> Result<A, ArchiveError> {
        let mut state = A::default();
        for event in &self.stream_until_end(&commands::stream_name::<A>(id)).await? {
            state = commands::fold(state, event).map_err(|reason| unreplayable(event, &reason))?;
        }
        Ok(state)
    }

    /// A document and its history at the archive's last event.
    async fn document_at_end(&self, id: Uuid) -> Result<(Document, Vec<HistoryRow>), ArchiveError> {
        let (mut document, mut history) = (Document::default(), Vec::new());
        for event in &self.stream_until_end(&commands::stream_name::<Document>(id)).await? {
            if event.is_shredded() {
                continue;
            }
            let decoded = event.decode::<DocumentEvent>().map_err(|e| unreplayable(event, &e.to_string()))?;
            document = document.evolve(&decoded);
            history.extend(history_row(&decoded, document.version));
        }
        Ok((document, history))
    }

    /// A mail's message, when `event` is one and it is still readable, or
    /// why it cannot be rendered.
    async fn mail(&self, event: &RecordedEvent) -> Result<Option<(Uuid, Result<Vec<u8>, String>)>, ArchiveError> {
        // The mailbox's other events (drafts, reads, folders) are not opened.
        if !matches!(event.event_type.as_str(), "MailSent" | "MailForwarded" | "MailReceived") {
            return Ok(None);
        }
        let Opened::Plain(plain) = self.sealer.open(event.id.as_bytes(), &event.data).await? else {
            // A mail is always sealed: a clear or shredded payload is none.
            return Ok(None);
        };
        let Ok(decoded) = serde_json::from_slice::<MailboxEvent>(&plain) else { return Ok(None) };
        let rendered = match &decoded {
            MailboxEvent::MailSent { mail, sent_at, .. } | MailboxEvent::MailForwarded { mail, sent_at, .. } => {
                let files = mailer::attachments(self.blobs.as_ref(), self.tenant, &mail.content).await;
                (mail.mail_id, mailer::render(mail, *sent_at, |sha| files.get(sha).cloned()))
            }
            MailboxEvent::MailReceived { mail, received_at } => {
                let files = mailer::attachments(self.blobs.as_ref(), self.tenant, &mail.content).await;
                (mail.mail_id, mailer::render_received(mail, *received_at, |sha| files.get(sha).cloned()))
            }
            _ => return Ok(None),
        };
        Ok(Some(rendered))
    }
}

/// A cell of typed text, which a spreadsheet opening the file must not take
/// for a formula.
fn text_cell(text: String) -> String {
    // Full-width forms too: spreadsheets in East Asian locales read them.
    if text.starts_with(['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠']) {
        format!("'{text}")
    } else {
        text
    }
}

fn unreplayable(event: &RecordedEvent, reason: &str) -> ArchiveError {
    ArchiveError::Invalid(format!("the event at position {} does not replay: {reason}", event.position))
}

/// The company `tenant` (whose state is `company`) as an archive names it:
/// by its domain, or `domain` once it holds none.
pub(crate) fn archived_company(tenant: Uuid, company: &Tenant, domain: &str) -> audit::archive::Company {
    audit::archive::Company {
        id: tenant,
        domain: company.domain.as_ref().map_or_else(|| domain.to_owned(), |d| d.as_str().to_owned()),
        time_zone: company.time_zone.as_str().to_owned(),
    }
}

/// How the people of `tenant` are named.
fn named(tenant: &Tenant) -> impl Fn(Uuid) -> String + '_ {
    |id| {
        let account = tenant.accounts.get(&id);
        person_named(account.map(|a| (a.name.as_str(), a.login.as_str())), id)
    }
}

#[async_trait::async_trait]
impl Renderer for ArchiveRenderer {
    async fn event(&mut self, event: &RecordedEvent, files: &mut Renderings) -> Result<(), ArchiveError> {
        self.start.get_or_insert(event.position);
        self.end = event.position;
        let Some(id) = event.stream_id() else { return Ok(()) };
        match event.category() {
            Document::CATEGORY => {
                self.documents.insert(id);
            }
            LeaveLedger::CATEGORY => {
                self.ledgers.insert(id);
            }
            Mailbox::CATEGORY if self.mail => {
                // One mail is in each mailbox that holds it: a file per
                // mailbox.
                let Some((mail, message)) = self.mail(event).await? else { return Ok(()) };
                let month = event.metadata.occurred_at.with_timezone(&self.zone).format("%Y-%m");
                let file = format!("mail/{month}/{}/{mail}", id.simple());
                match message {
                    Ok(message) => files.add(&format!("{file}.eml"), &message)?,
                    // What cannot be a message is said so in its place.
                    Err(reason) => files.add(&format!("{file}.txt"), format!("not rendered: {reason}\n").as_bytes())?,
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn finish(&mut self, files: &mut Renderings) -> Result<(), ArchiveError> {
        let tenant = self.state_at_end::<Tenant>(self.tenant).await?;
        let name = named(&tenant);
        for id in std::mem::take(&mut self.documents) {
            let (document, history) = self.document_at_end(id).await?;
            if !is_record(&document) {
                continue;
            }
            let page = document_page(&document, &self.company_name, &name, &history, self.zone);
            let html = printing::render(&page, "document").map_err(|e| ArchiveError::Invalid(e.to_string()))?;
            files.add(&format!("documents/{}", page_file(&document, id)), html.as_bytes())?;
        }
        if !self.records {
            return Ok(());
        }
        for employee in std::mem::take(&mut self.ledgers) {
            let events = self.stream_until_end(&commands::stream_name::<LeaveLedger>(employee)).await?;
            let mut csv = csv::Writer::from_writer(Vec::new());
            let csv_error = |e: csv::Error| ArchiveError::Invalid(e.to_string());
            csv.write_record(["at", "kind", "days", "before", "after", "reason", "by", "document"])
                .map_err(csv_error)?;
            let days = |quarters: i64| format!("{}", quarters as f64 / 4.0);
            // The changes of the archive's range; what came before is in
            // the archives before it.
            let start = self.start.unwrap_or_default();
            for event in events.iter().filter(|e| e.position >= start) {
                let Some(entry) = event.decode().ok().and_then(|e| leave_entry(&e, event.recorded_at)) else {
                    continue;
                };
                csv.write_record([
                    entry.at.with_timezone(&self.zone).format("%Y-%m-%d %H:%M").to_string(),
                    entry.kind.name().to_owned(),
                    days(entry.quarters),
                    days(entry.before),
                    days(entry.after),
                    text_cell(entry.reason.unwrap_or_default()),
                    text_cell(entry.by.map(&name).unwrap_or_default()),
                    entry.document_id.map(|d| d.to_string()).unwrap_or_default(),
                ])
                .map_err(csv_error)?;
            }
            let bytes = csv.into_inner().map_err(|e| ArchiveError::Invalid(e.to_string()))?;
            let person = tenant.accounts.get(&employee).map_or_else(|| employee.to_string(), |a| a.login.to_string());
            files.add(&format!("leave/{person}.csv"), &bytes)?;
        }
        Ok(())
    }
}
