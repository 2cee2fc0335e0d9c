//! The clock port: the system clock in production, a settable one in tests
//! and demos. Nothing in the system reads the time any other way.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// For clocks that jump (the manual one): a watch that changes whenever
    /// the time is set, so that whoever waits for a time wakes up. The wall
    /// clock has none: waiting for it is sleeping.
    fn jumps(&self) -> Option<watch::Receiver<DateTime<Utc>>> {
        None
    }
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self { now: Arc::new(watch::Sender::new(start)) }
    }

    /// Sets the time. Moving it backwards is allowed: tests of a rule may
    /// need to start over.
    pub fn set(&self, to: DateTime<Utc>) {
        self.now.send_replace(to);
    }

    /// Moves the time forward by `by`; returns false, leaving the time as it
    /// was, when that would pass the last representable time.
    pub fn advance(&self, by: chrono::Duration) -> bool {
        self.now.send_if_modified(|now| match now.checked_add_signed(by) {
            Some(later) => {
                *now = later;
                true
            }
            None => false,
        })
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn jumps(&self) -> Option<watch::Receiver<DateTime<Utc>>> {
        Some(self.now.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = DateTime::parse_from_rfc3339("2026-11-26T23:59:59+09:00").unwrap().with_timezone(&Utc);
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        assert!(clock.advance(chrono::Duration::hours(24)));
        assert_eq!(clock.now(), start + chrono::Duration::hours(24));
        let mut jumps = clock.jumps().unwrap();
        assert!(!clock.advance(chrono::Duration::MAX));
        assert_eq!(clock.now(), start + chrono::Duration::hours(24));
        assert!(!jumps.has_changed().unwrap());
        clock.set(start);
        assert!(jumps.has_changed().unwrap());
        assert_eq!(*jumps.borrow_and_update(), start);
        assert_eq!(clock.now(), start);
        assert!(SystemClock.jumps().is_none());
    }
}
