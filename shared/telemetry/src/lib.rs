//! Telemetry for every LeviBot service: structured logs (pretty or JSON), OpenTelemetry traces
//! exported over OTLP when an endpoint is configured, W3C `traceparent` propagation through gRPC
//! metadata, and Prometheus metrics registries.
//!
//! A service calls [`init`] once at start-up and keeps the returned [`TelemetryHandle`] until it
//! exits; [`TelemetryHandle::shutdown`] flushes the spans still buffered.

/// Subscriber set-up: log formatting, filtering and the OpenTelemetry layer.
pub mod init;
/// Prometheus registries and text encoding.
pub mod metrics;
/// W3C trace-context extraction and injection, and the gRPC client layer that injects it.
pub mod propagation;

pub use init::{LogFormat, TelemetryError, TelemetryHandle, TelemetrySettings, init};
pub use propagation::{
    InjectTraceContext, InjectTraceContextLayer, context_from_traceparent, extract_context,
    inject_context, trace_id_of, traceparent_of,
};
