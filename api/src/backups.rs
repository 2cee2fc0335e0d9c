//! The backup worker (rule A10): for each requested backup, every document
//! submitted in the range (days in the company's time zone) is printed as
//! an HTML page with its line and history, and the pages are packed in one
//! zip archive with an index, stored as a blob. It runs with the other
//! workers, in one process at a time; a backup already finished is not made
//! again.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use blobs::BlobStore;
use commands::{CommandContext, Commands};
use domain::approval::{
    AgreerState, BackupAction, BackupCommand, BackupEvent, BackupState, Backups, Document, Receiver, Status,
};
use domain::tenant::Tenant;
use domain::{Actor, Aggregate};
use printing::{DocumentPage, HistoryLine, IndexPage, LineSlot};
use projections::ReadModelStore;
use projections::projectors::approval::{self as read, DocumentRow};
use projections::projectors::users;
use serde_json::Value;
use store::RecordedEvent;
use uuid::Uuid;

/// The largest archive.
const MAX_ARCHIVE: u64 = 4 * 1024 * 1024 * 1024;

/// Starts following the log and making each requested backup; gives the
/// position of the last event handled, and the task.
pub(crate) fn start(
    commands: Arc<Commands>,
    read_models: Arc<dyn ReadModelStore>,
    blobs: BlobStore,
) -> (tokio::sync::watch::Receiver<u64>, tokio::task::JoinHandle<()>) {
    let (handled, receiver) = tokio::sync::watch::channel(0);
    (receiver, tokio::spawn(run(commands, read_models, blobs, handled)))
}

/// Follows the log and makes each requested backup.
async fn run(
    commands: Arc<Commands>,
    read_models: Arc<dyn ReadModelStore>,
    blobs: BlobStore,
    handled: tokio::sync::watch::Sender<u64>,
) {
    let mut after = 0;
    loop {
        let mut subscription = commands.store().clone().subscribe_all(after);
        while let Some(Ok(batch)) = subscription.next_batch().await {
            for event in &batch {
                if event.category() == Backups::CATEGORY
                    && let (Some(tenant), Ok(BackupEvent::Requested { backup_id, .. })) =
                        (event.metadata.tenant, event.decode::<BackupEvent>())
                {
                    make(&commands, read_models.as_ref(), &blobs, tenant, backup_id, event).await;
                }
                after = event.position;
            }
            handled.send_replace(after);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Makes one backup and records how it ended.
async fn make(
    commands: &Arc<Commands>,
    read_models: &dyn ReadModelStore,
    blobs: &BlobStore,
    tenant: Uuid,
    backup_id: Uuid,
    cause: &RecordedEvent,
) {
    let Ok(backups) = commands.load::<Backups>(tenant).await else { return };
    let Some(backup) = backups.state.backups.get(&backup_id) else { return };
    if backup.state != BackupState::Preparing {
        return;
    }
    // The documents up to the request are in the read model.
    while read_models.checkpoint("approval.v1").await.unwrap_or(0) < cause.position {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let action = match archive(commands, read_models, tenant, backup.from, backup.to).await {
        Ok((bytes, documents)) => match blobs.put(tenant, &mut bytes.as_slice(), MAX_ARCHIVE) {
            Ok(stored) => BackupAction::Complete { backup_id, sha256: stored.sha256, size: stored.size, documents },
            Err(e) => BackupAction::Fail { backup_id, reason: format!("storing the archive: {e}") },
        },
        Err(reason) => BackupAction::Fail { backup_id, reason },
    };
    let context = CommandContext::new(Uuid::new_v5(&backup_id, b"finish-backup"), Actor::System, Some(tenant));
    let command = BackupCommand { by_admin: false, action };
    if let Err(e) = commands.execute::<Backups>(tenant, &context, command).await {
        tracing::warn!(backup = %backup_id, error = %e, "a backup could not be recorded");
    }
}

/// Names of users, read once each.
struct People<'a> {
    read_models: &'a dyn ReadModelStore,
    tenant: Uuid,
    known: HashMap<Uuid, String>,
}

impl People<'_> {
    async fn name(&mut self, id: Uuid) -> String {
        if let Some(name) = self.known.get(&id) {
            return name.clone();
        }
        let user = users::user_by_id(self.read_models, self.tenant, id).await.ok().flatten();
        let name = match user {
            Some(user) => format!("{} ({})", user.name.as_str(), user.login),
            None => id.to_string(),
        };
        self.known.insert(id, name.clone());
        name
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The zip archive of the range's documents, and how many it holds.
async fn archive(
    commands: &Arc<Commands>,
    read_models: &dyn ReadModelStore,
    tenant: Uuid,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<(Vec<u8>, u32), String> {
    let company = commands.load_latest::<Tenant>(tenant).await.map_err(|e| e.to_string())?;
    let tz = company.time_zone.tz();
    let company_name = company.company_name.map(|n| n.as_str().to_owned()).unwrap_or_default();
    let rows = read::documents(read_models, tenant).await.map_err(|e| e.to_string())?;
    let mut people = People { read_models, tenant, known: HashMap::new() };
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    let mut index = Vec::new();
    for DocumentRow { id, document, .. } in rows {
        let Some(submitted) = document.submitted_at else { continue };
        let day = submitted.with_timezone(&tz).date_naive();
        if day < from || day > to || matches!(document.status, Some(Status::Draft | Status::Discarded) | None) {
            continue;
        }
        let page = page(&document, id, &company_name, read_models, tenant, &mut people, tz).await?;
        let file = format!("{}.html", document.number.clone().unwrap_or_else(|| id.to_string()));
        let html = printing::render(&page, "document").map_err(|e| e.to_string())?;
        zip.start_file(file.as_str(), options).map_err(|e| e.to_string())?;
        zip.write_all(html.as_bytes()).map_err(|e| e.to_string())?;
        index.push((file, document.title.clone()));
    }
    let count = index.len() as u32;
    let page = IndexPage {
        company: company_name,
        from: from.format("%Y%m%d").to_string(),
        to: to.format("%Y%m%d").to_string(),
        documents: index,
    };
    zip.start_file("index.html", options).map_err(|e| e.to_string())?;
    zip.write_all(printing::render(&page, "index").map_err(|e| e.to_string())?.as_bytes())
        .map_err(|e| e.to_string())?;
    let bytes = zip.finish().map_err(|e| e.to_string())?.into_inner();
    Ok((bytes, count))
}

/// One document's page.
async fn page(
    document: &Document,
    id: Uuid,
    company: &str,
    read_models: &dyn ReadModelStore,
    tenant: Uuid,
    people: &mut People<'_>,
    tz: chrono_tz::Tz,
) -> Result<DocumentPage, String> {
    let time = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
    };
    let mut line = Vec::new();
    for slot in &document.line.agreers {
        let (mark, at) = match slot.state {
            AgreerState::Waiting => ("", None),
            AgreerState::Agreed { at } => ("합의", Some(at)),
            AgreerState::Refused { at } => ("반대", Some(at)),
        };
        line.push(LineSlot {
            role: "합의".into(),
            person: people.name(slot.user).await,
            mark: mark.into(),
            at: time(at),
        });
    }
    for slot in &document.line.approvers {
        let (mark, acted) = slot.mark();
        line.push(LineSlot {
            role: "결재".into(),
            person: people.name(slot.user).await,
            mark: mark.into(),
            at: time(acted.map(|(_, at)| at)),
        });
    }
    for slot in &document.line.receivers {
        let person = match slot.receiver {
            Receiver::User(u) => people.name(u).await,
            Receiver::Department(d) => format!("department {d}"),
        };
        let at = slot.taken.map(|(_, at)| at);
        line.push(LineSlot {
            role: "수신".into(),
            person,
            mark: if at.is_some() { "접수".into() } else { String::new() },
            at: time(at),
        });
    }
    for user in &document.line.references {
        line.push(LineSlot {
            role: "참조".into(),
            person: people.name(*user).await,
            mark: String::new(),
            at: String::new(),
        });
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
    let rows = read::history(read_models, tenant, id).await.map_err(|e| e.to_string())?;
    let mut history = Vec::with_capacity(rows.len());
    for entry in rows {
        let by = match entry.by {
            Some(by) => people.name(by).await,
            None => String::new(),
        };
        history.push(HistoryLine {
            at: time(Some(entry.at)),
            action: entry.action.name().to_owned(),
            by,
            comment: entry.comment.unwrap_or_default(),
        });
    }
    Ok(DocumentPage {
        company: company.to_owned(),
        number: document.number.clone().unwrap_or_default(),
        title: document.title.clone(),
        form: form.map(|f| f.spec.name.clone()).unwrap_or_default(),
        status: format!("{:?}", document.status.unwrap_or(Status::Draft)),
        drafter: people.name(document.drafter).await,
        submitted_at: time(document.submitted_at),
        completed_at: time(document.completed_at),
        fields,
        line,
        history,
    })
}
