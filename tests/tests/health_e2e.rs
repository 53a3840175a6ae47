//! The health-aggregator's poll loop against a whole fleet in one process: once every check
//! passes (fresh market data published, EMA-cross signal source so no model is needed), a
//! killed critical service makes the fleet DOWN, naming it, within its poll interval, and the
//! fleet is OK again once the service is back. Both changes are published on the `health`
//! topic.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

use std::time::{Duration, Instant};

use levibot_bus::{Bus, Envelope, EventBus, Topic};
use levibot_config::ServiceName;
use levibot_core::{Clock, LiveClock, TimestampMs};
use levibot_proto::v1::{
    self, FleetHealth, FleetStatus, GetFleetHealthRequest,
    health_aggregator_service_client::HealthAggregatorServiceClient,
};
use levibot_telemetry::metrics::Registry;
use levibot_tests::{Sandbox, TracedChannel, sample, scrape_metrics, test_redis_url};

const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];
/// `health.poll_interval_ms`.
const POLL: Duration = Duration::from_millis(300);
/// What a loaded 2-core machine may add to a poll: each poll runs 16 checks (new gRPC and
/// PostgreSQL connections, `/metrics` scrapes) in parallel.
const SLACK: Duration = Duration::from_millis(2_400);
/// The critical service this test kills.
const KILLED: ServiceName = ServiceName::TradeStore;
const KILLED_CHECK: &str = "service:trade-store";

type Aggregator = HealthAggregatorServiceClient<TracedChannel>;

async fn trading_sandbox() -> Sandbox {
    let symbols = SYMBOLS.join(",");
    Sandbox::start_with(&[
        ("risk.symbols", &symbols),
        ("trading.engines_enabled", "true"),
        ("trading.signal_source", "ema_cross"),
        ("health.poll_interval_ms", &POLL.as_millis().to_string()),
        ("health.check_timeout_ms", "1000"),
    ])
    .await
}

/// The aggregator's latest poll (`cached`).
async fn latest(client: &Aggregator) -> FleetHealth {
    client
        .clone()
        .get_fleet_health(GetFleetHealthRequest {
            timeout_ms: 0,
            cached: true,
        })
        .await
        .unwrap()
        .into_inner()
}

fn check<'a>(report: &'a FleetHealth, name: &str) -> &'a v1::HealthCheck {
    report
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#?}"))
}

/// Polls the aggregator's latest report until `done` holds for a report of a poll that
/// started at or after `since_ms`; panics after `bound`. Returns the report and when it was
/// seen.
async fn wait_for(
    client: &Aggregator,
    since_ms: i64,
    bound: Duration,
    what: &str,
    mut done: impl FnMut(&FleetHealth) -> bool,
) -> (FleetHealth, Instant) {
    let started = Instant::now();
    loop {
        let report = latest(client).await;
        if report.checked_ms >= since_ms && done(&report) {
            return (report, Instant::now());
        }
        assert!(
            started.elapsed() < bound,
            "{what}: not within {bound:?}; last report: {report:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The last closed 1m bar of `symbol` as the feeder would publish it now.
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

/// Publishes a fresh bar per symbol until the aggregator's poll finds market data fresh (the
/// engines read `md.bar` from its end, so bars published before they subscribe are missed).
async fn feed_fresh_bars(sandbox: &Sandbox, client: &Aggregator) {
    let bus = Bus::open(&sandbox.config().bus, "health-e2e-feed", &Registry::new())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for symbol in SYMBOLS {
            let bar = fresh_bar(symbol);
            let close = TimestampMs::new(bar.open_time_ms + 60_000);
            bus.publish(Topic::MdBar, &Envelope::new(&bar, "test", close))
                .await
                .unwrap();
        }
        tokio::time::sleep(POLL * 2).await;
        let report = latest(client).await;
        let market_data = check(&report, "market-data");
        if market_data.ok {
            assert!(
                market_data.detail.starts_with("fresh: BTCUSDT"),
                "{market_data:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the engines never saw a fresh bar: {market_data:?}"
        );
    }
    bus.close().await;
}

fn now_ms() -> i64 {
    LiveClock::new().now().as_i64()
}

/// A stream entry as `XRANGE` returns it: id and field/value pairs.
type StreamEntry = (String, Vec<(String, Vec<u8>)>);

/// Every `FleetHealth` published on this sandbox's `health` topic, oldest first.
async fn published_health(sandbox: &Sandbox) -> Vec<FleetHealth> {
    let redis = redis::Client::open(test_redis_url()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let entries: Vec<StreamEntry> = redis::cmd("XRANGE")
        .arg(Topic::Health.stream_key(sandbox.key_prefix()))
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    entries
        .iter()
        .map(|(id, fields)| {
            let envelope = fields
                .iter()
                .find_map(|(_, value)| Envelope::decode(value).ok())
                .unwrap_or_else(|| panic!("no envelope in health entry {id}"));
            assert_eq!(envelope.source, "health-aggregator");
            envelope.message::<FleetHealth>().unwrap()
        })
        .collect()
}

/// What makes a health report a change: its status and its failing checks.
fn alert_key(report: &FleetHealth) -> (FleetStatus, Vec<&str>) {
    let mut failing: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    failing.sort_unstable();
    (report.status(), failing)
}

fn summary(report: &FleetHealth) -> String {
    format!(
        "{:?} at {}: {:?}",
        report.status(),
        report.checked_ms,
        report.reasons
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_critical_service_is_down_within_the_poll_interval_and_ok_once_back() {
    let mut sandbox = trading_sandbox().await;
    let client =
        HealthAggregatorServiceClient::new(sandbox.channel(ServiceName::HealthAggregator).await);

    // 1. A healthy fleet: the trade-store has migrated, the backend recovered, and once the
    // engines have a fresh bar every check passes.
    let (_, _) = wait_for(
        &client,
        0,
        Duration::from_secs(30),
        "the fleet did not start",
        |r| {
            ["migrations", "service:backend", KILLED_CHECK]
                .iter()
                .all(|name| check(r, name).ok)
        },
    )
    .await;
    feed_fresh_bars(&sandbox, &client).await;
    let (healthy, _) = wait_for(
        &client,
        0,
        Duration::from_secs(20),
        "the fleet never became OK",
        |r| r.status() == FleetStatus::Ok,
    )
    .await;
    assert!(healthy.ok, "{healthy:#?}");
    assert_eq!(healthy.checks.len(), 16, "{healthy:#?}");
    assert!(healthy.reasons.is_empty(), "{healthy:#?}");
    assert!(healthy.checks.iter().all(|c| c.ok), "{healthy:#?}");
    assert!(
        check(&healthy, "model").detail.contains("not required"),
        "{healthy:#?}"
    );
    // the aggregator keeps polling: a newer report follows within a couple of intervals
    let (newer, _) = wait_for(
        &client,
        healthy.checked_ms + 1,
        POLL * 2 + SLACK,
        "the aggregator stopped polling",
        |_| true,
    )
    .await;
    assert_eq!(newer.status(), FleetStatus::Ok, "{}", summary(&newer));

    // 2. Kill the trade-store (its ports are closed once this returns).
    let stopping_ms = now_ms();
    sandbox.stop_service_and_wait(KILLED).await;
    let killed_ms = now_ms();
    let killed = Instant::now();
    let (down, seen) = wait_for(
        &client,
        killed_ms,
        POLL * 2 + SLACK,
        "the killed trade-store was not reported",
        |r| r.status() == FleetStatus::Down,
    )
    .await;
    let detected = seen - killed;
    assert!(!check(&down, KILLED_CHECK).ok, "{down:#?}");
    assert_eq!(
        check(&down, KILLED_CHECK).severity(),
        v1::CheckSeverity::Critical
    );
    assert!(
        down.reasons
            .first()
            .is_some_and(|r| r.starts_with(&format!("{KILLED_CHECK}: "))),
        "the killed service is not the first reason: {:?}",
        down.reasons
    );
    // nothing else critical broke with it: the store, Redis and the other critical services
    for name in [
        "redis",
        "postgresql",
        "migrations",
        "service:backend",
        "service:policy-store",
        "policy",
        "ess",
    ] {
        assert!(check(&down, name).ok, "{name} failed too: {down:#?}");
    }
    // every poll that started after the kill sees it (polled a few more times)
    let mut last = down.checked_ms;
    for _ in 0..3 {
        let (report, _) =
            wait_for(&client, last + 1, POLL * 2 + SLACK, "no new poll", |_| true).await;
        assert_eq!(report.status(), FleetStatus::Down, "{}", summary(&report));
        assert!(!check(&report, KILLED_CHECK).ok, "{report:#?}");
        last = report.checked_ms;
    }
    let metrics = scrape_metrics(sandbox.metrics_addr(ServiceName::HealthAggregator)).await;
    assert_eq!(sample(&metrics, "levibot_fleet_status"), Some(2.0));
    assert_eq!(
        sample(
            &metrics,
            &format!("levibot_fleet_check_ok{{check=\"{KILLED_CHECK}\"}}")
        ),
        Some(0.0),
        "{metrics}"
    );

    // 3. Bring it back on the same ports.
    sandbox.start_service(KILLED).await;
    let restarted_ms = now_ms();
    let restarted = Instant::now();
    let (back, seen) = wait_for(
        &client,
        restarted_ms,
        Duration::from_secs(10),
        "the fleet did not recover",
        |r| check(r, KILLED_CHECK).ok && r.status() == FleetStatus::Ok,
    )
    .await;
    let recovered = seen - restarted;
    assert!(back.ok && back.reasons.is_empty(), "{back:#?}");

    // 4. Both changes were published on the `health` topic, in order: OK, then DOWN naming
    // the trade-store (a poll while it was shutting down may have seen it first), then OK
    // again.
    let deadline = Instant::now() + Duration::from_secs(5);
    let published = loop {
        let published = published_health(&sandbox).await;
        let recovered_published = published
            .last()
            .is_some_and(|h| h.status() == FleetStatus::Ok && h.checked_ms >= restarted_ms);
        if recovered_published || Instant::now() > deadline {
            break published;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let statuses: Vec<String> = published.iter().map(summary).collect();
    let first_down = published
        .iter()
        .position(|h| h.status() == FleetStatus::Down && h.checked_ms >= stopping_ms)
        .unwrap_or_else(|| panic!("no DOWN after the kill on the health topic: {statuses:#?}"));
    assert!(
        published[first_down]
            .reasons
            .iter()
            .any(|r| r.starts_with(&format!("{KILLED_CHECK}: "))),
        "{statuses:#?}"
    );
    assert!(
        published[first_down].checked_ms <= down.checked_ms,
        "the first DOWN poll was not published: {statuses:#?}"
    );
    assert!(
        published
            .iter()
            .rfind(|h| h.checked_ms < stopping_ms)
            .is_some_and(|h| h.status() == FleetStatus::Ok),
        "the change before the kill was to OK: {statuses:#?}"
    );
    let last = published.last().unwrap();
    assert_eq!(last.status(), FleetStatus::Ok, "{statuses:#?}");
    assert!(last.checked_ms >= restarted_ms, "{statuses:#?}");
    // published on a change only: no two consecutive events say the same
    for pair in published.windows(2) {
        assert_ne!(
            alert_key(&pair[0]),
            alert_key(&pair[1]),
            "the same health published twice: {statuses:#?}"
        );
    }
    eprintln!(
        "health e2e: DOWN seen {detected:?} after the kill, OK {recovered:?} after the restart; \
         published: {statuses:#?}"
    );
    drop(client);
    sandbox.shutdown().await.unwrap();
}
