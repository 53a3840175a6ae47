//! Health-aggregator service: one view of the fleet's health, and alerts when it changes.
//!
//! [`check_fleet`] runs every check in parallel, each under its own timeout: Redis, the store
//! and the trade-store's migrations, each service's `grpc.health.v1`, the risk policy and the
//! ESS (policy-store), market-data freshness (backend engines), the champion models
//! (ai-engine), every service's disk-buffer backlog and the bus consumer lag. Each check has a
//! [`Severity`]; the [`FleetReport`] adds them up to OK, DEGRADED (a warning failed) or DOWN (a
//! critical check failed), with one reason per failure.
//!
//! The service polls the fleet every `health.poll_interval_ms` ([`Poller`]), exports the
//! outcome as `levibot_fleet_status`, `levibot_fleet_check_ok{check}` and
//! `levibot_fleet_alerts_total{outcome}`, publishes every change of status or reasons on the
//! `health` topic and posts it to `health.webhook_url` (deduplicated, recovery sent once). It
//! answers `GetFleetHealth` with a fresh run, or with the last poll's report when asked
//! `cached`. `levibot sanity-check` runs the same checks from the CLI.

/// Alert decisions and the webhook.
pub mod alert;
/// The gRPC API.
pub mod api;
/// Disk-buffer backlog and bus consumer lag.
pub mod backlog;
/// The checks and their orchestration.
pub mod checks;
mod http;
/// The latest report, the metrics and the poll loop.
pub mod monitor;
/// Check outcomes, severities, fleet status and the report.
pub mod report;
/// Policy, ESS, market-data and model checks.
pub mod trading;

use std::sync::Arc;

use levibot_bus::Bus;
use levibot_config::{Config, ServiceName};
use levibot_proto::v1::health_aggregator_service_server::HealthAggregatorServiceServer;
use levibot_server::{CancellationToken, ServeError, ServiceHost, ServiceListeners};

pub use alert::{Alert, AlertDecision, Alerter, Webhook};
pub use api::HealthAggregatorApi;
pub use checks::{MAX_CHECK_TIMEOUT, check_fleet, check_fleet_with};
pub use monitor::{FleetMetrics, FleetMonitor, Poller};
pub use report::{AlertKey, CheckOutcome, FleetReport, FleetStatus, Severity};

/// This service's name.
pub const SERVICE: ServiceName = ServiceName::HealthAggregator;

/// Serves the health-aggregator on `listeners` until `shutdown` is cancelled, polling the
/// fleet in the background.
pub async fn serve(
    config: Arc<Config>,
    listeners: ServiceListeners,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let host = ServiceHost::new(SERVICE)?;
    let monitor = FleetMonitor::new(Arc::clone(&config), host.registry()).map_err(|err| {
        ServeError::Startup {
            service: SERVICE.as_str(),
            message: err.to_string(),
        }
    })?;
    // Without the bus the aggregator still checks, exports and alerts: it is most needed
    // exactly when Redis is in trouble.
    let bus = match Bus::open(&config.bus, SERVICE.as_str(), host.registry()).await {
        Ok(bus) => Some(bus),
        Err(err) => {
            tracing::warn!(error = %err, "cannot open the bus; health changes are not published");
            None
        }
    };
    let stop = shutdown.child_token();
    let poller = Poller::new(monitor.clone(), &config.health, bus.clone());
    let polling = tokio::spawn(poller.run(stop.clone()));
    let served = host
        .serve(
            HealthAggregatorServiceServer::new(HealthAggregatorApi::with_monitor(monitor)),
            listeners,
            shutdown,
        )
        .await;
    stop.cancel();
    if let Err(err) = polling.await {
        tracing::error!(error = %err, "health poller failed");
    }
    if let Some(bus) = bus {
        bus.close().await;
    }
    served
}
