use thiserror::Error;
use ulid::Ulid;

/// Error returned when a string is not a valid ULID-based id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {kind} {input:?}: {reason}")]
pub struct IdParseError {
    /// Which id type was being parsed, e.g. `"order id"`.
    pub kind: &'static str,
    /// The rejected input.
    pub input: String,
    /// Why the ULID did not decode.
    pub reason: String,
}

/// Decodes a canonical ULID string (case-insensitive). Rejects values above
/// `7ZZZZZZZZZZZZZZZZZZZZZZZZZ`, which the `ulid` crate would silently wrap.
fn parse_ulid(kind: &'static str, input: &str) -> Result<Ulid, IdParseError> {
    let err = |reason: String| IdParseError {
        kind,
        input: input.to_owned(),
        reason,
    };
    let ulid = Ulid::from_string(input).map_err(|e| err(e.to_string()))?;
    if !ulid.to_string().eq_ignore_ascii_case(input) {
        return Err(err("value exceeds the 128-bit ulid range".to_owned()));
    }
    Ok(ulid)
}

/// Defines a `Copy` ULID newtype with string serde, `FromStr` and `Display`.
macro_rules! ulid_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        ///
        /// Backed by a [ULID](https://github.com/ulid/spec): 128 bits, sortable
        /// by creation time, shown as 26 Crockford base32 characters.
        /// Serializes as that string; deserialization validates it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Ulid);

        impl $name {
            /// Generates a fresh random id stamped with the current time.
            #[must_use]
            #[expect(
                clippy::new_without_default,
                reason = "a random id is not a sensible default value"
            )]
            pub fn new() -> Self {
                Self(Ulid::new())
            }

            /// Wraps an existing ULID.
            #[must_use]
            pub const fn from_ulid(ulid: Ulid) -> Self {
                Self(ulid)
            }

            /// The underlying ULID.
            #[must_use]
            pub const fn as_ulid(self) -> Ulid {
                self.0
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = IdParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_ulid($kind, s).map(Self)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<Ulid> for $name {
            fn from(ulid: Ulid) -> Self {
                Self(ulid)
            }
        }

        impl From<$name> for Ulid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        $crate::serde_str::serde_via_str!($name, "a 26-character ULID string");
    };
}

ulid_id!(
    /// Identifies one event on the internal bus.
    EventId,
    "event id"
);
ulid_id!(
    /// Identifies one trading signal.
    SignalId,
    "signal id"
);
ulid_id!(
    /// Identifies one fill (trade execution).
    FillId,
    "fill id"
);
ulid_id!(
    /// Identifies one order internally.
    OrderId,
    "order id"
);

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::collections::HashSet;

    const SAMPLE: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";

    #[test]
    fn new_is_unique() {
        let ids: HashSet<OrderId> = (0..1000).map(|_| OrderId::new()).collect();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn parse_display_round_trip() {
        let id: EventId = SAMPLE.parse().unwrap();
        assert_eq!(id.to_string(), SAMPLE);
        assert_eq!(id.as_ulid(), Ulid::from_string(SAMPLE).unwrap());
        assert_eq!(EventId::from_ulid(id.as_ulid()), id);
        // lowercase input is accepted and normalised to uppercase
        let lower: SignalId = SAMPLE.to_lowercase().parse().unwrap();
        assert_eq!(lower.to_string(), SAMPLE);
    }

    #[rstest]
    #[case("")]
    #[case("01ARZ3NDEKTSV4RRFFQ69G5FA")]
    #[case("01ARZ3NDEKTSV4RRFFQ69G5FAVX")]
    #[case("01ARZ3NDEKTSV4RRFFQ69G5FAU")]
    #[case("not-a-ulid-at-all-xxxxxxxx")]
    #[case("81ARZ3NDEKTSV4RRFFQ69G5FAV")]
    #[case("ZZZZZZZZZZZZZZZZZZZZZZZZZZ")]
    fn parse_rejects(#[case] s: &str) {
        let err = s.parse::<FillId>().unwrap_err();
        assert_eq!(err.kind, "fill id");
        assert_eq!(err.input, s);
        assert!(
            err.to_string()
                .starts_with(&format!("invalid fill id {s:?}: "))
        );
    }

    #[rstest]
    #[case("", "invalid fill id \"\": invalid length")]
    #[case(
        "01ARZ3NDEKTSV4RRFFQ69G5FAU",
        "invalid fill id \"01ARZ3NDEKTSV4RRFFQ69G5FAU\": invalid character"
    )]
    #[case(
        "81ARZ3NDEKTSV4RRFFQ69G5FAV",
        "invalid fill id \"81ARZ3NDEKTSV4RRFFQ69G5FAV\": value exceeds the 128-bit ulid range"
    )]
    fn parse_error_messages(#[case] s: &str, #[case] msg: &str) {
        assert_eq!(s.parse::<FillId>().unwrap_err().to_string(), msg);
    }

    #[test]
    fn max_ulid_is_accepted() {
        let id: FillId = "7ZZZZZZZZZZZZZZZZZZZZZZZZZ".parse().unwrap();
        assert_eq!(id.as_ulid(), Ulid::from(u128::MAX));
    }

    #[test]
    fn ordering_follows_ulid() {
        let a = OrderId::from_ulid(Ulid::from_parts(1, 0));
        let b = OrderId::from_ulid(Ulid::from_parts(2, 0));
        assert!(a < b);
    }

    #[test]
    fn serde_round_trip() {
        let id = SignalId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(json.len(), 28);
        assert_eq!(serde_json::from_str::<SignalId>(&json).unwrap(), id);
    }

    #[rstest]
    #[case("\"\"")]
    #[case("\"nope\"")]
    #[case("123")]
    #[case("null")]
    fn serde_rejects_invalid(#[case] json: &str) {
        assert!(
            serde_json::from_str::<OrderId>(json).is_err(),
            "accepted {json}"
        );
    }
}
