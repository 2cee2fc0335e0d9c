//! The log whole again: the live log, with the stretches of company
//! history moved out of it (`store::cold`) read from their archive files
//! in their place.
//!
//! [`Tiered`] wraps the event store as stored. Reading the whole log
//! (projections rebuilding, process managers, verification, exports)
//! merges the segments' events with the live ones by position; reading a
//! stream finds its older versions in the files that hold them. So nothing
//! above it can tell which events are live: it sees one log, whose oldest
//! part costs more to read. Commands never read that part: their
//! aggregates load from snapshots taken before the purge.
//!
//! A segment's file is trusted as far as it proves itself: its manifest
//! must carry the checkpoint key's signature and end at the anchor the live
//! log recorded, and begin where the company's segment before it ended (or
//! at the chain's start). Its events are checked link by link as they are
//! read whole; a month read for one stream is checked against the digest
//! the manifest gives it. Where each stream's events are in a file (which
//! months) is kept beside it, `<file>.streams.json`, made when the segment
//! is first opened: a cache, like the snapshots.

use std::collections::{HashMap, VecDeque};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc as blocking};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use store::chain::ChainHash;
use store::cold::ColdSegment;
use store::{
    AppendResult, Direction, EventData, EventStore, ExpectedVersion, RecordedEvent, StoreError, StreamMetadata,
    Subscription,
};
use tokio::sync::{RwLock, mpsc, watch};
use uuid::Uuid;

use crate::PublicKey;
use crate::archive::{self, ArchiveError, Manifest};

/// How many events one read of the whole log takes while it is in cold
/// history.
const PAGE: usize = 4096;
/// How many readers of one file are kept between reads (projectors
/// rebuilding side by side each have one).
const CURSORS: usize = 8;
/// How many events a file's reader reads ahead.
const READ_AHEAD: usize = 256;

/// Where one stream's events are in a segment's file: its first and last
/// versions there, and the files (by index in the manifest) holding them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Run {
    first: u64,
    last: u64,
    files: Vec<usize>,
}

/// The index beside a segment's file.
#[derive(Debug, Serialize, Deserialize)]
struct Index {
    /// The chain's hash at the file's end: an index of another file is
    /// not taken for this one's.
    chain_at_end: String,
    streams: HashMap<String, Run>,
}

/// Where a stream's events are in segments, oldest first.
type Runs = Vec<(Arc<Segment>, Run)>;

/// One segment, opened.
struct Segment {
    record: ColdSegment,
    path: PathBuf,
    manifest: Manifest,
    cursors: Mutex<Vec<Cursor>>,
}

/// A reader of a segment's events in order, on a thread of its own that
/// reads ahead.
struct Cursor {
    /// Every event at or below this position has been handed out or
    /// passed by.
    done: u64,
    ahead: VecDeque<RecordedEvent>,
    /// The file's events in order, then `None` once it has been read to
    /// its end (a reader that stops before says so by the missing end).
    events: blocking::Receiver<Result<Option<RecordedEvent>, StoreError>>,
    ended: bool,
    file: String,
}

#[derive(Default)]
struct State {
    segments: Vec<Arc<Segment>>,
    /// The streams that have events in segments, with where: oldest first.
    streams: HashMap<String, Runs>,
    /// The anchor of each company's newest segment.
    anchors: HashMap<Uuid, ChainHash>,
}

/// The event store as stored, with its cold history read in place.
pub struct Tiered {
    inner: Arc<dyn EventStore>,
    dir: PathBuf,
    key: Option<PublicKey>,
    state: RwLock<State>,
    /// The position of the newest event in a segment (0: none).
    cold_end: AtomicU64,
}

fn no_key(segment: &ColdSegment) -> StoreError {
    StoreError::Unavailable(format!(
        "the cold history file {} cannot be checked: the key that signed it is missing",
        segment.file
    ))
}

fn unavailable(file: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("the cold history file {file}: {e}"))
}

impl Tiered {
    /// Wraps `inner`, whose segments' files are in `dir`, signed with `key`
    /// (without one, the log must have no segments, and takes none).
    ///
    /// # Errors
    /// When a segment's file is missing, is not signed with `key`, or does
    /// not go on from the one before it.
    pub async fn open(inner: Arc<dyn EventStore>, dir: PathBuf, key: Option<PublicKey>) -> Result<Self, StoreError> {
        let tiered = Self { inner, dir, key, state: RwLock::default(), cold_end: AtomicU64::new(0) };
        tiered.refresh().await?;
        Ok(tiered)
    }

    /// Opens the segments the log records that this process has not
    /// (another process moved them out, or a purge's answer was lost);
    /// whether there were any.
    ///
    /// # Errors
    /// As [`Self::open`].
    async fn refresh(&self) -> Result<bool, StoreError> {
        let records = self.inner.cold_segments().await?;
        let known: std::collections::HashSet<u64> =
            self.state.read().await.segments.iter().map(|s| s.record.last_position).collect();
        let new: Vec<ColdSegment> = records.into_iter().filter(|r| !known.contains(&r.last_position)).collect();
        if new.is_empty() {
            return Ok(false);
        }
        let mut opened = Vec::with_capacity(new.len());
        for record in new {
            let key = self.key.ok_or_else(|| no_key(&record))?;
            opened.push(open_segment(&self.dir, record, key).await?);
        }
        let mut state = self.state.write().await;
        for segment in opened {
            if state.segments.iter().any(|s| s.record.last_position == segment.0.record.last_position) {
                continue;
            }
            state.follows(&segment.0).map_err(StoreError::Unavailable)?;
            self.cold_end.fetch_max(segment.0.record.last_position, Ordering::SeqCst);
            state.add(segment);
        }
        Ok(true)
    }

    /// The directory of the segments' files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The position of the newest event in a segment (0: none).
    fn cold_end(&self) -> u64 {
        self.cold_end.load(Ordering::SeqCst)
    }

    /// The events of `stream` at `versions` in segments: the oldest first,
    /// or the newest first `backwards`, as many as `max`.
    async fn cold_stream(
        runs: Runs,
        stream: &str,
        versions: RangeInclusive<u64>,
        backwards: bool,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let stream = stream.to_owned();
        tokio::task::spawn_blocking(move || {
            let needle = archive::stream_field(&stream);
            let mut files: Vec<(Arc<Segment>, usize)> = runs
                .into_iter()
                .filter(|(_, run)| run.first <= *versions.end() && run.last >= *versions.start())
                .flat_map(|(segment, run)| run.files.into_iter().map(move |f| (segment.clone(), f)))
                .collect();
            if backwards {
                files.reverse();
            }
            let mut found = Vec::new();
            for (segment, file) in files {
                let entry = &segment.manifest.files[file];
                let mut events = archive::events_of_file(&segment.path, entry, |line| line.contains(&needle))
                    .map_err(|e| unavailable(&segment.record.file, e))?;
                events.retain(|e| e.stream == stream && versions.contains(&e.version));
                if backwards {
                    events.reverse();
                }
                found.extend(events);
                if found.len() >= max {
                    break;
                }
            }
            found.truncate(max);
            Ok(found)
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }
}

impl State {
    /// Whether `segment` goes on from its company's segment before it, or
    /// from the chain's start when it is the first.
    fn follows(&self, segment: &Segment) -> Result<(), String> {
        let tenant = segment.record.tenant;
        let before = self.anchors.get(&tenant).copied().unwrap_or_else(|| ChainHash::genesis(tenant));
        if segment.manifest.chain_before != before.to_string() {
            return Err(format!(
                "the file {} does not go on from where the company's history before it ends",
                segment.record.file
            ));
        }
        Ok(())
    }

    /// Adds an opened segment.
    fn add(&mut self, (segment, streams): (Segment, HashMap<String, Run>)) {
        self.anchors.insert(segment.record.tenant, segment.record.anchor);
        let segment = Arc::new(segment);
        for (stream, run) in streams {
            self.streams.entry(stream).or_default().push((segment.clone(), run));
        }
        self.segments.push(segment);
    }

    /// Where `stream` has events in segments, and its newest version there.
    fn runs(&self, stream: &str) -> Option<(&Runs, u64)> {
        let runs = self.streams.get(stream)?;
        let through = runs.iter().map(|(_, run)| run.last).max()?;
        Some((runs, through))
    }
}

/// Opens the file of `record` in `dir`: its manifest signed with `key` and
/// matching the record, and its index (made, by reading the file whole,
/// when it has none).
async fn open_segment(
    dir: &Path,
    record: ColdSegment,
    key: PublicKey,
) -> Result<(Segment, HashMap<String, Run>), StoreError> {
    let path = dir.join(&record.file);
    tokio::task::spawn_blocking(move || {
        let file = record.file.clone();
        let fail = |e: &dyn std::fmt::Display| unavailable(&file, e);
        let manifest = archive::signed_manifest(&path, &key).map_err(|e| fail(&e))?;
        let matches = manifest.company.id == record.tenant
            && manifest.first_position == record.first_position
            && manifest.last_position == record.last_position
            && manifest.events == record.events
            && manifest.chain_at_end == record.anchor.to_string();
        if !matches {
            return Err(fail(&"its manifest is not of the history the log moved out"));
        }
        let streams = index(&path, &manifest).map_err(|e| fail(&e))?;
        Ok((Segment { record, path, manifest, cursors: Mutex::default() }, streams))
    })
    .await
    .map_err(|e| StoreError::Unavailable(e.to_string()))?
}

/// Where the index of the archive at `path` is kept: beside it.
pub fn index_path(path: &Path) -> PathBuf {
    let mut beside = path.as_os_str().to_owned();
    beside.push(".streams.json");
    PathBuf::from(beside)
}

/// The streams the verified archive at `path` (with `manifest`) holds
/// events of, from its index, which is made beside it when missing (it
/// goes where the archive goes).
///
/// # Errors
/// As [`archive::for_each_event`]; a file that cannot be written.
pub fn streams_of(path: &Path, manifest: &Manifest) -> Result<Vec<String>, ArchiveError> {
    Ok(index(path, manifest)?.into_keys().collect())
}

/// The index of the file at `path`: read from beside it, or made.
fn index(path: &Path, manifest: &Manifest) -> Result<HashMap<String, Run>, ArchiveError> {
    let beside = index_path(path);
    if let Ok(bytes) = std::fs::read(&beside)
        && let Ok(index) = serde_json::from_slice::<Index>(&bytes)
        && index.chain_at_end == manifest.chain_at_end
    {
        return Ok(index.streams);
    }
    let mut streams: HashMap<String, Run> = HashMap::new();
    archive::for_each_event_by_file(path, manifest, |file, event| {
        let run = streams.entry(event.stream).or_insert_with(|| Run {
            first: event.version,
            last: event.version,
            files: Vec::new(),
        });
        run.last = event.version;
        if run.files.last() != Some(&file) {
            run.files.push(file);
        }
        Ok(())
    })?;
    let index = Index { chain_at_end: manifest.chain_at_end.clone(), streams };
    let mut partial = beside.as_os_str().to_owned();
    partial.push(".partial");
    let bytes = serde_json::to_vec(&index).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, &beside)?;
    Ok(index.streams)
}

impl Segment {
    /// A reader of the file that has passed nothing after `after`: the
    /// furthest kept one, or a new one from the start.
    fn cursor(&self, after: u64) -> Cursor {
        let mut kept = self.cursors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let best = (0..kept.len()).filter(|&i| kept[i].done <= after).max_by_key(|&i| kept[i].done);
        if let Some(i) = best {
            return kept.swap_remove(i);
        }
        drop(kept);
        let (sender, events) = blocking::sync_channel(READ_AHEAD);
        let (path, manifest, file) = (self.path.clone(), self.manifest.clone(), self.record.file.clone());
        let reading = file.clone();
        std::thread::spawn(move || {
            let read = archive::for_each_event(&path, &manifest, |event| {
                sender.send(Ok(Some(event))).map_err(|_| ArchiveError::Invalid("nobody reads on".into()))
            });
            let _ = match read {
                Ok(()) => sender.send(Ok(None)),
                Err(ArchiveError::Invalid(_)) => Ok(()),
                Err(e) => sender.send(Err(unavailable(&reading, e))),
            };
        });
        Cursor { done: 0, ahead: VecDeque::new(), events, ended: false, file }
    }

    /// Keeps `cursor` for the next read (the oldest kept one makes room).
    fn keep(&self, cursor: Cursor) {
        let mut kept = self.cursors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() == CURSORS
            && let Some(oldest) = (0..kept.len()).min_by_key(|&i| kept[i].done)
        {
            kept.swap_remove(oldest);
        }
        kept.push(cursor);
    }
}

impl Cursor {
    /// Up to `max` events after `after` and at or below `bound`; the event
    /// after them stays ahead.
    fn take(&mut self, after: u64, bound: u64, max: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut taken = Vec::new();
        while taken.len() < max {
            let event = match self.ahead.pop_front() {
                Some(event) => event,
                None if self.ended => break,
                None => match self.events.recv() {
                    Ok(Ok(Some(event))) => event,
                    Ok(Ok(None)) => {
                        self.ended = true;
                        break;
                    }
                    Ok(Err(e)) => return Err(e),
                    Err(_) => return Err(unavailable(&self.file, "its reader stopped before its end")),
                },
            };
            if event.position <= after {
                self.done = event.position;
                continue;
            }
            if event.position > bound {
                self.ahead.push_front(event);
                break;
            }
            taken.push(event);
        }
        Ok(taken)
    }

    /// Puts back the events taken but not handed out, and notes that
    /// everything up to `done` has been.
    fn give_back(&mut self, mut unused: Vec<RecordedEvent>, done: u64) {
        while let Some(event) = unused.pop() {
            self.ahead.push_front(event);
        }
        self.done = self.done.max(done);
    }
}

impl Tiered {
    /// [`EventStore::read_stream`] with the segments of `state`.
    async fn read_stream_in(
        &self,
        state: &State,
        stream: &str,
        direction: Direction,
        from: Option<u64>,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let Some((runs, through)) = state.runs(stream) else {
            return self.inner.read_stream(stream, direction, from, max).await;
        };
        match direction {
            Direction::Forwards => {
                let first = from.unwrap_or(0);
                if first > through {
                    return self.inner.read_stream(stream, direction, from, max).await;
                }
                let mut events = Self::cold_stream(runs.clone(), stream, first..=through, false, max).await?;
                if events.len() < max {
                    let live = self.inner.read_stream(stream, direction, Some(through + 1), max - events.len());
                    events.extend(live.await?);
                }
                Ok(events)
            }
            Direction::Backwards => {
                let mut events = match from {
                    Some(from) if from <= through => Vec::new(),
                    _ => self.inner.read_stream(stream, direction, from, max).await?,
                };
                if events.len() < max {
                    let top = from.map_or(through, |f| f.min(through));
                    events.extend(Self::cold_stream(runs.clone(), stream, 0..=top, true, max - events.len()).await?);
                }
                Ok(events)
            }
        }
    }

    /// [`EventStore::read_all`] with the segments of `state`.
    async fn read_all_in(&self, state: &State, after: u64, max: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut cold: Vec<Arc<Segment>> =
            state.segments.iter().filter(|s| s.record.last_position > after).cloned().collect();
        if cold.is_empty() || max == 0 {
            return self.inner.read_all(after, max).await;
        }
        let live = self.inner.read_all(after, max).await?;
        // What lies past the last of a full page waits for the next read:
        // past the last live event of a full page, or past the last of a
        // segment's full take. Segments in order of their first position,
        // so that one beyond that bound is not opened at all.
        let mut bound = if live.len() == max { live.last().map_or(u64::MAX, |e| e.position) } else { u64::MAX };
        cold.sort_unstable_by_key(|s| s.record.first_position);
        let mut taken = Vec::with_capacity(cold.len());
        for segment in cold {
            if segment.record.first_position > bound {
                break;
            }
            let mut cursor = segment.cursor(after);
            let (cursor, events) = tokio::task::spawn_blocking(move || {
                let events = cursor.take(after, bound, max);
                (cursor, events)
            })
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let events = events?;
            if events.len() == max {
                bound = bound.min(events.last().map_or(u64::MAX, |e| e.position));
            }
            taken.push((segment, cursor, events));
        }
        let mut merged: Vec<RecordedEvent> =
            live.into_iter().chain(taken.iter().flat_map(|(_, _, events)| events.iter().cloned())).collect();
        merged.sort_unstable_by_key(|e| e.position);
        merged.truncate(max);
        let done = merged.last().map_or(after, |e| e.position);
        for (segment, mut cursor, events) in taken {
            let unused = events.into_iter().filter(|e| e.position > done).collect();
            cursor.give_back(unused, done);
            segment.keep(cursor);
        }
        Ok(merged)
    }
}

/// Whether `events`, read after `after`, leave out a position: the log's
/// positions are dense, so one missing has moved out of it (with a store
/// whose positions are not, the answer only costs a look for segments).
fn leaves_a_gap(after: u64, events: &[RecordedEvent]) -> bool {
    events.iter().zip(after + 1..).any(|(e, expected)| e.position != expected)
}

/// Whether a read of a stream from `from` (at most `max` events) left out
/// versions: it does not begin at `from` going forwards, skips one, or
/// stops short of the first going backwards. Older or newer ones may have
/// moved out of the log since this process looked.
fn misses_versions(direction: Direction, from: Option<u64>, max: usize, events: &[RecordedEvent]) -> bool {
    let Some(first) = events.first() else { return false };
    let step: i128 = if direction == Direction::Forwards { 1 } else { -1 };
    let skips = events.windows(2).any(|pair| i128::from(pair[1].version) - i128::from(pair[0].version) != step);
    skips
        || match direction {
            Direction::Forwards => first.version != from.unwrap_or(0),
            Direction::Backwards => events.len() < max && events.last().is_some_and(|e| e.version > 0),
        }
}

#[async_trait]
impl EventStore for Tiered {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<EventData>,
    ) -> Result<AppendResult, StoreError> {
        self.inner.append(stream, expected, events).await
    }

    /// From the segments this process knows; when the stream's first
    /// events are missing, from those the log records now.
    async fn read_stream(
        &self,
        stream: &str,
        direction: Direction,
        from: Option<u64>,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = {
            let state = self.state.read().await;
            let events = self.read_stream_in(&state, stream, direction, from, max).await?;
            if !misses_versions(direction, from, max, &events) {
                return Ok(events);
            }
            events
        };
        if !self.refresh().await? {
            return Ok(events);
        }
        let state = self.state.read().await;
        self.read_stream_in(&state, stream, direction, from, max).await
    }

    async fn read_appended(
        &self,
        stream: &str,
        first_version: u64,
        count: usize,
        position: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if position <= self.cold_end() {
            return self.read_stream(stream, Direction::Forwards, Some(first_version), count).await;
        }
        self.inner.read_appended(stream, first_version, count, position).await
    }

    async fn has_events_after(&self, stream: &str, version: Option<u64>) -> Result<bool, StoreError> {
        let state = self.state.read().await;
        if let Some((_, through)) = state.runs(stream)
            && version.is_none_or(|v| v < through)
        {
            return Ok(true);
        }
        self.inner.has_events_after(stream, version).await
    }

    /// From the segments this process knows; when a position is missing,
    /// from those the log records now.
    async fn read_all(&self, after: u64, max: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = {
            let state = self.state.read().await;
            let events = self.read_all_in(&state, after, max).await?;
            if !leaves_a_gap(after, &events) {
                return Ok(events);
            }
            events
        };
        if !self.refresh().await? {
            return Ok(events);
        }
        let state = self.state.read().await;
        self.read_all_in(&state, after, max).await
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.inner.head()
    }

    async fn set_stream_metadata(&self, stream: &str, metadata: StreamMetadata) -> Result<(), StoreError> {
        self.inner.set_stream_metadata(stream, metadata).await
    }

    async fn stream_metadata(&self, stream: &str) -> Result<StreamMetadata, StoreError> {
        self.inner.stream_metadata(stream).await
    }

    /// Commands whose events left the live log are not found: their ids
    /// are years old.
    fn indexes_commands(&self) -> bool {
        self.inner.indexes_commands()
    }

    async fn find_command(&self, command: uuid::Uuid) -> Result<Option<store::Written>, StoreError> {
        self.inner.find_command(command).await
    }

    async fn chain_heads(&self) -> Result<Option<Vec<store::chain::ChainHead>>, StoreError> {
        self.inner.chain_heads().await
    }

    /// Opens the segment's file first (in [`Tiered::dir`], where it must
    /// already be): a file that does not prove to hold the history keeps
    /// that history in the log. Reads wait while the log removes it, so
    /// that none finds the events neither live nor cold; subscribers
    /// behind it learn of it before it is done (the end of the cold
    /// history moves first).
    async fn purge(&self, segment: &ColdSegment) -> Result<u64, StoreError> {
        segment.validate()?;
        let key = self.key.ok_or_else(|| no_key(segment))?;
        let opened = open_segment(&self.dir, segment.clone(), key).await?;
        let mut state = self.state.write().await;
        state.follows(&opened.0).map_err(StoreError::InvalidInput)?;
        self.cold_end.fetch_max(segment.last_position, Ordering::SeqCst);
        match self.inner.purge(segment).await {
            Ok(removed) => {
                state.add(opened);
                Ok(removed)
            }
            Err(e) => {
                // An answer lost after the commit leaves the segment
                // recorded: it is read from the file all the same. One
                // refused leaves the end of the cold history where it was.
                drop(state);
                self.refresh().await?;
                let state = self.state.read().await;
                let end = state.segments.iter().map(|s| s.record.last_position).max().unwrap_or(0);
                self.cold_end.store(end, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    async fn cold_segments(&self) -> Result<Vec<ColdSegment>, StoreError> {
        self.inner.cold_segments().await
    }

    /// The cold history page by page through [`Self::read_all`], then the
    /// store's own subscription — back to pages when a batch of it leaves
    /// out positions that have moved out of the log since.
    fn subscribe_all(self: Arc<Self>, after: u64) -> Subscription {
        let (sender, receiver) = mpsc::channel(2);
        tokio::spawn(async move {
            let mut position = after;
            'paging: loop {
                while position < self.cold_end() {
                    match self.read_all(position, PAGE).await {
                        Ok(page) => {
                            let Some(last) = page.last() else { break };
                            position = last.position;
                            if sender.send(Ok(page)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = sender.send(Err(e)).await;
                            return;
                        }
                    }
                }
                let mut live = self.inner.clone().subscribe_all(position);
                while let Some(batch) = live.next_batch().await {
                    if let Ok(events) = &batch
                        && leaves_a_gap(position, events)
                    {
                        let moved_out = match self.refresh().await {
                            Ok(found) => found || position < self.cold_end(),
                            Err(e) => {
                                let _ = sender.send(Err(e)).await;
                                return;
                            }
                        };
                        if moved_out {
                            continue 'paging;
                        }
                    }
                    if let Ok(events) = &batch {
                        position = events.last().map_or(position, |e| e.position);
                    }
                    if sender.send(batch).await.is_err() {
                        return;
                    }
                }
                return;
            }
        });
        Subscription::from_channel(receiver)
    }
}
