use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use levibot_core::{Bar, Interval, Symbol};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::capture::load_capture;
use crate::binance::{MarketEvent, parse_message};
use crate::trade_bar_aggregator::{AggregatedBar, TradeBarAggregator};

/// One message of the simulator's timeline: a payload for one stream, due at `time_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimEvent {
    /// When it is due, ms (exchange time for klines, local receive time for captures).
    pub time_ms: i64,
    /// The stream name, e.g. `btcusdt@trade`.
    pub stream: String,
    /// The payload JSON (what `/ws/<stream>` sends; `/stream` wraps it in an envelope).
    pub data: String,
}

impl SimEvent {
    /// The combined-stream form, `{"stream":…,"data":…}`.
    #[must_use]
    pub fn envelope(&self) -> String {
        let mut text = String::with_capacity(self.data.len() + self.stream.len() + 22);
        text.push_str("{\"stream\":\"");
        text.push_str(&self.stream);
        text.push_str("\",\"data\":");
        text.push_str(&self.data);
        text.push('}');
        text
    }
}

/// A kline as the REST endpoint serves it: the bar plus the fields Binance adds. Klines read
/// from a CSV have no trade statistics; theirs are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimKline {
    /// The bar.
    pub bar: Bar,
    /// Sum of price × quantity.
    pub quote_volume: Decimal,
    /// Trades.
    pub trade_count: u64,
    /// Base volume bought by takers.
    pub taker_buy_base_volume: Decimal,
    /// Quote volume bought by takers.
    pub taker_buy_quote_volume: Decimal,
    /// First and last trade ids, when known.
    pub trade_ids: Option<(u64, u64)>,
}

impl SimKline {
    /// A kline with no trade statistics.
    #[must_use]
    pub const fn from_bar(bar: Bar) -> Self {
        Self {
            bar,
            quote_volume: Decimal::ZERO,
            trade_count: 0,
            taker_buy_base_volume: Decimal::ZERO,
            taker_buy_quote_volume: Decimal::ZERO,
            trade_ids: None,
        }
    }

    const fn from_aggregated(agg: &AggregatedBar) -> Self {
        Self {
            bar: agg.bar,
            quote_volume: agg.quote_volume,
            trade_count: agg.trade_count,
            taker_buy_base_volume: agg.taker_buy_base_volume,
            taker_buy_quote_volume: agg.taker_buy_quote_volume,
            trade_ids: Some((agg.first_trade_id, agg.last_trade_id)),
        }
    }

    /// The REST row: `[openTime, open, high, low, close, volume, closeTime, quoteVolume,
    /// trades, takerBuyBase, takerBuyQuote, "0"]`.
    pub(crate) fn write_rest_row(&self, out: &mut String) {
        let b = &self.bar;
        let _ = write!(
            out,
            "[{},\"{}\",\"{}\",\"{}\",\"{}\",\"{}\",{},\"{}\",{},\"{}\",\"{}\",\"0\"]",
            b.open_time(),
            b.open(),
            b.high(),
            b.low(),
            b.close(),
            b.volume(),
            b.close_time(),
            self.quote_volume,
            self.trade_count,
            self.taker_buy_base_volume,
            self.taker_buy_quote_volume
        );
    }

    /// The `@kline_<interval>` payload at event time `event_time`, closed or not.
    #[must_use]
    pub fn ws_payload(&self, event_time: i64, closed: bool) -> String {
        let b = &self.bar;
        let (first, last) = self
            .trade_ids
            .map_or((-1, -1), |(f, l)| (i128::from(f), i128::from(l)));
        format!(
            "{{\"e\":\"kline\",\"E\":{event_time},\"s\":\"{s}\",\"k\":{{\"t\":{t},\"T\":{ct},\"s\":\"{s}\",\"i\":\"{i}\",\"f\":{first},\"L\":{last},\"o\":\"{o}\",\"c\":\"{c}\",\"h\":\"{h}\",\"l\":\"{l}\",\"v\":\"{v}\",\"n\":{n},\"x\":{closed},\"q\":\"{q}\",\"V\":\"{tb}\",\"Q\":\"{tq}\",\"B\":\"0\"}}}}",
            s = b.symbol(),
            t = b.open_time(),
            ct = b.close_time(),
            i = b.interval(),
            o = b.open(),
            c = b.close(),
            h = b.high(),
            l = b.low(),
            v = b.volume(),
            n = self.trade_count,
            q = self.quote_volume,
            tb = self.taker_buy_base_volume,
            tq = self.taker_buy_quote_volume,
        )
    }
}

/// Klines per symbol and interval, oldest first.
pub(crate) type KlineSeries = HashMap<(Symbol, Interval), Vec<SimKline>>;

/// What the simulator serves: a timeline of stream messages and, per symbol and interval,
/// the klines the REST endpoint answers with.
#[derive(Debug, Clone, Default)]
pub struct SimData {
    events: Vec<SimEvent>,
    klines: HashMap<(Symbol, Interval), Vec<SimKline>>,
    skipped_lines: u64,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    stream: &'a str,
    #[serde(borrow)]
    data: &'a RawValue,
}

impl SimData {
    /// Nothing to serve yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a raw capture (`<local_recv_ns> <json>` per line, `.gz` or plain): every
    /// combined-stream message joins the timeline at its receive time, unchanged. Lines that
    /// are not combined-stream messages (the REST depth snapshots in the 0808 captures) are
    /// skipped and counted. The trades are also aggregated into 1m klines, which the REST
    /// endpoint serves and the `@kline_1m` streams carry (one update with `x:false` in the
    /// middle of the minute, the closed kline when it ends). Returns the messages added.
    ///
    /// # Errors
    ///
    /// Fails if the file cannot be read.
    pub fn add_capture(&mut self, path: &Path) -> std::io::Result<usize> {
        let (lines, skipped) = load_capture(path)?;
        self.skipped_lines += skipped;
        let mut added = 0;
        let mut aggregator = TradeBarAggregator::new(Interval::M1);
        let mut closed = Vec::new();
        for line in &lines {
            let Ok(envelope) = serde_json::from_str::<Envelope<'_>>(&line.json) else {
                self.skipped_lines += 1;
                continue;
            };
            if let Ok(MarketEvent::Trade(trade)) =
                parse_message(&line.json, levibot_core::TimestampMs::new(line.recv_ms()))
                && let Some(bar) = aggregator.push(&trade)
            {
                closed.push(bar);
            }
            self.events.push(SimEvent {
                time_ms: line.recv_ms(),
                stream: envelope.stream.to_owned(),
                data: envelope.data.get().to_owned(),
            });
            added += 1;
        }
        closed.extend(aggregator.flush());
        let klines: Vec<SimKline> = closed.iter().map(SimKline::from_aggregated).collect();
        self.add_klines(klines);
        Ok(added)
    }

    /// Adds bars (one symbol and interval each, any order): the REST endpoint serves them and
    /// the `<symbol>@kline_<interval>` streams carry, per bar, an update with `x:false` half way
    /// through its period and the closed kline (`x:true`) right after it ends.
    pub fn add_bars(&mut self, bars: impl IntoIterator<Item = Bar>) {
        self.add_klines(bars.into_iter().map(SimKline::from_bar).collect());
    }

    fn add_klines(&mut self, klines: Vec<SimKline>) {
        for kline in klines {
            let b = kline.bar;
            let stream = format!(
                "{}@kline_{}",
                b.symbol().to_lowercase_stream_name(),
                b.interval()
            );
            let open = b.open_time().as_i64();
            let close = b.close_time().as_i64();
            let mid = open + b.interval().duration_ms() / 2;
            self.events.push(SimEvent {
                time_ms: mid,
                stream: stream.clone(),
                data: kline.ws_payload(mid, false),
            });
            self.events.push(SimEvent {
                time_ms: close + 1,
                stream,
                data: kline.ws_payload(close + 1, true),
            });
            self.klines
                .entry((b.symbol(), b.interval()))
                .or_default()
                .push(kline);
        }
        for series in self.klines.values_mut() {
            series.sort_by_key(|k| k.bar.open_time());
            series.dedup_by_key(|k| k.bar.open_time());
        }
    }

    /// Lines of captures that were skipped.
    #[must_use]
    pub const fn skipped_lines(&self) -> u64 {
        self.skipped_lines
    }

    /// The timeline, in time order (stable for equal times).
    pub(crate) fn into_parts(mut self) -> (Vec<Arc<SimEvent>>, KlineSeries) {
        self.events.sort_by_key(|e| e.time_ms);
        let events = self.events.into_iter().map(Arc::new).collect();
        (events, self.klines)
    }

    /// Messages on the timeline.
    #[must_use]
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// The klines served for `symbol` and `interval`, oldest first.
    #[must_use]
    pub fn klines(&self, symbol: Symbol, interval: Interval) -> &[SimKline] {
        self.klines
            .get(&(symbol, interval))
            .map_or(&[], Vec::as_slice)
    }

    /// The symbols with klines or stream messages.
    #[must_use]
    pub fn symbols(&self) -> Vec<Symbol> {
        let mut symbols: Vec<Symbol> = self.klines.keys().map(|(s, _)| *s).collect();
        for event in &self.events {
            if let Some((sym, _)) = event.stream.split_once('@')
                && let Ok(sym) = Symbol::new(sym)
                && !symbols.contains(&sym)
            {
                symbols.push(sym);
            }
        }
        symbols.sort();
        symbols
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binance::{MarketEvent, parse_message};
    use levibot_core::{Price, Quantity, TimestampMs};
    use rust_decimal_macros::dec;

    #[test]
    fn kline_payloads_parse_back_to_the_bar() {
        let sym = Symbol::new("BTCUSDT").unwrap();
        let bar = Bar::new(
            sym,
            Interval::M1,
            TimestampMs::new(1_640_991_660_000),
            Price::new(dec!(46319.0)).unwrap(),
            Price::new(dec!(46385.0)).unwrap(),
            Price::new(dec!(46319.0)).unwrap(),
            Price::new(dec!(46377.0)).unwrap(),
            Quantity::new(dec!(2300413.7295)).unwrap(),
        )
        .unwrap();
        let mut data = SimData::new();
        data.add_bars([bar]);
        let (events, klines) = data.into_parts();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].stream, "btcusdt@kline_1m");
        let recv = TimestampMs::new(0);
        assert!(matches!(
            parse_message(&events[0].envelope(), recv).unwrap(),
            MarketEvent::KlineUpdate(_)
        ));
        let MarketEvent::Bar(closed) = parse_message(&events[1].envelope(), recv).unwrap() else {
            panic!("not a bar");
        };
        assert_eq!(closed.bar, bar);
        assert_eq!(events[1].time_ms, 1_640_991_720_000);
        let mut row = String::new();
        klines[&(sym, Interval::M1)][0].write_rest_row(&mut row);
        assert_eq!(
            row,
            r#"[1640991660000,"46319.0","46385.0","46319.0","46377.0","2300413.7295",1640991719999,"0",0,"0","0","0"]"#
        );
    }
}
