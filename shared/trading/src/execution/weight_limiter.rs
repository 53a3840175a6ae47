//! The Binance REQUEST_WEIGHT limiter, synced with the exchange's `X-MBX-USED-WEIGHT-1M`.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use levibot_core::TimestampMs;

/// Settings of [`WeightLimiter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightLimiterConfig {
    /// Weight allowed per window (Binance REQUEST_WEIGHT: 6,000 per minute since 2023-08-25;
    /// read it from `exchangeInfo.rateLimits` at start-up, it changes).
    pub limit: u32,
    /// The window in ms (60,000 for the `1M` limit).
    pub window_ms: i64,
}

impl Default for WeightLimiterConfig {
    /// 6,000 per minute.
    fn default() -> Self {
        Self {
            limit: 6_000,
            window_ms: 60_000,
        }
    }
}

/// Why a [`WeightLimiterConfig`] is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WeightLimiterConfigError {
    /// `limit` was 0.
    #[error("weight limit must be at least 1")]
    ZeroLimit,
    /// `window_ms` was not positive.
    #[error("weight window must be above 0 ms, got {0}")]
    Window(i64),
}

/// Counts request weight in fixed windows aligned to the epoch (whole minutes by default),
/// the way Binance counts `X-MBX-USED-WEIGHT-1M`, rather than a continuously refilling
/// bucket: the exchange's header then maps one-to-one onto our count.
///
/// Our count is raised to the exchange's whenever a response reports more (other processes
/// share the IP's limit; the exchange is authoritative). A 429/418 pauses everything until
/// its `Retry-After` has passed.
#[derive(Debug, Clone)]
pub struct WeightLimiter {
    config: WeightLimiterConfig,
    window_start: i64,
    used: u32,
    paused_until: Option<TimestampMs>,
}

impl WeightLimiter {
    /// An empty limiter.
    ///
    /// # Errors
    ///
    /// [`WeightLimiterConfigError`] for a zero limit or a non-positive window.
    pub const fn new(config: WeightLimiterConfig) -> Result<Self, WeightLimiterConfigError> {
        if config.limit == 0 {
            return Err(WeightLimiterConfigError::ZeroLimit);
        }
        if config.window_ms <= 0 {
            return Err(WeightLimiterConfigError::Window(config.window_ms));
        }
        Ok(Self {
            config,
            window_start: i64::MIN,
            used: 0,
            paused_until: None,
        })
    }

    /// The settings.
    #[must_use]
    pub const fn config(&self) -> WeightLimiterConfig {
        self.config
    }

    /// Starts a new window if `now` is past the current one.
    fn roll(&mut self, now: TimestampMs) {
        let start = now.as_i64() - now.as_i64().rem_euclid(self.config.window_ms);
        if start > self.window_start {
            self.window_start = start;
            self.used = 0;
        }
    }

    /// Takes `weight` at `now`, or says how many ms to wait: until a pause ends, or until the
    /// next window when this one cannot hold `weight` more.
    ///
    /// # Errors
    ///
    /// The wait in ms (at least 1) when the weight is not available now; nothing is taken.
    pub fn try_acquire(&mut self, weight: u32, now: TimestampMs) -> Result<(), u64> {
        if let Some(until) = self.paused_until {
            if until > now {
                return Err(ms_between(now, until));
            }
            self.paused_until = None;
        }
        self.roll(now);
        match self.used.checked_add(weight) {
            Some(total) if total <= self.config.limit => {
                self.used = total;
                Ok(())
            }
            _ => {
                let next =
                    TimestampMs::new(self.window_start.saturating_add(self.config.window_ms));
                Err(ms_between(now, next))
            }
        }
    }

    /// Syncs with the `X-MBX-USED-WEIGHT-1M` value of a response received at `now`: the
    /// exchange's count wins when it is higher.
    pub fn observe_used_weight(&mut self, used: u32, now: TimestampMs) {
        self.roll(now);
        self.used = self.used.max(used);
    }

    /// Refuses everything until `until` (`now + Retry-After` of a 429 or 418); a later pause
    /// already in force is kept.
    pub fn pause_until(&mut self, until: TimestampMs) {
        self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
    }

    /// The pause in force at `now`, if any.
    #[must_use]
    pub fn paused_until(&self, now: TimestampMs) -> Option<TimestampMs> {
        self.paused_until.filter(|u| *u > now)
    }

    /// Weight used in the window containing `now`.
    #[must_use]
    pub fn used(&self, now: TimestampMs) -> u32 {
        let start = now.as_i64() - now.as_i64().rem_euclid(self.config.window_ms);
        if start > self.window_start {
            0
        } else {
            self.used
        }
    }

    /// Weight still available in the window containing `now` (0 while paused).
    #[must_use]
    pub fn remaining(&self, now: TimestampMs) -> u32 {
        if self.paused_until(now).is_some() {
            return 0;
        }
        self.config.limit.saturating_sub(self.used(now))
    }
}

/// `to − from` in ms, at least 1.
fn ms_between(from: TimestampMs, to: TimestampMs) -> u64 {
    u64::try_from(to.as_i64().saturating_sub(from.as_i64()))
        .unwrap_or(0)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> TimestampMs {
        TimestampMs::new(ms)
    }

    fn limiter(limit: u32) -> WeightLimiter {
        WeightLimiter::new(WeightLimiterConfig {
            limit,
            window_ms: 60_000,
        })
        .unwrap()
    }

    #[test]
    fn default_is_binance_request_weight() {
        let c = WeightLimiterConfig::default();
        assert_eq!((c.limit, c.window_ms), (6_000, 60_000));
    }

    #[test]
    fn fills_then_waits_for_the_next_window() {
        let mut l = limiter(10);
        assert_eq!(l.try_acquire(4, t(60_000)), Ok(()));
        assert_eq!(l.try_acquire(6, t(60_500)), Ok(()));
        assert_eq!(l.remaining(t(61_000)), 0);
        // full: wait until 120,000
        assert_eq!(l.try_acquire(1, t(90_000)), Err(30_000));
        assert_eq!(l.used(t(90_000)), 10);
        // the next window starts empty
        assert_eq!(l.used(t(120_000)), 0);
        assert_eq!(l.try_acquire(10, t(120_000)), Ok(()));
        // too heavy for what is left: nothing taken
        assert_eq!(l.try_acquire(1, t(179_999)), Err(1));
    }

    #[test]
    fn header_sync_raises_but_never_lowers() {
        let mut l = limiter(6_000);
        l.try_acquire(100, t(0)).unwrap();
        // another process on the same IP used more: the exchange's count wins
        l.observe_used_weight(5_990, t(1_000));
        assert_eq!(l.used(t(1_000)), 5_990);
        assert_eq!(l.try_acquire(20, t(2_000)), Err(58_000));
        assert_eq!(l.try_acquire(10, t(2_000)), Ok(()));
        // a stale, lower header does not lower our count
        l.observe_used_weight(3, t(3_000));
        assert_eq!(l.used(t(3_000)), 6_000);
        // a header in the next window starts it at the exchange's count
        l.observe_used_weight(42, t(61_000));
        assert_eq!(l.used(t(61_000)), 42);
        assert_eq!(l.remaining(t(61_000)), 5_958);
    }

    #[test]
    fn pause_for_retry_after() {
        let mut l = limiter(6_000);
        // 429 at t = 10 s with Retry-After: 30 s
        l.pause_until(t(40_000));
        // an earlier pause does not shorten it
        l.pause_until(t(20_000));
        assert_eq!(l.try_acquire(1, t(10_000)), Err(30_000));
        assert_eq!(l.remaining(t(39_999)), 0);
        assert_eq!(l.paused_until(t(39_999)), Some(t(40_000)));
        assert_eq!(l.try_acquire(1, t(40_000)), Ok(()));
        assert_eq!(l.paused_until(t(40_000)), None);
    }

    #[test]
    fn bad_configs() {
        assert_eq!(
            WeightLimiter::new(WeightLimiterConfig {
                limit: 0,
                window_ms: 1
            })
            .unwrap_err(),
            WeightLimiterConfigError::ZeroLimit
        );
        assert!(
            WeightLimiter::new(WeightLimiterConfig {
                limit: 1,
                window_ms: 0
            })
            .is_err()
        );
    }
}
