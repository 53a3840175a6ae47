use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

use crate::timestamp::TimestampMs;

/// A source of the current time.
///
/// Services take an `Arc<dyn Clock>` so that live trading uses the wall
/// clock and backtests/replays use a [`HistoricalClock`].
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> TimestampMs;
}

/// The system wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveClock;

impl LiveClock {
    /// Creates a wall clock.
    #[must_use]
    pub const fn new() -> Self {
        Self
    }
}

impl Clock for LiveClock {
    fn now(&self) -> TimestampMs {
        let ms = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
        };
        TimestampMs::new(ms)
    }
}

/// Error returned when a [`HistoricalClock`] would move backwards or overflow.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClockError {
    /// [`HistoricalClock::set`] was given a time before the current one.
    #[error("clock cannot move backwards from {current} to {requested}")]
    Backwards {
        /// The clock's time when the call was made.
        current: TimestampMs,
        /// The rejected time.
        requested: TimestampMs,
    },
    /// [`HistoricalClock::advance_ms`] was given a negative step.
    #[error("clock cannot advance by a negative step, got {0} ms")]
    NegativeStep(i64),
    /// [`HistoricalClock::advance_ms`] would overflow the timestamp.
    #[error("clock overflow advancing {current} by {step} ms")]
    Overflow {
        /// The clock's time when the call was made.
        current: TimestampMs,
        /// The rejected step.
        step: i64,
    },
}

/// A manually driven clock for backtests and replays.
///
/// It never moves backwards: [`set`](Self::set) and
/// [`advance_ms`](Self::advance_ms) refuse changes that would. Safe to share
/// across threads.
#[derive(Debug)]
pub struct HistoricalClock {
    now_ms: AtomicI64,
}

impl HistoricalClock {
    /// Creates a clock showing `start`.
    #[must_use]
    pub const fn new(start: TimestampMs) -> Self {
        Self {
            now_ms: AtomicI64::new(start.as_i64()),
        }
    }

    /// Moves the clock to `t`. Setting the current time again is allowed.
    ///
    /// # Errors
    ///
    /// Returns [`ClockError::Backwards`] if `t` is before the current time;
    /// the clock is left unchanged.
    pub fn set(&self, t: TimestampMs) -> Result<(), ClockError> {
        self.now_ms
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (t.as_i64() >= cur).then_some(t.as_i64())
            })
            .map(|_| ())
            .map_err(|cur| ClockError::Backwards {
                current: TimestampMs::new(cur),
                requested: t,
            })
    }

    /// Moves the clock forward by `step_ms` milliseconds and returns the new
    /// time.
    ///
    /// # Errors
    ///
    /// Returns [`ClockError::NegativeStep`] if `step_ms < 0` and
    /// [`ClockError::Overflow`] if the result would not fit; the clock is left
    /// unchanged.
    pub fn advance_ms(&self, step_ms: i64) -> Result<TimestampMs, ClockError> {
        if step_ms < 0 {
            return Err(ClockError::NegativeStep(step_ms));
        }
        self.now_ms
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                cur.checked_add(step_ms)
            })
            .map(|prev| TimestampMs::new(prev.saturating_add(step_ms)))
            .map_err(|cur| ClockError::Overflow {
                current: TimestampMs::new(cur),
                step: step_ms,
            })
    }
}

impl Clock for HistoricalClock {
    fn now(&self) -> TimestampMs {
        TimestampMs::new(self.now_ms.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;
    use std::sync::Arc;

    #[test]
    fn live_clock_is_recent_and_monotone_enough() {
        let clock: Arc<dyn Clock> = Arc::new(LiveClock::new());
        let a = clock.now();
        let b = clock.now();
        // 2023-11-14 and 2100-01-01
        assert!(a.as_i64() > 1_700_000_000_000, "{a}");
        assert!(a.as_i64() < 4_102_444_800_000, "{a}");
        assert!(b.as_i64() - a.as_i64() < 60_000);
    }

    #[test]
    fn historical_clock_set_and_advance() {
        let clock = HistoricalClock::new(TimestampMs::new(1_000));
        assert_eq!(clock.now().as_i64(), 1_000);
        clock.set(TimestampMs::new(1_000)).unwrap();
        clock.set(TimestampMs::new(5_000)).unwrap();
        assert_eq!(clock.now().as_i64(), 5_000);
        assert_eq!(clock.advance_ms(250).unwrap().as_i64(), 5_250);
        assert_eq!(clock.advance_ms(0).unwrap().as_i64(), 5_250);
        assert_eq!(clock.now().as_i64(), 5_250);
    }

    #[test]
    fn historical_clock_refuses_to_go_back() {
        let clock = HistoricalClock::new(TimestampMs::new(5_000));
        let err = clock.set(TimestampMs::new(4_999)).unwrap_err();
        assert_eq!(
            err,
            ClockError::Backwards {
                current: TimestampMs::new(5_000),
                requested: TimestampMs::new(4_999)
            }
        );
        assert_eq!(
            err.to_string(),
            "clock cannot move backwards from 5000 to 4999"
        );
        assert_eq!(clock.now().as_i64(), 5_000);
    }

    #[rstest]
    #[case(0, -1, ClockError::NegativeStep(-1))]
    #[case(i64::MAX - 1, 2, ClockError::Overflow { current: TimestampMs::new(i64::MAX - 1), step: 2 })]
    fn advance_errors(#[case] start: i64, #[case] step: i64, #[case] expected: ClockError) {
        let clock = HistoricalClock::new(TimestampMs::new(start));
        assert_eq!(clock.advance_ms(step).unwrap_err(), expected);
        assert_eq!(clock.now().as_i64(), start);
    }

    #[test]
    fn works_as_shared_trait_object_across_threads() {
        let hist = Arc::new(HistoricalClock::new(TimestampMs::EPOCH));
        let clock: Arc<dyn Clock> = hist.clone();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let hist = Arc::clone(&hist);
                std::thread::spawn(move || {
                    for _ in 0..1_000 {
                        hist.advance_ms(1).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(clock.now().as_i64(), 4_000);
    }

    proptest! {
        #[test]
        fn never_moves_backwards(
            start in -1_000_000i64..1_000_000,
            ops in proptest::collection::vec((any::<bool>(), -2_000_000i64..2_000_000), 1..50),
        ) {
            let clock = HistoricalClock::new(TimestampMs::new(start));
            for (is_set, v) in ops {
                let before = clock.now();
                let res = if is_set {
                    clock.set(TimestampMs::new(v)).map(|()| TimestampMs::new(v))
                } else {
                    clock.advance_ms(v)
                };
                let after = clock.now();
                prop_assert!(after >= before);
                match res {
                    Ok(t) => prop_assert_eq!(t, after),
                    Err(_) => prop_assert_eq!(after, before),
                }
                if is_set {
                    prop_assert_eq!(res.is_ok(), v >= before.as_i64());
                } else {
                    prop_assert_eq!(res.is_ok(), v >= 0);
                }
            }
        }
    }
}
