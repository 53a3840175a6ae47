//! Portfolio service: positions, exact realized and unrealized PnL, fees, equity and exposure, kept from fills.
//!
//! Today the service serves `grpc.health.v1`, gRPC reflection and `/metrics`; the RPCs of
//! `levibot.v1.PortfolioService` answer `UNIMPLEMENTED`, naming the work that brings them, until
//! that work lands. Nothing here answers with made-up data.

/// The gRPC API.
pub mod api;

use std::sync::Arc;

use levibot_config::{Config, ServiceName};
use levibot_proto::v1::portfolio_service_server::PortfolioServiceServer;
use levibot_server::{CancellationToken, ServeError, ServiceHost, ServiceListeners};

pub use api::PortfolioApi;

/// This service's name.
pub const SERVICE: ServiceName = ServiceName::Portfolio;

/// Serves the portfolio service on `listeners` until `shutdown` is cancelled.
pub async fn serve(
    config: Arc<Config>,
    listeners: ServiceListeners,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let host = ServiceHost::new(SERVICE)?;
    host.serve(
        PortfolioServiceServer::new(PortfolioApi::new(config)),
        listeners,
        shutdown,
    )
    .await
}
