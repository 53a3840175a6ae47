//! The risk policy document: its fields, its validation (every problem named at once), its
//! JSON form (the stored `document_json`) and its conversions to and from
//! `levibot.v1.RiskPolicy`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use levibot_config::{Config, LaunchProfile, RiskConfig, TradingConfig};
use levibot_core::TimestampMs;
use levibot_proto::v1;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The `profile` of a document that is no launch profile's preset.
pub const CUSTOM_PROFILE: &str = "custom";

/// How long a tripped ESS stays tripped before a reset may start, when a preset does not say.
pub const DEFAULT_ESS_COOLDOWN_MS: i64 = 15 * 60_000;

/// Longest allowed ESS cooldown and throttle window: one week.
const MAX_WINDOW_MS: i64 = 7 * 24 * 3_600_000;
/// Most symbols a policy may list.
const MAX_SYMBOLS: usize = 200;
/// Quote assets a symbol may end with.
const QUOTE_ASSETS: [&str; 8] = ["USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB"];

/// A cap on one symbol's position, below the policy-wide `max_position_usd`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolCap {
    /// The symbol (one of the policy's `symbols`).
    pub symbol: String,
    /// Largest position in USD, greater than 0.
    pub max_position_usd: Decimal,
}

/// The weight of one ensemble component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleWeight {
    /// `lightgbm`, `sequence`, `sentiment`, ...
    pub component: String,
    /// Non-negative, finite.
    pub weight: f64,
}

/// The risk policy every service trades under. Amounts and percentages are exact decimals;
/// `min_confidence` and ensemble weights are model quantities (floats).
///
/// Build one with [`PolicyDocument::from_proto`] or [`PolicyDocument::from_json`] (both
/// validate) or from a preset ([`PolicyDocument::from_profile`],
/// [`PolicyDocument::from_config`]); [`PolicyDocument::validate`] names every invalid field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// The launch profile it came from, or `custom`.
    pub profile: String,
    /// Tradable symbols, e.g. `BTCUSDT` (upper case, ending in a quote asset).
    pub symbols: Vec<String>,
    /// Most open positions at once, at least 1.
    pub max_positions: u32,
    /// Largest position in USD, greater than 0.
    pub max_position_usd: Decimal,
    /// Tighter caps for some symbols.
    #[serde(default)]
    pub symbol_caps: Vec<SymbolCap>,
    /// Loss in USD (since 00:00 UTC) that stops trading for the day and trips the ESS.
    pub daily_loss_limit_usd: Decimal,
    /// Drawdown in percent that trips the ESS, in (0, 100].
    pub ess_max_drawdown_pct: Decimal,
    /// Least model confidence to act on, in [0, 1].
    pub min_confidence: f64,
    /// At most this many signals per symbol per window, at least 1.
    pub throttle_max_signals: u32,
    /// The throttle window, in (0, 7 days].
    pub throttle_window_ms: i64,
    /// Ensemble component weights; empty means the ai-engine's own.
    #[serde(default)]
    pub ensemble_weights: Vec<EnsembleWeight>,
    /// Total exposure across symbols in USD, greater than 0; a breach trips the ESS.
    pub max_total_exposure_usd: Decimal,
    /// How long a tripped ESS stays tripped before a reset may start, in [0, 7 days].
    pub ess_cooldown_ms: i64,
    /// Whether a trip also flattens open positions (beyond cancelling working orders).
    #[serde(default)]
    pub ess_flatten_on_trip: bool,
}

/// A policy that was refused, with every problem found (`field: problem`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid policy: {}", .problems.join("; "))]
pub struct InvalidPolicy {
    /// One entry per problem, each starting with the field's name.
    pub problems: Vec<String>,
}

impl InvalidPolicy {
    fn one(problem: String) -> Self {
        Self {
            problems: vec![problem],
        }
    }
}

/// Collects problems while a document is checked.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, field: impl fmt::Display, problem: impl fmt::Display) {
        self.0.push(format!("{field}: {problem}"));
    }

    fn finish(self) -> Result<(), InvalidPolicy> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(InvalidPolicy { problems: self.0 })
        }
    }
}

/// Whether `symbol` has the exchange's canonical form: upper case letters and digits, a base
/// asset and one of [`QUOTE_ASSETS`].
fn symbol_problem(symbol: &str) -> Option<String> {
    let well_formed = (5..=20).contains(&symbol.len())
        && symbol
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && QUOTE_ASSETS
            .iter()
            .any(|quote| symbol.len() > quote.len() + 1 && symbol.ends_with(quote));
    (!well_formed).then(|| format!("unknown symbol format '{symbol}'"))
}

fn parse_decimal(problems: &mut Problems, field: &str, text: &str) -> Decimal {
    match Decimal::from_str(text.trim()) {
        Ok(value) => value,
        Err(_) => {
            problems.add(field, format_args!("not a decimal number: '{text}'"));
            Decimal::ZERO
        }
    }
}

impl PolicyDocument {
    /// The preset of `profile` (its risk section), with the exposure limit and throttle of
    /// `trading` (the service's configured trading section).
    pub fn from_profile(profile: LaunchProfile, trading: &TradingConfig) -> Self {
        Self::from_risk(profile.as_str(), &profile.risk_preset(), trading)
    }

    /// The policy of `config`: its launch profile with any explicitly configured risk keys over
    /// the preset, the exposure limit and throttle of its trading section.
    pub fn from_config(config: &Config) -> Self {
        Self::from_risk(config.profile.as_str(), &config.risk, &config.trading)
    }

    fn from_risk(profile: &str, risk: &RiskConfig, trading: &TradingConfig) -> Self {
        Self {
            profile: profile.to_owned(),
            symbols: risk.symbols.clone(),
            max_positions: risk.max_positions,
            max_position_usd: risk.max_position_usd,
            symbol_caps: Vec::new(),
            daily_loss_limit_usd: risk.daily_loss_limit_usd,
            ess_max_drawdown_pct: risk.ess_max_drawdown_pct,
            min_confidence: risk.min_confidence,
            throttle_max_signals: trading.throttle_max_signals,
            throttle_window_ms: trading.throttle_window_ms,
            ensemble_weights: Vec::new(),
            max_total_exposure_usd: trading.max_exposure_usd,
            ess_cooldown_ms: DEFAULT_ESS_COOLDOWN_MS,
            ess_flatten_on_trip: false,
        }
    }

    /// Parses and validates the document fields of `policy` (its version, `updated_*` and
    /// reason are the store's and ignored); every problem is named in the error.
    pub fn from_proto(policy: &v1::RiskPolicy) -> Result<Self, InvalidPolicy> {
        let mut problems = Problems::default();
        let max_position_usd =
            parse_decimal(&mut problems, "max_position_usd", &policy.max_position_usd);
        let daily_loss_limit_usd = parse_decimal(
            &mut problems,
            "daily_loss_limit_usd",
            &policy.daily_loss_limit_usd,
        );
        let ess_max_drawdown_pct = parse_decimal(
            &mut problems,
            "ess_max_drawdown_pct",
            &policy.ess_max_drawdown_pct,
        );
        let max_total_exposure_usd = parse_decimal(
            &mut problems,
            "max_total_exposure_usd",
            &policy.max_total_exposure_usd,
        );
        let symbol_caps = policy
            .symbol_caps
            .iter()
            .enumerate()
            .map(|(i, cap)| SymbolCap {
                symbol: cap.symbol.clone(),
                max_position_usd: parse_decimal(
                    &mut problems,
                    &format!("symbol_caps[{i}].max_position_usd"),
                    &cap.max_position_usd,
                ),
            })
            .collect();
        let profile = if policy.profile.trim().is_empty() {
            CUSTOM_PROFILE.to_owned()
        } else {
            policy.profile.trim().to_owned()
        };
        let document = Self {
            profile,
            symbols: policy.symbols.clone(),
            max_positions: policy.max_positions,
            max_position_usd,
            symbol_caps,
            daily_loss_limit_usd,
            ess_max_drawdown_pct,
            min_confidence: policy.min_confidence,
            throttle_max_signals: policy.throttle_max_signals,
            throttle_window_ms: policy.throttle_window_ms,
            ensemble_weights: policy
                .ensemble_weights
                .iter()
                .map(|w| EnsembleWeight {
                    component: w.component.clone(),
                    weight: w.weight,
                })
                .collect(),
            max_total_exposure_usd,
            ess_cooldown_ms: policy.ess_cooldown_ms,
            ess_flatten_on_trip: policy.ess_flatten_on_trip,
        };
        // fields that did not parse are reported once, not again as "must be > 0"
        let parse_problems = problems.0;
        match document.validate() {
            Ok(()) if parse_problems.is_empty() => Ok(document),
            Ok(()) => Err(InvalidPolicy {
                problems: parse_problems,
            }),
            Err(invalid) => {
                let mut all = parse_problems.clone();
                all.extend(invalid.problems.into_iter().filter(|p| {
                    !parse_problems
                        .iter()
                        .any(|q| q.split(':').next() == p.split(':').next())
                }));
                Err(InvalidPolicy { problems: all })
            }
        }
    }

    /// Parses and validates a stored or hand-written JSON document.
    pub fn from_json(json: &str) -> Result<Self, InvalidPolicy> {
        let document: Self = serde_json::from_str(json)
            .map_err(|err| InvalidPolicy::one(format!("document: {err}")))?;
        document.validate()?;
        Ok(document)
    }

    /// The JSON form (the stored `document_json`).
    pub fn to_json(&self) -> String {
        // A document of strings, numbers, booleans and lists always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The JSON form, indented for people.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The wire form of the document alone (version 0, no author): what `PutPolicy` takes.
    pub fn to_proto(&self) -> v1::RiskPolicy {
        v1::RiskPolicy {
            version: 0,
            profile: self.profile.clone(),
            symbols: self.symbols.clone(),
            max_positions: self.max_positions,
            max_position_usd: self.max_position_usd.to_string(),
            symbol_caps: self
                .symbol_caps
                .iter()
                .map(|cap| v1::SymbolCap {
                    symbol: cap.symbol.clone(),
                    max_position_usd: cap.max_position_usd.to_string(),
                })
                .collect(),
            daily_loss_limit_usd: self.daily_loss_limit_usd.to_string(),
            ess_max_drawdown_pct: self.ess_max_drawdown_pct.to_string(),
            min_confidence: self.min_confidence,
            throttle_max_signals: self.throttle_max_signals,
            throttle_window_ms: self.throttle_window_ms,
            ensemble_weights: self
                .ensemble_weights
                .iter()
                .map(|w| v1::EnsembleWeight {
                    component: w.component.clone(),
                    weight: w.weight,
                })
                .collect(),
            updated_ms: 0,
            updated_by: String::new(),
            max_total_exposure_usd: self.max_total_exposure_usd.to_string(),
            ess_cooldown_ms: self.ess_cooldown_ms,
            ess_flatten_on_trip: self.ess_flatten_on_trip,
            reason: String::new(),
        }
    }

    /// Checks every field; the error names each invalid one.
    pub fn validate(&self) -> Result<(), InvalidPolicy> {
        let mut p = Problems::default();
        let known_profile = self.profile == CUSTOM_PROFILE
            || LaunchProfile::ALL
                .iter()
                .any(|profile| profile.as_str() == self.profile);
        if !known_profile {
            p.add(
                "profile",
                format_args!(
                    "unknown profile '{}' (conservative, expansion, full or custom)",
                    self.profile
                ),
            );
        }
        if self.symbols.is_empty() {
            p.add("symbols", "must not be empty");
        }
        if self.symbols.len() > MAX_SYMBOLS {
            p.add("symbols", format_args!("at most {MAX_SYMBOLS} symbols"));
        }
        let mut seen = BTreeSet::new();
        for (i, symbol) in self.symbols.iter().enumerate() {
            if let Some(problem) = symbol_problem(symbol) {
                p.add(format_args!("symbols[{i}]"), problem);
            } else if !seen.insert(symbol.as_str()) {
                p.add(
                    format_args!("symbols[{i}]"),
                    format_args!("duplicate '{symbol}'"),
                );
            }
        }
        if self.max_positions == 0 {
            p.add("max_positions", "must be >= 1");
        }
        if self.max_position_usd <= Decimal::ZERO {
            p.add("max_position_usd", "must be > 0");
        }
        let mut capped = BTreeSet::new();
        for (i, cap) in self.symbol_caps.iter().enumerate() {
            if !self.symbols.contains(&cap.symbol) {
                p.add(
                    format_args!("symbol_caps[{i}].symbol"),
                    format_args!("'{}' is not in symbols", cap.symbol),
                );
            } else if !capped.insert(cap.symbol.as_str()) {
                p.add(
                    format_args!("symbol_caps[{i}].symbol"),
                    format_args!("duplicate '{}'", cap.symbol),
                );
            }
            if cap.max_position_usd <= Decimal::ZERO {
                p.add(
                    format_args!("symbol_caps[{i}].max_position_usd"),
                    "must be > 0",
                );
            }
        }
        if self.daily_loss_limit_usd <= Decimal::ZERO {
            p.add("daily_loss_limit_usd", "must be > 0");
        }
        if self.ess_max_drawdown_pct <= Decimal::ZERO
            || self.ess_max_drawdown_pct > Decimal::ONE_HUNDRED
        {
            p.add("ess_max_drawdown_pct", "must be in (0,100]");
        }
        if !(self.min_confidence.is_finite() && (0.0..=1.0).contains(&self.min_confidence)) {
            p.add("min_confidence", "must be in [0,1]");
        }
        if self.throttle_max_signals == 0 {
            p.add("throttle_max_signals", "must be >= 1");
        }
        if self.throttle_window_ms <= 0 || self.throttle_window_ms > MAX_WINDOW_MS {
            p.add(
                "throttle_window_ms",
                format_args!("must be in (0,{MAX_WINDOW_MS}]"),
            );
        }
        let mut components = BTreeSet::new();
        for (i, weight) in self.ensemble_weights.iter().enumerate() {
            if weight.component.trim().is_empty() {
                p.add(
                    format_args!("ensemble_weights[{i}].component"),
                    "must not be empty",
                );
            } else if !components.insert(weight.component.as_str()) {
                p.add(
                    format_args!("ensemble_weights[{i}].component"),
                    format_args!("duplicate '{}'", weight.component),
                );
            }
            if !(weight.weight.is_finite() && weight.weight >= 0.0) {
                p.add(
                    format_args!("ensemble_weights[{i}].weight"),
                    "must be finite and >= 0",
                );
            }
        }
        if !self.ensemble_weights.is_empty() {
            let sum: f64 = self.ensemble_weights.iter().map(|w| w.weight).sum();
            if !(sum.is_finite() && sum > 0.0) {
                p.add("ensemble_weights", "must sum to > 0");
            }
        }
        if self.max_total_exposure_usd <= Decimal::ZERO {
            p.add("max_total_exposure_usd", "must be > 0");
        }
        if self.ess_cooldown_ms < 0 || self.ess_cooldown_ms > MAX_WINDOW_MS {
            p.add(
                "ess_cooldown_ms",
                format_args!("must be in [0,{MAX_WINDOW_MS}]"),
            );
        }
        p.finish()
    }
}

/// Who stored a policy version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// The actor's name.
    pub name: String,
    /// The role it acted with.
    pub role: String,
}

/// One stored version of the policy.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPolicy {
    /// 1, 2, 3, ...
    pub version: u64,
    /// The document.
    pub document: PolicyDocument,
    /// When it was stored.
    pub created: TimestampMs,
    /// Who stored it.
    pub author: Author,
    /// Why.
    pub reason: String,
}

impl StoredPolicy {
    /// The wire form.
    pub fn to_proto(&self) -> v1::RiskPolicy {
        v1::RiskPolicy {
            version: self.version,
            updated_ms: self.created.as_i64(),
            updated_by: self.author.name.clone(),
            reason: self.reason.clone(),
            ..self.document.to_proto()
        }
    }

    /// A stored policy read back from its wire form (what a watcher receives), validated.
    pub fn from_proto(policy: &v1::RiskPolicy) -> Result<Self, InvalidPolicy> {
        if policy.version == 0 {
            return Err(InvalidPolicy::one("version: must be >= 1".to_owned()));
        }
        Ok(Self {
            version: policy.version,
            document: PolicyDocument::from_proto(policy)?,
            created: TimestampMs::new(policy.updated_ms),
            author: Author {
                name: policy.updated_by.clone(),
                role: String::new(),
            },
            reason: policy.reason.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use levibot_config::ConfigLoader;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    use super::*;

    fn valid() -> PolicyDocument {
        PolicyDocument::from_profile(LaunchProfile::Conservative, &TradingConfig::default())
    }

    fn stored(document: PolicyDocument) -> StoredPolicy {
        StoredPolicy {
            version: 3,
            document,
            created: TimestampMs::new(7),
            author: Author {
                name: "ops".into(),
                role: "admin".into(),
            },
            reason: "tighter".into(),
        }
    }

    #[test]
    fn each_launch_profile_becomes_a_valid_policy() {
        for profile in LaunchProfile::ALL {
            let config = ConfigLoader::new()
                .set("profile", profile.as_str())
                .load()
                .unwrap();
            let document = PolicyDocument::from_config(&config);
            let preset = profile.risk_preset();
            assert_eq!(document.profile, profile.as_str());
            assert_eq!(document.symbols, preset.symbols);
            assert_eq!(document.max_positions, preset.max_positions);
            assert_eq!(document.max_position_usd, preset.max_position_usd);
            assert_eq!(document.ess_max_drawdown_pct, preset.ess_max_drawdown_pct);
            assert_eq!(document.max_total_exposure_usd, dec!(5000));
            document.validate().unwrap();
            assert_eq!(
                PolicyDocument::from_profile(profile, &config.trading),
                document
            );
        }
    }

    #[test]
    fn explicit_keys_beat_the_preset() {
        let config = ConfigLoader::new()
            .set("profile", "full")
            .set("risk.max_positions", "4")
            .load()
            .unwrap();
        let document = PolicyDocument::from_config(&config);
        assert_eq!(document.profile, "full");
        assert_eq!(document.max_positions, 4);
        assert_eq!(document.symbols.len(), 20);
    }

    #[test]
    fn validation_names_every_bad_field() {
        let mut d = valid();
        d.profile = "yolo".into();
        d.symbols = vec![
            "BTCUSDT".into(),
            "ETHUSDT".into(),
            "btc".into(),
            "BTCUSDT".into(),
        ];
        d.max_positions = 0;
        d.max_position_usd = dec!(0);
        d.symbol_caps = vec![SymbolCap {
            symbol: "XRPUSDT".into(),
            max_position_usd: dec!(-1),
        }];
        d.daily_loss_limit_usd = dec!(-5);
        d.ess_max_drawdown_pct = dec!(100.5);
        d.min_confidence = 1.5;
        d.throttle_max_signals = 0;
        d.throttle_window_ms = 0;
        d.ensemble_weights = vec![
            EnsembleWeight {
                component: "lightgbm".into(),
                weight: -1.0,
            },
            EnsembleWeight {
                component: String::new(),
                weight: f64::NAN,
            },
        ];
        d.max_total_exposure_usd = dec!(0);
        d.ess_cooldown_ms = -1;
        let err = d.validate().unwrap_err();
        let text = err.to_string();
        for field in [
            "profile: unknown profile 'yolo'",
            "symbols[2]: unknown symbol format 'btc'",
            "symbols[3]: duplicate 'BTCUSDT'",
            "max_positions: must be >= 1",
            "max_position_usd: must be > 0",
            "symbol_caps[0].symbol: 'XRPUSDT' is not in symbols",
            "symbol_caps[0].max_position_usd: must be > 0",
            "daily_loss_limit_usd: must be > 0",
            "ess_max_drawdown_pct: must be in (0,100]",
            "min_confidence: must be in [0,1]",
            "throttle_max_signals: must be >= 1",
            "throttle_window_ms: must be in",
            "ensemble_weights[0].weight: must be finite and >= 0",
            "ensemble_weights[1].component: must not be empty",
            "ensemble_weights[1].weight: must be finite and >= 0",
            "ensemble_weights: must sum to > 0",
            "max_total_exposure_usd: must be > 0",
            "ess_cooldown_ms: must be in [0,",
        ] {
            assert!(text.contains(field), "missing {field:?} in {text}");
        }
        assert!(text.starts_with("invalid policy: "), "{text}");
        assert_eq!(err.problems.len(), 18, "{text}");
    }

    #[rstest]
    #[case("0", false)]
    #[case("0.01", true)]
    #[case("100", true)]
    #[case("100.0001", false)]
    #[case("-3", false)]
    fn drawdown_is_in_0_exclusive_to_100(#[case] pct: &str, #[case] ok: bool) {
        let mut d = valid();
        d.ess_max_drawdown_pct = pct.parse().unwrap();
        assert_eq!(d.validate().is_ok(), ok, "{pct}");
    }

    #[rstest]
    #[case("BTCUSDT", true)]
    #[case("ETHBTC", true)]
    #[case("1000SATSUSDT", true)]
    #[case("btcusdt", false)]
    #[case("USDT", false)]
    #[case("BTC-USDT", false)]
    #[case("BTCEUR", false)]
    #[case("", false)]
    fn symbols_must_have_the_exchange_form(#[case] symbol: &str, #[case] ok: bool) {
        assert_eq!(symbol_problem(symbol).is_none(), ok, "{symbol}");
    }

    #[test]
    fn ensemble_weights_may_be_zero_but_not_all_zero() {
        let mut d = valid();
        d.ensemble_weights = vec![
            EnsembleWeight {
                component: "lightgbm".into(),
                weight: 0.0,
            },
            EnsembleWeight {
                component: "sequence".into(),
                weight: 1.0,
            },
        ];
        d.validate().unwrap();
        d.ensemble_weights[1].weight = 0.0;
        assert_eq!(
            d.validate().unwrap_err().problems,
            ["ensemble_weights: must sum to > 0"]
        );
    }

    #[test]
    fn the_wire_form_round_trips_and_bad_numbers_are_named_once() {
        let mut d = valid();
        d.symbol_caps = vec![SymbolCap {
            symbol: "BTCUSDT".into(),
            max_position_usd: dec!(500.5),
        }];
        d.ess_flatten_on_trip = true;
        let policy = stored(d.clone());
        let wire = policy.to_proto();
        assert_eq!(wire.version, 3);
        assert_eq!(wire.max_position_usd, "1000");
        assert_eq!(StoredPolicy::from_proto(&wire).unwrap().document, d);

        let mut bad = wire;
        bad.max_position_usd = "lots".into();
        bad.symbol_caps[0].max_position_usd = "1e".into();
        bad.min_confidence = -0.1;
        let err = PolicyDocument::from_proto(&bad).unwrap_err();
        assert_eq!(
            err.problems,
            [
                "max_position_usd: not a decimal number: 'lots'",
                "symbol_caps[0].max_position_usd: not a decimal number: '1e'",
                "min_confidence: must be in [0,1]",
            ]
        );
    }

    #[test]
    fn the_json_form_round_trips_and_refuses_unknown_fields() {
        let d = valid();
        assert_eq!(PolicyDocument::from_json(&d.to_json()).unwrap(), d);
        assert_eq!(PolicyDocument::from_json(&d.to_json_pretty()).unwrap(), d);
        let json = d.to_json().replacen('{', "{\"leverage\":10,", 1);
        let err = PolicyDocument::from_json(&json).unwrap_err().to_string();
        assert!(err.contains("unknown field `leverage`"), "{err}");
        let mut bad = d;
        bad.max_positions = 0;
        assert!(
            PolicyDocument::from_json(&bad.to_json())
                .unwrap_err()
                .to_string()
                .contains("max_positions: must be >= 1")
        );
    }
}
