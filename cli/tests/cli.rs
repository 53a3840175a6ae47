//! The `levibot` binary as a user runs it: configuration errors name their keys and exit 2;
//! `sanity-check` exits 0 against a running fleet and 1 naming a stopped service; `levibot up`
//! prints its addresses, serves, and stops cleanly on SIGINT.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

use std::{
    io::{BufRead, BufReader},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use levibot_cli::{Bind, Fleet};
use levibot_config::{ConfigLoader, ServiceName};

const LEVIBOT: &str = env!("CARGO_BIN_EXE_levibot");

fn redis_url() -> String {
    std::env::var("LEVIBOT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// `levibot` with a clean environment: no `LEVIBOT__*` from the caller leaks in.
fn levibot() -> Command {
    let mut command = Command::new(LEVIBOT);
    for (key, _) in std::env::vars() {
        if key.starts_with("LEVIBOT") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command.env("LEVIBOT__TELEMETRY__LOG_FILTER", "warn");
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn config_errors_name_every_bad_key_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("levibot.yaml");
    std::fs::write(
        &file,
        "risk:\n  max_postions: 3\ngateway:\n  listen: nowhere\n",
    )
    .unwrap();
    let output = levibot()
        .arg("--config")
        .arg(&file)
        .args(["--set", "foo.bar=1", "config", "show"])
        .env("LEVIBOT__RISK__MIN_CONFIDENCE", "lots")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = text(&output.stderr);
    for key in [
        "risk.max_postions",
        "gateway.listen",
        "foo.bar",
        "risk.min_confidence",
    ] {
        assert!(stderr.contains(key), "{key} not named in: {stderr}");
    }
    assert!(
        stderr.contains("LEVIBOT__RISK__MIN_CONFIDENCE") || stderr.contains("lots"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn config_show_prints_the_effective_config_without_secrets() {
    let output = levibot()
        .args(["--set", "profile=expansion", "config", "show"])
        .env("LEVIBOT__EXCHANGE__API_KEY", "key-should-not-print")
        .env("LEVIBOT__EXCHANGE__API_SECRET", "secret-should-not-print")
        .env(
            "LEVIBOT__STORE__DATABASE_URL",
            "postgres://me:hunter2@db:5432/levibot",
        )
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = text(&output.stdout);
    assert!(stdout.contains("profile: expansion"), "{stdout}");
    assert!(stdout.contains("max_positions: 10"), "{stdout}");
    for secret in ["key-should-not-print", "secret-should-not-print", "hunter2"] {
        assert!(!stdout.contains(secret), "{secret} leaked: {stdout}");
    }
}

/// `levibot sanity-check --json` with `config_file` (the fleet's own effective configuration,
/// so it checks the same store, bus and addresses).
fn sanity_check(config_file: &std::path::Path) -> Output {
    levibot()
        .args(["sanity-check", "--json", "--timeout-ms", "2000", "--config"])
        .arg(config_file)
        .output()
        .unwrap()
}

/// Runs `check` until it succeeds or `within` has passed (a fleet loads its policy and ESS
/// state once its trade-store answers, shortly after start); returns the last output.
async fn until_ok(within: Duration, check: impl Fn() -> Output + Send + Clone + 'static) -> Output {
    let deadline = Instant::now() + within;
    loop {
        let run = check.clone();
        let output = tokio::task::spawn_blocking(run).await.unwrap();
        if output.status.success() || Instant::now() > deadline {
            return output;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sanity_check_passes_against_a_fleet_and_names_a_stopped_service() {
    let state = tempfile::tempdir().unwrap();
    let config = ConfigLoader::new()
        .set("telemetry.log_filter", "warn")
        .set(
            "store.database_url",
            &format!("sqlite://{}/levibot.db", state.path().display()),
        )
        .set("bus.buffer_dir", &format!("{}/bus", state.path().display()))
        .set(
            "trading.state_dir",
            &format!("{}/backend", state.path().display()),
        )
        .set("gateway.listen", "127.0.0.1:0")
        // no model ships yet: the reference strategy needs none
        .set("trading.signal_source", "ema_cross")
        .load()
        .unwrap();
    let fleet = Fleet::start(config, Bind::Ephemeral).await.unwrap();
    let config_file = state.path().join("fleet.yaml");
    std::fs::write(&config_file, fleet.config().to_yaml()).unwrap();

    let file = config_file.clone();
    let output = until_ok(Duration::from_secs(20), move || sanity_check(&file)).await;
    assert!(
        output.status.success(),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["status"], "OK", "{report}");
    assert_eq!(report["checks"].as_array().unwrap().len(), 16, "{report}");

    fleet.stop_service(ServiceName::TradeStore);
    let deadline = Instant::now() + Duration::from_secs(5);
    let output = loop {
        let file = config_file.clone();
        let output = tokio::task::spawn_blocking(move || sanity_check(&file))
            .await
            .unwrap();
        if !output.status.success() || Instant::now() > deadline {
            break output;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["service:trade-store"], "{report}");
    assert!(
        text(&output.stderr).contains("service:trade-store"),
        "{}",
        text(&output.stderr)
    );
    fleet.shutdown().await.unwrap();
}

#[test]
fn up_prints_its_addresses_serves_and_stops_on_sigint() {
    let state = tempfile::tempdir().unwrap();
    let (mut child, addresses) = spawn_up(state.path());
    let mut set = fleet_settings(state.path());
    for (service, grpc, metrics) in &addresses {
        let key = service.config_key();
        set.push(format!("services.{key}.grpc_url={grpc}"));
        set.push(format!("services.{key}.metrics_listen={metrics}"));
    }
    let output = {
        let set = set.clone();
        let check = move || {
            let mut check = levibot();
            check.args(["sanity-check", "--timeout-ms", "2000"]);
            for s in &set {
                check.args(["--set", s]);
            }
            check.output().unwrap()
        };
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(until_ok(Duration::from_secs(20), check))
    };
    assert!(
        output.status.success(),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert!(
        text(&output.stdout).contains("16 checks, 16 passed, 0 failed"),
        "{output:?}"
    );

    let stopped = Instant::now();
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let took = stopped.elapsed();
    assert!(status.success(), "levibot up exited with {status}");
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
}

/// The settings `levibot up` runs with in these tests (state under `state`); the
/// sanity-check gets the same, so it checks what the fleet uses.
fn fleet_settings(state: &std::path::Path) -> Vec<String> {
    vec![
        format!("store.database_url=sqlite://{}/levibot.db", state.display()),
        format!("bus.buffer_dir={}/bus", state.display()),
        "gateway.listen=127.0.0.1:0".to_owned(),
        format!("trading.state_dir={}/backend", state.display()),
        // no model ships yet: the reference strategy needs none
        "trading.signal_source=ema_cross".to_owned(),
    ]
}

/// Spawns `levibot up` on port-0 listeners and returns it with the gRPC URL and the metrics
/// address of each service.
fn spawn_up(state: &std::path::Path) -> (std::process::Child, Vec<(ServiceName, String, String)>) {
    let mut command = levibot();
    command.arg("up");
    for setting in fleet_settings(state) {
        command.args(["--set", &setting]);
    }
    for service in ServiceName::ALL {
        let key = service.config_key();
        command.args(["--set", &format!("services.{key}.grpc_listen=127.0.0.1:0")]);
        command.args([
            "--set",
            &format!("services.{key}.metrics_listen=127.0.0.1:0"),
        ]);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut urls = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.starts_with("Ctrl-C") {
            break;
        }
        // "  backend            grpc 127.0.0.1:41234       metrics http://127.0.0.1:40111/metrics"
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [name, "grpc", grpc, "metrics", metrics] = words.as_slice() {
            let metrics = metrics
                .trim_start_matches("http://")
                .trim_end_matches("/metrics");
            urls.push((
                name.parse().unwrap(),
                format!("http://{grpc}"),
                metrics.to_owned(),
            ));
        }
    }
    assert_eq!(urls.len(), 7, "addresses printed: {urls:?}");
    (child, urls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigint_forces_exit_while_a_stream_holds_shutdown() {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let state = tempfile::tempdir().unwrap();
    let path = state.path().to_owned();
    let (mut child, urls) = tokio::task::spawn_blocking(move || spawn_up(&path))
        .await
        .unwrap();
    let backend = urls
        .iter()
        .find(|(s, _, _)| *s == ServiceName::Backend)
        .unwrap()
        .1
        .clone();
    // a health Watch stream stays open through a graceful shutdown
    let channel = tonic::transport::Endpoint::from_shared(backend)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    let mut watch = client
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(watch.message().await.unwrap().is_some());

    let pid = child.id().to_string();
    let started = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first signal should wait for the stream"
    );
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(130), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    drop(watch);
}

fn ftx_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/klines/ftx_btc-perp_1m_20211231-20220201.csv")
}

#[test]
fn replay_publishes_every_bar_of_the_file_onto_md_bar() {
    use levibot_bus::Envelope;
    use levibot_proto::v1;

    let prefix = format!(
        "test:replay:{}:{}:",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    );
    let buffer = tempfile::tempdir().unwrap();
    let output = levibot()
        .arg("replay")
        .arg(ftx_file())
        .args(["--symbol", "BTCUSDT", "--interval", "1m", "--speed", "max"])
        .args(["--set", &format!("bus.redis_url={}", redis_url())])
        .args(["--set", &format!("bus.key_prefix={prefix}")])
        .arg("--set")
        .arg(format!("bus.buffer_dir={}", buffer.path().display()))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("replayed 45031 BTCUSDT 1m bars"),
        "{}",
        text(&output.stdout)
    );

    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let key = format!("{prefix}md.bar");
    let len: u64 = redis::cmd("XLEN").arg(&key).query(&mut conn).unwrap();
    assert_eq!(len, 45_031);
    let mut bar = |cmd: &str| -> v1::Bar {
        let reply: redis::streams::StreamRangeReply = redis::cmd(cmd)
            .arg(&key)
            .arg(if cmd == "XRANGE" { "-" } else { "+" })
            .arg(if cmd == "XRANGE" { "+" } else { "-" })
            .arg("COUNT")
            .arg(1)
            .query(&mut conn)
            .unwrap();
        let bytes: Vec<u8> =
            redis::from_redis_value_ref(reply.ids[0].map.get("e").unwrap()).unwrap();
        Envelope::decode(&bytes).unwrap().message().unwrap()
    };
    let (first, last) = (bar("XRANGE"), bar("XREVRANGE"));
    // the file's first and last rows
    assert_eq!(
        (first.open_time_ms, first.open.as_str()),
        (1_640_991_660_000, "46319.0")
    );
    assert_eq!(last.symbol, "BTCUSDT");
    assert_eq!(last.open_time_ms, 1_643_693_460_000);
    let _: () = redis::cmd("DEL").arg(&key).query(&mut conn).unwrap();
}

#[test]
fn replay_without_redis_says_why_and_exits_non_zero() {
    let output = levibot()
        .arg("replay")
        .arg(ftx_file())
        .args(["--symbol", "BTCUSDT"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("bus.redis_url"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn backfill_fetches_a_day_from_a_binance_protocol_server_and_stores_it_once() {
    let state = tempfile::tempdir().unwrap();
    let store = format!(
        "store.database_url=sqlite://{}/levibot.db",
        state.path().display()
    );
    let mut sim = levibot()
        .args(["exchange-sim", "--listen", "127.0.0.1:0", "--klines"])
        .arg(format!("BTCUSDT={}", ftx_file().display()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = sim.stdout.take().unwrap();
    let listening = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|line| line.starts_with("exchange-sim listening"))
        .unwrap();
    // "exchange-sim listening: ws://127.0.0.1:PORT/stream?..."
    let addr = listening
        .split("ws://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();

    let backfill = || {
        levibot()
            .args([
                "--set",
                &store,
                "data",
                "backfill",
                "BTCUSDT",
                "--interval",
                "1m",
            ])
            .args(["--from", "2022-01-01", "--to", "2022-01-02"])
            .args(["--base-url", &format!("http://{addr}")])
            .output()
            .unwrap()
    };
    let first = backfill();
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).contains("1440 bars fetched"),
        "{}",
        text(&first.stdout)
    );
    assert!(
        text(&first.stdout).contains("1440 new"),
        "{}",
        text(&first.stdout)
    );
    let again = backfill();
    assert!(
        text(&again.stdout).contains("0 new, 0 updated, 1440 unchanged"),
        "{}",
        text(&again.stdout)
    );

    let gaps = levibot()
        .args([
            "--set",
            &store,
            "data",
            "gaps",
            "BTCUSDT",
            "--interval",
            "1m",
        ])
        .output()
        .unwrap();
    assert!(
        text(&gaps.stdout).contains("0 gaps"),
        "{}",
        text(&gaps.stdout)
    );
    Command::new("kill")
        .args(["-INT", &sim.id().to_string()])
        .status()
        .unwrap();
    assert!(sim.wait().unwrap().success());
}

#[test]
fn a_sigint_the_moment_the_fleet_is_up_is_a_clean_stop() {
    // The signal handlers are registered before the banner: a signal right after it must
    // stop the fleet gracefully (exit 0), never kill it by the signal's default action.
    for _ in 0..5 {
        let state = tempfile::tempdir().unwrap();
        let (mut child, _) = spawn_up(state.path());
        assert!(
            Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "levibot up ended with {status}");
    }
}
