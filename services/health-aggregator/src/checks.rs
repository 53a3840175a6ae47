use std::{
    error::Error,
    future::Future,
    str::FromStr,
    time::{Duration, Instant},
};

use futures::future::{BoxFuture, FutureExt, join_all};
use levibot_config::{Config, ServiceName, redact_url};
use levibot_core::{Clock, LiveClock};
use levibot_telemetry::InjectTraceContext;
use sqlx::{
    Connection,
    postgres::PgConnection,
    sqlite::{SqliteConnectOptions, SqliteConnection},
};
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    report::{CheckOutcome, FleetReport, Severity},
    {backlog, trading},
};

/// The longest per-check timeout: the checks run in parallel, so a whole run stays under
/// 30 s (what `levibot sanity-check` promises) even when every service hangs.
pub const MAX_CHECK_TIMEOUT: Duration = Duration::from_secs(25);

/// The table where the trade-store records its applied migrations
/// (`levibot_trade_store::store::MIGRATIONS_TABLE`; this crate does not depend on the
/// trade-store, it embeds the same migration folders instead).
pub const TRADE_STORE_MIGRATIONS_TABLE: &str = "_trade_store_migrations";

/// The applied migrations, from [`TRADE_STORE_MIGRATIONS_TABLE`].
const APPLIED_MIGRATIONS: &str = "SELECT version, success, checksum FROM _trade_store_migrations";

/// What a failing gRPC health check of `service` does to the fleet: the backend, the
/// trade-store and the policy-store are needed to trade safely; the others are not.
pub const fn service_severity(service: ServiceName) -> Severity {
    match service {
        ServiceName::Backend | ServiceName::TradeStore | ServiceName::PolicyStore => {
            Severity::Critical
        }
        ServiceName::AiEngine
        | ServiceName::Portfolio
        | ServiceName::AutomlCron
        | ServiceName::HealthAggregator => Severity::Warning,
    }
}

/// Runs every check of the fleet described by `config` in parallel, each bounded by `timeout`
/// (at most [`MAX_CHECK_TIMEOUT`]).
///
/// The checks, in this order: `redis` (or `bus` when the bus is in-process), `postgresql` or
/// `sqlite`, `migrations`, `service:<name>` for the seven services (grpc.health.v1), `policy`
/// (a policy is loaded), `ess` (armed), `market-data` (every engine's last bar is fresh),
/// `model` (a champion per symbol, young enough; not required with the EMA-cross signal
/// source), `disk-buffer` (every service's disk buffer is drained) and `bus-lag` (no consumer
/// group lags by more than [`backlog::MAX_CONSUMER_LAG`] entries).
pub async fn check_fleet(config: &Config, timeout: Duration) -> FleetReport {
    check_fleet_with(config, timeout, &LiveClock::new()).await
}

/// [`check_fleet`] with the time taken from `clock` (freshness and model age are judged
/// against it).
pub async fn check_fleet_with(
    config: &Config,
    timeout: Duration,
    clock: &dyn Clock,
) -> FleetReport {
    let timeout = effective_timeout(timeout);
    let now_ms = clock.now().as_i64();
    let mut checks: Vec<BoxFuture<'_, CheckOutcome>> = Vec::new();
    let critical = Severity::Critical;
    let warning = Severity::Warning;
    match &config.bus.redis_url {
        Some(url) => checks.push(bounded("redis", critical, timeout, check_redis(url)).boxed()),
        None => checks.push(
            std::future::ready(passed(
                "bus",
                critical,
                "in-process bus (bus.redis_url is not set)",
            ))
            .boxed(),
        ),
    }
    let url = config.store.database_url.as_str();
    let store = if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgresql"
    };
    checks.push(bounded(store, critical, timeout, check_store(url)).boxed());
    checks.push(bounded("migrations", critical, timeout, check_migrations(url)).boxed());
    for service in ServiceName::ALL {
        let url = config.services.endpoint(service).grpc_url();
        let name = format!("service:{}", service.as_str());
        checks.push(
            bounded(
                name,
                service_severity(service),
                timeout,
                check_service(url, timeout),
            )
            .boxed(),
        );
    }
    let policy_store = config.services.policy_store.grpc_url();
    checks.push(
        bounded(
            "policy",
            critical,
            timeout,
            trading::check_policy(policy_store.clone(), timeout),
        )
        .boxed(),
    );
    checks.push(
        bounded(
            "ess",
            critical,
            timeout,
            trading::check_ess(policy_store, timeout),
        )
        .boxed(),
    );
    checks.push(
        bounded(
            "market-data",
            warning,
            timeout,
            trading::check_market_data(config, timeout, now_ms),
        )
        .boxed(),
    );
    checks.push(
        bounded(
            "model",
            warning,
            timeout,
            trading::check_model(config, timeout, now_ms),
        )
        .boxed(),
    );
    checks.push(
        bounded(
            "disk-buffer",
            warning,
            timeout,
            backlog::check_disk_buffer(config, timeout),
        )
        .boxed(),
    );
    checks.push(bounded("bus-lag", warning, timeout, backlog::check_bus_lag(config)).boxed());
    let checks = join_all(checks).await;
    FleetReport::from_checks(checks, now_ms)
}

fn passed(name: &str, severity: Severity, detail: &str) -> CheckOutcome {
    CheckOutcome {
        name: name.to_owned(),
        ok: true,
        severity,
        detail: detail.to_owned(),
        latency_ms: 0,
    }
}

/// Runs `check` under `timeout`; a check that does not finish in time failed.
pub(crate) fn bounded(
    name: impl Into<String>,
    severity: Severity,
    timeout: Duration,
    check: impl Future<Output = Result<String, String>>,
) -> impl Future<Output = CheckOutcome> {
    let name = name.into();
    async move {
        let started = Instant::now();
        let result = tokio::time::timeout(timeout, check)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} ms", timeout.as_millis())));
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (ok, detail) = match result {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        CheckOutcome {
            name,
            ok,
            severity,
            detail,
            latency_ms,
        }
    }
}

/// `err` and its sources, joined: transport errors say little without their causes.
pub(crate) fn chain(err: &dyn Error) -> String {
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

/// How much longer than its check's bound an inner timeout is: the check's own bound is the one
/// that fires, and says "no answer within N ms"; inner timeouts are a safety net.
pub(crate) const INNER_SLACK: Duration = Duration::from_millis(500);

/// The per-check timeout actually used for `requested`: at most [`MAX_CHECK_TIMEOUT`].
pub fn effective_timeout(requested: Duration) -> Duration {
    requested.min(MAX_CHECK_TIMEOUT)
}

/// A channel to the gRPC server at `url`; connecting and every call are bounded by a little
/// more than `timeout`.
pub(crate) async fn connect(
    url: &str,
    timeout: Duration,
) -> Result<InjectTraceContext<Channel>, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
        .map_err(|e| format!("bad url {url}: {}", chain(&e)))?
        .connect_timeout(timeout + INNER_SLACK)
        .timeout(timeout + INNER_SLACK);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {url}: {}", chain(&e)))?;
    Ok(InjectTraceContext::new(channel))
}

/// A gRPC error answer as text; `UNIMPLEMENTED` reads as "not available".
pub(crate) fn answered(what: &str, url: &str, status: &tonic::Status) -> String {
    if status.code() == tonic::Code::Unimplemented {
        format!("{what} not available at {url}: {}", status.message())
    } else {
        format!(
            "{what}: {url} answered {:?}: {}",
            status.code(),
            status.message()
        )
    }
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

/// A connection to the store: PostgreSQL or SQLite (created when missing, as the trade-store
/// does).
enum StoreConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl StoreConnection {
    async fn open(url: &str) -> Result<Self, String> {
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
            let conn = SqliteConnection::connect_with(&options)
                .await
                .map_err(|e| format!("cannot open {shown}: {}", chain(&e)))?;
            return Ok(Self::Sqlite(conn));
        }
        let conn = PgConnection::connect(url)
            .await
            .map_err(|e| format!("cannot connect to {shown}: {}", chain(&e)))?;
        Ok(Self::Postgres(conn))
    }

    async fn close(self) {
        // a failed goodbye changes nothing about the check
        let _ = match self {
            Self::Postgres(conn) => conn.close().await,
            Self::Sqlite(conn) => conn.close().await,
        };
    }
}

async fn check_store(url: &str) -> Result<String, String> {
    let shown = redact_url(url);
    let mut conn = StoreConnection::open(url).await?;
    let answer = match &mut conn {
        StoreConnection::Sqlite(conn) => sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(conn)
            .await
            .map(|version: String| format!("sqlite {version} at {shown}")),
        StoreConnection::Postgres(conn) => sqlx::query_scalar("SHOW server_version")
            .fetch_one(conn)
            .await
            .map(|version: String| format!("postgresql {version} at {shown}")),
    };
    conn.close().await;
    answer.map_err(|e| format!("{shown} does not answer: {}", chain(&e)))
}

/// One row of the trade-store's migrations table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppliedMigration {
    pub(crate) version: i64,
    pub(crate) success: bool,
    pub(crate) checksum: Vec<u8>,
}

/// A migration this build expects: version and checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExpectedMigration {
    pub(crate) version: i64,
    pub(crate) checksum: Vec<u8>,
}

/// The up-migrations the trade-store of this build embeds for the store behind `url`.
fn expected_migrations(url: &str) -> Vec<ExpectedMigration> {
    // the same folders `levibot-trade-store` embeds (`build.rs` rebuilds on a change)
    let migrator = if url.starts_with("sqlite:") {
        sqlx::migrate!("../trade-store/migrations/sqlite")
    } else {
        sqlx::migrate!("../trade-store/migrations/postgres")
    };
    migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| ExpectedMigration {
            version: m.version,
            checksum: m.checksum.to_vec(),
        })
        .collect()
}

/// Whether every `expected` migration is applied, successfully and unchanged.
pub(crate) fn judge_migrations(
    expected: &[ExpectedMigration],
    applied: &[AppliedMigration],
) -> Result<String, String> {
    let mut problems = Vec::new();
    for migration in expected {
        match applied.iter().find(|a| a.version == migration.version) {
            None => problems.push(format!("{} is not applied", migration.version)),
            Some(a) if !a.success => problems.push(format!("{} failed", a.version)),
            Some(a) if a.checksum != migration.checksum => {
                problems.push(format!("{} was changed after it was applied", a.version))
            }
            Some(_) => {}
        }
    }
    let latest = applied.iter().map(|a| a.version).max().unwrap_or(0);
    if !problems.is_empty() {
        return Err(format!(
            "trade-store migrations: {} (schema at version {latest})",
            problems.join(", ")
        ));
    }
    let newer = applied
        .iter()
        .filter(|a| !expected.iter().any(|e| e.version == a.version))
        .count();
    let mut detail = format!(
        "{} of {} migrations applied, schema at version {latest}",
        expected.len(),
        expected.len()
    );
    if newer > 0 {
        detail.push_str(&format!(
            " ({newer} newer than this build: a newer trade-store ran)"
        ));
    }
    Ok(detail)
}

async fn check_migrations(url: &str) -> Result<String, String> {
    let shown = redact_url(url);
    let mut conn = StoreConnection::open(url).await?;
    let rows: Result<Vec<(i64, bool, Vec<u8>)>, sqlx::Error> = match &mut conn {
        StoreConnection::Postgres(conn) => sqlx::query_as(APPLIED_MIGRATIONS).fetch_all(conn).await,
        StoreConnection::Sqlite(conn) => sqlx::query_as(APPLIED_MIGRATIONS).fetch_all(conn).await,
    };
    conn.close().await;
    let rows = rows.map_err(|e| {
        let text = chain(&e);
        if text.contains("does not exist") || text.contains("no such table") {
            format!("no trade-store migration has run on {shown} (the trade-store never started)")
        } else {
            format!("cannot read {TRADE_STORE_MIGRATIONS_TABLE} on {shown}: {text}")
        }
    })?;
    let applied: Vec<AppliedMigration> = rows
        .into_iter()
        .map(|(version, success, checksum)| AppliedMigration {
            version,
            success,
            checksum,
        })
        .collect();
    judge_migrations(&expected_migrations(url), &applied)
}

async fn check_service(url: String, timeout: Duration) -> Result<String, String> {
    let mut client = HealthClient::new(connect(&url, timeout).await?);
    let response = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_err(|status| format!("{url} answered {:?}: {}", status.code(), status.message()))?;
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

    fn config_with_everything_at(redis: &str, database: &str, service: &str) -> Config {
        let mut loader = ConfigLoader::new()
            .set("bus.redis_url", redis)
            .set("store.database_url", database);
        for name in ServiceName::ALL {
            loader = loader.set(&format!("services.{}.grpc_url", name.config_key()), service);
        }
        loader.load().unwrap()
    }

    #[tokio::test]
    async fn unreachable_parts_fail_with_their_names_and_causes() {
        let port = closed_port();
        let config = config_with_everything_at(
            &format!("redis://127.0.0.1:{port}"),
            &format!("postgres://u:secretpw@127.0.0.1:{port}/x"),
            &format!("http://127.0.0.1:{port}"),
        );
        let report = check_fleet(&config, Duration::from_secs(2)).await;
        assert!(!report.ok);
        assert_eq!(report.status, crate::FleetStatus::Down);
        let names: Vec<_> = report.failed().map(|c| c.name.as_str()).collect();
        for name in [
            "redis",
            "postgresql",
            "migrations",
            "service:ai-engine",
            "service:backend",
            "policy",
            "ess",
            "bus-lag",
        ] {
            assert!(names.contains(&name), "{name} did not fail: {names:?}");
        }
        for check in &report.checks {
            assert!(
                !check.detail.contains("secretpw"),
                "password leaked: {}",
                check.detail
            );
        }
        for check in report.checks.iter().filter(|c| {
            c.name.starts_with("service:") || ["redis", "postgresql", "ess"].contains(&&*c.name)
        }) {
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
    async fn a_fresh_sqlite_file_has_no_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("x.db").display());
        let err = check_migrations(&url).await.unwrap_err();
        assert!(err.contains("never started"), "{err}");
    }

    #[test]
    fn the_trade_store_migrations_are_embedded() {
        assert!(APPLIED_MIGRATIONS.ends_with(TRADE_STORE_MIGRATIONS_TABLE));
        let postgres = expected_migrations("postgres://x");
        let sqlite = expected_migrations("sqlite://x");
        assert!(postgres.len() >= 6, "{postgres:?}");
        assert!(sqlite.len() >= 6, "{sqlite:?}");
        assert_eq!(postgres[0].version, 1);
    }

    #[test]
    fn migrations_are_judged_by_version_success_and_checksum() {
        let expected = vec![
            ExpectedMigration {
                version: 1,
                checksum: vec![1],
            },
            ExpectedMigration {
                version: 2,
                checksum: vec![2],
            },
        ];
        let applied = |rows: &[(i64, bool, u8)]| -> Vec<AppliedMigration> {
            rows.iter()
                .map(|&(version, success, sum)| AppliedMigration {
                    version,
                    success,
                    checksum: vec![sum],
                })
                .collect()
        };
        let ok = judge_migrations(&expected, &applied(&[(1, true, 1), (2, true, 2)])).unwrap();
        assert_eq!(ok, "2 of 2 migrations applied, schema at version 2");
        let newer = judge_migrations(
            &expected,
            &applied(&[(1, true, 1), (2, true, 2), (3, true, 3)]),
        )
        .unwrap();
        assert!(newer.contains("1 newer than this build"), "{newer}");
        let missing = judge_migrations(&expected, &applied(&[(1, true, 1)])).unwrap_err();
        assert!(missing.contains("2 is not applied"), "{missing}");
        assert!(missing.contains("schema at version 1"), "{missing}");
        let failed =
            judge_migrations(&expected, &applied(&[(1, true, 1), (2, false, 2)])).unwrap_err();
        assert!(failed.contains("2 failed"), "{failed}");
        let changed =
            judge_migrations(&expected, &applied(&[(1, true, 9), (2, true, 2)])).unwrap_err();
        assert!(changed.contains("1 was changed"), "{changed}");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        // accepts TCP but never speaks HTTP/2
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let outcome = bounded(
            "s",
            Severity::Critical,
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

    /// Every service (gRPC and metrics) at a listener that accepts and never answers, Redis
    /// and PostgreSQL real: the run still ends within its timeout, naming each hung check.
    #[tokio::test]
    async fn a_hanging_fleet_is_checked_within_the_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let loader = ConfigLoader::new()
            .set("bus.redis_url", "redis://127.0.0.1:6379")
            .set("bus.key_prefix", "levibot-health-test-hang:")
            .set("store.database_url", "sqlite::memory:")
            .set("trading.engines_enabled", "true");
        // the same address for everything fails validation: set after loading
        let mut config = loader.load().unwrap();
        for name in ServiceName::ALL {
            let endpoint = config.services.endpoint_mut(name);
            endpoint.grpc_url = Some(format!("http://{addr}"));
            endpoint.metrics_listen = addr;
        }
        let started = Instant::now();
        let report = check_fleet(&config, Duration::from_millis(800)).await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "took {took:?}");
        assert_eq!(report.status, crate::FleetStatus::Down);
        for name in ServiceName::ALL {
            let check = report.check(&format!("service:{name}")).unwrap();
            assert!(!check.ok);
            assert!(
                check.detail.contains("no answer within 800 ms"),
                "{check:?}"
            );
        }
        for name in ["policy", "ess", "market-data", "model", "disk-buffer"] {
            let check = report.check(name).unwrap();
            assert!(!check.ok, "{check:?}");
            assert!(check.detail.contains("within 800 ms"), "{check:?}");
        }
        assert!(report.check("redis").unwrap().ok, "{report:#?}");
        drop(listener);
    }

    #[test]
    fn the_timeout_is_capped_so_a_run_stays_under_30_s() {
        assert_eq!(
            effective_timeout(Duration::from_secs(3600)),
            MAX_CHECK_TIMEOUT
        );
        assert_eq!(
            effective_timeout(Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        assert!(MAX_CHECK_TIMEOUT + INNER_SLACK < Duration::from_secs(30));
    }
}
