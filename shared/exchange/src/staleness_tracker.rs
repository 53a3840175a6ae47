use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use levibot_core::{Interval, Symbol, TimestampMs};

use crate::metrics::ExchangeMetrics;

/// Tells which symbols have had no bar for longer than `max_missed` intervals.
///
/// Arrivals are recorded with the local time they happened at ([`StalenessTracker::record`]);
/// symbols that should be flowing are registered with [`StalenessTracker::watch`], so one that
/// never delivers anything becomes stale too. Shared by reference between the producer that
/// records and the consumers that ask.
#[derive(Debug)]
pub struct StalenessTracker {
    limit_ms: i64,
    last_seen: Mutex<HashMap<Symbol, TimestampMs>>,
    metrics: Option<ExchangeMetrics>,
}

impl StalenessTracker {
    /// A symbol is stale when nothing arrived for more than `max_missed` × `interval`.
    #[must_use]
    pub fn new(interval: Interval, max_missed: u32) -> Self {
        Self {
            limit_ms: interval
                .duration_ms()
                .saturating_mul(i64::from(max_missed.max(1))),
            last_seen: Mutex::new(HashMap::new()),
            metrics: None,
        }
    }

    /// Also publishes the count of stale symbols to `exchange_stale_symbols` whenever
    /// [`StalenessTracker::stale_symbols`] runs.
    #[must_use]
    pub fn with_metrics(mut self, metrics: ExchangeMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Starts watching `symbol` as if something arrived at `now` (does nothing if it is
    /// already watched).
    pub fn watch(&self, symbol: Symbol, now: TimestampMs) {
        self.lock().entry(symbol).or_insert(now);
    }

    /// Records that a bar of `symbol` arrived at `at`.
    pub fn record(&self, symbol: Symbol, at: TimestampMs) {
        let mut map = self.lock();
        let last = map.entry(symbol).or_insert(at);
        *last = (*last).max(at);
    }

    /// Whether `symbol` has had nothing for longer than the limit at `now`. A symbol never
    /// watched nor seen is stale.
    #[must_use]
    pub fn is_stale(&self, symbol: Symbol, now: TimestampMs) -> bool {
        self.lock()
            .get(&symbol)
            .is_none_or(|last| now.as_i64().saturating_sub(last.as_i64()) > self.limit_ms)
    }

    /// Every stale watched symbol at `now`, sorted; updates the gauge.
    pub fn stale_symbols(&self, now: TimestampMs) -> Vec<Symbol> {
        let mut stale: Vec<Symbol> = self
            .lock()
            .iter()
            .filter(|(_, last)| now.as_i64().saturating_sub(last.as_i64()) > self.limit_ms)
            .map(|(symbol, _)| *symbol)
            .collect();
        stale.sort();
        if let Some(metrics) = &self.metrics {
            metrics.set_stale_symbols(stale.len());
        }
        stale
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Symbol, TimestampMs>> {
        self.last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use levibot_telemetry::metrics::Registry;

    #[test]
    fn stale_after_n_intervals() {
        let metrics = ExchangeMetrics::new(&Registry::new()).unwrap();
        let tracker = StalenessTracker::new(Interval::M1, 3).with_metrics(metrics.clone());
        let btc = Symbol::new("BTCUSDT").unwrap();
        let eth = Symbol::new("ETHUSDT").unwrap();
        let sol = Symbol::new("SOLUSDT").unwrap();
        let t = TimestampMs::new(1_000_000_000);
        tracker.watch(btc, t);
        tracker.watch(eth, t);
        assert!(!tracker.is_stale(btc, t));
        assert!(tracker.is_stale(sol, t), "never seen is stale");
        tracker.record(btc, TimestampMs::new(t.as_i64() + 60_000));
        let later = TimestampMs::new(t.as_i64() + 180_001);
        assert!(!tracker.is_stale(btc, later));
        assert!(tracker.is_stale(eth, later));
        assert!(!tracker.is_stale(eth, TimestampMs::new(t.as_i64() + 180_000)));
        assert_eq!(tracker.stale_symbols(later), vec![eth]);
        assert_eq!(metrics.stale_symbols(), 1);
        // an older arrival does not move the clock back
        tracker.record(btc, t);
        assert!(!tracker.is_stale(btc, later));
        tracker.record(eth, later);
        assert!(tracker.stale_symbols(later).is_empty());
        assert_eq!(metrics.stale_symbols(), 0);
    }
}
