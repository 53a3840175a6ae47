//! Health-aggregator service: one view of the fleet's health.
//!
//! [`checks::check_fleet`] runs every check in parallel, each under its own timeout: the bus
//! (Redis, when configured), the store (PostgreSQL or SQLite) and each service's
//! `grpc.health.v1`. The service answers `GetFleetHealth` with it and exports the outcome as
//! `levibot_fleet_check_ok{check}`; `levibot sanity-check` runs the same checks from the CLI.

/// The gRPC API.
pub mod api;
/// The checks.
pub mod checks;

use std::sync::Arc;

use levibot_config::{Config, ServiceName};
use levibot_proto::v1::health_aggregator_service_server::HealthAggregatorServiceServer;
use levibot_server::{CancellationToken, ServeError, ServiceHost, ServiceListeners};

pub use api::HealthAggregatorApi;
pub use checks::{CheckOutcome, FleetReport, check_fleet};

/// This service's name.
pub const SERVICE: ServiceName = ServiceName::HealthAggregator;

/// Serves the health-aggregator on `listeners` until `shutdown` is cancelled.
pub async fn serve(
    config: Arc<Config>,
    listeners: ServiceListeners,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let host = ServiceHost::new(SERVICE)?;
    let api =
        HealthAggregatorApi::new(config, host.registry()).map_err(|err| ServeError::Startup {
            service: SERVICE.as_str(),
            message: err.to_string(),
        })?;
    host.serve(HealthAggregatorServiceServer::new(api), listeners, shutdown)
        .await
}
