//! `cargo bench -p levibot-exchange`: message parsing throughput on the real Binance captures in
//! `data/ticks`, and source→consumer latency through the per-symbol queues.
//!
//! Prints one line per figure, e.g.
//! `bench exchange.parse: 1,234,567 msgs/s on one core (179318 msgs, best of 5)`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    reason = "a benchmark binary: it prints, and a broken fixture should stop it"
)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use levibot_core::{Interval, Symbol, TimestampMs};
use levibot_exchange::binance::{MarketEvent, parse_message};
use levibot_exchange::sim::{CaptureLine, SimKline, load_capture};
use levibot_exchange::{CsvReplay, ExchangeMetrics, SymbolQueues};
use levibot_telemetry::metrics::Registry;

const RUNS: usize = 5;

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/ticks");
    let mut lines: Vec<CaptureLine> = Vec::new();
    for file in [
        "hftbacktest_binance_spot_btcusdt_20240808.raw.gz",
        "hftbacktest_binance_spot_btcusdt_20240809.raw.gz",
        "hftbacktest_binance_spot_ethusdt_20240808.raw.gz",
        "hftbacktest_binance_spot_ethusdt_20240809.raw.gz",
    ] {
        lines.extend(load_capture(&dir.join(file)).expect("capture").0);
    }
    let all: Vec<(&str, TimestampMs)> = lines
        .iter()
        .map(|l| (l.json.as_str(), TimestampMs::new(l.recv_ms())))
        .collect();
    let trades: Vec<(&str, TimestampMs)> = all
        .iter()
        .copied()
        .filter(|(json, _)| json.contains("@trade\""))
        .collect();
    let bytes: usize = all.iter().map(|(json, _)| json.len()).sum();

    let best = best_of(&all);
    report(
        "exchange.parse",
        all.len(),
        best,
        &format!("{} MB", bytes / 1_000_000),
    );
    let best = best_of(&trades);
    report("exchange.parse.trades", trades.len(), best, "@trade only");

    queue_latency();
}

/// Parses every message `RUNS` times; returns the best run. Fails on any rejection.
fn best_of(messages: &[(&str, TimestampMs)]) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        let start = Instant::now();
        let mut ok = 0usize;
        for (json, recv) in messages {
            if black_box(parse_message(black_box(json), *recv)).is_ok() {
                ok += 1;
            }
        }
        let elapsed = start.elapsed();
        assert_eq!(ok, messages.len(), "every capture message must parse");
        best = best.min(elapsed);
    }
    best
}

fn report(name: &str, n: usize, best: Duration, note: &str) {
    let rate = n as f64 / best.as_secs_f64();
    println!(
        "bench {name}: {} msgs/s on one core ({n} msgs, best of {RUNS}; {note})",
        thousands(rate as u64)
    );
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A closed-kline message is parsed, pushed into its symbol's queue, and received by that
/// symbol's consumer task on a two-worker runtime; latency runs from before the parse to the
/// consumer holding the bar.
fn queue_latency() {
    const SYMBOLS: usize = 8;
    const ROUNDS: usize = 10_000;
    // one bar per symbol every 100 µs (80,000 bars/s): a steady load, not a flood, so the
    // figure is the path's latency rather than the depth of a backlog
    const ROUND_EVERY: Duration = Duration::from_micros(100);
    let csv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/klines/ftx_btc-perp_1m_20211231-20220201.csv");
    let text = std::fs::read_to_string(csv).expect("kline csv");
    let metrics = ExchangeMetrics::new(&Registry::new()).unwrap();
    let symbols: Vec<Symbol> = (0..SYMBOLS)
        .map(|i| Symbol::new(&format!("SYM{i}USDT")).unwrap())
        .collect();
    // one real closed-kline message per symbol, as the exchange sends it
    let messages: Vec<String> = symbols
        .iter()
        .map(|s| {
            let bar = CsvReplay::parse(&text, *s, Interval::M1, &metrics)
                .unwrap()
                .bars()[0];
            let payload = SimKline::from_bar(bar).ws_payload(bar.close_time().as_i64() + 1, true);
            format!(
                "{{\"stream\":\"{}@kline_1m\",\"data\":{payload}}}",
                s.to_lowercase_stream_name()
            )
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (latencies, dropped) = runtime.block_on(async {
        let queues: SymbolQueues<(Instant, levibot_core::Bar)> =
            SymbolQueues::new(1024, metrics.clone());
        let mut consumers = tokio::task::JoinSet::new();
        for symbol in &symbols {
            let mut rx = queues.subscribe(*symbol);
            consumers.spawn(async move {
                let mut latencies = Vec::with_capacity(ROUNDS);
                while let Some((sent, bar)) = rx.recv().await {
                    black_box(bar);
                    latencies.push(sent.elapsed());
                }
                latencies
            });
        }
        let origin = Instant::now();
        for round in 0..ROUNDS {
            let due = origin + ROUND_EVERY * u32::try_from(round).unwrap();
            while Instant::now() < due {
                tokio::task::yield_now().await;
            }
            for message in &messages {
                let start = Instant::now();
                if let Ok(MarketEvent::Bar(event)) = parse_message(message, TimestampMs::new(0)) {
                    queues.push(event.bar.symbol(), (start, event.bar));
                }
            }
        }
        queues.close();
        let mut all = Vec::new();
        while let Some(joined) = consumers.join_next().await {
            all.extend(joined.unwrap());
        }
        let dropped: u64 = symbols.iter().map(|s| metrics.queue_dropped(*s)).sum();
        (all, dropped)
    });
    let mut micros: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    micros.sort_by(f64::total_cmp);
    let pct = |p: f64| micros[((micros.len() - 1) as f64 * p) as usize];
    println!(
        "bench exchange.queue_latency: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs (parse + per-symbol queue + consumer wake-up; {} bars over {SYMBOLS} symbols, one per symbol every 100 µs, 2 workers, {dropped} dropped)",
        pct(0.50),
        pct(0.99),
        micros.last().copied().unwrap_or(0.0),
        micros.len()
    );
}
