//! Deterministic exchange client order ids derived from signal ids.

use serde::{Deserialize, Serialize};

use levibot_core::{ClientOrderId, OrderId, SignalId, Symbol};
use ulid::Ulid;

use crate::signal::fnv1a_128;

/// The prefix of every client order id we generate ("LeviBot").
pub const CLIENT_ORDER_ID_PREFIX: &str = "lb";

/// Which order of a signal an id is for.
///
/// A signal opens one entry order; a cancel/replace or a cancel of its remainder gets its own
/// id so the exchange can tell the requests apart, still traceable to the signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderLeg {
    /// The signal's order: `lb<ULID>` (28 chars).
    Entry,
    /// The n-th replacement order: `lb<ULID>-r<n>` (at most 35 chars).
    Replace(u16),
    /// The n-th cancel request: `lb<ULID>-c<n>` (at most 35 chars).
    Cancel(u16),
    /// The reduce-only exit an ESS trip sends (flatten on trip): `lb<ULID>-f` (30 chars),
    /// the ULID being [`flatten_key`] of (symbol, trip).
    Flatten,
}

/// The client order id for `leg` of the signal `signal`: `"lb"` + the signal's 26-character
/// ULID, plus `-r<n>` / `-c<n>` for a replace / cancel leg.
///
/// Always 1 to 36 characters of `[A-Za-z0-9_-]` (Crockford base32 is alphanumeric), and the
/// same signal and leg always give the same id, so a replayed or restarted engine reuses it
/// and the exchange or our own records catch the duplicate.
#[must_use]
pub fn client_order_id_for(signal: SignalId, leg: OrderLeg) -> ClientOrderId {
    let text = match leg {
        OrderLeg::Entry => format!("{CLIENT_ORDER_ID_PREFIX}{signal}"),
        OrderLeg::Replace(n) => format!("{CLIENT_ORDER_ID_PREFIX}{signal}-r{n}"),
        OrderLeg::Cancel(n) => format!("{CLIENT_ORDER_ID_PREFIX}{signal}-c{n}"),
        OrderLeg::Flatten => format!("{CLIENT_ORDER_ID_PREFIX}{signal}-f"),
    };
    // the format above is always valid; the fallback (the bare ULID, also deterministic)
    // only exists so this function cannot panic
    ClientOrderId::new(&text)
        .unwrap_or_else(|_| ClientOrderId::from(OrderId::from_ulid(signal.as_ulid())))
}

/// The key standing in for a signal id in a flatten order on an ESS trip: a ULID whose time
/// part is 0 and whose 80-bit random part is the low 80 bits of FNV-1a-128 over `symbol`, a
/// `0x1f` separator, `"ess_flatten"`, another `0x1f` and the trip's transition sequence number
/// (policy-store's `EssStatus.seq`, big-endian). The same (symbol, trip) always gives the same
/// key, so a redelivered trip derives the same client order id and is caught as a duplicate.
#[must_use]
pub fn flatten_key(symbol: Symbol, trip_seq: u64) -> SignalId {
    let hash = fnv1a_128(
        symbol
            .as_str()
            .bytes()
            .chain(std::iter::once(0x1f))
            .chain(b"ess_flatten".iter().copied())
            .chain(std::iter::once(0x1f))
            .chain(trip_seq.to_be_bytes()),
    );
    SignalId::from_ulid(Ulid::from_parts(0, hash & ((1u128 << 80) - 1)))
}

/// The client order id of the flatten order `symbol` gets on the ESS trip with transition
/// sequence number `trip_seq`: [`client_order_id_for`]`(`[`flatten_key`]`(symbol, trip_seq),
/// `[`OrderLeg::Flatten`]`)`.
#[must_use]
pub fn flatten_client_order_id(symbol: Symbol, trip_seq: u64) -> ClientOrderId {
    client_order_id_for(flatten_key(symbol, trip_seq), OrderLeg::Flatten)
}

/// Reads back the signal and leg of an id made by [`client_order_id_for`]; `None` for ids
/// made by anything else (manual orders, other bots on the account).
#[must_use]
pub fn parse_client_order_id(id: &ClientOrderId) -> Option<(SignalId, OrderLeg)> {
    let rest = id.as_str().strip_prefix(CLIENT_ORDER_ID_PREFIX)?;
    let (ulid, leg) = match rest.split_once('-') {
        None => (rest, OrderLeg::Entry),
        Some((ulid, suffix)) => {
            let leg = if let Some(n) = suffix.strip_prefix('r') {
                OrderLeg::Replace(parse_leg_number(n)?)
            } else if let Some(n) = suffix.strip_prefix('c') {
                OrderLeg::Cancel(parse_leg_number(n)?)
            } else if suffix == "f" {
                OrderLeg::Flatten
            } else {
                return None;
            };
            (ulid, leg)
        }
    };
    let signal: SignalId = ulid.parse().ok()?;
    // only the canonical spelling round-trips
    (client_order_id_for(signal, leg) == *id).then_some((signal, leg))
}

fn parse_leg_number(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use levibot_core::client_order_id::MAX_CLIENT_ORDER_ID_LEN;
    use proptest::prelude::*;
    use rstest::rstest;
    use ulid::Ulid;

    const SIGNAL: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";

    #[rstest]
    #[case(OrderLeg::Entry, "lb01ARZ3NDEKTSV4RRFFQ69G5FAV")]
    #[case(OrderLeg::Replace(1), "lb01ARZ3NDEKTSV4RRFFQ69G5FAV-r1")]
    #[case(OrderLeg::Cancel(65535), "lb01ARZ3NDEKTSV4RRFFQ69G5FAV-c65535")]
    #[case(OrderLeg::Flatten, "lb01ARZ3NDEKTSV4RRFFQ69G5FAV-f")]
    fn format(#[case] leg: OrderLeg, #[case] expected: &str) {
        let signal: SignalId = SIGNAL.parse().unwrap();
        let id = client_order_id_for(signal, leg);
        assert_eq!(id.as_str(), expected);
        assert_eq!(parse_client_order_id(&id), Some((signal, leg)));
    }

    #[rstest]
    #[case("manual-order-1")]
    #[case("lb01ARZ3NDEKTSV4RRFFQ69G5FAV-x1")]
    #[case("lb01ARZ3NDEKTSV4RRFFQ69G5FAV-r")]
    #[case("lb01ARZ3NDEKTSV4RRFFQ69G5FAV-r01")]
    #[case("lb01ARZ3NDEKTSV4RRFFQ69G5FAV-f1")]
    #[case("lb01arz3ndektsv4rrffq69g5fav")]
    #[case("lbnot-a-ulid")]
    fn foreign_ids_do_not_parse(#[case] s: &str) {
        assert_eq!(parse_client_order_id(&ClientOrderId::new(s).unwrap()), None);
    }

    fn any_leg() -> impl Strategy<Value = OrderLeg> {
        prop_oneof![
            Just(OrderLeg::Entry),
            any::<u16>().prop_map(OrderLeg::Replace),
            any::<u16>().prop_map(OrderLeg::Cancel),
            Just(OrderLeg::Flatten),
        ]
    }

    #[test]
    fn flatten_ids_are_per_symbol_and_trip_and_stable() {
        let btc = Symbol::new("BTCUSDT").unwrap();
        let eth = Symbol::new("ETHUSDT").unwrap();
        let a = flatten_client_order_id(btc, 7);
        assert_eq!(a, flatten_client_order_id(btc, 7));
        assert_ne!(a, flatten_client_order_id(btc, 8));
        assert_ne!(a, flatten_client_order_id(eth, 7));
        assert!(a.as_str().ends_with("-f"), "{a}");
        assert_eq!(
            parse_client_order_id(&a),
            Some((flatten_key(btc, 7), OrderLeg::Flatten))
        );
        // the key is not a bar's signal: its time part is 0
        assert_eq!(
            flatten_key(btc, 7).as_ulid().timestamp_ms(),
            0,
            "the time part is 0"
        );
    }

    proptest! {
        #[test]
        fn always_valid_deterministic_and_reversible(bits in any::<u128>(), leg in any_leg()) {
            let signal = SignalId::from_ulid(Ulid::from(bits));
            let a = client_order_id_for(signal, leg);
            let b = client_order_id_for(signal, leg);
            prop_assert_eq!(&a, &b);
            prop_assert!(a.as_str().len() <= MAX_CLIENT_ORDER_ID_LEN);
            prop_assert!(a.as_str().starts_with(CLIENT_ORDER_ID_PREFIX));
            prop_assert!(a.as_str().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-'));
            prop_assert!(ClientOrderId::new(a.as_str()).is_ok());
            prop_assert_eq!(parse_client_order_id(&a), Some((signal, leg)));
        }

        #[test]
        fn distinct_signals_distinct_ids(x in any::<u128>(), y in any::<u128>(), leg in any_leg()) {
            prop_assume!(x != y);
            let a = client_order_id_for(SignalId::from_ulid(Ulid::from(x)), leg);
            let b = client_order_id_for(SignalId::from_ulid(Ulid::from(y)), leg);
            prop_assert_ne!(a, b);
        }
    }
}
