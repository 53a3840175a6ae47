use super::*;
use crate::data_quality::DataQuality;
use crate::execution::circuit_breaker::CircuitBreakerConfig;
use crate::prediction::Prediction;
use crate::risk::{AccountView, MarketSnapshot, RiskLimits, RiskManager};
use crate::signal::Signal;
use levibot_core::{Price, Side, Symbol};
use rstest::rstest;
use rust_decimal_macros::dec;

/// 2022-01-01T00:00:00Z
const T0: i64 = 1_640_995_200_000;

fn t(ms: i64) -> TimestampMs {
    TimestampMs::new(ms)
}

/// An approval for the signal on bar `bar`, from a fresh risk manager (so the same bar
/// can be approved twice, as after a restart that lost the risk manager's memory).
fn approved(bar: i64) -> RiskApproved<OrderRequest> {
    let btc = Symbol::new("BTCUSDT").unwrap();
    let mut rm = RiskManager::new(RiskLimits::new([btc])).unwrap();
    let p = Prediction::new(0.6, 0.8, "test", DataQuality::Ok).unwrap();
    let bar_time = T0 + bar * 60_000;
    let signal = Signal::new(btc, t(bar_time), Side::Buy, p, t(bar_time + 60_000)).unwrap();
    rm.evaluate(
        &signal,
        MarketSnapshot {
            price: Price::new(dec!(40000)).unwrap(),
            realized_vol: Some(0.002),
        },
        &AccountView::with_cash(dec!(10000)),
        Gates::OPEN,
        t(bar_time + 60_000),
    )
    .unwrap()
}

fn executor(limit: u32, max_wait_ms: u64) -> ExecutorCore {
    ExecutorCore::new(ExecutorConfig {
        limiter: WeightLimiterConfig {
            limit,
            window_ms: 60_000,
        },
        breaker: CircuitBreakerConfig {
            failure_threshold: 2,
            open_ms: 10_000,
        },
        max_wait_ms,
        ..ExecutorConfig::default()
    })
    .unwrap()
}

#[test]
fn sends_once_per_client_order_id() {
    let mut ex = executor(100, 5_000);
    let first = approved(0);
    let id = first.get().client_order_id().clone();
    assert!(matches!(
        ex.decide(first, &Gates::OPEN, t(T0)),
        ExecutorDecision::Send(_)
    ));
    assert!(ex.was_decided(&id));
    // the same signal approved again (a restart, a second risk manager): refused here
    let again = approved(0);
    assert_eq!(again.get().client_order_id(), &id);
    let decision = ex.decide(again, &Gates::OPEN, t(T0 + 1));
    assert_eq!(decision.label(), "duplicate_client_order_id");
    let ExecutorDecision::Blocked { order, .. } = decision else {
        panic!("expected blocked");
    };
    assert_eq!(order.client_order_id(), &id);
    // ids recorded before a restart are refused too
    let mut restarted = executor(100, 5_000);
    restarted.remember_decided([id]);
    assert_eq!(
        restarted.decide(approved(0), &Gates::OPEN, t(T0)).label(),
        "duplicate_client_order_id"
    );
    assert_eq!(ex.decision_counts().get("send"), 1);
    assert_eq!(ex.decision_counts().get("duplicate_client_order_id"), 1);
}

#[rstest]
#[case(Gates { trading_enabled: false, ..Gates::OPEN }, BlockReason::TradingDisabled)]
#[case(Gates { kill_switch_engaged: true, ..Gates::OPEN }, BlockReason::KillSwitch)]
#[case(Gates { ess: EssState::Tripped, ..Gates::OPEN }, BlockReason::EssNotArmed(EssState::Tripped))]
#[case(Gates { ess: EssState::Resetting, ..Gates::OPEN }, BlockReason::EssNotArmed(EssState::Resetting))]
fn every_gate_is_checked(#[case] gates: Gates, #[case] expected: BlockReason) {
    let mut ex = executor(100, 5_000);
    match ex.decide(approved(0), &gates, t(T0)) {
        ExecutorDecision::Blocked { reason, .. } => assert_eq!(reason, expected),
        other => panic!("expected {expected}, got {other:?}"),
    }
    // a blocked order is not recorded and takes no weight: once the gate opens it goes out
    assert_eq!(ex.limiter().used(t(T0)), 0);
    assert!(matches!(
        ex.decide(approved(0), &Gates::OPEN, t(T0)),
        ExecutorDecision::Send(_)
    ));
}

#[test]
fn rate_limit_waits_then_sends() {
    let mut ex = executor(2, 60_000);
    for bar in 0..2 {
        assert!(matches!(
            ex.decide(approved(bar), &Gates::OPEN, t(T0 + 1_000)),
            ExecutorDecision::Send(_)
        ));
    }
    let ExecutorDecision::Wait {
        retry_in_ms,
        approved: back,
    } = ex.decide(approved(2), &Gates::OPEN, t(T0 + 1_000))
    else {
        panic!("expected a wait");
    };
    // the window ends at T0 + 60 s
    assert_eq!(retry_in_ms, 59_000);
    assert!(!ex.was_decided(back.get().client_order_id()));
    let later = t(T0 + 1_000 + i64::try_from(retry_in_ms).unwrap());
    assert!(matches!(
        ex.decide(back, &Gates::OPEN, later),
        ExecutorDecision::Send(_)
    ));
}

#[test]
fn a_long_wait_blocks() {
    let mut ex = executor(1, 1_000);
    ex.decide(approved(0), &Gates::OPEN, t(T0));
    assert_eq!(
        ex.decide(approved(1), &Gates::OPEN, t(T0)).label(),
        "rate_limited"
    );
}

#[test]
fn header_and_429_feed_the_limiter() {
    let mut ex = executor(6_000, 5_000);
    // another process used the whole minute
    ex.observe_used_weight(6_000, t(T0 + 58_000));
    let d = ex.decide(approved(0), &Gates::OPEN, t(T0 + 58_000));
    assert!(
        matches!(
            d,
            ExecutorDecision::Wait {
                retry_in_ms: 2_000,
                ..
            }
        ),
        "{d:?}"
    );
    // a 429 with Retry-After 3 s at T0 + 60 s: pause, and the policy says retry after 3 s
    let next = ex.on_send_outcome(
        SendOutcome::RateLimited {
            retry_after_ms: 3_000,
        },
        1,
        t(T0 + 60_000),
    );
    assert_eq!(next, NextAction::RetryAfter { after_ms: 3_000 });
    let d = ex.decide(approved(1), &Gates::OPEN, t(T0 + 61_000));
    assert!(
        matches!(
            d,
            ExecutorDecision::Wait {
                retry_in_ms: 2_000,
                ..
            }
        ),
        "{d:?}"
    );
    // a 418 ban of an hour: give up, and block instead of waiting
    let next = ex.on_send_outcome(
        SendOutcome::Banned {
            retry_after_ms: 3_600_000,
        },
        1,
        t(T0 + 62_000),
    );
    assert_eq!(next, NextAction::GiveUp);
    assert_eq!(
        ex.decide(approved(2), &Gates::OPEN, t(T0 + 63_000)).label(),
        // the breaker opened first: two consecutive failures
        "circuit_open"
    );
}

#[test]
fn breaker_opens_and_probes_once() {
    let mut ex = executor(100, 5_000);
    assert_eq!(
        ex.on_send_outcome(SendOutcome::OutcomeUnknown, 1, t(T0)),
        NextAction::QueryByClientOrderIdThenDecide { after_ms: 200 }
    );
    ex.on_send_outcome(SendOutcome::OutcomeUnknown, 1, t(T0));
    assert_eq!(ex.breaker_state(t(T0)), BreakerState::Open);
    assert_eq!(
        ex.decide(approved(0), &Gates::OPEN, t(T0 + 9_999)).label(),
        "circuit_open"
    );
    assert_eq!(ex.breaker_state(t(T0 + 10_000)), BreakerState::HalfOpen);
    // one probe, then blocked until it reports
    assert_eq!(
        ex.decide(approved(0), &Gates::OPEN, t(T0 + 10_000)).label(),
        "send"
    );
    assert_eq!(
        ex.decide(approved(1), &Gates::OPEN, t(T0 + 10_001)).label(),
        "circuit_open"
    );
    // a definitive answer (even a refusal) closes it
    assert_eq!(
        ex.on_send_outcome(SendOutcome::Rejected, 1, t(T0 + 10_002)),
        NextAction::GiveUp
    );
    assert_eq!(ex.breaker_state(t(T0 + 10_002)), BreakerState::Closed);
    assert_eq!(
        ex.decide(approved(1), &Gates::OPEN, t(T0 + 10_003)).label(),
        "send"
    );
}

#[test]
fn resend_checks_gates_but_not_the_id() {
    let mut ex = executor(100, 5_000);
    let fresh = approved(0);
    assert_eq!(
        ex.check_resend(&fresh, &Gates::OPEN, t(T0)),
        ResendDecision::Blocked(BlockReason::NotDecided)
    );
    let ExecutorDecision::Send(sent) = ex.decide(fresh, &Gates::OPEN, t(T0)) else {
        panic!("expected send");
    };
    // the POST timed out; the query found nothing: resend, same id
    assert_eq!(
        ex.on_query_outcome(QueryOutcome::NotFound, 2, t(T0 + 100)),
        NextAction::RetryAfter { after_ms: 400 }
    );
    assert_eq!(
        ex.check_resend(&sent, &Gates::OPEN, t(T0 + 500)),
        ResendDecision::Go
    );
    let tripped = Gates {
        ess: EssState::Tripped,
        ..Gates::OPEN
    };
    assert_eq!(
        ex.check_resend(&sent, &tripped, t(T0 + 600)),
        ResendDecision::Blocked(BlockReason::EssNotArmed(EssState::Tripped))
    );
}

#[test]
fn bad_configs() {
    let bad_weight = ExecutorConfig {
        order_weight: 0,
        ..ExecutorConfig::default()
    };
    assert!(matches!(
        ExecutorCore::new(bad_weight),
        Err(ExecutorConfigError::OrderWeight { .. })
    ));
    let bad_dedupe = ExecutorConfig {
        dedupe_capacity: 0,
        ..ExecutorConfig::default()
    };
    assert!(ExecutorCore::new(bad_dedupe).is_err());
}

/// The exit of 0.5 BTC on the trip `seq`.
fn flatten(seq: u64) -> RiskApproved<FlattenOrder> {
    let btc = Symbol::new("BTCUSDT").unwrap();
    let rm = RiskManager::new(RiskLimits::new([btc])).unwrap();
    rm.approve_flatten(btc, dec!(0.5), None, seq, t(T0))
        .unwrap()
}

const TRIPPED: Gates = Gates {
    ess: EssState::Tripped,
    ..Gates::OPEN
};

#[rstest]
// the ESS is the one gate a flatten passes
#[case(TRIPPED, None)]
#[case(Gates { ess: EssState::Resetting, ..Gates::OPEN }, None)]
#[case(Gates::OPEN, None)]
// the kill switch means "send nothing": it still blocks a flatten, and so does trading disabled
#[case(Gates { kill_switch_engaged: true, ..TRIPPED }, Some(BlockReason::KillSwitch))]
#[case(Gates { trading_enabled: false, ..TRIPPED }, Some(BlockReason::TradingDisabled))]
#[case(Gates { trading_enabled: false, kill_switch_engaged: true, ..TRIPPED }, Some(BlockReason::TradingDisabled))]
fn a_flatten_passes_the_ess_gate_and_no_other(
    #[case] gates: Gates,
    #[case] expected: Option<BlockReason>,
) {
    let mut ex = executor(100, 5_000);
    let decision = ex.decide_flatten(flatten(1), &gates, t(T0));
    match (decision, expected) {
        (FlattenDecision::Send(order), None) => {
            assert_eq!(order.get().side(), Side::Sell);
            assert!(ex.was_decided(order.get().client_order_id()));
        }
        (FlattenDecision::Blocked { reason, order }, Some(expected)) => {
            assert_eq!(reason, expected);
            assert_eq!(order.side(), Side::Sell);
            assert!(!ex.was_decided(order.client_order_id()));
        }
        (decision, expected) => panic!("got {decision:?}, expected {expected:?}"),
    }
    // the ordinary path keeps every gate, the ESS included
    let plain = ex.decide(approved(0), &gates, t(T0));
    assert_eq!(
        plain.label() == "send",
        gates.all_open(),
        "{}",
        plain.label()
    );
}

#[test]
fn a_redelivered_trip_never_sells_twice() {
    let mut ex = executor(100, 5_000);
    assert_eq!(
        ex.decide_flatten(flatten(7), &TRIPPED, t(T0)).label(),
        "send"
    );
    // the same trip again (bus redelivery, poll, restart with the ids remembered)
    assert_eq!(
        ex.decide_flatten(flatten(7), &TRIPPED, t(T0 + 1)).label(),
        "duplicate_client_order_id"
    );
    let mut restarted = executor(100, 5_000);
    restarted.remember_decided([flatten(7).get().order().client_order_id().clone()]);
    assert_eq!(
        restarted
            .decide_flatten(flatten(7), &TRIPPED, t(T0))
            .label(),
        "duplicate_client_order_id"
    );
    // a later trip is another exit
    assert_eq!(
        ex.decide_flatten(flatten(8), &TRIPPED, t(T0 + 2)).label(),
        "send"
    );
    assert_eq!(ex.flatten_decision_counts().get("send"), 2);
    assert_eq!(
        ex.flatten_decision_counts()
            .get("duplicate_client_order_id"),
        1
    );
    // flattens are not counted as ordinary decisions
    assert_eq!(ex.decision_counts().total(), 0);
}

#[test]
fn a_flatten_meets_the_breaker_and_the_limiter() {
    // limit 1: the first flatten takes it, the next waits (short) or is blocked (long)
    let mut ex = executor(1, 60_000);
    assert_eq!(
        ex.decide_flatten(flatten(1), &TRIPPED, t(T0)).label(),
        "send"
    );
    let FlattenDecision::Wait {
        retry_in_ms,
        approved,
    } = ex.decide_flatten(flatten(2), &TRIPPED, t(T0))
    else {
        panic!("expected a wait");
    };
    assert!(retry_in_ms > 0);
    assert_eq!(
        ex.decide_flatten(approved, &TRIPPED, t(T0 + 60_000))
            .label(),
        "send"
    );
    let mut short = executor(1, 10);
    assert_eq!(
        short.decide_flatten(flatten(1), &TRIPPED, t(T0)).label(),
        "send"
    );
    assert_eq!(
        short.decide_flatten(flatten(2), &TRIPPED, t(T0)).label(),
        "rate_limited"
    );
    // two unknown outcomes open the breaker (threshold 2): a flatten is blocked too
    let mut broken = executor(100, 5_000);
    broken.on_send_outcome(SendOutcome::OutcomeUnknown, 1, t(T0));
    broken.on_send_outcome(SendOutcome::OutcomeUnknown, 1, t(T0));
    assert_eq!(
        broken
            .decide_flatten(flatten(1), &TRIPPED, t(T0 + 1))
            .label(),
        "circuit_open"
    );
}

#[test]
fn a_flattens_resend_skips_the_ess_gate_and_no_ordinary_resend_does() {
    let mut ex = executor(100, 5_000);
    let FlattenDecision::Send(exit) = ex.decide_flatten(flatten(1), &TRIPPED, t(T0)) else {
        panic!("expected send");
    };
    assert_eq!(
        ex.check_resend(&exit, &TRIPPED, t(T0 + 1)),
        ResendDecision::Go
    );
    let killed = Gates {
        kill_switch_engaged: true,
        ..TRIPPED
    };
    assert_eq!(
        ex.check_resend(&exit, &killed, t(T0 + 2)),
        ResendDecision::Blocked(BlockReason::KillSwitch)
    );
    let ExecutorDecision::Send(entry) = ex.decide(approved(0), &Gates::OPEN, t(T0 + 3)) else {
        panic!("expected send");
    };
    assert_eq!(
        ex.check_resend(&entry, &TRIPPED, t(T0 + 4)),
        ResendDecision::Blocked(BlockReason::EssNotArmed(EssState::Tripped))
    );
    // a flatten handed to the ordinary path meets the ESS gate like any order
    assert_eq!(
        ex.decide(flatten(2).into_order(), &TRIPPED, t(T0 + 5))
            .label(),
        "ess_not_armed"
    );
}
