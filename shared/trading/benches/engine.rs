//! `cargo bench -p levibot-trading`: the synchronous trading core's step latency over the real
//! FTX BTC-PERP 1m file (45,031 bars): EMA cross → engine step → risk → executor decision,
//! each step timed with `Instant`, the paper book updated outside the timed region.
//!
//! Prints lines such as
//! `bench trading.engine_step: p50 0.4 µs, p99 1.9 µs, max 30.0 µs, 2,000,000 steps/s (…)`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a benchmark binary: it prints, and a broken fixture should stop it"
)]

#[path = "../tests/support/ftx_replay.rs"]
mod ftx_replay;

use std::hint::black_box;
use std::time::{Duration, Instant};

use ftx_replay::{PaperBook, load_ftx};
use levibot_core::{Symbol, TimestampMs};
use levibot_trading::{
    Desk, EmaCross, EmaCrossConfig, EngineConfig, EngineCore, ExecutorConfig, ExecutorCore,
    ExecutorDecision, Gates, RiskLimits, RiskManager, StepOutcome,
};
use rust_decimal_macros::dec;

const RUNS: usize = 5;

fn main() {
    let symbol = Symbol::new("BTC-PERP").unwrap();
    let bars = load_ftx(symbol);
    let mut all = Vec::with_capacity(bars.len() * RUNS);
    let mut with_signal = Vec::new();
    let mut total = Duration::ZERO;
    let mut sent = 0u64;
    for _ in 0..RUNS {
        let mut desk = Desk {
            risk: RiskManager::new(RiskLimits::new([symbol])).unwrap(),
            executor: ExecutorCore::new(ExecutorConfig::default()).unwrap(),
        };
        let mut engine = EngineCore::new(EngineConfig::new(symbol)).unwrap();
        let mut strategy = EmaCross::new(EmaCrossConfig::default()).unwrap();
        let mut book = PaperBook::new(symbol, dec!(10000));
        for bar in &bars {
            book.mark(bar);
            let account = book.view();
            let now = TimestampMs::new(bar.close_time().as_i64() + 251);
            let start = Instant::now();
            let out = engine.step_with(
                black_box(bar),
                &mut strategy,
                &account,
                &Gates::OPEN,
                &mut desk,
                now,
            );
            let elapsed = start.elapsed();
            total += elapsed;
            all.push(elapsed);
            match &out {
                StepOutcome::Decided { decision, .. } => {
                    with_signal.push(elapsed);
                    if let ExecutorDecision::Send(approved) = decision {
                        book.fill(approved.get());
                        sent += 1;
                    }
                }
                StepOutcome::Rejected { .. } => with_signal.push(elapsed),
                _ => {}
            }
            black_box(out);
        }
    }
    let steps = all.len();
    let (p50, p99, max) = percentiles(&mut all);
    println!(
        "bench trading.engine_step: p50 {p50:.2} µs, p99 {p99:.2} µs, max {max:.1} µs, {} steps/s \
         ({} bars x {RUNS} runs; EMA cross + engine step + risk + executor decision; {} orders sent)",
        thousands((steps as f64 / total.as_secs_f64()) as u64),
        bars.len(),
        sent
    );
    let n = with_signal.len();
    let (p50, p99, max) = percentiles(&mut with_signal);
    println!(
        "bench trading.engine_step.signal: p50 {p50:.2} µs, p99 {p99:.2} µs, max {max:.1} µs \
         ({n} steps that built a signal: risk evaluation, order, executor decision)"
    );
}

/// p50, p99 and max in µs.
fn percentiles(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let at = |p: f64| us(samples[((samples.len() - 1) as f64 * p) as usize]);
    (at(0.50), at(0.99), samples.last().copied().map_or(0.0, us))
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
