//! The trading runtime's metrics.

use levibot_telemetry::metrics::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, PrometheusError, Registry,
};

/// Counters of bars, signals, refusals, orders, fills, latency and the breaker.
#[derive(Debug, Clone)]
pub struct TradingMetrics {
    /// Bars stepped, by outcome label.
    pub steps: IntCounterVec,
    /// Signals produced.
    pub signals: IntCounter,
    /// Risk refusals by reason.
    pub rejections: IntCounterVec,
    /// Executor blocks by reason.
    pub blocked: IntCounterVec,
    /// Orders by status reached.
    pub orders: IntCounterVec,
    /// Fills applied.
    pub fills: IntCounter,
    /// Bar received → order acknowledged by the exchange, seconds.
    pub order_latency: Histogram,
    /// 0 closed, 1 half-open, 2 open.
    pub breaker_state: IntGauge,
    /// Predictions not available, by reason.
    pub predictions_missing: IntCounterVec,
    /// Recording an order in the trade-store before sending it, seconds.
    pub record_order: Histogram,
    /// Version of the risk policy in force (0 until policy-store has sent one).
    pub policy_version: IntGauge,
    /// Positions considered for a flatten on an ESS trip, by outcome (`sent`, `refused`,
    /// `blocked`) and reason (the risk refusal or executor block label; `flatten` when sent).
    pub ess_flatten: IntCounterVec,
}

impl TradingMetrics {
    /// Registers them in `registry`.
    ///
    /// # Errors
    ///
    /// When a name is taken.
    pub fn new(registry: &Registry) -> Result<Self, PrometheusError> {
        let steps = IntCounterVec::new(
            Opts::new("engine_bars_total", "Bars processed by engines, by outcome"),
            &["outcome"],
        )?;
        let signals = IntCounter::new("engine_signals_total", "Signals produced")?;
        let rejections = IntCounterVec::new(
            Opts::new("risk_rejections_total", "Risk manager refusals by reason"),
            &["reason"],
        )?;
        let blocked = IntCounterVec::new(
            Opts::new(
                "executor_blocked_total",
                "Approved orders the executor did not send, by reason",
            ),
            &["reason"],
        )?;
        let orders = IntCounterVec::new(
            Opts::new("executor_orders_total", "Orders by status reached"),
            &["status"],
        )?;
        let fills = IntCounter::new("executor_fills_total", "Fills applied")?;
        let order_latency = Histogram::with_opts(
            HistogramOpts::new(
                "executor_order_latency_seconds",
                "Bar received to order acknowledged",
            )
            .buckets(vec![
                0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05,
                0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )?;
        let breaker_state = IntGauge::new(
            "executor_circuit_breaker_state",
            "0 closed, 1 half-open, 2 open",
        )?;
        let predictions_missing = IntCounterVec::new(
            Opts::new(
                "engine_predictions_missing_total",
                "Bars skipped for want of a prediction, by reason",
            ),
            &["reason"],
        )?;
        let record_order = Histogram::with_opts(
            HistogramOpts::new(
                "executor_record_order_seconds",
                "Recording an order in the trade-store before it is sent",
            )
            .buckets(vec![
                0.0002, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05,
                0.1, 0.25,
            ]),
        )?;
        registry.register(Box::new(record_order.clone()))?;
        registry.register(Box::new(steps.clone()))?;
        registry.register(Box::new(signals.clone()))?;
        registry.register(Box::new(rejections.clone()))?;
        registry.register(Box::new(blocked.clone()))?;
        registry.register(Box::new(orders.clone()))?;
        registry.register(Box::new(fills.clone()))?;
        registry.register(Box::new(order_latency.clone()))?;
        registry.register(Box::new(breaker_state.clone()))?;
        registry.register(Box::new(predictions_missing.clone()))?;
        let policy_version = IntGauge::new(
            "backend_policy_version",
            "Version of the risk policy the backend trades under (0: none received yet)",
        )?;
        registry.register(Box::new(policy_version.clone()))?;
        let ess_flatten = IntCounterVec::new(
            Opts::new(
                "backend_ess_flatten_total",
                "Positions considered for a flatten on an ESS trip, by outcome and reason",
            ),
            &["outcome", "reason"],
        )?;
        registry.register(Box::new(ess_flatten.clone()))?;
        Ok(Self {
            policy_version,
            ess_flatten,
            steps,
            signals,
            rejections,
            blocked,
            orders,
            fills,
            order_latency,
            breaker_state,
            predictions_missing,
            record_order,
        })
    }
}
