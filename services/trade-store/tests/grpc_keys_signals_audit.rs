//! The new RPCs through the real service on port-0 listeners, over each backend (a PostgreSQL
//! schema and a SQLite file per test): RecordSignal/QuerySignals, the API key lifecycle
//! (Create, Verify, List, Revoke, with NOT_FOUND and FAILED_PRECONDITION) and
//! AppendAudit/QueryAudit, with every bad field named in an INVALID_ARGUMENT.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

mod support;

use std::sync::Arc;

use levibot_config::ConfigLoader;
use levibot_core::{ApiKeySecret, KeyId, SignalId, api_key_sha256};
use levibot_proto::v1::{self, trade_store_service_client::TradeStoreServiceClient};
use levibot_server::{CancellationToken, ServiceListeners};
use support::{Backend, TestDb};
use tonic::{Code, transport::Channel};

const T0: i64 = 1_640_995_200_000;

struct Server {
    client: TradeStoreServiceClient<Channel>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), levibot_server::ServeError>>,
    db: TestDb,
}

impl Server {
    async fn start(backend: Backend) -> Self {
        let db = TestDb::new(backend).await;
        let config = ConfigLoader::new()
            .set("store.database_url", db.url())
            .set("telemetry.log_filter", "warn")
            .load()
            .unwrap();
        let listeners = ServiceListeners::ephemeral().await.unwrap();
        let grpc = listeners.grpc_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(levibot_trade_store::serve(
            Arc::new(config),
            listeners,
            shutdown.clone(),
        ));
        let client = TradeStoreServiceClient::connect(format!("http://{grpc}"))
            .await
            .unwrap();
        Self {
            client,
            shutdown,
            task,
            db,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
        self.db.finish().await;
    }
}

/// Asserts `result` failed with `code` and a message starting with `field`.
fn assert_refused<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, tonic::Status>,
    code: Code,
    field: &str,
) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().starts_with(field),
        "expected {field:?} first: {}",
        status.message()
    );
}

fn signal(id: &str, created_ms: i64) -> v1::Signal {
    v1::Signal {
        signal_id: id.into(),
        symbol: "BTCUSDT".into(),
        bar_open_time_ms: T0,
        side: v1::Side::Buy as i32,
        probability_up: 0.73,
        confidence: 0.61,
        strategy: "ensemble".into(),
        votes: vec![
            v1::ComponentVote {
                component: "lightgbm".into(),
                probability_up: 0.75,
                weight: 0.6,
                model_version: "lgbm-2024-08-01".into(),
                available: true,
            },
            v1::ComponentVote {
                component: "sentiment".into(),
                probability_up: 0.5,
                weight: 0.0,
                model_version: String::new(),
                available: false,
            },
        ],
        created_ms,
    }
}

fn approval(decided_ms: i64) -> v1::RiskDecision {
    v1::RiskDecision {
        approved: true,
        reason: String::new(),
        detail_json: r#"{"size_usd":"250.00","kelly":0.12}"#.into(),
        decided_ms,
    }
}

fn record(signal: v1::Signal, decision: v1::RiskDecision) -> v1::RecordSignalRequest {
    v1::RecordSignalRequest {
        signal: Some(signal),
        decision: Some(decision),
    }
}

async fn signals_with_their_decisions(backend: Backend) {
    let mut server = Server::start(backend).await;
    let client = &mut server.client;
    let (a, b) = (SignalId::new().to_string(), SignalId::new().to_string());
    let first = record(signal(&a, T0 + 1), approval(T0 + 2));
    let refusal = v1::RiskDecision {
        approved: false,
        reason: "daily_loss_limit".into(),
        detail_json: String::new(),
        decided_ms: T0 + 4,
    };
    let second = record(signal(&b, T0 + 3), refusal);
    assert!(
        client
            .record_signal(first.clone())
            .await
            .unwrap()
            .into_inner()
            .created
    );
    assert!(
        client
            .record_signal(second.clone())
            .await
            .unwrap()
            .into_inner()
            .created
    );
    // a repeat is not created again; the stored signal and decision stay as they were
    let repeat = record(signal(&a, T0 + 1), second.decision.clone().unwrap());
    assert!(
        !client
            .record_signal(repeat)
            .await
            .unwrap()
            .into_inner()
            .created
    );

    let got = client
        .query_signals(v1::QuerySignalsRequest {
            symbol: "BTCUSDT".into(),
            range: None,
        })
        .await
        .unwrap()
        .into_inner()
        .signals;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].signal, first.signal);
    assert_eq!(got[1].signal, second.signal);
    let (d0, d1) = (
        got[0].decision.clone().unwrap(),
        got[1].decision.clone().unwrap(),
    );
    assert!(d0.approved && d0.reason.is_empty() && d0.decided_ms == T0 + 2);
    let detail: serde_json::Value = serde_json::from_str(&d0.detail_json).unwrap();
    assert_eq!(
        detail,
        serde_json::json!({"size_usd": "250.00", "kelly": 0.12})
    );
    assert!(!d1.approved);
    assert_eq!(d1.reason, "daily_loss_limit");
    assert_eq!(d1.detail_json, "{}", "an empty detail is stored as {{}}");
    let none = client
        .query_signals(v1::QuerySignalsRequest {
            symbol: "ETHUSDT".into(),
            range: Some(v1::TimeRange {
                from_ms: T0,
                to_ms: T0 + 10,
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .signals;
    assert!(none.is_empty());

    // every bad field is named, and nothing is stored
    let fresh = || SignalId::new().to_string();
    let with_signal = |f: fn(&mut v1::Signal)| {
        let mut s = signal(&fresh(), T0 + 9);
        f(&mut s);
        record(s, approval(T0 + 9))
    };
    let with_decision = |f: fn(&mut v1::RiskDecision)| {
        let mut d = approval(T0 + 9);
        f(&mut d);
        record(signal(&fresh(), T0 + 9), d)
    };
    let cases = [
        (
            v1::RecordSignalRequest {
                signal: None,
                decision: Some(approval(1)),
            },
            "signal",
        ),
        (
            v1::RecordSignalRequest {
                signal: Some(signal(&fresh(), 1)),
                decision: None,
            },
            "decision",
        ),
        (
            with_signal(|s| s.signal_id = "sig-1".into()),
            "signal.signal_id",
        ),
        (with_signal(|s| s.signal_id.clear()), "signal.signal_id"),
        (
            with_signal(|s| s.symbol = "BTC/USDT".into()),
            "signal.symbol",
        ),
        (with_signal(|s| s.side = 0), "signal.side"),
        (
            with_signal(|s| s.probability_up = 1.01),
            "signal.probability_up",
        ),
        (
            with_signal(|s| s.confidence = f64::NAN),
            "signal.confidence",
        ),
        (with_signal(|s| s.strategy.clear()), "signal.strategy"),
        (with_signal(|s| s.created_ms = 0), "signal.created_ms"),
        (
            with_signal(|s| s.votes[1].probability_up = -0.1),
            "signal.votes[1].probability_up",
        ),
        (
            with_signal(|s| s.votes[0].weight = f64::INFINITY),
            "signal.votes[0].weight",
        ),
        (
            with_decision(|d| d.detail_json = "{not json".into()),
            "decision.detail_json",
        ),
        (
            with_decision(|d| d.detail_json = "[1,2]".into()),
            "decision.detail_json",
        ),
        (
            with_decision(|d| d.reason = "min_confidence".into()),
            "decision.reason",
        ),
        (with_decision(|d| d.approved = false), "decision.reason"),
        (
            with_decision(|d| {
                d.approved = false;
                d.reason = "Too Risky!".into();
            }),
            "decision.reason",
        ),
        (with_decision(|d| d.decided_ms = 0), "decision.decided_ms"),
    ];
    for (request, field) in cases {
        assert_refused(
            client.record_signal(request).await,
            Code::InvalidArgument,
            field,
        );
    }
    let all = client
        .query_signals(v1::QuerySignalsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .signals;
    assert_eq!(all.len(), 2);
    assert_refused(
        client
            .query_signals(v1::QuerySignalsRequest {
                symbol: "BTC USDT".into(),
                range: None,
            })
            .await,
        Code::InvalidArgument,
        "symbol",
    );
    server.stop().await;
}

fn admin() -> Option<v1::Actor> {
    Some(v1::Actor {
        name: "ops".into(),
        role: "admin".into(),
    })
}

fn create(name: &str, role: v1::Role, sha: &str) -> v1::CreateApiKeyRequest {
    v1::CreateApiKeyRequest {
        key_id: KeyId::new().to_string(),
        name: name.into(),
        role: role as i32,
        key_sha256: sha.into(),
        actor: admin(),
    }
}

async fn api_keys_through_their_lifecycle(backend: Backend) {
    let mut server = Server::start(backend).await;
    let client = &mut server.client;
    let secret = ApiKeySecret::generate().unwrap();
    let request = create("trading bot", v1::Role::Trader, &secret.sha256_hex());
    let info = client
        .create_api_key(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.key_id, request.key_id);
    assert_eq!(
        (info.name.as_str(), info.role),
        ("trading bot", v1::Role::Trader as i32)
    );
    assert!(info.created_ms > 0);
    assert_eq!(info.revoked_ms, 0);

    // the gateway hashes what it is shown
    let verify = |sha: String| v1::VerifyApiKeyRequest { key_sha256: sha };
    let verified = client
        .verify_api_key(verify(api_key_sha256(secret.expose())))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verified, info);
    assert_refused(
        client
            .verify_api_key(verify(api_key_sha256("lbk_guess")))
            .await,
        Code::NotFound,
        "no api key",
    );
    assert_refused(
        client.verify_api_key(verify("abc".into())).await,
        Code::InvalidArgument,
        "key_sha256",
    );

    // a taken id or hash: ALREADY_EXISTS
    let mut same_id = create("x", v1::Role::Viewer, &api_key_sha256("lbk_other"));
    same_id.key_id = request.key_id.clone();
    assert_refused(
        client.create_api_key(same_id).await,
        Code::AlreadyExists,
        "key_id",
    );
    assert_refused(
        client
            .create_api_key(create("y", v1::Role::Viewer, &secret.sha256_hex()))
            .await,
        Code::AlreadyExists,
        "key_sha256",
    );
    // bad input, each field named
    let good_sha = api_key_sha256("lbk_fresh");
    let spoil = |f: fn(&mut v1::CreateApiKeyRequest)| {
        let mut r = create("viewer", v1::Role::Viewer, &good_sha);
        f(&mut r);
        r
    };
    for (request, field) in [
        (
            spoil(|r| r.key_id = "01J00000000000000000000000".into()),
            "key_id",
        ),
        (spoil(|r| r.key_id.clear()), "key_id"),
        (spoil(|r| r.name = "  ".into()), "name"),
        (spoil(|r| r.name = "x".repeat(101)), "name"),
        (spoil(|r| r.role = 0), "role"),
        (spoil(|r| r.role = 9), "role"),
        (spoil(|r| r.key_sha256 = "z".repeat(64)), "key_sha256"),
        (spoil(|r| r.key_sha256 = "ab".into()), "key_sha256"),
        (spoil(|r| r.actor = None), "actor"),
        (
            spoil(|r| {
                r.actor = Some(v1::Actor {
                    name: "ops".into(),
                    role: "root".into(),
                });
            }),
            "actor.role",
        ),
    ] {
        assert_refused(
            client.create_api_key(request).await,
            Code::InvalidArgument,
            field,
        );
    }
    let listed = client
        .list_api_keys(v1::ListApiKeysRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(listed, vec![info.clone()]);

    // revoke: then verify says FAILED_PRECONDITION; a second revoke is a no-op
    let revoke = |key_id: &str| v1::RevokeApiKeyRequest {
        key_id: key_id.into(),
        actor: admin(),
    };
    let revoked = client
        .revoke_api_key(revoke(&info.key_id))
        .await
        .unwrap()
        .into_inner();
    assert!(revoked.revoked_ms >= info.created_ms);
    let again = client
        .revoke_api_key(revoke(&info.key_id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, revoked);
    assert_refused(
        client.verify_api_key(verify(secret.sha256_hex())).await,
        Code::FailedPrecondition,
        "api key key_",
    );
    assert_refused(
        client
            .revoke_api_key(revoke(&KeyId::new().to_string()))
            .await,
        Code::NotFound,
        "key_id",
    );
    assert_refused(
        client
            .revoke_api_key(v1::RevokeApiKeyRequest {
                key_id: info.key_id.clone(),
                actor: None,
            })
            .await,
        Code::InvalidArgument,
        "actor",
    );

    // the audit log shows who did it
    let audit = client
        .query_audit(v1::QueryAuditRequest::default())
        .await
        .unwrap()
        .into_inner()
        .entries;
    let actions: Vec<_> = audit
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("apikey.create", "ops (admin)"),
            ("apikey.revoke", "ops (admin)"),
            ("apikey.revoke", "ops (admin)"),
        ]
    );
    server.stop().await;
}

async fn audit_entries_append_and_query_with_limits(backend: Backend) {
    let mut server = Server::start(backend).await;
    let client = &mut server.client;
    let entry = |i: i64, detail: &str| v1::AuditEntry {
        at_ms: T0 + i,
        actor: "key_01J (trader)".into(),
        action: "POST /engines/start/BTCUSDT".into(),
        detail_json: detail.into(),
    };
    let append = |e: v1::AuditEntry| v1::AppendAuditRequest { entry: Some(e) };
    client
        .append_audit(append(entry(0, r#"{"outcome":"started"}"#)))
        .await
        .unwrap();
    client.append_audit(append(entry(1, ""))).await.unwrap();
    let got = client
        .query_audit(v1::QueryAuditRequest {
            range: Some(v1::TimeRange {
                from_ms: T0,
                to_ms: T0 + 2,
            }),
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].action, "POST /engines/start/BTCUSDT");
    assert_eq!(got[0].detail_json, r#"{"outcome":"started"}"#);
    assert_eq!(got[1].detail_json, "{}");
    let one = client
        .query_audit(v1::QueryAuditRequest {
            range: None,
            limit: 1,
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(one, vec![got[0].clone()]);

    for (request, field) in [
        (v1::AppendAuditRequest { entry: None }, "entry"),
        (append(entry(0, "{}")).with(|e| e.at_ms = 0), "entry.at_ms"),
        (
            append(entry(0, "{}")).with(|e| e.actor = " ".into()),
            "entry.actor",
        ),
        (
            append(entry(0, "{}")).with(|e| e.action.clear()),
            "entry.action",
        ),
        (append(entry(0, "{oops")), "entry.detail_json"),
        (append(entry(0, "\"text\"")), "entry.detail_json"),
        (
            append(entry(0, &format!(r#"{{"x":"{}"}}"#, "a".repeat(70_000)))),
            "entry.detail_json",
        ),
    ] {
        assert_refused(
            client.append_audit(request).await,
            Code::InvalidArgument,
            field,
        );
    }
    assert_refused(
        client
            .query_audit(v1::QueryAuditRequest {
                range: Some(v1::TimeRange {
                    from_ms: 2,
                    to_ms: 1,
                }),
                limit: 0,
            })
            .await,
        Code::InvalidArgument,
        "range",
    );
    server.stop().await;
}

/// Edits the entry of an `AppendAuditRequest` in place, for table-driven cases.
trait With {
    fn with(self, f: impl FnOnce(&mut v1::AuditEntry)) -> Self;
}

impl With for v1::AppendAuditRequest {
    fn with(mut self, f: impl FnOnce(&mut v1::AuditEntry)) -> Self {
        if let Some(entry) = self.entry.as_mut() {
            f(entry);
        }
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_limits_default_to_1000_and_cap_at_10000() {
    let server = Server::start(Backend::Sqlite).await;
    let store = server.db.store().clone();
    for chunk in 0..11 {
        // 11,000 entries, appended through the store for speed
        let mut tasks = Vec::new();
        for i in 0..1_000 {
            let store = store.clone();
            tasks.push(async move {
                store
                    .append_audit(&levibot_trade_store::store::AuditEntry {
                        at: levibot_core::TimestampMs::new(T0 + chunk * 1_000 + i),
                        actor: "bench".into(),
                        action: "x".into(),
                        detail: serde_json::json!({}),
                    })
                    .await
                    .unwrap();
            });
        }
        futures::future::join_all(tasks).await;
    }
    let count = |limit: u32| {
        let mut client = server.client.clone();
        async move {
            client
                .query_audit(v1::QueryAuditRequest { range: None, limit })
                .await
                .unwrap()
                .into_inner()
                .entries
                .len()
        }
    };
    assert_eq!(count(0).await, 1_000);
    assert_eq!(count(1_500).await, 1_500);
    assert_eq!(count(50_000).await, 10_000);
    assert_eq!(count(u32::MAX).await, 10_000);
    server.stop().await;
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
    };
}

on_both!(
    signals_with_their_decisions,
    api_keys_through_their_lifecycle,
    audit_entries_append_and_query_with_limits,
);
