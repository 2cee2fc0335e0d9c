//! The conformance suite of the event store port.
//!
//! Every adapter runs it through [`conformance_suite!`], giving an async
//! function that makes a fresh, empty store (or `None`, after saying why, when
//! the adapter's server is not available here):
//!
//! ```ignore
//! store::conformance_suite!(fixture());
//! ```

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::{
    AppendResult, Direction, EventData, EventStore, ExpectedVersion, Metadata, Now, StoreError, StreamMetadata,
};

/// A fresh store and the hand that moves its clock.
pub struct Fixture {
    pub store: Arc<dyn EventStore>,
    pub clock: ManualNow,
    /// The key store that goes with the adapter (its own, or a file).
    pub keys: Arc<dyn crate::sealing::KeyStore>,
    /// Whatever must live as long as the store (a temporary folder, say).
    pub keep_alive: Box<dyn std::any::Any + Send>,
}

/// A settable time source for adapters under test.
#[derive(Clone)]
pub struct ManualNow(Arc<Mutex<DateTime<Utc>>>);

impl Default for ManualNow {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Utc::now())))
    }
}

impl ManualNow {
    /// The time source to give the adapter.
    pub fn now(&self) -> Now {
        let inner = self.0.clone();
        Arc::new(move || *inner.lock().expect("clock lock"))
    }

    /// Moves the time forward.
    pub fn advance(&self, by: Duration) {
        *self.0.lock().expect("clock lock") += by;
    }
}

/// Generates one `#[tokio::test]` per case of the suite.
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            appends_and_reads_a_stream_both_ways,
            honours_every_expected_version,
            lets_exactly_one_of_many_concurrent_writers_win_each_version,
            orders_the_global_log_by_commit,
            treats_a_repeated_append_as_done,
            hands_a_subscription_over_from_catch_up_to_live_without_gap_or_duplicate,
            hides_events_by_stream_metadata,
            stores_large_events,
            accepts_unicode_stream_names,
            refuses_malformed_appends,
            refuses_nul_in_names_and_keeps_it_in_data,
            reads_back_what_an_append_wrote,
            tells_whether_a_stream_has_events_after_a_version,
            finds_the_events_of_a_command_by_its_id,
            links_every_event_into_its_company_chain,
            moves_a_companys_oldest_events_out_and_never_hands_their_positions_out_again,
            seals_payloads_and_shreds_them_with_their_key
        );
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(fixture) = $make.await {
                    $crate::conformance::$case(fixture).await;
                }
            }
        )*
    };
}

fn event(n: usize) -> EventData {
    EventData::json(
        Uuid::now_v7(),
        "Test.V1",
        1,
        &serde_json::json!({ "n": n }),
        Metadata { occurred_at: Utc::now(), ..Metadata::default() },
    )
    .expect("json")
}

fn events(count: usize) -> Vec<EventData> {
    (0..count).map(event).collect()
}

fn unique_stream(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::now_v7().simple())
}

pub async fn appends_and_reads_a_stream_both_ways(f: Fixture) {
    let s = unique_stream("order");
    let written = events(5);
    let result = f.store.append(&s, ExpectedVersion::NoStream, written.clone()).await.unwrap();
    assert_eq!(result.version, 4);
    let forwards = f.store.read_stream(&s, Direction::Forwards, None, 100).await.unwrap();
    assert_eq!(forwards.iter().map(|e| e.version).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    assert_eq!(forwards.iter().map(|e| e.id).collect::<Vec<_>>(), written.iter().map(|e| e.id).collect::<Vec<_>>());
    assert_eq!(forwards[2].data, written[2].data);
    assert_eq!(forwards[2].metadata, written[2].metadata);
    assert_eq!(forwards[2].event_type, "Test.V1");
    assert_eq!(forwards[4].position, result.position);
    let from_two = f.store.read_stream(&s, Direction::Forwards, Some(2), 2).await.unwrap();
    assert_eq!(from_two.iter().map(|e| e.version).collect::<Vec<_>>(), vec![2, 3]);
    let backwards = f.store.read_stream(&s, Direction::Backwards, None, 3).await.unwrap();
    assert_eq!(backwards.iter().map(|e| e.version).collect::<Vec<_>>(), vec![4, 3, 2]);
    let back_from = f.store.read_stream(&s, Direction::Backwards, Some(1), 10).await.unwrap();
    assert_eq!(back_from.iter().map(|e| e.version).collect::<Vec<_>>(), vec![1, 0]);
    let missing = f.store.read_stream("order-none", Direction::Forwards, None, 10).await.unwrap();
    assert!(missing.is_empty());
}

pub async fn honours_every_expected_version(f: Fixture) {
    let s = unique_stream("account");
    let conflict = |r: Result<_, StoreError>| matches!(r, Err(StoreError::Conflict { .. }));
    assert!(conflict(f.store.append(&s, ExpectedVersion::StreamExists, events(1)).await));
    assert!(conflict(f.store.append(&s, ExpectedVersion::Exact(0), events(1)).await));
    assert_eq!(f.store.append(&s, ExpectedVersion::NoStream, events(1)).await.unwrap().version, 0);
    assert!(conflict(f.store.append(&s, ExpectedVersion::NoStream, events(1)).await));
    assert_eq!(f.store.append(&s, ExpectedVersion::StreamExists, events(1)).await.unwrap().version, 1);
    assert_eq!(f.store.append(&s, ExpectedVersion::Exact(1), events(2)).await.unwrap().version, 3);
    let stale = f.store.append(&s, ExpectedVersion::Exact(1), events(1)).await;
    assert_eq!(
        stale,
        Err(StoreError::Conflict { stream: s.clone(), expected: ExpectedVersion::Exact(1), actual: Some(3) })
    );
    assert_eq!(f.store.append(&s, ExpectedVersion::Any, events(1)).await.unwrap().version, 4);
    let other = unique_stream("account");
    assert_eq!(f.store.append(&other, ExpectedVersion::Any, events(1)).await.unwrap().version, 0);
}

pub async fn lets_exactly_one_of_many_concurrent_writers_win_each_version(f: Fixture) {
    for writers in [2usize, 8, 64] {
        let s = unique_stream("race");
        f.store.append(&s, ExpectedVersion::NoStream, events(1)).await.unwrap();
        // Every writer tries to append at each version in turn; for each
        // version exactly one may win.
        let rounds = 5u64;
        let mut tasks = Vec::new();
        for w in 0..writers {
            let store = f.store.clone();
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut wins = Vec::new();
                for version in 0..rounds {
                    match store.append(&s, ExpectedVersion::Exact(version), events(1)).await {
                        Ok(r) => wins.push((r.version, w)),
                        Err(StoreError::Conflict { .. }) => {}
                        Err(e) => panic!("unexpected error {e}"),
                    }
                }
                wins
            }));
        }
        let mut winners: HashMap<u64, usize> = HashMap::new();
        for t in tasks {
            for (version, _) in t.await.unwrap() {
                *winners.entry(version).or_default() += 1;
            }
        }
        assert!(winners.values().all(|n| *n == 1), "{writers} writers: two winners for one version: {winners:?}");
        let stored = f.store.read_stream(&s, Direction::Forwards, None, 1000).await.unwrap();
        assert_eq!(stored.len() as u64, 1 + winners.len() as u64);
        assert!(stored.iter().enumerate().all(|(i, e)| e.version == i as u64));
        // A version can only be won after the previous one was.
        assert!(winners.contains_key(&1), "{writers} writers: nobody won version 1");
    }
}

pub async fn orders_the_global_log_by_commit(f: Fixture) {
    let start = *f.store.head().borrow();
    let a = unique_stream("a");
    let b = unique_stream("b");
    let mut ids = Vec::new();
    for i in 0..10 {
        let e = events(2);
        ids.extend(e.iter().map(|e| e.id));
        let s = if i % 2 == 0 { &a } else { &b };
        f.store.append(s, ExpectedVersion::Any, e).await.unwrap();
    }
    // The store may be shared with other writers (a server): only this
    // test's streams are counted.
    let all = f.store.read_all(start, 100_000).await.unwrap();
    let ours: Vec<_> = all.iter().filter(|e| e.stream == a || e.stream == b).collect();
    assert_eq!(ours.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    assert!(*f.store.head().borrow() >= ours.last().unwrap().position);
    let fifth = all.iter().position(|e| e.id == ours[4].id).unwrap();
    let page = f.store.read_all(all[fifth].position, 3).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.position).collect::<Vec<_>>(),
        all[fifth + 1..fifth + 4].iter().map(|e| e.position).collect::<Vec<_>>()
    );
    // Concurrent appends to many streams still get unique positions.
    let prefix = unique_stream("c");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = f.store.clone();
        let stream = format!("{prefix}{i}");
        tasks.push(tokio::spawn(
            async move { store.append(&stream, ExpectedVersion::NoStream, events(3)).await.unwrap() },
        ));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = f.store.read_all(start, 100_000).await.unwrap();
    let ours = all.iter().filter(|e| e.stream == a || e.stream == b || e.stream.starts_with(&prefix)).count();
    assert_eq!(ours, 20 + 48);
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
}

pub async fn treats_a_repeated_append_as_done(f: Fixture) {
    let s = unique_stream("idem");
    let first = events(3);
    let r1 = f.store.append(&s, ExpectedVersion::NoStream, first.clone()).await.unwrap();
    assert!(!r1.repeated);
    // The same events at the same expected version: success, nothing
    // written, and said to be a repetition.
    let repeated = AppendResult { repeated: true, ..r1 };
    let r2 = f.store.append(&s, ExpectedVersion::NoStream, first.clone()).await.unwrap();
    assert_eq!(r2, repeated);
    let r3 = f.store.append(&s, ExpectedVersion::Any, first.clone()).await.unwrap();
    assert_eq!(r3, repeated);
    // Only the ids count: other payloads under the same ids are the same events.
    let mut renamed = first.clone();
    renamed[0].data = b"{\"n\":99}".to_vec();
    assert_eq!(f.store.append(&s, ExpectedVersion::NoStream, renamed).await.unwrap(), repeated);
    assert_eq!(f.store.read_stream(&s, Direction::Forwards, None, 100).await.unwrap().len(), 3);
    let second = events(2);
    let r4 = f.store.append(&s, ExpectedVersion::Exact(2), second.clone()).await.unwrap();
    assert!(!r4.repeated);
    f.store.append(&s, ExpectedVersion::Exact(4), events(1)).await.unwrap();
    let repeated = AppendResult { repeated: true, ..r4 };
    assert_eq!(f.store.append(&s, ExpectedVersion::Exact(2), second.clone()).await.unwrap(), repeated);
    assert_eq!(f.store.append(&s, ExpectedVersion::StreamExists, second.clone()).await.unwrap(), repeated);
    // Any other mismatch is a conflict: different ids, or a partial overlap.
    let other = f.store.append(&s, ExpectedVersion::Exact(2), events(2)).await;
    assert!(matches!(other, Err(StoreError::Conflict { .. })));
    let mut partial = second.clone();
    partial.push(event(9));
    assert!(matches!(f.store.append(&s, ExpectedVersion::Exact(2), partial).await, Err(StoreError::Conflict { .. })));
    let mut shifted = first.clone();
    shifted.remove(0);
    assert!(matches!(f.store.append(&s, ExpectedVersion::NoStream, shifted).await, Err(StoreError::Conflict { .. })));
    // An id stored in another stream cannot be reused.
    let elsewhere = f.store.append(&unique_stream("idem"), ExpectedVersion::NoStream, vec![first[0].clone()]).await;
    assert!(matches!(elsewhere, Err(StoreError::Conflict { .. })));
    let stored = f.store.read_stream(&s, Direction::Forwards, None, 100).await.unwrap();
    assert_eq!(stored.len(), 6);
}

pub async fn hands_a_subscription_over_from_catch_up_to_live_without_gap_or_duplicate(f: Fixture) {
    // Stream names of this run only: the store may be shared.
    let prefix = format!("sub{}", Uuid::now_v7().simple());
    let start = *f.store.head().borrow();
    for _ in 0..50 {
        f.store.append(&unique_stream(&prefix), ExpectedVersion::NoStream, events(20)).await.unwrap();
    }
    let mut subscription = f.store.clone().subscribe_all(start);
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let store = f.store.clone();
            let prefix = prefix.clone();
            tokio::spawn(async move {
                for _ in 0..25 {
                    store.append(&unique_stream(&prefix), ExpectedVersion::NoStream, events(4)).await.unwrap();
                }
            })
        })
        .collect();
    let expected = 50 * 20 + 8 * 25 * 4;
    let mut seen = Vec::new();
    while seen.len() < expected {
        let batch = tokio::time::timeout(std::time::Duration::from_secs(30), subscription.next_batch())
            .await
            .expect("subscription stalled")
            .expect("subscription ended")
            .expect("subscription failed");
        seen.extend(batch.into_iter().filter(|e| e.stream.starts_with(&prefix)).map(|e| e.position));
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(seen.len(), expected);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "out of order or duplicated");
    let all: BTreeSet<u64> = f
        .store
        .read_all(start, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.stream.starts_with(&prefix))
        .map(|e| e.position)
        .collect();
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), all, "a gap");
}

pub async fn hides_events_by_stream_metadata(f: Fixture) {
    let s = unique_stream("retained");
    assert_eq!(f.store.stream_metadata(&s).await.unwrap(), StreamMetadata::default());
    f.store.append(&s, ExpectedVersion::NoStream, events(5)).await.unwrap();
    let truncate = StreamMetadata { truncate_before: Some(3), ..StreamMetadata::default() };
    f.store.set_stream_metadata(&s, truncate).await.unwrap();
    assert_eq!(f.store.stream_metadata(&s).await.unwrap(), truncate);
    let read = f.store.read_stream(&s, Direction::Forwards, None, 100).await.unwrap();
    assert_eq!(read.iter().map(|e| e.version).collect::<Vec<_>>(), vec![3, 4]);
    let back = f.store.read_stream(&s, Direction::Backwards, None, 100).await.unwrap();
    assert_eq!(back.iter().map(|e| e.version).collect::<Vec<_>>(), vec![4, 3]);
    // Appending still continues the stream's versions.
    assert_eq!(f.store.append(&s, ExpectedVersion::Exact(4), events(1)).await.unwrap().version, 5);

    let aged = unique_stream("aged");
    let max_age = StreamMetadata { max_age_seconds: Some(3600), ..StreamMetadata::default() };
    // Metadata may be set before the stream exists.
    f.store.set_stream_metadata(&aged, max_age).await.unwrap();
    f.store.append(&aged, ExpectedVersion::NoStream, events(2)).await.unwrap();
    f.clock.advance(Duration::minutes(59));
    f.store.append(&aged, ExpectedVersion::Exact(1), events(1)).await.unwrap();
    assert_eq!(f.store.read_stream(&aged, Direction::Forwards, None, 10).await.unwrap().len(), 3);
    f.clock.advance(Duration::minutes(2));
    let young = f.store.read_stream(&aged, Direction::Forwards, None, 10).await.unwrap();
    assert_eq!(young.iter().map(|e| e.version).collect::<Vec<_>>(), vec![2]);
    f.store.set_stream_metadata(&aged, StreamMetadata::default()).await.unwrap();
    assert_eq!(f.store.read_stream(&aged, Direction::Forwards, None, 10).await.unwrap().len(), 3);
}

pub async fn stores_large_events(f: Fixture) {
    let s = unique_stream("large");
    let big = "가".repeat(350_000); // over 1 MB of UTF-8
    let e =
        EventData::json(Uuid::now_v7(), "Big.V1", 1, &big, Metadata { occurred_at: Utc::now(), ..Metadata::default() })
            .unwrap();
    assert!(e.data.len() > 1_000_000);
    f.store.append(&s, ExpectedVersion::NoStream, vec![e.clone(), event(1)]).await.unwrap();
    let read = f.store.read_stream(&s, Direction::Forwards, None, 10).await.unwrap();
    assert_eq!(read[0].data, e.data);
    assert_eq!(read[0].decode::<String>().unwrap(), big);
}

pub async fn accepts_unicode_stream_names(f: Fixture) {
    let s = format!("결재-{}-문서🙂", Uuid::now_v7().simple());
    f.store.append(&s, ExpectedVersion::NoStream, events(2)).await.unwrap();
    let read = f.store.read_stream(&s, Direction::Forwards, None, 10).await.unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].stream, s);
    assert_eq!(read[0].category(), "결재");
    let similar = s.replace('🙂', "🙃");
    assert!(f.store.read_stream(&similar, Direction::Forwards, None, 10).await.unwrap().is_empty());
}

pub async fn refuses_malformed_appends(f: Fixture) {
    let s = unique_stream("x");
    assert!(matches!(f.store.append("", ExpectedVersion::Any, events(1)).await, Err(StoreError::InvalidInput(_))));
    assert!(matches!(f.store.append("  ", ExpectedVersion::Any, events(1)).await, Err(StoreError::InvalidInput(_))));
    assert!(matches!(f.store.append(&s, ExpectedVersion::Any, vec![]).await, Err(StoreError::InvalidInput(_))));
    assert!(f.store.read_stream(&s, Direction::Forwards, None, 10).await.unwrap().is_empty());
    assert!(f.store.read_stream("", Direction::Forwards, None, 10).await.unwrap().is_empty());
}

/// NUL cannot be kept in a stream name, an event type or a client address
/// (PostgreSQL's text cannot hold it): every adapter refuses it alike,
/// before anything is written; in event data it is kept as it was.
pub async fn refuses_nul_in_names_and_keeps_it_in_data(f: Fixture) {
    let head = *f.store.head().borrow();
    fn refused<T>(result: Result<T, StoreError>) -> bool {
        matches!(result, Err(StoreError::InvalidInput(_)))
    }
    assert!(refused(f.store.append("nul-\0", ExpectedVersion::Any, events(1)).await));
    let mut typed = event(1);
    typed.event_type = "Test\0.V1".into();
    assert!(refused(f.store.append(&unique_stream("nul"), ExpectedVersion::Any, vec![typed]).await));
    let mut addressed = event(1);
    addressed.metadata.client_address = Some("10.0.0.1\0".into());
    let s = unique_stream("nul");
    assert!(refused(f.store.append(&s, ExpectedVersion::Any, vec![event(0), addressed]).await));
    assert!(refused(f.store.set_stream_metadata("nul-\0", StreamMetadata::default()).await));
    assert!(refused(f.store.read_stream("nul-\0", Direction::Forwards, None, 10).await));
    assert!(refused(f.store.stream_metadata("nul-\0").await));
    assert!(f.store.read_stream(&s, Direction::Forwards, None, 10).await.unwrap().is_empty());
    assert_eq!(*f.store.head().borrow(), head, "nothing was written");

    let data = serde_json::json!({ "subject": "a\u{0}b", "\u{0}": ["\u{0}"] });
    let held = EventData::json(
        Uuid::now_v7(),
        "Test.V1",
        1,
        &data,
        Metadata { occurred_at: Utc::now(), ..Metadata::default() },
    )
    .expect("json");
    f.store.append(&s, ExpectedVersion::NoStream, vec![held]).await.unwrap();
    let read = f.store.read_stream(&s, Direction::Forwards, None, 10).await.unwrap();
    assert_eq!(read[0].decode::<serde_json::Value>().unwrap(), data);
}

pub async fn reads_back_what_an_append_wrote(f: Fixture) {
    let s = unique_stream("appended");
    f.store.append(&s, ExpectedVersion::NoStream, events(2)).await.unwrap();
    let other = unique_stream("other");
    // Appends of other streams on both sides, at once.
    let (result, _) = tokio::join!(
        f.store.append(&s, ExpectedVersion::Exact(1), events(3)),
        f.store.append(&other, ExpectedVersion::NoStream, events(4)),
    );
    let result = result.unwrap();
    f.store.append(&other, ExpectedVersion::Exact(3), events(1)).await.unwrap();
    let appended = f.store.read_appended(&s, 2, 3, result.position).await.unwrap();
    let stored = f.store.read_stream(&s, Direction::Forwards, Some(2), 3).await.unwrap();
    assert_eq!(
        appended.iter().map(|e| (e.id, e.version, e.position)).collect::<Vec<_>>(),
        stored.iter().map(|e| (e.id, e.version, e.position)).collect::<Vec<_>>()
    );
    assert_eq!(appended.last().map(|e| e.position), Some(result.position));
    // A range that is not that append's reads the stream instead.
    let shifted = f.store.read_appended(&s, 0, 2, result.position).await.unwrap();
    assert_eq!(shifted.iter().map(|e| e.version).collect::<Vec<_>>(), vec![0, 1]);
}

/// A store that indexes command ids finds where a command's events are:
/// the first stream it wrote, from which version, how many, the last
/// position; a command no event carries is not found.
pub async fn finds_the_events_of_a_command_by_its_id(f: Fixture) {
    let store = &f.store;
    let commanded = |command: Uuid, n: usize| {
        let metadata = Metadata { command_id: Some(command), occurred_at: Utc::now(), ..Metadata::default() };
        EventData::json(Uuid::now_v7(), "Test.V1", 1, &serde_json::json!({ "n": n }), metadata).expect("json")
    };
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    store.append("cmd-a", ExpectedVersion::NoStream, events(2)).await.unwrap();
    store.append("cmd-a", ExpectedVersion::Exact(1), vec![commanded(first, 1), commanded(first, 2)]).await.unwrap();
    let other = store.append("cmd-b", ExpectedVersion::NoStream, vec![commanded(second, 3)]).await.unwrap();
    let last = store.append("cmd-a", ExpectedVersion::Exact(3), vec![commanded(first, 4)]).await.unwrap();
    if !store.indexes_commands() {
        assert_eq!(store.find_command(first).await.unwrap(), None, "a store without the index finds nothing");
        return;
    }
    let found = store.find_command(first).await.unwrap();
    assert_eq!(
        found,
        Some(crate::Written { stream: "cmd-a".into(), first_version: 2, count: 3, position: last.position })
    );
    let found = store.find_command(second).await.unwrap();
    assert_eq!(
        found,
        Some(crate::Written { stream: "cmd-b".into(), first_version: 0, count: 1, position: other.position })
    );
    assert_eq!(store.find_command(Uuid::now_v7()).await.unwrap(), None);
}

pub async fn tells_whether_a_stream_has_events_after_a_version(f: Fixture) {
    let s = unique_stream("newer");
    assert!(!f.store.has_events_after(&s, None).await.unwrap(), "an empty stream has none");
    f.store.append(&s, ExpectedVersion::NoStream, events(2)).await.unwrap();
    assert!(f.store.has_events_after(&s, None).await.unwrap());
    assert!(f.store.has_events_after(&s, Some(0)).await.unwrap());
    assert!(!f.store.has_events_after(&s, Some(1)).await.unwrap());
    // What another stream gets changes nothing here; this stream's next
    // append is seen at once.
    f.store.append(&unique_stream("other"), ExpectedVersion::NoStream, events(1)).await.unwrap();
    assert!(!f.store.has_events_after(&s, Some(1)).await.unwrap());
    f.store.append(&s, ExpectedVersion::Exact(1), events(1)).await.unwrap();
    assert!(f.store.has_events_after(&s, Some(1)).await.unwrap());
    assert!(!f.store.has_events_after(&s, Some(2)).await.unwrap());
}

/// A store that keeps a chain links every event, whoever wrote it at the
/// same time and whatever failed beside it, and its heads are the newest
/// links. (A store that keeps none says so and is not checked.)
pub async fn links_every_event_into_its_company_chain(f: Fixture) {
    let Some(before) = f.store.chain_heads().await.unwrap() else {
        eprintln!("this store keeps no hash chain; nothing to check");
        return;
    };
    assert!(before.is_empty(), "a fresh store has no chain yet");
    let companies = [Uuid::now_v7(), Uuid::now_v7()];
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = f.store.clone();
        let tenant = (i % 3 < 2).then(|| companies[i % 2]);
        // Every fourth writer conflicts with the one before it.
        let stream = format!("chain-{}", i - usize::from(i % 4 == 3));
        tasks.push(tokio::spawn(async move {
            let events = (0..2)
                .map(|n| {
                    let mut e = event(n);
                    e.metadata.tenant = tenant;
                    e
                })
                .collect();
            store.append(&stream, ExpectedVersion::NoStream, events).await
        }));
    }
    for t in tasks {
        let _ = t.await.unwrap();
    }
    let log = f.store.read_all(0, 100_000).await.unwrap();
    let mut check = crate::chain::ChainCheck::new();
    let mut newest = HashMap::new();
    for e in &log {
        let hash = check.check(e).unwrap_or_else(|broken| panic!("{broken}"));
        newest.insert(crate::chain::chain_of(&e.metadata), (e.position, hash));
    }
    let heads = f.store.chain_heads().await.unwrap().unwrap();
    assert_eq!(heads.len(), newest.len());
    for head in heads {
        assert_eq!(newest[&head.chain], (head.position, head.hash));
    }
}

/// A company's oldest events leave the live log only as a segment that
/// matches it (nothing is removed otherwise); the other company's events,
/// the streams' versions and the chain go on, and no position is handed
/// out twice, also when the newest events of the log left. (A store that
/// keeps no chain moves nothing out, and says so.)
pub async fn moves_a_companys_oldest_events_out_and_never_hands_their_positions_out_again(f: Fixture) {
    use crate::cold::ColdSegment;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let of = |tenant: Uuid, count: usize| -> Vec<EventData> {
        (0..count)
            .map(|n| {
                let mut e = event(n);
                e.metadata.tenant = Some(tenant);
                e
            })
            .collect()
    };
    let (a1, a2, b1) = (unique_stream("a"), unique_stream("a"), unique_stream("b"));
    f.store.append(&a1, ExpectedVersion::Any, of(a, 3)).await.unwrap();
    f.store.append(&b1, ExpectedVersion::Any, of(b, 2)).await.unwrap();
    f.store.append(&a1, ExpectedVersion::Any, of(a, 2)).await.unwrap();
    f.store.append(&a2, ExpectedVersion::Any, of(a, 1)).await.unwrap();
    if f.store.chain_heads().await.unwrap().is_none() {
        let segment = ColdSegment {
            tenant: a,
            first_position: 1,
            last_position: 3,
            events: 3,
            anchor: crate::chain::ChainHash([0; 32]),
            file: "a.zip".into(),
        };
        assert!(matches!(f.store.purge(&segment).await, Err(StoreError::InvalidInput(_))));
        return;
    }
    let log = f.store.read_all(0, 1000).await.unwrap();
    let of_a: Vec<_> = log.iter().filter(|e| e.metadata.tenant == Some(a)).collect();
    let first = ColdSegment {
        tenant: a,
        first_position: of_a[0].position,
        last_position: of_a[2].position,
        events: 3,
        anchor: of_a[2].chain.unwrap(),
        file: "a-1.zip".into(),
    };
    let wrong = [
        ColdSegment { anchor: of_a[1].chain.unwrap(), ..first.clone() },
        ColdSegment { events: 2, ..first.clone() },
        ColdSegment { first_position: of_a[1].position, events: 2, ..first.clone() },
        ColdSegment { tenant: b, ..first.clone() },
        ColdSegment { tenant: Uuid::nil(), ..first.clone() },
        ColdSegment { file: "../a.zip".into(), ..first.clone() },
        ColdSegment { first_position: of_a[2].position, last_position: of_a[0].position, ..first.clone() },
    ];
    for segment in wrong {
        let refused = f.store.purge(&segment).await;
        assert!(matches!(refused, Err(StoreError::InvalidInput(_))), "{segment:?}: {refused:?}");
    }
    assert_eq!(f.store.read_all(0, 1000).await.unwrap(), log, "a refused segment removes nothing");
    assert!(f.store.cold_segments().await.unwrap().is_empty());

    assert_eq!(f.store.purge(&first).await.unwrap(), 3);
    let live = f.store.read_all(0, 1000).await.unwrap();
    let expected: Vec<_> =
        log.iter().filter(|e| e.position > first.last_position || e.metadata.tenant != Some(a)).cloned().collect();
    assert_eq!(live, expected);
    assert_eq!(f.store.cold_segments().await.unwrap(), vec![first.clone()]);
    let versions: Vec<u64> =
        f.store.read_stream(&a1, Direction::Forwards, None, 10).await.unwrap().iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![3, 4], "the stream keeps its versions");
    let heads = f.store.chain_heads().await.unwrap().unwrap();
    let head_a = heads.iter().find(|h| h.chain == a).unwrap();

    // The rest of the company, the log's newest event with it, leaves too.
    let appended = f.store.append(&a1, ExpectedVersion::Exact(4), of(a, 1)).await.unwrap();
    assert_eq!(appended.version, 5);
    let newest = f.store.read_stream(&a1, Direction::Backwards, None, 1).await.unwrap().remove(0);
    assert_eq!(newest.chain, Some(head_a.hash.link(&newest)), "the chain goes on from the company's head");
    let rest: Vec<_> =
        f.store.read_all(0, 1000).await.unwrap().into_iter().filter(|e| e.metadata.tenant == Some(a)).collect();
    let second = ColdSegment {
        tenant: a,
        first_position: rest[0].position,
        last_position: appended.position,
        events: rest.len() as u64,
        anchor: newest.chain.unwrap(),
        file: "a-2.zip".into(),
    };
    assert_eq!(f.store.purge(&second).await.unwrap(), 4);
    assert_eq!(f.store.cold_segments().await.unwrap(), vec![first, second]);
    let next = f.store.append(&b1, ExpectedVersion::Exact(1), of(b, 1)).await.unwrap();
    assert!(next.position > appended.position, "a position moved out is not handed out again");
}

/// Payloads sealed through [`crate::sealing::Sealed`]: stored without a
/// plain byte, read back opened everywhere, chained as stored, and gone for
/// good once their key is destroyed (rule U1).
pub async fn seals_payloads_and_shreds_them_with_their_key(f: Fixture) {
    use crate::sealing::{KeyRef, MAGIC, SHREDDED, Sealed, Sealer};
    let tenant = Uuid::now_v7();
    let (kim, lee) = (KeyRef { tenant, subject: Uuid::now_v7() }, KeyRef { tenant, subject: Uuid::now_v7() });
    let sealed: Arc<dyn EventStore> = Arc::new(Sealed::new(f.store.clone(), Arc::new(Sealer::new(f.keys.clone()))));
    let mail = |who: &str, key: Option<KeyRef>| {
        let mut e = EventData::json(
            Uuid::now_v7(),
            "MailSent",
            1,
            &serde_json::json!({ "subject": format!("secret plans of {who}") }),
            Metadata { tenant: Some(tenant), occurred_at: Utc::now(), ..Metadata::default() },
        )
        .unwrap();
        e.seal = key;
        e
    };
    let mut live = sealed.clone().subscribe_all(0);
    sealed.append("mailbox-kim", ExpectedVersion::NoStream, vec![mail("kim", Some(kim))]).await.unwrap();
    sealed.append("mailbox-lee", ExpectedVersion::NoStream, vec![mail("lee", Some(lee))]).await.unwrap();
    sealed.append("tenant-x", ExpectedVersion::NoStream, vec![mail("all", None)]).await.unwrap();
    let stored = f.store.read_all(0, 10).await.unwrap();
    assert_eq!(stored.len(), 3);
    for e in &stored[..2] {
        assert!(e.data.starts_with(MAGIC), "sealed as stored");
        assert!(!String::from_utf8_lossy(&e.data).contains("secret"), "no plain byte below the seal");
    }
    assert_eq!(stored[2].decode::<serde_json::Value>().unwrap()["subject"], "secret plans of all");
    let subject = |e: &crate::RecordedEvent| e.decode::<serde_json::Value>().unwrap()["subject"].clone();
    let opened = sealed.read_all(0, 10).await.unwrap();
    assert_eq!(
        opened.iter().map(subject).collect::<Vec<_>>(),
        ["secret plans of kim", "secret plans of lee", "secret plans of all"]
    );
    let first = live.next_batch().await.unwrap().unwrap();
    assert_eq!(subject(&first[0]), "secret plans of kim", "subscriptions open too");

    Sealer::new(f.keys.clone()).destroy(kim).await.unwrap();
    // A fresh sealer, as after a restart (this one has not kept the key).
    let after = Sealed::new(f.store.clone(), Arc::new(Sealer::new(f.keys.clone())));
    let kims = after.read_stream("mailbox-kim", Direction::Forwards, None, 10).await.unwrap();
    assert!(kims[0].is_shredded() && kims[0].data == SHREDDED);
    assert_eq!(
        subject(&after.read_stream("mailbox-lee", Direction::Forwards, None, 10).await.unwrap()[0]),
        "secret plans of lee"
    );
    // What is sealed for a destroyed key is unreadable from the start, and
    // the key is never made again.
    after.append("mailbox-kim", ExpectedVersion::Exact(0), vec![mail("kim", Some(kim))]).await.unwrap();
    let kims = after.read_stream("mailbox-kim", Direction::Forwards, None, 10).await.unwrap();
    assert!(kims.iter().all(crate::RecordedEvent::is_shredded));
    assert_eq!(f.keys.key_for_sealing(kim).await.unwrap(), None);
    assert_eq!(f.keys.key(kim.subject).await.unwrap(), None);
    // Sealed bytes are bound to their event.
    let moved = crate::sealing::Sealer::new(f.keys.clone());
    assert_eq!(moved.open(Uuid::now_v7().as_bytes(), &stored[1].data).await.unwrap(), crate::sealing::Opened::Shredded);
    // The chain is over the stored bytes, and holds after the shredding.
    if f.store.chain_heads().await.unwrap().is_some() {
        let mut check = crate::chain::ChainCheck::new();
        for e in f.store.read_all(0, 10).await.unwrap() {
            check.check(&e).unwrap_or_else(|broken| panic!("{broken}"));
        }
    }
    // The key store: the live keys of the company, an import that keeps
    // what is known (a destroyed key stays destroyed).
    let live = f.keys.live_keys(tenant).await.unwrap();
    assert_eq!(live.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [lee]);
    f.keys.import(vec![(kim, [7; 32]), (lee, [7; 32]), (KeyRef::company(tenant), [9; 32])]).await.unwrap();
    assert_eq!(f.keys.key(kim.subject).await.unwrap(), None);
    assert_eq!(f.keys.key(lee.subject).await.unwrap(), Some(live[0].1));
    assert_eq!(f.keys.key(tenant).await.unwrap(), Some([9; 32]));
    // Terminating the company (rule B3) destroys all its keys, and no other
    // company's.
    let other = KeyRef { tenant: Uuid::now_v7(), subject: Uuid::now_v7() };
    let others = f.keys.key_for_sealing(other).await.unwrap();
    f.keys.destroy_tenant(tenant).await.unwrap();
    assert_eq!(f.keys.live_keys(tenant).await.unwrap(), vec![]);
    assert_eq!(f.keys.key_for_sealing(KeyRef::company(tenant)).await.unwrap(), None);
    let newcomer = KeyRef { tenant, subject: Uuid::now_v7() };
    assert_eq!(f.keys.key_for_sealing(newcomer).await.unwrap(), None, "no new key for a terminated company");
    assert_eq!(f.keys.key(other.subject).await.unwrap(), others);
    let after = Sealed::new(f.store.clone(), Arc::new(Sealer::new(f.keys.clone())));
    let lees = after.read_stream("mailbox-lee", Direction::Forwards, None, 10).await.unwrap();
    assert!(lees[0].is_shredded());
}
