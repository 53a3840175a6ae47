//! [`Portfolio`]: the books together with what the service decides from them (equity
//! snapshots to store, ESS trips to send, the reconciliation status). Synchronous; the async
//! adapters in [`crate::runtime`] feed it events and carry out its decisions.

use std::collections::VecDeque;

use levibot_core::{Bar, Fill, TimestampMs};

use crate::books::{Books, EquitySnapshot, FillOutcome};
use crate::ess::{Breach, BreachMonitor, RiskLimits, RiskMeasurement, Trigger, evaluate};
use crate::reconcile::{Mismatch, ReconciliationOutcome, ReconciliationReport};

/// The books and the decisions taken from them.
#[derive(Debug, Clone)]
pub struct Portfolio {
    books: Books,
    ready: bool,
    limits: RiskLimits,
    monitor: BreachMonitor,
    snapshot_interval_ms: i64,
    last_snapshot: Option<TimestampMs>,
    pending: VecDeque<EquitySnapshot>,
    pending_capacity: usize,
    dropped_snapshots: u64,
    reconciliation: Option<ReconciliationReport>,
}

impl Portfolio {
    /// A portfolio over `books`, judged by `limits`, storing a snapshot at most every
    /// `snapshot_interval_ms` and keeping at most `pending_capacity` unsent.
    pub fn new(
        books: Books,
        limits: RiskLimits,
        snapshot_interval_ms: i64,
        pending_capacity: usize,
    ) -> Self {
        Self {
            books,
            ready: false,
            limits,
            monitor: BreachMonitor::default(),
            snapshot_interval_ms,
            last_snapshot: None,
            pending: VecDeque::new(),
            pending_capacity: pending_capacity.max(1),
            dropped_snapshots: 0,
            reconciliation: None,
        }
    }

    /// The books.
    pub fn books(&self) -> &Books {
        &self.books
    }

    /// Replaces the books with ones rebuilt from the stored fills (and restored from the stored
    /// equity curve), marks the portfolio ready to answer, and judges the limits at once.
    pub fn rebuilt(&mut self, books: Books) {
        self.books = books;
        self.ready = true;
        self.judge();
    }

    /// Whether the books were rebuilt (before that, they are not worth reporting).
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Books a fill, then judges the limits.
    pub fn apply_fill(&mut self, fill: &Fill) -> FillOutcome {
        let outcome = self.books.apply_fill(fill);
        if matches!(outcome, FillOutcome::Applied { .. }) {
            self.judge();
        }
        outcome
    }

    /// Marks the bar's symbol at its close, queues an equity snapshot when one is due, then
    /// judges the limits. Returns whether the mark was taken (a stale bar is not).
    pub fn apply_bar(&mut self, bar: &Bar) -> bool {
        let at = bar.close_time();
        if !self.books.mark(bar.symbol(), bar.close(), at) {
            return false;
        }
        let due = self.last_snapshot.is_none_or(|last| {
            at.as_i64().saturating_sub(last.as_i64()) >= self.snapshot_interval_ms
        });
        if due {
            self.last_snapshot = Some(at);
            self.queue_snapshots(vec![self.books.snapshot(at)]);
        }
        self.judge();
        true
    }

    /// New limits (a new policy version); judged at once.
    pub fn set_limits(&mut self, limits: RiskLimits) {
        self.limits = limits;
        self.judge();
    }

    /// The limits in force.
    pub fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    /// Records a reconciliation: a mismatch opens a `reconciliation` breach, a match closes it,
    /// a reconciliation that could not run changes neither.
    pub fn record_reconciliation(&mut self, report: ReconciliationReport) {
        match &report.outcome {
            ReconciliationOutcome::Matched => self.monitor.observe(Trigger::Reconciliation, None),
            ReconciliationOutcome::Mismatched(items) => self
                .monitor
                .observe(Trigger::Reconciliation, Some(reconciliation_breach(items))),
            ReconciliationOutcome::NotRun(_) => {}
        }
        self.reconciliation = Some(report);
    }

    /// The latest reconciliation.
    pub fn reconciliation(&self) -> Option<&ReconciliationReport> {
        self.reconciliation.as_ref()
    }

    /// Whether the latest reconciliation matched.
    pub fn reconciled(&self) -> bool {
        self.reconciliation
            .as_ref()
            .is_some_and(ReconciliationReport::ok)
    }

    /// The figures the limits are judged on, seen at `now`.
    pub fn measurement(&self, now: TimestampMs) -> RiskMeasurement {
        RiskMeasurement {
            equity: self.books.equity(),
            peak_equity: self.books.peak_equity(),
            drawdown_pct: self.books.drawdown_pct(),
            daily_pnl: self.books.daily_pnl_at(now),
            total_exposure: self.books.total_exposure(),
        }
    }

    /// Trips to send to policy-store.
    pub fn due_trips(&self) -> Vec<Breach> {
        self.monitor.due()
    }

    /// The trip of `trigger` went through.
    pub fn trip_reported(&mut self, trigger: Trigger) {
        self.monitor.reported(trigger);
    }

    /// Up to `max` of the oldest unsent snapshots, taken out of the queue.
    pub fn take_snapshots(&mut self, max: usize) -> Vec<EquitySnapshot> {
        let n = max.min(self.pending.len());
        self.pending.drain(..n).collect()
    }

    /// Puts snapshots that could not be sent back at the front of the queue.
    pub fn return_snapshots(&mut self, snapshots: Vec<EquitySnapshot>) {
        for snapshot in snapshots.into_iter().rev() {
            self.pending.push_front(snapshot);
        }
        self.trim_pending();
    }

    /// Unsent snapshots, and how many were dropped because the queue was full.
    pub fn pending_snapshots(&self) -> (usize, u64) {
        (self.pending.len(), self.dropped_snapshots)
    }

    fn queue_snapshots(&mut self, snapshots: Vec<EquitySnapshot>) {
        self.pending.extend(snapshots);
        self.trim_pending();
    }

    /// A full queue drops its oldest snapshots: the curve loses points, never its recent end.
    fn trim_pending(&mut self) {
        while self.pending.len() > self.pending_capacity {
            self.pending.pop_front();
            self.dropped_snapshots += 1;
        }
    }

    /// Judges the limits on the books as of their latest event.
    fn judge(&mut self) {
        if !self.ready {
            return;
        }
        let measurement = self.measurement(self.books.as_of());
        for (trigger, breach) in evaluate(&measurement, &self.limits) {
            self.monitor.observe(trigger, breach);
        }
    }
}

fn reconciliation_breach(items: &[Mismatch]) -> Breach {
    let listed: Vec<String> = items
        .iter()
        .take(5)
        .map(|m| format!("{} books {} exchange {}", m.item, m.expected, m.actual))
        .collect();
    let more = items.len().saturating_sub(listed.len());
    let mut reason = format!(
        "books disagree with the exchange on {} item(s): {}",
        items.len(),
        listed.join("; ")
    );
    if more > 0 {
        reason.push_str(&format!("; and {more} more"));
    }
    let detail = serde_json::json!({
        "mismatches": items
            .iter()
            .map(|m| serde_json::json!({"item": m.item, "expected": m.expected, "actual": m.actual}))
            .collect::<Vec<_>>(),
    });
    Breach {
        trigger: Trigger::Reconciliation,
        reason,
        detail_json: detail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use levibot_core::{
        ClientOrderId, FillId, FillParts, Interval, Money, Price, Quantity, Side, Symbol,
    };
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    use super::*;

    const T0: i64 = 1_700_000_040_000;

    fn btc() -> Symbol {
        Symbol::new("BTCUSDT").unwrap()
    }

    fn bar(minute: i64, close: Decimal) -> Bar {
        let p = Price::new(close).unwrap();
        Bar::new(
            btc(),
            Interval::M1,
            TimestampMs::new(T0 + minute * 60_000),
            p,
            p,
            p,
            p,
            Quantity::new(dec!(1)).unwrap(),
        )
        .unwrap()
    }

    fn buy(qty: Decimal, price: Decimal) -> Fill {
        Fill::new(FillParts {
            fill_id: FillId::new(),
            client_order_id: ClientOrderId::new("c1").unwrap(),
            symbol: btc(),
            side: Side::Buy,
            price: Price::new(price).unwrap(),
            quantity: Quantity::new(qty).unwrap(),
            fee: Money::new(dec!(0)),
            fee_asset: "USDT".into(),
            is_maker: false,
            exchange_time: TimestampMs::new(T0),
            receive_time: TimestampMs::new(T0),
        })
        .unwrap()
    }

    fn portfolio() -> Portfolio {
        let limits = RiskLimits {
            max_drawdown_pct: Some(dec!(10)),
            daily_loss_limit: None,
            max_total_exposure: Some(dec!(5000)),
            policy_version: 1,
        };
        let mut p = Portfolio::new(Books::new("USDT", dec!(10000)), limits, 120_000, 3);
        p.rebuilt(Books::new("USDT", dec!(10000)));
        p
    }

    #[test]
    fn snapshots_are_queued_at_most_once_per_interval_and_bounded() {
        let mut p = portfolio();
        for minute in 0..10 {
            assert!(p.apply_bar(&bar(minute, dec!(100))));
        }
        // minutes 0, 2, 4, 6, 8 were due; the queue keeps the newest 3
        assert_eq!(p.pending_snapshots(), (3, 2));
        let sent = p.take_snapshots(2);
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].at, bar(4, dec!(1)).close_time());
        p.return_snapshots(sent);
        assert_eq!(p.pending_snapshots(), (3, 2));
        // a stale bar is not a mark
        assert!(!p.apply_bar(&bar(1, dec!(50))));
    }

    #[test]
    fn a_drawdown_trips_once_per_episode() {
        let mut p = portfolio();
        p.apply_fill(&buy(dec!(40), dec!(100)));
        assert!(p.due_trips().is_empty());
        // 40 × 70: equity 8800, drawdown 12 %
        p.apply_bar(&bar(1, dec!(70)));
        let due = p.due_trips();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].trigger, Trigger::Drawdown);
        p.trip_reported(Trigger::Drawdown);
        p.apply_bar(&bar(2, dec!(69)));
        assert!(p.due_trips().is_empty());
    }

    #[test]
    fn exposure_over_the_limit_trips_and_a_new_policy_is_judged_at_once() {
        let mut p = portfolio();
        p.apply_fill(&buy(dec!(40), dec!(100)));
        assert!(p.due_trips().is_empty());
        let mut limits = p.limits().clone();
        limits.max_total_exposure = Some(dec!(3999));
        p.set_limits(limits);
        assert_eq!(p.due_trips()[0].trigger, Trigger::Exposure);
    }

    #[test]
    fn reconciliation_mismatches_trip_and_unavailable_exchanges_do_not() {
        let mut p = portfolio();
        assert!(!p.reconciled());
        p.record_reconciliation(ReconciliationReport {
            at: TimestampMs::new(1),
            outcome: ReconciliationOutcome::NotRun("no exchange".into()),
        });
        assert!(!p.reconciled());
        assert!(p.due_trips().is_empty());
        p.record_reconciliation(ReconciliationReport {
            at: TimestampMs::new(2),
            outcome: ReconciliationOutcome::Mismatched(vec![Mismatch {
                item: "balance:BTC".into(),
                expected: "1".into(),
                actual: "0".into(),
            }]),
        });
        let due = p.due_trips();
        assert_eq!(due[0].trigger, Trigger::Reconciliation);
        assert!(
            due[0].reason.contains("balance:BTC books 1 exchange 0"),
            "{}",
            due[0].reason
        );
        p.record_reconciliation(ReconciliationReport {
            at: TimestampMs::new(3),
            outcome: ReconciliationOutcome::Matched,
        });
        assert!(p.reconciled());
    }
}
