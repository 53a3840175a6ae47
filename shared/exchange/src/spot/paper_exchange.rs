use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::FutureExt;
use futures::future::BoxFuture;
use levibot_core::{Bar, Clock, Fill, OrderRequest, Symbol};

use super::exchange_error::ExchangeError;
use super::order_report::{Balance, OrderRef, OrderReport};
use super::paper_book::PaperBook;
use super::paper_config::{PaperConfig, PaperConfigError};
use super::request_weight::SpotCall;
use super::spot_exchange::SpotExchange;
use super::symbol_rules::SymbolRules;

/// The paper exchange behind [`SpotExchange`]: a [`PaperBook`] behind a mutex, timed by an
/// injected clock. Feed it every closed bar ([`PaperExchange::on_bar`]); orders fill there.
pub struct PaperExchange {
    book: Mutex<PaperBook>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for PaperExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaperExchange")
            .field("balances", &self.lock().balances())
            .finish_non_exhaustive()
    }
}

impl PaperExchange {
    /// A paper exchange with `config`'s balances, timed by `clock` (a `LiveClock` for paper
    /// trading, a `HistoricalClock` in backtests).
    ///
    /// # Errors
    ///
    /// The config's first problem.
    pub fn new(config: PaperConfig, clock: Arc<dyn Clock>) -> Result<Self, PaperConfigError> {
        Ok(Self {
            book: Mutex::new(PaperBook::new(config)?),
            clock,
        })
    }

    /// Matches the open orders of the bar's symbol against it; the fills, in order.
    pub fn on_bar(&self, bar: &Bar) -> Vec<Fill> {
        let now = self.clock.now();
        self.lock().on_bar(bar, now)
    }

    /// Runs `f` on the book (deposits, inspection, tests).
    pub fn with_book<R>(&self, f: impl FnOnce(&mut PaperBook) -> R) -> R {
        f(&mut self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, PaperBook> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SpotExchange for PaperExchange {
    fn name(&self) -> &'static str {
        "paper"
    }

    fn place_order<'a>(
        &'a self,
        request: &'a OrderRequest,
    ) -> BoxFuture<'a, Result<OrderReport, ExchangeError>> {
        let now = self.clock.now();
        futures::future::ready(self.lock().place(request, now)).boxed()
    }

    fn cancel_order<'a>(
        &'a self,
        symbol: Symbol,
        order: &'a OrderRef,
    ) -> BoxFuture<'a, Result<OrderReport, ExchangeError>> {
        let now = self.clock.now();
        futures::future::ready(self.lock().cancel(symbol, order, now)).boxed()
    }

    fn query_order<'a>(
        &'a self,
        symbol: Symbol,
        order: &'a OrderRef,
    ) -> BoxFuture<'a, Result<OrderReport, ExchangeError>> {
        futures::future::ready(self.lock().query(symbol, order)).boxed()
    }

    fn open_orders(
        &self,
        symbol: Option<Symbol>,
    ) -> BoxFuture<'_, Result<Vec<OrderReport>, ExchangeError>> {
        futures::future::ready(Ok(self.lock().open_orders(symbol))).boxed()
    }

    fn balances(&self) -> BoxFuture<'_, Result<Vec<Balance>, ExchangeError>> {
        futures::future::ready(Ok(self.lock().balances())).boxed()
    }

    fn symbol_rules<'a>(
        &'a self,
        symbols: &'a [Symbol],
    ) -> BoxFuture<'a, Result<BTreeMap<Symbol, SymbolRules>, ExchangeError>> {
        let book = self.lock();
        let configured = &book.config().symbol_rules;
        let rules = symbols
            .iter()
            .filter_map(|symbol| Some((*symbol, configured.get(symbol)?.clone())))
            .collect();
        futures::future::ready(Ok(rules)).boxed()
    }

    fn used_weight_1m(&self) -> Option<u64> {
        None
    }

    fn call_weight(&self, _call: SpotCall) -> u32 {
        0
    }
}
