//! The scheduler fires timers when the manual clock reaches them: once, not
//! before, and also after a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use commands::{CommandContext, CommandError, Commands, FiredTimer, ManualClock, Scheduler, TimerHandler};
use domain::{Actor, DomainError};
use store::EventStore;
use store::sqlite::SqliteEventStore;
use tokio::sync::mpsc;
use uuid::Uuid;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

struct Setup {
    dir: tempfile::TempDir,
    clock: ManualClock,
}

impl Setup {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap(), clock: ManualClock::new(at("2026-11-26T23:00:00+09:00")) }
    }

    /// A fresh process: store, pipeline and scheduler, with a handler that
    /// reports each timer it gets.
    async fn start(&self) -> (Arc<dyn EventStore>, Scheduler, mpsc::UnboundedReceiver<FiredTimer>) {
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
        let (sender, receiver) = mpsc::unbounded_channel();
        let handler: TimerHandler = Arc::new(move |timer| {
            let sender = sender.clone();
            Box::pin(async move {
                sender.send(timer).unwrap();
                Ok(())
            })
        });
        let scheduler = Scheduler::start(commands, HashMap::from([("test.ring".to_owned(), handler)])).await.unwrap();
        (store, scheduler, receiver)
    }
}

fn ctx() -> CommandContext {
    CommandContext::new(Uuid::now_v7(), Actor::User(Uuid::from_u128(1)), Some(Uuid::from_u128(9)))
}

async fn next(receiver: &mut mpsc::UnboundedReceiver<FiredTimer>) -> FiredTimer {
    tokio::time::timeout(Duration::from_secs(30), receiver.recv()).await.expect("the timer never fired").unwrap()
}

#[tokio::test]
async fn a_timer_fires_when_the_clock_reaches_it_not_before_and_once() {
    let setup = Setup::new();
    let (_, scheduler, mut fired) = setup.start().await;
    let timer = Uuid::now_v7();
    scheduler.schedule(&ctx(), timer, at("2026-11-27T00:00:00+09:00"), "test.ring", "{\"n\":1}".into()).await.unwrap();
    setup.clock.set(at("2026-11-26T23:59:59+09:00"));
    assert_eq!(scheduler.fire_due().await, 0);
    assert!(fired.try_recv().is_err());

    setup.clock.advance(chrono::Duration::seconds(1));
    let got = next(&mut fired).await;
    assert_eq!(got.timer_id, timer);
    assert_eq!(got.payload, "{\"n\":1}");
    assert_eq!(got.tenant, Some(Uuid::from_u128(9)));
    assert_eq!(got.command_id, Uuid::new_v5(&timer, b"handled"));
    setup.clock.advance(chrono::Duration::days(1));
    assert_eq!(scheduler.fire_due().await, 0);
    assert!(fired.try_recv().is_err());
}

#[tokio::test]
async fn a_schedule_survives_a_restart_and_fires_once_across_restarts() {
    let setup = Setup::new();
    let timer = Uuid::now_v7();
    {
        let (_, scheduler, _) = setup.start().await;
        scheduler.schedule(&ctx(), timer, at("2026-11-27T09:00:00+09:00"), "test.ring", String::new()).await.unwrap();
    }
    let (store, scheduler, mut fired) = setup.start().await;
    setup.clock.set(at("2026-11-27T09:00:00+09:00"));
    assert_eq!(next(&mut fired).await.timer_id, timer);
    // Wait until the firing is recorded, then restart again: nothing fires.
    let stream = format!("timer-{}", timer.simple());
    for _ in 0..3000 {
        if store.read_stream(&stream, store::Direction::Forwards, None, 10).await.unwrap().len() == 2 {
            break;
        }
        tokio::task::yield_now().await;
    }
    drop(scheduler);
    let (_, scheduler, mut fired) = setup.start().await;
    setup.clock.advance(chrono::Duration::days(30));
    assert_eq!(scheduler.fire_due().await, 0);
    assert!(fired.try_recv().is_err());
}

#[tokio::test]
async fn rule_e2_a_timer_cancelled_before_its_time_never_fires_and_cannot_be_cancelled_after() {
    let setup = Setup::new();
    let (_, scheduler, mut fired) = setup.start().await;
    let early = Uuid::now_v7();
    let late = Uuid::now_v7();
    scheduler.schedule(&ctx(), early, at("2026-11-27T00:00:00+09:00"), "test.ring", String::new()).await.unwrap();
    scheduler.schedule(&ctx(), late, at("2026-11-27T00:00:00+09:00"), "test.ring", String::new()).await.unwrap();
    setup.clock.set(at("2026-11-26T23:59:59+09:00"));
    scheduler.cancel(&ctx(), early).await.unwrap();
    setup.clock.set(at("2026-11-27T00:00:00+09:00"));
    let refused = scheduler.cancel(&ctx(), late).await;
    assert!(matches!(refused, Err(CommandError::Rejected(DomainError::Conflict(_)))));
    assert_eq!(next(&mut fired).await.timer_id, late);
    setup.clock.advance(chrono::Duration::days(1));
    assert_eq!(scheduler.fire_due().await, 0);
    assert!(fired.try_recv().is_err());
}
