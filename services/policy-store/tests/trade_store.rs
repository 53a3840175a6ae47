//! The policy-store against a real trade-store (PostgreSQL, a fresh schema per test) and a real
//! Redis bus (a key prefix per test), both served in-process on port 0, over gRPC.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions: a failing set-up must fail the test loudly"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use levibot_config::{Config, ConfigLoader};
use levibot_policy_store::PolicyWatch;
use levibot_proto::v1::{
    self, policy_store_service_client::PolicyStoreServiceClient,
    trade_store_service_client::TradeStoreServiceClient,
};
use levibot_server::{CancellationToken, ServiceListeners};
use levibot_telemetry::InjectTraceContext;
use levibot_trade_store::testing::{TestSchema, test_database_url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

type Client = PolicyStoreServiceClient<Channel>;

struct Running {
    grpc: SocketAddr,
    metrics: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the service stops within 10 s")
            .unwrap();
    }
}

/// A trade-store on a fresh schema, and the config pointing at it (portfolio unreachable).
struct World {
    schema: Option<TestSchema>,
    config: Arc<Config>,
    trade_store: Option<Running>,
    _buffer: tempfile::TempDir,
}

fn redis_url() -> String {
    std::env::var("LEVIBOT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

impl World {
    async fn start() -> Self {
        let schema = TestSchema::create_on(&test_database_url()).await.unwrap();
        let buffer = tempfile::tempdir().unwrap();
        let mut config = ConfigLoader::new()
            .set("store.database_url", schema.url())
            .set("bus.redis_url", &redis_url())
            .set("bus.key_prefix", &format!("{}:", schema.name()))
            .set("bus.buffer_dir", &buffer.path().display().to_string())
            .set("telemetry.log_filter", "warn")
            .load()
            .unwrap();
        let listeners = ServiceListeners::ephemeral().await.unwrap();
        let trade_store_addr = listeners.grpc_addr().unwrap();
        let metrics = listeners.metrics_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let (config, stop) = (Arc::new(config.clone()), stop.clone());
            async move {
                levibot_trade_store::serve(config, listeners, stop)
                    .await
                    .unwrap();
            }
        });
        // nothing listens there: resets cannot be verified
        let unreachable = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let portfolio = unreachable.local_addr().unwrap();
        drop(unreachable);
        config.services.trade_store.grpc_url = Some(format!("http://{trade_store_addr}"));
        config.services.portfolio.grpc_url = Some(format!("http://{portfolio}"));
        Self {
            schema: Some(schema),
            config: Arc::new(config),
            trade_store: Some(Running {
                grpc: trade_store_addr,
                metrics,
                stop,
                task,
            }),
            _buffer: buffer,
        }
    }

    /// A policy-store over this world's trade-store, loaded.
    async fn policy_store(&self) -> (Running, Client) {
        let listeners = ServiceListeners::ephemeral().await.unwrap();
        let grpc = listeners.grpc_addr().unwrap();
        let metrics = listeners.metrics_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let (config, stop) = (Arc::clone(&self.config), stop.clone());
            async move {
                levibot_policy_store::serve(config, listeners, stop)
                    .await
                    .unwrap();
            }
        });
        let mut client = PolicyStoreServiceClient::connect(format!("http://{grpc}"))
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match client.get_ess(v1::GetEssRequest {}).await {
                Ok(_) => break,
                Err(status) => {
                    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                    assert!(Instant::now() < deadline, "never loaded: {status:?}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        (
            Running {
                grpc,
                metrics,
                stop,
                task,
            },
            client,
        )
    }

    async fn audit(&self) -> Vec<v1::AuditEntry> {
        let addr = self.trade_store.as_ref().unwrap().grpc;
        let mut store = TradeStoreServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        store
            .query_audit(v1::QueryAuditRequest {
                range: Some(v1::TimeRange {
                    from_ms: 0,
                    to_ms: i64::MAX,
                }),
                limit: 1000,
            })
            .await
            .unwrap()
            .into_inner()
            .entries
    }

    async fn finish(mut self) {
        if let Some(trade_store) = self.trade_store.take() {
            trade_store.stop().await;
        }
        if let Some(schema) = self.schema.take() {
            schema.drop_schema().await.unwrap();
        }
    }
}

fn admin() -> Option<v1::Actor> {
    Some(v1::Actor {
        name: "ops".into(),
        role: "admin".into(),
    })
}

async fn scrape(addr: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ess_state_survives_a_policy_store_restart() {
    let world = World::start().await;
    let (first, mut client) = world.policy_store().await;
    let armed = client
        .get_ess(v1::GetEssRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (armed.state(), armed.seq, armed.policy_version),
        (v1::EssState::Armed, 0, 1)
    );
    // no cooldown, so a reset may be tried at once
    let mut policy = client
        .get_policy(v1::GetPolicyRequest {})
        .await
        .unwrap()
        .into_inner();
    policy.ess_cooldown_ms = 0;
    client
        .put_policy(v1::PutPolicyRequest {
            policy: Some(policy),
            actor: admin(),
            reason: "no cooldown for the test".into(),
            load_profile: String::new(),
            expected_version: 1,
        })
        .await
        .unwrap();

    let tripped = client
        .trip_ess(v1::TripEssRequest {
            reason: "exchange incident".into(),
            actor: admin(),
            trigger: String::new(),
            detail_json: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tripped.state(), v1::EssState::Tripped);
    assert_eq!((tripped.seq, tripped.trigger.as_str()), (1, "manual"));
    first.stop().await;

    let (second, mut client) = world.policy_store().await;
    let status = client
        .get_ess(v1::GetEssRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.state(), v1::EssState::Tripped);
    assert_eq!((status.seq, status.trigger.as_str()), (1, "manual"));
    assert_eq!(status.reason, "exchange incident");
    assert_eq!(status.cooldown_until_ms, tripped.cooldown_until_ms);
    // the portfolio's automatic trip finds it tripped: nothing new
    let again = client
        .trip_ess(v1::TripEssRequest {
            reason: "drawdown 4% over 3%".into(),
            actor: Some(v1::Actor {
                name: "portfolio".into(),
                role: "system".into(),
            }),
            trigger: "drawdown".into(),
            detail_json: r#"{"drawdown_pct":"4"}"#.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.seq, 1);

    // the portfolio cannot be asked: the reset is refused and stays refused
    let refused = client
        .reset_ess(v1::ResetEssRequest {
            reason: "incident over".into(),
            actor: admin(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(
        refused
            .message()
            .starts_with("reset refused: cannot verify the tripping condition"),
        "{refused:?}"
    );
    let viewer = client
        .reset_ess(v1::ResetEssRequest {
            reason: "please".into(),
            actor: Some(v1::Actor {
                name: "grafana".into(),
                role: "viewer".into(),
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(viewer.code(), tonic::Code::PermissionDenied);
    second.stop().await;

    let (third, mut client) = world.policy_store().await;
    let status = client
        .get_ess(v1::GetEssRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.state(), v1::EssState::Tripped);
    assert_eq!((status.seq, status.policy_version), (3, 2));
    assert!(
        status.reason.starts_with("reset refused: "),
        "{}",
        status.reason
    );
    let transitions = client
        .list_ess_transitions(v1::ListEssTransitionsRequest { limit: 0 })
        .await
        .unwrap()
        .into_inner()
        .transitions;
    let seqs: Vec<(u64, &str)> = transitions
        .iter()
        .map(|t| (t.seq, t.trigger.as_str()))
        .collect();
    assert_eq!(seqs, [(3, "manual"), (2, "reset"), (1, "manual")]);
    assert_eq!(transitions[2].actor.as_ref().unwrap().name, "ops");
    third.stop().await;

    let audit = world.audit().await;
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    for action in [
        "policy.initial",
        "grpc PolicyStoreService/TripEss",
        "grpc PolicyStoreService/PutPolicy",
        "grpc PolicyStoreService/ResetEss",
    ] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_policy_is_refused_and_the_old_version_stays() {
    let world = World::start().await;
    let (first, mut client) = world.policy_store().await;
    let policy = client
        .get_policy(v1::GetPolicyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (policy.version, policy.profile.as_str()),
        (1, "conservative")
    );
    assert_eq!(policy.max_position_usd, "1000");

    let mut bad = policy.clone();
    bad.max_position_usd = "-1".into();
    bad.ess_max_drawdown_pct = "150".into();
    bad.symbols[2] = "bnb".into();
    let refused = client
        .put_policy(v1::PutPolicyRequest {
            policy: Some(bad),
            actor: admin(),
            reason: "typo".into(),
            load_profile: String::new(),
            expected_version: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        refused.message(),
        "invalid policy: symbols[2]: unknown symbol format 'bnb'; max_position_usd: must be > 0; \
         ess_max_drawdown_pct: must be in (0,100]"
    );
    let trader = client
        .put_policy(v1::PutPolicyRequest {
            policy: None,
            actor: Some(v1::Actor {
                name: "bot".into(),
                role: "trader".into(),
            }),
            reason: "more".into(),
            load_profile: "full".into(),
            expected_version: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(trader.code(), tonic::Code::PermissionDenied);
    first.stop().await;

    // still version 1, also after a restart
    let (second, mut client) = world.policy_store().await;
    let after = client
        .get_policy(v1::GetPolicyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after, policy);
    let history = client
        .list_policy_history(v1::ListPolicyHistoryRequest { limit: 10 })
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].updated_by, "policy-store");
    second.stop().await;
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_policy_delivers_a_new_version_to_a_watcher() {
    let world = World::start().await;
    let (running, mut client) = world.policy_store().await;
    let mut stream = client
        .watch_policy(v1::WatchPolicyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().version, 1);

    // the helper other services use
    let channel = Channel::from_shared(format!("http://{}", running.grpc))
        .unwrap()
        .connect_lazy();
    let (watch, watcher) = PolicyWatch::new(PolicyStoreServiceClient::new(
        InjectTraceContext::new(channel),
    ));
    let watcher_stop = CancellationToken::new();
    let watcher_task = tokio::spawn(watcher.run(watcher_stop.clone()));
    let first = watch.wait_for_first(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.version, 1);
    let mut changes = watch.subscribe();
    changes.borrow_and_update();

    let stored = client
        .put_policy(v1::PutPolicyRequest {
            policy: None,
            actor: admin(),
            reason: "ten pairs".into(),
            load_profile: "expansion".into(),
            expected_version: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((stored.version, stored.profile.as_str()), (2, "expansion"));
    let next = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next, stored);
    tokio::time::timeout(Duration::from_secs(5), changes.changed())
        .await
        .unwrap()
        .unwrap();
    let held = watch.current().unwrap();
    assert_eq!(held.version, 2);
    assert_eq!(held.document.symbols.len(), 10);
    assert_eq!(held.reason, "ten pairs");

    let metrics = scrape(running.metrics).await;
    assert!(
        metrics.contains("\nlevibot_policy_version 2\n"),
        "{metrics}"
    );
    assert!(metrics.contains("\nlevibot_ess_state 0\n"), "{metrics}");

    // shutdown ends the stream instead of leaving it hanging
    running.stop().await;
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .unwrap(),
        Ok(None) | Err(_)
    ));
    watcher_stop.cancel();
    watcher_task.await.unwrap();
    world.finish().await;
}
