//! Layering: defaults, profile preset, file, environment and `--set` overrides.

// Helpers outside `#[test]` functions: a failed setup should abort the test.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use levibot_config::{
    Config, ConfigError, ConfigLoader, LaunchProfile, LogFormat, Problem, ServiceName,
};
use rstest::rstest;
use rust_decimal::Decimal;
use tempfile::TempDir;

/// Writes `yaml` to a fresh temporary directory; the directory lives as long as the guard.
fn write_config(yaml: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("levibot.yaml");
    std::fs::write(&path, yaml).unwrap();
    (dir, path)
}

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn problems(err: ConfigError) -> Vec<Problem> {
    match err {
        ConfigError::Invalid(problems) => problems,
        other => panic!("expected invalid configuration, got {other:?}"),
    }
}

fn assert_problem(problems: &[Problem], key: &str, fragments: &[&str]) {
    let found = problems
        .iter()
        .any(|p| p.key == key && fragments.iter().all(|f| p.message.contains(f)));
    assert!(
        found,
        "no problem for `{key}` containing {fragments:?} in {problems:#?}"
    );
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn defaults_load_and_validate() {
    let config = ConfigLoader::new().load().unwrap();
    assert_eq!(config, Config::default());
    config.validate().unwrap();
    assert_eq!(config.profile, LaunchProfile::Conservative);
    assert_eq!(config.store.database_url, "sqlite://var/levibot.db");
    assert_eq!(config.gateway.listen.to_string(), "127.0.0.1:8000");
    assert_eq!(config.telemetry.log_format, LogFormat::Pretty);
    assert_eq!(config.bus.redis_url, None);
}

/// Expected preset: symbol count, max positions, max position USD, drawdown %,
/// min confidence, daily loss limit USD.
type Preset = (usize, u32, &'static str, &'static str, f64, &'static str);

#[rstest]
#[case(LaunchProfile::Conservative, (3, 3, "1000", "3.0", 0.60, "300"))]
#[case(LaunchProfile::Expansion, (10, 10, "2000", "5.0", 0.50, "1000"))]
#[case(LaunchProfile::Full, (20, 20, "5000", "5.0", 0.45, "2500"))]
fn profile_presets_load_and_validate(
    #[case] profile: LaunchProfile,
    #[case] expected: Preset,
    #[values("file", "env", "set")] source: &str,
) {
    let (symbols, max_positions, max_position_usd, drawdown, confidence, daily_loss) = expected;
    let (_dir, path) = write_config(&format!("profile: {profile}\n"));
    let loader = match source {
        "file" => ConfigLoader::new().file(&path),
        "env" => ConfigLoader::new().env(env(&[("LEVIBOT__PROFILE", profile.as_str())])),
        _ => ConfigLoader::new().set("profile", profile.as_str()),
    };
    let config = loader.load().unwrap();
    config.validate().unwrap();
    assert_eq!(config.profile, profile);
    assert_eq!(config.risk, profile.risk_preset());
    assert_eq!(config.risk.symbols.len(), symbols);
    assert_eq!(config.risk.max_positions, max_positions);
    assert_eq!(
        config.risk.max_position_usd,
        max_position_usd.parse::<Decimal>().unwrap()
    );
    assert_eq!(
        config.risk.ess_max_drawdown_pct,
        drawdown.parse::<Decimal>().unwrap()
    );
    assert!(close(config.risk.min_confidence, confidence));
    assert_eq!(
        config.risk.daily_loss_limit_usd,
        daily_loss.parse::<Decimal>().unwrap()
    );
}

#[test]
fn full_profile_extends_expansion() {
    let expansion = LaunchProfile::Expansion.risk_preset().symbols;
    let full = LaunchProfile::Full.risk_preset().symbols;
    assert_eq!(&full[..10], &expansion[..]);
    assert!(full.contains(&"ETCUSDT".to_owned()));
}

#[test]
fn file_overrides_defaults() {
    let (_dir, path) = write_config(
        r#"
store:
  database_url: "postgres://levi@db:5432/levibot"
bus:
  redis_url: "redis://cache:6379"
telemetry:
  log_format: json
  otlp_endpoint: "http://otel:4317"
risk:
  max_position_usd: 750.5      # a YAML number is accepted for decimals
  daily_loss_limit_usd: "250"
services:
  ai_engine:
    grpc_listen: "0.0.0.0:6000"
"#,
    );
    let config = ConfigLoader::new().file(&path).load().unwrap();
    assert_eq!(config.store.database_url, "postgres://levi@db:5432/levibot");
    assert_eq!(config.bus.redis_url.as_deref(), Some("redis://cache:6379"));
    assert_eq!(config.telemetry.log_format, LogFormat::Json);
    assert_eq!(config.risk.max_position_usd, Decimal::new(7505, 1));
    assert_eq!(config.risk.daily_loss_limit_usd, Decimal::from(250));
    // Untouched keys keep their defaults, including sibling keys of a touched section.
    let ai = config.services.endpoint(ServiceName::AiEngine);
    assert_eq!(ai.grpc_listen.to_string(), "0.0.0.0:6000");
    assert_eq!(ai.metrics_listen.to_string(), "127.0.0.1:9102");
    assert_eq!(ai.grpc_url(), "http://127.0.0.1:6000");
    assert_eq!(config.bus.buffer_dir, Path::new("var/bus-buffer"));
    assert_eq!(config.risk.max_positions, 3);
}

#[rstest]
#[case("")]
#[case("# nothing but a comment\n")]
#[case("bus:\n  # redis_url: redis://cache\n")]
fn empty_file_or_section_keeps_defaults(#[case] yaml: &str) {
    let (_dir, path) = write_config(yaml);
    let config = ConfigLoader::new().file(&path).load().unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn env_overrides_file() {
    let (_dir, path) =
        write_config("store:\n  database_url: sqlite://from-file.db\nrisk:\n  max_positions: 2\n");
    let config = ConfigLoader::new()
        .file(&path)
        .env(env(&[
            ("LEVIBOT__STORE__DATABASE_URL", "sqlite://from-env.db"),
            ("LEVIBOT__RISK__MAX_POSITIONS", "5"),
            ("LEVIBOT__RISK__MIN_CONFIDENCE", "0.7"),
            ("LEVIBOT__SERVICES__BACKEND__GRPC_LISTEN", "0.0.0.0:7000"),
            (
                "LEVIBOT__SERVICES__TRADE_STORE__GRPC_URL",
                "http://trade-store:50054",
            ),
            ("PATH", "/usr/bin"),
            ("LEVIBOTX__IGNORED", "x"),
        ]))
        .load()
        .unwrap();
    assert_eq!(config.store.database_url, "sqlite://from-env.db");
    assert_eq!(config.risk.max_positions, 5);
    assert!(close(config.risk.min_confidence, 0.7));
    assert_eq!(
        config.services.backend.grpc_listen.to_string(),
        "0.0.0.0:7000"
    );
    assert_eq!(
        config.services.endpoint(ServiceName::TradeStore).grpc_url(),
        "http://trade-store:50054"
    );
}

#[rstest]
#[case("[SOLUSDT, ethusdt]", &["SOLUSDT", "ETHUSDT"])]
#[case("SOLUSDT,ETHUSDT", &["SOLUSDT", "ETHUSDT"])]
#[case(" SOLUSDT , ETHUSDT ,", &["SOLUSDT", "ETHUSDT"])]
#[case("XRPUSDT", &["XRPUSDT"])]
fn list_values_from_env(#[case] raw: &str, #[case] expected: &[&str]) {
    let config = ConfigLoader::new()
        .env(env(&[("LEVIBOT__RISK__SYMBOLS", raw)]))
        .load()
        .unwrap();
    assert_eq!(config.risk.symbols, expected);
}

#[test]
fn empty_env_value_unsets_optional_url() {
    let (_dir, path) = write_config("bus:\n  redis_url: redis://cache\n");
    let config = ConfigLoader::new()
        .file(&path)
        .env(env(&[("LEVIBOT__BUS__REDIS_URL", "")]))
        .load()
        .unwrap();
    assert_eq!(config.bus.redis_url, None);
}

#[test]
fn set_overrides_env() {
    let (_dir, path) = write_config("bus:\n  redis_url: redis://file:6379\n");
    let config = ConfigLoader::new()
        .file(&path)
        .env(env(&[
            ("LEVIBOT__BUS__REDIS_URL", "redis://env:6379"),
            ("LEVIBOT__RISK__MAX_POSITIONS", "5"),
            ("LEVIBOT__PROFILE", "expansion"),
        ]))
        .set("bus.redis_url", "redis://cli:6379")
        .set_arg("risk.max_positions=7")
        .set("profile", "full")
        .load()
        .unwrap();
    assert_eq!(config.bus.redis_url.as_deref(), Some("redis://cli:6379"));
    assert_eq!(config.risk.max_positions, 7);
    assert_eq!(config.profile, LaunchProfile::Full);
    assert_eq!(config.risk.symbols.len(), 20);
}

#[rstest]
#[case::file("file")]
#[case::env("env")]
#[case::set("set")]
fn explicit_risk_key_beats_profile_preset(#[case] source: &str) {
    let (_dir, path) = write_config(match source {
        "file" => "profile: full\nrisk:\n  max_positions: 4\n",
        _ => "profile: full\n",
    });
    let mut loader = ConfigLoader::new().file(&path);
    loader = match source {
        "env" => loader.env(env(&[("LEVIBOT__RISK__MAX_POSITIONS", "4")])),
        "set" => loader.set("risk.max_positions", "4"),
        _ => loader,
    };
    let config = loader.load().unwrap();
    assert_eq!(config.profile, LaunchProfile::Full);
    assert_eq!(config.risk.max_positions, 4);
    // Every other risk key still comes from the full preset.
    let preset = LaunchProfile::Full.risk_preset();
    assert_eq!(config.risk.symbols, preset.symbols);
    assert_eq!(config.risk.max_position_usd, preset.max_position_usd);
    assert_eq!(
        config.risk.daily_loss_limit_usd,
        preset.daily_loss_limit_usd
    );
}

#[test]
fn unknown_keys_from_every_layer_are_reported_together() {
    let (_dir, path) = write_config(
        "riks:\n  max_positions: 3\nstore:\n  database_url: sqlite://x.db\n  pool_size: 5\n",
    );
    let err = ConfigLoader::new()
        .file(&path)
        .env(env(&[
            ("LEVIBOT__FOO__BAR", "1"),
            ("LEVIBOT__SERVICES__BACKEND__GRPC_PORT", "50051"),
        ]))
        .set("bus.redis", "redis://cache")
        .set("gateway.listen.port", "80")
        .load()
        .unwrap_err();
    let text = err.to_string();
    let origin = path.display().to_string();
    let problems = problems(err);
    assert_problem(&problems, "riks", &["unknown key", &origin]);
    assert_problem(&problems, "store.pool_size", &["unknown key", &origin]);
    assert_problem(&problems, "foo", &["unknown key", "LEVIBOT__FOO__BAR"]);
    assert_problem(
        &problems,
        "services.backend.grpc_port",
        &["unknown key", "LEVIBOT__SERVICES__BACKEND__GRPC_PORT"],
    );
    assert_problem(&problems, "bus.redis", &["unknown key", "--set bus.redis"]);
    assert_problem(
        &problems,
        "gateway.listen.port",
        &["unknown key", "--set gateway.listen.port"],
    );
    assert_eq!(problems.len(), 6, "{problems:#?}");
    assert!(text.starts_with("invalid configuration:\n  "), "{text}");
    assert!(
        text.contains("\n  foo: unknown key (from LEVIBOT__FOO__BAR)"),
        "{text}"
    );
}

#[rstest]
#[case::file_number(
    "risk:\n  max_positions: lots\n",
    None,
    "risk.max_positions",
    "invalid type"
)]
#[case::file_socket(
    "gateway:\n  listen: nowhere\n",
    None,
    "gateway.listen",
    "socket address"
)]
#[case::file_enum("telemetry:\n  log_format: xml\n", None, "telemetry.log_format", "xml")]
#[case::file_profile(
    "profile: reckless\n",
    None,
    "profile",
    "unknown launch profile `reckless`"
)]
#[case::file_decimal(
    "risk:\n  max_position_usd: lots\n",
    None,
    "risk.max_position_usd",
    "decimal"
)]
#[case::file_section("risk: 5\n", None, "risk", "invalid type")]
#[case::env_number("", Some(("LEVIBOT__RISK__MAX_POSITIONS", "lots")), "risk.max_positions", "invalid type")]
#[case::env_negative("", Some(("LEVIBOT__RISK__MAX_POSITIONS", "-1")), "risk.max_positions", "invalid value")]
#[case::env_float("", Some(("LEVIBOT__RISK__MIN_CONFIDENCE", "high")), "risk.min_confidence", "invalid type")]
#[case::env_socket("", Some(("LEVIBOT__SERVICES__PORTFOLIO__METRICS_LISTEN", "9103")), "services.portfolio.metrics_listen", "socket address")]
fn type_error_names_its_key(
    #[case] yaml: &str,
    #[case] var: Option<(&str, &str)>,
    #[case] key: &str,
    #[case] fragment: &str,
) {
    let (_dir, path) = write_config(yaml);
    let vars: Vec<(&str, &str)> = var.into_iter().collect();
    let err = ConfigLoader::new()
        .file(&path)
        .env(env(&vars))
        .load()
        .unwrap_err();
    let problems = problems(err);
    assert_problem(&problems, key, &[fragment]);
    assert_eq!(problems.len(), 1, "{problems:#?}");
}

#[test]
fn type_errors_unknown_keys_and_invalid_values_come_together() {
    let (_dir, path) = write_config(
        "risk:\n  max_positions: lots\n  min_confidence: 1.5\nstore:\n  database_url: mysql://db\nbogus: 1\n",
    );
    let err = ConfigLoader::new()
        .file(&path)
        .env(env(&[("LEVIBOT__GATEWAY__LISTEN", "not-an-address")]))
        .load()
        .unwrap_err();
    let problems = problems(err);
    assert_problem(&problems, "risk.max_positions", &["invalid type"]);
    assert_problem(&problems, "gateway.listen", &["socket address"]);
    assert_problem(&problems, "bogus", &["unknown key"]);
    assert_problem(
        &problems,
        "risk.min_confidence",
        &["between 0 and 1", "1.5"],
    );
    assert_problem(
        &problems,
        "store.database_url",
        &["postgres://", "mysql://db"],
    );
    assert_eq!(problems.len(), 5, "{problems:#?}");
}

#[rstest]
#[case::no_equals("risk.max_positions")]
#[case::empty_segment("risk..max_positions=3")]
fn malformed_set_argument_is_reported(#[case] arg: &str) {
    let err = ConfigLoader::new().set_arg(arg).load().unwrap_err();
    let problems = problems(err);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].message.contains("--set"), "{problems:#?}");
}

#[test]
fn malformed_env_name_is_reported() {
    let err = ConfigLoader::new()
        .env(env(&[("LEVIBOT__RISK____MAX_POSITIONS", "3")]))
        .load()
        .unwrap_err();
    let problems = problems(err);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0]
            .message
            .contains("LEVIBOT__RISK____MAX_POSITIONS")
    );
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.yaml");
    let err = ConfigLoader::new().file(&path).load().unwrap_err();
    assert!(
        matches!(&err, ConfigError::Io { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert!(err.problems().is_empty());
}

#[rstest]
#[case("risk: [unclosed\n")]
#[case("- just\n- a list\n")]
#[case("42\n")]
fn malformed_yaml_is_a_yaml_error(#[case] yaml: &str) {
    let (_dir, path) = write_config(yaml);
    let err = ConfigLoader::new().file(&path).load().unwrap_err();
    assert!(
        matches!(&err, ConfigError::Yaml { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().contains(&path.display().to_string()));
}

#[test]
fn loader_debug_hides_values() {
    let loader = ConfigLoader::new()
        .env(env(&[("LEVIBOT__EXCHANGE__API_SECRET", "hunter2")]))
        .set("exchange.api_key", "sekrit-key");
    let shown = format!("{loader:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("sekrit-key"), "{shown}");
    assert!(shown.contains("LEVIBOT__EXCHANGE__API_SECRET"), "{shown}");
}
