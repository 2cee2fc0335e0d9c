//! Cold history: a company's oldest months leave the live log once they
//! are in a verified archive, and every read of the log goes on finding
//! them, from the file, as if they had never left.

use std::sync::Arc;

use audit::archive::{Manifest, export, verify_archive};
use audit::cold::Tiered;
use store::chain::ChainHash;
use store::cold::ColdSegment;
use store::sqlite::SqliteEventStore;
use store::{Direction, EventStore, RecordedEvent, StoreError, system_now};

mod common;
use common::*;

/// The segment `manifest`'s archive, at `file`, makes.
fn segment(manifest: &Manifest, file: &str) -> ColdSegment {
    ColdSegment {
        tenant: manifest.company.id,
        first_position: manifest.first_position,
        last_position: manifest.last_position,
        events: manifest.events,
        anchor: ChainHash::parse_hex(&manifest.chain_at_end).unwrap(),
        file: file.into(),
    }
}

/// The whole log read `page` events at a time.
async fn paged(store: &dyn EventStore, page: usize) -> Vec<RecordedEvent> {
    let (mut all, mut after) = (Vec::new(), 0);
    loop {
        let events = store.read_all(after, page).await.unwrap();
        let Some(last) = events.last() else { return all };
        after = last.position;
        all.extend(events);
    }
}

/// What a reader of `stream` can see, every way it reads.
async fn views(store: &dyn EventStore, stream: &str) -> Vec<Vec<RecordedEvent>> {
    let mut views = Vec::new();
    for (direction, from, max) in [
        (Direction::Forwards, None, 100),
        (Direction::Forwards, Some(1), 2),
        (Direction::Forwards, Some(4), 100),
        (Direction::Backwards, None, 100),
        (Direction::Backwards, None, 1),
        (Direction::Backwards, Some(2), 2),
    ] {
        views.push(store.read_stream(stream, direction, from, max).await.unwrap());
    }
    views
}

async fn subscribed(store: Arc<dyn EventStore>, count: usize) -> Vec<RecordedEvent> {
    let mut subscription = store.subscribe_all(0);
    let mut all = Vec::new();
    while all.len() < count {
        all.extend(subscription.next_batch().await.unwrap().unwrap());
    }
    all
}

#[tokio::test]
async fn a_companys_oldest_months_leave_the_log_and_are_read_from_their_archive_in_place() {
    let Setup { dir, store, company, key } = setup().await;
    let cold = dir.path().join("cold");
    std::fs::create_dir_all(&cold).unwrap();
    let live: Arc<dyn EventStore> = Arc::new(store);
    let tiered = Arc::new(Tiered::open(live.clone(), cold.clone(), Some(key.public())).await.unwrap());
    let log = tiered.read_all(0, 1000).await.unwrap();
    let streams = ["thing-a", "thing-b", &commands::stream_name::<domain::audit::Checkpoints>(company.id)];
    let mut seen = Vec::new();
    for stream in streams {
        seen.push(views(tiered.as_ref(), stream).await);
    }

    // December and January leave, then March and April (February has
    // none); May's stays.
    for (n, (from, to)) in [("2025-12", "2026-01"), ("2026-02", "2026-04")].into_iter().enumerate() {
        let file = format!("acme-{n}.zip");
        let manifest =
            export(tiered.as_ref(), asked(&company, from, to, &[]), &key, &cold.join(&file), |_| {}).await.unwrap();
        verify_archive(&cold.join(&file), Some(key.public()), |_| {}).unwrap();
        assert_eq!(tiered.purge(&segment(&manifest, &file)).await.unwrap(), manifest.events);
    }
    let remaining: Vec<_> = live.read_all(0, 1000).await.unwrap();
    assert_eq!(remaining.iter().filter(|e| e.metadata.tenant == Some(company.id)).count(), 1, "May's is live");
    assert!(std::fs::exists(cold.join("acme-0.zip.streams.json")).unwrap(), "the index is kept beside the file");

    // Read whole, by pages of any size, by stream either way, subscribed:
    // the log as it was.
    assert_eq!(tiered.read_all(0, 1000).await.unwrap(), log);
    for page in [1, 2, 3, 5] {
        assert_eq!(paged(tiered.as_ref(), page).await, log, "pages of {page}");
    }
    for (stream, seen) in streams.iter().zip(&seen) {
        assert_eq!(&views(tiered.as_ref(), stream).await, seen, "{stream}");
        assert!(tiered.has_events_after(stream, Some(0)).await.unwrap() == (seen[0].len() > 1));
    }
    assert_eq!(subscribed(tiered.clone(), log.len()).await, log);

    // Opened again, from the log's record of its segments.
    drop((tiered, live));
    let reopened: Arc<dyn EventStore> =
        Arc::new(SqliteEventStore::open(dir.path().join("events.db"), system_now()).unwrap());
    let tiered = Arc::new(Tiered::open(reopened, cold.clone(), Some(key.public())).await.unwrap());
    assert_eq!(paged(tiered.as_ref(), 2).await, log);
    append(tiered.as_ref(), "thing-a", company.id, at("2026-05-02T00:00:00+09:00"), 6).await;
    let newest = tiered.read_stream("thing-a", Direction::Backwards, None, 1).await.unwrap().remove(0);
    assert_eq!(newest.position, log.last().unwrap().position + 1);
    assert_eq!(newest.chain, Some(log.last().unwrap().chain.unwrap().link(&newest)), "the chain goes on");
}

#[tokio::test]
async fn a_cold_file_that_does_not_prove_its_history_keeps_that_history_in_the_log() {
    let Setup { dir, store, company, key } = setup().await;
    let cold = dir.path().join("cold");
    std::fs::create_dir_all(&cold).unwrap();
    let live: Arc<dyn EventStore> = Arc::new(store);
    let tiered = Tiered::open(live.clone(), cold.clone(), Some(key.public())).await.unwrap();
    let log = live.read_all(0, 1000).await.unwrap();
    let good = export(&tiered, asked(&company, "2025-12", "2026-01", &[]), &key, &cold.join("good.zip"), |_| {})
        .await
        .unwrap();
    let stranger = audit::CheckpointKey::from_seed([9; 32]);
    export(&tiered, asked(&company, "2025-12", "2026-01", &[]), &stranger, &cold.join("stranger.zip"), |_| {})
        .await
        .unwrap();
    let later = export(&tiered, asked(&company, "2026-03", "2026-04", &[]), &key, &cold.join("later.zip"), |_| {})
        .await
        .unwrap();

    let refused = [
        // Signed with another key.
        segment(&good, "stranger.zip"),
        // Not the file of that history.
        ColdSegment { file: "later.zip".into(), ..segment(&good, "good.zip") },
        // Not where the company's history begins.
        segment(&later, "later.zip"),
        // No such file.
        segment(&good, "missing.zip"),
    ];
    for segment in refused {
        assert!(tiered.purge(&segment).await.is_err(), "{segment:?}");
        assert_eq!(live.read_all(0, 1000).await.unwrap(), log, "nothing left the log");
    }

    // A file changed after its history left the log is found out when read.
    tiered.purge(&segment(&good, "good.zip")).await.unwrap();
    drop(tiered);
    rewrite(&cold.join("good.zip"), &cold.join("changed.zip"), |name, bytes| {
        // The first payload's `{"n"` becomes `{"o"`.
        let text = String::from_utf8(bytes).unwrap();
        Some(if name.starts_with("events/") { text.replacen("eyJu", "eyJv", 1).into() } else { text.into() })
    });
    std::fs::rename(cold.join("changed.zip"), cold.join("good.zip")).unwrap();
    let tiered = Tiered::open(live.clone(), cold.clone(), Some(key.public())).await.unwrap();
    assert!(matches!(tiered.read_all(0, 1000).await, Err(StoreError::Unavailable(e)) if e.contains("good.zip")));
    assert!(matches!(
        tiered.read_stream("thing-a", Direction::Forwards, None, 10).await,
        Err(StoreError::Unavailable(e)) if e.contains("good.zip")
    ));
    // A file gone: the log does not open as whole.
    std::fs::remove_file(cold.join("good.zip")).unwrap();
    assert!(Tiered::open(live, cold, Some(key.public())).await.is_err());
}

#[tokio::test]
async fn another_process_reading_the_same_log_finds_what_moved_out_after_it_opened() {
    let Setup { dir, store, company, key } = setup().await;
    let cold = dir.path().join("cold");
    std::fs::create_dir_all(&cold).unwrap();
    let live: Arc<dyn EventStore> = Arc::new(store);
    let mover = Tiered::open(live, cold.clone(), Some(key.public())).await.unwrap();
    let other_log: Arc<dyn EventStore> =
        Arc::new(SqliteEventStore::open(dir.path().join("events.db"), system_now()).unwrap());
    let other = Tiered::open(other_log, cold.clone(), Some(key.public())).await.unwrap();
    let log = other.read_all(0, 1000).await.unwrap();
    let stream = views(&other, "thing-a").await;

    // Two moves: the other process reads between them, so it knows the
    // first when the second happens.
    for (n, (from, to)) in [("2025-12", "2026-01"), ("2026-02", "2026-04")].into_iter().enumerate() {
        let file = format!("m-{n}.zip");
        let manifest = export(&mover, asked(&company, from, to, &[]), &key, &cold.join(&file), |_| {}).await.unwrap();
        mover.purge(&segment(&manifest, &file)).await.unwrap();
        assert_eq!(views(&other, "thing-a").await, stream, "a stream missing versions looks again");
        assert_eq!(paged(&other, 2).await, log, "a log missing positions looks again");
    }
    assert_eq!(subscribed(Arc::new(other), log.len()).await, log);
}
