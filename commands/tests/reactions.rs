//! Carrying follow-ups out: commands run once, and a state that already
//! shows what a follow-up wanted tells how far the log must be read to see it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use commands::{AggregateHandle, Commands, ManualClock, Origin, Reactions};
use domain::reaction::FollowUp;
use domain::timer::{Timer, TimerCommand};
use store::EventStore;
use store::sqlite::SqliteEventStore;
use uuid::Uuid;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

const TIMER: Uuid = Uuid::from_u128(5);

/// Schedules the timer unless it already is.
fn schedule_once() -> FollowUp {
    FollowUp::after_reading::<Timer>(TIMER, |timer| {
        if timer.id.is_some() {
            return Vec::new();
        }
        let due = at("2100-01-01T00:00:00Z");
        let command = TimerCommand::Schedule { timer_id: TIMER, due, kind: "test.note".into(), payload: String::new() };
        vec![FollowUp::command::<Timer>(TIMER, Uuid::from_u128(6), command)]
    })
}

/// A store in `dir` and two processes' pipelines on it.
async fn two_processes(dir: &tempfile::TempDir) -> (Arc<dyn EventStore>, Arc<Commands>, Arc<Commands>) {
    let clock = ManualClock::new(at("2026-11-28T09:00:00+09:00"));
    let now = clock.clone();
    let store: Arc<dyn EventStore> = Arc::new(
        SqliteEventStore::open(dir.path().join("events.db"), Arc::new(move || commands::Clock::now(&now))).unwrap(),
    );
    let new_commands = || async {
        Arc::new(
            Commands::new(store.clone(), None, Default::default(), Arc::new(clock.clone()), Duration::from_secs(10))
                .await
                .unwrap(),
        )
    };
    let (this, other) = (new_commands().await, new_commands().await);
    (store, this, other)
}

#[tokio::test]
async fn a_follow_up_already_done_gives_the_position_of_the_state_that_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, commands, _) = two_processes(&dir).await;
    let reactions = Reactions::new([AggregateHandle::of::<Timer>()], vec![]);
    let origin = Origin { tenant: Some(Uuid::from_u128(9)), ..Origin::default() };

    let first = reactions.carry_out(&commands, &origin, &schedule_once()).await.unwrap();
    assert_eq!(first.ran, vec![Uuid::from_u128(6)]);
    assert!(first.needless.is_empty(), "the state it read asked for a command");

    let head = *store.head().borrow();
    assert!(head > 0);
    let again = reactions.carry_out(&commands, &origin, &schedule_once()).await.unwrap();
    assert!(again.ran.is_empty());
    assert_eq!(again.needless, vec![("timer", TIMER)], "a reader waits for the state that made the follow-up needless");
    assert_eq!(reactions.newest_position(&commands, "timer", TIMER).await.unwrap(), head);
}

#[tokio::test]
async fn a_kept_state_that_finds_nothing_to_do_is_asked_again_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (_, this, other) = two_processes(&dir).await;
    let reactions = Reactions::new([AggregateHandle::of::<Timer>()], vec![]);
    let origin = Origin { tenant: Some(Uuid::from_u128(9)), ..Origin::default() };

    // This process keeps the timer as scheduled; another one cancels it.
    reactions.carry_out(&this, &origin, &schedule_once()).await.unwrap();
    let cancel = commands::CommandContext::new(Uuid::from_u128(7), domain::Actor::System, origin.tenant);
    other.execute::<Timer>(TIMER, &cancel, TimerCommand::Cancel).await.unwrap();

    // What this process keeps says there is nothing to do; the store says
    // the timer is cancelled, and a cancelled timer is not scheduled again
    // by this follow-up (its `id` stays), so nothing runs either way, but
    // the stored state was read: the kept one now knows the cancellation.
    let again = reactions.carry_out(&this, &origin, &schedule_once()).await.unwrap();
    assert!(again.ran.is_empty());
    assert_eq!(
        this.load_latest::<Timer>(TIMER).await.unwrap().status,
        other.load_latest::<Timer>(TIMER).await.unwrap().status
    );
}

#[tokio::test]
async fn a_kept_state_holding_the_causing_event_is_trusted_and_an_older_one_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let (store, this, other) = two_processes(&dir).await;
    let reactions = Reactions::new([AggregateHandle::of::<Timer>()], vec![]);
    let tenant = Origin { tenant: Some(Uuid::from_u128(9)), ..Origin::default() };
    reactions.carry_out(&this, &tenant, &schedule_once()).await.unwrap();
    let cancel = commands::CommandContext::new(Uuid::from_u128(7), domain::Actor::System, tenant.tenant);
    other.execute::<Timer>(TIMER, &cancel, TimerCommand::Cancel).await.unwrap();
    let stream = commands::stream_name::<Timer>(TIMER);
    let events = store.read_stream(&stream, store::Direction::Forwards, None, 10).await.unwrap();
    let kept_status = || async { this.load_latest::<Timer>(TIMER).await.unwrap().status };

    // Following the scheduling, which this process keeps: nothing to do,
    // and nothing to wait for beyond that event.
    let scheduled = reactions.carry_out(&this, &Origin::of(&events[0]), &schedule_once()).await.unwrap();
    assert!(scheduled.ran.is_empty() && scheduled.needless.is_empty());
    assert_eq!(kept_status().await, domain::timer::TimerStatus::Pending, "the kept state was trusted");

    // Following the cancellation, which it does not keep: read again.
    let cancelled = reactions.carry_out(&this, &Origin::of(&events[1]), &schedule_once()).await.unwrap();
    assert!(cancelled.ran.is_empty());
    assert!(cancelled.needless.is_empty(), "the stored state is the one the cancellation left");
    assert_eq!(kept_status().await, domain::timer::TimerStatus::Cancelled);
}
