use std::{
    collections::HashSet,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use http::{Request, Response};
use levibot_telemetry::{
    extract_context,
    metrics::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry},
};
use tower::{Layer, Service};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Method label used for paths outside the contract, so a client sending random paths cannot
/// grow the metrics without bound.
const UNKNOWN_METHOD: &str = "unknown";

/// gRPC methods served next to ours by every service.
const STANDARD_METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// Call metrics of one service, registered in its registry.
#[derive(Debug, Clone)]
pub struct GrpcMetrics {
    service: &'static str,
    requests: IntCounterVec,
    duration: HistogramVec,
    known_methods: Arc<HashSet<String>>,
}

impl GrpcMetrics {
    /// Creates and registers `levibot_grpc_requests_total{service,method,code}` and
    /// `levibot_grpc_request_duration_seconds{service,method}` in `registry`.
    pub fn register(
        service: &'static str,
        registry: &Registry,
    ) -> Result<Self, levibot_telemetry::metrics::PrometheusError> {
        let requests = IntCounterVec::new(
            Opts::new(
                "grpc_requests_total",
                "grpc calls served, by method and status code",
            ),
            &["service", "method", "code"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "grpc_request_duration_seconds",
                "time from a grpc call's arrival to its response headers",
            )
            .buckets(vec![
                0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05,
                0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["service", "method"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        let known_methods = levibot_proto::grpc_method_paths()
            .into_iter()
            .chain(STANDARD_METHODS.iter().map(|m| (*m).to_owned()))
            .collect();
        Ok(Self {
            service,
            requests,
            duration,
            known_methods: Arc::new(known_methods),
        })
    }

    fn method_label<'a>(&self, path: &'a str) -> &'a str {
        if self.known_methods.contains(path) {
            path
        } else {
            UNKNOWN_METHOD
        }
    }

    fn observe(&self, method: &str, code: &str, seconds: f64) {
        self.requests
            .with_label_values(&[self.service, method, code])
            .inc();
        self.duration
            .with_label_values(&[self.service, method])
            .observe(seconds);
    }
}

/// Tower layer for the gRPC server: every call runs in a `grpc.server` span whose parent is
/// the caller's W3C trace context, and is counted and timed in [`GrpcMetrics`].
#[derive(Debug, Clone)]
pub struct GrpcServerLayer {
    metrics: GrpcMetrics,
}

impl GrpcServerLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: GrpcMetrics) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for GrpcServerLayer {
    type Service = GrpcServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcServerService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`GrpcServerLayer`] produces.
#[derive(Debug, Clone)]
pub struct GrpcServerService<S> {
    inner: S,
    metrics: GrpcMetrics,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcServerService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let method = self.metrics.method_label(request.uri().path()).to_owned();
        let (rpc_service, rpc_method) = method
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or((UNKNOWN_METHOD, ""));
        let span = tracing::info_span!(
            "grpc.server",
            otel.name = %method.trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %rpc_service,
            rpc.method = %rpc_method,
            levibot.service = self.metrics.service,
            rpc.grpc.status_code = tracing::field::Empty,
        );
        // A missing or malformed traceparent leaves the span a root: nothing to report.
        let _ = span.set_parent(extract_context(request.headers()));
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let response = self.inner.call(request);
        let record_span = span.clone();
        Box::pin(
            async move {
                let result = response.await;
                // Errors come back "trailers-only", with grpc-status in the headers; a success
                // sends its status in the trailers, after the body.
                let code = match &result {
                    Ok(resp) => resp
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("0")
                        .to_owned(),
                    Err(_) => "2".to_owned(),
                };
                record_span.record("rpc.grpc.status_code", code.as_str());
                metrics.observe(&method, &code, started.elapsed().as_secs_f64());
                result
            }
            .instrument(span),
        )
    }
}
