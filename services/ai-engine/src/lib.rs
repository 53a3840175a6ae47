//! AI engine service: serves predictions from LightGBM, the ONNX sequence model and sentiment, combined by an ensemble, with a data-quality verdict.
//!
//! Today the service serves `grpc.health.v1`, gRPC reflection and `/metrics`; the RPCs of
//! `levibot.v1.AiEngineService` answer `UNIMPLEMENTED`, naming the work that brings them, until
//! that work lands. Nothing here answers with made-up data.

/// The gRPC API.
pub mod api;

use std::sync::Arc;

use levibot_config::{Config, ServiceName};
use levibot_proto::v1::ai_engine_service_server::AiEngineServiceServer;
use levibot_server::{CancellationToken, ServeError, ServiceHost, ServiceListeners};

pub use api::AiEngineApi;

/// This service's name.
pub const SERVICE: ServiceName = ServiceName::AiEngine;

/// Serves the ai-engine service on `listeners` until `shutdown` is cancelled.
pub async fn serve(
    config: Arc<Config>,
    listeners: ServiceListeners,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let host = ServiceHost::new(SERVICE)?;
    host.serve(
        AiEngineServiceServer::new(AiEngineApi::new(config)),
        listeners,
        shutdown,
    )
    .await
}
