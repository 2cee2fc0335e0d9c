//! The archive of a company's history for a range of months: one ZIP file
//! that anyone holding the server's public key can check without a server
//! or a database, and from which a read-only instance can be rebuilt.
//!
//! It holds `events/YYYY-MM.ndjson` for every month of the range (the
//! company's events as stored, one JSON object per line, the payload's
//! stored bytes in base64 so that every hash can be computed again), a
//! `manifest.json` (the company, the range, counts per event type, schema
//! versions, first and last positions, the chain's hash before the first
//! event and at the last, the signed checkpoints inside the range, and the
//! SHA-256 of every file), `schemas/<type>.json` (the JSON Schema of each
//! event type's payload), `keys.json` (the keys, live at the export, that
//! open the payloads sealed in it: an archive is read years later without
//! the server), readable renderings of what the events say under
//! `renderings/` (mails as `.eml`, documents as HTML, leave histories as
//! CSV: what a [`Renderer`] makes of them) listed with their SHA-256 in
//! `renderings.sha256` (the format of `sha256sum`), and `manifest.sig`, the
//! Ed25519 signature of the manifest's bytes.
//!
//! Export reads the log page by page and writes each line as it goes, so
//! memory does not grow with the events; what grows with an archive is the
//! ZIP directory of its files, a small entry per rendering (and per month),
//! kept until the archive is finished. The file appears under its name only
//! once it is whole.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use domain::audit::{Checkpoint, CheckpointEvent};
pub use domain::values::Month;
use domain::values::TimeZone;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::chain::{ChainHash, chain_of};
use store::sealing::KeyRef;
use store::{EventStore, Metadata, RecordedEvent, StoreError};
use uuid::Uuid;

use crate::{CheckpointKey, Progress, PublicKey};

/// The archive's format, named in its manifest.
const FORMAT: &str = "groupware-archive-v3";
/// The format before duplicate and hidden entries were refused (and before
/// renderings and schemas, in its first archives).
const FORMAT_WITHOUT_RENDERINGS: &str = "groupware-archive-v2";
/// The format before sealing: no keys file.
const FORMAT_WITHOUT_KEYS: &str = "groupware-archive-v1";
/// The file of the keys that open sealed payloads.
const KEYS: &str = "keys.json";
/// Where the renderings are, and the list of their digests.
const RENDERINGS: &str = "renderings/";
const RENDERINGS_LIST: &str = "renderings.sha256";
/// Where the JSON Schemas of the event types are.
const SCHEMAS: &str = "schemas/";
/// How many events one read of the log takes.
const PAGE: usize = 4096;

/// Why an archive could not be made, read or trusted.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0}")]
    Invalid(String),
    /// The range holds none of the company's events: there is nothing to
    /// archive.
    #[error("{0}")]
    Empty(String),
    #[error("the event store failed: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the archive is not a readable ZIP file: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// The archive was changed or is incomplete: what does not match.
    #[error("the archive does not verify: {0}")]
    Tampered(String),
}

fn tampered(what: impl Into<String>) -> ArchiveError {
    ArchiveError::Tampered(what.into())
}

/// The company an archive is of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    pub id: Uuid,
    pub domain: String,
    /// Months are the company's, in its time zone.
    pub time_zone: String,
}

/// One stored event, as a line of an archive.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    position: u64,
    stream: String,
    version: u64,
    id: Uuid,
    #[serde(rename = "type")]
    event_type: String,
    schema_version: u32,
    /// The payload's stored bytes, base64.
    data: String,
    metadata: Metadata,
    recorded_at: DateTime<Utc>,
    /// The event's link in the company's chain, hexadecimal.
    chain: String,
}

impl Line {
    fn of(event: &RecordedEvent) -> Self {
        Self {
            position: event.position,
            stream: event.stream.clone(),
            version: event.version,
            id: event.id,
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            data: STANDARD.encode(&event.data),
            metadata: event.metadata.clone(),
            recorded_at: event.recorded_at,
            chain: event.chain.map(|c| c.to_string()).unwrap_or_default(),
        }
    }

    fn event(self) -> Result<RecordedEvent, String> {
        Ok(RecordedEvent {
            id: self.id,
            stream: self.stream,
            version: self.version,
            position: self.position,
            event_type: self.event_type,
            schema_version: self.schema_version,
            data: STANDARD.decode(&self.data).map_err(|e| format!("its data is not base64: {e}"))?,
            metadata: self.metadata,
            recorded_at: self.recorded_at,
            chain: Some(ChainHash::parse_hex(&self.chain).map_err(|e| format!("its hash is unreadable: {e}"))?),
        })
    }
}

/// One file of the archive, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileEntry {
    pub name: String,
    pub events: u64,
    /// SHA-256 of the file's bytes, hexadecimal.
    pub sha256: String,
}

/// A signed checkpoint inside the range, and where it was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchivedCheckpoint {
    /// The position of the event that recorded it.
    pub recorded_at_position: u64,
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
}

/// What an archive holds, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: String,
    pub company: Company,
    pub from: Month,
    pub to: Month,
    pub exported_at: DateTime<Utc>,
    pub events: u64,
    pub first_position: u64,
    pub last_position: u64,
    /// The position of the company's last event before the range (0: none),
    /// and the chain's hash there, where the archive links on to what came
    /// before it.
    pub position_before: u64,
    pub chain_before: String,
    /// The chain's hash at the last event.
    pub chain_at_end: String,
    pub counts_by_type: BTreeMap<String, u64>,
    /// The schema versions each event type is stored in.
    pub schema_versions: BTreeMap<String, Vec<u32>>,
    pub checkpoints: Vec<ArchivedCheckpoint>,
    pub files: Vec<FileEntry>,
    /// `keys.json`: the keys that open the payloads sealed with them, as
    /// they were at the export (a key destroyed before it is not there, so
    /// what it sealed stays unreadable in the archive too); its `events`
    /// count the keys. None in an archive of the format before sealing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<FileEntry>,
    /// `renderings.sha256`, the list of the renderings and their digests,
    /// in the order they are in the archive; its `events` count them. None
    /// in an archive made without renderings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renderings: Option<FileEntry>,
    /// `schemas/<type>.json`: the JSON Schema of the payload of each event
    /// type the archive holds (its `events` count that type's events).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<FileEntry>,
    /// The categories of streams whose payloads the archive's keys open
    /// none of, on purpose (`mailbox`: its people's mail, which whoever
    /// asked for the archive may not read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<String>,
    /// The Ed25519 key that signed `manifest.sig`, hexadecimal.
    pub public_key: String,
}

/// A file of the archive being written, with its digest.
struct Writing {
    month: Month,
    hasher: Sha256,
    events: u64,
}

/// Readable renderings of an archive's events, made as the events pass
/// and once they all have.
#[async_trait::async_trait]
pub trait Renderer: Send {
    /// Renders what `event` (as stored: its payload may be sealed) says on
    /// its own into `files`.
    ///
    /// # Errors
    /// What stops the archive from being made.
    async fn event(&mut self, event: &RecordedEvent, files: &mut Renderings) -> Result<(), ArchiveError>;

    /// Renders what needs the whole range into `files`, once the last event
    /// has passed.
    ///
    /// # Errors
    /// What stops the archive from being made.
    async fn finish(&mut self, files: &mut Renderings) -> Result<(), ArchiveError>;
}

/// What an archive is asked to hold.
pub struct Export<'a> {
    pub company: &'a Company,
    /// The months, in the company's time zone, first and last included.
    pub from: Month,
    pub to: Month,
    /// The live keys of the company; `keys.json` holds those that sealed
    /// an event of the range.
    pub keys: &'a [(KeyRef, [u8; 32])],
    /// The categories of streams whose payloads `keys` must open none of
    /// (`mailbox`); the export fails rather than give a key that opens one.
    pub withheld: &'a [&'a str],
    /// The JSON Schema of each event type, by name: the archive holds the
    /// schema of each type it holds events of.
    pub schemas: &'a BTreeMap<String, serde_json::Value>,
    /// What renders the events readably, if anything.
    pub renderer: Option<&'a mut dyn Renderer>,
    /// Where the company's history before the range is known to end: the
    /// position of its last event there and that event's link (the anchor
    /// of its history moved out of the log). The log is read from after
    /// it rather than from its start; the events before it are not looked
    /// at, so it goes with no keys. `None`: from the log's start.
    pub after: Option<(u64, ChainHash)>,
}

/// The renderings being made, in a file of their own beside the archive
/// (the archive is busy with a month's events meanwhile), moved into it
/// whole at the end.
pub struct Renderings {
    zip: zip::ZipWriter<File>,
    /// `renderings.sha256` as it is written, and its digest.
    list: BufWriter<File>,
    listed: Sha256,
    count: u64,
}

impl Renderings {
    /// Renderings made in unnamed files in the folder of `out`.
    fn beside(out: &Path) -> Result<Self, ArchiveError> {
        let folder = match out.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        Ok(Self {
            zip: zip::ZipWriter::new(tempfile::tempfile_in(folder)?),
            list: BufWriter::new(tempfile::tempfile_in(folder)?),
            listed: Sha256::new(),
            count: 0,
        })
    }

    /// Adds the file `name` (a path under `renderings/`, unique in the
    /// archive) holding `bytes`.
    ///
    /// # Errors
    /// A name already given; a file that cannot be written.
    pub fn add(&mut self, name: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
        let name = format!("{RENDERINGS}{name}");
        self.zip.start_file(name.as_str(), options())?;
        self.zip.write_all(bytes)?;
        let line = format!("{}  {name}\n", hex::encode(Sha256::digest(bytes)));
        self.list.write_all(line.as_bytes())?;
        self.listed.update(line.as_bytes());
        self.count += 1;
        Ok(())
    }

    /// Moves the renderings and their list into `zip`; the list's entry.
    fn into_archive(self, zip: &mut zip::ZipWriter<File>) -> Result<FileEntry, ArchiveError> {
        let Self { zip: side, list, listed, count } = self;
        zip.merge_archive(zip::ZipArchive::new(side.finish()?)?)?;
        let mut list = list.into_inner().map_err(std::io::IntoInnerError::into_error)?;
        list.rewind()?;
        zip.start_file(RENDERINGS_LIST, options())?;
        std::io::copy(&mut list, zip)?;
        Ok(FileEntry { name: RENDERINGS_LIST.into(), events: count, sha256: hex::encode(listed.finalize()) })
    }
}

/// How the archive's files are written: the fastest deflate level, as most
/// of an archive is base64 and ids, and a higher level costs export time
/// for a few percent of size.
fn options() -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1))
}

/// Writes the events of the company that occurred in the months asked (in
/// its time zone), and their renderings, into a new archive at `out`,
/// signed with `key`. The range is the company's events from the first that
/// occurred in it to the last, so that the chain runs through it without a
/// gap.
///
/// # Errors
/// [`ArchiveError::Invalid`] for a reversed range, [`ArchiveError::Empty`]
/// for one holding no events of the company (no file is made either way); a failing store, renderer or file.
pub async fn export(
    store: &dyn EventStore,
    asked: Export<'_>,
    key: &CheckpointKey,
    out: &Path,
    mut progress: impl FnMut(Progress),
) -> Result<Manifest, ArchiveError> {
    let (from, to) = (asked.from, asked.to);
    if from > to {
        return Err(ArchiveError::Invalid(format!("the range {from} to {to} is reversed")));
    }
    let zone = TimeZone::parse(&asked.company.time_zone).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
    let partial = partial_path(out);
    let file = File::create(&partial)?;
    let written = write_archive(store, asked, &zone, key, (file, out), &mut progress).await;
    match written {
        Ok(manifest) => {
            std::fs::rename(&partial, out)?;
            Ok(manifest)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// The file of a month's events.
fn month_file(month: Month) -> String {
    format!("events/{month}.ndjson")
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(".partial");
    out.with_file_name(name)
}

async fn write_archive(
    store: &dyn EventStore,
    asked: Export<'_>,
    zone: &TimeZone,
    key: &CheckpointKey,
    (file, out): (File, &Path),
    progress: &mut impl FnMut(Progress),
) -> Result<Manifest, ArchiveError> {
    let Export { company, from, to, keys, withheld, schemas, mut renderer, after: known } = asked;
    if known.is_some() && !keys.is_empty() {
        return Err(ArchiveError::Invalid(
            "an archive that holds keys reads the company's history from its start".into(),
        ));
    }
    let (start, end) = (zone.midnight(from.first_day()), zone.midnight(to.next().first_day()));
    let mut zip = zip::ZipWriter::new(file);
    let options = options();
    let mut manifest = Manifest {
        format: FORMAT.into(),
        company: company.clone(),
        from,
        to,
        exported_at: Utc::now(),
        events: 0,
        first_position: 0,
        last_position: 0,
        position_before: known.map_or(0, |(position, _)| position),
        chain_before: known.map_or_else(|| ChainHash::genesis(company.id), |(_, chain)| chain).to_string(),
        chain_at_end: String::new(),
        counts_by_type: BTreeMap::new(),
        schema_versions: BTreeMap::new(),
        checkpoints: Vec::new(),
        files: Vec::new(),
        keys: None,
        renderings: None,
        schemas: Vec::new(),
        withheld: withheld.iter().map(|w| (*w).to_owned()).collect(),
        public_key: key.public().to_string(),
    };
    let mut renderings = match renderer {
        Some(_) => Some(Renderings::beside(out)?),
        None => None,
    };
    let mut sealed_by = std::collections::BTreeSet::new();
    let mut writing: Option<Writing> = None;
    let total = *store.head().borrow();
    let (mut after, mut read, mut ended) = (known.map_or(0, |(position, _)| position), 0, false);
    while !ended {
        let page = store.read_all(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        for event in page.iter().filter(|e| chain_of(&e.metadata) == company.id) {
            // The archive's keys open the company's events before the range
            // too (in the archives of those months): none of those may be
            // withheld either.
            let sealer = store::sealing::sealed_by(&event.data);
            if withheld.contains(&event.category()) && sealer.is_none_or(|s| keys.iter().any(|(k, _)| k.subject == s)) {
                return Err(ArchiveError::Invalid(format!(
                    "the event at position {} of {} would be readable with the archive's keys, which must open no {} \
                     payload",
                    event.position,
                    event.stream,
                    event.category()
                )));
            }
            let occurred = event.metadata.occurred_at;
            if manifest.events == 0 && occurred < start {
                manifest.position_before = event.position;
                manifest.chain_before = event.chain.map(|c| c.to_string()).unwrap_or_default();
                continue;
            }
            if occurred >= end {
                ended = true;
                break;
            }
            // Months only move forwards, so each file is written once.
            let month = Month::of(zone.date_at(occurred)).max(writing.as_ref().map_or(from, |w| w.month));
            writing = Some(open_month(&mut zip, options, &mut manifest, writing, month)?);
            let current = writing.as_mut().expect("just opened");
            let mut line = serde_json::to_vec(&Line::of(event)).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
            line.push(b'\n');
            zip.write_all(&line)?;
            current.hasher.update(&line);
            current.events += 1;
            note(&mut manifest, event);
            sealed_by.extend(sealer);
            if let (Some(renderer), Some(files)) = (renderer.as_deref_mut(), renderings.as_mut()) {
                renderer.event(event, files).await?;
            }
        }
        read += page.len() as u64;
        progress(Progress { done: read, total: total.max(read) });
    }
    if manifest.events == 0 {
        return Err(ArchiveError::Empty(format!(
            "the company has no events from {from} to {to}; there is nothing to archive"
        )));
    }
    // A checkpoint inside the range may cover an event before it: the one
    // the range links on to can be checked, older ones cannot.
    let (first, before) = (manifest.first_position, manifest.position_before);
    manifest.checkpoints.retain(|c| c.checkpoint.position >= first || c.checkpoint.position == before);
    // Every month of the range has its file, empty or not.
    let mut last = open_month(&mut zip, options, &mut manifest, writing, to)?;
    close_month(&mut manifest, &mut last);
    for (event_type, count) in &manifest.counts_by_type {
        let Some(schema) = schemas.get(event_type) else { continue };
        let bytes = serde_json::to_vec_pretty(schema).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
        let name = format!("{SCHEMAS}{event_type}.json");
        zip.start_file(name.as_str(), options)?;
        zip.write_all(&bytes)?;
        manifest.schemas.push(FileEntry { name, events: *count, sha256: hex::encode(Sha256::digest(&bytes)) });
    }
    if let (Some(renderer), Some(mut files)) = (renderer, renderings) {
        renderer.finish(&mut files).await?;
        manifest.renderings = Some(files.into_archive(&mut zip)?);
    }
    let archived: Vec<ArchivedKey> = keys
        .iter()
        .filter(|(k, _)| sealed_by.contains(&k.subject))
        .map(|(k, bytes)| ArchivedKey { key: *k, bytes: hex::encode(bytes) })
        .collect();
    let bytes = serde_json::to_vec(&archived).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
    zip.start_file(KEYS, options)?;
    zip.write_all(&bytes)?;
    manifest.keys = Some(FileEntry {
        name: KEYS.into(),
        events: archived.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
    });
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
    zip.start_file("manifest.json", options)?;
    zip.write_all(&bytes)?;
    zip.start_file("manifest.sig", options)?;
    zip.write_all(key.sign_bytes(&bytes).as_bytes())?;
    zip.finish()?.sync_all()?;
    Ok(manifest)
}

/// The file of `month`, opened after closing the one being written and
/// the empty ones of the months between.
fn open_month(
    zip: &mut zip::ZipWriter<File>,
    options: zip::write::SimpleFileOptions,
    manifest: &mut Manifest,
    writing: Option<Writing>,
    month: Month,
) -> Result<Writing, ArchiveError> {
    let next = match writing {
        Some(w) if w.month == month => return Ok(w),
        Some(mut w) => {
            close_month(manifest, &mut w);
            w.month.next()
        }
        None => manifest.from,
    };
    let mut current = next;
    loop {
        zip.start_file(month_file(current), options)?;
        let mut opened = Writing { month: current, hasher: Sha256::new(), events: 0 };
        if current == month {
            return Ok(opened);
        }
        close_month(manifest, &mut opened);
        current = current.next();
    }
}

fn close_month(manifest: &mut Manifest, writing: &mut Writing) {
    let hasher = std::mem::take(&mut writing.hasher);
    manifest.files.push(FileEntry {
        name: month_file(writing.month),
        events: writing.events,
        sha256: hex::encode(hasher.finalize()),
    });
}

/// Counts `event` into the manifest.
fn note(manifest: &mut Manifest, event: &RecordedEvent) {
    if manifest.events == 0 {
        manifest.first_position = event.position;
    }
    manifest.events += 1;
    manifest.last_position = event.position;
    manifest.chain_at_end = event.chain.map(|c| c.to_string()).unwrap_or_default();
    *manifest.counts_by_type.entry(event.event_type.clone()).or_default() += 1;
    let versions = manifest.schema_versions.entry(event.event_type.clone()).or_default();
    if !versions.contains(&event.schema_version) {
        versions.push(event.schema_version);
    }
    if let Ok(CheckpointEvent::Signed(checkpoint)) = event.decode::<CheckpointEvent>()
        && event.event_type == "CheckpointSigned"
    {
        manifest.checkpoints.push(ArchivedCheckpoint { recorded_at_position: event.position, checkpoint });
    }
}

/// What a verified archive holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveReport {
    pub manifest: Manifest,
    /// The key the manifest's signature was checked with.
    pub key: String,
}

/// Checks an archive without a server: the manifest's signature (with
/// `trusted`, the key an auditor holds, or else the one the manifest
/// names), every file's digest and count, every event's link from the
/// chain's hash before the range to the one at its end, every checkpoint's
/// signature and hash, and the counts.
///
/// # Errors
/// [`ArchiveError::Tampered`] naming what does not match; a file that is
/// not an archive.
pub fn verify_archive(
    path: &Path,
    trusted: Option<PublicKey>,
    mut progress: impl FnMut(Progress),
) -> Result<ArchiveReport, ArchiveError> {
    let mut zip = zip::ZipArchive::new(File::open(path)?)?;
    // One entry per name, each where the directory says: no second copy of
    // a file for a reader to find instead of the one verified.
    zip.validate_header_consistency().map_err(|e| tampered(e.to_string()))?;
    let manifest_bytes = read_whole(&mut zip, "manifest.json")?;
    let signature = read_whole(&mut zip, "manifest.sig")?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).map_err(|e| tampered(format!("manifest.json is unreadable: {e}")))?;
    if ![FORMAT, FORMAT_WITHOUT_RENDERINGS, FORMAT_WITHOUT_KEYS].contains(&manifest.format.as_str()) {
        return Err(tampered(format!("the format {} is not {FORMAT}", manifest.format)));
    }
    let key = match trusted {
        Some(key) => key,
        None => PublicKey::parse_hex(&manifest.public_key).map_err(tampered)?,
    };
    key.check_bytes(&manifest_bytes, &String::from_utf8_lossy(&signature))
        .map_err(|e| tampered(format!("manifest.sig: {e}")))?;
    let listed: Vec<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    let mut month = manifest.from;
    for name in &listed {
        if *name != month_file(month) {
            return Err(tampered(format!("the manifest lists {name} where {} belongs", month_file(month))));
        }
        month = month.next();
    }
    if month != manifest.to.next() {
        return Err(tampered(format!("the manifest lists no file for {month}")));
    }
    // Every file the manifest names; renderings are checked against their
    // list below.
    let described: std::collections::BTreeSet<&str> = (listed.iter().copied())
        .chain(["manifest.json", "manifest.sig"])
        .chain(manifest.keys.iter().chain(&manifest.renderings).chain(&manifest.schemas).map(|f| f.name.as_str()))
        .collect();
    for index in 0..zip.len() {
        let name = zip.name_for_index(index).transpose()?.unwrap_or_default();
        let rendering = manifest.renderings.is_some() && name.starts_with(RENDERINGS);
        if !described.contains(&*name) && !rendering {
            return Err(tampered(format!("{name} is in the archive but not in its manifest")));
        }
    }
    let mut checkpoints: BTreeMap<u64, &ArchivedCheckpoint> =
        manifest.checkpoints.iter().map(|c| (c.checkpoint.position, c)).collect();
    for archived in &manifest.checkpoints {
        key.check(manifest.company.id, &archived.checkpoint).map_err(|e| {
            tampered(format!("the checkpoint recorded at position {}: {e}", archived.recorded_at_position))
        })?;
    }
    let chain = ChainHash::parse_hex(&manifest.chain_before).map_err(|e| tampered(format!("chainBefore: {e}")))?;
    if let Some(archived) = checkpoints.remove(&manifest.position_before)
        && archived.checkpoint.chain != manifest.chain_before
    {
        return Err(tampered(format!(
            "the checkpoint recorded at position {} signed another hash than chainBefore",
            archived.recorded_at_position
        )));
    }
    let Walked { chain, events, counts, last_position } =
        check_events(path, &manifest, chain, &mut checkpoints, &mut progress)?;
    if let Some((_, archived)) = checkpoints.into_iter().next() {
        return Err(tampered(format!(
            "the checkpoint recorded at position {} covers position {}, which the archive does not hold",
            archived.recorded_at_position, archived.checkpoint.position
        )));
    }
    if events != manifest.events || counts != manifest.counts_by_type || last_position != Some(manifest.last_position) {
        return Err(tampered("the events do not add up to the manifest's counts"));
    }
    if chain.to_string() != manifest.chain_at_end {
        return Err(tampered("the chain does not end at the manifest's hash"));
    }
    read_keys(&mut zip, &manifest)?;
    for schema in &manifest.schemas {
        let bytes = read_whole(&mut zip, &schema.name)?;
        if hex::encode(Sha256::digest(&bytes)) != schema.sha256 || !schema.name.starts_with(SCHEMAS) {
            return Err(tampered(format!("{} is not the file the manifest describes", schema.name)));
        }
    }
    check_renderings(path, &manifest)?;
    Ok(ArchiveReport { manifest, key: key.to_string() })
}

/// Lines of a month's file one thread checks at a time, at most, and bytes
/// (a batch ends at the line that passes them).
const BATCH_LINES: usize = 4096;
const BATCH_BYTES: usize = 1 << 20;
/// Threads that check batches, at most (memory: a batch each, and as many
/// waiting).
const CHECKING_THREADS: usize = 8;

/// What a batch of lines turned out to be.
struct Checked {
    /// The file and line the batch starts at.
    file: usize,
    first_line: u64,
    /// Its first event, still to be linked from the batch before (none
    /// when it is what failed).
    first: Option<RecordedEvent>,
    /// Each event's position, type and stored link, in order, up to the
    /// line that failed.
    events: Vec<(u64, String, ChainHash)>,
    /// What was wrong with the line after them, if anything: it counts
    /// only once the lines before it have linked on.
    failure: Option<ArchiveError>,
}

/// Where the threads checking an archive's events report, each answer with
/// its place in the files' order.
type Answers = std::sync::mpsc::Sender<(u64, Result<Checking, ArchiveError>)>;

/// Lines of a file handed on to be checked: their place in the order, the
/// file, the number of the first line, the bytes.
type Batch = (u64, usize, u64, Vec<u8>);

/// What a walk through the events found: the last link, how many events,
/// how many of each type, the last position.
struct Walked {
    chain: ChainHash,
    events: u64,
    counts: BTreeMap<String, u64>,
    last_position: Option<u64>,
}

/// What the threads checking an archive's events report.
enum Checking {
    Batch(Box<Checked>),
    /// The end of a file, and whether its bytes and count are the ones the
    /// manifest describes.
    FileEnd {
        file: usize,
        described: bool,
    },
}

fn mismatch(at: &str, position: u64) -> ArchiveError {
    tampered(format!(
        "{at} (position {position}) does not match its hash: it, or an event before it, was changed or removed"
    ))
}

/// Checks a batch of lines of the file `name` from line `first_line`:
/// each an event of `company`, each linked from the stored link of the
/// line before it.
fn check_lines(bytes: &[u8], (file, name): (usize, &str), first_line: u64, company: Uuid) -> Checked {
    let mut checked = Checked { file, first_line, first: None, events: Vec::with_capacity(BATCH_LINES), failure: None };
    let mut before: Option<ChainHash> = None;
    for (number, line) in (first_line..).zip(bytes.split_inclusive(|b| *b == b'\n')) {
        let at = || format!("{name} line {number}");
        let read = serde_json::from_slice::<Line>(line)
            .map_err(|e| tampered(format!("{} is unreadable: {e}", at())))
            .and_then(|line| line.event().map_err(|e| tampered(format!("{}: {e}", at()))))
            .and_then(|event| match event.chain {
                _ if chain_of(&event.metadata) != company => {
                    Err(tampered(format!("{} is an event of another company", at())))
                }
                Some(stored) if before.is_none_or(|before| before.link(&event) == stored) => Ok((event, stored)),
                _ => Err(mismatch(&at(), event.position)),
            });
        let (event, stored) = match read {
            Ok(read) => read,
            Err(e) => {
                checked.failure = Some(e);
                break;
            }
        };
        before = Some(stored);
        if checked.first.is_none() {
            checked.events.push((event.position, event.event_type.clone(), stored));
            checked.first = Some(event);
        } else {
            checked.events.push((event.position, event.event_type, stored));
        }
    }
    checked
}

/// Reads the month files in order, checks each file's digest and count,
/// and hands its lines on in batches: to `work` for the checking threads,
/// each with its place in the order (`order`, the next place); a file's end
/// straight to `done`.
fn read_batches(
    path: &Path,
    manifest: &Manifest,
    (work, done): (&std::sync::mpsc::SyncSender<Batch>, &Answers),
    order: &mut u64,
) -> Result<(), ArchiveError> {
    let mut zip = zip::ZipArchive::new(File::open(path)?)?;
    for (file, entry) in manifest.files.iter().enumerate() {
        let found = zip.by_name(&entry.name).map_err(|_| tampered(format!("{} is missing", entry.name)))?;
        let mut reader = BufReader::with_capacity(1 << 16, found);
        let (mut hasher, mut lines, mut batch, mut in_batch) = (Sha256::new(), 0u64, Vec::new(), 0);
        loop {
            let read = reader.read_until(b'\n', &mut batch)?;
            if read > 0 {
                lines += 1;
                in_batch += 1;
            }
            if (read == 0 || in_batch == BATCH_LINES || batch.len() >= BATCH_BYTES) && in_batch > 0 {
                hasher.update(&batch);
                let first_line = lines - in_batch as u64 + 1;
                if work.send((*order, file, first_line, std::mem::take(&mut batch))).is_err() {
                    return Ok(());
                }
                *order += 1;
                in_batch = 0;
            }
            if read == 0 {
                break;
            }
        }
        let described = hex::encode(hasher.finalize()) == entry.sha256 && lines == entry.events;
        if done.send((*order, Ok(Checking::FileEnd { file, described }))).is_err() {
            return Ok(());
        }
        *order += 1;
    }
    Ok(())
}

/// Checks every event of the month files: each linked on from `chain`
/// (the hash before the range) to the last, each checkpoint's hash at its
/// position, each file whole. One thread reads, as many as the machine has
/// cores check batches of lines (each line linked from the stored link of
/// the one before it, which is what a sequential walk checks once every
/// link before has matched), and the caller's puts the answers in order.
fn check_events(
    path: &Path,
    manifest: &Manifest,
    mut chain: ChainHash,
    checkpoints: &mut BTreeMap<u64, &ArchivedCheckpoint>,
    progress: &mut impl FnMut(Progress),
) -> Result<Walked, ArchiveError> {
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get).min(CHECKING_THREADS);
    let company = manifest.company.id;
    std::thread::scope(|scope| {
        let (work, to_check) = std::sync::mpsc::sync_channel::<Batch>(threads);
        let (done, answers): (Answers, _) = std::sync::mpsc::channel();
        let to_check = std::sync::Arc::new(std::sync::Mutex::new(to_check));
        for _ in 0..threads {
            let (to_check, done) = (to_check.clone(), done.clone());
            scope.spawn(move || {
                loop {
                    let next = to_check.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv();
                    let Ok((order, file, first_line, bytes)) = next else { return };
                    let name = manifest.files[file].name.as_str();
                    let checked = Ok(Checking::Batch(Box::new(check_lines(&bytes, (file, name), first_line, company))));
                    if done.send((order, checked)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(to_check);
        let reading = done.clone();
        scope.spawn(move || {
            let mut order = 0;
            if let Err(e) = read_batches(path, manifest, (&work, &reading), &mut order) {
                // Its place is after everything handed on before it.
                let _ = reading.send((order, Err(e)));
            }
        });
        drop(done);
        let (mut events, mut counts, mut last_position) = (0u64, BTreeMap::<String, u64>::new(), None);
        let (mut next, mut waiting) = (0u64, BTreeMap::new());
        for (order, answer) in answers {
            waiting.insert(order, answer);
            while let Some(answer) = waiting.remove(&next) {
                next += 1;
                match answer? {
                    Checking::FileEnd { file, described } => {
                        if !described {
                            return Err(tampered(format!(
                                "{} is not the file the manifest describes",
                                manifest.files[file].name
                            )));
                        }
                        progress(Progress { done: events, total: manifest.events });
                    }
                    Checking::Batch(checked) => {
                        let at = || format!("{} line {}", manifest.files[checked.file].name, checked.first_line);
                        if let Some(first) = &checked.first
                            && Some(chain.link(first)) != first.chain
                        {
                            return Err(mismatch(&at(), first.position));
                        }
                        for (position, event_type, stored) in checked.events {
                            if events == 0 && position != manifest.first_position {
                                return Err(tampered(format!(
                                    "{}: the first event is not at position {}",
                                    at(),
                                    manifest.first_position
                                )));
                            }
                            if let Some(archived) = checkpoints.remove(&position)
                                && archived.checkpoint.chain != stored.to_string()
                            {
                                return Err(tampered(format!(
                                    "the checkpoint recorded at position {} signed another hash for position {position}",
                                    archived.recorded_at_position
                                )));
                            }
                            *counts.entry(event_type).or_default() += 1;
                            last_position = Some(position);
                            events += 1;
                            chain = stored;
                        }
                        if let Some(failure) = checked.failure {
                            return Err(failure);
                        }
                    }
                }
            }
        }
        if !waiting.is_empty() {
            return Err(tampered("the archive could not be read to its end"));
        }
        Ok(Walked { chain, events, counts, last_position })
    })
}

/// Checks every rendering against `renderings.sha256`, and that list
/// against the manifest: the renderings are the list's, in its order, with
/// its digests.
fn check_renderings(path: &Path, manifest: &Manifest) -> Result<(), ArchiveError> {
    let Some(described) = &manifest.renderings else { return Ok(()) };
    let not_described = || tampered(format!("{RENDERINGS_LIST} is not the file the manifest describes"));
    let mut entries = zip::ZipArchive::new(File::open(path)?)?;
    let mut lists = zip::ZipArchive::new(File::open(path)?)?;
    let mut list = BufReader::new(lists.by_name(RENDERINGS_LIST).map_err(|_| not_described())?);
    let (mut listed, mut count, mut line) = (Sha256::new(), 0u64, String::new());
    for index in 0..entries.len() {
        let mut file = entries.by_index(index)?;
        let name = file.name()?.into_owned();
        if !name.starts_with(RENDERINGS) {
            continue;
        }
        line.clear();
        list.read_line(&mut line)?;
        listed.update(line.as_bytes());
        let Some((digest, listed_name)) = line.trim_end_matches('\n').split_once("  ") else {
            return Err(tampered(format!("{name} is in the archive but not in {RENDERINGS_LIST}")));
        };
        if listed_name != name {
            return Err(tampered(format!("{name} is in the archive where {RENDERINGS_LIST} lists {listed_name}")));
        }
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher)?;
        if hex::encode(hasher.finalize()) != digest {
            return Err(tampered(format!("{name} is not the file {RENDERINGS_LIST} describes")));
        }
        count += 1;
    }
    line.clear();
    if list.read_line(&mut line)? != 0 {
        return Err(tampered(format!("{RENDERINGS_LIST} lists {} that the archive does not hold", line.trim_end())));
    }
    if count != described.events || hex::encode(listed.finalize()) != described.sha256 {
        return Err(not_described());
    }
    Ok(())
}

/// A key in `keys.json`.
#[derive(Serialize, Deserialize)]
struct ArchivedKey {
    #[serde(flatten)]
    key: KeyRef,
    /// The key's 32 bytes, hexadecimal.
    bytes: String,
}

/// The keys of an archive whose manifest was verified, checked against
/// it.
///
/// # Errors
/// A file that cannot be read; [`ArchiveError::Tampered`] when `keys.json`
/// is not the file the manifest describes.
pub fn keys(path: &Path, manifest: &Manifest) -> Result<Vec<(KeyRef, [u8; 32])>, ArchiveError> {
    read_keys(&mut zip::ZipArchive::new(File::open(path)?)?, manifest)
}

fn read_keys(zip: &mut zip::ZipArchive<File>, manifest: &Manifest) -> Result<Vec<(KeyRef, [u8; 32])>, ArchiveError> {
    let Some(described) = &manifest.keys else {
        return match manifest.format.as_str() {
            FORMAT_WITHOUT_KEYS => Ok(Vec::new()),
            _ => Err(tampered(format!("the manifest names no {KEYS}"))),
        };
    };
    let bytes = read_whole(zip, KEYS)?;
    let not_described = || tampered(format!("{KEYS} is not the file the manifest describes"));
    if hex::encode(Sha256::digest(&bytes)) != described.sha256 {
        return Err(not_described());
    }
    let archived: Vec<ArchivedKey> = serde_json::from_slice(&bytes).map_err(|_| not_described())?;
    if archived.len() as u64 != described.events {
        return Err(not_described());
    }
    archived
        .into_iter()
        .map(|a| {
            let bytes = hex::decode(&a.bytes).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
            bytes.map(|b| (a.key, b)).ok_or_else(not_described)
        })
        .collect()
}

fn read_whole(zip: &mut zip::ZipArchive<File>, name: &str) -> Result<Vec<u8>, ArchiveError> {
    let mut file = zip.by_name(name).map_err(|_| tampered(format!("{name} is missing")))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The events of an archive whose `manifest` was verified, in order, a
/// month at a time, each checked again against the chain as it is read
/// (the file may have changed since it was verified).
///
/// # Errors
/// A file that cannot be read; [`ArchiveError::Tampered`] for an event
/// that does not link on, or a chain that does not end at the manifest's
/// hash (what `each` was given before then is to be thrown away).
pub fn for_each_event(
    path: &Path,
    manifest: &Manifest,
    mut each: impl FnMut(RecordedEvent) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    for_each_event_by_file(path, manifest, |_, event| each(event))
}

/// [`for_each_event`], naming with each event the index of its file in the
/// manifest's `files`.
///
/// # Errors
/// As [`for_each_event`].
pub fn for_each_event_by_file(
    path: &Path,
    manifest: &Manifest,
    mut each: impl FnMut(usize, RecordedEvent) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let mut zip = zip::ZipArchive::new(File::open(path)?)?;
    let mut chain = ChainHash::parse_hex(&manifest.chain_before).map_err(|e| tampered(format!("chainBefore: {e}")))?;
    for (index, entry) in manifest.files.iter().enumerate() {
        let reader = BufReader::new(zip.by_name(&entry.name)?);
        for line in reader.lines() {
            let event =
                serde_json::from_str::<Line>(&line?).map_err(|e| tampered(e.to_string()))?.event().map_err(tampered)?;
            chain = chain.link(&event);
            if Some(chain) != event.chain {
                return Err(tampered(format!(
                    "the event at position {} changed since it was verified",
                    event.position
                )));
            }
            each(index, event)?;
        }
    }
    if chain.to_string() != manifest.chain_at_end {
        return Err(tampered("the archive changed since it was verified"));
    }
    Ok(())
}

/// The manifest of the archive at `path`, once its signature is found to
/// be `key`'s (the files it describes are not read).
///
/// # Errors
/// [`ArchiveError::Tampered`] for a manifest that is unreadable or not
/// signed by `key`; a file that is not an archive.
pub fn signed_manifest(path: &Path, key: &PublicKey) -> Result<Manifest, ArchiveError> {
    let mut zip = zip::ZipArchive::new(File::open(path)?)?;
    let bytes = read_whole(&mut zip, "manifest.json")?;
    let signature = read_whole(&mut zip, "manifest.sig")?;
    key.check_bytes(&bytes, &String::from_utf8_lossy(&signature))
        .map_err(|e| tampered(format!("manifest.sig: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| tampered(format!("manifest.json is unreadable: {e}")))
}

/// The events of one file of the archive at `path` whose stored line
/// `wanted` picks (by its text, before it is read: most lines are passed
/// by), once the whole file is found to have the digest `entry` gives it.
///
/// # Errors
/// [`ArchiveError::Tampered`] for a file whose digest is not the
/// manifest's, or a picked line that is not an event; a file that is not
/// an archive.
pub fn events_of_file(
    path: &Path,
    entry: &FileEntry,
    mut wanted: impl FnMut(&str) -> bool,
) -> Result<Vec<RecordedEvent>, ArchiveError> {
    let mut zip = zip::ZipArchive::new(File::open(path)?)?;
    let mut reader = BufReader::new(zip.by_name(&entry.name)?);
    let mut hasher = Sha256::new();
    let mut events = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        hasher.update(line.as_bytes());
        let text = line.trim_end_matches('\n');
        if wanted(text) {
            let event =
                serde_json::from_str::<Line>(text).map_err(|e| tampered(e.to_string()))?.event().map_err(tampered)?;
            events.push(event);
        }
    }
    if hex::encode(hasher.finalize()) != entry.sha256 {
        return Err(tampered(format!("{} changed since it was verified", entry.name)));
    }
    Ok(events)
}

/// How a stream's name stands in the lines of an archive, for
/// [`events_of_file`] to pick them by.
pub fn stream_field(stream: &str) -> String {
    format!("\"stream\":{}", serde_json::Value::from(stream))
}
