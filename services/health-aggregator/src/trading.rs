//! The checks that ask the trading services: policy loaded and ESS armed (policy-store),
//! market data fresh (backend's engines), champion model loaded and young enough (ai-engine).

use std::{collections::BTreeSet, time::Duration};

use futures::future::join_all;
use levibot_config::{Config, SignalSourceKind};
use levibot_core::Interval;
use levibot_proto::v1::{
    self, ai_engine_service_client::AiEngineServiceClient,
    backend_service_client::BackendServiceClient,
    policy_store_service_client::PolicyStoreServiceClient,
};

use crate::checks::{answered, connect};

const HOUR_MS: i64 = 3_600_000;

/// `ms` as a short human duration: `42 s`, `7 min`, `3 h`, `2 d`.
pub(crate) fn human_ms(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        _ if s < 600 => format!("{s} s"),
        _ if s < 2 * 3600 => format!("{} min", s / 60),
        _ if s < 2 * 86_400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// Policy loaded: the policy-store answers `GetPolicy` with a policy that names symbols.
pub(crate) async fn check_policy(url: String, timeout: Duration) -> Result<String, String> {
    let mut client = PolicyStoreServiceClient::new(connect(&url, timeout).await?);
    let policy = client
        .get_policy(v1::GetPolicyRequest {})
        .await
        .map_err(|s| answered("policy", &url, &s))?
        .into_inner();
    judge_policy(&policy)
}

/// Whether `policy` is a loaded policy.
pub(crate) fn judge_policy(policy: &v1::RiskPolicy) -> Result<String, String> {
    if policy.symbols.is_empty() {
        return Err(format!(
            "no policy loaded: version {} names no symbol",
            policy.version
        ));
    }
    let profile = if policy.profile.is_empty() {
        "custom"
    } else {
        policy.profile.as_str()
    };
    Ok(format!(
        "version {} ({profile}), {} symbols",
        policy.version,
        policy.symbols.len()
    ))
}

/// ESS armed: the policy-store answers `GetEss` with `ARMED`. Anything else (tripped,
/// resetting, unknown, no answer) fails: an ESS whose state is unknown protects nothing.
pub(crate) async fn check_ess(url: String, timeout: Duration) -> Result<String, String> {
    let mut client = PolicyStoreServiceClient::new(connect(&url, timeout).await?);
    let ess = client
        .get_ess(v1::GetEssRequest {})
        .await
        .map_err(|s| answered("ESS state", &url, &s))?
        .into_inner();
    judge_ess(&ess)
}

/// Whether `ess` is armed.
pub(crate) fn judge_ess(ess: &v1::EssStatus) -> Result<String, String> {
    let reason = if ess.reason.is_empty() {
        String::new()
    } else {
        format!(": {}", ess.reason)
    };
    match ess.state() {
        v1::EssState::Armed => Ok(format!("armed (policy version {})", ess.policy_version)),
        v1::EssState::Tripped => Err(format!(
            "TRIPPED by {} since {}{reason}",
            if ess.trigger.is_empty() {
                "an unknown trigger"
            } else {
                ess.trigger.as_str()
            },
            ess.since_ms
        )),
        v1::EssState::Resetting => Err(format!("resetting since {}{reason}", ess.since_ms)),
        v1::EssState::Unspecified => Err("state unknown (UNSPECIFIED)".to_owned()),
    }
}

/// Market data fresh: every engine of the backend (and, when engines are enabled, one per
/// `risk.symbols` entry) has a last bar that closed at most `health.market_data_stale_after_ms`
/// ago.
pub(crate) async fn check_market_data(
    config: &Config,
    timeout: Duration,
    now_ms: i64,
) -> Result<String, String> {
    if !config.trading.engines_enabled {
        return Ok("not required: no engines run (trading.engines_enabled is false)".to_owned());
    }
    let url = config.services.backend.grpc_url();
    let mut client = BackendServiceClient::new(connect(&url, timeout).await?);
    let engines = client
        .list_engines(v1::ListEnginesRequest {})
        .await
        .map_err(|s| answered("engine list", &url, &s))?
        .into_inner()
        .engines;
    let interval_ms = config
        .market_data
        .interval
        .parse::<Interval>()
        .map_or(0, Interval::duration_ms);
    judge_market_data(
        &engines,
        &config.risk.symbols,
        &Freshness {
            now_ms,
            interval_ms,
            stale_after_ms: config.health.market_data_stale_after_ms,
        },
    )
}

/// What "fresh" means for [`judge_market_data`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Freshness {
    /// Now (epoch ms).
    pub(crate) now_ms: i64,
    /// Bar length: a bar closes this long after it opens.
    pub(crate) interval_ms: i64,
    /// A bar that closed longer ago than this is stale.
    pub(crate) stale_after_ms: i64,
}

/// Whether every symbol in `expected` or among `engines` has a fresh last bar.
pub(crate) fn judge_market_data(
    engines: &[v1::EngineStatus],
    expected: &[String],
    freshness: &Freshness,
) -> Result<String, String> {
    let symbols: BTreeSet<&str> = expected
        .iter()
        .map(String::as_str)
        .chain(engines.iter().map(|e| e.symbol.as_str()))
        .collect();
    if symbols.is_empty() {
        return Ok("no symbols to trade".to_owned());
    }
    let (mut fresh, mut stale) = (Vec::new(), Vec::new());
    for symbol in symbols {
        let Some(engine) = engines.iter().find(|e| e.symbol == symbol) else {
            stale.push(format!("{symbol} has no engine"));
            continue;
        };
        let state = match engine.state() {
            v1::EngineState::Running => String::new(),
            other => format!(
                ", engine {}",
                other
                    .as_str_name()
                    .trim_start_matches("ENGINE_STATE_")
                    .to_ascii_lowercase()
            ),
        };
        if engine.last_bar_open_time_ms <= 0 {
            stale.push(format!("{symbol} has no bar yet{state}"));
            continue;
        }
        let closed = engine
            .last_bar_open_time_ms
            .saturating_add(freshness.interval_ms);
        let age = freshness.now_ms.saturating_sub(closed).max(0);
        if age > freshness.stale_after_ms {
            stale.push(format!(
                "{symbol} last bar closed {} ago{state}",
                human_ms(age)
            ));
        } else {
            fresh.push(format!("{symbol} {}", human_ms(age)));
        }
    }
    if stale.is_empty() {
        Ok(format!("fresh: {}", fresh.join(", ")))
    } else {
        Err(format!(
            "stale (limit {}): {}",
            human_ms(freshness.stale_after_ms),
            stale.join(", ")
        ))
    }
}

/// Model loaded: with the `ai` signal source, the ai-engine serves a champion per
/// `risk.symbols` entry, no older than `health.model_max_age_hours`. With `ema_cross` no model
/// is needed.
pub(crate) async fn check_model(
    config: &Config,
    timeout: Duration,
    now_ms: i64,
) -> Result<String, String> {
    if config.trading.signal_source == SignalSourceKind::EmaCross {
        return Ok("not required: trading.signal_source is ema_cross".to_owned());
    }
    if config.risk.symbols.is_empty() {
        return Ok("no symbols to trade".to_owned());
    }
    let url = config.services.ai_engine.grpc_url();
    let client = AiEngineServiceClient::new(connect(&url, timeout).await?);
    let max_age_ms = i64::try_from(config.health.model_max_age_hours)
        .unwrap_or(i64::MAX / HOUR_MS)
        .saturating_mul(HOUR_MS);
    let cards = join_all(config.risk.symbols.iter().map(|symbol| {
        let mut client = client.clone();
        let url = &url;
        async move {
            let card = client
                .get_model_card(v1::GetModelCardRequest {
                    symbol: symbol.clone(),
                    version: String::new(),
                })
                .await
                .map(tonic::Response::into_inner)
                .map_err(|s| answered("model", url, &s));
            (symbol.as_str(), card)
        }
    }))
    .await;
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    // symbols the ai-engine refused the same way share one line
    let mut refused: Vec<(String, Vec<&str>)> = Vec::new();
    for (symbol, card) in cards {
        match card {
            Err(problem) => match refused.iter_mut().find(|(p, _)| *p == problem) {
                Some((_, symbols)) => symbols.push(symbol),
                None => refused.push((problem, vec![symbol])),
            },
            Ok(card) => match judge_model(&card, now_ms, max_age_ms) {
                Ok(detail) => good.push(format!("{symbol} {detail}")),
                Err(problem) => bad.push(problem),
            },
        }
    }
    bad.extend(
        refused
            .into_iter()
            .map(|(problem, symbols)| format!("{}: {problem}", symbols.join(", "))),
    );
    if bad.is_empty() {
        Ok(good.join(", "))
    } else {
        Err(bad.join("; "))
    }
}

/// Whether `card` is a loaded model no older than `max_age_ms`. Its age comes from the card
/// JSON's `created_ms` (as in the model registry); a card without one is loaded, age unknown.
pub(crate) fn judge_model(
    card: &v1::ModelCard,
    now_ms: i64,
    max_age_ms: i64,
) -> Result<String, String> {
    if card.version.is_empty() {
        return Err(format!("{} has no champion model", card.symbol));
    }
    let created_ms = serde_json::from_str::<serde_json::Value>(&card.card_json)
        .ok()
        .and_then(|json| json.get("created_ms").and_then(serde_json::Value::as_i64));
    match created_ms {
        None => Ok(format!("{} (age unknown)", card.version)),
        Some(created) => {
            let age = now_ms.saturating_sub(created).max(0);
            if age > max_age_ms {
                Err(format!(
                    "{} model {} is {} old (limit {})",
                    card.symbol,
                    card.version,
                    human_ms(age),
                    human_ms(max_age_ms)
                ))
            } else {
                Ok(format!("{} ({} old)", card.version, human_ms(age)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn engine(symbol: &str, last_open: i64, state: v1::EngineState) -> v1::EngineStatus {
        v1::EngineStatus {
            symbol: symbol.into(),
            state: state.into(),
            last_bar_open_time_ms: last_open,
            ..v1::EngineStatus::default()
        }
    }

    const FRESHNESS: Freshness = Freshness {
        now_ms: NOW,
        interval_ms: 60_000,
        stale_after_ms: 180_000,
    };

    #[test]
    fn market_data_is_fresh_when_every_bar_closed_recently() {
        let engines = [
            engine("BTCUSDT", NOW - 90_000, v1::EngineState::Running),
            engine("ETHUSDT", NOW - 60_000, v1::EngineState::Running),
        ];
        let ok = judge_market_data(&engines, &["BTCUSDT".into()], &FRESHNESS).unwrap();
        assert_eq!(ok, "fresh: BTCUSDT 30 s, ETHUSDT 0 s");
    }

    #[test]
    fn market_data_names_each_stale_symbol() {
        let engines = [
            engine("BTCUSDT", NOW - 60_000 - 181_000, v1::EngineState::Running),
            engine("ETHUSDT", 0, v1::EngineState::Crashed),
            engine("BNBUSDT", NOW - 60_000, v1::EngineState::Running),
        ];
        let expected = ["BTCUSDT".into(), "SOLUSDT".into()];
        let err = judge_market_data(&engines, &expected, &FRESHNESS).unwrap_err();
        assert_eq!(
            err,
            "stale (limit 180 s): BTCUSDT last bar closed 181 s ago, \
             ETHUSDT has no bar yet, engine crashed, SOLUSDT has no engine"
        );
    }

    #[rstest]
    #[case(v1::EssState::Armed, true, "armed (policy version 3)")]
    #[case(v1::EssState::Tripped, false, "TRIPPED by drawdown since 5: dd 12%")]
    #[case(v1::EssState::Resetting, false, "resetting since 5: dd 12%")]
    #[case(v1::EssState::Unspecified, false, "state unknown (UNSPECIFIED)")]
    fn ess_passes_only_when_armed(
        #[case] state: v1::EssState,
        #[case] ok: bool,
        #[case] detail: &str,
    ) {
        let ess = v1::EssStatus {
            state: state.into(),
            reason: "dd 12%".into(),
            since_ms: 5,
            trigger: "drawdown".into(),
            policy_version: 3,
            ..v1::EssStatus::default()
        };
        let judged = judge_ess(&ess);
        assert_eq!(judged.is_ok(), ok);
        assert_eq!(judged.unwrap_or_else(|e| e), detail);
    }

    #[test]
    fn a_policy_without_symbols_is_not_loaded() {
        let mut policy = v1::RiskPolicy {
            version: 2,
            profile: "conservative".into(),
            symbols: vec!["BTCUSDT".into()],
            ..v1::RiskPolicy::default()
        };
        assert_eq!(
            judge_policy(&policy).unwrap(),
            "version 2 (conservative), 1 symbols"
        );
        policy.symbols.clear();
        assert!(
            judge_policy(&policy)
                .unwrap_err()
                .contains("no policy loaded")
        );
    }

    #[test]
    fn model_age_comes_from_the_card() {
        let card = |version: &str, json: &str| v1::ModelCard {
            symbol: "BTCUSDT".into(),
            version: version.into(),
            card_json: json.into(),
        };
        let max = 48 * HOUR_MS;
        let young = format!(r#"{{"created_ms": {}}}"#, NOW - 3 * HOUR_MS);
        assert_eq!(
            judge_model(&card("v7", &young), NOW, max).unwrap(),
            "v7 (3 h old)"
        );
        let old = format!(r#"{{"created_ms": {}}}"#, NOW - 72 * HOUR_MS);
        assert_eq!(
            judge_model(&card("v7", &old), NOW, max).unwrap_err(),
            "BTCUSDT model v7 is 3 d old (limit 2 d)"
        );
        assert_eq!(
            judge_model(&card("v7", "not json"), NOW, max).unwrap(),
            "v7 (age unknown)"
        );
        assert!(judge_model(&card("", "{}"), NOW, max).is_err());
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_ms(5_000), "5 s");
        assert_eq!(human_ms(600_000), "10 min");
        assert_eq!(human_ms(5 * HOUR_MS), "5 h");
        assert_eq!(human_ms(72 * HOUR_MS), "3 d");
    }
}
