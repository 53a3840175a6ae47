//! The aggregator's running state: the latest report and its metrics ([`FleetMonitor`]), and
//! the poll loop that publishes status changes on the `health` topic and alerts the webhook
//! ([`Poller`]).

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use levibot_bus::{Bus, Envelope, EventBus, Topic};
use levibot_config::{Config, HealthConfig};
use levibot_core::{Clock, LiveClock, TimestampMs};
use levibot_server::CancellationToken;
use levibot_telemetry::metrics::{
    IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, PrometheusError, Registry,
};

use crate::{
    alert::{Alert, AlertDecision, Alerter, Webhook},
    checks::check_fleet_with,
    report::{AlertKey, FleetReport},
};

/// Source name of the envelopes this service publishes.
const SOURCE: &str = "health-aggregator";

/// Longest wait for the bus to take a health report: the topic applies backpressure when the
/// disk buffer is full, and a poll must never hang on it.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

/// The aggregator's metrics (names get the registry's `levibot_` prefix).
#[derive(Debug, Clone)]
pub struct FleetMetrics {
    /// `fleet_check_ok{check}`: 1 when the check passed at the last run.
    pub check_ok: IntGaugeVec,
    /// `fleet_status`: 0 OK, 1 DEGRADED, 2 DOWN at the last run.
    pub status: IntGauge,
    /// `fleet_alerts_total{outcome}`: alerts `sent`, `failed` (delivery failed) and
    /// `suppressed` (same alert within the dedup window).
    pub alerts: IntCounterVec,
    /// `fleet_health_publish_failures_total`: status changes the bus did not take.
    pub publish_failures: IntCounter,
}

impl FleetMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, PrometheusError> {
        let metrics = Self {
            check_ok: IntGaugeVec::new(
                Opts::new(
                    "fleet_check_ok",
                    "1 when the check passed at the last fleet health run",
                ),
                &["check"],
            )?,
            status: IntGauge::new(
                "fleet_status",
                "fleet status at the last run: 0 ok, 1 degraded, 2 down",
            )?,
            alerts: IntCounterVec::new(
                Opts::new(
                    "fleet_alerts_total",
                    "health alerts by outcome: sent, failed, suppressed",
                ),
                &["outcome"],
            )?,
            publish_failures: IntCounter::new(
                "fleet_health_publish_failures_total",
                "fleet status changes the bus did not take",
            )?,
        };
        registry.register(Box::new(metrics.check_ok.clone()))?;
        registry.register(Box::new(metrics.status.clone()))?;
        registry.register(Box::new(metrics.alerts.clone()))?;
        registry.register(Box::new(metrics.publish_failures.clone()))?;
        for outcome in ["sent", "failed", "suppressed"] {
            metrics.alerts.with_label_values(&[outcome]);
        }
        Ok(metrics)
    }
}

/// The checks of one fleet, their latest report and its metrics. Cheap to clone: clones
/// share the report.
#[derive(Clone)]
pub struct FleetMonitor {
    config: Arc<Config>,
    metrics: FleetMetrics,
    clock: Arc<dyn Clock>,
    latest: Arc<RwLock<Option<FleetReport>>>,
}

impl std::fmt::Debug for FleetMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetMonitor")
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl FleetMonitor {
    /// A monitor of the fleet of `config`, its metrics registered in `registry`.
    pub fn new(config: Arc<Config>, registry: &Registry) -> Result<Self, PrometheusError> {
        Ok(Self::with_clock(
            config,
            FleetMetrics::register(registry)?,
            Arc::new(LiveClock::new()),
        ))
    }

    /// A monitor with its metrics and clock given.
    pub fn with_clock(config: Arc<Config>, metrics: FleetMetrics, clock: Arc<dyn Clock>) -> Self {
        Self {
            config,
            metrics,
            clock,
            latest: Arc::new(RwLock::new(None)),
        }
    }

    /// The configuration of the fleet.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The metrics.
    pub fn metrics(&self) -> &FleetMetrics {
        &self.metrics
    }

    /// The clock.
    pub fn now(&self) -> TimestampMs {
        self.clock.now()
    }

    /// Runs every check now (each under `timeout`), records the report and returns it.
    pub async fn check_now(&self, timeout: Duration) -> FleetReport {
        let report = check_fleet_with(&self.config, timeout, self.clock.as_ref()).await;
        self.record(&report);
        report
    }

    /// Makes `report` the latest and exports it as metrics.
    pub fn record(&self, report: &FleetReport) {
        for check in &report.checks {
            self.metrics
                .check_ok
                .with_label_values(&[check.name.as_str()])
                .set(i64::from(check.ok));
        }
        self.metrics.status.set(report.status.gauge_value());
        let mut latest = self.latest.write().unwrap_or_else(|p| p.into_inner());
        *latest = Some(report.clone());
    }

    /// The latest report (of a poll or of an on-demand check), if any.
    pub fn latest(&self) -> Option<FleetReport> {
        self.latest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The poll loop: every `health.poll_interval_ms` it checks the fleet, records the report,
/// publishes it on the `health` topic when the status or the failing checks changed, and
/// alerts the webhook as the [`Alerter`] decides.
#[derive(Debug)]
pub struct Poller {
    monitor: FleetMonitor,
    alerter: Alerter,
    webhook: Option<Webhook>,
    bus: Option<Bus>,
    published: Option<AlertKey>,
    poll_interval: Duration,
    check_timeout: Duration,
}

impl Poller {
    /// A poller of `monitor`'s fleet with the settings of `health`, publishing on `bus`.
    /// Without `health.webhook_url`, changes are logged and published but not alerted.
    pub fn new(monitor: FleetMonitor, health: &HealthConfig, bus: Option<Bus>) -> Self {
        let check_timeout = Duration::from_millis(health.check_timeout_ms.max(1));
        let webhook = health
            .webhook_url
            .as_ref()
            .filter(|url| !url.is_empty())
            .and_then(
                |url| match Webhook::new(url.clone(), check_timeout.max(Duration::from_secs(5))) {
                    Ok(webhook) => Some(webhook),
                    Err(err) => {
                        tracing::error!(error = %err, "cannot build the webhook client; alerts are off");
                        None
                    }
                },
            );
        Self {
            monitor,
            alerter: Alerter::new(health.alert_dedup_ms),
            webhook,
            bus,
            published: None,
            poll_interval: Duration::from_millis(health.poll_interval_ms),
            check_timeout,
        }
    }

    /// Polls until `shutdown` is cancelled. The first poll comes one interval after the start,
    /// so services starting alongside get the time to come up. An interval of 0 disables
    /// polling.
    pub async fn run(mut self, shutdown: CancellationToken) {
        if self.poll_interval.is_zero() {
            tracing::info!("health polling disabled (health.poll_interval_ms is 0)");
            return;
        }
        let start = tokio::time::Instant::now() + self.poll_interval;
        let mut ticks = tokio::time::interval_at(start, self.poll_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let poll = async {
                let report = self.monitor.check_now(self.check_timeout).await;
                self.observe(&report).await;
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = poll => {}
            }
        }
    }

    /// Handles one report: publish on a change, then alert as the [`Alerter`] decides.
    pub async fn observe(&mut self, report: &FleetReport) {
        let key = report.alert_key();
        if self.published.as_ref() != Some(&key) {
            tracing::info!(
                status = %report.status,
                reasons = ?report.reasons,
                "fleet health changed"
            );
            if self.publish(report).await {
                self.published = Some(key);
            }
        }
        let now_ms = self.monitor.now().as_i64();
        match self.alerter.observe(report, now_ms) {
            AlertDecision::Unchanged | AlertDecision::Quiet => {}
            AlertDecision::Suppressed(key) => {
                tracing::info!(status = %key.status, failing = ?key.failing, "alert suppressed: sent within the dedup window");
                self.monitor
                    .metrics
                    .alerts
                    .with_label_values(&["suppressed"])
                    .inc();
            }
            AlertDecision::Send(alert) => self.send(&alert, now_ms).await,
        }
    }

    async fn send(&mut self, alert: &Alert, now_ms: i64) {
        let Some(webhook) = &self.webhook else {
            // no webhook configured: the change is logged and published, nothing to send
            return;
        };
        match webhook.send(alert).await {
            Ok(()) => {
                self.alerter.delivered(alert, now_ms);
                self.monitor
                    .metrics
                    .alerts
                    .with_label_values(&["sent"])
                    .inc();
                tracing::info!(status = %alert.key.status, "alert sent");
            }
            Err(err) => {
                self.alerter.failed(alert);
                self.monitor
                    .metrics
                    .alerts
                    .with_label_values(&["failed"])
                    .inc();
                tracing::warn!(status = %alert.key.status, error = %err, "alert not delivered; retrying at the next poll");
            }
        }
    }

    /// Publishes `report` on the `health` topic; false when the bus did not take it.
    async fn publish(&self, report: &FleetReport) -> bool {
        let Some(bus) = &self.bus else {
            return true;
        };
        let envelope = Envelope::new(
            &report.to_proto(),
            SOURCE,
            TimestampMs::new(report.checked_ms),
        );
        let published =
            tokio::time::timeout(PUBLISH_TIMEOUT, bus.publish(Topic::Health, &envelope)).await;
        let error = match published {
            Ok(Ok(())) => return true,
            Ok(Err(err)) => err.to_string(),
            Err(_) => format!("bus busy for {} ms", PUBLISH_TIMEOUT.as_millis()),
        };
        self.monitor.metrics.publish_failures.inc();
        tracing::warn!(error = %error, "cannot publish the fleet health; retrying at the next poll");
        false
    }
}
