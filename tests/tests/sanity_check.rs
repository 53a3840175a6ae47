//! `levibot sanity-check` against a whole fleet in one process: on a healthy fleet with fresh
//! market data every critical check passes; a service that accepts connections and never
//! answers fails its check within the per-check timeout and the run stays far under 30 s; a
//! stopped critical service makes the fleet DOWN. The health-aggregator serves the same
//! report over gRPC (fresh or from its last poll).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

use std::time::{Duration, Instant};

use levibot_bus::{Bus, Envelope, EventBus, Topic};
use levibot_cli::sanity::{self, FleetReport, FleetStatus};
use levibot_config::{Config, ServiceName};
use levibot_core::{Clock, LiveClock, TimestampMs};
use levibot_proto::v1::{
    self, GetFleetHealthRequest, health_aggregator_service_client::HealthAggregatorServiceClient,
};
use levibot_telemetry::metrics::Registry;
use levibot_tests::{Sandbox, sample, scrape_metrics};

const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

/// Every check `levibot sanity-check` runs against a Redis + PostgreSQL fleet.
const CHECKS: [&str; 16] = [
    "redis",
    "postgresql",
    "migrations",
    "service:backend",
    "service:ai-engine",
    "service:portfolio",
    "service:trade-store",
    "service:automl-cron",
    "service:policy-store",
    "service:health-aggregator",
    "policy",
    "ess",
    "market-data",
    "model",
    "disk-buffer",
    "bus-lag",
];

/// A fleet trading `SYMBOLS` with the EMA-cross signal source (no model needed), polling its
/// health every 300 ms.
async fn trading_sandbox() -> Sandbox {
    let symbols = SYMBOLS.join(",");
    Sandbox::start_with(&[
        ("risk.symbols", &symbols),
        ("trading.engines_enabled", "true"),
        ("trading.signal_source", "ema_cross"),
        ("health.poll_interval_ms", "300"),
    ])
    .await
}

/// Waits until the trade-store has migrated the schema and the backend (which serves once its
/// start-up recovery, reading the trade-store, is done) answers.
async fn wait_until_started(sandbox: &Sandbox) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let report = sanity::run(sandbox.config(), Duration::from_secs(1)).await;
        let pending: Vec<_> = ["migrations", "service:backend", "service:trade-store"]
            .into_iter()
            .filter(|name| !report.check(name).unwrap().ok)
            .collect();
        if pending.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the fleet did not start: {:#?}",
            failed(&report)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The last closed 1m bar of `symbol`, as the feeder would publish it now.
fn fresh_bar(symbol: &str) -> v1::Bar {
    let now = LiveClock::new().now().as_i64();
    v1::Bar {
        symbol: symbol.to_owned(),
        interval: v1::Interval::Interval1m.into(),
        open_time_ms: now / 60_000 * 60_000 - 60_000,
        open: "100".into(),
        high: "101".into(),
        low: "99".into(),
        close: "100.5".into(),
        volume: "12".into(),
    }
}

/// Publishes a fresh bar per symbol until the engines have seen them (the engines subscribe
/// from the end of the stream, so a bar published before they do would be missed).
async fn feed_fresh_bars(sandbox: &Sandbox) {
    let bus = Bus::open(&sandbox.config().bus, "sanity-test-feed", &Registry::new())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for symbol in SYMBOLS {
            let bar = fresh_bar(symbol);
            let close = TimestampMs::new(bar.open_time_ms + 60_000);
            bus.publish(Topic::MdBar, &Envelope::new(&bar, "test", close))
                .await
                .unwrap();
        }
        let report = sanity::run(sandbox.config(), Duration::from_secs(3)).await;
        let market_data = report.check("market-data").unwrap();
        if market_data.ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the engines never saw a fresh bar: {market_data:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    bus.close().await;
}

fn failed(report: &FleetReport) -> Vec<String> {
    report
        .failed()
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_critical_check_passes_on_a_healthy_fleet() {
    let sandbox = trading_sandbox().await;
    wait_until_started(&sandbox).await;
    feed_fresh_bars(&sandbox).await;

    let started = Instant::now();
    let report = sanity::run(sandbox.config(), Duration::from_secs(3)).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, CHECKS, "{report:#?}");
    // the parts that do not depend on the policy-store's ESS work
    for name in [
        "redis",
        "postgresql",
        "migrations",
        "service:backend",
        "service:trade-store",
        "service:policy-store",
        "policy",
        "market-data",
        "model",
        "disk-buffer",
        "bus-lag",
    ] {
        let check = report.check(name).unwrap();
        assert!(check.ok, "{check:?}");
    }
    assert!(
        report
            .check("model")
            .unwrap()
            .detail
            .contains("not required"),
        "{report:#?}"
    );
    assert!(
        report
            .check("market-data")
            .unwrap()
            .detail
            .starts_with("fresh: BTCUSDT"),
        "{report:#?}"
    );
    // the intended end state: everything passes, exit code 0 (needs GetEss from the
    // policy-store)
    assert!(report.ok, "failing checks: {:#?}", failed(&report));
    assert_eq!(report.status, FleetStatus::Ok);

    // the table and the JSON agree with the report
    let mut table = Vec::new();
    sanity::write_table(&mut table, &report).unwrap();
    let table = String::from_utf8(table).unwrap();
    assert!(
        table.ends_with("OK: 16 checks, 16 passed, 0 failed\n"),
        "{table}"
    );
    let mut json = Vec::new();
    sanity::write_json(&mut json, &report).unwrap();
    let json = String::from_utf8(json).unwrap();
    assert!(json.contains(r#""status": "OK""#), "{json}");
    assert_eq!(json.matches(r#""severity": "#).count(), 16, "{json}");

    // the aggregator answers the same, fresh or from its last poll
    let mut client =
        HealthAggregatorServiceClient::new(sandbox.channel(ServiceName::HealthAggregator).await);
    let cached = client
        .get_fleet_health(GetFleetHealthRequest {
            timeout_ms: 0,
            cached: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cached.checks.len(), 16);
    assert_ne!(cached.status(), v1::FleetStatus::Unspecified);
    let metrics = scrape_metrics(sandbox.metrics_addr(ServiceName::HealthAggregator)).await;
    assert!(
        sample(&metrics, "levibot_fleet_status").is_some(),
        "{metrics}"
    );
    drop(client);
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_service_fails_its_check_within_the_timeout() {
    let sandbox = trading_sandbox().await;
    wait_until_started(&sandbox).await;
    // accepts TCP connections, never speaks HTTP/2
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config: Config = sandbox.config().clone();
    config.services.ai_engine.grpc_url = Some(format!("http://{}", hang.local_addr().unwrap()));
    config.services.portfolio.grpc_url = Some(format!("http://{}", hang.local_addr().unwrap()));

    let started = Instant::now();
    let report = sanity::run(&config, Duration::from_secs(2)).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "took {took:?}");
    for name in ["service:ai-engine", "service:portfolio"] {
        let check = report.check(name).unwrap();
        assert!(!check.ok);
        assert!(
            check.detail.contains("no answer within 2000 ms"),
            "{check:?}"
        );
    }
    // the rest of the fleet is unaffected
    for name in [
        "redis",
        "postgresql",
        "migrations",
        "service:backend",
        "service:trade-store",
        "service:policy-store",
        "disk-buffer",
        "bus-lag",
    ] {
        let check = report.check(name).unwrap();
        assert!(check.ok, "{check:?}");
    }
    assert!(!report.ok);
    assert_ne!(report.status, FleetStatus::Ok);
    drop(hang);
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_critical_service_makes_the_fleet_down() {
    let sandbox = trading_sandbox().await;
    wait_until_started(&sandbox).await;
    sandbox.stop_service(ServiceName::TradeStore);
    let deadline = Instant::now() + Duration::from_secs(10);
    let report = loop {
        let report = sanity::run(sandbox.config(), Duration::from_secs(2)).await;
        if !report.check("service:trade-store").unwrap().ok || Instant::now() > deadline {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(report.status, FleetStatus::Down, "{report:#?}");
    assert!(
        report
            .reasons
            .iter()
            .any(|r| r.starts_with("service:trade-store: ")),
        "{:?}",
        report.reasons
    );
    let mut out = Vec::new();
    sanity::write_table(&mut out, &report).unwrap();
    let table = String::from_utf8(out).unwrap();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("service:trade-store") && l.contains("FAIL")),
        "{table}"
    );
    assert!(
        sanity::summary(&report).starts_with("DOWN: 16 checks"),
        "{}",
        sanity::summary(&report)
    );
    sandbox.shutdown().await.unwrap();
}
