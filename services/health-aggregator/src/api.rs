use std::{sync::Arc, time::Duration};

use levibot_config::Config;
use levibot_core::{Clock, LiveClock};
use levibot_proto::v1::{self, health_aggregator_service_server::HealthAggregatorService};
use levibot_telemetry::metrics::{IntGaugeVec, Opts, PrometheusError, Registry};
use tonic::{Request, Response, Status};

use crate::checks::check_fleet;

/// Per-check timeout when the caller does not give one.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest per-check timeout a caller may ask for.
pub const MAX_CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// The `levibot.v1.HealthAggregatorService` implementation.
#[derive(Debug, Clone)]
pub struct HealthAggregatorApi {
    config: Arc<Config>,
    check_ok: IntGaugeVec,
}

impl HealthAggregatorApi {
    /// Checks the fleet of `config`; registers `fleet_check_ok{check}` in `registry`.
    pub fn new(config: Arc<Config>, registry: &Registry) -> Result<Self, PrometheusError> {
        let check_ok = IntGaugeVec::new(
            Opts::new(
                "fleet_check_ok",
                "1 when the check passed at the last fleet health run",
            ),
            &["check"],
        )?;
        registry.register(Box::new(check_ok.clone()))?;
        Ok(Self { config, check_ok })
    }
}

#[tonic::async_trait]
impl HealthAggregatorService for HealthAggregatorApi {
    async fn get_fleet_health(
        &self,
        request: Request<v1::GetFleetHealthRequest>,
    ) -> Result<Response<v1::FleetHealth>, Status> {
        let timeout = match request.into_inner().timeout_ms {
            0 => DEFAULT_CHECK_TIMEOUT,
            ms => Duration::from_millis(u64::from(ms)).min(MAX_CHECK_TIMEOUT),
        };
        let report = check_fleet(&self.config, timeout).await;
        for check in &report.checks {
            self.check_ok
                .with_label_values(&[check.name.as_str()])
                .set(i64::from(check.ok));
        }
        Ok(Response::new(v1::FleetHealth {
            ok: report.ok,
            checks: report
                .checks
                .into_iter()
                .map(|c| v1::HealthCheck {
                    name: c.name,
                    ok: c.ok,
                    detail: c.detail,
                    latency_ms: u32::try_from(c.latency_ms).unwrap_or(u32::MAX),
                })
                .collect(),
            checked_ms: LiveClock::new().now().as_i64(),
        }))
    }
}
