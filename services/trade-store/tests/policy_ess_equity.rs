//! Risk-policy versions, ESS transitions and equity snapshots through the store API, against
//! both backends (a PostgreSQL schema and a SQLite file per test): policy versions and ESS
//! transitions are numbered by compare-and-set (a stale writer, a gap or a repeat is refused
//! and stores nothing; of racing writers exactly one wins), equity snapshots are idempotent by
//! instant and keep their decimal scale.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

#[macro_use]
mod support;

use levibot_core::{Actor, Money, Role, TimestampMs};
use levibot_trade_store::{
    StoreError, TradeStore,
    store::{EquitySnapshot, EssState, EssTransition, NewPolicyVersion, SnapshotsReport},
};
use rust_decimal_macros::dec;
use serde_json::json;
use support::ALL_TIME;

const T0: i64 = 1_640_995_200_000;

fn admin() -> Actor {
    Actor::new("ops", Role::Admin).unwrap()
}

fn policy(profile: &str, max_drawdown: &str) -> NewPolicyVersion {
    NewPolicyVersion {
        profile: profile.into(),
        document: json!({
            "max_drawdown": max_drawdown,
            "daily_loss_limit_usd": "250.00",
            "symbols": ["BTCUSDT", "ETHUSDT"],
        }),
        created_at: TimestampMs::new(T0),
        actor: admin(),
        reason: "tighten after review".into(),
    }
}

fn is_stale<T: std::fmt::Debug>(result: Result<T, StoreError>, message: &str) {
    match result {
        Err(StoreError::Stale(text)) => assert_eq!(text, message),
        other => panic!("expected a stale write, got {other:?}"),
    }
}

async fn policy_versions_are_compare_and_set(store: &TradeStore) {
    assert_eq!(store.latest_policy_version().await.unwrap(), None);
    is_stale(
        store
            .append_policy_version(1, &policy("full", "0.10"))
            .await,
        "policy version 0 is current, not 1",
    );
    let first = store
        .append_policy_version(0, &policy("conservative", "0.05"))
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    // a writer that did not see version 1 is refused and stores nothing
    is_stale(
        store
            .append_policy_version(0, &policy("full", "0.20"))
            .await,
        "policy version 1 is current, not 0",
    );
    is_stale(
        store
            .append_policy_version(7, &policy("full", "0.20"))
            .await,
        "policy version 1 is current, not 7",
    );
    let second = store
        .append_policy_version(1, &policy("expansion", "0.08"))
        .await
        .unwrap();
    assert_eq!(second.version, 2);
    assert_eq!(second.policy, policy("expansion", "0.08"));

    let latest = store.latest_policy_version().await.unwrap().unwrap();
    assert_eq!(latest, second);
    let all = store.list_policy_versions(100).await.unwrap();
    assert_eq!(all, vec![second.clone(), first]);
    assert_eq!(store.list_policy_versions(1).await.unwrap(), vec![second]);

    // what the schema would refuse is refused first, with a clear message
    let mut not_object = policy("custom", "0.1");
    not_object.document = json!(["not", "an", "object"]);
    let mut no_profile = policy("custom", "0.1");
    no_profile.profile = "  ".into();
    for bad in [not_object, no_profile] {
        assert!(matches!(
            store.append_policy_version(2, &bad).await,
            Err(StoreError::InvalidInput(_))
        ));
    }
    assert!(matches!(
        store
            .append_policy_version(u64::MAX, &policy("full", "0.1"))
            .await,
        Err(StoreError::InvalidInput(_))
    ));
    assert_eq!(store.list_policy_versions(100).await.unwrap().len(), 2);
}

/// Writers racing with the same expected version: exactly one stores its version.
async fn racing_policy_writers_have_one_winner(store: &TradeStore) {
    for expected in [0, 1, 2] {
        let writers = (0..6).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append_policy_version(expected, &policy("custom", &format!("0.0{i}")))
                    .await
            })
        });
        let results = futures::future::join_all(writers).await;
        let mut won = 0;
        for result in results {
            match result.unwrap() {
                Ok(stored) => {
                    assert_eq!(stored.version, expected + 1);
                    won += 1;
                }
                Err(StoreError::Stale(_)) => {}
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
        assert_eq!(won, 1, "writers expecting {expected}");
    }
    let versions: Vec<u64> = store
        .list_policy_versions(100)
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, [3, 2, 1]);
}

fn transition(seq: u64, from: EssState, to: EssState, trigger: &str) -> EssTransition {
    let tripped = to == EssState::Tripped;
    EssTransition {
        seq,
        from,
        to,
        trigger: trigger.into(),
        reason: if tripped {
            "drawdown 5.2% over the 5% limit".into()
        } else {
            String::new()
        },
        actor: if tripped {
            Actor::new("risk-manager", Role::Trader).unwrap()
        } else {
            admin()
        },
        at: TimestampMs::new(T0 + i64::try_from(seq).unwrap()),
        cooldown_until: tripped.then(|| TimestampMs::new(T0 + 3_600_000)),
        detail: if tripped {
            json!({"drawdown": "0.052", "limit": "0.05"})
        } else {
            json!({})
        },
    }
}

async fn ess_transitions_refuse_gaps_and_repeats(store: &TradeStore) {
    use EssState::{Armed, Resetting, Tripped};
    assert!(store.query_ess_transitions(100).await.unwrap().is_empty());
    is_stale(
        store
            .append_ess_transition(&transition(2, Armed, Tripped, "drawdown"))
            .await,
        "ess transition seq 2 refused: the latest stored seq is 0, the next must be 1",
    );
    let trip = transition(1, Armed, Tripped, "drawdown");
    store.append_ess_transition(&trip).await.unwrap();
    // a repeat and a gap are refused and store nothing
    is_stale(
        store
            .append_ess_transition(&transition(1, Armed, Tripped, "manual"))
            .await,
        "ess transition seq 1 refused: the latest stored seq is 1, the next must be 2",
    );
    is_stale(
        store
            .append_ess_transition(&transition(3, Tripped, Resetting, "reset_started"))
            .await,
        "ess transition seq 3 refused: the latest stored seq is 1, the next must be 2",
    );
    assert!(matches!(
        store
            .append_ess_transition(&transition(0, Armed, Tripped, "manual"))
            .await,
        Err(StoreError::InvalidInput(_))
    ));
    let mut no_trigger = transition(2, Tripped, Resetting, "reset_started");
    no_trigger.trigger = " ".into();
    assert!(matches!(
        store.append_ess_transition(&no_trigger).await,
        Err(StoreError::InvalidInput(_))
    ));
    let reset = transition(2, Tripped, Resetting, "reset_started");
    let armed = transition(3, Resetting, Armed, "reset_completed");
    store.append_ess_transition(&reset).await.unwrap();
    store.append_ess_transition(&armed).await.unwrap();

    let all = store.query_ess_transitions(100).await.unwrap();
    assert_eq!(all, vec![armed.clone(), reset, trip]);
    assert_eq!(
        all[2].cooldown_until,
        Some(TimestampMs::new(T0 + 3_600_000))
    );
    assert_eq!(all[2].detail, json!({"drawdown": "0.052", "limit": "0.05"}));
    assert_eq!(store.query_ess_transitions(1).await.unwrap(), vec![armed]);
}

async fn racing_ess_writers_have_one_winner(store: &TradeStore) {
    for seq in [1, 2] {
        let writers = (0..6).map(|_| {
            let store = store.clone();
            let t = transition(seq, EssState::Armed, EssState::Tripped, "manual");
            tokio::spawn(async move { store.append_ess_transition(&t).await })
        });
        let won = futures::future::join_all(writers)
            .await
            .into_iter()
            .filter(|result| match result.as_ref().unwrap() {
                Ok(()) => true,
                Err(StoreError::Stale(_)) => false,
                Err(other) => panic!("unexpected error: {other}"),
            })
            .count();
        assert_eq!(won, 1, "writers of seq {seq}");
    }
    assert_eq!(store.query_ess_transitions(100).await.unwrap().len(), 2);
}

fn snapshot(at: i64, equity: &str, cash: &str, unrealized: &str, realized: &str) -> EquitySnapshot {
    let m = |s: &str| s.parse::<Money>().unwrap();
    EquitySnapshot {
        at: TimestampMs::new(at),
        equity: m(equity),
        cash: m(cash),
        unrealized_pnl: m(unrealized),
        realized_pnl: m(realized),
    }
}

async fn equity_snapshots_are_idempotent_and_keep_their_scale(store: &TradeStore) {
    let later = snapshot(T0 + 60_000, "10012.25", "9000.00", "12.250", "0.00");
    let first = snapshot(T0, "10000.50", "10000.50", "0.00", "0");
    let repeated = snapshot(T0, "1", "1", "1", "1");
    let report = store
        .record_equity_snapshots(&[later, first, repeated])
        .await
        .unwrap();
    assert_eq!(
        report,
        SnapshotsReport {
            inserted: 2,
            duplicates: 1
        }
    );
    // the first snapshot of an instant is kept, stored before or earlier in the batch
    let again = snapshot(T0 + 60_000, "1", "1", "1", "1");
    let new = snapshot(T0 + 120_000, "9990.001", "9000.00", "-22.250", "12.2500");
    let report = store.record_equity_snapshots(&[again, new]).await.unwrap();
    assert_eq!(
        report,
        SnapshotsReport {
            inserted: 1,
            duplicates: 1
        }
    );
    assert_eq!(
        store.record_equity_snapshots(&[]).await.unwrap(),
        SnapshotsReport::default()
    );

    let got = store
        .query_equity(ALL_TIME.0, ALL_TIME.1, 100)
        .await
        .unwrap();
    assert_eq!(got, vec![first, later, new]);
    let text: Vec<[String; 4]> = got
        .iter()
        .map(|s| {
            [
                s.equity.to_string(),
                s.cash.to_string(),
                s.unrealized_pnl.to_string(),
                s.realized_pnl.to_string(),
            ]
        })
        .collect();
    assert_eq!(
        text,
        [
            ["10000.50", "10000.50", "0.00", "0"],
            ["10012.25", "9000.00", "12.250", "0.00"],
            ["9990.001", "9000.00", "-22.250", "12.2500"],
        ]
    );
    assert_eq!(got[0].equity.value(), dec!(10000.50));
    let window = store
        .query_equity(
            TimestampMs::new(T0 + 1),
            TimestampMs::new(T0 + 120_000),
            100,
        )
        .await
        .unwrap();
    assert_eq!(window, vec![later]);
    assert_eq!(
        store.query_equity(ALL_TIME.0, ALL_TIME.1, 2).await.unwrap(),
        vec![first, later]
    );
}

/// A batch larger than one statement's chunk goes in whole, in one call.
async fn a_full_batch_of_snapshots_goes_in_at_once(store: &TradeStore) {
    let batch: Vec<EquitySnapshot> = (0..10_000)
        .map(|i| EquitySnapshot {
            at: TimestampMs::new(T0 + i * 1_000),
            equity: Money::new(dec!(10000.00) + rust_decimal::Decimal::new(i, 2)),
            cash: Money::new(dec!(5000.00)),
            unrealized_pnl: Money::new(dec!(0.00)),
            realized_pnl: Money::new(rust_decimal::Decimal::new(i, 2)),
        })
        .collect();
    let report = store.record_equity_snapshots(&batch).await.unwrap();
    assert_eq!(report.inserted, 10_000);
    let report = store.record_equity_snapshots(&batch).await.unwrap();
    assert_eq!(report.duplicates, 10_000);
    let got = store
        .query_equity(ALL_TIME.0, ALL_TIME.1, 20_000)
        .await
        .unwrap();
    assert_eq!(got, batch);
}

on_both_backends!(
    policy_versions_are_compare_and_set,
    racing_policy_writers_have_one_winner,
    ess_transitions_refuse_gaps_and_repeats,
    racing_ess_writers_have_one_winner,
    equity_snapshots_are_idempotent_and_keep_their_scale,
    a_full_batch_of_snapshots_goes_in_at_once,
);

#[test]
fn ess_states_have_stable_names() {
    for state in EssState::ALL {
        assert_eq!(state.as_str().parse::<EssState>().unwrap(), state);
    }
    assert_eq!(EssState::Tripped.to_string(), "TRIPPED");
    assert!("tripped".parse::<EssState>().is_err());
}
