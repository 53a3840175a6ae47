use std::{fmt::Display, str::FromStr};

use levibot_core::{
    Actor, Bar, ClientOrderId, Fill, FillParts, Interval, OrderRequest, OrderType, Role, Side,
    Symbol, TimeInForce, TimestampMs,
};

use crate::v1;

/// A wire message that does not make a valid domain value. Becomes `INVALID_ARGUMENT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConversionError {
    /// The offending field, as named in the proto (`bar.high`, `fill.quantity`).
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl ConversionError {
    fn new(field: &'static str, message: impl Display) -> Self {
        Self {
            field,
            message: message.to_string(),
        }
    }
}

impl From<ConversionError> for tonic::Status {
    fn from(err: ConversionError) -> Self {
        tonic::Status::invalid_argument(err.to_string())
    }
}

fn parse<T>(field: &'static str, value: &str) -> Result<T, ConversionError>
where
    T: FromStr,
    T::Err: Display,
{
    if value.is_empty() {
        return Err(ConversionError::new(field, "is required"));
    }
    value
        .parse()
        .map_err(|err| ConversionError::new(field, err))
}

/// Domain side from the wire enum; `UNSPECIFIED` and unknown values are errors.
pub fn side_from_wire(field: &'static str, value: i32) -> Result<Side, ConversionError> {
    match v1::Side::try_from(value) {
        Ok(v1::Side::Buy) => Ok(Side::Buy),
        Ok(v1::Side::Sell) => Ok(Side::Sell),
        _ => Err(ConversionError::new(
            field,
            format!("must be BUY or SELL, got {value}"),
        )),
    }
}

/// Wire enum of a domain side.
pub fn side_to_wire(side: Side) -> v1::Side {
    match side {
        Side::Buy => v1::Side::Buy,
        Side::Sell => v1::Side::Sell,
    }
}

const INTERVALS: [(Interval, v1::Interval); 15] = [
    (Interval::S1, v1::Interval::Interval1s),
    (Interval::M1, v1::Interval::Interval1m),
    (Interval::M3, v1::Interval::Interval3m),
    (Interval::M5, v1::Interval::Interval5m),
    (Interval::M15, v1::Interval::Interval15m),
    (Interval::M30, v1::Interval::Interval30m),
    (Interval::H1, v1::Interval::Interval1h),
    (Interval::H2, v1::Interval::Interval2h),
    (Interval::H4, v1::Interval::Interval4h),
    (Interval::H6, v1::Interval::Interval6h),
    (Interval::H8, v1::Interval::Interval8h),
    (Interval::H12, v1::Interval::Interval12h),
    (Interval::D1, v1::Interval::Interval1d),
    (Interval::D3, v1::Interval::Interval3d),
    (Interval::W1, v1::Interval::Interval1w),
];

/// Domain interval from the wire enum; `UNSPECIFIED` and unknown values are errors.
pub fn interval_from_wire(field: &'static str, value: i32) -> Result<Interval, ConversionError> {
    INTERVALS
        .iter()
        .find(|(_, wire)| *wire as i32 == value)
        .map(|(interval, _)| *interval)
        .ok_or_else(|| ConversionError::new(field, format!("unknown interval {value}")))
}

/// Wire enum of a domain interval.
pub fn interval_to_wire(interval: Interval) -> v1::Interval {
    INTERVALS
        .iter()
        .find(|(domain, _)| *domain == interval)
        .map_or(v1::Interval::Unspecified, |(_, wire)| *wire)
}

impl TryFrom<&v1::Bar> for Bar {
    type Error = ConversionError;

    fn try_from(bar: &v1::Bar) -> Result<Self, Self::Error> {
        Bar::new(
            parse("bar.symbol", &bar.symbol)?,
            interval_from_wire("bar.interval", bar.interval)?,
            TimestampMs::new(bar.open_time_ms),
            parse("bar.open", &bar.open)?,
            parse("bar.high", &bar.high)?,
            parse("bar.low", &bar.low)?,
            parse("bar.close", &bar.close)?,
            parse("bar.volume", &bar.volume)?,
        )
        .map_err(|err| ConversionError::new("bar", err))
    }
}

impl From<&Bar> for v1::Bar {
    fn from(bar: &Bar) -> Self {
        Self {
            symbol: bar.symbol().to_string(),
            interval: interval_to_wire(bar.interval()) as i32,
            open_time_ms: bar.open_time().as_i64(),
            open: bar.open().to_string(),
            high: bar.high().to_string(),
            low: bar.low().to_string(),
            close: bar.close().to_string(),
            volume: bar.volume().to_string(),
        }
    }
}

impl TryFrom<&v1::OrderRequest> for OrderRequest {
    type Error = ConversionError;

    fn try_from(req: &v1::OrderRequest) -> Result<Self, Self::Error> {
        let order_type = if req.limit_price.is_empty() {
            OrderType::Market
        } else {
            let time_in_force = match v1::TimeInForce::try_from(req.time_in_force) {
                Ok(v1::TimeInForce::Gtc) => TimeInForce::Gtc,
                Ok(v1::TimeInForce::Ioc) => TimeInForce::Ioc,
                Ok(v1::TimeInForce::Fok) => TimeInForce::Fok,
                _ => {
                    return Err(ConversionError::new(
                        "order.time_in_force",
                        "a limit order needs GTC, IOC or FOK",
                    ));
                }
            };
            OrderType::Limit {
                price: parse("order.limit_price", &req.limit_price)?,
                time_in_force,
            }
        };
        let signal_id = if req.signal_id.is_empty() {
            None
        } else {
            Some(parse("order.signal_id", &req.signal_id)?)
        };
        OrderRequest::new(
            parse::<ClientOrderId>("order.client_order_id", &req.client_order_id)?,
            parse::<Symbol>("order.symbol", &req.symbol)?,
            side_from_wire("order.side", req.side)?,
            order_type,
            parse("order.quantity", &req.quantity)?,
            signal_id,
            TimestampMs::new(req.created_ms),
        )
        .map_err(|err| ConversionError::new("order.quantity", err))
    }
}

impl From<&OrderRequest> for v1::OrderRequest {
    fn from(req: &OrderRequest) -> Self {
        let (limit_price, time_in_force) = match req.order_type() {
            OrderType::Market => (String::new(), v1::TimeInForce::Unspecified),
            OrderType::Limit {
                price,
                time_in_force,
            } => (
                price.to_string(),
                match time_in_force {
                    TimeInForce::Gtc => v1::TimeInForce::Gtc,
                    TimeInForce::Ioc => v1::TimeInForce::Ioc,
                    TimeInForce::Fok => v1::TimeInForce::Fok,
                },
            ),
        };
        Self {
            client_order_id: req.client_order_id().to_string(),
            symbol: req.symbol().to_string(),
            side: side_to_wire(req.side()) as i32,
            quantity: req.quantity().to_string(),
            limit_price,
            time_in_force: time_in_force as i32,
            signal_id: req.signal_id().map(|id| id.to_string()).unwrap_or_default(),
            created_ms: req.created_at().as_i64(),
        }
    }
}

impl TryFrom<&v1::Fill> for Fill {
    type Error = ConversionError;

    fn try_from(fill: &v1::Fill) -> Result<Self, Self::Error> {
        Fill::new(FillParts {
            fill_id: parse("fill.fill_id", &fill.fill_id)?,
            client_order_id: parse("fill.client_order_id", &fill.client_order_id)?,
            symbol: parse("fill.symbol", &fill.symbol)?,
            side: side_from_wire("fill.side", fill.side)?,
            price: parse("fill.price", &fill.price)?,
            quantity: parse("fill.quantity", &fill.quantity)?,
            fee: parse("fill.fee", &fill.fee)?,
            fee_asset: fill.fee_asset.clone(),
            is_maker: fill.is_maker,
            exchange_time: TimestampMs::new(fill.exchange_time_ms),
            receive_time: TimestampMs::new(fill.receive_time_ms),
        })
        .map_err(|err| ConversionError::new("fill", err))
    }
}

impl From<&Fill> for v1::Fill {
    fn from(fill: &Fill) -> Self {
        let parts = FillParts::from(fill.clone());
        Self {
            fill_id: parts.fill_id.to_string(),
            client_order_id: parts.client_order_id.to_string(),
            symbol: parts.symbol.to_string(),
            side: side_to_wire(parts.side) as i32,
            price: parts.price.to_string(),
            quantity: parts.quantity.to_string(),
            fee: parts.fee.to_string(),
            fee_asset: parts.fee_asset,
            is_maker: parts.is_maker,
            exchange_time_ms: parts.exchange_time.as_i64(),
            receive_time_ms: parts.receive_time.as_i64(),
        }
    }
}

/// Domain role from the wire enum; `UNSPECIFIED` and unknown values are errors.
pub fn role_from_wire(field: &'static str, value: i32) -> Result<Role, ConversionError> {
    match v1::Role::try_from(value) {
        Ok(v1::Role::Viewer) => Ok(Role::Viewer),
        Ok(v1::Role::Trader) => Ok(Role::Trader),
        Ok(v1::Role::Admin) => Ok(Role::Admin),
        _ => Err(ConversionError::new(
            field,
            format!("must be ROLE_VIEWER, ROLE_TRADER or ROLE_ADMIN, got {value}"),
        )),
    }
}

/// Wire enum of a domain role.
pub fn role_to_wire(role: Role) -> v1::Role {
    match role {
        Role::Viewer => v1::Role::Viewer,
        Role::Trader => v1::Role::Trader,
        Role::Admin => v1::Role::Admin,
    }
}

/// The caller of an audited RPC: `actor.name` as given (trimmed, not empty), `actor.role` one
/// of `viewer`, `trader`, `admin`.
impl TryFrom<&v1::Actor> for Actor {
    type Error = ConversionError;

    fn try_from(wire: &v1::Actor) -> Result<Self, Self::Error> {
        let role: Role = parse("actor.role", &wire.role)?;
        Actor::new(&wire.name, role).map_err(|err| ConversionError::new("actor.name", err))
    }
}

impl From<&Actor> for v1::Actor {
    fn from(actor: &Actor) -> Self {
        Self {
            name: actor.name().to_owned(),
            role: actor.role().as_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use levibot_core::{FillId, SignalId};
    use rstest::rstest;

    use super::*;

    fn wire_bar() -> v1::Bar {
        v1::Bar {
            symbol: "BTCUSDT".into(),
            interval: v1::Interval::Interval1m as i32,
            open_time_ms: 1_640_995_200_000,
            open: "46216.0".into(),
            high: "46300.5".into(),
            low: "46100".into(),
            close: "46250.25".into(),
            volume: "12.5".into(),
        }
    }

    #[test]
    fn bar_round_trips_exactly() {
        let wire = wire_bar();
        let bar = Bar::try_from(&wire).unwrap();
        assert_eq!(bar.close().to_string(), "46250.25");
        assert_eq!(v1::Bar::from(&bar), wire);
    }

    #[rstest]
    #[case::empty_symbol(|b: &mut v1::Bar| b.symbol.clear(), "bar.symbol")]
    #[case::bad_symbol(|b: &mut v1::Bar| b.symbol = "BTC/USDT".into(), "bar.symbol")]
    #[case::no_interval(|b: &mut v1::Bar| b.interval = 0, "bar.interval")]
    #[case::unknown_interval(|b: &mut v1::Bar| b.interval = 99, "bar.interval")]
    #[case::float_garbage(|b: &mut v1::Bar| b.open = "NaN".into(), "bar.open")]
    #[case::negative_price(|b: &mut v1::Bar| b.low = "-1".into(), "bar.low")]
    #[case::high_below_low(|b: &mut v1::Bar| b.high = "46000".into(), "bar")]
    #[case::negative_volume(|b: &mut v1::Bar| b.volume = "-3".into(), "bar.volume")]
    #[case::misaligned(|b: &mut v1::Bar| b.open_time_ms += 1, "bar")]
    fn bad_bars_name_the_field(#[case] spoil: fn(&mut v1::Bar), #[case] field: &str) {
        let mut wire = wire_bar();
        spoil(&mut wire);
        let err = Bar::try_from(&wire).unwrap_err();
        assert_eq!(err.field, field, "{err}");
        let status = tonic::Status::from(err);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn every_interval_maps_both_ways() {
        for interval in Interval::ALL {
            let wire = interval_to_wire(*interval);
            assert_ne!(wire, v1::Interval::Unspecified);
            assert_eq!(interval_from_wire("i", wire as i32).unwrap(), *interval);
        }
    }

    #[test]
    fn order_request_round_trips_and_rejects_bad_input() {
        let wire = v1::OrderRequest {
            client_order_id: "lb-01HZX".into(),
            symbol: "ETHUSDT".into(),
            side: v1::Side::Sell as i32,
            quantity: "0.25".into(),
            limit_price: "3000.5".into(),
            time_in_force: v1::TimeInForce::Ioc as i32,
            signal_id: SignalId::new().to_string(),
            created_ms: 42,
        };
        let order = OrderRequest::try_from(&wire).unwrap();
        assert_eq!(v1::OrderRequest::from(&order), wire);

        let mut zero = wire.clone();
        zero.quantity = "0".into();
        assert_eq!(
            OrderRequest::try_from(&zero).unwrap_err().field,
            "order.quantity"
        );
        let mut negative = wire.clone();
        negative.quantity = "-1".into();
        assert!(OrderRequest::try_from(&negative).is_err());
        let mut no_side = wire.clone();
        no_side.side = 0;
        assert_eq!(
            OrderRequest::try_from(&no_side).unwrap_err().field,
            "order.side"
        );
        let mut no_tif = wire;
        no_tif.time_in_force = 0;
        assert_eq!(
            OrderRequest::try_from(&no_tif).unwrap_err().field,
            "order.time_in_force"
        );
    }

    #[test]
    fn fill_round_trips() {
        let wire = v1::Fill {
            fill_id: FillId::new().to_string(),
            client_order_id: "lb-1".into(),
            symbol: "BTCUSDT".into(),
            side: v1::Side::Buy as i32,
            price: "61500.10".into(),
            quantity: "0.001".into(),
            fee: "0.0615001".into(),
            fee_asset: "USDT".into(),
            is_maker: false,
            exchange_time_ms: 1_723_161_253_000,
            receive_time_ms: 1_723_161_253_004,
        };
        let fill = Fill::try_from(&wire).unwrap();
        assert_eq!(fill.notional().to_string(), "61.50010");
        assert_eq!(v1::Fill::from(&fill), wire);
    }

    #[test]
    fn every_role_maps_both_ways_and_unspecified_is_refused() {
        for role in Role::ALL {
            let wire = role_to_wire(role);
            assert_eq!(role_from_wire("role", wire as i32).unwrap(), role);
        }
        for bad in [0, 4, -1] {
            assert_eq!(role_from_wire("role", bad).unwrap_err().field, "role");
        }
    }

    #[rstest]
    #[case("ops", "admin", None)]
    #[case("", "admin", Some("actor.name"))]
    #[case("ops", "", Some("actor.role"))]
    #[case("ops", "root", Some("actor.role"))]
    fn actors_convert_naming_the_bad_field(
        #[case] name: &str,
        #[case] role: &str,
        #[case] bad: Option<&str>,
    ) {
        let wire = v1::Actor {
            name: name.into(),
            role: role.into(),
        };
        match (Actor::try_from(&wire), bad) {
            (Ok(actor), None) => assert_eq!(v1::Actor::from(&actor), wire),
            (Err(err), Some(field)) => assert_eq!(err.field, field, "{err}"),
            (other, _) => panic!("unexpected {other:?}"),
        }
    }
}
