//! Wire messages of the trade-store contract to store values and back, for what
//! `levibot_proto::convert` does not cover (orders with their state, time ranges, filters).

use levibot_core::{OrderRequest, Price, Quantity, Symbol, TimestampMs};
use levibot_proto::{
    ConversionError,
    v1::{self, OrderStatus as WireStatus},
};

use crate::{
    error::ApiError,
    store::{OrderRecord, OrderState, OrderStatus},
};

const STATUSES: [(OrderStatus, WireStatus); 6] = [
    (OrderStatus::New, WireStatus::New),
    (OrderStatus::PartiallyFilled, WireStatus::PartiallyFilled),
    (OrderStatus::Filled, WireStatus::Filled),
    (OrderStatus::Canceled, WireStatus::Canceled),
    (OrderStatus::Rejected, WireStatus::Rejected),
    (OrderStatus::Expired, WireStatus::Expired),
];

fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidArgument(format!("{field}: {message}"))
}

fn status_from_wire(value: i32) -> Result<OrderStatus, ApiError> {
    STATUSES
        .iter()
        .find(|(_, wire)| *wire as i32 == value)
        .map(|(status, _)| *status)
        .ok_or_else(|| invalid("order.status", format!("unknown order status {value}")))
}

fn status_to_wire(status: OrderStatus) -> WireStatus {
    STATUSES
        .iter()
        .find(|(domain, _)| *domain == status)
        .map_or(WireStatus::Unspecified, |(_, wire)| *wire)
}

fn optional(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// An order with its state from the wire. An empty filled quantity means nothing filled; empty
/// strings mean "none" for the exchange order id, average price and reject reason.
pub(crate) fn order_from_wire(order: &v1::Order) -> Result<OrderRecord, ApiError> {
    let request = order
        .request
        .as_ref()
        .ok_or_else(|| invalid("order.request", "is required"))?;
    let request =
        OrderRequest::try_from(request).map_err(|e: ConversionError| ApiError::from(e))?;
    let filled_quantity = if order.filled_quantity.is_empty() {
        Quantity::ZERO
    } else {
        order
            .filled_quantity
            .parse()
            .map_err(|err| invalid("order.filled_quantity", err))?
    };
    let average_price = if order.average_price.is_empty() {
        None
    } else {
        Some(
            order
                .average_price
                .parse::<Price>()
                .map_err(|err| invalid("order.average_price", err))?,
        )
    };
    let state = OrderState {
        status: status_from_wire(order.status)?,
        exchange_order_id: optional(&order.exchange_order_id),
        filled_quantity,
        average_price,
        updated_at: TimestampMs::new(order.updated_ms),
        reject_reason: optional(&order.reject_reason),
    };
    OrderRecord::new(request, state).map_err(|err| invalid("order", err))
}

/// The wire form of a stored order.
pub(crate) fn order_to_wire(record: &OrderRecord) -> v1::Order {
    let state = record.state();
    v1::Order {
        request: Some(v1::OrderRequest::from(record.request())),
        exchange_order_id: state.exchange_order_id.clone().unwrap_or_default(),
        status: status_to_wire(state.status) as i32,
        filled_quantity: state.filled_quantity.to_string(),
        average_price: state
            .average_price
            .map(|p| p.to_string())
            .unwrap_or_default(),
        updated_ms: state.updated_at.as_i64(),
        reject_reason: state.reject_reason.clone().unwrap_or_default(),
    }
}

/// `[from, to)` of a request; no range means all time.
pub(crate) fn time_range(
    range: Option<&v1::TimeRange>,
) -> Result<(TimestampMs, TimestampMs), ApiError> {
    let Some(range) = range else {
        return Ok((TimestampMs::new(i64::MIN), TimestampMs::new(i64::MAX)));
    };
    if range.from_ms > range.to_ms {
        return Err(invalid(
            "range",
            format!("from_ms {} is after to_ms {}", range.from_ms, range.to_ms),
        ));
    }
    Ok((
        TimestampMs::new(range.from_ms),
        TimestampMs::new(range.to_ms),
    ))
}

/// A symbol filter: empty means every symbol.
pub(crate) fn symbol_filter(value: &str) -> Result<Option<Symbol>, ApiError> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|err| invalid("symbol", err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_order() -> v1::Order {
        v1::Order {
            request: Some(v1::OrderRequest {
                client_order_id: "lb-1".into(),
                symbol: "BTCUSDT".into(),
                side: v1::Side::Buy as i32,
                quantity: "0.010".into(),
                limit_price: "46216.10".into(),
                time_in_force: v1::TimeInForce::Gtc as i32,
                signal_id: String::new(),
                created_ms: 1_000,
            }),
            exchange_order_id: "884".into(),
            status: WireStatus::PartiallyFilled as i32,
            filled_quantity: "0.004".into(),
            average_price: "46216.00".into(),
            updated_ms: 2_000,
            reject_reason: String::new(),
        }
    }

    #[test]
    fn orders_round_trip() {
        let wire = wire_order();
        let record = order_from_wire(&wire).unwrap();
        assert_eq!(record.state().status, OrderStatus::PartiallyFilled);
        assert_eq!(order_to_wire(&record), wire);
    }

    #[test]
    fn bad_orders_name_the_field() {
        let mut no_request = wire_order();
        no_request.request = None;
        let mut overfilled = wire_order();
        overfilled.filled_quantity = "1".into();
        let mut no_status = wire_order();
        no_status.status = 0;
        let mut negative = wire_order();
        negative.filled_quantity = "-1".into();
        for (order, field) in [
            (no_request, "order.request"),
            (overfilled, "order: filled quantity"),
            (no_status, "order.status"),
            (negative, "order.filled_quantity"),
        ] {
            let err = order_from_wire(&order).unwrap_err().to_string();
            assert!(err.starts_with(field), "{err}");
        }
    }

    #[test]
    fn ranges_and_filters() {
        assert_eq!(
            time_range(None).unwrap(),
            (TimestampMs::new(i64::MIN), TimestampMs::new(i64::MAX))
        );
        let backwards = v1::TimeRange {
            from_ms: 2,
            to_ms: 1,
        };
        assert!(time_range(Some(&backwards)).is_err());
        assert_eq!(symbol_filter("").unwrap(), None);
        assert!(symbol_filter("BTC/USDT").is_err());
    }
}
