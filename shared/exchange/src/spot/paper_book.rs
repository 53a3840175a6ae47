use std::collections::{BTreeMap, BTreeSet, HashMap};

use levibot_core::{
    Bar, ClientOrderId, Fill, FillParts, Money, OrderRequest, OrderType, Price, Quantity, Side,
    Symbol, TimeInForce, TimestampMs,
};
use rust_decimal::{Decimal, RoundingStrategy};

use super::asset_pair::AssetPair;
use super::exchange_error::ExchangeError;
use super::fill_ids::paper_fill_id;
use super::order_report::{Balance, OrderRef, OrderReport, OrderStatus};
use super::paper_config::{PaperConfig, PaperConfigError};

/// Decimal places a quantity cut down to what the balance affords is rounded to (down).
const AFFORDABLE_QTY_DP: u32 = 8;
const BPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// One execution of a paper order: the exchange trade id and the fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperTrade {
    /// Trade id, from 1, unique within the book.
    pub trade_id: u64,
    /// The fill (fee in the quote asset).
    pub fill: Fill,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Holding {
    free: Decimal,
    locked: Decimal,
}

#[derive(Debug, Clone)]
struct PaperOrder {
    order_id: u64,
    request: OrderRequest,
    pair: AssetPair,
    status: OrderStatus,
    executed: Decimal,
    cumulative_quote: Decimal,
    /// Still reserved for this order: quote for buys, base for sells.
    locked: Decimal,
    trades: Vec<PaperTrade>,
    update_time: TimestampMs,
}

impl PaperOrder {
    fn remaining(&self) -> Decimal {
        self.request.quantity().value() - self.executed
    }

    /// The asset this order reserves.
    fn locked_asset(&self) -> &str {
        match self.request.side() {
            Side::Buy => &self.pair.quote,
            Side::Sell => &self.pair.base,
        }
    }

    fn time_in_force(&self) -> Option<TimeInForce> {
        match self.request.order_type() {
            OrderType::Market => None,
            OrderType::Limit { time_in_force, .. } => Some(time_in_force),
        }
    }
}

/// A price and quantity an order may execute at, and how.
#[derive(Debug, Clone, Copy)]
struct Execution {
    price: Decimal,
    max_qty: Decimal,
    is_maker: bool,
    time: TimestampMs,
}

/// The paper exchange's synchronous core: balances, orders and the matching of orders against
/// bars, deterministic and clock-free (every call takes `now`).
///
/// - A market order fills on the **next** bar of its symbol at that bar's open, `slippage_bps`
///   worse (higher for buys, lower for sells).
/// - A limit order fills on a bar that trades **through** its price (low below a buy's price,
///   high above a sell's) at its price, or at the open when the bar opens beyond it; it is a
///   maker fill. IOC/FOK limits get one bar, then expire (FOK: all or nothing).
/// - The orders of a symbol share `max_volume_share` × the bar's volume, oldest first; what
///   does not fit carries to the next bars until filled or cancelled.
/// - Every fill pays `fee_bps` of its notional in the quote asset.
/// - Placing reserves funds (`locked`): the base quantity for sells, quantity × limit price ×
///   (1 + fee) for limit buys, quantity × reference price × (1 + slippage) × (1 + fee) for
///   market buys, the reference price being the last bar's close (or the price given to
///   [`PaperBook::set_reference_price`]). Short funds are Binance's `-2010` insufficient balance;
///   a client order id in use by an open order is `-2010` "Duplicate order sent.". A market buy
///   whose fill costs more than the funds left buys what they afford (rounded down to 8
///   decimals) and expires the rest.
#[derive(Debug, Clone)]
pub struct PaperBook {
    config: PaperConfig,
    balances: BTreeMap<String, Holding>,
    orders: BTreeMap<u64, PaperOrder>,
    open: BTreeSet<u64>,
    by_client_id: HashMap<ClientOrderId, u64>,
    reference_prices: HashMap<Symbol, Decimal>,
    next_order_id: u64,
    next_trade_id: u64,
}

impl PaperBook {
    /// A book with `config.initial_balances` free and no orders.
    ///
    /// # Errors
    ///
    /// The config's first problem ([`PaperConfig::validate`]).
    pub fn new(config: PaperConfig) -> Result<Self, PaperConfigError> {
        config.validate()?;
        let balances = config
            .initial_balances
            .iter()
            .map(|(asset, amount)| {
                (
                    asset.clone(),
                    Holding {
                        free: *amount,
                        locked: Decimal::ZERO,
                    },
                )
            })
            .collect();
        Ok(Self {
            config,
            balances,
            orders: BTreeMap::new(),
            open: BTreeSet::new(),
            by_client_id: HashMap::new(),
            reference_prices: HashMap::new(),
            next_order_id: 1,
            next_trade_id: 1,
        })
    }

    /// The settings.
    #[must_use]
    pub const fn config(&self) -> &PaperConfig {
        &self.config
    }

    /// Adds `amount` to the free balance of `asset`.
    ///
    /// # Errors
    ///
    /// [`ExchangeError::InvalidRequest`] for a negative amount or an overflow.
    pub fn deposit(&mut self, asset: &str, amount: Decimal) -> Result<(), ExchangeError> {
        if amount.is_sign_negative() {
            return Err(ExchangeError::InvalidRequest(format!(
                "deposit of {amount} {asset} is negative"
            )));
        }
        let holding = self.balances.entry(asset.to_owned()).or_default();
        holding.free = holding.free.checked_add(amount).ok_or_else(overflow)?;
        Ok(())
    }

    /// Sets the free balance of `asset` to `amount` (restoring a book after a restart).
    ///
    /// # Errors
    ///
    /// [`ExchangeError::InvalidRequest`] for a negative amount.
    pub fn set_free_balance(&mut self, asset: &str, amount: Decimal) -> Result<(), ExchangeError> {
        if amount.is_sign_negative() {
            return Err(ExchangeError::InvalidRequest(format!(
                "balance of {amount} {asset} is negative"
            )));
        }
        self.balances.entry(asset.to_owned()).or_default().free = amount;
        Ok(())
    }

    /// The price market buys of `symbol` reserve funds against until the next bar (the
    /// simulator sets it from trades).
    pub fn set_reference_price(&mut self, symbol: Symbol, price: Price) {
        self.reference_prices.insert(symbol, price.value());
    }

    /// The last bar's close or the price set with [`PaperBook::set_reference_price`].
    #[must_use]
    pub fn reference_price(&self, symbol: Symbol) -> Option<Decimal> {
        self.reference_prices.get(&symbol).copied()
    }

    /// Accepts `request` as a `NEW` order and reserves its funds; it fills on the next bars
    /// ([`PaperBook::on_bar`]).
    ///
    /// # Errors
    ///
    /// [`ExchangeError::DuplicateOrder`] if an open order has the client order id,
    /// [`ExchangeError::InsufficientBalance`] if the free balance does not cover the
    /// reservation, `-1121` invalid symbol if no quote asset fits the symbol.
    pub fn place(
        &mut self,
        request: &OrderRequest,
        now: TimestampMs,
    ) -> Result<OrderReport, ExchangeError> {
        let order_id = self.accept(request, now)?;
        self.report(order_id, true)
    }

    /// Accepts `request` and executes it at once against `price` (the simulator's "latest
    /// price", no volume cap): a market order fills completely at `price` ± slippage; a limit
    /// order that `price` reaches (buy: price ≤ limit, sell: price ≥ limit) fills completely at
    /// `price` as a taker, otherwise it rests (GTC) or expires (IOC/FOK). The report lists the
    /// fills made.
    ///
    /// # Errors
    ///
    /// As [`PaperBook::place`].
    pub fn place_at_price(
        &mut self,
        request: &OrderRequest,
        price: Price,
        now: TimestampMs,
    ) -> Result<OrderReport, ExchangeError> {
        self.reference_prices
            .insert(request.symbol(), price.value());
        let order_id = self.accept(request, now)?;
        let price = price.value();
        let reached = match (request.order_type(), request.side()) {
            (OrderType::Market, side) => Some(self.market_price(side, price)),
            (OrderType::Limit { price: limit, .. }, Side::Buy) => {
                (price <= limit.value()).then_some(price)
            }
            (OrderType::Limit { price: limit, .. }, Side::Sell) => {
                (price >= limit.value()).then_some(price)
            }
        };
        let fill_or_kill = matches!(
            request.order_type(),
            OrderType::Limit {
                time_in_force: TimeInForce::Fok,
                ..
            }
        );
        if let Some(price) = reached {
            let execution = Execution {
                price,
                max_qty: request.quantity().value(),
                is_maker: false,
                time: now,
            };
            self.execute(order_id, execution, now, !fill_or_kill);
        }
        let immediate_only = self
            .orders
            .get(&order_id)
            .and_then(PaperOrder::time_in_force)
            .is_some_and(|tif| tif != TimeInForce::Gtc);
        if immediate_only && self.open.contains(&order_id) {
            self.close(order_id, OrderStatus::Expired, now);
        }
        self.report(order_id, true)
    }

    /// Executes the open orders of the bar's symbol against it (see the type's doc), then
    /// makes its close the symbol's reference price. Returns the fills, in order.
    pub fn on_bar(&mut self, bar: &Bar, now: TimestampMs) -> Vec<Fill> {
        let symbol = bar.symbol();
        let mut budget = self.config.max_volume_share.map(|share| {
            share
                .checked_mul(bar.volume().value())
                .unwrap_or(Decimal::MAX)
        });
        let ids: Vec<u64> = self
            .open
            .iter()
            .copied()
            .filter(|id| {
                self.orders
                    .get(id)
                    .is_some_and(|o| o.request.symbol() == symbol)
            })
            .collect();
        let mut fills = Vec::new();
        for id in ids {
            let Some(order) = self.orders.get(&id) else {
                continue;
            };
            let side = order.request.side();
            let one_bar_only = matches!(
                order.time_in_force(),
                Some(TimeInForce::Ioc | TimeInForce::Fok)
            );
            let open = bar.open().value();
            let price = match order.request.order_type() {
                OrderType::Market => Some(self.market_price(side, open)),
                OrderType::Limit { price, .. } => {
                    let limit = price.value();
                    match side {
                        Side::Buy => (bar.low().value() < limit).then(|| open.min(limit)),
                        Side::Sell => (bar.high().value() > limit).then(|| open.max(limit)),
                    }
                }
            };
            let Some(price) = price else {
                if one_bar_only {
                    self.close(id, OrderStatus::Expired, now);
                }
                continue;
            };
            let remaining = order.remaining();
            let max_qty = budget.map_or(remaining, |b| b.min(remaining));
            let fill_or_kill = order.time_in_force() == Some(TimeInForce::Fok);
            if fill_or_kill && max_qty < remaining {
                self.close(id, OrderStatus::Expired, now);
                continue;
            }
            let execution = Execution {
                price,
                max_qty,
                is_maker: !order.request.order_type().is_market(),
                time: bar.open_time(),
            };
            if max_qty > Decimal::ZERO
                && let Some(fill) = self.execute(id, execution, now, !fill_or_kill)
            {
                if let Some(b) = budget.as_mut() {
                    *b -= fill.quantity().value().min(*b);
                }
                fills.push(fill);
            }
            if one_bar_only && self.open.contains(&id) {
                self.close(id, OrderStatus::Expired, now);
            }
        }
        self.reference_prices.insert(symbol, bar.close().value());
        fills
    }

    /// Cancels an open order of `symbol` and frees what it reserved.
    ///
    /// # Errors
    ///
    /// [`ExchangeError::CancelRejected`] ("Unknown order sent.") if no open order matches.
    pub fn cancel(
        &mut self,
        symbol: Symbol,
        order: &OrderRef,
        now: TimestampMs,
    ) -> Result<OrderReport, ExchangeError> {
        let id = self
            .find(symbol, order)
            .filter(|id| self.open.contains(id))
            .ok_or_else(ExchangeError::unknown_order)?;
        self.close(id, OrderStatus::Canceled, now);
        self.report(id, true)
    }

    /// The order's report, all fills included.
    ///
    /// # Errors
    ///
    /// [`ExchangeError::NoSuchOrder`] if no order of `symbol` matches.
    pub fn query(&self, symbol: Symbol, order: &OrderRef) -> Result<OrderReport, ExchangeError> {
        let id = self
            .find(symbol, order)
            .ok_or_else(ExchangeError::no_such_order)?;
        self.report(id, true)
    }

    /// The trades of order `order_id` (empty if unknown).
    #[must_use]
    pub fn order_trades(&self, order_id: u64) -> &[PaperTrade] {
        self.orders
            .get(&order_id)
            .map_or(&[], |o| o.trades.as_slice())
    }

    /// Open orders of `symbol` (or all), oldest first, without fills.
    #[must_use]
    pub fn open_orders(&self, symbol: Option<Symbol>) -> Vec<OrderReport> {
        self.open
            .iter()
            .filter(|id| {
                symbol.is_none_or(|s| self.orders.get(id).is_some_and(|o| o.request.symbol() == s))
            })
            .filter_map(|id| self.report(*id, false).ok())
            .collect()
    }

    /// Every asset with a non-zero balance, by name.
    #[must_use]
    pub fn balances(&self) -> Vec<Balance> {
        self.balances
            .iter()
            .filter(|(_, h)| !h.free.is_zero() || !h.locked.is_zero())
            .map(|(asset, h)| Balance {
                asset: asset.clone(),
                free: h.free,
                locked: h.locked,
            })
            .collect()
    }

    /// The balance of `asset` (zero if never held).
    #[must_use]
    pub fn balance(&self, asset: &str) -> Balance {
        let h = self.balances.get(asset).copied().unwrap_or_default();
        Balance {
            asset: asset.to_owned(),
            free: h.free,
            locked: h.locked,
        }
    }

    fn accept(&mut self, request: &OrderRequest, now: TimestampMs) -> Result<u64, ExchangeError> {
        let symbol = request.symbol();
        let pair = AssetPair::split(symbol, &self.config.quote_assets)
            .ok_or_else(ExchangeError::invalid_symbol)?;
        if let Some(id) = self.by_client_id.get(request.client_order_id())
            && self.open.contains(id)
        {
            return Err(ExchangeError::duplicate_order());
        }
        let qty = request.quantity().value();
        let fee = Decimal::ONE + self.config.fee_bps / BPS;
        let (asset, reserve) = match (request.side(), request.order_type()) {
            (Side::Sell, _) => (&pair.base, Some(qty)),
            (Side::Buy, OrderType::Limit { price, .. }) => (
                &pair.quote,
                qty.checked_mul(price.value())
                    .and_then(|n| n.checked_mul(fee)),
            ),
            (Side::Buy, OrderType::Market) => {
                let reserve = match self.reference_prices.get(&symbol) {
                    Some(reference) => qty
                        .checked_mul(self.market_price(Side::Buy, *reference))
                        .and_then(|n| n.checked_mul(fee)),
                    // no price yet: reserve nothing, the fill takes what the balance affords
                    None => Some(Decimal::ZERO),
                };
                (&pair.quote, reserve)
            }
        };
        let reserve = reserve.ok_or_else(overflow)?;
        let holding = self
            .balances
            .get(asset.as_str())
            .copied()
            .unwrap_or_default();
        if holding.free < reserve || holding.free <= Decimal::ZERO {
            return Err(ExchangeError::insufficient_balance());
        }
        let entry = self.balances.entry(asset.clone()).or_default();
        entry.free -= reserve;
        entry.locked += reserve;
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        self.orders.insert(
            order_id,
            PaperOrder {
                order_id,
                request: request.clone(),
                pair,
                status: OrderStatus::New,
                executed: Decimal::ZERO,
                cumulative_quote: Decimal::ZERO,
                locked: reserve,
                trades: Vec::new(),
                update_time: now,
            },
        );
        self.open.insert(order_id);
        self.by_client_id
            .insert(request.client_order_id().clone(), order_id);
        Ok(order_id)
    }

    /// `price` moved `slippage_bps` against a `side` market order.
    fn market_price(&self, side: Side, price: Decimal) -> Decimal {
        let slip = self.config.slippage_bps / BPS;
        let factor = match side {
            Side::Buy => Decimal::ONE + slip,
            Side::Sell => Decimal::ONE - slip,
        };
        price.checked_mul(factor).unwrap_or(price)
    }

    /// Fills up to `execution.max_qty` of an open order (less if a buy's funds run short;
    /// with `allow_partial_funds` false nothing then), updating balances. A market order
    /// whose funds ran short expires the rest. Returns the fill, if any.
    fn execute(
        &mut self,
        order_id: u64,
        execution: Execution,
        now: TimestampMs,
        allow_partial_funds: bool,
    ) -> Option<Fill> {
        let fee_rate = self.config.fee_bps / BPS;
        let order = self.orders.get(&order_id)?;
        let side = order.request.side();
        let (base, quote) = (order.pair.base.clone(), order.pair.quote.clone());
        let mut qty = execution.max_qty.min(order.remaining());
        let mut funds_short = false;
        if side == Side::Buy {
            let available =
                order.locked + self.balances.get(&quote).map_or(Decimal::ZERO, |h| h.free);
            let unit_cost = execution.price.checked_mul(Decimal::ONE + fee_rate)?;
            let cost = qty.checked_mul(unit_cost)?;
            if cost > available {
                funds_short = true;
                qty = if allow_partial_funds {
                    available
                        .checked_div(unit_cost)?
                        .round_dp_with_strategy(AFFORDABLE_QTY_DP, RoundingStrategy::ToZero)
                        .min(qty)
                } else {
                    Decimal::ZERO
                };
            }
        }
        let fill = if qty > Decimal::ZERO {
            self.apply_fill(order_id, qty, execution, now, (&base, &quote))
        } else {
            None
        };
        let is_market = self
            .orders
            .get(&order_id)
            .is_some_and(|o| o.request.order_type().is_market());
        if funds_short && is_market && self.open.contains(&order_id) {
            self.close(order_id, OrderStatus::Expired, now);
        }
        fill
    }

    /// Books one fill of `qty` at `execution.price`: balances, the order's totals and status.
    fn apply_fill(
        &mut self,
        order_id: u64,
        qty: Decimal,
        execution: Execution,
        now: TimestampMs,
        (base, quote): (&str, &str),
    ) -> Option<Fill> {
        let fee_rate = self.config.fee_bps / BPS;
        let notional = qty.checked_mul(execution.price)?;
        let fee = notional.checked_mul(fee_rate)?;
        let trade_id = self.next_trade_id;
        let order = self.orders.get(&order_id)?;
        let side = order.request.side();
        let fill = Fill::new(FillParts {
            fill_id: paper_fill_id(execution.time, trade_id),
            client_order_id: order.request.client_order_id().clone(),
            symbol: order.request.symbol(),
            side,
            price: Price::new(execution.price).ok()?,
            quantity: Quantity::new(qty).ok()?,
            fee: Money::new(fee),
            fee_asset: quote.to_owned(),
            is_maker: execution.is_maker,
            exchange_time: execution.time,
            receive_time: now,
        })
        .ok()?;
        let order_locked = order.locked;
        self.next_trade_id += 1;
        match side {
            Side::Buy => {
                let cost = notional.checked_add(fee)?;
                let from_lock = cost.min(order_locked);
                let q = self.balances.entry(quote.to_owned()).or_default();
                q.locked -= from_lock;
                q.free -= cost - from_lock;
                let b = self.balances.entry(base.to_owned()).or_default();
                b.free = b.free.saturating_add(qty);
                if let Some(order) = self.orders.get_mut(&order_id) {
                    order.locked -= from_lock;
                }
            }
            Side::Sell => {
                self.balances.entry(base.to_owned()).or_default().locked -= qty;
                let q = self.balances.entry(quote.to_owned()).or_default();
                q.free = q.free.saturating_add(notional - fee);
                if let Some(order) = self.orders.get_mut(&order_id) {
                    order.locked -= qty;
                }
            }
        }
        let order = self.orders.get_mut(&order_id)?;
        order.executed += qty;
        order.cumulative_quote = order.cumulative_quote.saturating_add(notional);
        order.update_time = now;
        order.trades.push(PaperTrade {
            trade_id,
            fill: fill.clone(),
        });
        if order.remaining() <= Decimal::ZERO {
            self.close(order_id, OrderStatus::Filled, now);
        } else {
            order.status = OrderStatus::PartiallyFilled;
        }
        Some(fill)
    }

    /// Ends an open order with `status` and frees what it still reserves.
    fn close(&mut self, order_id: u64, status: OrderStatus, now: TimestampMs) {
        let Some(order) = self.orders.get_mut(&order_id) else {
            return;
        };
        order.status = status;
        order.update_time = now;
        let released = std::mem::take(&mut order.locked);
        let asset = order.locked_asset().to_owned();
        self.open.remove(&order_id);
        if !released.is_zero() {
            let holding = self.balances.entry(asset).or_default();
            holding.locked -= released;
            holding.free += released;
        }
    }

    fn find(&self, symbol: Symbol, order: &OrderRef) -> Option<u64> {
        let id = match order {
            OrderRef::ExchangeId(id) => *id,
            OrderRef::ClientId(client_id) => *self.by_client_id.get(client_id)?,
        };
        self.orders
            .get(&id)
            .filter(|o| o.request.symbol() == symbol)
            .map(|o| o.order_id)
    }

    fn report(&self, order_id: u64, with_fills: bool) -> Result<OrderReport, ExchangeError> {
        let order = self
            .orders
            .get(&order_id)
            .ok_or_else(ExchangeError::no_such_order)?;
        Ok(OrderReport {
            symbol: order.request.symbol(),
            order_id,
            client_order_id: order.request.client_order_id().clone(),
            side: order.request.side(),
            order_type: Some(order.request.order_type()),
            status: order.status,
            orig_qty: order.request.quantity(),
            executed_qty: Quantity::new(order.executed)
                .map_err(|e| ExchangeError::InvalidRequest(format!("executed quantity: {e}")))?,
            cumulative_quote_qty: order.cumulative_quote,
            fills: if with_fills {
                order.trades.iter().map(|t| t.fill.clone()).collect()
            } else {
                Vec::new()
            },
            update_time: order.update_time,
        })
    }
}

fn overflow() -> ExchangeError {
    ExchangeError::InvalidRequest("order amount overflows".to_owned())
}
