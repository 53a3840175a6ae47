use std::collections::BTreeMap;

use futures::future::BoxFuture;
use levibot_core::{OrderRequest, Symbol};

use super::exchange_error::ExchangeError;
use super::order_report::{Balance, OrderRef, OrderReport};
use super::request_weight::SpotCall;
use super::symbol_rules::SymbolRules;

/// A spot exchange the executor trades on: the paper exchange
/// ([`PaperExchange`](super::PaperExchange)) or Binance
/// ([`BinanceSpotClient`](super::BinanceSpotClient)), chosen at run time and held as
/// `Arc<dyn SpotExchange>`.
///
/// Every method answers in Binance's terms whatever the backend: the same
/// [`OrderReport`]s and the same [`ExchangeError`]s (a duplicate client order id is
/// [`ExchangeError::DuplicateOrder`] on both, a short balance
/// [`ExchangeError::InsufficientBalance`]). After an error whose
/// [`outcome_unknown`](ExchangeError::outcome_unknown) is true, query by client order id before
/// anything else.
pub trait SpotExchange: Send + Sync + std::fmt::Debug {
    /// `"paper"` or `"binance"`, for logs and metrics.
    fn name(&self) -> &'static str;

    /// Places `request` with its client order id (`newClientOrderId`), asking for the full
    /// answer (fills included). A market order on the paper exchange comes back `NEW` and
    /// fills on the next bar.
    fn place_order<'a>(
        &'a self,
        request: &'a OrderRequest,
    ) -> BoxFuture<'a, Result<OrderReport, ExchangeError>>;

    /// Cancels an open order. An order that is not open (unknown, filled, already cancelled)
    /// is [`ExchangeError::CancelRejected`] ("Unknown order sent.").
    fn cancel_order<'a>(
        &'a self,
        symbol: Symbol,
        order: &'a OrderRef,
    ) -> BoxFuture<'a, Result<OrderReport, ExchangeError>>;

    /// The order's state and fills. Unknown: [`ExchangeError::NoSuchOrder`]. By client order
    /// id it finds the most recent order with that id.
    fn query_order<'a>(
        &'a self,
        symbol: Symbol,
        order: &'a OrderRef,
    ) -> BoxFuture<'a, Result<OrderReport, ExchangeError>>;

    /// The open orders of `symbol`, or of every symbol (weight 80 on Binance), oldest first,
    /// without fills.
    fn open_orders(
        &self,
        symbol: Option<Symbol>,
    ) -> BoxFuture<'_, Result<Vec<OrderReport>, ExchangeError>>;

    /// Every asset with a non-zero balance, by asset name.
    fn balances(&self) -> BoxFuture<'_, Result<Vec<Balance>, ExchangeError>>;

    /// The trading rules (lot size, tick size, notional) of `symbols`, to size orders the
    /// exchange accepts.
    ///
    /// Binance (`GET /api/v3/exchangeInfo`, weight 20) answers for every symbol or fails: an
    /// unknown symbol is `-1121` "Invalid symbol.", one missing from the answer an error naming
    /// it. The paper exchange answers with the rules of its config
    /// ([`PaperConfig::symbol_rules`](super::PaperConfig::symbol_rules)) for the symbols that
    /// have some and leaves the others out: an absent symbol means "no exchange rules, use your
    /// defaults". No symbols: an empty map, without a request.
    fn symbol_rules<'a>(
        &'a self,
        symbols: &'a [Symbol],
    ) -> BoxFuture<'a, Result<BTreeMap<Symbol, SymbolRules>, ExchangeError>>;

    /// `X-MBX-USED-WEIGHT-1M` of the last answer (updated after every call, errors included);
    /// `None` before the first answer and on the paper exchange.
    fn used_weight_1m(&self) -> Option<u64>;

    /// The request weight `call` costs on this exchange (0 on the paper exchange).
    fn call_weight(&self, call: SpotCall) -> u32 {
        call.weight()
    }
}
