//! The portfolio service against a real trade-store (in-process, on a fresh PostgreSQL schema)
//! and Redis (its own key prefix): fills and bars published on the bus, one fill delivered
//! twice and one malformed, give the summary, positions, exposure and equity snapshot of a
//! hand computation; a restarted portfolio rebuilds the same books from the trade-store, and
//! takes its peak equity and today's opening equity back from the stored equity curve.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use levibot_bus::{Bus, Envelope, EventBus, Topic};
use levibot_config::{Config, ConfigLoader};
use levibot_core::{Clock, LiveClock, TimestampMs};
use levibot_proto::v1::{
    self, portfolio_service_client::PortfolioServiceClient,
    trade_store_service_client::TradeStoreServiceClient,
};
use levibot_server::{CancellationToken, ServeError, ServiceListeners};
use levibot_telemetry::metrics::service_registry;
use levibot_trade_store::testing::TestSchema;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

fn redis_url() -> String {
    std::env::var("LEVIBOT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

struct Service {
    grpc: SocketAddr,
    metrics: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ServeError>>,
}

impl Service {
    async fn start<F, Fut>(config: Config, serve: F) -> Self
    where
        F: FnOnce(Arc<Config>, ServiceListeners, CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), ServeError>> + Send + 'static,
    {
        let listeners = ServiceListeners::ephemeral().await.unwrap();
        let grpc = listeners.grpc_addr().unwrap();
        let metrics = listeners.metrics_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(Arc::new(config), listeners, shutdown.clone()));
        Self {
            grpc,
            metrics,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.grpc))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }
}

struct World {
    schema: TestSchema,
    _buffer: tempfile::TempDir,
    base: Vec<(String, String)>,
    store: Service,
    bus: Bus,
}

impl World {
    async fn start() -> Self {
        let schema = TestSchema::create().await.unwrap();
        let buffer = tempfile::tempdir().unwrap();
        let base: Vec<(String, String)> = vec![
            ("bus.redis_url".into(), redis_url()),
            ("bus.key_prefix".into(), format!("{}:", schema.name())),
            ("bus.buffer_dir".into(), buffer.path().display().to_string()),
            ("store.database_url".into(), schema.url().to_owned()),
            ("telemetry.log_filter".into(), "warn".into()),
        ];
        let store = Service::start(config(&base, &[]), levibot_trade_store::serve).await;
        let bus = Bus::open(&config(&base, &[]).bus, "test", &service_registry())
            .await
            .unwrap();
        Self {
            schema,
            _buffer: buffer,
            base,
            store,
            bus,
        }
    }

    fn portfolio_config(&self) -> Config {
        let store = format!("http://{}", self.store.grpc);
        config(
            &self.base,
            &[
                ("services.trade_store.grpc_url", &store),
                // nothing listens there: trips and reconciliation fail, and are retried
                ("services.policy_store.grpc_url", "http://127.0.0.1:1"),
                ("services.backend.grpc_url", "http://127.0.0.1:1"),
                ("portfolio.starting_cash_usd", "100000"),
                ("portfolio.snapshot_interval_ms", "60000"),
            ],
        )
    }

    async fn start_portfolio(&self) -> (Service, PortfolioServiceClient<Channel>) {
        self.start_portfolio_with(self.portfolio_config()).await
    }

    async fn start_portfolio_with(
        &self,
        config: Config,
    ) -> (Service, PortfolioServiceClient<Channel>) {
        let service = Service::start(config, levibot_portfolio::serve).await;
        let mut client = PortfolioServiceClient::new(service.channel().await);
        eventually("the books to be rebuilt", || {
            let mut client = client.clone();
            async move {
                client
                    .get_summary(v1::GetSummaryRequest {})
                    .await
                    .ok()
                    .map(|_| ())
            }
        })
        .await;
        let _ = client.get_summary(v1::GetSummaryRequest {}).await.unwrap();
        (service, client)
    }

    async fn publish<M: levibot_bus::BusMessage>(&self, message: &M, at: i64) -> Envelope {
        let envelope = Envelope::new(message, "test", TimestampMs::new(at));
        self.bus.publish(M::TOPIC, &envelope).await.unwrap();
        envelope
    }

    async fn finish(self) {
        self.bus.close().await;
        self.store.stop().await;
        self.schema.drop_schema().await.unwrap();
    }
}

fn config(base: &[(String, String)], extra: &[(&str, &str)]) -> Config {
    let mut loader = ConfigLoader::new();
    for (key, value) in base {
        loader = loader.set(key, value);
    }
    for (key, value) in extra {
        loader = loader.set(key, value);
    }
    loader.load().unwrap()
}

/// Polls `probe` every 100 ms for up to 20 s until it gives a value.
async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(value) = probe().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn fill(n: u128, side: v1::Side, price: &str, qty: &str, fee: &str, at: i64) -> v1::Fill {
    v1::Fill {
        fill_id: ulid::Ulid::from(n).to_string(),
        client_order_id: format!("lb-test-{n}"),
        symbol: "BTCUSDT".into(),
        side: side as i32,
        price: price.into(),
        quantity: qty.into(),
        fee: fee.into(),
        fee_asset: "USDT".into(),
        is_maker: false,
        exchange_time_ms: at,
        receive_time_ms: at,
    }
}

fn bar(open_time: i64, close: &str) -> v1::Bar {
    v1::Bar {
        symbol: "BTCUSDT".into(),
        interval: v1::Interval::Interval1m as i32,
        open_time_ms: open_time,
        open: close.into(),
        high: close.into(),
        low: close.into(),
        close: close.into(),
        volume: "1".into(),
    }
}

/// Publishes `bar` until the portfolio marks BTCUSDT at its close (the marks group starts at
/// new events, so a bar published before it joined is not seen).
async fn mark(world: &World, client: &PortfolioServiceClient<Channel>, bar: &v1::Bar) {
    let close = bar.close.clone();
    for _ in 0..40 {
        world.publish(bar, bar.open_time_ms).await;
        for _ in 0..5 {
            let positions = client
                .clone()
                .list_positions(v1::ListPositionsRequest {})
                .await
                .unwrap()
                .into_inner()
                .positions;
            if positions.iter().any(|p| p.mark_price == close) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!("the portfolio never marked BTCUSDT at {close}");
}

async fn scrape(addr: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

fn metric(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find(|line| line.starts_with(name))
        .and_then(|line| line.rsplit(' ').next())
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fills_and_bars_from_the_bus_make_the_books_and_a_restart_rebuilds_them() {
    let world = World::start().await;
    let (portfolio, mut client) = world.start_portfolio().await;
    let now = LiveClock.now().as_i64();
    let minute = now - now.rem_euclid(60_000);
    let t = minute - 10 * 60_000;

    // buy 0.5 @ 20000 (fee 10), buy 0.5 @ 22000 (fee 11), sell 0.4 @ 25000 (fee 10)
    let f1 = fill(1, v1::Side::Buy, "20000", "0.5", "10", t);
    let first = world.publish(&f1, t).await;
    // the same envelope twice (a redelivery), and the same fill in a new envelope (a retried
    // publish): both change nothing
    world.bus.publish(Topic::Fill, &first).await.unwrap();
    world.publish(&f1, t).await;
    world
        .publish(&fill(2, v1::Side::Buy, "22000", "0.5", "11", t + 1), t + 1)
        .await;
    // malformed: a negative quantity is skipped and counted
    world
        .publish(&fill(9, v1::Side::Buy, "1", "-1", "0", t + 2), t + 2)
        .await;
    world
        .publish(&fill(3, v1::Side::Sell, "25000", "0.4", "10", t + 3), t + 3)
        .await;

    eventually("three fills booked", || {
        let mut client = client.clone();
        async move {
            let summary = client
                .get_summary(v1::GetSummaryRequest {})
                .await
                .ok()?
                .into_inner();
            (summary.fees == "31").then_some(())
        }
    })
    .await;
    // mark at 24000 on a bar that closed before now
    let bar_open = minute - 2 * 60_000;
    mark(&world, &client, &bar(bar_open, "24000")).await;

    // by hand: cash 100000 - 10010 - 11011 + 9990 = 88969; 0.6 held at 21000; realized
    // 0.4 × 4000 = 1600; unrealized 0.6 × 3000 = 1800; equity 88969 + 0.6 × 24000 = 103369
    let summary = client
        .get_summary(v1::GetSummaryRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summary.cash, "88969");
    assert_eq!(summary.realized_pnl, "1600");
    assert_eq!(summary.unrealized_pnl, "1800");
    assert_eq!(summary.fees, "31");
    assert_eq!(summary.equity, "103369");
    assert_eq!(summary.quote_asset, "USDT");
    // no exchange to reconcile with
    assert!(!summary.reconciled);
    let positions = client
        .list_positions(v1::ListPositionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .positions;
    assert_eq!(
        positions,
        vec![v1::Position {
            symbol: "BTCUSDT".into(),
            quantity: "0.6".into(),
            average_price: "21000".into(),
            mark_price: "24000".into(),
            unrealized_pnl: "1800".into(),
            realized_pnl: "1600".into(),
        }]
    );
    let exposure = client
        .get_exposure(v1::GetExposureRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(exposure.total_usd, "14400");
    let risk = client
        .get_risk_metrics(v1::GetRiskMetricsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(risk.equity, "103369");
    assert_eq!(risk.total_exposure_usd, "14400");

    // the bar's mark stored an equity snapshot in the trade-store
    let close_time = bar_open + 59_999;
    let curve = eventually("an equity snapshot", || {
        let mut client = client.clone();
        async move {
            let points = client
                .get_equity_curve(v1::GetEquityCurveRequest { range: None })
                .await
                .ok()?
                .into_inner()
                .points;
            (!points.is_empty()).then_some(points)
        }
    })
    .await;
    assert_eq!(
        curve,
        vec![v1::EquityPoint {
            time_ms: close_time,
            equity: "103369".into(),
        }]
    );

    // the reconciliation could not run: reported, not tripped on
    let report = client
        .reconcile(v1::ReconcileRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!report.ok);
    assert!(report.error.contains("backend"), "{}", report.error);

    let text = scrape(portfolio.metrics).await;
    assert_eq!(
        metric(&text, "levibot_portfolio_fills_applied_total").as_deref(),
        Some("3")
    );
    assert_eq!(
        metric(&text, "levibot_portfolio_fills_duplicate_total").as_deref(),
        Some("1"),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "levibot_portfolio_bus_messages_malformed_total{topic=\"fill\"}"
        )
        .as_deref(),
        Some("1")
    );
    assert_eq!(
        metric(&text, "levibot_portfolio_equity_cents").as_deref(),
        Some("10336900")
    );
    assert!(
        metric(
            &text,
            "levibot_portfolio_reconciliation_runs_total{outcome=\"not_run\"}"
        )
        .is_some(),
        "{text}"
    );
    // every booked fill is in the trade-store
    let stored = TradeStoreServiceClient::new(world.store.channel().await)
        .query_fills(v1::QueryFillsRequest {
            symbol: String::new(),
            range: None,
        })
        .await
        .unwrap()
        .into_inner()
        .fills;
    assert_eq!(stored.len(), 3);

    // restart: the books rebuilt from the trade-store equal the live ones
    portfolio.stop().await;
    let (restarted, client_after) = world.start_portfolio().await;
    let mut client_after = client_after;
    let rebuilt = client_after
        .get_summary(v1::GetSummaryRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (&rebuilt.cash, &rebuilt.realized_pnl, &rebuilt.fees),
        (&summary.cash, &summary.realized_pnl, &summary.fees)
    );
    // no bar seen yet: marked at the last fill price, 25000
    assert_eq!(rebuilt.equity, "103969");
    mark(&world, &client_after, &bar(bar_open + 60_000, "24000")).await;
    let rebuilt = client_after
        .get_summary(v1::GetSummaryRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        v1::PortfolioSummary {
            as_of_ms: summary.as_of_ms,
            ..rebuilt
        },
        summary
    );
    assert_eq!(
        client_after
            .list_positions(v1::ListPositionsRequest {})
            .await
            .unwrap()
            .into_inner()
            .positions,
        positions
    );
    restarted.stop().await;
    world.finish().await;
}

async fn risk(client: &PortfolioServiceClient<Channel>) -> v1::RiskMetrics {
    client
        .clone()
        .get_risk_metrics(v1::GetRiskMetricsRequest {})
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_drawdown_and_the_daily_pnl_in_progress() {
    const DAY: i64 = TimestampMs::MS_PER_DAY;
    let world = World::start().await;
    let (portfolio, client) = world.start_portfolio().await;
    let now = LiveClock.now().as_i64();
    let minute = now - now.rem_euclid(60_000);
    let yesterday_noon = now - now.rem_euclid(DAY) - DAY / 2;

    // yesterday: buy 1 @ 20000 (equity 100000), marked up to 30000 (110000, the peak, a
    // snapshot) then down to 24000 (104000, yesterday's last snapshot)
    world
        .publish(
            &fill(1, v1::Side::Buy, "20000", "1", "0", yesterday_noon),
            yesterday_noon,
        )
        .await;
    eventually("the fill booked", || {
        let mut client = client.clone();
        async move {
            let summary = client
                .get_summary(v1::GetSummaryRequest {})
                .await
                .ok()?
                .into_inner();
            (summary.cash == "80000").then_some(())
        }
    })
    .await;
    mark(&world, &client, &bar(yesterday_noon + 5 * 60_000, "30000")).await;
    mark(&world, &client, &bar(yesterday_noon + 7 * 60_000, "24000")).await;
    // today: down to 21000, equity 101000; drawdown 9000 / 110000; today opened at 104000
    let today_bar = minute - 3 * 60_000;
    mark(&world, &client, &bar(today_bar, "21000")).await;
    let before = risk(&client).await;
    assert_eq!(
        (
            before.equity.as_str(),
            before.peak_equity.as_str(),
            before.drawdown_pct.as_str()
        ),
        ("101000", "110000", "8.18181818")
    );
    // (within three minutes of midnight the "today" bar is yesterday's, and today has no
    // event yet)
    let bar_is_today = today_bar.div_euclid(DAY) == before.as_of_ms.div_euclid(DAY);
    assert_eq!(before.daily_pnl, if bar_is_today { "-3000" } else { "0" });
    // every mark's snapshot is stored before the restart
    eventually("three equity snapshots", || {
        let mut client = client.clone();
        async move {
            let points = client
                .get_equity_curve(v1::GetEquityCurveRequest { range: None })
                .await
                .ok()?
                .into_inner()
                .points;
            (points.len() == 3).then_some(())
        }
    })
    .await;

    portfolio.stop().await;
    let (restarted, client) = world.start_portfolio().await;
    // rebuilt from the fill alone the peak would be the starting cash, 100000: the high of
    // 110000 comes from the stored curve; marked at the fill price until a bar comes,
    // drawdown 10000 / 110000
    let rebuilt = risk(&client).await;
    assert_eq!(
        (
            rebuilt.equity.as_str(),
            rebuilt.peak_equity.as_str(),
            rebuilt.drawdown_pct.as_str()
        ),
        ("100000", "110000", "9.09090909")
    );
    mark(&world, &client, &bar(minute - 2 * 60_000, "21000")).await;
    let after = risk(&client).await;
    assert_eq!(
        (&after.equity, &after.peak_equity, &after.drawdown_pct),
        (&before.equity, &before.peak_equity, &before.drawdown_pct)
    );
    // today still opens at yesterday's last snapshot, 104000 (unless midnight passed in
    // between: a new day starts its PnL again)
    if after.as_of_ms.div_euclid(DAY) == before.as_of_ms.div_euclid(DAY) {
        assert_eq!(after.daily_pnl, before.daily_pnl);
    }

    restarted.stop().await;
    world.finish().await;
}

/// A policy-store that serves one policy version on `WatchPolicy` and records `TripEss`
/// calls, failing the first one.
#[derive(Clone)]
struct FakePolicyStore {
    policy: v1::RiskPolicy,
    trips: Arc<std::sync::Mutex<Vec<v1::TripEssRequest>>>,
}

type PolicyStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<v1::RiskPolicy, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl v1::policy_store_service_server::PolicyStoreService for FakePolicyStore {
    type WatchPolicyStream = PolicyStream;

    async fn get_policy(
        &self,
        _: tonic::Request<v1::GetPolicyRequest>,
    ) -> Result<tonic::Response<v1::RiskPolicy>, tonic::Status> {
        Ok(tonic::Response::new(self.policy.clone()))
    }

    async fn watch_policy(
        &self,
        _: tonic::Request<v1::WatchPolicyRequest>,
    ) -> Result<tonic::Response<PolicyStream>, tonic::Status> {
        use futures::StreamExt;
        let stream =
            futures::stream::iter([Ok(self.policy.clone())]).chain(futures::stream::pending());
        Ok(tonic::Response::new(Box::pin(stream)))
    }

    async fn put_policy(
        &self,
        _: tonic::Request<v1::PutPolicyRequest>,
    ) -> Result<tonic::Response<v1::RiskPolicy>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }

    async fn get_ess(
        &self,
        _: tonic::Request<v1::GetEssRequest>,
    ) -> Result<tonic::Response<v1::EssStatus>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }

    async fn trip_ess(
        &self,
        request: tonic::Request<v1::TripEssRequest>,
    ) -> Result<tonic::Response<v1::EssStatus>, tonic::Status> {
        let mut trips = self.trips.lock().unwrap();
        trips.push(request.into_inner());
        if trips.len() == 1 {
            return Err(tonic::Status::unavailable("not yet"));
        }
        Ok(tonic::Response::new(v1::EssStatus {
            state: v1::EssState::Tripped as i32,
            ..v1::EssStatus::default()
        }))
    }

    async fn reset_ess(
        &self,
        _: tonic::Request<v1::ResetEssRequest>,
    ) -> Result<tonic::Response<v1::EssStatus>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }

    async fn list_policy_history(
        &self,
        _: tonic::Request<v1::ListPolicyHistoryRequest>,
    ) -> Result<tonic::Response<v1::ListPolicyHistoryResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }

    async fn list_ess_transitions(
        &self,
        _: tonic::Request<v1::ListEssTransitionsRequest>,
    ) -> Result<tonic::Response<v1::ListEssTransitionsResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exposure_breach_trips_the_ess_once_retrying_a_failed_call() {
    let world = World::start().await;
    let mut document = levibot_policy_store::PolicyDocument::from_config(&Config::default());
    document.max_total_exposure_usd = rust_decimal::Decimal::from(1_000);
    let policy = levibot_policy_store::StoredPolicy {
        version: 2,
        document,
        created: TimestampMs::new(1),
        author: levibot_policy_store::policy::Author {
            name: "test".into(),
            role: "admin".into(),
        },
        reason: "test".into(),
    }
    .to_proto();
    let fake = FakePolicyStore {
        policy,
        trips: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let stop_fake = CancellationToken::new();
    let server = tokio::spawn({
        let (fake, stop) = (fake.clone(), stop_fake.clone());
        async move {
            tonic::transport::Server::builder()
                .add_service(v1::policy_store_service_server::PolicyStoreServiceServer::new(fake))
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    stop.cancelled_owned(),
                )
                .await
        }
    });
    let mut config = world.portfolio_config();
    config
        .services
        .endpoint_mut(levibot_config::ServiceName::PolicyStore)
        .grpc_url = Some(format!("http://{address}"));
    let (portfolio, client) = world.start_portfolio_with(config).await;

    let now = LiveClock.now().as_i64();
    let minute = now - now.rem_euclid(60_000);
    // 0.5 × 20000 = 10000 of exposure, over the policy's 1000
    world
        .publish(
            &fill(1, v1::Side::Buy, "20000", "0.5", "10", minute - 600_000),
            minute,
        )
        .await;
    let trips = eventually("a trip that went through", || {
        let trips = Arc::clone(&fake.trips);
        async move {
            let trips = trips.lock().unwrap().clone();
            (trips.len() >= 2).then_some(trips)
        }
    })
    .await;
    let trip = &trips[1];
    assert_eq!(trips[0], *trip, "the failed call is retried as it was");
    assert_eq!(trip.trigger, "exposure");
    assert_eq!(
        trip.actor,
        Some(v1::Actor {
            name: "portfolio".into(),
            role: "system".into(),
        })
    );
    assert!(trip.reason.contains("10000"), "{}", trip.reason);
    let detail: serde_json::Value = serde_json::from_str(&trip.detail_json).unwrap();
    assert_eq!(detail["total_exposure_usd"], "10000");
    // still breached on later marks: no new trip
    mark(&world, &client, &bar(minute - 3 * 60_000, "21000")).await;
    mark(&world, &client, &bar(minute - 2 * 60_000, "22000")).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(fake.trips.lock().unwrap().len(), 2);

    portfolio.stop().await;
    stop_fake.cancel();
    server.await.unwrap().unwrap();
    world.finish().await;
}

/// A backend whose `GetExchangeAccount` answers what the test sets.
#[derive(Clone)]
struct FakeBackend {
    account: Arc<std::sync::Mutex<v1::ExchangeAccount>>,
}

fn fake(what: &str) -> tonic::Status {
    tonic::Status::unimplemented(format!("fake backend: no {what}"))
}

#[tonic::async_trait]
impl v1::backend_service_server::BackendService for FakeBackend {
    async fn list_engines(
        &self,
        _: tonic::Request<v1::ListEnginesRequest>,
    ) -> Result<tonic::Response<v1::ListEnginesResponse>, tonic::Status> {
        Err(fake("engines"))
    }
    async fn start_engine(
        &self,
        _: tonic::Request<v1::EngineRequest>,
    ) -> Result<tonic::Response<v1::EngineStatus>, tonic::Status> {
        Err(fake("engines"))
    }
    async fn stop_engine(
        &self,
        _: tonic::Request<v1::EngineRequest>,
    ) -> Result<tonic::Response<v1::EngineStatus>, tonic::Status> {
        Err(fake("engines"))
    }
    async fn restart_engine(
        &self,
        _: tonic::Request<v1::EngineRequest>,
    ) -> Result<tonic::Response<v1::EngineStatus>, tonic::Status> {
        Err(fake("engines"))
    }
    async fn get_risk_status(
        &self,
        _: tonic::Request<v1::GetRiskStatusRequest>,
    ) -> Result<tonic::Response<v1::RiskStatus>, tonic::Status> {
        Err(fake("risk"))
    }
    async fn set_trading_enabled(
        &self,
        _: tonic::Request<v1::SetTradingEnabledRequest>,
    ) -> Result<tonic::Response<v1::RiskStatus>, tonic::Status> {
        Err(fake("risk"))
    }
    async fn list_orders(
        &self,
        _: tonic::Request<v1::ListOrdersRequest>,
    ) -> Result<tonic::Response<v1::ListOrdersResponse>, tonic::Status> {
        Err(fake("orders"))
    }
    async fn get_exchange_account(
        &self,
        _: tonic::Request<v1::GetExchangeAccountRequest>,
    ) -> Result<tonic::Response<v1::ExchangeAccount>, tonic::Status> {
        Ok(tonic::Response::new(self.account.lock().unwrap().clone()))
    }
}

fn account(balances: &[(&str, &str)]) -> v1::ExchangeAccount {
    v1::ExchangeAccount {
        exchange: "paper".into(),
        balances: balances
            .iter()
            .map(|(asset, free)| v1::AssetBalance {
                asset: (*asset).into(),
                free: (*free).into(),
                locked: "0".into(),
            })
            .collect(),
        open_orders: vec![],
        as_of_ms: 1,
    }
}

/// Serves `service` on a port-0 listener until the returned token is cancelled.
async fn serve_fake<S>(service: S) -> (SocketAddr, CancellationToken, JoinHandle<()>)
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    stop.cancelled_owned(),
                )
                .await
                .unwrap();
        }
    });
    (address, stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_matches_exactly_and_a_mismatch_trips_the_ess() {
    let world = World::start().await;
    let backend = FakeBackend {
        account: Arc::new(std::sync::Mutex::new(account(&[("USDT", "100000")]))),
    };
    let mut document = levibot_policy_store::PolicyDocument::from_config(&Config::default());
    // only the reconciliation may trip here
    document.max_total_exposure_usd = rust_decimal::Decimal::from(1_000_000);
    let policy_store = FakePolicyStore {
        policy: levibot_policy_store::StoredPolicy {
            version: 1,
            document,
            created: TimestampMs::new(1),
            author: levibot_policy_store::policy::Author {
                name: "test".into(),
                role: "admin".into(),
            },
            reason: "test".into(),
        }
        .to_proto(),
        trips: Arc::default(),
    };
    let (backend_address, stop_backend, backend_task) = serve_fake(
        v1::backend_service_server::BackendServiceServer::new(backend.clone()),
    )
    .await;
    let (policy_address, stop_policy, policy_task) = serve_fake(
        v1::policy_store_service_server::PolicyStoreServiceServer::new(policy_store.clone()),
    )
    .await;
    let mut config = world.portfolio_config();
    config
        .services
        .endpoint_mut(levibot_config::ServiceName::Backend)
        .grpc_url = Some(format!("http://{backend_address}"));
    config
        .services
        .endpoint_mut(levibot_config::ServiceName::PolicyStore)
        .grpc_url = Some(format!("http://{policy_address}"));
    // nor before the policy arrives
    config.trading.max_exposure_usd = rust_decimal::Decimal::from(1_000_000);
    let (portfolio, mut client) = world.start_portfolio_with(config).await;

    // the start-up reconciliation: empty books, 100000 USDT on the exchange
    eventually("the start-up reconciliation", || {
        let mut client = client.clone();
        async move {
            let summary = client
                .get_summary(v1::GetSummaryRequest {})
                .await
                .ok()?
                .into_inner();
            summary.reconciled.then_some(())
        }
    })
    .await;

    // buy 0.5 BTC @ 20000, fee 10 USDT: the exchange holds 0.5 BTC and 89990 USDT
    let now = LiveClock.now().as_i64();
    world
        .publish(
            &fill(1, v1::Side::Buy, "20000", "0.5", "10", now - 60_000),
            now,
        )
        .await;
    eventually("the fill booked", || {
        let mut client = client.clone();
        async move {
            let summary = client
                .get_summary(v1::GetSummaryRequest {})
                .await
                .ok()?
                .into_inner();
            (summary.cash == "89990").then_some(())
        }
    })
    .await;
    *backend.account.lock().unwrap() = account(&[("BTC", "0.5"), ("USDT", "89990.00")]);
    let report = client
        .reconcile(v1::ReconcileRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(report.ok, "{report:?}");
    assert!(report.mismatches.is_empty());

    // one step of quantity missing on the exchange: a mismatch, confirmed, tripped
    *backend.account.lock().unwrap() = account(&[("BTC", "0.49999999"), ("USDT", "89990")]);
    let report = client
        .reconcile(v1::ReconcileRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!report.ok);
    assert_eq!(
        report.mismatches,
        vec![v1::ReconciliationMismatch {
            item: "balance:BTC".into(),
            expected: "0.5".into(),
            actual: "0.49999999".into(),
        }]
    );
    let summary = client
        .get_summary(v1::GetSummaryRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!summary.reconciled);
    let trips = eventually("a reconciliation trip", || {
        let trips = Arc::clone(&policy_store.trips);
        async move {
            let trips = trips.lock().unwrap().clone();
            (trips.len() >= 2).then_some(trips)
        }
    })
    .await;
    assert_eq!(trips[1].trigger, "reconciliation");
    assert!(
        trips[1].reason.contains("balance:BTC"),
        "{}",
        trips[1].reason
    );
    let text = scrape(portfolio.metrics).await;
    assert_eq!(
        metric(&text, "levibot_portfolio_reconciliation_mismatches_total").as_deref(),
        Some("1"),
        "{text}"
    );

    portfolio.stop().await;
    stop_backend.cancel();
    stop_policy.cancel();
    backend_task.await.unwrap();
    policy_task.await.unwrap();
    world.finish().await;
}
