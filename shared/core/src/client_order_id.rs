use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::id::OrderId;
use crate::serde_str::serde_via_str;

/// Maximum length of a [`ClientOrderId`] (Binance `newClientOrderId` limit).
pub const MAX_CLIENT_ORDER_ID_LEN: usize = 36;

/// Error returned when a string is not a valid [`ClientOrderId`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientOrderIdError {
    /// The input was empty.
    #[error("client order id must not be empty")]
    Empty,
    /// The input was longer than [`MAX_CLIENT_ORDER_ID_LEN`].
    #[error("client order id {input:?} is {len} chars long, max is {MAX_CLIENT_ORDER_ID_LEN}")]
    TooLong {
        /// The rejected input.
        input: String,
        /// Its length in chars.
        len: usize,
    },
    /// The input contained a character outside `[A-Za-z0-9_-]`.
    #[error(
        "client order id {input:?} contains invalid character {ch:?}, allowed are A-Z a-z 0-9 _ -"
    )]
    InvalidChar {
        /// The rejected input.
        input: String,
        /// The first offending character.
        ch: char,
    },
}

/// The id we send to the exchange with an order (Binance
/// `newClientOrderId`), used to match fills back to our orders.
///
/// 1 to 36 characters of `[A-Za-z0-9_-]`; case is preserved. Serializes as a
/// string; deserialization validates.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientOrderId(String);

impl ClientOrderId {
    /// Validates and builds a client order id.
    ///
    /// # Errors
    ///
    /// Returns [`ClientOrderIdError`] if the input is empty, longer than 36
    /// chars, or contains a character other than `[A-Za-z0-9_-]`.
    pub fn new(input: &str) -> Result<Self, ClientOrderIdError> {
        if input.is_empty() {
            return Err(ClientOrderIdError::Empty);
        }
        if let Some(ch) = input
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            return Err(ClientOrderIdError::InvalidChar {
                input: input.to_owned(),
                ch,
            });
        }
        // only ASCII from here on, so bytes == chars
        if input.len() > MAX_CLIENT_ORDER_ID_LEN {
            return Err(ClientOrderIdError::TooLong {
                input: input.to_owned(),
                len: input.len(),
            });
        }
        Ok(Self(input.to_owned()))
    }

    /// The id as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<OrderId> for ClientOrderId {
    /// Uses the order id's 26-character ULID string, which is always valid.
    fn from(id: OrderId) -> Self {
        Self(id.to_string())
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ClientOrderId {
    type Err = ClientOrderIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for ClientOrderId {
    type Error = ClientOrderIdError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl AsRef<str> for ClientOrderId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

serde_via_str!(ClientOrderId, "a client order id string");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case("a")]
    #[case("x-Levi_123")]
    #[case("01ARZ3NDEKTSV4RRFFQ69G5FAV")]
    #[case("abcdefghijklmnopqrstuvwxyz0123456789")]
    #[case("------------------------------------")]
    fn valid(#[case] s: &str) {
        let id = ClientOrderId::new(s).unwrap();
        assert_eq!(id.as_str(), s);
        assert_eq!(id.to_string(), s);
    }

    #[rstest]
    #[case("", ClientOrderIdError::Empty)]
    #[case(
        "abcdefghijklmnopqrstuvwxyz0123456789X",
        ClientOrderIdError::TooLong { input: "abcdefghijklmnopqrstuvwxyz0123456789X".into(), len: 37 }
    )]
    #[case("abc def", ClientOrderIdError::InvalidChar { input: "abc def".into(), ch: ' ' })]
    #[case("abc.def", ClientOrderIdError::InvalidChar { input: "abc.def".into(), ch: '.' })]
    #[case("abc:def", ClientOrderIdError::InvalidChar { input: "abc:def".into(), ch: ':' })]
    #[case("ordér", ClientOrderIdError::InvalidChar { input: "ordér".into(), ch: 'é' })]
    fn invalid(#[case] s: &str, #[case] expected: ClientOrderIdError) {
        assert_eq!(ClientOrderId::new(s).unwrap_err(), expected);
    }

    #[test]
    fn messages() {
        assert_eq!(
            ClientOrderId::new("a b").unwrap_err().to_string(),
            "client order id \"a b\" contains invalid character ' ', allowed are A-Z a-z 0-9 _ -"
        );
        assert_eq!(
            ClientOrderId::new(&"x".repeat(40)).unwrap_err().to_string(),
            format!(
                "client order id \"{}\" is 40 chars long, max is 36",
                "x".repeat(40)
            )
        );
    }

    #[test]
    fn from_order_id_is_valid() {
        let oid = OrderId::new();
        let cid = ClientOrderId::from(oid);
        assert_eq!(cid.as_str(), oid.to_string());
        assert_eq!(ClientOrderId::new(cid.as_str()).unwrap(), cid);
    }

    #[test]
    fn serde_round_trip_and_rejection() {
        let id = ClientOrderId::new("levi-42").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"levi-42\"");
        assert_eq!(serde_json::from_str::<ClientOrderId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<ClientOrderId>("\"\"").is_err());
        assert!(serde_json::from_str::<ClientOrderId>("\"a/b\"").is_err());
        let long = format!("\"{}\"", "a".repeat(37));
        assert!(serde_json::from_str::<ClientOrderId>(&long).is_err());
    }

    proptest! {
        #[test]
        fn length_and_charset_decide_validity(s in "[A-Za-z0-9_\\-]{0,40}") {
            let ok = ClientOrderId::new(&s).is_ok();
            prop_assert_eq!(ok, (1..=MAX_CLIENT_ORDER_ID_LEN).contains(&s.len()));
        }

        #[test]
        fn any_other_char_is_rejected(
            prefix in "[a-z]{0,10}",
            bad in any::<char>().prop_filter("outside charset", |c| {
                !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            }),
        ) {
            let s = format!("{prefix}{bad}");
            let is_invalid_char = matches!(
                ClientOrderId::new(&s),
                Err(ClientOrderIdError::InvalidChar { ch, .. }) if ch == bad
            );
            prop_assert!(is_invalid_char);
        }
    }
}
