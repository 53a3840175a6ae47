//! Policy versions, ESS transitions and equity snapshots through the real service on port-0
//! listeners, over each backend (a PostgreSQL schema and a SQLite file per test): stale
//! compare-and-set writes and ESS gaps answer ABORTED, an empty history NOT_FOUND, every bad
//! field an INVALID_ARGUMENT naming it, and none of them stores anything.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

mod support;

use std::sync::Arc;

use levibot_config::ConfigLoader;
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

/// Asserts `result` failed with `code` and a message starting with `prefix`.
fn assert_refused<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, tonic::Status>,
    code: Code,
    prefix: &str,
) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().starts_with(prefix),
        "expected {prefix:?} first: {}",
        status.message()
    );
}

fn admin() -> Option<v1::Actor> {
    Some(v1::Actor {
        name: "ops".into(),
        role: "admin".into(),
    })
}

fn append(expected_latest: u64, max_drawdown: &str) -> v1::AppendPolicyVersionRequest {
    v1::AppendPolicyVersionRequest {
        expected_latest,
        profile: "conservative".into(),
        document_json: format!(
            r#"{{"max_drawdown":"{max_drawdown}","symbols":["BTCUSDT"],"daily_loss_limit_usd":"250.00"}}"#
        ),
        created_ms: T0,
        actor: admin(),
        reason: "launch".into(),
    }
}

async fn list(client: &mut TradeStoreServiceClient<Channel>, limit: u32) -> Vec<u64> {
    client
        .list_policy_versions(v1::ListPolicyVersionsRequest { limit })
        .await
        .unwrap()
        .into_inner()
        .versions
        .iter()
        .map(|v| v.version)
        .collect()
}

async fn policy_versions_by_compare_and_set(backend: Backend) {
    let mut server = Server::start(backend).await;
    let client = &mut server.client;
    assert_refused(
        client
            .latest_policy_version(v1::LatestPolicyVersionRequest {})
            .await,
        Code::NotFound,
        "no policy version",
    );
    assert!(list(client, 0).await.is_empty());

    let first = client
        .append_policy_version(append(0, "0.05"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.version, 1);
    assert_eq!(first.profile, "conservative");
    assert_eq!(first.actor, admin());
    assert_eq!(first.reason, "launch");
    let document: serde_json::Value = serde_json::from_str(&first.document_json).unwrap();
    assert_eq!(
        document,
        serde_json::json!({
            "max_drawdown": "0.05",
            "symbols": ["BTCUSDT"],
            "daily_loss_limit_usd": "250.00",
        })
    );
    // a writer that did not see version 1 is refused
    assert_refused(
        client.append_policy_version(append(0, "0.20")).await,
        Code::Aborted,
        "policy version 1 is current, not 0",
    );
    assert_refused(
        client.append_policy_version(append(3, "0.20")).await,
        Code::Aborted,
        "policy version 1 is current, not 3",
    );
    // two writers racing from version 1: exactly one wins
    let (mut a, mut b) = (client.clone(), client.clone());
    let (ra, rb) = tokio::join!(
        a.append_policy_version(append(1, "0.06")),
        b.append_policy_version(append(1, "0.07")),
    );
    let outcomes = [
        ra.map(|r| r.into_inner().version),
        rb.map(|r| r.into_inner().version),
    ];
    let won: Vec<_> = outcomes.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won, [&2], "{outcomes:?}");
    let lost = outcomes.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(lost.code(), Code::Aborted, "{lost:?}");

    let latest = client
        .latest_policy_version(v1::LatestPolicyVersionRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(latest.version, 2);
    let versions = client
        .list_policy_versions(v1::ListPolicyVersionsRequest { limit: 0 })
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0], latest);
    assert_eq!(versions[1], first);
    assert_eq!(list(client, 1).await, [2]);

    let with = |f: fn(&mut v1::AppendPolicyVersionRequest)| {
        let mut request = append(2, "0.1");
        f(&mut request);
        request
    };
    for (request, field) in [
        (
            with(|r| r.document_json.clear()),
            "document_json: is required",
        ),
        (
            with(|r| r.document_json = "{oops".into()),
            "document_json: invalid JSON",
        ),
        (
            with(|r| r.document_json = "[1, 2]".into()),
            "document_json: must be a JSON object",
        ),
        (
            with(|r| {
                r.document_json = format!(r#"{{"x":"{}"}}"#, "a".repeat(300 * 1024));
            }),
            "document_json: is 307208 bytes, the limit is 262144",
        ),
        (with(|r| r.profile = " ".into()), "profile: is required"),
        (with(|r| r.created_ms = 0), "created_ms: is required"),
        (with(|r| r.actor = None), "actor: is required"),
        (
            with(|r| {
                r.actor = Some(v1::Actor {
                    name: "ops".into(),
                    role: "root".into(),
                });
            }),
            "actor.role",
        ),
        (with(|r| r.reason = "x".repeat(1_025)), "reason: is longer"),
        (
            with(|r| r.reason = "a\u{7}b".into()),
            "reason: must not hold",
        ),
        (with(|r| r.expected_latest = u64::MAX), "expected_latest"),
    ] {
        assert_refused(
            client.append_policy_version(request).await,
            Code::InvalidArgument,
            field,
        );
    }
    assert_eq!(list(client, 0).await, [2, 1]);
    // a reason may span lines
    let multi_line = with(|r| r.reason = "tighten:\n\tafter review".into());
    let third = client
        .append_policy_version(multi_line)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (third.version, third.reason.as_str()),
        (3, "tighten:\n\tafter review")
    );
    server.stop().await;
}

async fn policy_history_answers_100_by_default(backend: Backend) {
    let mut server = Server::start(backend).await;
    let client = &mut server.client;
    for expected in 0..101 {
        client
            .append_policy_version(append(expected, "0.05"))
            .await
            .unwrap();
    }
    let default = list(client, 0).await;
    assert_eq!(default.len(), 100);
    assert_eq!((default[0], default[99]), (101, 2));
    assert_eq!(list(client, 5_000).await.len(), 101);
    server.stop().await;
}

fn transition(seq: u64, from: v1::EssState, to: v1::EssState) -> v1::EssTransition {
    v1::EssTransition {
        seq,
        from_state: from as i32,
        to_state: to as i32,
        trigger: "drawdown".into(),
        reason: "drawdown 5.2% over the 5% limit".into(),
        actor: Some(v1::Actor {
            name: "risk-manager".into(),
            role: "trader".into(),
        }),
        at_ms: T0 + i64::try_from(seq).unwrap(),
        cooldown_until_ms: T0 + 3_600_000,
        detail_json: r#"{"drawdown":"0.052","limit":"0.05"}"#.into(),
    }
}

fn append_ess(transition: v1::EssTransition) -> v1::AppendEssTransitionRequest {
    v1::AppendEssTransitionRequest {
        transition: Some(transition),
    }
}

async fn ess_history(
    client: &mut TradeStoreServiceClient<Channel>,
    limit: u32,
) -> Vec<v1::EssTransition> {
    client
        .query_ess_transitions(v1::QueryEssTransitionsRequest { limit })
        .await
        .unwrap()
        .into_inner()
        .transitions
}

async fn ess_transitions_in_sequence(backend: Backend) {
    use v1::EssState::{Armed, Resetting, Tripped, Unspecified};
    let mut server = Server::start(backend).await;
    let client = &mut server.client;
    assert!(ess_history(client, 0).await.is_empty());
    let trip = transition(1, Armed, Tripped);
    client
        .append_ess_transition(append_ess(trip.clone()))
        .await
        .unwrap();
    assert_refused(
        client.append_ess_transition(append_ess(trip.clone())).await,
        Code::Aborted,
        "ess transition seq 1 refused: the latest stored seq is 1, the next must be 2",
    );
    assert_refused(
        client
            .append_ess_transition(append_ess(transition(3, Tripped, Resetting)))
            .await,
        Code::Aborted,
        "ess transition seq 3 refused",
    );

    let with = |f: fn(&mut v1::EssTransition)| {
        let mut t = transition(2, Tripped, Resetting);
        f(&mut t);
        append_ess(t)
    };
    for (request, field) in [
        (
            v1::AppendEssTransitionRequest { transition: None },
            "transition: is required",
        ),
        (with(|t| t.seq = 0), "transition.seq: must be 1 or more"),
        (with(|t| t.seq = u64::MAX), "transition.seq"),
        (
            with(|t| t.from_state = Unspecified as i32),
            "transition.from_state: is required",
        ),
        (
            with(|t| t.to_state = Unspecified as i32),
            "transition.to_state: is required",
        ),
        (
            with(|t| t.to_state = 42),
            "transition.to_state: unknown ess state 42",
        ),
        (
            with(|t| t.trigger.clear()),
            "transition.trigger: is required",
        ),
        (
            with(|t| t.trigger = "x".repeat(257)),
            "transition.trigger: is longer",
        ),
        (
            with(|t| t.reason = "y".repeat(1_025)),
            "transition.reason: is longer",
        ),
        (with(|t| t.actor = None), "transition.actor: is required"),
        (with(|t| t.at_ms = 0), "transition.at_ms: is required"),
        (
            with(|t| t.cooldown_until_ms = -1),
            "transition.cooldown_until_ms",
        ),
        (
            with(|t| t.detail_json = "[]".into()),
            "transition.detail_json",
        ),
        (
            with(|t| t.detail_json = "{oops".into()),
            "transition.detail_json",
        ),
    ] {
        assert_refused(
            client.append_ess_transition(request).await,
            Code::InvalidArgument,
            field,
        );
    }
    assert_eq!(ess_history(client, 0).await, vec![trip.clone()]);

    // an empty detail is stored as {}, no cooldown as 0
    let mut reset = transition(2, Tripped, Resetting);
    reset.trigger = "reset_started".into();
    reset.reason.clear();
    reset.detail_json.clear();
    reset.cooldown_until_ms = 0;
    reset.actor = admin();
    client
        .append_ess_transition(append_ess(reset.clone()))
        .await
        .unwrap();
    let mut armed = transition(3, Resetting, Armed);
    armed.trigger = "reset_completed".into();
    armed.cooldown_until_ms = 0;
    armed.detail_json = "{}".into();
    client
        .append_ess_transition(append_ess(armed.clone()))
        .await
        .unwrap();

    let history = ess_history(client, 0).await;
    reset.detail_json = "{}".into();
    assert_eq!(history, vec![armed.clone(), reset, trip]);
    assert_eq!(ess_history(client, 1).await, vec![armed]);
    server.stop().await;
}

fn snapshot(
    at_ms: i64,
    equity: &str,
    cash: &str,
    unrealized: &str,
    realized: &str,
) -> v1::EquitySnapshot {
    v1::EquitySnapshot {
        at_ms,
        equity: equity.into(),
        cash: cash.into(),
        unrealized_pnl: unrealized.into(),
        realized_pnl: realized.into(),
    }
}

async fn query_equity(
    client: &mut TradeStoreServiceClient<Channel>,
    range: Option<v1::TimeRange>,
) -> Result<Vec<v1::EquitySnapshot>, tonic::Status> {
    client
        .query_equity(v1::QueryEquityRequest { range })
        .await
        .map(|r| r.into_inner().snapshots)
}

async fn equity_snapshots_idempotent_by_instant(backend: Backend) {
    let mut server = Server::start(backend).await;
    let client = &mut server.client;
    let first = snapshot(T0, "10000.50", "10000.50", "0.00", "0");
    let later = snapshot(T0 + 60_000, "10012.250", "9000.00", "12.25", "-0.50");
    let record =
        |snapshots: Vec<v1::EquitySnapshot>| v1::RecordEquitySnapshotsRequest { snapshots };
    let answer = client
        .record_equity_snapshots(record(vec![
            later.clone(),
            first.clone(),
            snapshot(T0, "1", "1", "1", "1"),
        ]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((answer.inserted, answer.duplicates), (2, 1));
    let answer = client
        .record_equity_snapshots(record(vec![snapshot(T0 + 60_000, "2", "2", "2", "2")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((answer.inserted, answer.duplicates), (0, 1));
    // oldest first, every decimal with its scale
    assert_eq!(
        query_equity(client, None).await.unwrap(),
        vec![first.clone(), later.clone()]
    );
    let window = Some(v1::TimeRange {
        from_ms: T0 + 1,
        to_ms: T0 + 60_001,
    });
    assert_eq!(
        query_equity(client, window).await.unwrap(),
        vec![later.clone()]
    );

    let with = |index: usize, f: fn(&mut v1::EquitySnapshot)| {
        let mut snapshots = vec![
            snapshot(T0 + 120_000, "1.00", "1.00", "0", "0"),
            snapshot(T0 + 180_000, "2.00", "2.00", "0", "0"),
        ];
        f(&mut snapshots[index]);
        record(snapshots)
    };
    for (request, field) in [
        (
            with(1, |s| s.cash = "12,5".into()),
            "snapshots[1].cash: invalid decimal",
        ),
        (with(0, |s| s.equity = "NaN".into()), "snapshots[0].equity"),
        (
            with(1, |s| s.unrealized_pnl = "1e3".into()),
            "snapshots[1].unrealized_pnl",
        ),
        (
            with(1, |s| s.realized_pnl.clear()),
            "snapshots[1].realized_pnl: is required",
        ),
        (with(0, |s| s.equity = " 1.0".into()), "snapshots[0].equity"),
        (
            with(1, |s| s.at_ms = 0),
            "snapshots[1].at_ms: must be a positive time",
        ),
        (with(0, |s| s.at_ms = -5), "snapshots[0].at_ms"),
    ] {
        let status = client.record_equity_snapshots(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().starts_with(field),
            "{field}: {}",
            status.message()
        );
        assert!(
            status.message().ends_with("nothing was stored"),
            "{}",
            status.message()
        );
    }
    let too_many = (0..10_001)
        .map(|i| snapshot(T0 + 1_000_000 + i, "1", "1", "0", "0"))
        .collect();
    assert_refused(
        client.record_equity_snapshots(record(too_many)).await,
        Code::InvalidArgument,
        "snapshots: 10001 snapshots in one call, the limit is 10000",
    );
    assert_eq!(
        query_equity(client, None).await.unwrap(),
        vec![first, later]
    );
    assert_refused(
        query_equity(
            client,
            Some(v1::TimeRange {
                from_ms: 2,
                to_ms: 1,
            }),
        )
        .await
        .map(tonic::Response::new),
        Code::InvalidArgument,
        "range",
    );
    server.stop().await;
}

async fn equity_queries_refuse_more_than_10000_rows(backend: Backend) {
    let mut server = Server::start(backend).await;
    let client = &mut server.client;
    let batch = |start: i64, n: i64| v1::RecordEquitySnapshotsRequest {
        snapshots: (start..start + n)
            .map(|i| snapshot(T0 + i * 1_000, "10000.00", "10000.00", "0.00", "0.00"))
            .collect(),
    };
    let answer = client
        .record_equity_snapshots(batch(0, 10_000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.inserted, 10_000);
    assert_eq!(query_equity(client, None).await.unwrap().len(), 10_000);
    client
        .record_equity_snapshots(batch(10_000, 1))
        .await
        .unwrap();
    assert_refused(
        query_equity(client, None).await.map(tonic::Response::new),
        Code::InvalidArgument,
        "range: more than 10000 equity snapshots match; narrow the range",
    );
    let half = Some(v1::TimeRange {
        from_ms: T0,
        to_ms: T0 + 5_000 * 1_000,
    });
    assert_eq!(query_equity(client, half).await.unwrap().len(), 5_000);
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
    policy_versions_by_compare_and_set,
    policy_history_answers_100_by_default,
    ess_transitions_in_sequence,
    equity_snapshots_idempotent_by_instant,
    equity_queries_refuse_more_than_10000_rows,
);
