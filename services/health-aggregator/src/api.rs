use std::{sync::Arc, time::Duration};

use levibot_config::Config;
use levibot_proto::v1::{self, health_aggregator_service_server::HealthAggregatorService};
use levibot_telemetry::metrics::{PrometheusError, Registry};
use tonic::{Request, Response, Status};

use crate::{checks::MAX_CHECK_TIMEOUT, monitor::FleetMonitor};

/// Per-check timeout when neither the caller nor `health.check_timeout_ms` gives one.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The `levibot.v1.HealthAggregatorService` implementation.
#[derive(Debug, Clone)]
pub struct HealthAggregatorApi {
    monitor: FleetMonitor,
}

impl HealthAggregatorApi {
    /// Checks the fleet of `config`; registers the fleet metrics (`fleet_check_ok{check}`,
    /// `fleet_status`, `fleet_alerts_total{outcome}`, ...) in `registry`.
    pub fn new(config: Arc<Config>, registry: &Registry) -> Result<Self, PrometheusError> {
        Ok(Self::with_monitor(FleetMonitor::new(config, registry)?))
    }

    /// Answers from `monitor`, which a [`Poller`](crate::Poller) may share.
    pub fn with_monitor(monitor: FleetMonitor) -> Self {
        Self { monitor }
    }

    /// The monitor behind the API.
    pub fn monitor(&self) -> &FleetMonitor {
        &self.monitor
    }

    fn default_timeout(&self) -> Duration {
        match self.monitor.config().health.check_timeout_ms {
            0 => DEFAULT_CHECK_TIMEOUT,
            ms => Duration::from_millis(ms),
        }
    }
}

#[tonic::async_trait]
impl HealthAggregatorService for HealthAggregatorApi {
    async fn get_fleet_health(
        &self,
        request: Request<v1::GetFleetHealthRequest>,
    ) -> Result<Response<v1::FleetHealth>, Status> {
        let request = request.into_inner();
        if request.cached
            && let Some(report) = self.monitor.latest()
        {
            return Ok(Response::new(report.to_proto()));
        }
        let timeout = match request.timeout_ms {
            0 => self.default_timeout(),
            ms => Duration::from_millis(u64::from(ms)),
        }
        .min(MAX_CHECK_TIMEOUT);
        let report = self.monitor.check_now(timeout).await;
        Ok(Response::new(report.to_proto()))
    }
}
