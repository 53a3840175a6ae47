//! Shared by the replay test and the bench: the FTX BTC-PERP 1m kline file and a paper book.

use std::path::PathBuf;
use std::str::FromStr;

use levibot_core::{Bar, Interval, OrderRequest, Price, Quantity, Side, Symbol, TimestampMs};
use levibot_trading::AccountView;
use levibot_trading::risk::PositionView;
use rust_decimal::Decimal;

/// The file's header, as `shared/exchange/src/replay.rs` expects it.
const HEADER: &str = "open_time_ms,open,high,low,close,volume";

/// `data/klines/ftx_btc-perp_1m_20211231-20220201.csv` from the repository root.
pub(crate) fn ftx_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/klines/ftx_btc-perp_1m_20211231-20220201.csv")
}

/// Every valid row of the file as a 1m bar for `symbol`, oldest first (the minimal parsing
/// of `CsvReplay::parse`: six comma-separated fields, invalid rows skipped).
pub(crate) fn load_ftx(symbol: Symbol) -> Vec<Bar> {
    let text = std::fs::read_to_string(ftx_path()).expect("the FTX kline file");
    let mut lines = text.lines();
    assert_eq!(lines.next().map(str::trim), Some(HEADER));
    let mut bars: Vec<Bar> = lines.filter_map(|l| parse_row(l, symbol)).collect();
    bars.sort_by_key(Bar::open_time);
    bars.dedup_by_key(|b| b.open_time());
    bars
}

fn parse_row(line: &str, symbol: Symbol) -> Option<Bar> {
    let mut f = line.trim_end_matches('\r').split(',');
    let open_time = TimestampMs::new(f.next()?.trim().parse().ok()?);
    let open = Price::from_str(f.next()?.trim()).ok()?;
    let high = Price::from_str(f.next()?.trim()).ok()?;
    let low = Price::from_str(f.next()?.trim()).ok()?;
    let close = Price::from_str(f.next()?.trim()).ok()?;
    let volume = Quantity::from_str(f.next()?.trim()).ok()?;
    if f.next().is_some() {
        return None;
    }
    Bar::new(
        symbol,
        Interval::M1,
        open_time,
        open,
        high,
        low,
        close,
        volume,
    )
    .ok()
}

/// A one-symbol paper book: orders fill completely at the bar close the moment they are
/// sent, no fees.
pub(crate) struct PaperBook {
    pub(crate) symbol: Symbol,
    pub(crate) cash: Decimal,
    pub(crate) quantity: Decimal,
    pub(crate) price: Decimal,
    day: i64,
    day_start_equity: Decimal,
}

impl PaperBook {
    pub(crate) fn new(symbol: Symbol, cash: Decimal) -> Self {
        Self {
            symbol,
            cash,
            quantity: Decimal::ZERO,
            price: Decimal::ONE,
            day: i64::MIN,
            day_start_equity: cash,
        }
    }

    pub(crate) fn equity(&self) -> Decimal {
        self.cash + self.quantity * self.price
    }

    /// Marks the position at `bar`'s close; a new UTC day resets today's PnL.
    pub(crate) fn mark(&mut self, bar: &Bar) {
        self.price = bar.close().value();
        let day = bar.open_time().as_i64().div_euclid(86_400_000);
        if day != self.day {
            self.day = day;
            self.day_start_equity = self.equity();
        }
    }

    pub(crate) fn view(&self) -> AccountView {
        let mut view = AccountView::with_cash(self.cash);
        view.equity = self.equity();
        view.pnl_today = self.equity() - self.day_start_equity;
        if !self.quantity.is_zero() {
            view.positions.insert(
                self.symbol,
                PositionView {
                    quantity: Quantity::new(self.quantity).expect("long-only"),
                    notional: self.quantity * self.price,
                },
            );
        }
        view
    }

    pub(crate) fn fill(&mut self, order: &OrderRequest) {
        let q = order.quantity().value();
        match order.side() {
            Side::Buy => {
                self.cash -= q * self.price;
                self.quantity += q;
            }
            Side::Sell => {
                self.cash += q * self.price;
                self.quantity -= q;
            }
        }
    }
}
