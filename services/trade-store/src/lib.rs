//! Trade-store service: the one owner of the database (bars, orders, fills, signals, equity, model registry, audit log).
//!
//! Today the service serves `grpc.health.v1`, gRPC reflection and `/metrics`; the RPCs of
//! `levibot.v1.TradeStoreService` answer `UNIMPLEMENTED`, naming the work that brings them, until
//! that work lands. Nothing here answers with made-up data.

/// The gRPC API.
pub mod api;

use std::sync::Arc;

use levibot_config::{Config, ServiceName};
use levibot_proto::v1::trade_store_service_server::TradeStoreServiceServer;
use levibot_server::{CancellationToken, ServeError, ServiceHost, ServiceListeners};

pub use api::TradeStoreApi;

/// This service's name.
pub const SERVICE: ServiceName = ServiceName::TradeStore;

/// Serves the trade-store service on `listeners` until `shutdown` is cancelled.
pub async fn serve(
    config: Arc<Config>,
    listeners: ServiceListeners,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let host = ServiceHost::new(SERVICE)?;
    host.serve(
        TradeStoreServiceServer::new(TradeStoreApi::new(config)),
        listeners,
        shutdown,
    )
    .await
}
