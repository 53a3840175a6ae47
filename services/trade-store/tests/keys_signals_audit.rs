//! API keys, risk decisions on signals and the audit log through the store API, against both
//! backends (a PostgreSQL schema and a SQLite file per test): only hashes are stored, creating
//! and revoking a key audit themselves in the same transaction, a signal and its decision are
//! recorded once, and the audit log answers oldest first within a limit.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

#[macro_use]
mod support;

use levibot_core::{Actor, ApiKeySecret, KeyId, Role, Side, SignalId, TimestampMs};
use levibot_trade_store::{
    StoreError, TradeStore,
    store::{AuditEntry, KeySha256, NewApiKey, Revocation, RiskDecision, SignalRecord},
};
use support::{ALL_TIME, sym};

const T0: i64 = 1_640_995_200_000;

fn admin() -> Actor {
    Actor::new("ops", Role::Admin).unwrap()
}

fn new_key(name: &str, role: Role) -> (ApiKeySecret, NewApiKey) {
    let secret = ApiKeySecret::generate().unwrap();
    let key = NewApiKey {
        key_id: KeyId::new(),
        name: name.into(),
        role,
        key_sha256: KeySha256::parse(&secret.sha256_hex()).unwrap(),
    };
    (secret, key)
}

async fn audit_log(store: &TradeStore) -> Vec<AuditEntry> {
    store
        .query_audit(ALL_TIME.0, ALL_TIME.1, 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.entry)
        .collect()
}

async fn api_keys_are_stored_by_hash_verified_and_revoked(store: &TradeStore) {
    let (secret, key) = new_key("  grafana  ", Role::Viewer);
    let created = store
        .create_api_key(&key, &admin(), TimestampMs::new(T0))
        .await
        .unwrap();
    assert_eq!(created.key_id, key.key_id);
    assert_eq!(created.name, "grafana", "names are trimmed");
    assert_eq!(created.role, Role::Viewer);
    assert_eq!(created.created_at, TimestampMs::new(T0));
    assert!(created.is_active());

    // the gateway hashes the presented plaintext and looks it up; uppercase hex is the same key
    let presented = levibot_core::api_key_sha256(secret.expose());
    let found = store
        .api_key_by_sha256(&KeySha256::parse(&presented).unwrap())
        .await
        .unwrap();
    assert_eq!(found, Some(created.clone()));
    let upper = KeySha256::parse(&presented.to_uppercase()).unwrap();
    assert_eq!(
        store.api_key_by_sha256(&upper).await.unwrap(),
        Some(created.clone())
    );
    let stranger = KeySha256::parse(&levibot_core::api_key_sha256("lbk_nope")).unwrap();
    assert_eq!(store.api_key_by_sha256(&stranger).await.unwrap(), None);

    // the same id or the same hash again is a conflict naming which, and changes nothing
    let (_, mut same_id) = new_key("other", Role::Admin);
    same_id.key_id = key.key_id;
    let err = store
        .create_api_key(&same_id, &admin(), TimestampMs::new(T0 + 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.starts_with("key_id")),
        "{err}"
    );
    let same_hash = NewApiKey {
        key_id: KeyId::new(),
        ..key.clone()
    };
    let err = store
        .create_api_key(&same_hash, &admin(), TimestampMs::new(T0 + 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.starts_with("key_sha256")),
        "{err}"
    );
    // an empty name is refused before anything is written
    let (_, mut nameless) = new_key(" ", Role::Trader);
    nameless.name = "\t ".into();
    let err = store
        .create_api_key(&nameless, &admin(), TimestampMs::new(T0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::InvalidInput(m) if m.starts_with("name")),
        "{err}"
    );

    let (_, second) = new_key("trading bot", Role::Trader);
    store
        .create_api_key(&second, &admin(), TimestampMs::new(T0 + 5))
        .await
        .unwrap();
    let listed = store.list_api_keys().await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|k| (k.name.as_str(), k.role))
            .collect::<Vec<_>>(),
        [("grafana", Role::Viewer), ("trading bot", Role::Trader)]
    );

    // revoke: once for real, then a no-op that still answers with the key; unknown ids are
    // not found and write nothing
    let revoked = store
        .revoke_api_key(key.key_id, &admin(), TimestampMs::new(T0 + 10))
        .await
        .unwrap();
    let Revocation::Revoked(revoked) = revoked else {
        panic!("{revoked:?}")
    };
    assert_eq!(revoked.revoked_at, Some(TimestampMs::new(T0 + 10)));
    let again = store
        .revoke_api_key(key.key_id, &admin(), TimestampMs::new(T0 + 20))
        .await
        .unwrap();
    assert_eq!(again, Revocation::AlreadyRevoked(revoked.clone()));
    assert_eq!(
        store
            .revoke_api_key(KeyId::new(), &admin(), TimestampMs::new(T0 + 30))
            .await
            .unwrap(),
        Revocation::NotFound
    );
    // a revoked key is still found (the gateway tells "revoked" from "unknown")
    let found = store
        .api_key_by_sha256(&KeySha256::parse(&presented).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!found.is_active());

    // every change audited itself, with the actor; refused creations left no trace
    let log = audit_log(store).await;
    let summary: Vec<_> = log
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str(), e.at.as_i64()))
        .collect();
    assert_eq!(
        summary,
        [
            ("apikey.create", "ops (admin)", T0),
            ("apikey.create", "ops (admin)", T0 + 5),
            ("apikey.revoke", "ops (admin)", T0 + 10),
            ("apikey.revoke", "ops (admin)", T0 + 20),
        ]
    );
    assert_eq!(
        log[0].detail,
        serde_json::json!({"key_id": key.key_id.to_string(), "name": "grafana", "role": "viewer"})
    );
    assert_eq!(log[2].detail["outcome"], "revoked");
    assert_eq!(log[3].detail["outcome"], "already_revoked");
    // the plaintext is nowhere in what the store answers
    assert!(!format!("{log:?}{listed:?}").contains(secret.expose()));
}

fn decided(id: SignalId, created_ms: i64, decision: Option<RiskDecision>) -> SignalRecord {
    SignalRecord {
        signal_id: id,
        symbol: sym("ETHUSDT"),
        bar_open_time: TimestampMs::new(T0),
        side: Side::Sell,
        probability_up: 0.31,
        confidence: 0.44,
        strategy: "ensemble".into(),
        votes: serde_json::json!([
            {"component": "lightgbm", "probability_up": 0.3, "weight": 0.6,
             "model_version": "lgbm-7", "available": true}
        ]),
        created_at: TimestampMs::new(created_ms),
        decision,
    }
}

async fn signals_keep_their_risk_decision(store: &TradeStore) {
    let refused = decided(
        SignalId::new(),
        T0 + 1,
        Some(RiskDecision {
            approved: false,
            reason: Some("min_confidence".into()),
            detail: serde_json::json!({"confidence": 0.44, "min_confidence": "0.60"}),
            decided_at: TimestampMs::new(T0 + 2),
        }),
    );
    let approved = decided(
        SignalId::new(),
        T0 + 3,
        Some(RiskDecision {
            approved: true,
            reason: None,
            detail: serde_json::json!({"size_usd": "250.00", "kelly": 0.12}),
            decided_at: TimestampMs::new(T0 + 4),
        }),
    );
    assert!(store.record_signal(&refused).await.unwrap());
    assert!(store.record_signal(&approved).await.unwrap());
    // a replay with another decision is a no-op: the stored pair is kept whole
    let replay = SignalRecord {
        decision: approved.decision.clone(),
        ..refused.clone()
    };
    assert!(!store.record_signal(&replay).await.unwrap());

    let got = store
        .query_signals(None, ALL_TIME.0, ALL_TIME.1, 100)
        .await
        .unwrap();
    assert_eq!(got, vec![refused.clone(), approved.clone()]);
    let window = store
        .query_signals(
            Some(sym("ETHUSDT")),
            TimestampMs::new(T0 + 2),
            TimestampMs::new(T0 + 10),
            100,
        )
        .await
        .unwrap();
    assert_eq!(window, vec![approved.clone()]);
    assert_eq!(
        store
            .query_signals(None, ALL_TIME.0, ALL_TIME.1, 1)
            .await
            .unwrap()
            .len(),
        1
    );

    // inconsistent decisions are refused before anything is written
    let spoil = |f: fn(&mut RiskDecision)| {
        let mut signal = decided(SignalId::new(), T0 + 50, approved.decision.clone());
        if let Some(d) = signal.decision.as_mut() {
            f(d);
        }
        signal
    };
    for bad in [
        spoil(|d| d.reason = Some("max_positions".into())),
        spoil(|d| d.approved = false),
        spoil(|d| {
            d.approved = false;
            d.reason = Some("Not A Name".into());
        }),
        spoil(|d| d.detail = serde_json::json!([1, 2])),
    ] {
        let err = store.record_signal(&bad).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
    }
    assert_eq!(
        store
            .query_signals(None, ALL_TIME.0, ALL_TIME.1, 100)
            .await
            .unwrap()
            .len(),
        2
    );
}

async fn the_audit_log_answers_oldest_first_within_a_limit(store: &TradeStore) {
    for i in 0..5 {
        store
            .append_audit(&AuditEntry {
                at: TimestampMs::new(T0 + i),
                actor: "key_x (trader)".into(),
                action: format!("POST /engines/start/{i}"),
                detail: serde_json::json!({"i": i}),
            })
            .await
            .unwrap();
    }
    let first_two = store.query_audit(ALL_TIME.0, ALL_TIME.1, 2).await.unwrap();
    let actions: Vec<_> = first_two.iter().map(|r| r.entry.action.as_str()).collect();
    assert_eq!(actions, ["POST /engines/start/0", "POST /engines/start/1"]);
    let window = store
        .query_audit(TimestampMs::new(T0 + 3), TimestampMs::new(T0 + 5), 100)
        .await
        .unwrap();
    assert_eq!(window.len(), 2);
    assert_eq!(window[0].entry.detail, serde_json::json!({"i": 3}));
}

on_both_backends!(
    api_keys_are_stored_by_hash_verified_and_revoked,
    signals_keep_their_risk_decision,
    the_audit_log_answers_oldest_first_within_a_limit,
);

#[tokio::test]
async fn a_hash_must_be_64_hex_characters() {
    for bad in ["", "abc", &"g".repeat(64), &"a".repeat(63), &"a".repeat(65)] {
        let err = KeySha256::parse(bad).unwrap_err();
        assert!(err.to_string().starts_with("key_sha256: "), "{err}");
    }
    let ok = KeySha256::parse(&"AB".repeat(32)).unwrap();
    assert_eq!(ok.as_str(), "ab".repeat(32));
    assert!(!format!("{ok:?}").contains(&"ab".repeat(32)));
}
