//! A trace id sent by a client appears in the server's span: the W3C `traceparent` in gRPC
//! metadata becomes the parent of the service's `grpc.server` span, whether written by hand or
//! injected by the client layer from the caller's own span.
//!
//! This binary installs a global subscriber with an in-memory span exporter, so it holds only
//! this test.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

use levibot_config::ServiceName;
use levibot_tests::Sandbox;
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

fn server_spans(exporter: &InMemorySpanExporter, provider: &SdkTracerProvider) -> Vec<SpanData> {
    provider.force_flush().unwrap();
    exporter
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|s| s.name == "grpc.health.v1.Health/Check")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trace_id_appears_in_the_server_span() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let sandbox = Sandbox::start().await;

    // 1. a traceparent written by hand, as any W3C-compliant client would send it
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let parent_id = "b7ad6b7169203331";
    let mut client = HealthClient::new(sandbox.channel(ServiceName::Portfolio).await);
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{parent_id}-01").parse().unwrap(),
    );
    client.check(request).await.unwrap();
    let spans = server_spans(&exporter, &provider);
    let span = spans
        .iter()
        .find(|s| s.span_context.trace_id() == TraceId::from_hex(trace_id).unwrap())
        .unwrap_or_else(|| panic!("no server span in trace {trace_id}: {spans:#?}"));
    assert_eq!(span.parent_span_id, SpanId::from_hex(parent_id).unwrap());
    assert!(
        span.attributes
            .iter()
            .any(|kv| kv.key.as_str() == "levibot.service" && kv.value.as_str() == "portfolio")
    );

    // 2. the caller's own span, injected by the client layer
    exporter.reset();
    let caller = tracing::info_span!("caller");
    let caller_trace = levibot_telemetry::trace_id_of(&caller).unwrap();
    let mut client = HealthClient::new(sandbox.channel(ServiceName::Backend).await);
    client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .instrument(caller.clone())
        .await
        .unwrap();
    drop(caller);
    let spans = server_spans(&exporter, &provider);
    assert!(
        spans
            .iter()
            .any(|s| s.span_context.trace_id().to_string() == caller_trace),
        "no server span in the caller's trace {caller_trace}: {spans:#?}"
    );

    // 3. no traceparent: the server span starts its own trace
    exporter.reset();
    let mut client = HealthClient::new(sandbox.channel(ServiceName::AiEngine).await);
    client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    let spans = server_spans(&exporter, &provider);
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0].parent_span_id, SpanId::INVALID);

    sandbox.shutdown().await.unwrap();
}
