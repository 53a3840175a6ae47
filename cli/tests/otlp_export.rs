//! OTLP export, end to end: `levibot serve portfolio` with `OTEL_EXPORTER_OTLP_ENDPOINT` set
//! exports the span of a call, in the caller's trace and under its service name, to a real
//! OTLP/gRPC collector, and flushes it when stopped by SIGINT.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

use std::{
    net::{SocketAddr, TcpListener},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// Collects every export request it receives.
#[derive(Clone, Default)]
struct Collector {
    received: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.received.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_collector_and_are_flushed_on_shutdown() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_addr = listener.local_addr().unwrap();
    let stop_collector = Arc::new(tokio::sync::Notify::new());
    let server = tokio::spawn({
        let collector = collector.clone();
        let stop = stop_collector.clone();
        async move {
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(collector))
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async move { stop.notified().await },
                )
                .await
                .unwrap();
        }
    });

    let (grpc, metrics) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_levibot"))
        .args(["serve", "portfolio"])
        .args(["--set", &format!("services.portfolio.grpc_listen={grpc}")])
        .args([
            "--set",
            &format!("services.portfolio.metrics_listen={metrics}"),
        ])
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{collector_addr}"),
        )
        .env("LEVIBOT__TELEMETRY__LOG_FILTER", "info")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let attempt = async {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))
                .unwrap()
                .connect()
                .await?;
            let mut request = tonic::Request::new(HealthCheckRequest {
                service: String::new(),
            });
            request.metadata_mut().insert(
                "traceparent",
                format!("00-{trace_id}-00f067aa0ba902b7-01")
                    .parse()
                    .unwrap(),
            );
            HealthClient::new(channel).check(request).await?;
            Ok::<(), Box<dyn std::error::Error>>(())
        };
        match attempt.await {
            Ok(()) => break,
            Err(err) if Instant::now() > deadline => panic!("portfolio never answered: {err}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }

    // the batch exporter has not sent anything yet; stopping must flush it
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let received = collector.received.lock().unwrap().clone();
    let mut found = false;
    for request in &received {
        for resource_spans in &request.resource_spans {
            let service_name = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.clone());
            for scope in &resource_spans.scope_spans {
                for span in &scope.spans {
                    if hex(&span.trace_id) == trace_id {
                        assert_eq!(span.name, "grpc.health.v1.Health/Check");
                        assert_eq!(hex(&span.parent_span_id), "00f067aa0ba902b7");
                        assert_eq!(service_name, Some(Value::StringValue("portfolio".into())));
                        found = true;
                    }
                }
            }
        }
    }
    assert!(
        found,
        "no span of trace {trace_id} among {} export requests",
        received.len()
    );
    stop_collector.notify_one();
    server.await.unwrap();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
