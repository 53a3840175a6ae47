//! Backend service: the REST/WebSocket gateway, one trading engine per symbol, the risk manager and the executor.
//!
//! Today the service serves `grpc.health.v1`, gRPC reflection and `/metrics`; the RPCs of
//! `levibot.v1.BackendService` answer `UNIMPLEMENTED`, naming the work that brings them, until
//! that work lands. Nothing here answers with made-up data.

/// The gRPC API.
pub mod api;

use std::sync::Arc;

use levibot_config::{Config, ServiceName};
use levibot_proto::v1::backend_service_server::BackendServiceServer;
use levibot_server::{CancellationToken, ServeError, ServiceHost, ServiceListeners};

pub use api::BackendApi;

/// This service's name.
pub const SERVICE: ServiceName = ServiceName::Backend;

/// Serves the backend service on `listeners` until `shutdown` is cancelled.
pub async fn serve(
    config: Arc<Config>,
    listeners: ServiceListeners,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let host = ServiceHost::new(SERVICE)?;
    host.serve(
        BackendServiceServer::new(BackendApi::new(config)),
        listeners,
        shutdown,
    )
    .await
}
