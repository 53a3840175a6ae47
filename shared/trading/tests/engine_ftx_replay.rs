//! The whole trading core over a real month of 1m bars (FTX BTC-PERP, January 2022):
//! EMA cross → engine → risk → executor, with a paper book updated on every sent order and
//! gates closed over some stretches, checking the safety invariants on every step.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "a test: the replay helper outside #[test] fns asserts and reports too"
)]

#[path = "support/ftx_replay.rs"]
mod ftx_replay;

use std::collections::HashSet;

use ftx_replay::{PaperBook, load_ftx};
use levibot_core::{Side, SignalId, Symbol, TimestampMs};
use levibot_trading::execution::OrderLeg;
use levibot_trading::{
    Desk, EmaCross, EmaCrossConfig, EngineConfig, EngineCore, EssState, ExecutorConfig,
    ExecutorCore, ExecutorDecision, Gates, RejectReason, RiskLimits, RiskManager, StepOutcome,
    client_order_id_for,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// The gates over the replay, by bar index: ESS tripped, kill switch, trading disabled.
fn gates_at(i: usize) -> Gates {
    match i {
        10_000..12_000 => Gates {
            ess: EssState::Tripped,
            ..Gates::OPEN
        },
        20_000..21_000 => Gates {
            kill_switch_engaged: true,
            ..Gates::OPEN
        },
        30_000..30_500 => Gates {
            trading_enabled: false,
            ..Gates::OPEN
        },
        _ => Gates::OPEN,
    }
}

fn limits(symbol: Symbol) -> RiskLimits {
    let mut l = RiskLimits::new([symbol]);
    l.symbol_caps_usd.insert(symbol, dec!(300));
    l.kelly_multiplier = 1.0;
    l.max_position_usd = dec!(1000);
    l.max_total_exposure_usd = dec!(900);
    l.daily_loss_limit_usd = dec!(150);
    l
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Summary {
    /// Every step's label, with the signal id when there was one.
    trace: Vec<(Option<SignalId>, &'static str)>,
    buys: u32,
    /// Buys a cap made smaller than Kelly asked.
    capped: u32,
    sells: u32,
    stale: u32,
    gate_rejections: u64,
}

fn run() -> Summary {
    let symbol = Symbol::new("BTC-PERP").unwrap();
    let bars = load_ftx(symbol);
    assert_eq!(bars.len(), 45_031);
    let limits = limits(symbol);
    let step = limits.default_lot.step;
    let mut desk = Desk {
        risk: RiskManager::new(limits.clone()).unwrap(),
        executor: ExecutorCore::new(ExecutorConfig::default()).unwrap(),
    };
    let mut engine = EngineCore::new(EngineConfig::new(symbol)).unwrap();
    let mut strategy = EmaCross::new(EmaCrossConfig::default()).unwrap();
    let mut book = PaperBook::new(symbol, dec!(10000));
    let mut sent_ids = HashSet::new();
    let mut summary = Summary::default();

    for (i, bar) in bars.iter().enumerate() {
        book.mark(bar);
        let gates = gates_at(i);
        // the bar's close reaches us 250 ms after it ended; every 5,000th arrives 30 s late
        let ended = bar.close_time().as_i64() + 1;
        let now = TimestampMs::new(ended + if i % 5_000 == 4_999 { 30_000 } else { 250 });
        let account = book.view();
        let out = engine.step_with(bar, &mut strategy, &account, &gates, &mut desk, now);
        let mut signal_id = None;
        match &out {
            StepOutcome::Stale { lag_ms } => {
                assert!(*lag_ms > 5_000);
                summary.stale += 1;
            }
            StepOutcome::Rejected { signal, rejection } => {
                signal_id = Some(signal.id());
                assert_eq!(rejection.detail.signal_id, signal.id());
                if !gates.all_open() {
                    assert!(
                        matches!(
                            rejection.reason,
                            RejectReason::TradingDisabled
                                | RejectReason::KillSwitch
                                | RejectReason::EssNotArmed(_)
                        ),
                        "bar {i}: {rejection}"
                    );
                    summary.gate_rejections += 1;
                }
            }
            StepOutcome::Decided { signal, decision } => {
                signal_id = Some(signal.id());
                // no approval while a gate is closed
                assert!(gates.all_open(), "bar {i}: approved with gates {gates:?}");
                let ExecutorDecision::Send(approved) = decision else {
                    panic!("bar {i}: the executor held back {decision:?}");
                };
                let order = approved.get();
                // no approval without its signal
                assert_eq!(order.signal_id(), Some(signal.id()));
                assert_eq!(
                    order.client_order_id(),
                    &client_order_id_for(signal.id(), OrderLeg::Entry)
                );
                assert!(sent_ids.insert(order.client_order_id().clone()));
                assert_eq!(order.side(), signal.side());
                assert_eq!(order.symbol(), symbol);
                // positive, on the lot step
                let q = order.quantity().value();
                assert!(q > Decimal::ZERO);
                assert!((q % step).is_zero(), "bar {i}: {q} off the {step} step");
                let notional = q * bar.close().value();
                assert!(notional >= limits.default_lot.min_notional);
                match order.side() {
                    Side::Buy => {
                        let after = (book.quantity + q) * book.price;
                        assert!(after <= dec!(300), "bar {i}: position {after} over the cap");
                        if approved
                            .detail()
                            .sizing
                            .as_ref()
                            .unwrap()
                            .binding_cap
                            .is_some()
                        {
                            summary.capped += 1;
                        }
                        assert!(after <= limits.max_total_exposure_usd);
                        assert!(notional <= book.cash, "bar {i}: spent more than the cash");
                        summary.buys += 1;
                    }
                    Side::Sell => {
                        assert!(q <= book.quantity, "bar {i}: sold more than held");
                        summary.sells += 1;
                    }
                }
                book.fill(order);
            }
            StepOutcome::Ignored(why) => panic!("bar {i} ignored: {why:?}"),
            StepOutcome::InvalidSignal(e) => panic!("bar {i}: {e}"),
            StepOutcome::NoSignal => {}
        }
        assert!(book.cash >= Decimal::ZERO);
        assert!(book.quantity >= Decimal::ZERO);
        summary.trace.push((signal_id, out.label()));
    }

    let c = *engine.counters();
    assert_eq!(c.bars_processed, 45_031);
    assert_eq!(c.bars_ignored, 0);
    assert_eq!(u64::from(summary.stale), c.stale_bars);
    assert_eq!(c.signals, c.approvals + c.rejections);
    assert_eq!(c.approvals, c.sent + c.blocked + c.waits);
    assert_eq!(c.approvals, desk.risk.approvals());
    assert_eq!(c.rejections, desk.risk.rejection_counts().total());
    assert_eq!(u64::from(summary.buys + summary.sells), c.sent);
    let refusals: Vec<(&str, u64)> = desk.risk.rejection_counts().iter().collect();
    println!(
        "replay: {c:?}; {} buys ({} capped), {} sells; refusals {refusals:?}; final equity {}",
        summary.buys,
        summary.capped,
        summary.sells,
        book.equity().round_dp(2)
    );
    summary
}

#[test]
fn a_month_of_real_bars_keeps_every_invariant() {
    let summary = run();
    // not vacuous: the strategy traded both ways and the closed gates refused something
    assert!(summary.buys >= 20, "{} buys", summary.buys);
    assert!(summary.sells >= 20, "{} sells", summary.sells);
    assert!(summary.capped >= 10, "{} capped buys", summary.capped);
    assert!(summary.gate_rejections > 0);
    assert_eq!(summary.stale, 9);
}

#[test]
fn the_replay_is_deterministic() {
    // same bars, same decisions, same signal ids
    assert_eq!(run(), run());
}
