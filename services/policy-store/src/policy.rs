use levibot_config::Config;
use levibot_proto::v1;

/// Version number of the policy taken from the configuration at start-up.
pub const CONFIG_POLICY_VERSION: u64 = 1;

/// The risk policy document of `config`'s risk section (its launch profile, with any
/// explicitly configured keys over the preset), stamped at `now_ms`.
pub fn policy_from_config(config: &Config, now_ms: i64) -> v1::RiskPolicy {
    let risk = &config.risk;
    v1::RiskPolicy {
        version: CONFIG_POLICY_VERSION,
        profile: config.profile.as_str().to_owned(),
        symbols: risk.symbols.clone(),
        max_positions: risk.max_positions,
        max_position_usd: risk.max_position_usd.to_string(),
        symbol_caps: Vec::new(),
        daily_loss_limit_usd: risk.daily_loss_limit_usd.to_string(),
        ess_max_drawdown_pct: risk.ess_max_drawdown_pct.to_string(),
        min_confidence: risk.min_confidence,
        throttle_max_signals: 0,
        throttle_window_ms: 0,
        ensemble_weights: Vec::new(),
        updated_ms: now_ms,
        updated_by: "config".to_owned(),
        ..v1::RiskPolicy::default()
    }
}

#[cfg(test)]
mod tests {
    use levibot_config::{ConfigLoader, LaunchProfile};

    use super::*;

    #[test]
    fn each_launch_profile_becomes_its_policy() {
        for profile in LaunchProfile::ALL {
            let config = ConfigLoader::new()
                .set("profile", profile.as_str())
                .load()
                .unwrap();
            let policy = policy_from_config(&config, 7);
            let preset = profile.risk_preset();
            assert_eq!(policy.profile, profile.as_str());
            assert_eq!(policy.symbols, preset.symbols);
            assert_eq!(policy.max_positions, preset.max_positions);
            assert_eq!(policy.max_position_usd, preset.max_position_usd.to_string());
            assert_eq!(
                policy.ess_max_drawdown_pct,
                preset.ess_max_drawdown_pct.to_string()
            );
            assert_eq!(policy.updated_ms, 7);
        }
    }

    #[test]
    fn explicit_keys_beat_the_preset() {
        let config = ConfigLoader::new()
            .set("profile", "full")
            .set("risk.max_positions", "4")
            .load()
            .unwrap();
        let policy = policy_from_config(&config, 0);
        assert_eq!(policy.profile, "full");
        assert_eq!(policy.max_positions, 4);
        assert_eq!(policy.symbols.len(), 20);
    }
}
