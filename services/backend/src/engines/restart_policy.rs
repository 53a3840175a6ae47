//! When a crashed engine is restarted: exponential backoff and an hourly cap.

use std::collections::VecDeque;
use std::time::Duration;

/// How crashed engines are restarted.
///
/// The seed values are 60 s → 120 s → 240 s with at most 5 restarts an hour; tests use
/// milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Wait before the first restart after a crash.
    pub initial_backoff: Duration,
    /// Longest wait; each further crash doubles the wait up to this.
    pub max_backoff: Duration,
    /// Restarts allowed in any rolling [`RestartPolicy::window`]; one more crash leaves the
    /// engine crashed until someone starts it again.
    pub max_restarts: u32,
    /// The rolling window of [`RestartPolicy::max_restarts`] (one hour in production).
    pub window: Duration,
    /// A running engine whose heartbeat is older than this is treated as hung and restarted.
    pub heartbeat_timeout: Duration,
    /// Errors within one minute that mark an engine unhealthy.
    pub error_spike: u32,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_secs(60),
            max_backoff: Duration::from_secs(240),
            max_restarts: 5,
            window: Duration::from_secs(3600),
            heartbeat_timeout: Duration::from_secs(30),
            error_spike: 20,
        }
    }
}

/// The restart history of one engine.
#[derive(Debug, Default)]
pub(crate) struct RestartHistory {
    /// When each restart in the window happened (monotonic, oldest first).
    restarts: VecDeque<Duration>,
    /// Crashes since the engine last ran long enough to count as recovered.
    consecutive: u32,
}

impl RestartHistory {
    /// The wait before restarting after a crash at `now`, or `None` when the cap is reached.
    ///
    /// `now` is time since an arbitrary fixed origin (the manager's start).
    pub(crate) fn next_backoff(
        &mut self,
        policy: &RestartPolicy,
        now: Duration,
    ) -> Option<Duration> {
        while self
            .restarts
            .front()
            .is_some_and(|&at| now.saturating_sub(at) >= policy.window)
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= policy.max_restarts as usize {
            return None;
        }
        let doublings = self.consecutive.min(20);
        let backoff = policy
            .initial_backoff
            .saturating_mul(1_u32 << doublings)
            .min(policy.max_backoff);
        self.consecutive = self.consecutive.saturating_add(1);
        Some(backoff)
    }

    /// Records a restart at `now`.
    pub(crate) fn record_restart(&mut self, now: Duration) {
        self.restarts.push_back(now);
    }

    /// The engine ran long enough (a full max backoff) after its last restart: the next crash
    /// starts again from the initial backoff.
    pub(crate) fn recovered(&mut self) {
        self.consecutive = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy {
            initial_backoff: Duration::from_secs(60),
            max_backoff: Duration::from_secs(240),
            max_restarts: 5,
            window: Duration::from_secs(3600),
            ..RestartPolicy::default()
        }
    }

    #[test]
    fn backoff_doubles_to_the_cap_then_stops_after_five_restarts_an_hour() {
        let policy = policy();
        let mut history = RestartHistory::default();
        let mut now = Duration::ZERO;
        let mut waits = Vec::new();
        while let Some(wait) = history.next_backoff(&policy, now) {
            waits.push(wait.as_secs());
            now += wait;
            history.record_restart(now);
        }
        assert_eq!(waits, vec![60, 120, 240, 240, 240]);
    }

    #[test]
    fn restarts_older_than_the_window_no_longer_count() {
        let policy = policy();
        let mut history = RestartHistory::default();
        for minute in 0..5 {
            let now = Duration::from_secs(minute * 60);
            assert!(history.next_backoff(&policy, now).is_some());
            history.record_restart(now);
        }
        assert_eq!(
            history.next_backoff(&policy, Duration::from_secs(600)),
            None
        );
        // An hour after the first restart, one slot is free again.
        assert!(
            history
                .next_backoff(&policy, Duration::from_secs(3600))
                .is_some()
        );
    }

    #[test]
    fn recovery_resets_the_backoff_but_not_the_hourly_budget() {
        let policy = policy();
        let mut history = RestartHistory::default();
        assert_eq!(
            history.next_backoff(&policy, Duration::ZERO),
            Some(Duration::from_secs(60))
        );
        history.record_restart(Duration::ZERO);
        assert_eq!(
            history.next_backoff(&policy, Duration::ZERO),
            Some(Duration::from_secs(120))
        );
        history.record_restart(Duration::ZERO);
        history.recovered();
        assert_eq!(
            history.next_backoff(&policy, Duration::ZERO),
            Some(Duration::from_secs(60))
        );
    }
}
