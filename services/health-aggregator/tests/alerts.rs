//! The poller against a real webhook (a local axum server) and a real Redis bus: a problem is
//! alerted once as Slack-compatible JSON, the same problem is not re-sent within the dedup
//! window, the recovery is sent once, a failing webhook is counted and never stops polling,
//! and every change is published on the `health` topic.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

use std::sync::{Arc, Mutex};

use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use levibot_bus::{Bus, Envelope, Topic};
use levibot_config::{Config, ConfigLoader};
use levibot_core::{HistoricalClock, TimestampMs};
use levibot_health_aggregator::{
    CheckOutcome, FleetMetrics, FleetMonitor, FleetReport, FleetStatus, Poller, Severity,
};
use levibot_proto::v1;
use levibot_telemetry::metrics::Registry;

#[derive(Clone, Default)]
struct Hook {
    received: Arc<Mutex<Vec<serde_json::Value>>>,
    fail: Arc<Mutex<bool>>,
}

impl Hook {
    fn texts(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|v| v["text"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn receive(State(hook): State<Hook>, Json(body): Json<serde_json::Value>) -> StatusCode {
    if *hook.fail.lock().unwrap() {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    hook.received.lock().unwrap().push(body);
    StatusCode::OK
}

/// A webhook server; its URL carries a token, as Slack's do.
async fn webhook() -> (Hook, String) {
    let hook = Hook::default();
    let app = Router::new()
        .route("/services/T0/B0/secrettoken", post(receive))
        .with_state(hook.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/services/T0/B0/secrettoken",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (hook, url)
}

fn report(failing: &[(&str, Severity)], at: i64) -> FleetReport {
    let mut checks = vec![CheckOutcome {
        name: "redis".into(),
        ok: true,
        severity: Severity::Critical,
        detail: "redis 7".into(),
        latency_ms: 1,
    }];
    checks.extend(failing.iter().map(|(name, severity)| CheckOutcome {
        name: (*name).into(),
        ok: false,
        severity: *severity,
        // details change from poll to poll; the alert key does not
        detail: format!("{name} broken at {at}"),
        latency_ms: 1,
    }));
    FleetReport::from_checks(checks, at)
}

struct Rig {
    poller: Poller,
    monitor: FleetMonitor,
    clock: Arc<HistoricalClock>,
}

impl Rig {
    fn new(config: Config, bus: Option<Bus>) -> Self {
        let clock = Arc::new(HistoricalClock::new(TimestampMs::new(1_000_000)));
        let metrics = FleetMetrics::register(&Registry::new()).unwrap();
        let config = Arc::new(config);
        let monitor = FleetMonitor::with_clock(Arc::clone(&config), metrics, clock.clone());
        let poller = Poller::new(monitor.clone(), &config.health, bus);
        Self {
            poller,
            monitor,
            clock,
        }
    }

    /// Moves the clock by `ms` and has the poller handle `report`.
    async fn poll(&mut self, ms: i64, report: &FleetReport) {
        self.clock.advance_ms(ms).unwrap();
        self.monitor.record(report);
        self.poller.observe(report).await;
    }

    fn alerts(&self, outcome: &str) -> u64 {
        self.monitor
            .metrics()
            .alerts
            .with_label_values(&[outcome])
            .get()
    }
}

fn config(webhook: Option<&str>, settings: &[(&str, &str)]) -> Config {
    let mut loader = ConfigLoader::new().set("health.alert_dedup_ms", "60000");
    if let Some(webhook) = webhook {
        loader = loader.set("health.webhook_url", webhook);
    }
    for (key, value) in settings {
        loader = loader.set(key, value);
    }
    loader.load().unwrap()
}

#[tokio::test]
async fn alerts_are_posted_deduplicated_and_recovery_is_sent_once() {
    let (hook, url) = webhook().await;
    let mut rig = Rig::new(config(Some(&url), &[]), None);
    let ok = |at| report(&[], at);
    let down = |at| report(&[("ess", Severity::Critical)], at);
    let degraded = |at| report(&[("market-data", Severity::Warning)], at);

    rig.poll(0, &ok(0)).await; // a healthy start: nothing to say
    rig.poll(10_000, &down(1)).await;
    rig.poll(10_000, &down(2)).await; // same problem, other details: no repeat
    rig.poll(10_000, &ok(3)).await; // recovery
    rig.poll(10_000, &ok(4)).await;
    rig.poll(10_000, &down(5)).await; // flaps back within the dedup window: suppressed
    rig.poll(10_000, &ok(6)).await; // ...and so its recovery
    rig.poll(10_000, &degraded(7)).await; // a different problem
    rig.poll(60_000, &down(8)).await; // the window has passed: sent again
    rig.poll(10_000, &ok(9)).await;

    let texts = hook.texts();
    assert_eq!(
        texts,
        [
            "LeviBot fleet DOWN\n- ess: ess broken at 1",
            "LeviBot fleet OK: recovered from DOWN, all 1 checks pass",
            "LeviBot fleet DEGRADED\n- market-data: market-data broken at 7",
            "LeviBot fleet DOWN\n- ess: ess broken at 8",
            "LeviBot fleet OK: recovered from DOWN, all 1 checks pass",
        ]
    );
    assert_eq!(rig.alerts("sent"), 5);
    assert_eq!(rig.alerts("suppressed"), 1);
    assert_eq!(rig.alerts("failed"), 0);
    assert_eq!(rig.monitor.metrics().status.get(), 0);
    assert_eq!(rig.monitor.latest().unwrap().status, FleetStatus::Ok);
}

#[tokio::test]
async fn a_failing_webhook_is_counted_retried_and_never_stops_the_poller() {
    let (hook, url) = webhook().await;
    let mut rig = Rig::new(config(Some(&url), &[]), None);
    *hook.fail.lock().unwrap() = true;
    rig.poll(0, &report(&[("ess", Severity::Critical)], 1))
        .await;
    rig.poll(10_000, &report(&[("ess", Severity::Critical)], 2))
        .await;
    assert_eq!(rig.alerts("failed"), 2);
    assert!(hook.texts().is_empty());
    *hook.fail.lock().unwrap() = false;
    // the undelivered alert goes out at the next poll, once
    rig.poll(10_000, &report(&[("ess", Severity::Critical)], 3))
        .await;
    rig.poll(10_000, &report(&[("ess", Severity::Critical)], 4))
        .await;
    assert_eq!(hook.texts(), ["LeviBot fleet DOWN\n- ess: ess broken at 3"]);
    assert_eq!(rig.alerts("sent"), 1);

    // a webhook nobody listens on: failed, counted, the poll goes on
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!(
        "http://{}/services/T0/B0/secrettoken",
        closed.local_addr().unwrap()
    );
    drop(closed);
    let mut rig = Rig::new(config(Some(&dead), &[]), None);
    rig.poll(0, &report(&[("model", Severity::Warning)], 1))
        .await;
    assert_eq!(rig.alerts("failed"), 1);
    assert_eq!(rig.monitor.metrics().status.get(), 1);
}

/// A stream entry as `XRANGE` returns it: id and field/value pairs.
type StreamEntry = (String, Vec<(String, Vec<u8>)>);

#[tokio::test]
async fn every_change_is_published_on_the_health_topic() {
    let prefix = format!("levibot-health-test-publish-{}:", std::process::id());
    let buffer = tempfile::tempdir().unwrap();
    let config = config(
        None,
        &[
            ("bus.redis_url", "redis://127.0.0.1:6379"),
            ("bus.key_prefix", &prefix),
            ("bus.buffer_dir", &buffer.path().display().to_string()),
        ],
    );
    let redis = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let key = Topic::Health.stream_key(&prefix);
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let bus = Bus::open(&config.bus, "health-test", &Registry::new())
        .await
        .unwrap();
    let mut rig = Rig::new(config, Some(bus.clone()));
    rig.poll(0, &report(&[], 1)).await;
    rig.poll(1, &report(&[], 2)).await;
    rig.poll(1, &report(&[("ess", Severity::Critical)], 3))
        .await;
    rig.poll(1, &report(&[("ess", Severity::Critical)], 4))
        .await;
    rig.poll(1, &report(&[], 5)).await;
    bus.close().await;
    let len: u64 = redis::cmd("XLEN")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(len, 3, "one event per change");
    // the last one is the recovery, as a FleetHealth in an envelope
    let entries: Vec<StreamEntry> = redis::cmd("XREVRANGE")
        .arg(&key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let fields = &entries[0].1;
    let payload = fields
        .iter()
        .find_map(|(_, value)| Envelope::decode(value).ok())
        .unwrap_or_else(|| panic!("no envelope in {fields:?}"));
    let health: v1::FleetHealth = payload.message().unwrap();
    assert_eq!(health.status(), v1::FleetStatus::Ok);
    assert_eq!(health.checked_ms, 5);
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
}
