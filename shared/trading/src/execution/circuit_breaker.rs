//! The circuit breaker in front of the exchange: stop sending after repeated failures, probe
//! once after a cool-down.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use levibot_core::TimestampMs;

/// Settings of [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    /// Consecutive failures that open the breaker (≥ 1).
    pub failure_threshold: u32,
    /// How long it stays open before letting one probe through, in ms (> 0).
    pub open_ms: i64,
}

impl Default for CircuitBreakerConfig {
    /// 5 failures, 30 s open.
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_ms: 30_000,
        }
    }
}

/// Why a [`CircuitBreakerConfig`] is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CircuitBreakerConfigError {
    /// `failure_threshold` was 0.
    #[error("breaker failure threshold must be at least 1")]
    ZeroThreshold,
    /// `open_ms` was not positive.
    #[error("breaker open time must be above 0 ms, got {0}")]
    OpenMs(i64),
}

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Requests flow; failures are counted.
    Closed,
    /// Requests are refused until the cool-down ends.
    Open,
    /// One probe is allowed; its result closes or re-opens the breaker.
    HalfOpen,
}

impl BreakerState {
    /// The stable snake_case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// A gauge value: 0 closed, 1 half-open, 2 open.
    #[must_use]
    pub const fn gauge(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Closed → Open after `failure_threshold` consecutive failures → after `open_ms`, HalfOpen
/// letting exactly one probe through → Closed when it succeeds, Open again when it fails.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: CircuitBreakerConfig,
    state: BreakerState,
    consecutive_failures: u32,
    opened_at: TimestampMs,
    probe_in_flight: bool,
}

impl CircuitBreaker {
    /// A closed breaker.
    ///
    /// # Errors
    ///
    /// [`CircuitBreakerConfigError`] for a zero threshold or non-positive open time.
    pub const fn new(config: CircuitBreakerConfig) -> Result<Self, CircuitBreakerConfigError> {
        if config.failure_threshold == 0 {
            return Err(CircuitBreakerConfigError::ZeroThreshold);
        }
        if config.open_ms <= 0 {
            return Err(CircuitBreakerConfigError::OpenMs(config.open_ms));
        }
        Ok(Self {
            config,
            state: BreakerState::Closed,
            consecutive_failures: 0,
            opened_at: TimestampMs::EPOCH,
            probe_in_flight: false,
        })
    }

    /// The state as last changed (an Open breaker whose cool-down ended still shows Open
    /// until a request asks; see [`CircuitBreaker::state_at`]).
    #[must_use]
    pub const fn state(&self) -> BreakerState {
        self.state
    }

    /// The state a request at `now` would see: Open past its cool-down shows HalfOpen.
    #[must_use]
    pub fn state_at(&self, now: TimestampMs) -> BreakerState {
        if self.state == BreakerState::Open && self.cooled_down(now) {
            BreakerState::HalfOpen
        } else {
            self.state
        }
    }

    /// Consecutive failures counted while closed.
    #[must_use]
    pub const fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    fn cooled_down(&self, now: TimestampMs) -> bool {
        now.as_i64().saturating_sub(self.opened_at.as_i64()) >= self.config.open_ms
    }

    /// Whether a request at `now` would be let through (nothing changes).
    #[must_use]
    pub fn permits(&self, now: TimestampMs) -> bool {
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => self.cooled_down(now),
            BreakerState::HalfOpen => !self.probe_in_flight,
        }
    }

    /// Records that a request is going out at `now`; a request out of a cooled-down Open or
    /// an idle HalfOpen breaker becomes the one probe. Returns whether it was permitted.
    pub fn on_send(&mut self, now: TimestampMs) -> bool {
        if !self.permits(now) {
            return false;
        }
        if self.state != BreakerState::Closed {
            self.state = BreakerState::HalfOpen;
            self.probe_in_flight = true;
        }
        true
    }

    /// A request succeeded (or was definitively answered): closes the breaker.
    pub fn record_success(&mut self) {
        self.state = BreakerState::Closed;
        self.consecutive_failures = 0;
        self.probe_in_flight = false;
    }

    /// A request failed at `now`: counts toward opening, or re-opens after a failed probe.
    pub fn record_failure(&mut self, now: TimestampMs) {
        match self.state {
            BreakerState::Closed => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                if self.consecutive_failures >= self.config.failure_threshold {
                    self.open(now);
                }
            }
            BreakerState::HalfOpen => self.open(now),
            // a late failure of a request sent before opening: the cool-down stands
            BreakerState::Open => {}
        }
    }

    fn open(&mut self, now: TimestampMs) {
        self.state = BreakerState::Open;
        self.opened_at = now;
        self.probe_in_flight = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> TimestampMs {
        TimestampMs::new(ms)
    }

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(CircuitBreakerConfig {
            failure_threshold: 3,
            open_ms: 1_000,
        })
        .unwrap()
    }

    #[test]
    fn full_cycle() {
        let mut b = breaker();
        assert_eq!(b.state(), BreakerState::Closed);
        // two failures, a success resets the count
        b.record_failure(t(0));
        b.record_failure(t(1));
        b.record_success();
        assert_eq!(b.consecutive_failures(), 0);
        // three consecutive failures open it
        for i in 0..3 {
            assert!(b.on_send(t(10 + i)));
            b.record_failure(t(10 + i));
        }
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.state().gauge(), 2);
        assert!(!b.permits(t(500)));
        assert!(!b.on_send(t(1_011)));
        // cool-down over: shows half-open, exactly one probe goes through
        assert_eq!(b.state_at(t(1_012)), BreakerState::HalfOpen);
        assert!(b.on_send(t(1_012)));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.permits(t(1_013)));
        assert!(!b.on_send(t(1_013)));
        // the probe fails: open again, a fresh cool-down from now
        b.record_failure(t(1_100));
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.permits(t(2_099)));
        assert!(b.on_send(t(2_100)));
        // the probe succeeds: closed
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.permits(t(2_101)));
        assert!(b.on_send(t(2_101)));
        assert!(b.on_send(t(2_101)));
    }

    #[test]
    fn late_failure_while_open_keeps_the_cool_down() {
        let mut b = breaker();
        for i in 0..3 {
            b.record_failure(t(i));
        }
        b.record_failure(t(900));
        assert!(b.permits(t(1_002)));
    }

    #[test]
    fn bad_configs() {
        assert!(
            CircuitBreaker::new(CircuitBreakerConfig {
                failure_threshold: 0,
                open_ms: 1
            })
            .is_err()
        );
        assert!(
            CircuitBreaker::new(CircuitBreakerConfig {
                failure_threshold: 1,
                open_ms: 0
            })
            .is_err()
        );
    }
}
