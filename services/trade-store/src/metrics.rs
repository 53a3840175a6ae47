use std::time::Instant;

use levibot_telemetry::metrics::{
    Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts, PrometheusError, Registry,
};

use crate::store::{FillsReport, SnapshotsReport, UpsertReport};

/// The trade-store's own metrics, in the service's registry (every name gets the `levibot_`
/// prefix there):
///
/// - `trade_store_rows_total{table, outcome}`: rows handled, by what happened to them
///   (`inserted`, `updated`, `unchanged`, `duplicate`; `existing` for an order already
///   recorded);
/// - `trade_store_rows_rejected_total{table}`: rows refused as invalid (a refused batch counts
///   all its rows, since none of them is stored);
/// - `trade_store_operation_duration_seconds{operation}`: store latency per operation
///   (for `query_bars`, until the stream ends or the caller drops it).
#[derive(Debug, Clone)]
pub struct StoreMetrics {
    rows: IntCounterVec,
    rejected: IntCounterVec,
    latency: HistogramVec,
}

impl StoreMetrics {
    /// Registers the metrics in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, PrometheusError> {
        let rows = IntCounterVec::new(
            Opts::new(
                "trade_store_rows_total",
                "rows handled by the trade store, by table and outcome",
            ),
            &["table", "outcome"],
        )?;
        let rejected = IntCounterVec::new(
            Opts::new(
                "trade_store_rows_rejected_total",
                "rows refused as invalid, by table",
            ),
            &["table"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "trade_store_operation_duration_seconds",
                "time spent in the store, by operation",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["operation"],
        )?;
        registry.register(Box::new(rows.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Self {
            rows,
            rejected,
            latency,
        })
    }

    /// Starts timing `operation`; the time is recorded when the timer is dropped.
    pub fn time(&self, operation: &str) -> OperationTimer {
        OperationTimer {
            histogram: self.latency.with_label_values(&[operation]),
            started: Instant::now(),
        }
    }

    /// Counts `rows` rows of `table` refused as invalid.
    pub fn rejected(&self, table: &str, rows: usize) {
        self.rejected
            .with_label_values(&[table])
            .inc_by(u64::try_from(rows).unwrap_or(u64::MAX));
    }

    /// Counts what an upsert of bars did.
    pub fn bars(&self, report: &UpsertReport) {
        self.add("bars", "inserted", report.inserted);
        self.add("bars", "updated", report.updated);
        self.add("bars", "unchanged", report.unchanged);
    }

    /// Counts what recording fills did.
    pub fn fills(&self, report: &FillsReport) {
        self.add("fills", "inserted", report.inserted);
        self.add("fills", "duplicate", report.duplicates);
    }

    /// Counts what recording equity snapshots did.
    pub fn equity(&self, report: &SnapshotsReport) {
        self.add("equity_snapshots", "inserted", report.inserted);
        self.add("equity_snapshots", "duplicate", report.duplicates);
    }

    /// Counts one appended row of an append-only table (`policy_versions`,
    /// `ess_transitions`).
    pub fn appended(&self, table: &str) {
        self.add(table, "inserted", 1);
    }

    /// Counts one recorded order, new or updated.
    pub fn order(&self, created: bool) {
        self.add("orders", if created { "inserted" } else { "existing" }, 1);
    }

    /// Counts one recorded signal, new or already stored.
    pub fn signal(&self, created: bool) {
        self.add("signals", if created { "inserted" } else { "duplicate" }, 1);
    }

    fn add(&self, table: &str, outcome: &str, rows: u64) {
        if rows > 0 {
            self.rows.with_label_values(&[table, outcome]).inc_by(rows);
        }
    }
}

/// Records the time since it was made into an operation's latency histogram when dropped.
#[derive(Debug)]
pub struct OperationTimer {
    histogram: Histogram,
    started: Instant,
}

impl Drop for OperationTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}
