use std::task::{Context as TaskContext, Poll};

use http::{HeaderMap, HeaderName, HeaderValue, Request};
use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::TraceContextExt,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tower::{Layer, Service};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Reads the W3C trace context (`traceparent`, `tracestate`) from request headers or gRPC
/// metadata. Returns an empty context when there is none or it is malformed.
pub fn extract_context(headers: &HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// The trace context of a W3C `traceparent` value (from a bus envelope); empty when it is
/// missing or malformed.
pub fn context_from_traceparent(traceparent: &str) -> Context {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(traceparent) {
        headers.insert("traceparent", value);
    }
    extract_context(&headers)
}

/// Writes the trace context of `span` into `headers` as W3C `traceparent`/`tracestate`.
/// Writes nothing when the span has no valid OpenTelemetry context.
pub fn inject_context(span: &tracing::Span, headers: &mut HeaderMap) {
    let cx = span.context();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
    }
}

/// The W3C `traceparent` value for a child of `span` (for bus envelopes), or `None` when the
/// span has no valid OpenTelemetry context.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let mut headers = HeaderMap::new();
    inject_context(span, &mut headers);
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The 32-hex-digit trace id of `span`, or `None` when it has no valid OpenTelemetry context
/// (for logs and tests).
pub fn trace_id_of(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let span_ref = cx.span();
    let sc = span_ref.span_context();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Tower layer for gRPC clients: every outgoing request carries the current span's trace
/// context. Wrap a `tonic::transport::Channel` with it before building a generated client.
#[derive(Debug, Clone, Copy, Default)]
pub struct InjectTraceContextLayer;

impl<S> Layer<S> for InjectTraceContextLayer {
    type Service = InjectTraceContext<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InjectTraceContext { inner }
    }
}

/// The service [`InjectTraceContextLayer`] produces.
#[derive(Debug, Clone)]
pub struct InjectTraceContext<S> {
    inner: S,
}

impl<S> InjectTraceContext<S> {
    /// Wraps `inner` directly.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S, B> Service<Request<B>> for InjectTraceContext<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        inject_context(&tracing::Span::current(), request.headers_mut());
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn extract_reads_a_w3c_traceparent() {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
        let cx = extract_context(&headers);
        let span = cx.span();
        let sc = span.span_context();
        assert!(sc.is_remote());
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
    }

    #[test]
    fn malformed_traceparent_gives_an_empty_context() {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static("00-zz-yy-01"));
        assert!(!extract_context(&headers).span().span_context().is_valid());
    }

    #[test]
    fn a_child_span_continues_the_extracted_trace_and_injects_it_again() {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let mut incoming = HeaderMap::new();
            incoming.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
            let span = tracing::info_span!("server");
            span.set_parent(extract_context(&incoming)).unwrap();
            assert_eq!(
                trace_id_of(&span).as_deref(),
                Some("4bf92f3577b34da6a3ce929d0e0e4736")
            );

            let mut outgoing = HeaderMap::new();
            inject_context(&span, &mut outgoing);
            let sent = outgoing.get("traceparent").unwrap().to_str().unwrap();
            assert!(
                sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
                "{sent}"
            );
            // a new span id: the outgoing call is a child, not the caller's parent
            assert!(!sent.contains("00f067aa0ba902b7"), "{sent}");
        });
    }

    #[test]
    fn a_traceparent_string_continues_its_trace() {
        let cx = context_from_traceparent(TRACEPARENT);
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(
            !context_from_traceparent("garbage")
                .span()
                .span_context()
                .is_valid()
        );
        assert!(
            !context_from_traceparent("")
                .span()
                .span_context()
                .is_valid()
        );
    }

    #[test]
    fn nothing_is_injected_without_a_trace() {
        let mut headers = HeaderMap::new();
        inject_context(&tracing::Span::none(), &mut headers);
        assert!(headers.is_empty());
    }
}
