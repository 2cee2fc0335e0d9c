//! Mail search with a full-text index: one document per mail, with its
//! sender, recipients, subject and body as text ([`text`] turns them into
//! terms, Korean included), its time, its company, and the mailboxes and
//! folders that hold it. An indexer ([`MailIndex::start`]) keeps it
//! following the mailboxes read model, with its own checkpoint committed
//! in the index together with what it wrote; a search asks the index for
//! the caller's mails and reads their entries from the read model.
//!
//! The index is one for every company of a server (each document names its
//! company, and every search is held to the caller's): an index writer
//! keeps tens of megabytes of buffers, which one per company would multiply.

mod indexer;
pub mod text;

use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::mail::Folder;
use tantivy::collector::{Count, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, Occur, PhraseQuery, Query, RangeQuery, RegexQuery, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term};
use tokio::sync::watch;
use uuid::Uuid;

pub use indexer::Indexing;

/// What can go wrong with the index.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the mail index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("the mail index's folder: {0}")]
    Folder(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("the mail index's folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("the mail index's indexer has already started")]
    Started,
    #[error("a search holds at most {MAX_WORDS} different words")]
    TooManyWords,
    #[error("a page of mail search starts at most {MAX_OFFSET} hits deep and holds at most {MAX_LIMIT}")]
    TooDeep,
    #[error("the log, read by the mail index: {0}")]
    Store(#[from] store::StoreError),
    #[error("the read models, read by the mail index: {0}")]
    ReadModels(#[from] projections::ProjectionError),
}

/// The fields of a mail's document.
#[derive(Clone, Copy)]
struct Fields {
    /// `{tenant}/{mail}`: the one document of a mail, and the mail a hit is.
    key: Field,
    tenant: Field,
    /// The users whose mailboxes hold it.
    holder: Field,
    /// `{user}/{folder}` for each holder.
    place: Field,
    /// When it was sent, received or saved, in microseconds.
    at: Field,
    sender: Field,
    recipients: Field,
    subject: Field,
    body: Field,
}

impl Fields {
    fn schema() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(text::TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let fields = Fields {
            key: builder.add_text_field("key", STRING | STORED),
            tenant: builder.add_text_field("tenant", STRING),
            holder: builder.add_text_field("holder", STRING),
            place: builder.add_text_field("place", STRING),
            at: builder.add_i64_field("at", INDEXED | FAST),
            sender: builder.add_text_field("sender", text.clone()),
            recipients: builder.add_text_field("recipients", text.clone()),
            subject: builder.add_text_field("subject", text.clone()),
            body: builder.add_text_field("body", text),
        };
        (builder.build(), fields)
    }

    fn document(&self, mail: &MailDocument) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.key, key(mail.tenant, mail.mail));
        doc.add_text(self.tenant, mail.tenant.to_string());
        for (user, folder) in &mail.holders {
            doc.add_text(self.holder, user.to_string());
            doc.add_text(self.place, place(*user, *folder));
        }
        doc.add_i64(self.at, mail.at.timestamp_micros());
        doc.add_text(self.sender, &mail.sender);
        for recipient in &mail.recipients {
            doc.add_text(self.recipients, recipient);
        }
        doc.add_text(self.subject, &mail.subject);
        doc.add_text(self.body, &mail.body);
        doc
    }

    /// The mail a document is.
    fn mail_of(&self, doc: &TantivyDocument) -> Option<Uuid> {
        let key = doc.get_first(self.key)?.as_str()?;
        Uuid::parse_str(key.rsplit('/').next()?).ok()
    }

    /// The fields a search of every field looks in.
    fn texts(&self) -> [Field; 4] {
        [self.sender, self.recipients, self.subject, self.body]
    }
}

fn key(tenant: Uuid, mail: Uuid) -> String {
    format!("{tenant}/{mail}")
}

fn place(user: Uuid, folder: Folder) -> String {
    format!("{user}/{folder}")
}

/// A mail as the index holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailDocument {
    pub tenant: Uuid,
    pub mail: Uuid,
    /// The users whose mailboxes hold it, and in which folder.
    pub holders: Vec<(Uuid, Folder)>,
    pub at: DateTime<Utc>,
    pub sender: String,
    /// To and Cc.
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// What a search asks for: every non-empty part must hold. Each
/// whitespace-separated word of a text part must be found in its field (or,
/// for `anywhere`, in any of them); the words of one word that the text
/// splits into several terms ("kim@acme.kr", "회의록") must stand in a
/// row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailSearch {
    /// In the sender, the recipients, the subject or the body.
    pub anywhere: String,
    pub sender: String,
    /// In the To and Cc recipients (never Bcc: every holder's search
    /// would show them).
    pub recipient: String,
    pub subject: String,
    pub body: String,
    /// From this time on.
    pub since: Option<DateTime<Utc>>,
    /// Before this time.
    pub until: Option<DateTime<Utc>>,
    pub folder: Option<Folder>,
}

impl MailSearch {
    /// The words of each text part, each once: `anywhere`, `sender`,
    /// `recipient`, `subject` and `body`, in that order.
    fn words(&self) -> [Vec<&str>; 5] {
        [&self.anywhere, &self.sender, &self.recipient, &self.subject, &self.body].map(|text| {
            let mut words: Vec<&str> = Vec::new();
            for word in text.split_whitespace().filter(|w| !text::terms(w).is_empty()) {
                if !words.contains(&word) {
                    words.push(word);
                }
            }
            words
        })
    }

    /// How many different words it asks for, over all its parts.
    pub fn word_count(&self) -> usize {
        count(&self.words())
    }

    /// Whether it asks for nothing but the caller's mail.
    pub fn is_empty(&self) -> bool {
        self.word_count() == 0 && self.since.is_none() && self.until.is_none() && self.folder.is_none()
    }
}

/// How many words the parts' words hold together.
fn count(words: &[Vec<&str>]) -> usize {
    words.iter().map(Vec::len).sum()
}

/// A page of hits, newest first, and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hits {
    pub mails: Vec<Uuid>,
    pub total: usize,
}

/// The furthest a page of hits may start: a search reads every hit up to
/// its page (and keeps a place for each), so deeper pages are refused
/// rather than let a cursor ask for any amount of memory.
pub const MAX_OFFSET: usize = 100_000;

/// The most hits one page may hold.
pub const MAX_LIMIT: usize = 1000;

/// The most words one search may hold, over all its parts.
pub const MAX_WORDS: usize = 16;

/// The memory the index writer may use for what it has not yet written.
const WRITER_MEMORY: usize = 24_000_000;

/// The mail index of a server.
pub struct MailIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    /// Taken by the indexer when it starts; none while another process
    /// writes the index (this one then follows its commits, and takes the
    /// writer over when that process goes).
    writer: Mutex<Option<IndexWriter>>,
    /// Whether the indexer has started.
    started: std::sync::atomic::AtomicBool,
    /// The name of the read model the index follows: an index built from
    /// another (an older version) is built again.
    follows: &'static str,
    /// The log position the index has caught up with.
    reached: watch::Sender<u64>,
}

impl MailIndex {
    /// The index in `folder` (made there if missing), or in memory, of the
    /// mailboxes read model that the projector called `follows` writes.
    ///
    /// # Errors
    /// When the folder cannot be opened or holds something else.
    pub fn open(folder: Option<&Path>, follows: &'static str) -> Result<Self, SearchError> {
        let (schema, fields) = Fields::schema();
        let index = match folder {
            Some(folder) => {
                std::fs::create_dir_all(folder)?;
                Index::open_or_create(MmapDirectory::open(folder)?, schema)?
            }
            None => Index::create_in_ram(schema),
        };
        index.tokenizers().register(text::TOKENIZER, TextAnalyzer::from(text::MailText::default()));
        let writer = writer(&index)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let mut opened = Self {
            index,
            reader,
            fields,
            writer: Mutex::new(writer),
            started: Default::default(),
            follows,
            reached: watch::channel(0).0,
        };
        opened.reached = watch::channel(opened.committed_position()?).0;
        Ok(opened)
    }

    /// The log position the last commit recorded (0 for an index of
    /// another read model).
    fn committed_position(&self) -> Result<u64, SearchError> {
        let place = committed_place(&self.index)?;
        Ok(place.filter(|(follows, _)| follows == self.follows).map_or(0, |(_, position)| position))
    }

    /// The log position the index has caught up with.
    pub fn position(&self) -> u64 {
        *self.reached.borrow()
    }

    /// Waits until the index has caught up with `position`, or `timeout`
    /// has passed; whether it has.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> bool {
        let mut reached = self.reached.subscribe();
        tokio::time::timeout(timeout, reached.wait_for(|at| *at >= position)).await.is_ok_and(|r| r.is_ok())
    }

    /// Writes `mails` (replacing any document of the same mail) and commits
    /// them, before the indexer starts: an index loaded for a benchmark or
    /// a test.
    ///
    /// # Errors
    /// When the indexer has started, or the index cannot be written.
    pub fn load(&self, mails: impl IntoIterator<Item = MailDocument>) -> Result<(), SearchError> {
        let mut writer = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let writer = writer.as_mut().filter(|_| !self.started.load(std::sync::atomic::Ordering::SeqCst));
        let writer = writer.ok_or(SearchError::Started)?;
        for mail in mails {
            writer.delete_term(Term::from_field_text(self.fields.key, &key(mail.tenant, mail.mail)));
            writer.add_document(self.fields.document(&mail))?;
        }
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&place_payload(self.follows, self.position()));
        prepared.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Whether the index's files still hold a term of `word` in a text
    /// field, in any segment, a deleted document's terms included: what
    /// deletion must leave none of (rules U1, B3).
    ///
    /// # Errors
    /// When the index cannot be read.
    pub fn holds_terms_of(&self, word: &str) -> Result<bool, SearchError> {
        let searcher = self.reader.searcher();
        let terms = text::terms(word);
        for segment in searcher.segment_readers() {
            for field in self.fields.texts() {
                let inverted = segment.inverted_index(field)?;
                for term in &terms {
                    if inverted.terms().get(term.text.as_bytes())?.is_some() {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    /// How many mails the index holds, as of its last commit.
    ///
    /// # Errors
    /// When the index cannot be read.
    pub fn documents(&self) -> Result<usize, SearchError> {
        Ok(usize::try_from(self.reader.searcher().num_docs()).unwrap_or(usize::MAX))
    }

    /// `user`'s mails of company `tenant` that `search` finds, newest
    /// first: `limit` of them after the first `offset`.
    ///
    /// # Errors
    /// When the index cannot be read.
    pub fn search(
        &self,
        tenant: Uuid,
        user: Uuid,
        search: &MailSearch,
        offset: usize,
        limit: usize,
    ) -> Result<Hits, SearchError> {
        if offset > MAX_OFFSET || limit > MAX_LIMIT {
            return Err(SearchError::TooDeep);
        }
        let query = self.query(tenant, user, search)?;
        let searcher = self.reader.searcher();
        let top = TopDocs::with_limit(limit.max(1)).and_offset(offset).order_by_fast_field::<i64>("at", Order::Desc);
        let (total, top) = searcher.search(&query, &(Count, top))?;
        let mut mails = Vec::with_capacity(top.len());
        for (_, address) in top.into_iter().take(limit) {
            mails.extend(self.fields.mail_of(&searcher.doc(address)?));
        }
        Ok(Hits { mails, total })
    }

    fn query(&self, tenant: Uuid, user: Uuid, search: &MailSearch) -> Result<BooleanQuery, SearchError> {
        let f = &self.fields;
        let exact = |field: Field, value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
        };
        let mut must = vec![exact(f.tenant, &tenant.to_string())];
        must.push(match search.folder {
            Some(folder) => exact(f.place, &place(user, folder)),
            None => exact(f.holder, &user.to_string()),
        });
        let words = search.words();
        if count(&words) > MAX_WORDS {
            return Err(SearchError::TooManyWords);
        }
        let fields = [&f.texts()[..], &[f.sender], &[f.recipients], &[f.subject], &[f.body]];
        for (fields, words) in fields.into_iter().zip(words) {
            for word in words {
                let terms = text::terms(word);
                let mut any = Vec::new();
                for &field in fields {
                    any.push((Occur::Should, word_query(field, &terms)?));
                }
                must.push(Box::new(BooleanQuery::new(any)));
            }
        }
        if search.since.is_some() || search.until.is_some() {
            let bound = |time: Option<DateTime<Utc>>, inclusive: bool| match time {
                None => Bound::Unbounded,
                Some(time) => {
                    let term = Term::from_field_i64(f.at, time.timestamp_micros());
                    if inclusive { Bound::Included(term) } else { Bound::Excluded(term) }
                }
            };
            must.push(Box::new(RangeQuery::new(bound(search.since, true), bound(search.until, false))));
        }
        Ok(BooleanQuery::new(must.into_iter().map(|q| (Occur::Must, q)).collect()))
    }
}

/// The shortest Latin word a search also finds as the start of longer ones
/// ("meet" finds "meeting"); shorter ones are matched whole.
const PREFIX_FROM: usize = 3;

/// The query for one word of a search, split into `terms`, in `field`.
fn word_query(field: Field, terms: &[text::Term]) -> Result<Box<dyn Query>, SearchError> {
    if let [term] = terms {
        let chars = term.text.chars().count();
        // One character of an unspaced script: a run of one, or the first
        // or second of a bigram.
        let pattern = if term.gram && chars == 1 {
            Some(format!("{0}.?|.{0}", term.text))
        } else if !term.gram && chars >= PREFIX_FROM {
            Some(format!("{}.*", term.text))
        } else {
            None
        };
        return Ok(match pattern {
            // Terms are letters and digits only: nothing to escape.
            Some(pattern) => Box::new(RegexQuery::from_pattern(&pattern, field)?),
            None => Box::new(TermQuery::new(Term::from_field_text(field, &term.text), IndexRecordOption::Basic)),
        });
    }
    let first = terms[0].position;
    let phrase = terms.iter().map(|t| (t.position - first, Term::from_field_text(field, &t.text))).collect();
    Ok(Box::new(PhraseQuery::new_with_offset(phrase)))
}

/// The writer of `index`; none while another process (sharing the data
/// directory) holds it.
fn writer(index: &Index) -> Result<Option<IndexWriter>, SearchError> {
    match index.writer_with_num_threads(1, WRITER_MEMORY) {
        Ok(writer) => Ok(Some(writer)),
        Err(tantivy::TantivyError::LockFailure(..)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// What an index commit records: the read model it follows and the log
/// position it has caught up with.
fn place_payload(follows: &str, position: u64) -> String {
    format!("{follows}@{position}")
}

/// The place the last commit of `index` recorded.
fn committed_place(index: &Index) -> Result<Option<(String, u64)>, SearchError> {
    let payload = index.load_metas()?.payload;
    Ok(payload.and_then(|p| {
        let (follows, position) = p.rsplit_once('@')?;
        Some((follows.to_owned(), position.parse().ok()?))
    }))
}

#[cfg(test)]
mod tests;
