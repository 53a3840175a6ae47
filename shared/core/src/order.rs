use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::client_order_id::ClientOrderId;
use crate::id::SignalId;
use crate::price::Price;
use crate::quantity::Quantity;
use crate::serde_str::serde_via_str;
use crate::side::Side;
use crate::symbol::Symbol;
use crate::timestamp::TimestampMs;

/// How long a limit order stays working.
///
/// Serializes as the Binance string: `"GTC"`, `"IOC"` or `"FOK"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeInForce {
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel: fill what is possible now, cancel the rest.
    Ioc,
    /// Fill or kill: fill completely now or cancel entirely.
    Fok,
}

impl TimeInForce {
    /// The Binance name: `"GTC"`, `"IOC"` or `"FOK"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gtc => "GTC",
            Self::Ioc => "IOC",
            Self::Fok => "FOK",
        }
    }
}

impl fmt::Display for TimeInForce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned when a string is not a [`TimeInForce`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown time in force {value:?}, expected GTC, IOC or FOK")]
pub struct TimeInForceParseError {
    /// The rejected input.
    pub value: String,
}

impl FromStr for TimeInForce {
    type Err = TimeInForceParseError;

    /// Parses `"GTC"`, `"IOC"` or `"FOK"`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Gtc, Self::Ioc, Self::Fok]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| TimeInForceParseError {
                value: s.to_owned(),
            })
    }
}

serde_via_str!(TimeInForce, "\"GTC\", \"IOC\" or \"FOK\"");

/// What kind of order to place.
///
/// Serializes internally tagged: `{"type":"MARKET"}` or
/// `{"type":"LIMIT","price":"100.5","time_in_force":"GTC"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderType {
    /// Execute immediately at the best available price.
    Market,
    /// Execute at `price` or better.
    Limit {
        /// The limit price.
        price: Price,
        /// How long the order stays working.
        time_in_force: TimeInForce,
    },
}

impl OrderType {
    /// The limit price, or `None` for market orders.
    #[must_use]
    pub const fn limit_price(&self) -> Option<Price> {
        match self {
            Self::Market => None,
            Self::Limit { price, .. } => Some(*price),
        }
    }

    /// Whether this is a market order.
    #[must_use]
    pub const fn is_market(&self) -> bool {
        matches!(self, Self::Market)
    }
}

/// Error returned when an [`OrderRequest`] is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OrderRequestError {
    /// The order quantity was zero.
    #[error("order quantity must be positive, got {0}")]
    QuantityNotPositive(Quantity),
}

/// A request to place one order on an exchange.
///
/// The quantity is always positive; this is checked by [`OrderRequest::new`]
/// and on deserialization.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "OrderRequestFields")]
pub struct OrderRequest {
    client_order_id: ClientOrderId,
    symbol: Symbol,
    side: Side,
    order_type: OrderType,
    quantity: Quantity,
    signal_id: Option<SignalId>,
    created_at: TimestampMs,
}

/// Unvalidated wire form of [`OrderRequest`].
#[derive(Deserialize)]
struct OrderRequestFields {
    client_order_id: ClientOrderId,
    symbol: Symbol,
    side: Side,
    order_type: OrderType,
    quantity: Quantity,
    #[serde(default)]
    signal_id: Option<SignalId>,
    created_at: TimestampMs,
}

impl TryFrom<OrderRequestFields> for OrderRequest {
    type Error = OrderRequestError;

    fn try_from(f: OrderRequestFields) -> Result<Self, Self::Error> {
        Self::new(
            f.client_order_id,
            f.symbol,
            f.side,
            f.order_type,
            f.quantity,
            f.signal_id,
            f.created_at,
        )
    }
}

impl OrderRequest {
    /// Validates and builds an order request.
    ///
    /// # Errors
    ///
    /// Returns [`OrderRequestError::QuantityNotPositive`] if `quantity` is
    /// zero.
    pub fn new(
        client_order_id: ClientOrderId,
        symbol: Symbol,
        side: Side,
        order_type: OrderType,
        quantity: Quantity,
        signal_id: Option<SignalId>,
        created_at: TimestampMs,
    ) -> Result<Self, OrderRequestError> {
        if quantity.is_zero() {
            return Err(OrderRequestError::QuantityNotPositive(quantity));
        }
        Ok(Self {
            client_order_id,
            symbol,
            side,
            order_type,
            quantity,
            signal_id,
            created_at,
        })
    }

    /// The id sent to the exchange.
    #[must_use]
    pub const fn client_order_id(&self) -> &ClientOrderId {
        &self.client_order_id
    }

    /// The symbol to trade.
    #[must_use]
    pub const fn symbol(&self) -> Symbol {
        self.symbol
    }

    /// Buy or sell.
    #[must_use]
    pub const fn side(&self) -> Side {
        self.side
    }

    /// Market or limit.
    #[must_use]
    pub const fn order_type(&self) -> OrderType {
        self.order_type
    }

    /// The order size in base asset; always positive.
    #[must_use]
    pub const fn quantity(&self) -> Quantity {
        self.quantity
    }

    /// The signal that triggered this order, if any.
    #[must_use]
    pub const fn signal_id(&self) -> Option<SignalId> {
        self.signal_id
    }

    /// When the request was created.
    #[must_use]
    pub const fn created_at(&self) -> TimestampMs {
        self.created_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    fn request(order_type: OrderType, qty: Decimal) -> Result<OrderRequest, OrderRequestError> {
        OrderRequest::new(
            ClientOrderId::new("levi-1").unwrap(),
            Symbol::new("BTCUSDT").unwrap(),
            Side::Buy,
            order_type,
            Quantity::new(qty).unwrap(),
            Some("01ARZ3NDEKTSV4RRFFQ69G5FAV".parse().unwrap()),
            TimestampMs::new(1_700_000_000_000),
        )
    }

    fn limit(price: Decimal, tif: TimeInForce) -> OrderType {
        OrderType::Limit {
            price: Price::new(price).unwrap(),
            time_in_force: tif,
        }
    }

    #[rstest]
    #[case("GTC", TimeInForce::Gtc)]
    #[case("ioc", TimeInForce::Ioc)]
    #[case("Fok", TimeInForce::Fok)]
    fn tif_parse(#[case] s: &str, #[case] expected: TimeInForce) {
        assert_eq!(s.parse::<TimeInForce>().unwrap(), expected);
        assert_eq!(expected.to_string(), s.to_uppercase());
    }

    #[rstest]
    #[case("")]
    #[case("GTX")]
    #[case("DAY")]
    fn tif_parse_rejects(#[case] s: &str) {
        assert_eq!(
            s.parse::<TimeInForce>().unwrap_err().to_string(),
            format!("unknown time in force {s:?}, expected GTC, IOC or FOK")
        );
    }

    #[rstest]
    #[case(OrderType::Market, dec!(0.001))]
    #[case(limit(dec!(65000), TimeInForce::Gtc), dec!(1))]
    #[case(limit(dec!(0.5), TimeInForce::Fok), dec!(1000))]
    fn valid_requests(#[case] ot: OrderType, #[case] qty: Decimal) {
        let r = request(ot, qty).unwrap();
        assert_eq!(r.quantity().value(), qty);
        assert_eq!(r.order_type(), ot);
        assert_eq!(r.client_order_id().as_str(), "levi-1");
        assert_eq!(r.symbol().as_str(), "BTCUSDT");
        assert_eq!(r.side(), Side::Buy);
        assert_eq!(r.created_at().as_i64(), 1_700_000_000_000);
        assert_eq!(
            r.signal_id().map(|s| s.to_string()).as_deref(),
            Some("01ARZ3NDEKTSV4RRFFQ69G5FAV")
        );
    }

    #[rstest]
    #[case(dec!(0))]
    #[case(dec!(0.000))]
    fn zero_quantity_is_rejected(#[case] qty: Decimal) {
        let err = request(OrderType::Market, qty).unwrap_err();
        assert_eq!(
            err,
            OrderRequestError::QuantityNotPositive(Quantity::new(qty).unwrap())
        );
        assert_eq!(
            err.to_string(),
            format!("order quantity must be positive, got {qty}")
        );
    }

    #[test]
    fn order_type_helpers() {
        assert!(OrderType::Market.is_market());
        assert_eq!(OrderType::Market.limit_price(), None);
        let l = limit(dec!(10), TimeInForce::Ioc);
        assert!(!l.is_market());
        assert_eq!(l.limit_price().map(Price::value), Some(dec!(10)));
    }

    #[test]
    fn order_type_serde() {
        assert_eq!(
            serde_json::to_string(&OrderType::Market).unwrap(),
            r#"{"type":"MARKET"}"#
        );
        let l = limit(dec!(100.5), TimeInForce::Gtc);
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(
            json,
            r#"{"type":"LIMIT","price":"100.5","time_in_force":"GTC"}"#
        );
        assert_eq!(serde_json::from_str::<OrderType>(&json).unwrap(), l);
        assert!(
            serde_json::from_str::<OrderType>(
                r#"{"type":"LIMIT","price":"-1","time_in_force":"GTC"}"#
            )
            .is_err()
        );
        assert!(serde_json::from_str::<OrderType>(r#"{"type":"LIMIT"}"#).is_err());
        assert!(serde_json::from_str::<OrderType>(r#"{"type":"STOP"}"#).is_err());
    }

    #[test]
    fn request_serde_round_trip() {
        let r = request(limit(dec!(65000.5), TimeInForce::Ioc), dec!(0.25)).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"client_order_id":"levi-1","symbol":"BTCUSDT","side":"BUY","order_type":{"type":"LIMIT","price":"65000.5","time_in_force":"IOC"},"quantity":"0.25","signal_id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","created_at":1700000000000}"#
        );
        assert_eq!(serde_json::from_str::<OrderRequest>(&json).unwrap(), r);
    }

    #[rstest]
    #[case::zero_quantity(
        r#""quantity":"0","client_order_id":"a""#,
        "order quantity must be positive"
    )]
    #[case::negative_quantity(
        r#""quantity":"-1","client_order_id":"a""#,
        "quantity must not be negative"
    )]
    #[case::bad_client_id(r#""quantity":"1","client_order_id":"a b""#, "invalid character")]
    fn request_serde_rejects(#[case] fields: &str, #[case] msg: &str) {
        let json = format!(
            r#"{{{fields},"symbol":"BTCUSDT","side":"SELL","order_type":{{"type":"MARKET"}},"created_at":0}}"#
        );
        let err = serde_json::from_str::<OrderRequest>(&json)
            .unwrap_err()
            .to_string();
        assert!(err.contains(msg), "{err}");
    }

    #[test]
    fn signal_id_may_be_missing() {
        let json = r#"{"client_order_id":"a","symbol":"BTCUSDT","side":"SELL","order_type":{"type":"MARKET"},"quantity":"2","created_at":0}"#;
        let r: OrderRequest = serde_json::from_str(json).unwrap();
        assert_eq!(r.signal_id(), None);
        assert_eq!(r.side(), Side::Sell);
    }
}
