//! The indexer: it follows the log one step behind the mailboxes read
//! model, takes from each event the mails it changed, and writes each such
//! mail's document again as the read model has it now (or takes it out,
//! once no mailbox holds it). Reading the read model rather than replaying
//! the mailbox rules keeps one account of where a mail is; since the read
//! model has applied at least the events read, the document is never older
//! than the event, and a later event about the same mail writes it again.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use domain::Aggregate;
use domain::mail::{Mailbox, MailboxEvent};
use domain::tenant::{Tenant, TenantEvent};
use projections::projectors::mailboxes;
use projections::{Progress, ReadModelStore};
use store::{EventStore, RecordedEvent};
use tantivy::collector::DocSetCollector;
use tantivy::query::TermQuery;
use tantivy::schema::IndexRecordOption;
use tantivy::{IndexWriter, Term};
use tokio::sync::watch;
use uuid::Uuid;

use crate::{MailDocument, MailIndex, SearchError, key};

/// How often a process that does not write the index looks for the other's
/// commits, and tries to take the writer over.
const TAKE_OVER_EVERY: Duration = Duration::from_secs(1);

/// Events read at a time.
const BATCH: usize = 4096;

/// How far the indexer may get past its last commit when no document
/// changed, in events or in time, before it commits its place anyway: a
/// restart reads again at most that much.
const COMMIT_PLACE_EVERY: (u64, Duration) = (50_000, Duration::from_secs(5));

/// A running indexer; dropping it stops it.
pub struct Indexing(tokio::task::JoinHandle<()>);

impl Drop for Indexing {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What one batch of events changed.
#[derive(Default)]
struct Changes {
    /// `(tenant, mail)`.
    mails: BTreeSet<(Uuid, Uuid)>,
    /// `(tenant, user)` of deleted users (rule U1).
    users: BTreeSet<(Uuid, Uuid)>,
    /// Terminated companies (rule B3).
    companies: BTreeSet<Uuid>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.mails.is_empty() && self.users.is_empty() && self.companies.is_empty()
    }

    fn take(&mut self, event: &RecordedEvent) {
        let Some(tenant) = event.metadata.tenant else { return };
        if event.category() == Mailbox::CATEGORY {
            // What the read model could not read, it has not written either.
            if let Ok(decoded) = event.decode::<MailboxEvent>() {
                self.mails.extend(decoded.mail_ids().into_iter().map(|mail| (tenant, mail)));
            }
        } else if event.category() == Tenant::CATEGORY {
            match event.decode::<TenantEvent>() {
                Ok(TenantEvent::UserDeleted { user_id }) => {
                    self.users.insert((tenant, user_id));
                }
                Ok(TenantEvent::Terminated { .. }) => {
                    self.companies.insert(tenant);
                }
                _ => {}
            }
        }
    }
}

impl MailIndex {
    /// Starts the indexer: it reads `events` behind the mailboxes read
    /// model of `read_models` (whose progress `mailboxes` shows). While
    /// another process writes the index, it follows that one's commits and
    /// tries to take the writer over.
    ///
    /// # Errors
    /// When it has already started.
    pub fn start(
        self: &Arc<Self>,
        events: Arc<dyn EventStore>,
        read_models: Arc<dyn ReadModelStore>,
        mailboxes: watch::Receiver<Progress>,
    ) -> Result<Indexing, SearchError> {
        if self.started.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(SearchError::Started);
        }
        let index = self.clone();
        Ok(Indexing(tokio::spawn(async move {
            let writer = loop {
                let taken = lock(&index.writer).take();
                match taken.map_or_else(|| crate::writer(&index.index), |writer| Ok(Some(writer))) {
                    Ok(Some(writer)) => break Arc::new(Mutex::new(writer)),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "the mail index's writer could not be opened"),
                }
                if let Err(e) = index.follow_commits() {
                    tracing::warn!(error = %e, "the mail index could not follow the other process's commits");
                }
                tokio::time::sleep(TAKE_OVER_EVERY).await;
            };
            if let Err(e) = index.behind(&writer, events.as_ref()).await {
                tracing::error!(error = %e, "the mail index could not be emptied; it stays as it is");
                return;
            }
            index.follow(writer, events, read_models, mailboxes).await;
        })))
    }

    /// Empties the index when it is ahead of the log of `events`: it was
    /// built from another.
    async fn behind(&self, writer: &Arc<Mutex<IndexWriter>>, events: &dyn EventStore) -> Result<(), SearchError> {
        let head = *events.head().borrow();
        let position = crate::committed_position(&self.index)?;
        if position > head {
            tracing::warn!(indexed = position, head, "the mail index is ahead of the log; it is built again");
            lock(writer).delete_all_documents()?;
            commit(writer, 0).await?;
        }
        self.reader.reload()?;
        self.reached.send_replace(crate::committed_position(&self.index)?);
        Ok(())
    }

    /// Shows what another process has committed, and where it got to.
    pub(crate) fn follow_commits(&self) -> Result<(), SearchError> {
        // The place first: the reader then shows at least that much.
        let position = crate::committed_position(&self.index)?;
        self.reader.reload()?;
        self.reached.send_replace(position);
        Ok(())
    }

    async fn follow(
        &self,
        writer: Arc<Mutex<IndexWriter>>,
        events: Arc<dyn EventStore>,
        read_models: Arc<dyn ReadModelStore>,
        mut mailboxes: watch::Receiver<Progress>,
    ) {
        let mut at = self.position();
        let mut committed = (at, Instant::now());
        let mut pause = Duration::from_millis(50);
        loop {
            let target = match mailboxes.wait_for(|p| p.checkpoint > at).await {
                Ok(progress) => progress.checkpoint,
                Err(_) => return,
            };
            let step = self.step(&writer, events.as_ref(), read_models.as_ref(), at, target).await;
            let (upto, changed) = match step {
                Ok(done) => done,
                Err(e) => {
                    tracing::warn!(error = %e, at, "the mail index did not follow; trying again");
                    // What was written of the step goes: it is done again.
                    if let Err(e) = lock(&writer).rollback() {
                        tracing::warn!(error = %e, "the mail index's writer did not roll back");
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            let (every, every_while) = COMMIT_PLACE_EVERY;
            if changed || upto - committed.0 >= every || committed.1.elapsed() >= every_while {
                let committed_now = commit(&writer, upto).await;
                if let Err(e) = committed_now.and_then(|()| Ok(self.reader.reload()?)) {
                    tracing::warn!(error = %e, at, "the mail index did not commit; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(30));
                    continue;
                }
                committed = (upto, Instant::now());
            }
            pause = Duration::from_millis(50);
            at = upto;
            self.reached.send_replace(at);
        }
    }

    /// Indexes the events after `at`, up to `target` at most (one batch);
    /// where it got to, and whether any document changed.
    async fn step(
        &self,
        writer: &Mutex<IndexWriter>,
        events: &dyn EventStore,
        read_models: &dyn ReadModelStore,
        at: u64,
        target: u64,
    ) -> Result<(u64, bool), SearchError> {
        let batch = events.read_all(at, BATCH).await?;
        // A short batch holds everything the read model had applied.
        let upto = match batch.last() {
            Some(last) if batch.len() == BATCH => last.position.min(target),
            _ => target,
        };
        let mut changes = Changes::default();
        for event in batch.iter().take_while(|e| e.position <= upto) {
            changes.take(event);
        }
        if changes.is_empty() {
            return Ok((upto, false));
        }
        let fields = self.fields;
        for tenant in &changes.companies {
            lock(writer).delete_term(Term::from_field_text(fields.tenant, &tenant.to_string()));
        }
        // The mails a deleted user held are written again without them.
        for &(tenant, user) in &changes.users {
            for mail in self.held_by(user)? {
                changes.mails.insert((tenant, mail));
            }
        }
        for &(tenant, mail) in &changes.mails {
            if changes.companies.contains(&tenant) {
                continue;
            }
            let doc = document(read_models, tenant, mail).await?;
            let writer = lock(writer);
            writer.delete_term(Term::from_field_text(fields.key, &key(tenant, mail)));
            if let Some(doc) = doc {
                writer.add_document(fields.document(&doc))?;
            }
        }
        Ok((upto, true))
    }

    /// The mails whose committed documents name `user` as a holder.
    fn held_by(&self, user: Uuid) -> Result<Vec<Uuid>, SearchError> {
        let searcher = self.reader.searcher();
        let query =
            TermQuery::new(Term::from_field_text(self.fields.holder, &user.to_string()), IndexRecordOption::Basic);
        let mut mails = Vec::new();
        for address in searcher.search(&query, &DocSetCollector)? {
            mails.extend(self.fields.mail_of(&searcher.doc(address)?));
        }
        Ok(mails)
    }
}

/// The document of `mail` as the read model has it; none once no mailbox
/// holds it.
async fn document(
    read_models: &dyn ReadModelStore,
    tenant: Uuid,
    mail: Uuid,
) -> Result<Option<MailDocument>, SearchError> {
    let Some(row) = mailboxes::mail(read_models, tenant, mail).await? else { return Ok(None) };
    let holders = mailboxes::holders(read_models, tenant, mail).await?;
    if holders.is_empty() {
        return Ok(None);
    }
    Ok(Some(MailDocument {
        tenant,
        mail,
        holders: holders.into_iter().map(|(user, entry)| (user, entry.folder)).collect(),
        at: row.at,
        sender: row.from.unwrap_or_default(),
        recipients: row.to.into_iter().chain(row.cc).collect(),
        subject: row.subject,
        body: row.text,
    }))
}

/// The writer, or what else `mutex` guards (no lock is held across a
/// panic that could leave it half-changed).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Commits what `writer` holds with `position` as the index's place, off
/// the async threads (a commit writes and syncs files).
async fn commit(writer: &Arc<Mutex<IndexWriter>>, position: u64) -> Result<(), SearchError> {
    let writer = writer.clone();
    tokio::task::spawn_blocking(move || {
        let mut writer = lock(&writer);
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&position.to_string());
        prepared.commit()?;
        Ok(())
    })
    .await
    .map_err(|e| SearchError::Io(std::io::Error::other(e)))?
}
