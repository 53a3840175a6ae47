use super::*;
use crate::data_quality::DataQuality;
use crate::execution::ExecutorConfig;
use crate::gates::EssState;
use crate::risk::{RejectReason, RiskLimits};
use levibot_core::{Interval, Price, Quantity};
use rust_decimal::Decimal;

/// 2022-01-01T00:00:00Z
const T0: i64 = 1_640_995_200_000;

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

fn bar_of(symbol: Symbol, i: i64, close: i64) -> Bar {
    let c = Price::new(Decimal::from(close)).unwrap();
    Bar::new(
        symbol,
        Interval::M1,
        TimestampMs::new(T0 + i * 60_000),
        c,
        c,
        c,
        c,
        Quantity::new(Decimal::ONE).unwrap(),
    )
    .unwrap()
}

fn bar(i: i64, close: i64) -> Bar {
    bar_of(btc(), i, close)
}

/// When bar `i` has just closed.
fn after(i: i64) -> TimestampMs {
    TimestampMs::new(T0 + (i + 1) * 60_000 + 100)
}

fn desk() -> Desk {
    Desk {
        risk: RiskManager::new(RiskLimits::new([btc()])).unwrap(),
        executor: ExecutorCore::new(ExecutorConfig::default()).unwrap(),
    }
}

fn engine() -> EngineCore {
    EngineCore::new(EngineConfig {
        vol_window: 3,
        ..EngineConfig::new(btc())
    })
    .unwrap()
}

fn buy() -> Option<Prediction> {
    Some(Prediction::new(0.6, 0.8, "test", DataQuality::Ok).unwrap())
}

#[test]
fn bars_are_ordered_per_symbol() {
    let mut e = engine();
    let mut d = desk();
    let acct = AccountView::with_cash(Decimal::from(10_000));
    let g = Gates::OPEN;
    assert_eq!(
        e.step(&bar(1, 100), None, &acct, &g, &mut d, after(1)),
        StepOutcome::NoSignal
    );
    let eth = Symbol::new("ETHUSDT").unwrap();
    assert_eq!(
        e.step(&bar_of(eth, 2, 100), None, &acct, &g, &mut d, after(2)),
        StepOutcome::Ignored(BarIgnored::WrongSymbol {
            expected: btc(),
            got: eth
        })
    );
    assert_eq!(
        e.step(&bar(1, 100), buy(), &acct, &g, &mut d, after(2))
            .label(),
        "ignored_duplicate"
    );
    assert_eq!(
        e.step(&bar(0, 100), buy(), &acct, &g, &mut d, after(2)),
        StepOutcome::Ignored(BarIgnored::OutOfOrder {
            open_time: TimestampMs::new(T0),
            last: TimestampMs::new(T0 + 60_000)
        })
    );
    // a gap is fine: the next bar is newer
    assert_eq!(
        e.step(&bar(5, 100), None, &acct, &g, &mut d, after(5)),
        StepOutcome::NoSignal
    );
    let c = e.counters();
    assert_eq!((c.bars_processed, c.bars_ignored, c.signals), (2, 3, 0));
    assert_eq!(e.last_open_time(), Some(TimestampMs::new(T0 + 5 * 60_000)));
}

#[test]
fn stale_bars_update_state_but_never_trade() {
    let mut e = engine();
    let mut d = desk();
    let acct = AccountView::with_cash(Decimal::from(10_000));
    // bar 0 ended at T0 + 60 s; 5 s threshold: stale from T0 + 65.001 s
    let late = TimestampMs::new(T0 + 65_001);
    let out = e.step(&bar(0, 100), buy(), &acct, &Gates::OPEN, &mut d, late);
    assert_eq!(out, StepOutcome::Stale { lag_ms: 5_001 });
    assert!(e.is_stale());
    let on_time = TimestampMs::new(T0 + 120_000 + 5_000);
    assert_eq!(
        e.step(&bar(1, 101), None, &acct, &Gates::OPEN, &mut d, on_time),
        StepOutcome::NoSignal
    );
    assert!(!e.is_stale());
    assert_eq!(e.counters().stale_bars, 1);
    assert_eq!(e.counters().signals, 0);
    assert_eq!(d.risk.rejection_counts().total(), 0);
}

#[test]
fn a_signal_goes_through_risk_and_the_executor() {
    let mut e = engine();
    let mut d = desk();
    let acct = AccountView::with_cash(Decimal::from(10_000));
    let g = Gates::OPEN;
    // fill the volatility window: 3 returns need 4 closes
    for (i, c) in [100, 101, 100, 101].into_iter().enumerate() {
        let i = i64::try_from(i).unwrap();
        e.step(&bar(i, c), None, &acct, &g, &mut d, after(i));
    }
    assert!(e.realized_vol().is_some());
    let out = e.step(&bar(4, 100), buy(), &acct, &g, &mut d, after(4));
    let StepOutcome::Decided { signal, decision } = out else {
        panic!("expected a decision, got {out:?}");
    };
    assert_eq!(signal.bar_open_time(), TimestampMs::new(T0 + 4 * 60_000));
    let ExecutorDecision::Send(order) = decision else {
        panic!("expected send, got {decision:?}");
    };
    assert_eq!(order.get().signal_id(), Some(signal.id()));
    assert!(order.get().quantity().value() > Decimal::ZERO);
    // the ESS trips: the risk manager refuses before the executor sees anything
    let tripped = Gates {
        ess: EssState::Tripped,
        ..Gates::OPEN
    };
    let out = e.step(&bar(5, 100), buy(), &acct, &tripped, &mut d, after(5));
    let StepOutcome::Rejected { rejection, .. } = out else {
        panic!("expected a rejection, got {out:?}");
    };
    assert_eq!(
        rejection.reason,
        RejectReason::EssNotArmed(EssState::Tripped)
    );
    // a neutral prediction is no signal
    let neutral = Prediction::new(0.5, 0.9, "test", DataQuality::Ok).ok();
    assert_eq!(
        e.step(&bar(6, 100), neutral, &acct, &g, &mut d, after(6)),
        StepOutcome::NoSignal
    );
    let c = *e.counters();
    assert_eq!(
        (
            c.signals,
            c.approvals,
            c.rejections,
            c.sent,
            c.blocked,
            c.waits
        ),
        (2, 1, 1, 1, 0, 0)
    );
}

#[test]
fn bad_configs() {
    let mut c = EngineConfig::new(btc());
    c.vol_window = 1;
    assert_eq!(
        EngineCore::new(c).unwrap_err(),
        EngineConfigError::VolWindow(1)
    );
    let mut c = EngineConfig::new(btc());
    c.stale_after_ms = -1;
    assert!(EngineCore::new(c).is_err());
}
