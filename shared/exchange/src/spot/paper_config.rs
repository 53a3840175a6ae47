use std::collections::BTreeMap;

use levibot_core::Symbol;
use rust_decimal::Decimal;
use thiserror::Error;

use super::asset_pair::DEFAULT_QUOTE_ASSETS;
use super::symbol_rules::SymbolRules;

/// How the paper exchange fills and charges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperConfig {
    /// Fee of every fill, in basis points of its notional, charged in the quote asset
    /// (10 = 0.1 %, Binance's base spot rate).
    pub fee_bps: Decimal,
    /// Market orders fill this many basis points worse than the reference price (above it for
    /// buys, below for sells).
    pub slippage_bps: Decimal,
    /// The share of a bar's volume (0 < share ≤ 1) that the orders of its symbol may fill on
    /// that bar together, oldest order first; the rest carries to the next bars. `None`: no cap.
    pub max_volume_share: Option<Decimal>,
    /// Quote assets a symbol may end with (the longest match wins): `BTCUSDT` → `BTC`/`USDT`.
    pub quote_assets: Vec<String>,
    /// Free balances at the start, by asset.
    pub initial_balances: BTreeMap<String, Decimal>,
    /// The trading rules the paper exchange reports for these symbols
    /// ([`SpotExchange::symbol_rules`](super::SpotExchange::symbol_rules)); a symbol without
    /// an entry has none, and its users keep their defaults. Reported only: orders are not
    /// checked against them. Empty by default.
    pub symbol_rules: BTreeMap<Symbol, SymbolRules>,
}

impl Default for PaperConfig {
    /// 10 bps fees, 5 bps slippage, at most 10 % of a bar's volume, the default quote assets,
    /// no money, no symbol rules.
    fn default() -> Self {
        Self {
            fee_bps: Decimal::TEN,
            slippage_bps: Decimal::new(5, 0),
            max_volume_share: Some(Decimal::new(1, 1)),
            quote_assets: DEFAULT_QUOTE_ASSETS
                .iter()
                .map(|q| (*q).to_owned())
                .collect(),
            initial_balances: BTreeMap::new(),
            symbol_rules: BTreeMap::new(),
        }
    }
}

/// A [`PaperConfig`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PaperConfigError {
    /// `fee_bps` or `slippage_bps` outside 0..=10000.
    #[error("{name} must be within 0..=10000 bps, got {value}")]
    BpsOutOfRange {
        /// Which setting.
        name: &'static str,
        /// Its value.
        value: Decimal,
    },
    /// `max_volume_share` not in (0, 1].
    #[error("max_volume_share must be in (0, 1], got {0}")]
    VolumeShareOutOfRange(Decimal),
    /// A negative starting balance.
    #[error("initial balance of {asset} is negative: {amount}")]
    NegativeBalance {
        /// The asset.
        asset: String,
        /// The amount.
        amount: Decimal,
    },
    /// No quote assets.
    #[error("quote_assets must not be empty")]
    NoQuoteAssets,
    /// A `symbol_rules` entry whose rules are another symbol's.
    #[error("symbol_rules.{key} holds the rules of {rules_for}")]
    SymbolRulesMismatch {
        /// The entry's key.
        key: Symbol,
        /// The symbol its rules name.
        rules_for: Symbol,
    },
}

impl PaperConfig {
    /// Checks every setting; the first problem found.
    ///
    /// # Errors
    ///
    /// See [`PaperConfigError`].
    pub fn validate(&self) -> Result<(), PaperConfigError> {
        let max_bps = Decimal::new(10_000, 0);
        for (name, value) in [
            ("fee_bps", self.fee_bps),
            ("slippage_bps", self.slippage_bps),
        ] {
            if value.is_sign_negative() || value > max_bps {
                return Err(PaperConfigError::BpsOutOfRange { name, value });
            }
        }
        if let Some(share) = self.max_volume_share
            && (share <= Decimal::ZERO || share > Decimal::ONE)
        {
            return Err(PaperConfigError::VolumeShareOutOfRange(share));
        }
        if let Some((asset, amount)) = self
            .initial_balances
            .iter()
            .find(|(_, amount)| amount.is_sign_negative())
        {
            return Err(PaperConfigError::NegativeBalance {
                asset: asset.clone(),
                amount: *amount,
            });
        }
        if self.quote_assets.is_empty() {
            return Err(PaperConfigError::NoQuoteAssets);
        }
        if let Some((key, rules)) = self
            .symbol_rules
            .iter()
            .find(|(key, rules)| **key != rules.symbol)
        {
            return Err(PaperConfigError::SymbolRulesMismatch {
                key: *key,
                rules_for: rules.symbol,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn validates_settings() {
        assert_eq!(PaperConfig::default().validate(), Ok(()));
        let bad_fee = PaperConfig {
            fee_bps: dec!(-1),
            ..PaperConfig::default()
        };
        assert!(matches!(
            bad_fee.validate(),
            Err(PaperConfigError::BpsOutOfRange {
                name: "fee_bps",
                ..
            })
        ));
        let bad_share = PaperConfig {
            max_volume_share: Some(dec!(1.5)),
            ..PaperConfig::default()
        };
        assert_eq!(
            bad_share.validate(),
            Err(PaperConfigError::VolumeShareOutOfRange(dec!(1.5)))
        );
        let bad_balance = PaperConfig {
            initial_balances: BTreeMap::from([("USDT".to_owned(), dec!(-5))]),
            ..PaperConfig::default()
        };
        assert!(bad_balance.validate().is_err());
        let btc = Symbol::new("BTCUSDT").unwrap();
        let eth = Symbol::new("ETHUSDT").unwrap();
        let swapped = PaperConfig {
            symbol_rules: BTreeMap::from([(btc, SymbolRules::unrestricted(eth, "ETH", "USDT"))]),
            ..PaperConfig::default()
        };
        assert_eq!(
            swapped.validate(),
            Err(PaperConfigError::SymbolRulesMismatch {
                key: btc,
                rules_for: eth
            })
        );
    }
}
