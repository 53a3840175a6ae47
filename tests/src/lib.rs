//! Test support for LeviBot's cross-service tests: [`Sandbox`] starts the seven services
//! in-process on port-0 listeners (real gRPC, real Redis and PostgreSQL) and hands out typed
//! clients; [`scrape_metrics`] reads a `/metrics` endpoint over plain HTTP/1.1.

#![allow(
    clippy::panic,
    reason = "test support: a set-up that fails must fail the test loudly"
)]

use std::{net::SocketAddr, time::Duration};

use levibot_cli::{Bind, Fleet, FleetError};
use levibot_config::{Config, ConfigLoader, ServiceName};
use levibot_telemetry::InjectTraceContext;
use levibot_trade_store::testing::TestSchema;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Redis the tests use; `LEVIBOT_TEST_REDIS_URL` overrides it.
pub fn test_redis_url() -> String {
    std::env::var("LEVIBOT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// PostgreSQL the tests use; `LEVIBOT_TEST_DATABASE_URL` overrides it.
pub fn test_database_url() -> String {
    std::env::var("LEVIBOT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A config pointing at the test Redis (under `key_prefix`, buffering in `buffer_dir`) and at
/// `database_url`, otherwise the embedded defaults.
pub fn test_config(database_url: &str, key_prefix: &str, buffer_dir: &std::path::Path) -> Config {
    test_config_with(database_url, key_prefix, buffer_dir, &[])
}

/// [`test_config`] with `settings` (`key`, `value`) over it.
pub fn test_config_with(
    database_url: &str,
    key_prefix: &str,
    buffer_dir: &std::path::Path,
    settings: &[(&str, &str)],
) -> Config {
    let mut loader = ConfigLoader::new()
        .set("bus.redis_url", &test_redis_url())
        .set("bus.key_prefix", key_prefix)
        .set("bus.buffer_dir", &buffer_dir.display().to_string())
        .set("store.database_url", database_url)
        .set("telemetry.log_filter", "warn")
        // every sandbox its own gateway port and backend state
        .set("gateway.listen", "127.0.0.1:0")
        .set(
            "trading.state_dir",
            &buffer_dir.join("backend").display().to_string(),
        );
    for (key, value) in settings {
        loader = loader.set(key, value);
    }
    loader
        .load()
        .unwrap_or_else(|err| panic!("test config is invalid: {err}"))
}

/// A gRPC channel that injects the current span's trace context into every call.
pub type TracedChannel = InjectTraceContext<Channel>;

/// The whole fleet running in this process on ephemeral loopback ports, with a PostgreSQL
/// schema, a Redis key prefix and a disk-buffer folder of its own, so sandboxes run in
/// parallel.
#[derive(Debug)]
pub struct Sandbox {
    fleet: Fleet,
    schema: TestSchema,
    _buffer: tempfile::TempDir,
}

impl Sandbox {
    /// Starts the seven services with [`test_config`] on a fresh schema and key prefix.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// [`start`](Self::start) with extra `key=value` settings over the test config.
    pub async fn start_with(settings: &[(&str, &str)]) -> Self {
        let schema = TestSchema::create_on(&test_database_url())
            .await
            .unwrap_or_else(|err| panic!("cannot create a test schema: {err}"));
        let buffer = tempfile::tempdir().unwrap_or_else(|err| panic!("temp dir: {err}"));
        let prefix = format!("{}:", schema.name());
        let config = test_config_with(schema.url(), &prefix, buffer.path(), settings);
        let fleet = Fleet::start(config, Bind::Ephemeral)
            .await
            .unwrap_or_else(|err| panic!("sandbox did not start: {err}"));
        Self {
            fleet,
            schema,
            _buffer: buffer,
        }
    }

    /// The Redis key prefix of this sandbox's bus.
    pub fn key_prefix(&self) -> &str {
        &self.fleet.config().bus.key_prefix
    }

    /// The fleet's configuration, pointing at the bound ports.
    pub fn config(&self) -> &Config {
        self.fleet.config()
    }

    /// The fleet itself.
    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// gRPC address of `service`.
    pub fn grpc_addr(&self, service: ServiceName) -> SocketAddr {
        self.address(service).grpc
    }

    /// `/metrics` address of `service`.
    pub fn metrics_addr(&self, service: ServiceName) -> SocketAddr {
        self.address(service).metrics
    }

    fn address(&self, service: ServiceName) -> levibot_cli::ServiceAddress {
        self.fleet
            .address(service)
            .unwrap_or_else(|| panic!("{service} is not in the fleet"))
    }

    /// A connected channel to `service`, injecting trace context.
    pub async fn channel(&self, service: ServiceName) -> TracedChannel {
        let url = format!("http://{}", self.grpc_addr(service));
        let channel = Channel::from_shared(url.clone())
            .unwrap_or_else(|err| panic!("bad url {url}: {err}"))
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .unwrap_or_else(|err| panic!("cannot connect to {service} at {url}: {err}"));
        InjectTraceContext::new(channel)
    }

    /// `grpc.health.v1.Health/Check` of `service` for the health service name `name`
    /// (`""` is the whole server).
    pub async fn health(&self, service: ServiceName, name: &str) -> ServingStatus {
        let mut client = HealthClient::new(self.channel(service).await);
        client
            .check(HealthCheckRequest {
                service: name.to_owned(),
            })
            .await
            .unwrap_or_else(|status| panic!("health check of {service} failed: {status}"))
            .into_inner()
            .status()
    }

    /// Stops one service, as a crash would.
    pub fn stop_service(&self, service: ServiceName) {
        self.fleet.stop_service(service);
    }

    /// Restarts one service on the same ports, as a process restart would.
    pub async fn restart_service(&mut self, service: ServiceName) {
        self.fleet
            .restart_service(service)
            .await
            .unwrap_or_else(|err| panic!("cannot restart {}: {err}", service.as_str()));
    }

    /// Stops one service, as a crash would, and waits until it has let go of its ports.
    pub async fn stop_service_and_wait(&mut self, service: ServiceName) {
        self.fleet
            .stop_service_and_wait(service)
            .await
            .unwrap_or_else(|err| panic!("cannot stop {}: {err}", service.as_str()));
    }

    /// Starts a service stopped with [`stop_service_and_wait`](Self::stop_service_and_wait)
    /// again on the same ports, as a process restart would.
    pub async fn start_service(&mut self, service: ServiceName) {
        self.fleet
            .start_service(service)
            .await
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", service.as_str()));
    }

    /// Stops everything, waits for every task, and drops the schema.
    pub async fn shutdown(self) -> Result<(), FleetError> {
        let stopped = self.fleet.shutdown().await;
        if let Err(err) = self.schema.drop_schema().await {
            eprintln!("could not drop the test schema: {err}");
        }
        stopped
    }
}

/// `GET /metrics` over HTTP/1.1; returns the body of a 200 response.
pub async fn scrape_metrics(addr: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to {addr}: {err}"));
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .unwrap_or_else(|err| panic!("write: {err}"));
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .unwrap_or_else(|err| panic!("read: {err}"));
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or((response.as_str(), ""));
    assert!(head.starts_with("HTTP/1.1 200"), "metrics answered: {head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "{head}"
    );
    body.to_owned()
}

/// The value of the sample whose line starts with `series` (name and labels as Prometheus
/// prints them, e.g. `levibot_build_info{service="backend",version="0.1.0"}`).
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}
