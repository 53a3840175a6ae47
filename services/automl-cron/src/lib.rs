//! AutoML service: nightly and on-demand retraining with honest out-of-sample evaluation, the model registry, promotion and rollback.
//!
//! Today the service serves `grpc.health.v1`, gRPC reflection and `/metrics`; the RPCs of
//! `levibot.v1.AutoMlService` answer `UNIMPLEMENTED`, naming the work that brings them, until
//! that work lands. Nothing here answers with made-up data.

/// The gRPC API.
pub mod api;

use std::sync::Arc;

use levibot_config::{Config, ServiceName};
use levibot_proto::v1::auto_ml_service_server::AutoMlServiceServer;
use levibot_server::{CancellationToken, ServeError, ServiceHost, ServiceListeners};

pub use api::AutoMlApi;

/// This service's name.
pub const SERVICE: ServiceName = ServiceName::AutomlCron;

/// Serves the automl-cron service on `listeners` until `shutdown` is cancelled.
pub async fn serve(
    config: Arc<Config>,
    listeners: ServiceListeners,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let host = ServiceHost::new(SERVICE)?;
    host.serve(
        AutoMlServiceServer::new(AutoMlApi::new(config)),
        listeners,
        shutdown,
    )
    .await
}
