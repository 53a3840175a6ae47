use std::{convert::Infallible, time::Duration};

use levibot_config::ServiceName;
use levibot_telemetry::metrics::{IntGaugeVec, Opts, Registry, service_registry};
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::{body::Body, server::NamedService, service::Routes, transport::Server};
use tonic_health::{
    ServingStatus,
    server::{HealthReporter, HealthService},
};

use crate::{
    ServeError, ServiceListeners,
    grpc_layer::{GrpcMetrics, GrpcServerLayer},
    metrics_http::serve_metrics,
};

/// How long in-flight calls and open streams get to finish once shutdown starts. Past it the
/// remaining connections are dropped, so a service always stops within 5 s.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// One service's server: its metrics registry, its health reporter, and [`serve`](Self::serve)
/// which runs gRPC (the service, `grpc.health.v1`, reflection) and `/metrics` until shutdown.
#[derive(Debug)]
pub struct ServiceHost {
    name: ServiceName,
    registry: Registry,
    grpc_metrics: GrpcMetrics,
    health: HealthReporter,
}

impl ServiceHost {
    /// A host for `name` with a fresh registry holding the gRPC call metrics and build info.
    pub fn new(name: ServiceName) -> Result<Self, ServeError> {
        let startup = |err: levibot_telemetry::metrics::PrometheusError| ServeError::Startup {
            service: name.as_str(),
            message: format!("cannot register metrics: {err}"),
        };
        let registry = service_registry();
        let grpc_metrics = GrpcMetrics::register(name.as_str(), &registry).map_err(startup)?;
        let build_info = IntGaugeVec::new(
            Opts::new("build_info", "always 1; labels say which build serves"),
            &["service", "version"],
        )
        .map_err(startup)?;
        build_info
            .with_label_values(&[name.as_str(), env!("CARGO_PKG_VERSION")])
            .set(1);
        registry.register(Box::new(build_info)).map_err(startup)?;
        Ok(Self {
            name,
            registry,
            grpc_metrics,
            health: HealthReporter::new(),
        })
    }

    /// The service's Prometheus registry, for its own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The health reporter, for a service that can become unhealthy while running.
    pub fn health(&self) -> &HealthReporter {
        &self.health
    }

    /// Serves `service` with health and reflection on `listeners.grpc` and `/metrics` on
    /// `listeners.metrics` until `shutdown` is cancelled or either server fails.
    ///
    /// On shutdown the health status turns to `NOT_SERVING` first, then in-flight calls get
    /// [`SHUTDOWN_GRACE`] to finish. Nothing is left running when this returns.
    pub async fn serve<S>(
        self,
        service: S,
        listeners: ServiceListeners,
        shutdown: CancellationToken,
    ) -> Result<(), ServeError>
    where
        S: tower::Service<http::Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        let name = self.name.as_str();
        self.health
            .set_service_status(S::NAME, ServingStatus::Serving)
            .await;
        self.health
            .set_service_status("", ServingStatus::Serving)
            .await;

        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(levibot_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let startup = |err: tonic_reflection::server::Error| ServeError::Startup {
            service: name,
            message: format!("cannot build reflection: {err}"),
        };
        let reflection_v1 = reflection().build_v1().map_err(startup)?;
        let reflection_v1alpha = reflection().build_v1alpha().map_err(startup)?;
        let routes = Routes::new(service)
            .add_service(tonic_health::pb::health_server::HealthServer::new(
                HealthService::from_health_reporter(self.health.clone()),
            ))
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);

        // `stop` also fires when one of the two servers fails, so the other one stops too.
        let stop = shutdown.child_token();
        let health = self.health.clone();
        let grpc_stop = stop.clone();
        let grpc = async {
            let result = Server::builder()
                .layer(GrpcServerLayer::new(self.grpc_metrics))
                .add_routes(routes)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listeners.grpc), async move {
                    grpc_stop.cancelled().await;
                    health
                        .set_service_status(S::NAME, ServingStatus::NotServing)
                        .await;
                    health
                        .set_service_status("", ServingStatus::NotServing)
                        .await;
                })
                .await;
            stop.cancel();
            result.map_err(|source| ServeError::Grpc {
                service: name,
                source,
            })
        };
        let metrics = async {
            let result = serve_metrics(listeners.metrics, self.registry, stop.clone()).await;
            stop.cancel();
            result.map_err(|source| ServeError::Metrics {
                service: name,
                source,
            })
        };
        let both = async {
            let (grpc, metrics) = tokio::join!(grpc, metrics);
            grpc.and(metrics)
        };
        tokio::select! {
            result = both => {
                tracing::info!(service = name, "stopped");
                result
            }
            () = async { stop.cancelled().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
                tracing::warn!(
                    service = name,
                    grace_ms = SHUTDOWN_GRACE.as_millis() as u64,
                    "calls still open after the shutdown grace; dropping them"
                );
                Ok(())
            }
        }
    }
}
