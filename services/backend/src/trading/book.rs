//! The backend's own book of cash and positions, built from fills, marked to the latest bar:
//! what the risk manager sizes against. Exact decimals throughout.

use std::collections::BTreeMap;

use levibot_core::{ClientOrderId, Fill, Quantity, Side, Symbol, TimestampMs};
use levibot_exchange::spot::{AssetPair, DEFAULT_QUOTE_ASSETS};
use levibot_trading::AccountView;
use levibot_trading::risk::PositionView;
use rust_decimal::Decimal;

#[derive(Debug, Clone, Default)]
struct Position {
    quantity: Decimal,
    /// Cost of what is held (average price × quantity).
    cost: Decimal,
    mark: Decimal,
}

/// A buy approved and sent but not yet filled: its cash and size are reserved so two signals
/// in a row cannot overrun the caps.
#[derive(Debug, Clone)]
struct Pending {
    symbol: Symbol,
    side: Side,
    remaining: Decimal,
}

/// Cash, positions and reservations.
#[derive(Debug, Clone)]
pub struct Book {
    cash: Decimal,
    positions: BTreeMap<Symbol, Position>,
    pending: BTreeMap<ClientOrderId, Pending>,
    realized: Decimal,
    fees: Decimal,
    day_start: TimestampMs,
    day_start_equity: Decimal,
}

impl Book {
    /// A book holding `cash` in the quote asset.
    #[must_use]
    pub fn new(cash: Decimal) -> Self {
        Self {
            cash,
            positions: BTreeMap::new(),
            pending: BTreeMap::new(),
            realized: Decimal::ZERO,
            fees: Decimal::ZERO,
            day_start: TimestampMs::EPOCH,
            day_start_equity: cash,
        }
    }

    /// Marks `symbol` at `price` (the latest close) and rolls the day at UTC midnight.
    pub fn mark(&mut self, symbol: Symbol, price: Decimal, now: TimestampMs) {
        self.positions.entry(symbol).or_default().mark = price;
        let day = now.utc_day_start();
        if day > self.day_start {
            self.day_start = day;
            self.day_start_equity = self.equity();
        }
    }

    /// Reserves an order just sent.
    pub fn reserve(&mut self, id: ClientOrderId, symbol: Symbol, side: Side, quantity: Quantity) {
        self.pending.insert(
            id,
            Pending {
                symbol,
                side,
                remaining: quantity.value(),
            },
        );
    }

    /// Releases whatever is left of an order's reservation (filled, cancelled, rejected).
    pub fn release(&mut self, id: &ClientOrderId) {
        self.pending.remove(id);
    }

    /// Applies one fill (call once per fill id).
    pub fn apply_fill(&mut self, fill: &Fill) {
        let price = fill.price().value();
        let quantity = fill.quantity().value();
        let notional = price * quantity;
        let pair = AssetPair::split(fill.symbol(), &DEFAULT_QUOTE_ASSETS);
        let fee = fill.fee().value();
        let position = self.positions.entry(fill.symbol()).or_default();
        if position.mark.is_zero() {
            position.mark = price;
        }
        match fill.side() {
            Side::Buy => {
                self.cash -= notional;
                position.quantity += quantity;
                position.cost += notional;
            }
            Side::Sell => {
                let sold = quantity.min(position.quantity);
                let average = if position.quantity.is_zero() {
                    Decimal::ZERO
                } else {
                    position.cost / position.quantity
                };
                self.cash += notional;
                self.realized += (price - average) * sold;
                position.cost -= average * sold;
                position.quantity -= sold;
                if position.quantity.is_zero() {
                    position.cost = Decimal::ZERO;
                }
            }
        }
        // The fee is paid in the quote asset (cash), the base asset (the position) or another
        // asset (BNB) the book does not hold: then it only counts in `fees`.
        match &pair {
            Some(pair) if fill.fee_asset() == pair.quote => self.cash -= fee,
            Some(pair) if fill.fee_asset() == pair.base => {
                position.quantity -= fee;
            }
            _ => {}
        }
        self.fees += fee;
        if let Some(pending) = self.pending.get_mut(fill.client_order_id()) {
            pending.remaining -= quantity;
            if pending.remaining <= Decimal::ZERO {
                self.pending.remove(fill.client_order_id());
            }
        }
    }

    /// Cash plus positions at their marks.
    #[must_use]
    pub fn equity(&self) -> Decimal {
        self.cash
            + self
                .positions
                .values()
                .map(|p| p.quantity * p.mark)
                .sum::<Decimal>()
    }

    /// Realized PnL since start.
    #[must_use]
    pub const fn realized(&self) -> Decimal {
        self.realized
    }

    /// Cash and the quantity held of each symbol (reservations excluded).
    #[must_use]
    pub fn holdings(&self) -> (Decimal, Vec<(Symbol, Decimal)>) {
        let positions = self
            .positions
            .iter()
            .filter(|(_, p)| !p.quantity.is_zero())
            .map(|(s, p)| (*s, p.quantity))
            .collect();
        (self.cash, positions)
    }

    /// What could be sold now, per symbol with a position: the quantity held less what
    /// working SELL orders already offer (never below zero), and the latest mark (zero when
    /// none). A flatten sells at most this, so it never offers more than is held.
    #[must_use]
    pub fn sellable(&self) -> Vec<(Symbol, Decimal, Decimal)> {
        self.positions
            .iter()
            .filter(|(_, p)| p.quantity > Decimal::ZERO)
            .map(|(symbol, p)| {
                let offered: Decimal = self
                    .pending
                    .values()
                    .filter(|pending| pending.symbol == *symbol && pending.side == Side::Sell)
                    .map(|pending| pending.remaining.max(Decimal::ZERO))
                    .sum();
                (*symbol, (p.quantity - offered).max(Decimal::ZERO), p.mark)
            })
            .collect()
    }

    /// Open positions (nonzero, reservations included).
    #[must_use]
    pub fn open_positions(&self) -> usize {
        self.view().open_positions()
    }

    /// The risk manager's view: reservations count as held (buys) and their cash as spent.
    #[must_use]
    pub fn view(&self) -> AccountView {
        let mut positions: BTreeMap<Symbol, (Decimal, Decimal)> = self
            .positions
            .iter()
            .map(|(s, p)| (*s, (p.quantity, p.mark)))
            .collect();
        let mut cash = self.cash;
        for pending in self.pending.values() {
            let entry = positions.entry(pending.symbol).or_default();
            match pending.side {
                Side::Buy => {
                    entry.0 += pending.remaining;
                    cash -= pending.remaining * entry.1;
                }
                // a pending sell no longer counts as held
                Side::Sell => entry.0 = (entry.0 - pending.remaining).max(Decimal::ZERO),
            }
        }
        let positions = positions
            .into_iter()
            .filter_map(|(symbol, (quantity, mark))| {
                let quantity = Quantity::new(quantity.max(Decimal::ZERO)).ok()?;
                Some((
                    symbol,
                    PositionView {
                        quantity,
                        notional: quantity.value() * mark,
                    },
                ))
            })
            .collect();
        let equity = self.equity();
        AccountView {
            equity,
            cash,
            positions,
            pnl_today: equity - self.day_start_equity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use levibot_core::{FillId, FillParts, Money, Price};
    use rust_decimal_macros::dec;

    fn fill(id: &str, side: Side, price: Decimal, qty: Decimal, fee: Decimal) -> Fill {
        Fill::new(FillParts {
            fill_id: FillId::new(),
            client_order_id: ClientOrderId::new(id).unwrap(),
            symbol: Symbol::new("BTCUSDT").unwrap(),
            side,
            price: Price::new(price).unwrap(),
            quantity: Quantity::new(qty).unwrap(),
            fee: Money::new(fee),
            fee_asset: "USDT".to_owned(),
            is_maker: false,
            exchange_time: TimestampMs::new(0),
            receive_time: TimestampMs::new(0),
        })
        .unwrap()
    }

    #[test]
    fn buys_and_sells_keep_exact_cash_positions_and_realized_pnl() {
        let btc = Symbol::new("BTCUSDT").unwrap();
        let mut book = Book::new(dec!(10000));
        let id = ClientOrderId::new("lb1").unwrap();
        book.reserve(id, btc, Side::Buy, Quantity::new(dec!(0.1)).unwrap());
        book.mark(btc, dec!(40000), TimestampMs::new(1));
        // reserved: 0.1 BTC at 40000 = 4000 of cash
        assert_eq!(book.view().cash, dec!(6000));
        assert_eq!(book.view().position(btc).notional, dec!(4000));
        book.apply_fill(&fill("lb1", Side::Buy, dec!(40010), dec!(0.1), dec!(4.001)));
        assert_eq!(book.view().cash, dec!(10000) - dec!(4001) - dec!(4.001));
        book.mark(btc, dec!(41000), TimestampMs::new(2));
        assert_eq!(book.equity(), dec!(5994.999) + dec!(4100));
        book.apply_fill(&fill("lb2", Side::Sell, dec!(41000), dec!(0.1), dec!(4.1)));
        assert_eq!(book.realized(), dec!(99.0));
        assert_eq!(
            book.equity(),
            dec!(10000) + dec!(99) - dec!(4.001) - dec!(4.1)
        );
        assert_eq!(book.open_positions(), 0);
        assert!(book.sellable().is_empty());
    }

    #[test]
    fn sellable_is_what_is_held_less_working_sells() {
        let btc = Symbol::new("BTCUSDT").unwrap();
        let mut book = Book::new(dec!(10000));
        book.apply_fill(&fill("lb1", Side::Buy, dec!(40000), dec!(0.1), dec!(0)));
        book.mark(btc, dec!(41000), TimestampMs::new(1));
        assert_eq!(book.sellable(), vec![(btc, dec!(0.1), dec!(41000))]);
        // a working buy adds nothing sellable; a working sell takes its rest off
        let buy = ClientOrderId::new("lb2").unwrap();
        book.reserve(buy, btc, Side::Buy, Quantity::new(dec!(0.5)).unwrap());
        let sell = ClientOrderId::new("lb3").unwrap();
        book.reserve(
            sell.clone(),
            btc,
            Side::Sell,
            Quantity::new(dec!(0.04)).unwrap(),
        );
        assert_eq!(book.sellable(), vec![(btc, dec!(0.06), dec!(41000))]);
        book.release(&sell);
        assert_eq!(book.sellable(), vec![(btc, dec!(0.1), dec!(41000))]);
    }
}
