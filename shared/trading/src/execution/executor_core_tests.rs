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
