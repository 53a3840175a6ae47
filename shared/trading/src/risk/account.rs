//! The account as the risk manager sees it: equity, cash, positions and today's PnL.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use levibot_core::{Quantity, Symbol};

/// One symbol's position: spot, long-only, so the quantity is never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionView {
    /// Base-asset quantity held.
    pub quantity: Quantity,
    /// Its value at the current price, in quote currency.
    pub notional: Decimal,
}

impl PositionView {
    /// No position.
    pub const FLAT: Self = Self {
        quantity: Quantity::ZERO,
        notional: Decimal::ZERO,
    };
}

/// A snapshot of the account, passed in by the caller (portfolio in live trading, the
/// backtester's paper book in a backtest). Amounts are in the quote currency.
///
/// Include orders already approved but not yet filled in `positions` and `cash` (as the
/// paper book of the replay test does), or the caps can be overrun between an approval and
/// its fill.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AccountView {
    /// Cash + positions at current prices.
    pub equity: Decimal,
    /// Quote currency available to buy with.
    pub cash: Decimal,
    /// Positions by symbol; zero-quantity entries count as flat.
    pub positions: BTreeMap<Symbol, PositionView>,
    /// Today's (UTC) realized + unrealized PnL; negative is a loss.
    pub pnl_today: Decimal,
}

impl AccountView {
    /// An account holding only `cash`, flat, with no PnL today.
    #[must_use]
    pub fn with_cash(cash: Decimal) -> Self {
        Self {
            equity: cash,
            cash,
            positions: BTreeMap::new(),
            pnl_today: Decimal::ZERO,
        }
    }

    /// The position in `symbol` (zero when flat).
    #[must_use]
    pub fn position(&self, symbol: Symbol) -> PositionView {
        self.positions
            .get(&symbol)
            .copied()
            .unwrap_or(PositionView::FLAT)
    }

    /// Symbols with a nonzero position.
    #[must_use]
    pub fn open_positions(&self) -> usize {
        self.positions
            .values()
            .filter(|p| !p.quantity.is_zero())
            .count()
    }

    /// The sum of all position values.
    #[must_use]
    pub fn total_exposure(&self) -> Decimal {
        self.positions
            .values()
            .filter(|p| !p.quantity.is_zero())
            .map(|p| p.notional.abs())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn counts_and_sums_nonzero_positions() {
        let mut a = AccountView::with_cash(dec!(1000));
        let q = |d| Quantity::new(d).unwrap();
        a.positions.insert(
            Symbol::new("BTCUSDT").unwrap(),
            PositionView {
                quantity: q(dec!(0.01)),
                notional: dec!(460),
            },
        );
        a.positions.insert(
            Symbol::new("ETHUSDT").unwrap(),
            PositionView {
                quantity: q(dec!(0)),
                notional: dec!(0),
            },
        );
        assert_eq!(a.open_positions(), 1);
        assert_eq!(a.total_exposure(), dec!(460));
        assert!(
            a.position(Symbol::new("SOLUSDT").unwrap())
                .quantity
                .is_zero()
        );
    }
}
