//! Validation, redaction, YAML output and service endpoints of a loaded configuration.

// Helpers outside `#[test]` functions: a failed setup should abort the test.
#![allow(clippy::unwrap_used, clippy::panic)]

use levibot_config::{
    Config, ConfigError, ConfigLoader, LaunchProfile, Problem, Secret, ServiceName,
};
use rstest::rstest;
use rust_decimal::Decimal;

fn problems(result: Result<(), ConfigError>) -> Vec<Problem> {
    match result {
        Err(ConfigError::Invalid(problems)) => problems,
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

#[rstest]
#[case(LaunchProfile::Conservative)]
#[case(LaunchProfile::Expansion)]
#[case(LaunchProfile::Full)]
fn presets_validate(#[case] profile: LaunchProfile) {
    let config = Config {
        profile,
        risk: profile.risk_preset(),
        ..Config::default()
    };
    config.validate().unwrap();
}

#[test]
fn validate_reports_every_problem_at_once() {
    let mut config = Config::default();
    config.risk.symbols = vec![
        "BTCUSDT".into(),
        "btcusdt".into(),
        "BTC/USDT".into(),
        "A_VERY_LONG_SYMBOL_NAME_X".into(),
    ];
    config.risk.max_positions = 0;
    config.risk.max_position_usd = Decimal::ZERO;
    config.risk.ess_max_drawdown_pct = Decimal::from(150);
    config.risk.min_confidence = -0.1;
    config.risk.daily_loss_limit_usd = Decimal::from(-5);
    config.store.database_url = "mysql://root:hunter2@db/levibot".into();
    config.bus.redis_url = Some("http://cache:6379".into());
    config.telemetry.otlp_endpoint = Some("grpc://otel:4317".into());
    config.telemetry.log_filter = "  ".into();
    config.models.dir = "".into();
    config.exchange.api_key = Some(Secret::new("key"));
    config.services.ai_engine.grpc_listen = config.services.backend.grpc_listen;
    config.services.portfolio.metrics_listen = config.gateway.listen;
    config.services.policy_store.grpc_url = Some("policy-store:50056".into());

    let problems = problems(config.validate());
    let expected: &[(&str, &[&str])] = &[
        ("risk.symbols", &["duplicate symbol `BTCUSDT`"]),
        ("risk.symbols", &["invalid symbol `BTC/USDT`"]),
        (
            "risk.symbols",
            &["invalid symbol `A_VERY_LONG_SYMBOL_NAME_X`"],
        ),
        ("risk.max_positions", &["must be at least 1, got 0"]),
        ("risk.max_position_usd", &["greater than 0", "got 0"]),
        ("risk.ess_max_drawdown_pct", &["at most 100", "got 150"]),
        ("risk.min_confidence", &["between 0 and 1", "got -0.1"]),
        ("risk.daily_loss_limit_usd", &["greater than 0", "got -5"]),
        (
            "store.database_url",
            &["postgres://", "mysql://root:***@db/levibot"],
        ),
        ("bus.redis_url", &["redis://", "http://cache:6379"]),
        ("telemetry.otlp_endpoint", &["http://", "grpc://otel:4317"]),
        ("telemetry.log_filter", &["must not be empty"]),
        ("models.dir", &["must not be empty"]),
        (
            "exchange.api_secret",
            &["must be set when exchange.api_key is set"],
        ),
        (
            "services.ai_engine.grpc_listen",
            &["127.0.0.1:50051", "services.backend.grpc_listen"],
        ),
        (
            "services.portfolio.metrics_listen",
            &["127.0.0.1:8000", "gateway.listen"],
        ),
        (
            "services.policy_store.grpc_url",
            &["http://", "policy-store:50056"],
        ),
    ];
    for (key, fragments) in expected {
        assert_problem(&problems, key, fragments);
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    // Problem messages must not leak the database password either.
    assert!(!format!("{problems:?}").contains("hunter2"));
}

#[test]
fn empty_symbol_list_is_rejected() {
    let mut config = Config::default();
    config.risk.symbols.clear();
    let problems = problems(config.validate());
    assert_problem(&problems, "risk.symbols", &["at least one symbol"]);
}

#[rstest]
#[case("postgres://u:p@h/db")]
#[case("postgresql://h/db")]
#[case("sqlite://var/levibot.db")]
#[case("sqlite::memory:")]
fn accepted_database_urls(#[case] url: &str) {
    let mut config = Config::default();
    config.store.database_url = url.into();
    config.validate().unwrap();
}

#[test]
fn port_zero_may_repeat() {
    let mut config = Config::default();
    for name in ServiceName::ALL {
        let endpoint = config.services.endpoint_mut(name);
        endpoint.grpc_listen = "127.0.0.1:0".parse().unwrap();
        endpoint.metrics_listen = "127.0.0.1:0".parse().unwrap();
    }
    config.gateway.listen = "127.0.0.1:0".parse().unwrap();
    config.validate().unwrap();
}

fn config_with_secrets() -> Config {
    let mut config = Config::default();
    config.exchange.api_key = Some(Secret::new("key-AKIA-1234"));
    config.exchange.api_secret = Some(Secret::new("secret-hunter2"));
    config.store.database_url = "postgres://levi:db-pa55word@db:5432/levibot".into();
    config.bus.redis_url = Some("rediss://default:redis-pa55@cache:6380".into());
    config
}

const SECRETS: [&str; 4] = [
    "key-AKIA-1234",
    "secret-hunter2",
    "db-pa55word",
    "redis-pa55",
];

#[test]
fn debug_never_shows_secrets() {
    let config = config_with_secrets();
    config.validate().unwrap();
    for shown in [format!("{config:?}"), format!("{config:#?}")] {
        for secret in SECRETS {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
        assert!(
            shown.contains("postgres://levi:***@db:5432/levibot"),
            "{shown}"
        );
        assert!(shown.contains("rediss://default:***@cache:6380"), "{shown}");
    }
    assert_eq!(
        config.exchange.api_key.as_ref().unwrap().expose(),
        "key-AKIA-1234"
    );
}

#[test]
fn to_yaml_never_shows_secrets() {
    let yaml = config_with_secrets().to_yaml();
    for secret in SECRETS {
        assert!(!yaml.contains(secret), "{secret} leaked in {yaml}");
    }
    assert!(
        yaml.contains("api_key: '***'") || yaml.contains("api_key: \"***\""),
        "{yaml}"
    );
    assert!(
        yaml.contains("postgres://levi:***@db:5432/levibot"),
        "{yaml}"
    );
}

#[test]
fn secrets_load_from_env_and_stay_hidden() {
    let config = ConfigLoader::new()
        .env([
            (
                "LEVIBOT__EXCHANGE__API_KEY".to_owned(),
                "key-AKIA-1234".to_owned(),
            ),
            (
                "LEVIBOT__EXCHANGE__API_SECRET".to_owned(),
                "secret-hunter2".to_owned(),
            ),
        ])
        .load()
        .unwrap();
    assert!(config.exchange.has_credentials());
    assert_eq!(
        config.exchange.api_secret.as_ref().unwrap().expose(),
        "secret-hunter2"
    );
    let shown = format!("{config:?}\n{}", config.to_yaml());
    assert!(
        !shown.contains("hunter2") && !shown.contains("AKIA"),
        "{shown}"
    );
}

#[test]
fn dumped_secret_placeholder_is_rejected() {
    let mut config = config_with_secrets();
    config.exchange.api_secret = Some(Secret::new("***"));
    let problems = problems(config.validate());
    assert_problem(&problems, "exchange.api_secret", &["placeholder"]);
}

#[rstest]
#[case(LaunchProfile::Conservative)]
#[case(LaunchProfile::Full)]
fn to_yaml_loads_back(#[case] profile: LaunchProfile) {
    let mut config = Config {
        profile,
        risk: profile.risk_preset(),
        ..Config::default()
    };
    config.risk.max_positions = 2;
    config.bus.redis_url = Some("redis://cache:6379".into());
    config.services.health_aggregator.grpc_url = Some("http://health:50057".into());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shown.yaml");
    std::fs::write(&path, config.to_yaml()).unwrap();
    let loaded = ConfigLoader::new().file(&path).load().unwrap();
    assert_eq!(loaded, config);
}

#[rstest]
#[case(ServiceName::Backend, "0.0.0.0:50051", "http://127.0.0.1:50051")]
#[case(ServiceName::AiEngine, "[::]:50052", "http://127.0.0.1:50052")]
#[case(
    ServiceName::HealthAggregator,
    "10.0.0.7:50057",
    "http://10.0.0.7:50057"
)]
fn grpc_url_is_derived_from_listen(
    #[case] service: ServiceName,
    #[case] listen: &str,
    #[case] expected: &str,
) {
    let key = format!("services.{}.grpc_listen", service.config_key());
    let config = ConfigLoader::new().set(&key, listen).load().unwrap();
    assert_eq!(config.service(service).grpc_url(), expected);
}

#[rstest]
fn service_names_round_trip(
    #[values(
        ServiceName::Backend,
        ServiceName::AiEngine,
        ServiceName::Portfolio,
        ServiceName::TradeStore,
        ServiceName::AutomlCron,
        ServiceName::PolicyStore,
        ServiceName::HealthAggregator
    )]
    service: ServiceName,
) {
    assert!(ServiceName::ALL.contains(&service));
    assert_eq!(service.as_str().parse::<ServiceName>().unwrap(), service);
    assert_eq!(
        service.config_key().parse::<ServiceName>().unwrap(),
        service
    );
    assert_eq!(service.to_string().parse::<ServiceName>().unwrap(), service);
    assert!(!service.as_str().contains('_'));
    assert_eq!(service.as_str().replace('-', "_"), service.config_key());
}
