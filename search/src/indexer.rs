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
/// changed, in events, before it commits its place anyway: a restart reads
/// again at most that much.
const PLACE_EVENTS: u64 = 50_000;

/// How long a place that moved waits to be committed: another process
/// sharing the index sees it that much later at most.
const PLACE_EVERY: Duration = Duration::from_secs(1);

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

/// What a step wrote.
#[derive(Default, Clone, Copy)]
struct Wrote {
    /// Some document changed.
    changed: bool,
    /// Documents of deleted users or terminated companies went: their
    /// segments are merged away after the commit (rules U1, B3).
    erased: bool,
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
            let writer = index.take_writer().await;
            let mut pause = Duration::from_millis(50);
            while let Err(e) = index.prepare(&writer, events.as_ref()).await {
                tracing::warn!(error = %e, "the mail index could not be prepared; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
            index.follow(&writer, events, read_models, mailboxes).await;
        })))
    }

    /// The writer: this process's, or, while another process holds it,
    /// once that one lets it go (following its commits meanwhile).
    async fn take_writer(self: &Arc<Self>) -> Arc<Mutex<IndexWriter>> {
        loop {
            let taken = lock(&self.writer).take();
            let opened = match taken {
                Some(writer) => Ok(Some(writer)),
                None => self.blocking(|index| crate::writer(&index.index)).await,
            };
            match opened {
                Ok(Some(writer)) => return Arc::new(Mutex::new(writer)),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "the mail index's writer could not be opened"),
            }
            if let Err(e) = self.blocking(MailIndex::follow_commits).await {
                tracing::warn!(error = %e, "the mail index could not follow the other process's commits");
            }
            tokio::time::sleep(TAKE_OVER_EVERY).await;
        }
    }

    /// Empties the index when it was built from another log (it is ahead
    /// of this one) or from another version of the mailboxes read model.
    async fn prepare(
        self: &Arc<Self>,
        writer: &Arc<Mutex<IndexWriter>>,
        events: &dyn EventStore,
    ) -> Result<(), SearchError> {
        let head = *events.head().borrow();
        let writer = writer.clone();
        self.blocking(move |index| {
            let place = crate::committed_place(&index.index)?;
            let other = place.as_ref().is_some_and(|(follows, _)| follows != index.follows);
            let position = place.map_or(0, |(_, position)| position);
            if other || position > head {
                tracing::warn!(
                    indexed = position,
                    head,
                    other,
                    "the mail index was built from another log or read model; it is built again"
                );
                lock(&writer).delete_all_documents()?;
                index.commit(&writer, 0)?;
            }
            index.follow_commits()
        })
        .await
    }

    /// Shows what another process has committed, and where it got to.
    pub(crate) fn follow_commits(&self) -> Result<(), SearchError> {
        // The place first: the reader then shows at least that much.
        let position = self.committed_position()?;
        self.reader.reload()?;
        self.reached.send_replace(position);
        Ok(())
    }

    async fn follow(
        self: &Arc<Self>,
        writer: &Arc<Mutex<IndexWriter>>,
        events: Arc<dyn EventStore>,
        read_models: Arc<dyn ReadModelStore>,
        mut mailboxes: watch::Receiver<Progress>,
    ) {
        let mut at = self.position();
        let mut committed = (at, Instant::now());
        let mut pause = Duration::from_millis(50);
        // Deleted documents wait to be merged out of the index's files.
        let mut erasing = false;
        loop {
            let moved = tokio::time::timeout(PLACE_EVERY, mailboxes.wait_for(|p| p.checkpoint > at))
                .await
                .map(|progress| progress.map(|p| p.checkpoint));
            let (upto, wrote) = match moved {
                Ok(Ok(target)) => {
                    match self.step(writer, events.as_ref(), read_models.as_ref(), at, target).await {
                        Ok(done) => done,
                        Err(e) => {
                            tracing::warn!(error = %e, at, "the mail index did not follow; trying again");
                            // What was written of the step goes: it is done again.
                            let writer = writer.clone();
                            if let Err(e) = self.blocking(move |_| Ok(lock(&writer).rollback()?)).await {
                                tracing::warn!(error = %e, "the mail index's writer did not roll back");
                            }
                            tokio::time::sleep(pause).await;
                            pause = (pause * 2).min(Duration::from_secs(30));
                            continue;
                        }
                    }
                }
                // The read models are gone: the server stops.
                Ok(Err(_)) => return,
                // Quiet: time to write the place down, if it moved.
                Err(_) => (at, Wrote::default()),
            };
            let due = upto - committed.0 >= PLACE_EVENTS || committed.1.elapsed() >= PLACE_EVERY;
            if wrote.changed || (due && upto > committed.0) {
                let writer = writer.clone();
                let done = self
                    .blocking(move |index| {
                        index.commit(&writer, upto)?;
                        Ok(index.reader.reload()?)
                    })
                    .await;
                if let Err(e) = done {
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
            // After the place is shown: searches go on meanwhile, on what
            // is committed. A failure (a background merge had taken one of
            // the segments, say) is tried again after the next step.
            erasing |= wrote.erased;
            if erasing {
                let writer = writer.clone();
                match self.blocking(move |index| index.erase(&writer)).await {
                    Ok(()) => erasing = false,
                    Err(e) => {
                        tracing::warn!(error = %e, "deleted mail is not yet merged out of the index; trying again")
                    }
                }
            }
        }
    }

    /// Indexes the events after `at`, up to `target` at most (one batch);
    /// where it got to, and what it wrote.
    async fn step(
        self: &Arc<Self>,
        writer: &Arc<Mutex<IndexWriter>>,
        events: &dyn EventStore,
        read_models: &dyn ReadModelStore,
        at: u64,
        target: u64,
    ) -> Result<(u64, Wrote), SearchError> {
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
            return Ok((upto, Wrote::default()));
        }
        let erased = !changes.users.is_empty() || !changes.companies.is_empty();
        // The mails a deleted user held are written again without them.
        for &(tenant, user) in &changes.users {
            let held = self.blocking(move |index| index.held_by(user)).await?;
            changes.mails.extend(held.into_iter().map(|mail| (tenant, mail)));
        }
        let mut writes = Vec::with_capacity(changes.mails.len());
        for &(tenant, mail) in &changes.mails {
            if !changes.companies.contains(&tenant) {
                writes.push((key(tenant, mail), document(read_models, tenant, mail).await?));
            }
        }
        let (writer, companies) = (writer.clone(), changes.companies);
        self.blocking(move |index| {
            let writer = lock(&writer);
            for tenant in companies {
                writer.delete_term(Term::from_field_text(index.fields.tenant, &tenant.to_string()));
            }
            for (key, doc) in writes {
                writer.delete_term(Term::from_field_text(index.fields.key, &key));
                if let Some(doc) = doc {
                    writer.add_document(index.fields.document(&doc))?;
                }
            }
            Ok(())
        })
        .await?;
        Ok((upto, Wrote { changed: true, erased }))
    }

    /// Runs `work` on a thread that may block (the index reads and writes
    /// files, and its writer waits for its own threads).
    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&MailIndex) -> Result<T, SearchError> + Send + 'static,
    ) -> Result<T, SearchError> {
        let index = self.clone();
        tokio::task::spawn_blocking(move || work(&index))
            .await
            .map_err(|e| SearchError::Io(std::io::Error::other(e)))?
    }

    /// Commits what `writer` holds with `position` as the index's place.
    pub(crate) fn commit(&self, writer: &Mutex<IndexWriter>, position: u64) -> Result<(), SearchError> {
        let mut writer = lock(writer);
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&crate::place_payload(self.follows, position));
        prepared.commit()?;
        Ok(())
    }

    /// Rewrites the segments that hold deleted documents without them, and
    /// removes the files no longer used: the terms of a deleted user's or
    /// a terminated company's mail leave the index's files (rules U1, B3).
    pub(crate) fn erase(&self, writer: &Mutex<IndexWriter>) -> Result<(), SearchError> {
        let with_deletes: Vec<_> =
            self.index.searchable_segment_metas()?.into_iter().filter(|m| m.has_deletes()).map(|m| m.id()).collect();
        let mut writer = lock(writer);
        if !with_deletes.is_empty() {
            writer.merge(&with_deletes).wait()?;
        }
        writer.garbage_collect_files().wait()?;
        drop(writer);
        self.reader.reload()?;
        Ok(())
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
