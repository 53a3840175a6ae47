use std::{
    error::Error,
    future::Future,
    str::FromStr,
    time::{Duration, Instant},
};

use futures::future::{BoxFuture, FutureExt, join_all};
use levibot_config::{Config, ServiceName, redact_url};
use levibot_telemetry::InjectTraceContext;
use serde::Serialize;
use sqlx::{
    Connection,
    postgres::PgConnection,
    sqlite::{SqliteConnectOptions, SqliteConnection},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckOutcome {
    /// `redis` (or `bus` when Redis is not configured), `postgresql` or `sqlite`,
    /// `service:<name>`.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found, or why it failed.
    pub detail: String,
    /// How long it took.
    pub latency_ms: u64,
}

/// The outcome of every check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetReport {
    /// True when every check passed.
    pub ok: bool,
    /// One entry per check, in a fixed order: bus, store, then the services.
    pub checks: Vec<CheckOutcome>,
}

impl FleetReport {
    /// The checks that failed.
    pub fn failed(&self) -> impl Iterator<Item = &CheckOutcome> {
        self.checks.iter().filter(|c| !c.ok)
    }
}

/// Runs every check of the fleet described by `config` in parallel, each bounded by `timeout`.
pub async fn check_fleet(config: &Config, timeout: Duration) -> FleetReport {
    let mut checks: Vec<BoxFuture<'_, CheckOutcome>> = Vec::new();
    match &config.bus.redis_url {
        Some(url) => checks.push(bounded("redis", timeout, check_redis(url)).boxed()),
        None => checks.push(
            std::future::ready(CheckOutcome {
                name: "bus".to_owned(),
                ok: true,
                detail: "in-process bus (bus.redis_url is not set)".to_owned(),
                latency_ms: 0,
            })
            .boxed(),
        ),
    }
    let url = config.store.database_url.as_str();
    let store = if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgresql"
    };
    checks.push(bounded(store, timeout, check_store(url)).boxed());
    for service in ServiceName::ALL {
        let url = config.services.endpoint(service).grpc_url();
        let name = format!("service:{}", service.as_str());
        checks.push(bounded_owned(name, timeout, check_service(url, timeout)).boxed());
    }
    let checks = join_all(checks).await;
    FleetReport {
        ok: checks.iter().all(|c| c.ok),
        checks,
    }
}

async fn bounded(
    name: &str,
    timeout: Duration,
    check: impl Future<Output = Result<String, String>>,
) -> CheckOutcome {
    bounded_owned(name.to_owned(), timeout, check).await
}

async fn bounded_owned(
    name: String,
    timeout: Duration,
    check: impl Future<Output = Result<String, String>>,
) -> CheckOutcome {
    let started = Instant::now();
    let result = tokio::time::timeout(timeout, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} ms", timeout.as_millis())));
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(detail) => CheckOutcome {
            name,
            ok: true,
            detail,
            latency_ms,
        },
        Err(detail) => CheckOutcome {
            name,
            ok: false,
            detail,
            latency_ms,
        },
    }
}

/// `err` and its sources, joined: transport errors say little without their causes.
fn chain(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

async fn check_redis(url: &str) -> Result<String, String> {
    let shown = redact_url(url);
    let client = redis::Client::open(url).map_err(|e| format!("{shown}: {}", chain(&e)))?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("cannot connect to {shown}: {}", chain(&e)))?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await
        .map_err(|e| format!("{shown} does not answer: {}", chain(&e)))?;
    let version = info
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .unwrap_or("unknown version")
        .trim()
        .to_owned();
    Ok(format!("redis {version} at {shown}"))
}

async fn check_store(url: &str) -> Result<String, String> {
    let shown = redact_url(url);
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| format!("{shown}: {}", chain(&e)))?
            .create_if_missing(true);
        if let Some(parent) = options
            .get_filename()
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let mut conn = SqliteConnection::connect_with(&options)
            .await
            .map_err(|e| format!("cannot open {shown}: {}", chain(&e)))?;
        let version: String = sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| format!("{shown}: {}", chain(&e)))?;
        let _ = conn.close().await;
        return Ok(format!("sqlite {version} at {shown}"));
    }
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| format!("cannot connect to {shown}: {}", chain(&e)))?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| format!("{shown} does not answer: {}", chain(&e)))?;
    let _ = conn.close().await;
    Ok(format!("postgresql {version} at {shown}"))
}

async fn check_service(url: String, timeout: Duration) -> Result<String, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.clone())
        .map_err(|e| format!("bad url {url}: {}", chain(&e)))?
        .connect_timeout(timeout)
        .timeout(timeout);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {url}: {}", chain(&e)))?;
    let mut client = HealthClient::new(InjectTraceContext::new(channel));
    let response = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_err(|status| format!("{url} answered {}: {}", status.code(), status.message()))?;
    match response.into_inner().status() {
        ServingStatus::Serving => Ok(format!("serving at {url}")),
        other => Err(format!("{} at {url}", other.as_str_name())),
    }
}

#[cfg(test)]
mod tests {
    use levibot_config::ConfigLoader;

    use super::*;

    /// A loopback port nothing listens on.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn unreachable_parts_fail_with_their_names_and_causes() {
        let port = closed_port();
        let mut loader = ConfigLoader::new()
            .set("bus.redis_url", &format!("redis://127.0.0.1:{port}"))
            .set(
                "store.database_url",
                &format!("postgres://u:secretpw@127.0.0.1:{port}/x"),
            );
        for service in ServiceName::ALL {
            loader = loader.set(
                &format!("services.{}.grpc_url", service.config_key()),
                &format!("http://127.0.0.1:{port}"),
            );
        }
        let config = loader.load().unwrap();
        let report = check_fleet(&config, Duration::from_secs(2)).await;
        assert!(!report.ok);
        let names: Vec<_> = report.failed().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), 9, "{report:#?}");
        assert!(
            names.contains(&"redis") && names.contains(&"postgresql"),
            "{names:?}"
        );
        assert!(names.contains(&"service:ai-engine"), "{names:?}");
        for check in &report.checks {
            assert!(
                !check.detail.contains("secretpw"),
                "password leaked: {}",
                check.detail
            );
            assert!(check.detail.contains(&port.to_string()), "{}", check.detail);
        }
    }

    #[tokio::test]
    async fn sqlite_store_is_opened_and_created_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/levibot.db");
        let detail = check_store(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        assert!(detail.starts_with("sqlite 3."), "{detail}");
        assert!(path.exists());
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        // accepts TCP but never speaks HTTP/2
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let outcome = bounded_owned(
            "s".into(),
            Duration::from_millis(300),
            check_service(url, Duration::from_secs(30)),
        )
        .await;
        assert!(!outcome.ok);
        assert!(
            outcome.detail.contains("no answer within 300 ms"),
            "{}",
            outcome.detail
        );
        drop(listener);
    }
}
