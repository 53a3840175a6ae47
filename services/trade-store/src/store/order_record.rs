use std::{fmt, str::FromStr};

use levibot_core::{OrderRequest, Price, Quantity, TimestampMs};

/// Longest exchange order id the store accepts.
pub const MAX_EXCHANGE_ORDER_ID_LEN: usize = 64;
/// Longest reject reason the store accepts.
pub const MAX_REJECT_REASON_LEN: usize = 1024;

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Accepted, nothing filled yet (or recorded before sending).
    New,
    /// Some quantity filled, the rest still working.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Cancelled before completing.
    Canceled,
    /// Refused by the exchange or by us.
    Rejected,
    /// Expired (time in force ran out).
    Expired,
}

impl OrderStatus {
    /// Every status.
    pub const ALL: [Self; 6] = [
        Self::New,
        Self::PartiallyFilled,
        Self::Filled,
        Self::Canceled,
        Self::Rejected,
        Self::Expired,
    ];

    /// The stored name, as Binance spells it: `NEW`, `PARTIALLY_FILLED`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::PartiallyFilled => "PARTIALLY_FILLED",
            Self::Filled => "FILLED",
            Self::Canceled => "CANCELED",
            Self::Rejected => "REJECTED",
            Self::Expired => "EXPIRED",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = OrderRecordError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| OrderRecordError::UnknownStatus(s.to_owned()))
    }
}

/// The mutable part of an order: what the exchange last said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderState {
    /// The status.
    pub status: OrderStatus,
    /// The exchange's id, once it has one.
    pub exchange_order_id: Option<String>,
    /// How much has been filled; at most the order quantity.
    pub filled_quantity: Quantity,
    /// Average fill price, when something has been filled.
    pub average_price: Option<Price>,
    /// When this state was reported. A state older than the stored one is ignored.
    pub updated_at: TimestampMs,
    /// Why the order was rejected, for [`OrderStatus::Rejected`].
    pub reject_reason: Option<String>,
}

impl OrderState {
    /// A fresh order's state: `NEW`, nothing filled, as of `at`.
    pub fn new_at(at: TimestampMs) -> Self {
        Self {
            status: OrderStatus::New,
            exchange_order_id: None,
            filled_quantity: Quantity::ZERO,
            average_price: None,
            updated_at: at,
            reject_reason: None,
        }
    }
}

/// An order request with its current state, as the store keeps it.
///
/// Invariants, checked by [`OrderRecord::new`]: the filled quantity does not exceed the order
/// quantity, and the exchange order id and reject reason are of reasonable length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    request: OrderRequest,
    state: OrderState,
}

/// Why an [`OrderRecord`] is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderRecordError {
    /// More filled than ordered.
    #[error("filled quantity {filled} exceeds order quantity {ordered}")]
    Overfilled {
        /// Filled quantity.
        filled: Quantity,
        /// Order quantity.
        ordered: Quantity,
    },
    /// A text field is too long.
    #[error("{field} is {len} bytes long, max is {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not one of the known statuses.
    #[error("unknown order status {0:?}")]
    UnknownStatus(String),
}

impl OrderRecord {
    /// Validates and builds a record.
    pub fn new(request: OrderRequest, state: OrderState) -> Result<Self, OrderRecordError> {
        if state.filled_quantity > request.quantity() {
            return Err(OrderRecordError::Overfilled {
                filled: state.filled_quantity,
                ordered: request.quantity(),
            });
        }
        let too_long = |field, value: &Option<String>, max| match value {
            Some(v) if v.len() > max => Err(OrderRecordError::TooLong {
                field,
                len: v.len(),
                max,
            }),
            _ => Ok(()),
        };
        too_long(
            "exchange_order_id",
            &state.exchange_order_id,
            MAX_EXCHANGE_ORDER_ID_LEN,
        )?;
        too_long("reject_reason", &state.reject_reason, MAX_REJECT_REASON_LEN)?;
        Ok(Self { request, state })
    }

    /// A request just created, before it is sent: `NEW`, nothing filled, as of its creation.
    pub fn new_order(request: OrderRequest) -> Self {
        let state = OrderState::new_at(request.created_at());
        Self { request, state }
    }

    /// The request.
    pub fn request(&self) -> &OrderRequest {
        &self.request
    }

    /// The current state.
    pub fn state(&self) -> &OrderState {
        &self.state
    }
}

#[cfg(test)]
mod tests {
    use levibot_core::{ClientOrderId, OrderType, Side, Symbol};
    use rust_decimal_macros::dec;

    use super::*;

    fn request() -> OrderRequest {
        OrderRequest::new(
            ClientOrderId::new("lb-1").unwrap(),
            Symbol::new("BTCUSDT").unwrap(),
            Side::Buy,
            OrderType::Market,
            Quantity::new(dec!(0.5)).unwrap(),
            None,
            TimestampMs::new(1_000),
        )
        .unwrap()
    }

    #[test]
    fn overfill_and_long_fields_are_rejected() {
        let mut state = OrderState::new_at(TimestampMs::new(2_000));
        state.filled_quantity = Quantity::new(dec!(0.6)).unwrap();
        assert!(matches!(
            OrderRecord::new(request(), state.clone()),
            Err(OrderRecordError::Overfilled { .. })
        ));
        state.filled_quantity = Quantity::new(dec!(0.5)).unwrap();
        state.exchange_order_id = Some("x".repeat(65));
        let err = OrderRecord::new(request(), state).unwrap_err();
        assert_eq!(
            err.to_string(),
            "exchange_order_id is 65 bytes long, max is 64"
        );
    }

    #[test]
    fn status_names_round_trip() {
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse::<OrderStatus>().unwrap(), status);
        }
        assert!("new".parse::<OrderStatus>().is_err());
    }

    #[test]
    fn a_new_order_starts_new_and_unfilled() {
        let record = OrderRecord::new_order(request());
        assert_eq!(record.state().status, OrderStatus::New);
        assert!(record.state().filled_quantity.is_zero());
        assert_eq!(record.state().updated_at, TimestampMs::new(1_000));
    }
}
