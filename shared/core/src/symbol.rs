use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::serde_str::serde_via_str;

/// Maximum length of a [`Symbol`] in bytes.
pub const MAX_SYMBOL_LEN: usize = 20;

/// Error returned when a string is not a valid [`Symbol`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SymbolError {
    /// The input was empty.
    #[error("symbol must not be empty")]
    Empty,
    /// The input was longer than [`MAX_SYMBOL_LEN`].
    #[error("symbol {input:?} is {len} chars long, max is {MAX_SYMBOL_LEN}")]
    TooLong {
        /// The rejected input.
        input: String,
        /// Its length in chars.
        len: usize,
    },
    /// The input contained a character outside `[A-Z0-9._-]` (after uppercasing).
    #[error("symbol {input:?} contains invalid character {ch:?}, allowed are A-Z 0-9 . _ -")]
    InvalidChar {
        /// The rejected input.
        input: String,
        /// The first offending character.
        ch: char,
    },
}

/// An exchange symbol such as `BTCUSDT` or `BTC-PERP`.
///
/// Always uppercase, 1 to 20 characters of `[A-Z0-9._-]`. Stored inline, so
/// it is `Copy` and never allocates. Serializes as a string; deserialization
/// validates.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Symbol {
    bytes: [u8; MAX_SYMBOL_LEN],
    len: u8,
}

impl Symbol {
    /// Validates and builds a symbol.
    ///
    /// ASCII lowercase letters are uppercased (Binance stream names are
    /// lowercase); nothing is trimmed.
    ///
    /// # Errors
    ///
    /// Returns [`SymbolError`] if the input is empty, longer than 20 chars, or
    /// contains a character other than `[A-Za-z0-9._-]`.
    pub fn new(input: &str) -> Result<Self, SymbolError> {
        if input.is_empty() {
            return Err(SymbolError::Empty);
        }
        if let Some(ch) = input
            .chars()
            .find(|&c| !is_symbol_char(c.to_ascii_uppercase()))
        {
            return Err(SymbolError::InvalidChar {
                input: input.to_owned(),
                ch,
            });
        }
        // only ASCII from here on, so bytes == chars
        let len = input.len();
        if len > MAX_SYMBOL_LEN {
            return Err(SymbolError::TooLong {
                input: input.to_owned(),
                len,
            });
        }
        let mut bytes = [0u8; MAX_SYMBOL_LEN];
        for (dst, src) in bytes.iter_mut().zip(input.bytes()) {
            *dst = src.to_ascii_uppercase();
        }
        Ok(Self {
            bytes,
            len: u8::try_from(len).unwrap_or(0),
        })
    }

    /// The symbol as an uppercase string slice, e.g. `"BTCUSDT"`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        // the constructor only stores ASCII, so this never falls back
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    /// The lowercase form used in Binance stream names, e.g. `"btcusdt"`.
    #[must_use]
    pub fn to_lowercase_stream_name(&self) -> String {
        self.as_str().to_ascii_lowercase()
    }
}

const fn is_symbol_char(c: char) -> bool {
    matches!(c, 'A'..='Z' | '0'..='9' | '.' | '_' | '-')
}

impl PartialOrd for Symbol {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Symbol {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Symbol").field(&self.as_str()).finish()
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Symbol {
    type Err = SymbolError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for Symbol {
    type Error = SymbolError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl AsRef<str> for Symbol {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

serde_via_str!(Symbol, "an exchange symbol string");

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("BTCUSDT", "BTCUSDT")]
    #[case("btcusdt", "BTCUSDT")]
    #[case("EthUsdt", "ETHUSDT")]
    #[case("BTC-PERP", "BTC-PERP")]
    #[case("1000SHIB_USDT.P", "1000SHIB_USDT.P")]
    #[case("A", "A")]
    #[case("ABCDEFGHIJKLMNOPQRST", "ABCDEFGHIJKLMNOPQRST")]
    fn valid(#[case] input: &str, #[case] expected: &str) {
        let sym = Symbol::new(input).unwrap();
        assert_eq!(sym.as_str(), expected);
        assert_eq!(sym.to_string(), expected);
    }

    #[rstest]
    #[case("", SymbolError::Empty)]
    #[case("ABCDEFGHIJKLMNOPQRSTU", SymbolError::TooLong { input: "ABCDEFGHIJKLMNOPQRSTU".into(), len: 21 })]
    #[case("BTC/USDT", SymbolError::InvalidChar { input: "BTC/USDT".into(), ch: '/' })]
    #[case(" BTCUSDT", SymbolError::InvalidChar { input: " BTCUSDT".into(), ch: ' ' })]
    #[case("BTCUSDT\n", SymbolError::InvalidChar { input: "BTCUSDT\n".into(), ch: '\n' })]
    #[case("BTCÜSDT", SymbolError::InvalidChar { input: "BTCÜSDT".into(), ch: 'Ü' })]
    #[case("ßTC", SymbolError::InvalidChar { input: "ßTC".into(), ch: 'ß' })]
    fn invalid(#[case] input: &str, #[case] expected: SymbolError) {
        assert_eq!(Symbol::new(input).unwrap_err(), expected);
    }

    #[test]
    fn error_messages_name_the_input() {
        let err = Symbol::new("BTC/USDT").unwrap_err().to_string();
        assert_eq!(
            err,
            "symbol \"BTC/USDT\" contains invalid character '/', allowed are A-Z 0-9 . _ -"
        );
        let err = Symbol::new("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "symbol \"ABCDEFGHIJKLMNOPQRSTUVWXYZ\" is 26 chars long, max is 20"
        );
    }

    #[test]
    fn stream_name_is_lowercase() {
        assert_eq!(
            Symbol::new("BTCUSDT").unwrap().to_lowercase_stream_name(),
            "btcusdt"
        );
    }

    #[test]
    fn equality_ignores_input_case() {
        assert_eq!(
            Symbol::new("btcusdt").unwrap(),
            Symbol::new("BTCUSDT").unwrap()
        );
    }

    #[test]
    fn ordering_is_lexicographic() {
        let mut syms: Vec<Symbol> = ["ETHUSDT", "BTC", "BTCUSDT", "ADAUSDT"]
            .iter()
            .map(|s| Symbol::new(s).unwrap())
            .collect();
        syms.sort();
        let names: Vec<&str> = syms.iter().map(Symbol::as_str).collect();
        assert_eq!(names, ["ADAUSDT", "BTC", "BTCUSDT", "ETHUSDT"]);
    }

    #[test]
    fn from_str_and_debug() {
        let sym: Symbol = "solusdt".parse().unwrap();
        assert_eq!(sym.as_str(), "SOLUSDT");
        assert_eq!(format!("{sym:?}"), "Symbol(\"SOLUSDT\")");
    }

    #[test]
    fn serde_round_trip() {
        let sym = Symbol::new("BTCUSDT").unwrap();
        let json = serde_json::to_string(&sym).unwrap();
        assert_eq!(json, "\"BTCUSDT\"");
        assert_eq!(serde_json::from_str::<Symbol>(&json).unwrap(), sym);
        assert_eq!(
            serde_json::from_str::<Symbol>("\"ethusdt\"")
                .unwrap()
                .as_str(),
            "ETHUSDT"
        );
    }

    #[rstest]
    #[case("\"\"")]
    #[case("\"BTC/USDT\"")]
    #[case("\"ABCDEFGHIJKLMNOPQRSTU\"")]
    #[case("42")]
    #[case("null")]
    fn serde_rejects_invalid(#[case] json: &str) {
        assert!(
            serde_json::from_str::<Symbol>(json).is_err(),
            "accepted {json}"
        );
    }

    proptest::proptest! {
        #[test]
        fn valid_inputs_round_trip(s in "[A-Za-z0-9._-]{1,20}") {
            let sym = Symbol::new(&s).unwrap();
            proptest::prop_assert_eq!(sym.as_str(), s.to_ascii_uppercase());
            proptest::prop_assert_eq!(sym.as_str().parse::<Symbol>().unwrap(), sym);
        }

        #[test]
        fn never_panics(s in ".{0,30}") {
            if let Ok(sym) = Symbol::new(&s) {
                proptest::prop_assert!(!sym.as_str().is_empty());
                proptest::prop_assert!(sym.as_str().len() <= MAX_SYMBOL_LEN);
            }
        }
    }
}
