use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use levibot_core::{Price, Symbol, TimestampMs};

use super::sim_data::{KlineSeries, SimEvent};
use crate::binance::{MarketEvent, parse_message};
use crate::spot::{Credentials, PaperBook, PaperConfig, PaperConfigError, SigningKey, SpotCall};

/// Turns on the simulator's spot account: the signed endpoints `POST`/`GET`/`DELETE
/// /api/v3/order`, `GET /api/v3/openOrders`, `/api/v3/account` and `/api/v3/myTrades`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimTradingConfig {
    /// The API key requests must carry (`X-MBX-APIKEY`) and the secret their signatures are
    /// checked with.
    pub credentials: Credentials,
    /// Balances, fees and slippage of the account. Orders execute at once against the latest
    /// price (no volume cap); resting limit orders fill on the closed klines the timeline
    /// plays, within `max_volume_share`.
    pub paper: PaperConfig,
}

/// A failure the simulator answers the next trading requests with
/// ([`SimControl::fail_next_orders`](super::SimControl::fail_next_orders)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimFault {
    /// HTTP 500 `-1001`; the request is not executed.
    ServerError,
    /// The request IS executed, then HTTP 408 `-1007` "Timeout waiting for response from
    /// backend server. Send status unknown; execution status unknown.".
    ExecutionUnknown,
    /// Hold the request this long (past the client's timeout), then execute and answer it.
    Stall(Duration),
    /// Execute the request at once, then hold the answer this long (the client, or the
    /// process it runs in, may be gone by then).
    StallAfterExecution(Duration),
    /// HTTP 429 `-1003` with `Retry-After: retry_after_secs`; not executed.
    RateLimited {
        /// The `Retry-After` header, seconds.
        retry_after_secs: u64,
    },
    /// HTTP 418 `-1003` (IP banned) with `Retry-After: retry_after_secs`; not executed.
    IpBanned {
        /// The `Retry-After` header, seconds.
        retry_after_secs: u64,
    },
    /// `-2010` "Account has insufficient balance for requested action."; not executed.
    InsufficientBalance,
    /// The request IS executed, then the connection is dropped without an answer (the order
    /// was accepted but its response lost).
    ResponseLost,
}

/// A signed trading endpoint of the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimEndpoint {
    /// `POST /api/v3/order`.
    PlaceOrder,
    /// `DELETE /api/v3/order`.
    CancelOrder,
    /// `GET /api/v3/order`.
    QueryOrder,
    /// `GET /api/v3/openOrders`.
    OpenOrders,
    /// `GET /api/v3/account`.
    Account,
    /// `GET /api/v3/myTrades`.
    MyTrades,
}

impl SimEndpoint {
    /// The request weight charged (openOrders: as with a symbol; 80 without is charged by the
    /// handler).
    pub(crate) const fn call(self) -> SpotCall {
        match self {
            Self::PlaceOrder => SpotCall::PlaceOrder,
            Self::CancelOrder => SpotCall::CancelOrder,
            Self::QueryOrder => SpotCall::QueryOrder,
            Self::OpenOrders => SpotCall::OpenOrdersForSymbol,
            Self::Account => SpotCall::Account,
            Self::MyTrades => SpotCall::OrderTrades,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct PendingFault {
    endpoint: Option<SimEndpoint>,
    fault: SimFault,
    remaining: u32,
}

/// The simulator's spot account: a [`PaperBook`], the latest price per symbol, pending faults.
#[derive(Debug)]
pub(crate) struct SimTrading {
    api_key: String,
    key: SigningKey,
    book: Mutex<PaperBook>,
    prices: Mutex<HashMap<Symbol, Price>>,
    overrides: Mutex<HashMap<Symbol, Price>>,
    faults: Mutex<Vec<PendingFault>>,
    next_generated_id: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SimTrading {
    /// An account with `config`'s balances; every symbol with klines starts at its first
    /// kline's open.
    pub(crate) fn new(
        config: &SimTradingConfig,
        klines: &KlineSeries,
    ) -> Result<Self, PaperConfigError> {
        let mut prices = HashMap::new();
        let mut first_open: HashMap<Symbol, (TimestampMs, Price)> = HashMap::new();
        for ((symbol, _), series) in klines {
            if let Some(first) = series.first() {
                let candidate = (first.bar.open_time(), first.bar.open());
                first_open
                    .entry(*symbol)
                    .and_modify(|c| {
                        if candidate.0 < c.0 {
                            *c = candidate;
                        }
                    })
                    .or_insert(candidate);
            }
        }
        for (symbol, (_, price)) in first_open {
            prices.insert(symbol, price);
        }
        Ok(Self {
            api_key: config.credentials.api_key().to_owned(),
            key: SigningKey::new(config.credentials.api_secret()),
            book: Mutex::new(PaperBook::new(config.paper.clone())?),
            prices: Mutex::new(prices),
            overrides: Mutex::new(HashMap::new()),
            faults: Mutex::new(Vec::new()),
            next_generated_id: AtomicU64::new(1),
        })
    }

    pub(crate) fn api_key(&self) -> &str {
        &self.api_key
    }

    pub(crate) const fn key(&self) -> &SigningKey {
        &self.key
    }

    pub(crate) fn book(&self) -> MutexGuard<'_, PaperBook> {
        lock(&self.book)
    }

    /// The price orders of `symbol` execute at: the control's override, else the latest
    /// played trade or kline, else the first kline's open.
    pub(crate) fn price(&self, symbol: Symbol) -> Option<Price> {
        if let Some(price) = lock(&self.overrides).get(&symbol) {
            return Some(*price);
        }
        lock(&self.prices).get(&symbol).copied()
    }

    pub(crate) fn set_price(&self, symbol: Symbol, price: Option<Price>) {
        let mut overrides = lock(&self.overrides);
        match price {
            Some(price) => overrides.insert(symbol, price),
            None => overrides.remove(&symbol),
        };
    }

    /// A fresh id for what the client left unnamed (`newClientOrderId`, a cancel's id).
    pub(crate) fn generated_id(&self, prefix: &str) -> String {
        let n = self.next_generated_id.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}{n}")
    }

    pub(crate) fn add_fault(&self, endpoint: Option<SimEndpoint>, n: u32, fault: SimFault) {
        if n > 0 {
            lock(&self.faults).push(PendingFault {
                endpoint,
                fault,
                remaining: n,
            });
        }
    }

    /// The first pending fault for `endpoint`, used up by one.
    pub(crate) fn take_fault(&self, endpoint: SimEndpoint) -> Option<SimFault> {
        let mut faults = lock(&self.faults);
        let index = faults
            .iter()
            .position(|f| f.endpoint.is_none_or(|e| e == endpoint))?;
        let entry = faults.get_mut(index)?;
        let fault = entry.fault;
        entry.remaining -= 1;
        if entry.remaining == 0 {
            faults.remove(index);
        }
        Some(fault)
    }

    /// Follows the timeline: trades and kline updates move the price; closed klines also fill
    /// resting limit orders.
    pub(crate) fn on_event(&self, event: &SimEvent, now: TimestampMs) {
        let Ok(parsed) = parse_message(&event.envelope(), now) else {
            return;
        };
        let (symbol, price) = match parsed {
            MarketEvent::Trade(trade) => (trade.symbol, trade.price),
            MarketEvent::KlineUpdate(update) => (update.symbol, update.close),
            MarketEvent::Bar(closed) => {
                let fills = self.book().on_bar(&closed.bar, now);
                if !fills.is_empty() {
                    tracing::debug!(fills = fills.len(), "simulator filled resting orders");
                }
                (closed.bar.symbol(), closed.bar.close())
            }
            MarketEvent::ServerShutdown(_) | MarketEvent::Ignored(_) => return,
        };
        lock(&self.prices).insert(symbol, price);
    }
}
