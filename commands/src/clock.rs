//! The clock port: the system clock in production, a settable one in tests
//! and demos. Nothing in the system reads the time any other way.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
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
    now: Arc<RwLock<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self { now: Arc::new(RwLock::new(start)) }
    }

    /// Sets the time. Moving it backwards is allowed: tests of a rule may
    /// need to start over.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.write().unwrap_or_else(std::sync::PoisonError::into_inner) = to;
    }

    /// Moves the time forward by `by`; returns false, leaving the time as it
    /// was, when that would pass the last representable time.
    pub fn advance(&self, by: chrono::Duration) -> bool {
        let mut now = self.now.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match now.checked_add_signed(by) {
            Some(later) => {
                *now = later;
                true
            }
            None => false,
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.read().unwrap_or_else(std::sync::PoisonError::into_inner)
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
        assert!(!clock.advance(chrono::Duration::MAX));
        assert_eq!(clock.now(), start + chrono::Duration::hours(24));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }
}
