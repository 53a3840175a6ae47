use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ParseNameError;
use crate::model::RiskConfig;

/// How aggressively the system trades; each profile presets the `risk` section.
///
/// Any risk key set explicitly (file, environment or `--set`) overrides the preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LaunchProfile {
    /// Three majors, small positions, tight drawdown stop.
    #[default]
    Conservative,
    /// Ten liquid pairs, larger positions.
    Expansion,
    /// Twenty pairs, the widest limits.
    Full,
}

const CONSERVATIVE_SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "BNBUSDT"];
const EXPANSION_SYMBOLS: [&str; 10] = [
    "BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "AVAXUSDT",
    "LINKUSDT", "DOTUSDT",
];
const FULL_EXTRA_SYMBOLS: [&str; 10] = [
    "LTCUSDT", "TRXUSDT", "ATOMUSDT", "NEARUSDT", "UNIUSDT", "APTUSDT", "ARBUSDT", "OPUSDT",
    "FILUSDT", "ETCUSDT",
];

fn symbols(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

impl LaunchProfile {
    /// Every profile, from the most to the least cautious.
    pub const ALL: [LaunchProfile; 3] = [Self::Conservative, Self::Expansion, Self::Full];

    /// The lowercase name used in configuration files and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Conservative => "conservative",
            Self::Expansion => "expansion",
            Self::Full => "full",
        }
    }

    /// The risk limits this profile starts from.
    ///
    /// - conservative: BTC, ETH, BNB; 3 positions of at most 1000 USD; 3.0% drawdown
    ///   stop; confidence 0.60; daily loss limit 300 USD.
    /// - expansion: ten pairs; 10 positions of at most 2000 USD; 5.0% drawdown stop;
    ///   confidence 0.50; daily loss limit 1000 USD.
    /// - full: twenty pairs; 20 positions; 5.0% drawdown stop; confidence 0.45; daily loss
    ///   limit 2500 USD. The product history gave no position size for this profile:
    ///   5000 USD per position is our choice.
    pub fn risk_preset(self) -> RiskConfig {
        match self {
            Self::Conservative => RiskConfig {
                symbols: symbols(&CONSERVATIVE_SYMBOLS),
                max_positions: 3,
                max_position_usd: Decimal::from(1000),
                ess_max_drawdown_pct: Decimal::new(30, 1),
                min_confidence: 0.60,
                daily_loss_limit_usd: Decimal::from(300),
            },
            Self::Expansion => RiskConfig {
                symbols: symbols(&EXPANSION_SYMBOLS),
                max_positions: 10,
                max_position_usd: Decimal::from(2000),
                ess_max_drawdown_pct: Decimal::new(50, 1),
                min_confidence: 0.50,
                daily_loss_limit_usd: Decimal::from(1000),
            },
            Self::Full => {
                let mut all = symbols(&EXPANSION_SYMBOLS);
                all.extend(symbols(&FULL_EXTRA_SYMBOLS));
                RiskConfig {
                    symbols: all,
                    max_positions: 20,
                    // Not in the product history: our choice.
                    max_position_usd: Decimal::from(5000),
                    ess_max_drawdown_pct: Decimal::new(50, 1),
                    min_confidence: 0.45,
                    daily_loss_limit_usd: Decimal::from(2500),
                }
            }
        }
    }
}

impl fmt::Display for LaunchProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LaunchProfile {
    type Err = ParseNameError;

    /// Parses a profile name, ignoring case and surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ParseNameError {
                kind: "launch profile",
                value: s.to_owned(),
                expected: Self::ALL.iter().map(|p| p.as_str()).collect(),
            })
    }
}

impl Serialize for LaunchProfile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LaunchProfile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(LaunchProfile::Conservative, 3, 3)]
    #[case(LaunchProfile::Expansion, 10, 10)]
    #[case(LaunchProfile::Full, 20, 20)]
    fn presets_have_expected_sizes(
        #[case] profile: LaunchProfile,
        #[case] symbols: usize,
        #[case] positions: u32,
    ) {
        let preset = profile.risk_preset();
        assert_eq!(preset.symbols.len(), symbols);
        assert_eq!(preset.max_positions, positions);
        assert_eq!(profile.as_str().parse::<LaunchProfile>().unwrap(), profile);
    }

    #[test]
    fn unknown_profile_lists_valid_names() {
        let err = "aggressive".parse::<LaunchProfile>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown launch profile `aggressive`, expected one of: conservative, expansion, full"
        );
    }
}
