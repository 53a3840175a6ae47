use std::collections::HashMap;

use levibot_core::{Bar, Interval, Price, Quantity, Symbol, TimestampMs};
use rust_decimal::Decimal;

use crate::binance::Trade;

/// Every sum here is of non-negative values: an overflow (far beyond any real market)
/// saturates instead of panicking.
fn sat(value: Option<Decimal>) -> Decimal {
    value.unwrap_or(Decimal::MAX)
}

/// A bar built from trades, with the extra kline fields Binance reports for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AggregatedBar {
    /// The bar (open = first trade's price, close = last's, high/low = extremes, volume = sum of
    /// quantities).
    pub bar: Bar,
    /// Trades in the bar.
    pub trade_count: u64,
    /// Sum of price × quantity.
    pub quote_volume: Decimal,
    /// Base volume of trades whose taker bought (`buyer_is_maker == false`).
    pub taker_buy_base_volume: Decimal,
    /// Quote volume of those trades.
    pub taker_buy_quote_volume: Decimal,
    /// First trade id in the bar.
    pub first_trade_id: u64,
    /// Last trade id in the bar.
    pub last_trade_id: u64,
}

#[derive(Debug, Clone, Copy)]
struct Building {
    open_time: TimestampMs,
    open: Price,
    high: Price,
    low: Price,
    close: Price,
    volume: Decimal,
    quote_volume: Decimal,
    taker_buy_base: Decimal,
    taker_buy_quote: Decimal,
    trade_count: u64,
    first_trade_id: u64,
    last_trade_id: u64,
}

impl Building {
    fn start(open_time: TimestampMs, trade: &Trade) -> Self {
        let mut b = Self {
            open_time,
            open: trade.price,
            high: trade.price,
            low: trade.price,
            close: trade.price,
            volume: Decimal::ZERO,
            quote_volume: Decimal::ZERO,
            taker_buy_base: Decimal::ZERO,
            taker_buy_quote: Decimal::ZERO,
            trade_count: 0,
            first_trade_id: trade.trade_id,
            last_trade_id: trade.trade_id,
        };
        b.add(trade);
        b
    }

    /// Adds a trade of this bar's period. Sums saturate instead of overflowing (an overflow
    /// would need quantities far beyond any real market).
    fn add(&mut self, trade: &Trade) {
        let qty = trade.quantity.value();
        let quote = sat(trade.price.value().checked_mul(qty));
        self.high = self.high.max(trade.price);
        self.low = self.low.min(trade.price);
        self.close = trade.price;
        self.volume = sat(self.volume.checked_add(qty));
        self.quote_volume = sat(self.quote_volume.checked_add(quote));
        if !trade.buyer_is_maker {
            self.taker_buy_base = sat(self.taker_buy_base.checked_add(qty));
            self.taker_buy_quote = sat(self.taker_buy_quote.checked_add(quote));
        }
        self.trade_count += 1;
        self.last_trade_id = trade.trade_id;
    }

    fn finish(&self, symbol: Symbol, interval: Interval) -> Option<AggregatedBar> {
        let volume = Quantity::new(self.volume).ok()?;
        let bar = Bar::new(
            symbol,
            interval,
            self.open_time,
            self.open,
            self.high,
            self.low,
            self.close,
            volume,
        )
        .ok()?;
        Some(AggregatedBar {
            bar,
            trade_count: self.trade_count,
            quote_volume: self.quote_volume,
            taker_buy_base_volume: self.taker_buy_base,
            taker_buy_quote_volume: self.taker_buy_quote,
            first_trade_id: self.first_trade_id,
            last_trade_id: self.last_trade_id,
        })
    }
}

/// Builds bars of one interval from a trade stream, per symbol.
///
/// A bar closes when a trade of a later period arrives for the same symbol (so the last bar of
/// a quiet symbol waits for its next trade; [`TradeBarAggregator::flush`] hands out the bars
/// still open). Periods without trades produce no bar. A trade older than the bar being built
/// is counted as late and skipped.
#[derive(Debug, Clone)]
pub struct TradeBarAggregator {
    interval: Interval,
    building: HashMap<Symbol, Building>,
    late_trades: u64,
}

impl TradeBarAggregator {
    /// An aggregator of `interval` bars (trades of the same UTC period share a bar).
    #[must_use]
    pub fn new(interval: Interval) -> Self {
        Self {
            interval,
            building: HashMap::new(),
            late_trades: 0,
        }
    }

    /// Adds a trade; returns the symbol's previous bar if this trade closed it.
    pub fn push(&mut self, trade: &Trade) -> Option<AggregatedBar> {
        let duration = self.interval.duration_ms();
        let t = trade.trade_time.as_i64();
        let open_time = TimestampMs::new(t - t.rem_euclid(duration));
        match self.building.get_mut(&trade.symbol) {
            Some(current) if current.open_time == open_time => {
                current.add(trade);
                None
            }
            Some(current) if current.open_time > open_time => {
                self.late_trades += 1;
                None
            }
            Some(current) => {
                let closed = current.finish(trade.symbol, self.interval);
                *current = Building::start(open_time, trade);
                closed
            }
            None => {
                self.building
                    .insert(trade.symbol, Building::start(open_time, trade));
                None
            }
        }
    }

    /// The bars still being built, one per symbol, sorted by symbol; the aggregator is empty
    /// afterwards.
    pub fn flush(&mut self) -> Vec<AggregatedBar> {
        let mut open: Vec<(Symbol, Building)> = self.building.drain().collect();
        open.sort_by_key(|(symbol, _)| *symbol);
        open.iter()
            .filter_map(|(symbol, b)| b.finish(*symbol, self.interval))
            .collect()
    }

    /// Trades skipped because they were older than the bar being built.
    #[must_use]
    pub const fn late_trades(&self) -> u64 {
        self.late_trades
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn trade(symbol: &str, id: u64, time: i64, price: Decimal, qty: Decimal, maker: bool) -> Trade {
        Trade {
            symbol: Symbol::new(symbol).unwrap(),
            trade_id: id,
            price: Price::new(price).unwrap(),
            quantity: Quantity::new(qty).unwrap(),
            buyer_is_maker: maker,
            trade_time: TimestampMs::new(time),
            event_time: TimestampMs::new(time),
            received_at: TimestampMs::new(time),
        }
    }

    #[test]
    fn closes_a_bar_when_a_later_minute_starts() {
        let mut agg = TradeBarAggregator::new(Interval::M1);
        let m = 1_723_161_240_000;
        assert!(
            agg.push(&trade("BTCUSDT", 1, m + 5, dec!(100), dec!(1), true))
                .is_none()
        );
        assert!(
            agg.push(&trade("BTCUSDT", 2, m + 10, dec!(105), dec!(2), false))
                .is_none()
        );
        assert!(
            agg.push(&trade("ETHUSDT", 7, m + 11, dec!(5), dec!(1), false))
                .is_none()
        );
        assert!(
            agg.push(&trade("BTCUSDT", 3, m + 59_999, dec!(95), dec!(0.5), true))
                .is_none()
        );
        // late trade of an earlier minute is skipped
        assert!(
            agg.push(&trade("BTCUSDT", 0, m - 1, dec!(1), dec!(1), true))
                .is_none()
        );
        assert_eq!(agg.late_trades(), 1);
        let closed = agg
            .push(&trade("BTCUSDT", 4, m + 180_000, dec!(99), dec!(1), true))
            .unwrap();
        assert_eq!(closed.bar.open_time().as_i64(), m);
        assert_eq!(closed.bar.open().value(), dec!(100));
        assert_eq!(closed.bar.high().value(), dec!(105));
        assert_eq!(closed.bar.low().value(), dec!(95));
        assert_eq!(closed.bar.close().value(), dec!(95));
        assert_eq!(closed.bar.volume().value(), dec!(3.5));
        assert_eq!(closed.trade_count, 3);
        assert_eq!(closed.quote_volume, dec!(357.5));
        assert_eq!(closed.taker_buy_base_volume, dec!(2));
        assert_eq!(closed.taker_buy_quote_volume, dec!(210));
        assert_eq!((closed.first_trade_id, closed.last_trade_id), (1, 3));
        let open = agg.flush();
        assert_eq!(open.len(), 2);
        assert_eq!(open[0].bar.symbol().as_str(), "BTCUSDT");
        assert_eq!(open[0].bar.open_time().as_i64(), m + 180_000);
        assert_eq!(open[1].bar.symbol().as_str(), "ETHUSDT");
        assert!(agg.flush().is_empty());
    }
}
