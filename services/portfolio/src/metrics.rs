//! The portfolio's Prometheus metrics (every name gets the `levibot_` prefix in the service's
//! registry). Amounts are exported as integers of hundredths of the quote asset and the
//! drawdown in basis points, so no money figure goes through a float on its way out.

use levibot_telemetry::metrics::{
    IntCounter, IntCounterVec, IntGauge, Opts, PrometheusError, Registry,
};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::portfolio::Portfolio;

/// The portfolio's metrics.
#[derive(Debug, Clone)]
pub struct PortfolioMetrics {
    /// `portfolio_equity_cents`: equity, in hundredths of the quote asset.
    pub equity_cents: IntGauge,
    /// `portfolio_drawdown_bps`: drawdown from the equity peak, in basis points.
    pub drawdown_bps: IntGauge,
    /// `portfolio_daily_pnl_cents`: PnL since 00:00 UTC, in hundredths of the quote asset.
    pub daily_pnl_cents: IntGauge,
    /// `portfolio_exposure_cents`: total exposure, in hundredths of the quote asset.
    pub exposure_cents: IntGauge,
    /// `portfolio_open_positions`: symbols with a quantity held.
    pub open_positions: IntGauge,
    /// `portfolio_fills_applied_total`: fills booked.
    pub fills_applied: IntCounter,
    /// `portfolio_fills_duplicate_total`: fills skipped because their id was booked before.
    pub fills_duplicate: IntCounter,
    /// `portfolio_bus_messages_malformed_total{topic}`: bus messages that decoded but were not
    /// valid (skipped and dead-lettered).
    pub malformed: IntCounterVec,
    /// `portfolio_anomalies_total{kind}`: fills the books could not take as they were.
    pub anomalies: IntCounterVec,
    /// `portfolio_reconciliation_runs_total{outcome}`: reconciliations, by outcome
    /// (`matched`, `mismatched`, `not_run`).
    pub reconciliation_runs: IntCounterVec,
    /// `portfolio_reconciliation_mismatches_total`: mismatched items found, summed over runs.
    pub reconciliation_mismatches: IntCounter,
    /// `portfolio_ess_trips_total{trigger}`: trips policy-store accepted.
    pub ess_trips: IntCounterVec,
    /// `portfolio_ess_trip_failures_total`: `TripEss` calls that failed (retried).
    pub ess_trip_failures: IntCounter,
    /// `portfolio_snapshots_stored_total`: equity snapshots the trade-store took.
    pub snapshots_stored: IntCounter,
    /// `portfolio_snapshots_pending`: equity snapshots waiting for the trade-store.
    pub snapshots_pending: IntGauge,
    /// `portfolio_snapshots_dropped_total`: snapshots dropped from a full queue.
    pub snapshots_dropped: IntGauge,
}

impl PortfolioMetrics {
    /// Registers the metrics in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, PrometheusError> {
        let gauge = |name: &str, help: &str| -> Result<IntGauge, PrometheusError> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let counter = |name: &str, help: &str| -> Result<IntCounter, PrometheusError> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let counter_vec =
            |name: &str, help: &str, label: &str| -> Result<IntCounterVec, PrometheusError> {
                let c = IntCounterVec::new(Opts::new(name, help), &[label])?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        Ok(Self {
            equity_cents: gauge(
                "portfolio_equity_cents",
                "equity in hundredths of the quote asset",
            )?,
            drawdown_bps: gauge(
                "portfolio_drawdown_bps",
                "drawdown from the equity peak in basis points",
            )?,
            daily_pnl_cents: gauge(
                "portfolio_daily_pnl_cents",
                "PnL since 00:00 UTC in hundredths of the quote asset",
            )?,
            exposure_cents: gauge(
                "portfolio_exposure_cents",
                "total exposure in hundredths of the quote asset",
            )?,
            open_positions: gauge("portfolio_open_positions", "symbols with a quantity held")?,
            fills_applied: counter("portfolio_fills_applied_total", "fills booked")?,
            fills_duplicate: counter(
                "portfolio_fills_duplicate_total",
                "fills skipped because their id was booked before",
            )?,
            malformed: counter_vec(
                "portfolio_bus_messages_malformed_total",
                "bus messages that were not valid, skipped",
                "topic",
            )?,
            anomalies: counter_vec(
                "portfolio_anomalies_total",
                "fills the books could not take as they were, by kind",
                "kind",
            )?,
            reconciliation_runs: counter_vec(
                "portfolio_reconciliation_runs_total",
                "reconciliations against the exchange, by outcome",
                "outcome",
            )?,
            reconciliation_mismatches: counter(
                "portfolio_reconciliation_mismatches_total",
                "mismatched items found by reconciliations",
            )?,
            ess_trips: counter_vec(
                "portfolio_ess_trips_total",
                "ESS trips sent to policy-store, by trigger",
                "trigger",
            )?,
            ess_trip_failures: counter(
                "portfolio_ess_trip_failures_total",
                "TripEss calls that failed and are retried",
            )?,
            snapshots_stored: counter(
                "portfolio_snapshots_stored_total",
                "equity snapshots stored in the trade-store",
            )?,
            snapshots_pending: gauge(
                "portfolio_snapshots_pending",
                "equity snapshots waiting for the trade-store",
            )?,
            snapshots_dropped: gauge(
                "portfolio_snapshots_dropped",
                "equity snapshots dropped from a full queue since start",
            )?,
        })
    }

    /// Sets the gauges from `portfolio`.
    pub fn observe(&self, portfolio: &Portfolio) {
        let books = portfolio.books();
        self.equity_cents.set(hundredths(books.equity()));
        self.drawdown_bps.set(hundredths(books.drawdown_pct()));
        self.daily_pnl_cents.set(hundredths(books.daily_pnl()));
        self.exposure_cents.set(hundredths(books.total_exposure()));
        self.open_positions.set(
            i64::try_from(books.positions().filter(|p| p.is_open()).count()).unwrap_or(i64::MAX),
        );
        let (pending, dropped) = portfolio.pending_snapshots();
        self.snapshots_pending
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
        self.snapshots_dropped
            .set(i64::try_from(dropped).unwrap_or(i64::MAX));
    }
}

/// `value × 100`, rounded, as an integer (saturating).
fn hundredths(value: Decimal) -> i64 {
    value
        .saturating_mul(Decimal::ONE_HUNDRED)
        .round()
        .to_i64()
        .unwrap_or(if value.is_sign_negative() {
            i64::MIN
        } else {
            i64::MAX
        })
}
