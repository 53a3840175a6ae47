//! Flatten on trip: when the ESS trips and the policy in force says `ess_flatten_on_trip`,
//! every held position is sold at market, the one narrow exception to "no order while the
//! ESS is not armed". Each exit is approved by the risk manager
//! ([`RiskManager::approve_flatten`](levibot_trading::RiskManager::approve_flatten): a SELL
//! of at most what is held, on the lot step) and decided by the executor core
//! ([`ExecutorCore::decide_flatten`](levibot_trading::ExecutorCore::decide_flatten): every
//! check but the ESS gate, so the kill switch and trading-disabled still block it). Its client
//! order id derives from (symbol, trip sequence number): a trip delivered again is refused as
//! a duplicate by the executor, and after a restart by the trade-store record.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use levibot_core::Price;
use levibot_trading::FlattenDecision;

use super::TradingDesk;

/// Short rate-limit waits before a flatten is given up (counted as blocked).
const MAX_WAITS: u32 = 3;

impl TradingDesk {
    /// Whether the policy in force asks a trip to flatten positions.
    #[must_use]
    pub fn flatten_on_trip_enabled(&self) -> bool {
        self.flatten_on_trip.load(Ordering::Acquire)
    }

    /// Sells every held position for the trip with transition sequence number `trip_seq`
    /// (whatever the policy says: the caller checks it). Each position is approved, decided,
    /// logged, counted (`backend_ess_flatten_total`) and, when sent, recorded in the
    /// trade-store before it goes out, like any order. Returns how many exits were sent.
    pub async fn flatten_on_trip(&self, trip_seq: u64) -> usize {
        let positions = self.book().sellable();
        let mut sent = 0;
        for (symbol, held, mark) in positions {
            let now = self.clock.now();
            let mark = Price::new(mark).ok().filter(|p| !p.value().is_zero());
            let approval = self
                .core()
                .risk
                .approve_flatten(symbol, held, mark, trip_seq, now);
            let approved = match approval {
                Ok(approved) => approved,
                Err(rejection) => {
                    self.count_flatten("refused", rejection.reason.as_str());
                    tracing::warn!(%symbol, %held, trip_seq, reason = %rejection.reason, message = %rejection.message, "ESS flatten: position not sellable; left as is");
                    continue;
                }
            };
            let detail = serde_json::to_string(approved.detail()).unwrap_or_default();
            let mut waits = 0;
            let mut decision = {
                let gates = self.gates_now();
                self.core().executor.decide_flatten(approved, &gates, now)
            };
            loop {
                match decision {
                    FlattenDecision::Send(order) => {
                        self.count_flatten("sent", "flatten");
                        tracing::warn!(%symbol, client_order_id = %order.get().client_order_id(), quantity = %order.get().quantity().value(), trip_seq, %detail, "ESS flatten: selling the position");
                        self.execute(order, Instant::now()).await;
                        sent += 1;
                        break;
                    }
                    FlattenDecision::Blocked { reason, order } => {
                        self.count_flatten("blocked", reason.as_str());
                        tracing::warn!(%symbol, client_order_id = %order.client_order_id(), trip_seq, %reason, "ESS flatten: not sent");
                        break;
                    }
                    FlattenDecision::Wait {
                        retry_in_ms,
                        approved,
                    } => {
                        waits += 1;
                        if waits > MAX_WAITS {
                            self.count_flatten("blocked", "rate_limited");
                            tracing::warn!(%symbol, client_order_id = %approved.get().order().client_order_id(), trip_seq, "ESS flatten: rate limited; not sent");
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(retry_in_ms)).await;
                        let gates = self.gates_now();
                        decision =
                            self.core()
                                .executor
                                .decide_flatten(approved, &gates, self.clock.now());
                    }
                }
            }
        }
        sent
    }

    fn count_flatten(&self, outcome: &str, reason: &str) {
        self.metrics
            .ess_flatten
            .with_label_values(&[outcome, reason])
            .inc();
    }
}
