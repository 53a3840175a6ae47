//! Every message of the four raw Binance captures in `data/ticks` parses, and the trades match
//! the trade CSVs of the same capture one for one; trades aggregate into consistent 1m bars.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test on broken fixtures"
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use levibot_core::{Interval, Symbol, TimestampMs};
use levibot_exchange::binance::{IgnoredStream, MarketEvent, Trade, parse_message};
use levibot_exchange::sim::load_capture;
use levibot_exchange::{AggregatedBar, TradeBarAggregator};
use rust_decimal::Decimal;

fn ticks(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/ticks")
        .join(file)
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    lines: usize,
    trades: usize,
    book_ticker: usize,
    depth: usize,
    snapshots: usize,
    other: usize,
}

/// Parses a capture; fails the test on any rejected message.
fn parse_capture(file: &str) -> (Counts, Vec<Trade>) {
    let (lines, skipped) = load_capture(&ticks(file)).unwrap();
    assert_eq!(skipped, 0, "{file}: unreadable capture lines");
    let mut counts = Counts {
        lines: lines.len(),
        ..Counts::default()
    };
    let mut trades = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        match parse_message(&line.json, TimestampMs::new(line.recv_ms())) {
            Ok(MarketEvent::Trade(t)) => {
                counts.trades += 1;
                trades.push(t);
            }
            Ok(MarketEvent::Ignored(IgnoredStream::BookTicker)) => counts.book_ticker += 1,
            Ok(MarketEvent::Ignored(IgnoredStream::Depth)) => counts.depth += 1,
            Ok(MarketEvent::Ignored(IgnoredStream::DepthSnapshot)) => counts.snapshots += 1,
            Ok(_) => counts.other += 1,
            Err(err) => panic!("{file} line {}: {err}", i + 1),
        }
    }
    (counts, trades)
}

#[test]
fn every_capture_message_parses() {
    let expected = [
        (
            "hftbacktest_binance_spot_btcusdt_20240808.raw.gz",
            41_249,
            9_757,
            28_040,
            3_451,
            1,
        ),
        (
            "hftbacktest_binance_spot_btcusdt_20240809.raw.gz",
            58_325,
            10_147,
            45_134,
            3_044,
            0,
        ),
        (
            "hftbacktest_binance_spot_ethusdt_20240808.raw.gz",
            33_618,
            6_106,
            24_077,
            3_434,
            1,
        ),
        (
            "hftbacktest_binance_spot_ethusdt_20240809.raw.gz",
            46_126,
            8_409,
            34_681,
            3_036,
            0,
        ),
    ];
    for (file, lines, trades, book_ticker, depth, snapshots) in expected {
        let (counts, _) = parse_capture(file);
        assert_eq!(
            counts,
            Counts {
                lines,
                trades,
                book_ticker,
                depth,
                snapshots,
                other: 0
            },
            "{file}"
        );
    }
}

/// `trade_time_ms,local_recv_ns,trade_id,price,qty,is_buyer_maker` rows.
fn csv_trades(file: &str) -> Vec<(i64, i64, u64, Decimal, Decimal, bool)> {
    let text = std::fs::read_to_string(ticks(file)).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "trade_time_ms,local_recv_ns,trade_id,price,qty,is_buyer_maker"
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 6, "{line}");
            (
                f[0].parse().unwrap(),
                f[1].parse::<i64>().unwrap().div_euclid(1_000_000),
                f[2].parse().unwrap(),
                Decimal::from_str(f[3]).unwrap(),
                Decimal::from_str(f[4]).unwrap(),
                f[5].parse().unwrap(),
            )
        })
        .collect()
}

fn capture_trades(symbol: &str) -> Vec<Trade> {
    let mut all = parse_capture(&format!(
        "hftbacktest_binance_spot_{symbol}_20240808.raw.gz"
    ))
    .1;
    all.extend(
        parse_capture(&format!(
            "hftbacktest_binance_spot_{symbol}_20240809.raw.gz"
        ))
        .1,
    );
    all
}

#[test]
fn trades_match_the_csvs_one_for_one() {
    for (symbol, csv, count) in [
        (
            "btcusdt",
            "binance_spot_btcusdt_trades_20240808T2354_20240809T0005.csv",
            19_904,
        ),
        (
            "ethusdt",
            "binance_spot_ethusdt_trades_20240808T2354_20240809T0005.csv",
            14_515,
        ),
    ] {
        let trades = capture_trades(symbol);
        let expected = csv_trades(csv);
        assert_eq!(trades.len(), count, "{symbol}");
        assert_eq!(expected.len(), count, "{csv}");
        let sym = Symbol::new(symbol).unwrap();
        let actual: Vec<_> = trades
            .iter()
            .map(|t| {
                assert_eq!(t.symbol, sym);
                (
                    t.trade_time.as_i64(),
                    t.received_at.as_i64(),
                    t.trade_id,
                    t.price.value(),
                    t.quantity.value(),
                    t.buyer_is_maker,
                )
            })
            .collect();
        assert_eq!(actual, expected, "{symbol}");
        // trade ids are gap-free in this capture
        assert!(
            trades
                .windows(2)
                .all(|w| w[1].trade_id == w[0].trade_id + 1),
            "{symbol}"
        );
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Minute {
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
    trades: u64,
    taker_buy_volume: Decimal,
}

#[test]
fn aggregated_bars_agree_with_the_trades() {
    for (symbol, csv) in [
        (
            "btcusdt",
            "binance_spot_btcusdt_trades_20240808T2354_20240809T0005.csv",
        ),
        (
            "ethusdt",
            "binance_spot_ethusdt_trades_20240808T2354_20240809T0005.csv",
        ),
    ] {
        // expected, straight from the CSV
        let mut minutes: BTreeMap<i64, Minute> = BTreeMap::new();
        for (time, _, _, price, qty, maker) in csv_trades(csv) {
            let m = minutes.entry(time - time % 60_000).or_insert(Minute {
                open: price,
                high: price,
                low: price,
                close: price,
                volume: Decimal::ZERO,
                trades: 0,
                taker_buy_volume: Decimal::ZERO,
            });
            m.high = m.high.max(price);
            m.low = m.low.min(price);
            m.close = price;
            m.volume += qty;
            m.trades += 1;
            if !maker {
                m.taker_buy_volume += qty;
            }
        }
        // actual, from the parsed capture
        let mut agg = TradeBarAggregator::new(Interval::M1);
        let mut bars: Vec<AggregatedBar> = Vec::new();
        for trade in capture_trades(symbol) {
            bars.extend(agg.push(&trade));
        }
        let closed = bars.len();
        bars.extend(agg.flush());
        assert_eq!(agg.late_trades(), 0);
        // 23:54 … 00:05 is 12 minutes, the last one still open when the capture ends
        assert_eq!(minutes.len(), 12, "{symbol}");
        assert_eq!(closed, 11, "{symbol}");
        let actual: BTreeMap<i64, Minute> = bars
            .iter()
            .map(|b| {
                (
                    b.bar.open_time().as_i64(),
                    Minute {
                        open: b.bar.open().value(),
                        high: b.bar.high().value(),
                        low: b.bar.low().value(),
                        close: b.bar.close().value(),
                        volume: b.bar.volume().value(),
                        trades: b.trade_count,
                        taker_buy_volume: b.taker_buy_base_volume,
                    },
                )
            })
            .collect();
        assert_eq!(actual, minutes, "{symbol}");
        // bar volume is the sum of its trades' quantities, and ids are contiguous across bars
        for pair in bars.windows(2) {
            assert_eq!(pair[1].first_trade_id, pair[0].last_trade_id + 1);
            assert_eq!(
                pair[0].last_trade_id - pair[0].first_trade_id + 1,
                pair[0].trade_count
            );
        }
    }
}
