//! The clock every time-dependent rule reads: the engine's decisions, claims, timers, schedules
//! and definition timestamps. Production reads the system clock; tests use a manual clock
//! that only moves when they move it, so a timeout or an absence is proved by advancing time
//! and deciding, not by sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Epoch milliseconds from the system clock or from a manual one. Cheap to clone; clones of a
/// manual clock share its time.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// `SystemTime::now()`.
    #[default]
    System,
    /// A time that moves only through [`Clock::advance`] and [`Clock::set`].
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock reading `start_ms`.
    pub fn manual(start_ms: i64) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(start_ms)))
    }

    /// A manual clock that starts at the system's current time.
    pub fn manual_from_now() -> Clock {
        Clock::manual(system_now_ms())
    }

    /// The current time in epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => system_now_ms(),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Whether the clock only moves when told to.
    pub fn is_manual(&self) -> bool {
        matches!(self, Clock::Manual(_))
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(t) = self {
            let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
            // fetch_update never fails with a closure that always returns Some.
            let _ = t.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                Some(v.saturating_add(ms))
            });
        }
    }

    /// Sets a manual clock (no effect on the system clock).
    pub fn set(&self, ms: i64) {
        if let Clock::Manual(t) = self {
            t.store(ms, Ordering::SeqCst);
        }
    }
}

fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let c = Clock::manual(1_000);
        let c2 = c.clone();
        assert_eq!(c.now_ms(), 1_000);
        c.advance(Duration::from_millis(250));
        assert_eq!(c2.now_ms(), 1_250);
        c2.set(5);
        assert_eq!(c.now_ms(), 5);
        c.advance(Duration::MAX);
        assert_eq!(c.now_ms(), i64::MAX);
    }

    #[test]
    fn the_system_clock_is_near_system_time() {
        let before = system_now_ms();
        let now = Clock::System.now_ms();
        assert!(now >= before && now - before < 60_000);
    }
}
