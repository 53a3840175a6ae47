//! Policy-store service: the risk policy every service trades under, and the emergency stop
//! system (ESS).
//!
//! Today it serves the policy of the configured launch profile (`GetPolicy`, and `WatchPolicy`
//! which sends it and then stays open until shutdown, so watchers see the end of the stream
//! rather than silence). Versioned storage (`PutPolicy`) and the ESS state machine answer
//! `UNIMPLEMENTED` until the policy-store work lands: no ESS state is reported that is not
//! kept.

/// The gRPC API.
pub mod api;
/// The policy document built from the configuration.
pub mod policy;

use std::sync::Arc;

use levibot_config::{Config, ServiceName};
use levibot_proto::v1::policy_store_service_server::PolicyStoreServiceServer;
use levibot_server::{CancellationToken, ServeError, ServiceHost, ServiceListeners};

pub use api::PolicyStoreApi;

/// This service's name.
pub const SERVICE: ServiceName = ServiceName::PolicyStore;

/// Serves the policy-store on `listeners` until `shutdown` is cancelled.
pub async fn serve(
    config: Arc<Config>,
    listeners: ServiceListeners,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let host = ServiceHost::new(SERVICE)?;
    let api = PolicyStoreApi::new(&config, shutdown.clone());
    host.serve(PolicyStoreServiceServer::new(api), listeners, shutdown)
        .await
}
