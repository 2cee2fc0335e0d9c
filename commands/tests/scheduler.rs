//! The scheduler fires timers when the manual clock reaches them: once, not
//! before, and also after a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use commands::{AggregateHandle, CommandContext, CommandError, Commands, ManualClock, Reactions, Scheduler};
use domain::reaction::FollowUp;
use domain::timer::{Timer, TimerCommand, TimerEvent};
use domain::{Actor, DomainError};
use store::EventStore;
use store::sqlite::SqliteEventStore;
use uuid::Uuid;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

/// What a `test.ring` timer causes: a note (a timer far in the future, in
/// a stream named after the firing's command id) carrying its payload.
fn ring(payload: &str, command_id: Uuid) -> Vec<FollowUp> {
    let note = Uuid::new_v5(&command_id, b"note");
    let due = at("2100-01-01T00:00:00Z");
    let command = TimerCommand::Schedule { timer_id: note, due, kind: "test.note".into(), payload: payload.into() };
    vec![FollowUp::command::<Timer>(note, command_id, command)]
}

/// What `timer`'s ring left: the payload, the tenant and the command id
/// of its note; `None` when it has not rung.
async fn rung(store: &Arc<dyn EventStore>, timer: Uuid) -> Option<(String, Option<Uuid>, Option<Uuid>)> {
    let command_id = Uuid::new_v5(&timer, b"handled");
    let note = Uuid::new_v5(&command_id, b"note");
    let stream = format!("timer-{}", note.simple());
    let events = store.read_stream(&stream, store::Direction::Forwards, None, 10).await.unwrap();
    let first = events.first()?;
    let TimerEvent::Scheduled { payload, .. } = first.decode::<TimerEvent>().unwrap() else { return None };
    Some((payload, first.metadata.tenant, first.metadata.command_id))
}

struct Setup {
    dir: tempfile::TempDir,
    clock: ManualClock,
}

impl Setup {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap(), clock: ManualClock::new(at("2026-11-26T23:00:00+09:00")) }
    }

    /// A fresh process: store, pipeline and a scheduler that knows
    /// `test.ring` timers, started from the log's start.
    async fn start(&self) -> (Arc<dyn EventStore>, Scheduler) {
        self.start_from((0, Vec::new())).await
    }

    /// A fresh process whose scheduler starts from `known` (a position
    /// and the timers waiting then), once it has followed the log to its
    /// head.
    async fn start_from(&self, known: (u64, Vec<commands::Waiting>)) -> (Arc<dyn EventStore>, Scheduler) {
        let clock = self.clock.clone();
        let store: Arc<dyn EventStore> = Arc::new(
            SqliteEventStore::open(self.dir.path().join("events.db"), Arc::new(move || commands::Clock::now(&clock)))
                .unwrap(),
        );
        let commands = Arc::new(
            Commands::new(
                store.clone(),
                None,
                Default::default(),
                Arc::new(self.clock.clone()),
                Duration::from_secs(10),
            )
            .await
            .unwrap(),
        );
        let reactions = Arc::new(Reactions::new([AggregateHandle::of::<Timer>()], vec![]));
        let timers = HashMap::from([("test.ring".to_owned(), ring as commands::TimerReaction)]);
        let scheduler = Scheduler::start(commands, timers, reactions, known);
        let head = *store.head().borrow();
        scheduler.followed().wait_for(|at| *at >= head).await.unwrap();
        (store, scheduler)
    }
}

fn ctx() -> CommandContext {
    CommandContext::new(Uuid::now_v7(), Actor::User(Uuid::from_u128(1)), Some(Uuid::from_u128(9)))
}

#[tokio::test]
async fn a_timer_fires_when_the_clock_reaches_it_not_before_and_once() {
    let setup = Setup::new();
    let (store, scheduler) = setup.start().await;
    let timer = Uuid::now_v7();
    scheduler.schedule(&ctx(), timer, at("2026-11-27T00:00:00+09:00"), "test.ring", "{\"n\":1}".into()).await.unwrap();
    setup.clock.set(at("2026-11-26T23:59:59+09:00"));
    assert_eq!(scheduler.fire_due().await, 0);
    assert_eq!(rung(&store, timer).await, None);

    setup.clock.advance(chrono::Duration::seconds(1));
    // Whether the scheduler fired it by itself or this does, it is done now.
    scheduler.fire_due().await;
    let command_id = Uuid::new_v5(&timer, b"handled");
    assert_eq!(rung(&store, timer).await, Some(("{\"n\":1}".into(), Some(Uuid::from_u128(9)), Some(command_id))));
    setup.clock.advance(chrono::Duration::days(1));
    assert_eq!(scheduler.fire_due().await, 0);
}

#[tokio::test]
async fn a_schedule_survives_a_restart_and_fires_once_across_restarts() {
    let setup = Setup::new();
    let timer = Uuid::now_v7();
    {
        let (_, scheduler) = setup.start().await;
        scheduler.schedule(&ctx(), timer, at("2026-11-27T09:00:00+09:00"), "test.ring", String::new()).await.unwrap();
    }
    let (store, scheduler) = setup.start().await;
    setup.clock.set(at("2026-11-27T09:00:00+09:00"));
    scheduler.fire_due().await;
    assert!(rung(&store, timer).await.is_some());
    // The firing is recorded: after a restart nothing fires.
    let stream = format!("timer-{}", timer.simple());
    assert_eq!(store.read_stream(&stream, store::Direction::Forwards, None, 10).await.unwrap().len(), 2);
    drop(scheduler);
    let (_, scheduler) = setup.start().await;
    setup.clock.advance(chrono::Duration::days(30));
    assert_eq!(scheduler.fire_due().await, 0);
}

#[tokio::test]
async fn rule_e2_a_timer_cancelled_before_its_time_never_fires_and_cannot_be_cancelled_after() {
    let setup = Setup::new();
    let (store, scheduler) = setup.start().await;
    let early = Uuid::now_v7();
    let late = Uuid::now_v7();
    scheduler.schedule(&ctx(), early, at("2026-11-27T00:00:00+09:00"), "test.ring", String::new()).await.unwrap();
    scheduler.schedule(&ctx(), late, at("2026-11-27T00:00:00+09:00"), "test.ring", String::new()).await.unwrap();
    setup.clock.set(at("2026-11-26T23:59:59+09:00"));
    scheduler.cancel(&ctx(), early).await.unwrap();
    setup.clock.set(at("2026-11-27T00:00:00+09:00"));
    let refused = scheduler.cancel(&ctx(), late).await;
    assert!(matches!(refused, Err(CommandError::Rejected(DomainError::Conflict(_)))));
    scheduler.fire_due().await;
    assert!(rung(&store, late).await.is_some());
    assert_eq!(rung(&store, early).await, None);
    setup.clock.advance(chrono::Duration::days(1));
    assert_eq!(scheduler.fire_due().await, 0);
}

#[tokio::test]
async fn a_scheduler_started_from_the_waiting_timers_of_a_position_needs_no_event_before_it() {
    let setup = Setup::new();
    let (timer, due) = (Uuid::now_v7(), at("2026-11-27T09:00:00+09:00"));
    let head = {
        let (store, scheduler) = setup.start().await;
        scheduler.schedule(&ctx(), timer, due, "test.ring", "{}".into()).await.unwrap();
        *store.head().borrow()
    };
    setup.clock.set(due);
    // Told nothing waits at the head, it reads nothing before it.
    let (store, scheduler) = setup.start_from((head, Vec::new())).await;
    assert_eq!(scheduler.fire_due().await, 0);
    assert_eq!(rung(&store, timer).await, None);
    drop(scheduler);
    // Told what waits, it fires it.
    let waiting = commands::Waiting {
        timer_id: timer,
        due,
        kind: "test.ring".into(),
        payload: "{}".into(),
        tenant: Some(Uuid::from_u128(9)),
    };
    let (store, scheduler) = setup.start_from((head, vec![waiting])).await;
    scheduler.fire_due().await;
    assert!(rung(&store, timer).await.is_some());
}
