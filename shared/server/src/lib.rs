//! What every LeviBot service shares to serve: bound listeners, a [`ServiceHost`] that serves a
//! gRPC service together with `grpc.health.v1`, gRPC reflection and a Prometheus `/metrics`
//! endpoint, a tower layer that gives every call a trace span (continuing the caller's W3C
//! trace context) and request metrics, a graceful shutdown bounded in time, and the glue a
//! service's `main.rs` needs (arguments, config, telemetry, OS signals).

/// Errors of serving.
pub mod error;
/// The gRPC server layer: per-call spans that continue the caller's trace, and call metrics.
pub mod grpc_layer;
/// [`ServiceHost`]: one service's gRPC server and metrics endpoint, run until shutdown.
pub mod host;
/// Bound TCP listeners of a service.
pub mod listeners;
/// The `main` of a service binary: arguments, config, telemetry, signals.
pub mod main_support;
/// The `/metrics` HTTP endpoint.
pub mod metrics_http;
/// Channels to the other services, and this instance's bus consumer name.
pub mod peers;
/// OS signal handling for binaries: first signal shuts down, a second one forces exit.
pub mod signals;
/// gRPC status helpers shared by the services.
pub mod status;

pub use error::ServeError;
pub use host::{SHUTDOWN_GRACE, ServiceHost};
pub use listeners::ServiceListeners;
pub use main_support::{CONFIG_EXIT_CODE, ServiceArgs, run_main, serve_main, service_main};
pub use tokio_util::sync::CancellationToken;
