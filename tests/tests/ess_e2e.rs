//! The emergency stop and the risk policy across the fleet, on the FTX 1m replay: a drawdown
//! breach found by the portfolio trips the ESS in policy-store and the backend sends nothing
//! more; a reset is refused to a trader and during the cooldown; a reconciliation mismatch
//! blocks trading; a new policy version changes the running backend's decisions.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

mod support;

use std::time::{Duration, Instant};

use levibot_config::ServiceName;
use levibot_exchange::{
    sim::SimTradingConfig,
    spot::{Credentials, PaperConfig},
};
use levibot_proto::v1::{
    self, backend_service_client::BackendServiceClient,
    policy_store_service_client::PolicyStoreServiceClient,
    trade_store_service_client::TradeStoreServiceClient,
};
use levibot_tests::Sandbox;
use support::{Store, btc_orders, free_port, http, trading_fleet_with};

type Policy = PolicyStoreServiceClient<levibot_tests::TracedChannel>;

fn admin() -> Option<v1::Actor> {
    Some(v1::Actor {
        name: "e2e".into(),
        role: "admin".into(),
    })
}

async fn api_key(store: &Store, name: &str, role: v1::Role) -> String {
    let secret = levibot_core::auth::ApiKeySecret::generate().unwrap();
    store
        .clone()
        .create_api_key(v1::CreateApiKeyRequest {
            key_id: levibot_core::auth::KeyId::new().to_string(),
            name: name.into(),
            role: role as i32,
            key_sha256: secret.sha256_hex(),
            actor: admin(),
        })
        .await
        .unwrap();
    secret.expose().to_owned()
}

/// Waits until policy-store reports the ESS tripped.
async fn wait_tripped(policy: &Policy, within: Duration) -> v1::EssStatus {
    let started = Instant::now();
    loop {
        if let Ok(status) = policy.clone().get_ess(v1::GetEssRequest {}).await {
            let status = status.into_inner();
            if status.state() == v1::EssState::Tripped {
                return status;
            }
        }
        assert!(started.elapsed() < within, "the ESS never tripped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Orders created after `since_ms` plus one bar (`bar`): the bar in flight when the trip
/// happened may still have been decided on.
async fn orders_after(store: &Store, since_ms: i64, bar: Duration) -> Vec<v1::Order> {
    let bar = i64::try_from(bar.as_millis()).unwrap();
    btc_orders(store)
        .await
        .into_iter()
        .filter(|o| o.request.as_ref().unwrap().created_ms > since_ms + bar)
        .collect()
}

async fn handles(sandbox: &Sandbox) -> (Store, Policy) {
    (
        TradeStoreServiceClient::new(sandbox.channel(ServiceName::TradeStore).await),
        PolicyStoreServiceClient::new(sandbox.channel(ServiceName::PolicyStore).await),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drawdown_breach_trips_the_ess_within_one_bar_and_no_order_follows() {
    let bar = Duration::from_millis(100);
    let gateway = free_port().await;
    // A 0.001 % drawdown limit: the fees of the first fill breach it.
    let (sandbox, _sim) = trading_fleet_with(
        bar,
        &gateway,
        None,
        &[("risk.ess_max_drawdown_pct", "0.001")],
    )
    .await;
    let (store, policy) = handles(&sandbox).await;
    let tripped = wait_tripped(&policy, Duration::from_secs(120)).await;
    assert_eq!(tripped.trigger, "drawdown", "{tripped:?}");
    assert!(
        !btc_orders(&store).await.is_empty(),
        "tripped before any order"
    );
    // Bars keep coming for a while; nothing is sent after the bar in flight at the trip.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let late = orders_after(&store, tripped.since_ms, bar).await;
    assert!(late.is_empty(), "orders after the trip: {late:#?}");

    // The gateway reports it, and a reset is refused: to a trader (role), then to an admin
    // during the cooldown; the ESS stays tripped.
    let viewer = api_key(&store, "e2e-viewer", v1::Role::Viewer).await;
    let trader = api_key(&store, "e2e-trader", v1::Role::Trader).await;
    let admin_key = api_key(&store, "e2e-admin", v1::Role::Admin).await;
    let (status, body) = http(&gateway, "GET", "/ess", &viewer).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"state\":\"TRIPPED\""), "{body}");
    let (status, body) = http(&gateway, "POST", "/ess/reset?reason=e2e", &trader).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = http(&gateway, "POST", "/ess/reset?reason=e2e", &admin_key).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("reset may start in"), "{body}");
    let (status, body) = http(&gateway, "GET", "/risk", &viewer).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"ess_state\":\"tripped\""), "{body}");
    let still = wait_tripped(&policy, Duration::from_secs(1)).await;
    assert_eq!(still.seq, tripped.seq, "a refused reset changed the ESS");
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconciliation_mismatch_trips_the_ess_and_blocks_trading() {
    let bar = Duration::from_millis(20);
    let (key, secret) = ("e2e-api-key", "e2e-api-secret");
    // The exchange holds 100,000 USDT; the books start from 10,000: they cannot agree.
    let mut paper = PaperConfig::default();
    paper
        .initial_balances
        .insert("USDT".to_owned(), "100000".parse().unwrap());
    let trading = SimTradingConfig {
        credentials: Credentials::new(key, secret),
        paper,
    };
    let (sandbox, _sim) = trading_fleet_with(
        bar,
        "127.0.0.1:0",
        Some(trading),
        &[
            ("trading.exchange", "binance"),
            ("exchange.api_key", key),
            ("exchange.api_secret", secret),
            ("portfolio.starting_cash_usd", "10000"),
        ],
    )
    .await;
    let (store, policy) = handles(&sandbox).await;
    let tripped = wait_tripped(&policy, Duration::from_secs(60)).await;
    assert_eq!(tripped.trigger, "reconciliation", "{tripped:?}");
    assert!(tripped.reason.contains("USDT"), "{tripped:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let late = orders_after(&store, tripped.since_ms, bar).await;
    assert!(late.is_empty(), "orders after the trip: {late:#?}");
    let mut backend = BackendServiceClient::new(sandbox.channel(ServiceName::Backend).await);
    let risk = backend
        .get_risk_status(v1::GetRiskStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(risk.ess_state(), v1::EssState::Tripped, "{risk:?}");
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_policy_version_changes_the_running_backends_decisions() {
    let bar = Duration::from_millis(20);
    let (sandbox, _sim) = trading_fleet_with(bar, "127.0.0.1:0", None, &[]).await;
    let (store, mut policy) = handles(&sandbox).await;
    let mut backend = BackendServiceClient::new(sandbox.channel(ServiceName::Backend).await);
    // It trades BTCUSDT under version 1.
    let started = Instant::now();
    while btc_orders(&store).await.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(60), "no order");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let current = policy
        .get_policy(v1::GetPolicyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.version, 1);
    // An invalid version is refused, every bad field named, and version 1 stays.
    let mut invalid = current.clone();
    invalid.max_position_usd = "-5".into();
    invalid.min_confidence = 2.0;
    let refused = policy
        .put_policy(v1::PutPolicyRequest {
            policy: Some(invalid),
            actor: admin(),
            reason: "e2e: broken".into(),
            ..v1::PutPolicyRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("max_position_usd")
            && refused.message().contains("min_confidence"),
        "{}",
        refused.message()
    );
    // Version 2 takes BTCUSDT off the tradable symbols.
    let mut next = current.clone();
    next.symbols = vec!["ETHUSDT".into()];
    next.symbol_caps.retain(|c| c.symbol != "BTCUSDT");
    let stored = policy
        .put_policy(v1::PutPolicyRequest {
            policy: Some(next),
            actor: admin(),
            reason: "e2e: stop BTC".into(),
            expected_version: 1,
            ..v1::PutPolicyRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.version, 2);
    let started = Instant::now();
    loop {
        let risk = backend
            .get_risk_status(v1::GetRiskStatusRequest {})
            .await
            .unwrap()
            .into_inner();
        if risk.policy_version == 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the backend still runs version {}",
            risk.policy_version
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let applied_ms = levibot_core::Clock::now(&levibot_core::LiveClock).as_i64();
    // From now on BTCUSDT signals are refused as an unknown symbol, and none is sent.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let signals = store
        .clone()
        .query_signals(v1::QuerySignalsRequest {
            symbol: "BTCUSDT".into(),
            range: Some(v1::TimeRange {
                from_ms: applied_ms + 1,
                to_ms: i64::MAX,
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .signals;
    assert!(!signals.is_empty(), "no signal after the update");
    for record in &signals {
        let decision = record.decision.as_ref().unwrap();
        assert!(!decision.approved, "{record:?}");
        assert_eq!(decision.reason, "unknown_symbol", "{record:?}");
    }
    let late = orders_after(&store, applied_ms, bar).await;
    assert!(late.is_empty(), "orders after version 2: {late:#?}");
    sandbox.shutdown().await.unwrap();
}

/// The net BTC quantity the stored fills leave (buys less sells, less fees paid in BTC).
async fn btc_held(store: &Store) -> rust_decimal::Decimal {
    use rust_decimal::Decimal;
    support::btc_fills(store)
        .await
        .iter()
        .map(|f| {
            let quantity: Decimal = f.quantity.parse().unwrap();
            let fee: Decimal = f.fee.parse().unwrap_or_default();
            let fee = if f.fee_asset == "BTC" {
                fee
            } else {
                Decimal::ZERO
            };
            if f.side() == v1::Side::Buy {
                quantity - fee
            } else {
                -quantity - fee
            }
        })
        .sum()
}

async fn risk_status(sandbox: &Sandbox) -> v1::RiskStatus {
    BackendServiceClient::new(sandbox.channel(ServiceName::Backend).await)
        .get_risk_status(v1::GetRiskStatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trip_under_a_flatten_policy_sells_the_position_once_and_nothing_else() {
    let bar = Duration::from_millis(100);
    let (sandbox, _sim) = trading_fleet_with(bar, "127.0.0.1:0", None, &[]).await;
    let (store, mut policy) = handles(&sandbox).await;
    // An admin stores a version asking a trip to flatten; the backend reports it.
    let mut next = policy
        .get_policy(v1::GetPolicyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!next.ess_flatten_on_trip);
    next.ess_flatten_on_trip = true;
    let stored = policy
        .put_policy(v1::PutPolicyRequest {
            policy: Some(next.clone()),
            actor: admin(),
            reason: "e2e: flatten on trip".into(),
            expected_version: next.version,
            ..v1::PutPolicyRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let started = Instant::now();
    while risk_status(&sandbox).await.policy_version != stored.version {
        assert!(started.elapsed() < Duration::from_secs(10), "not applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // It trades until it holds BTC; a trader trips the ESS at once.
    let started = Instant::now();
    let held = loop {
        let held = btc_held(&store).await;
        if held > rust_decimal::Decimal::ZERO {
            break held;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "never held BTC"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let tripped = policy
        .trip_ess(v1::TripEssRequest {
            reason: "e2e: flatten".into(),
            actor: Some(v1::Actor {
                name: "e2e-trader".into(),
                role: "trader".into(),
            }),
            trigger: "manual".into(),
            detail_json: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tripped.state(), v1::EssState::Tripped, "{tripped:?}");
    assert!(tripped.flatten_on_trip, "{tripped:?}");
    // The position goes to zero through one filled SELL with a flatten client order id.
    let flatten_of = |orders: &[v1::Order]| -> Vec<v1::Order> {
        orders
            .iter()
            .filter(|o| {
                o.request
                    .as_ref()
                    .is_some_and(|r| r.client_order_id.ends_with("-f"))
            })
            .cloned()
            .collect()
    };
    let started = Instant::now();
    let exit = loop {
        let exits = flatten_of(&btc_orders(&store).await);
        if let [exit] = exits.as_slice()
            && exit.status() == v1::OrderStatus::Filled
        {
            break exit.clone();
        }
        assert!(exits.len() <= 1, "more than one flatten: {exits:#?}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no filled flatten (held {held}): {exits:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let request = exit.request.as_ref().unwrap();
    assert_eq!(request.side(), v1::Side::Sell, "{exit:?}");
    assert!(request.created_ms >= tripped.since_ms, "{exit:?}");
    assert_eq!(btc_held(&store).await, rust_decimal::Decimal::ZERO);
    let started = Instant::now();
    while risk_status(&sandbox).await.open_positions != 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "still open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The same trip delivered again (a second trip call is a no-op; the transition is
    // re-published on risk.ess): nothing is sold again.
    let again = policy
        .trip_ess(v1::TripEssRequest {
            reason: "e2e: again".into(),
            actor: Some(v1::Actor {
                name: "e2e-trader".into(),
                role: "trader".into(),
            }),
            trigger: "manual".into(),
            detail_json: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.seq, tripped.seq, "{again:?}");
    let bus = levibot_bus::Bus::open(
        &sandbox.config().bus,
        "e2e",
        &levibot_telemetry::metrics::Registry::new(),
    )
    .await
    .unwrap();
    let envelope = levibot_bus::Envelope::new(
        &tripped,
        "policy-store",
        levibot_core::TimestampMs::new(tripped.since_ms),
    );
    levibot_bus::EventBus::publish(&bus, levibot_bus::Topic::RiskEss, &envelope)
        .await
        .unwrap();

    // No other order follows, and only one flatten was ever sent.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let orders = btc_orders(&store).await;
    assert_eq!(flatten_of(&orders).len(), 1, "{orders:#?}");
    let late: Vec<_> = orders
        .iter()
        .filter(|o| {
            let r = o.request.as_ref().unwrap();
            r.created_ms > tripped.since_ms + 100 && r.client_order_id != request.client_order_id
        })
        .collect();
    assert!(late.is_empty(), "orders after the trip: {late:#?}");
    assert_eq!(btc_held(&store).await, rust_decimal::Decimal::ZERO);
    let metrics = levibot_tests::scrape_metrics(sandbox.metrics_addr(ServiceName::Backend)).await;
    let sent: f64 = metrics
        .lines()
        .filter(|l| l.contains("ess_flatten_total{") && l.contains("outcome=\"sent\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!((sent - 1.0).abs() < f64::EPSILON, "{metrics}");
    sandbox.shutdown().await.unwrap();
}
