use levibot_core::Symbol;

/// Quote assets recognised by default when splitting a symbol into base and quote.
pub const DEFAULT_QUOTE_ASSETS: [&str; 10] = [
    "USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "USD",
];

/// A symbol's base and quote assets, e.g. `BTCUSDT` → `BTC` / `USDT`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssetPair {
    /// What is bought and sold.
    pub base: String,
    /// What it is priced (and, on the paper exchange, charged fees) in.
    pub quote: String,
}

impl AssetPair {
    /// Splits `symbol` at the longest of `quote_assets` it ends with (leaving a non-empty
    /// base): `BTCFDUSD` → `BTC`/`FDUSD` even with `USD` in the list. `None` if none fits.
    #[must_use]
    pub fn split<S: AsRef<str>>(symbol: Symbol, quote_assets: &[S]) -> Option<Self> {
        let text = symbol.as_str();
        quote_assets
            .iter()
            .map(AsRef::as_ref)
            .filter(|quote| text.len() > quote.len() && text.ends_with(quote))
            .max_by_key(|quote| quote.len())
            .map(|quote| Self {
                base: text[..text.len() - quote.len()].to_owned(),
                quote: quote.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("BTCUSDT", "BTC", "USDT")]
    #[case("ETHBTC", "ETH", "BTC")]
    #[case("BTCFDUSD", "BTC", "FDUSD")]
    #[case("BNBETH", "BNB", "ETH")]
    #[case("SOLUSD", "SOL", "USD")]
    #[case("BTCUSDC", "BTC", "USDC")]
    fn splits_known_quotes(#[case] symbol: &str, #[case] base: &str, #[case] quote: &str) {
        let pair = AssetPair::split(Symbol::new(symbol).unwrap(), &DEFAULT_QUOTE_ASSETS).unwrap();
        assert_eq!((pair.base.as_str(), pair.quote.as_str()), (base, quote));
    }

    #[test]
    fn unknown_quote_or_empty_base_is_none() {
        assert_eq!(
            AssetPair::split(Symbol::new("ABCXYZ").unwrap(), &DEFAULT_QUOTE_ASSETS),
            None
        );
        assert_eq!(
            AssetPair::split(Symbol::new("USDT").unwrap(), &DEFAULT_QUOTE_ASSETS),
            None
        );
    }
}
