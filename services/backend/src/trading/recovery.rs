//! Start-up recovery. A backend that stopped mid-order (a crash, a deploy, an OOM kill) left
//! orders the trade-store holds as open: recorded before sending, perhaps sent, perhaps
//! filled. Before any engine runs, the desk
//!
//! 1. rebuilds its book (cash, positions, realized PnL, fees) from every stored fill;
//! 2. on the paper exchange (which lives in this process and died with it), restores the
//!    balances the book holds;
//! 3. asks the exchange about every order still open in the store, by its client order id
//!    (never by sending it again): an order the exchange knows is tracked again to
//!    completion; one it does not know, once the exchange's receive window has passed, was
//!    never placed and is closed as expired.

use std::collections::BTreeMap;
use std::time::Duration;

use levibot_core::{Fill, OrderRequest};
use levibot_exchange::spot::{AssetPair, DEFAULT_QUOTE_ASSETS, ExchangeError, OrderRef};
use levibot_proto::v1::{self, QueryFillsRequest, QueryOrdersRequest, TimeRange};
use tonic::Code;

use super::TradingDesk;
use super::wire::OrderState;

/// How long after its creation an order may still reach the exchange (Binance refuses a
/// request older than its `recvWindow`, 5 s by default; a margin for clock skew on top).
pub const LATE_ARRIVAL_WINDOW_MS: i64 = 10_000;

/// What recovery found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Stored fills applied to the book.
    pub fills: usize,
    /// Open orders found on the exchange and tracked again.
    pub resumed: usize,
    /// Open orders the exchange does not know, closed as expired.
    pub expired: usize,
    /// Open orders the exchange could not be asked about (left for reconciliation).
    pub unresolved: usize,
}

impl TradingDesk {
    /// Rebuilds the book and resumes the open orders; see the module doc.
    ///
    /// # Errors
    ///
    /// The trade-store could not be read: trading on a book that forgets positions would be
    /// wrong, so the caller must not start the engines.
    pub async fn recover(&self) -> Result<RecoveryReport, String> {
        let mut report = RecoveryReport::default();
        let mut fills = self.stored(StoredKind::Fills).await?.fills;
        fills.sort_by_key(|f| (f.exchange_time_ms, f.fill_id.clone()));
        let fills: Vec<Fill> = fills
            .iter()
            .filter_map(|f| match Fill::try_from(f) {
                Ok(fill) => Some(fill),
                Err(err) => {
                    tracing::error!(fill = %f.fill_id, error = %err, "a stored fill does not parse; skipped");
                    None
                }
            })
            .collect();
        {
            let mut book = self.book();
            for fill in &fills {
                book.apply_fill(fill);
            }
        }
        report.fills = fills.len();
        if let Some(paper) = &self.paper {
            self.restore_paper_balances(paper);
        }
        let open: Vec<(OrderRequest, v1::Order)> = self
            .stored(StoredKind::Orders)
            .await?
            .orders
            .into_iter()
            .filter(|o| {
                matches!(
                    v1::OrderStatus::try_from(o.status),
                    Ok(v1::OrderStatus::New | v1::OrderStatus::PartiallyFilled)
                )
            })
            .filter_map(|o| {
                let request = o.request.as_ref().map(OrderRequest::try_from)?.ok()?;
                Some((request, o))
            })
            .collect();
        for (request, stored) in open {
            match self.resume_order(&request, &stored, &fills).await {
                Resumed::Tracked => report.resumed += 1,
                Resumed::Expired => report.expired += 1,
                Resumed::Unresolved => report.unresolved += 1,
            }
        }
        tracing::info!(?report, "recovered the book and the open orders");
        Ok(report)
    }

    /// Sets the paper exchange's balances to the book's cash and positions.
    fn restore_paper_balances(&self, paper: &levibot_exchange::spot::PaperExchange) {
        let (cash, positions) = self.book().holdings();
        paper.with_book(|book| {
            let quote = DEFAULT_QUOTE_ASSETS.first().copied().unwrap_or("USDT");
            let mut targets: BTreeMap<String, rust_decimal::Decimal> = BTreeMap::new();
            targets.insert(quote.to_owned(), cash);
            for (symbol, quantity) in positions {
                if let Some(pair) = AssetPair::split(symbol, &DEFAULT_QUOTE_ASSETS) {
                    *targets.entry(pair.base.to_owned()).or_default() += quantity;
                }
            }
            for (asset, amount) in targets {
                if let Err(err) = book.set_free_balance(&asset, amount) {
                    tracing::error!(%asset, %amount, error = %err, "cannot restore a paper balance");
                }
            }
        });
    }

    async fn resume_order(
        &self,
        request: &OrderRequest,
        stored: &v1::Order,
        fills: &[Fill],
    ) -> Resumed {
        let id = request.client_order_id().clone();
        let symbol = request.symbol();
        let query = OrderRef::ClientId(id.clone());
        let mut answer = self.exchange.query_order(symbol, &query).await;
        // A request sent just before the stop may still reach a remote exchange: wait out
        // the window before concluding it never will (the paper exchange died with us).
        if self.paper.is_none() && matches!(answer, Err(ExchangeError::NoSuchOrder { .. })) {
            let age = self.clock.now().as_i64() - request.created_at().as_i64();
            if age < LATE_ARRIVAL_WINDOW_MS {
                let wait = u64::try_from(LATE_ARRIVAL_WINDOW_MS - age).unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                answer = self.exchange.query_order(symbol, &query).await;
            }
        }
        match answer {
            Ok(report) => {
                self.track(request);
                self.book()
                    .reserve(id.clone(), symbol, request.side(), request.quantity());
                // fills already in the store are in the book: the tracker learns them
                // without applying them twice
                self.seed_tracker(&id, fills.iter().filter(|f| f.client_order_id() == &id));
                self.apply_report(request, &report).await;
                tracing::info!(client_order_id = %id, status = ?report.status, "resumed an open order after a restart");
                Resumed::Tracked
            }
            Err(ExchangeError::NoSuchOrder { .. }) => {
                let state = OrderState {
                    status: v1::OrderStatus::Expired,
                    exchange_order_id: stored.exchange_order_id.clone(),
                    filled_quantity: stored.filled_quantity.clone(),
                    average_price: stored.average_price.clone(),
                    updated: self.clock.now(),
                    reject_reason: "not on the exchange after a restart: never placed",
                };
                tracing::warn!(client_order_id = %id, "a recorded order never reached the exchange; closed as expired");
                if let Err(status) = self.record(request, &state).await {
                    tracing::error!(client_order_id = %id, error = %status, "cannot record the expired order");
                }
                self.publish_order(request, &state).await;
                Resumed::Expired
            }
            Err(err) => {
                tracing::error!(client_order_id = %id, error = %err, "cannot ask the exchange about an open order; leaving it to reconciliation");
                Resumed::Unresolved
            }
        }
    }

    /// Every stored fill or order, whatever their number: a range the store refuses as too
    /// large is split in two.
    async fn stored(&self, kind: StoredKind) -> Result<Stored, String> {
        let mut out = Stored::default();
        let mut ranges = vec![(0_i64, self.clock.now().as_i64() + 1)];
        while let Some((from, to)) = ranges.pop() {
            let range = Some(TimeRange {
                from_ms: from,
                to_ms: to,
            });
            let mut store = self.store.clone();
            let answer = match kind {
                StoredKind::Fills => store
                    .query_fills(QueryFillsRequest {
                        symbol: String::new(),
                        range,
                    })
                    .await
                    .map(|r| out.fills.extend(r.into_inner().fills)),
                StoredKind::Orders => store
                    .query_orders(QueryOrdersRequest {
                        symbol: String::new(),
                        range,
                    })
                    .await
                    .map(|r| out.orders.extend(r.into_inner().orders)),
            };
            match answer {
                Ok(()) => {}
                Err(status)
                    if status.code() == Code::InvalidArgument
                        && status.message().contains("narrow the range")
                        && to - from > 1 =>
                {
                    let middle = from + (to - from) / 2;
                    ranges.push((from, middle));
                    ranges.push((middle, to));
                }
                Err(status) => {
                    return Err(format!(
                        "cannot read the stored {}: {}",
                        kind.name(),
                        status.message()
                    ));
                }
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy)]
enum StoredKind {
    Fills,
    Orders,
}

impl StoredKind {
    const fn name(self) -> &'static str {
        match self {
            Self::Fills => "fills",
            Self::Orders => "orders",
        }
    }
}

#[derive(Debug, Default)]
struct Stored {
    fills: Vec<v1::Fill>,
    orders: Vec<v1::Order>,
}

enum Resumed {
    Tracked,
    Expired,
    Unresolved,
}
