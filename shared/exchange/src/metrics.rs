use levibot_core::Symbol;
use levibot_telemetry::metrics::{
    IntCounter, IntCounterVec, IntGauge, Opts, PrometheusError, Registry,
};

use crate::binance::{MarketEvent, ParseError, RejectReason};

/// Why a WebSocket connection was re-established (the `reason` label of
/// `exchange_ws_reconnects_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReconnectReason {
    /// The connection failed or the server closed it.
    Disconnected,
    /// Nothing (not even a ping) arrived for the idle timeout.
    Idle,
    /// The connection reached its maximum age (Binance closes them after 24 h).
    MaxAge,
    /// The server announced `serverShutdown`.
    ServerShutdown,
    /// Connecting failed.
    ConnectFailed,
}

impl ReconnectReason {
    /// Every reason, for pre-registering label values.
    pub const ALL: [Self; 5] = [
        Self::Disconnected,
        Self::Idle,
        Self::MaxAge,
        Self::ServerShutdown,
        Self::ConnectFailed,
    ];

    /// The label value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Disconnected => "disconnected",
            Self::Idle => "idle",
            Self::MaxAge => "max_age",
            Self::ServerShutdown => "server_shutdown",
            Self::ConnectFailed => "connect_failed",
        }
    }
}

/// Counters and gauges of the exchange layer, registered once in the registry passed to
/// [`ExchangeMetrics::new`] (names without the `levibot_` prefix: the service registry adds it).
///
/// Cloning is cheap and clones share the same series, so one instance is created per registry
/// and handed to every component.
#[derive(Debug, Clone)]
pub struct ExchangeMetrics {
    received: IntCounter,
    parsed: [IntCounter; 5],
    rejected: [IntCounter; 5],
    reconnects: IntCounterVec,
    connections: IntGauge,
    gaps_found: IntCounter,
    bars_backfilled: IntCounter,
    backfill_failures: IntCounter,
    bars_dropped: IntCounterVec,
    queue_dropped: IntCounterVec,
    stale_symbols: IntGauge,
    rest_used_weight: IntGauge,
    rest_requests: IntCounterVec,
    replay_rows_rejected: IntCounter,
}

/// The `kind` label values of `exchange_messages_parsed_total`, in the order of
/// `ExchangeMetrics::parsed`.
const PARSED_KINDS: [&str; 5] = ["trade", "kline_update", "bar", "server_shutdown", "ignored"];

impl ExchangeMetrics {
    /// Creates the metrics and registers them in `registry`.
    ///
    /// # Errors
    ///
    /// Fails if a metric of the same name is already registered there (create one
    /// `ExchangeMetrics` per registry and clone it).
    pub fn new(registry: &Registry) -> Result<Self, PrometheusError> {
        let received = IntCounter::new(
            "exchange_messages_received_total",
            "WebSocket text messages received from the exchange",
        )?;
        let parsed_vec = IntCounterVec::new(
            Opts::new(
                "exchange_messages_parsed_total",
                "exchange messages parsed, by kind (ignored: book ticker and depth streams)",
            ),
            &["kind"],
        )?;
        let rejected_vec = IntCounterVec::new(
            Opts::new(
                "exchange_messages_rejected_total",
                "exchange messages rejected and skipped, by reason",
            ),
            &["reason"],
        )?;
        let reconnects = IntCounterVec::new(
            Opts::new(
                "exchange_ws_reconnects_total",
                "WebSocket reconnections, by reason",
            ),
            &["reason"],
        )?;
        let connections = IntGauge::new(
            "exchange_ws_connections",
            "WebSocket connections currently open",
        )?;
        let gaps_found = IntCounter::new(
            "exchange_gaps_found_total",
            "gaps found in a symbol's closed-bar series",
        )?;
        let bars_backfilled = IntCounter::new(
            "exchange_bars_backfilled_total",
            "missing bars fetched over REST and emitted",
        )?;
        let backfill_failures = IntCounter::new(
            "exchange_backfill_failures_total",
            "gap backfills that failed (the later bar was emitted anyway)",
        )?;
        let bars_dropped = IntCounterVec::new(
            Opts::new(
                "exchange_bars_dropped_total",
                "closed bars dropped by gap detection, by reason (duplicate, out_of_order)",
            ),
            &["reason"],
        )?;
        let queue_dropped = IntCounterVec::new(
            Opts::new(
                "exchange_queue_dropped_total",
                "items dropped from a full per-symbol queue (the oldest goes)",
            ),
            &["symbol"],
        )?;
        let stale_symbols = IntGauge::new(
            "exchange_stale_symbols",
            "symbols with no bar for longer than the staleness limit, at the last check",
        )?;
        let rest_used_weight = IntGauge::new(
            "exchange_rest_used_weight_1m",
            "request weight used in the current minute, from X-MBX-USED-WEIGHT-1M",
        )?;
        let rest_requests = IntCounterVec::new(
            Opts::new(
                "exchange_rest_requests_total",
                "REST requests to the exchange, by outcome",
            ),
            &["outcome"],
        )?;
        let replay_rows_rejected = IntCounter::new(
            "exchange_replay_rows_rejected_total",
            "kline CSV rows that could not be read as bars and were skipped",
        )?;
        registry.register(Box::new(received.clone()))?;
        registry.register(Box::new(parsed_vec.clone()))?;
        registry.register(Box::new(rejected_vec.clone()))?;
        registry.register(Box::new(reconnects.clone()))?;
        registry.register(Box::new(connections.clone()))?;
        registry.register(Box::new(gaps_found.clone()))?;
        registry.register(Box::new(bars_backfilled.clone()))?;
        registry.register(Box::new(backfill_failures.clone()))?;
        registry.register(Box::new(bars_dropped.clone()))?;
        registry.register(Box::new(queue_dropped.clone()))?;
        registry.register(Box::new(stale_symbols.clone()))?;
        registry.register(Box::new(rest_used_weight.clone()))?;
        registry.register(Box::new(rest_requests.clone()))?;
        registry.register(Box::new(replay_rows_rejected.clone()))?;
        let parsed = PARSED_KINDS.map(|kind| parsed_vec.with_label_values(&[kind]));
        let rejected = RejectReason::ALL.map(|r| rejected_vec.with_label_values(&[r.as_str()]));
        for reason in ReconnectReason::ALL {
            reconnects.with_label_values(&[reason.as_str()]);
        }
        for reason in ["duplicate", "out_of_order"] {
            bars_dropped.with_label_values(&[reason]);
        }
        Ok(Self {
            received,
            parsed,
            rejected,
            reconnects,
            connections,
            gaps_found,
            bars_backfilled,
            backfill_failures,
            bars_dropped,
            queue_dropped,
            stale_symbols,
            rest_used_weight,
            rest_requests,
            replay_rows_rejected,
        })
    }

    /// Counts one received message and the outcome of parsing it.
    pub fn record_parse(&self, outcome: &Result<MarketEvent, ParseError>) {
        self.received.inc();
        match outcome {
            Ok(event) => self.parsed_counter(event).inc(),
            Err(err) => self.rejected_counter(err.reason).inc(),
        }
    }

    fn parsed_counter(&self, event: &MarketEvent) -> &IntCounter {
        let [trade, kline, bar, shutdown, ignored] = &self.parsed;
        match event {
            MarketEvent::Trade(_) => trade,
            MarketEvent::KlineUpdate(_) => kline,
            MarketEvent::Bar(_) => bar,
            MarketEvent::ServerShutdown(_) => shutdown,
            MarketEvent::Ignored(_) => ignored,
        }
    }

    fn rejected_counter(&self, reason: RejectReason) -> &IntCounter {
        let [malformed, missing, wrong_type, invalid, unknown] = &self.rejected;
        match reason {
            RejectReason::MalformedJson => malformed,
            RejectReason::MissingField => missing,
            RejectReason::WrongType => wrong_type,
            RejectReason::InvalidValue => invalid,
            RejectReason::UnknownStream => unknown,
        }
    }

    /// Messages received so far.
    #[must_use]
    pub fn messages_received(&self) -> u64 {
        self.received.get()
    }

    /// Messages rejected so far for `reason`.
    #[must_use]
    pub fn messages_rejected(&self, reason: RejectReason) -> u64 {
        self.rejected_counter(reason).get()
    }

    /// Messages of a stream we recognise but do not use (book ticker, depth).
    #[must_use]
    pub fn messages_ignored(&self) -> u64 {
        self.parsed[4].get()
    }

    /// Closed bars parsed from kline messages.
    #[must_use]
    pub fn bars_parsed(&self) -> u64 {
        self.parsed[2].get()
    }

    /// Trades parsed.
    #[must_use]
    pub fn trades_parsed(&self) -> u64 {
        self.parsed[0].get()
    }

    /// Counts a reconnection.
    pub fn record_reconnect(&self, reason: ReconnectReason) {
        self.reconnects.with_label_values(&[reason.as_str()]).inc();
    }

    /// Reconnections so far for `reason`.
    #[must_use]
    pub fn reconnects(&self, reason: ReconnectReason) -> u64 {
        self.reconnects.with_label_values(&[reason.as_str()]).get()
    }

    /// Reconnections so far, all reasons.
    #[must_use]
    pub fn reconnects_total(&self) -> u64 {
        ReconnectReason::ALL
            .iter()
            .map(|r| self.reconnects(*r))
            .sum()
    }

    pub(crate) fn connection_opened(&self) {
        self.connections.inc();
    }

    pub(crate) fn connection_closed(&self) {
        self.connections.dec();
    }

    /// WebSocket connections open now.
    #[must_use]
    pub fn connections_open(&self) -> i64 {
        self.connections.get()
    }

    pub(crate) fn record_gap(&self) {
        self.gaps_found.inc();
    }

    /// Gaps found so far.
    #[must_use]
    pub fn gaps_found(&self) -> u64 {
        self.gaps_found.get()
    }

    pub(crate) fn record_backfilled(&self, bars: u64) {
        self.bars_backfilled.inc_by(bars);
    }

    /// Bars backfilled over REST so far.
    #[must_use]
    pub fn bars_backfilled(&self) -> u64 {
        self.bars_backfilled.get()
    }

    pub(crate) fn record_backfill_failure(&self) {
        self.backfill_failures.inc();
    }

    /// Backfills that failed so far.
    #[must_use]
    pub fn backfill_failures(&self) -> u64 {
        self.backfill_failures.get()
    }

    pub(crate) fn record_bar_dropped(&self, reason: &'static str) {
        self.bars_dropped.with_label_values(&[reason]).inc();
    }

    /// Bars dropped by gap detection for `reason` (`duplicate` or `out_of_order`).
    #[must_use]
    pub fn bars_dropped(&self, reason: &str) -> u64 {
        self.bars_dropped.with_label_values(&[reason]).get()
    }

    pub(crate) fn queue_dropped_counter(&self, symbol: Symbol) -> IntCounter {
        self.queue_dropped.with_label_values(&[symbol.as_str()])
    }

    /// Items dropped from `symbol`'s full queue so far.
    #[must_use]
    pub fn queue_dropped(&self, symbol: Symbol) -> u64 {
        self.queue_dropped_counter(symbol).get()
    }

    pub(crate) fn set_stale_symbols(&self, count: usize) {
        self.stale_symbols
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Stale symbols at the last check.
    #[must_use]
    pub fn stale_symbols(&self) -> i64 {
        self.stale_symbols.get()
    }

    pub(crate) fn set_rest_used_weight(&self, weight: u64) {
        self.rest_used_weight
            .set(i64::try_from(weight).unwrap_or(i64::MAX));
    }

    pub(crate) fn record_rest_request(&self, outcome: &'static str) {
        self.rest_requests.with_label_values(&[outcome]).inc();
    }

    /// REST requests so far with `outcome` (`ok`, `rate_limited`, `banned`, `http_error`,
    /// `transport_error`, `decode_error`).
    #[must_use]
    pub fn rest_requests(&self, outcome: &str) -> u64 {
        self.rest_requests.with_label_values(&[outcome]).get()
    }

    pub(crate) fn record_replay_row_rejected(&self) {
        self.replay_rows_rejected.inc();
    }

    /// Kline CSV rows skipped so far.
    #[must_use]
    pub fn replay_rows_rejected(&self) -> u64 {
        self.replay_rows_rejected.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_once_per_registry_and_encodes() {
        let registry = levibot_telemetry::metrics::service_registry();
        let metrics = ExchangeMetrics::new(&registry).unwrap();
        assert!(ExchangeMetrics::new(&registry).is_err());
        metrics.record_reconnect(ReconnectReason::Idle);
        metrics.record_parse(&Err(ParseError::new(RejectReason::WrongType, "x")));
        let text = levibot_telemetry::metrics::encode_text(&registry).unwrap();
        assert!(
            text.contains("levibot_exchange_ws_reconnects_total{reason=\"idle\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("levibot_exchange_messages_rejected_total{reason=\"wrong_type\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("levibot_exchange_messages_received_total 1"),
            "{text}"
        );
        assert_eq!(metrics.messages_rejected(RejectReason::WrongType), 1);
        assert_eq!(metrics.reconnects_total(), 1);
    }
}
