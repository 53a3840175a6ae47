use std::fmt;
use std::str::FromStr;

use levibot_core::{ClientOrderId, Fill, OrderType, Quantity, Side, Symbol, TimestampMs};
use rust_decimal::Decimal;

/// An order's state on the exchange (Binance's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Accepted, nothing filled yet.
    New,
    /// Accepted by the engine, not yet working (Binance list orders).
    PendingNew,
    /// Some of it filled, the rest still working.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Cancelled by the user; any fills stay.
    Canceled,
    /// Being cancelled (unused by Binance spot today).
    PendingCancel,
    /// Not accepted by the engine.
    Rejected,
    /// Cancelled by the exchange (IOC/FOK remainder, market order without liquidity).
    Expired,
    /// Expired because of self-trade prevention.
    ExpiredInMatch,
}

impl OrderStatus {
    /// Every status.
    pub const ALL: [Self; 9] = [
        Self::New,
        Self::PendingNew,
        Self::PartiallyFilled,
        Self::Filled,
        Self::Canceled,
        Self::PendingCancel,
        Self::Rejected,
        Self::Expired,
        Self::ExpiredInMatch,
    ];

    /// The Binance name, e.g. `"PARTIALLY_FILLED"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::PendingNew => "PENDING_NEW",
            Self::PartiallyFilled => "PARTIALLY_FILLED",
            Self::Filled => "FILLED",
            Self::Canceled => "CANCELED",
            Self::PendingCancel => "PENDING_CANCEL",
            Self::Rejected => "REJECTED",
            Self::Expired => "EXPIRED",
            Self::ExpiredInMatch => "EXPIRED_IN_MATCH",
        }
    }

    /// Whether the order can still fill (and can be cancelled).
    #[must_use]
    pub const fn is_open(self) -> bool {
        matches!(
            self,
            Self::New | Self::PendingNew | Self::PartiallyFilled | Self::PendingCancel
        )
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;

    /// Parses the Binance name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown order status {s:?}"))
    }
}

/// Which order a cancel or query is about: the exchange's `orderId` or our client order id
/// (Binance `origClientOrderId`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrderRef {
    /// The exchange's order id.
    ExchangeId(u64),
    /// The client order id we sent with the order.
    ClientId(ClientOrderId),
}

impl From<u64> for OrderRef {
    fn from(id: u64) -> Self {
        Self::ExchangeId(id)
    }
}

impl From<ClientOrderId> for OrderRef {
    fn from(id: ClientOrderId) -> Self {
        Self::ClientId(id)
    }
}

impl From<&ClientOrderId> for OrderRef {
    fn from(id: &ClientOrderId) -> Self {
        Self::ClientId(id.clone())
    }
}

impl fmt::Display for OrderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ExchangeId(id) => write!(f, "orderId={id}"),
            Self::ClientId(id) => write!(f, "origClientOrderId={id}"),
        }
    }
}

/// What the exchange says about one order, after a placement, cancel or query.
///
/// `fills` holds every fill of the order as of this answer (with its fee), for placements,
/// cancels and queries; [`open_orders`](super::SpotExchange::open_orders) reports carry none.
/// `executed_qty` and `cumulative_quote_qty` are the exchange's totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderReport {
    /// The symbol.
    pub symbol: Symbol,
    /// The exchange's order id.
    pub order_id: u64,
    /// Our client order id (for a cancel, the cancelled order's, not the cancel's own).
    pub client_order_id: ClientOrderId,
    /// Buy or sell.
    pub side: Side,
    /// Market or limit; `None` for order types LeviBot does not place (stop-loss, …).
    pub order_type: Option<OrderType>,
    /// The order's state.
    pub status: OrderStatus,
    /// The quantity ordered, base asset.
    pub orig_qty: Quantity,
    /// The quantity filled so far, base asset.
    pub executed_qty: Quantity,
    /// Sum of price × quantity of the fills, quote asset (Binance `cummulativeQuoteQty`).
    pub cumulative_quote_qty: Decimal,
    /// The order's fills (see the type's doc).
    pub fills: Vec<Fill>,
    /// When the exchange last changed the order (or answered, for placements and cancels).
    pub update_time: TimestampMs,
}

impl OrderReport {
    /// Average fill price (`cumulative_quote_qty / executed_qty`), `None` before any fill.
    #[must_use]
    pub fn average_price(&self) -> Option<Decimal> {
        let executed = self.executed_qty.value();
        if executed.is_zero() {
            return None;
        }
        self.cumulative_quote_qty.checked_div(executed)
    }

    /// The quantity still to fill (zero once the order is no longer open).
    #[must_use]
    pub fn remaining_qty(&self) -> Decimal {
        if self.status.is_open() {
            (self.orig_qty.value() - self.executed_qty.value()).max(Decimal::ZERO)
        } else {
            Decimal::ZERO
        }
    }
}

/// One asset's balance: `free` can be traded, `locked` is held by open orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// The asset, e.g. `"USDT"`.
    pub asset: String,
    /// Available.
    pub free: Decimal,
    /// Held by open orders.
    pub locked: Decimal,
}

impl Balance {
    /// `free + locked`.
    #[must_use]
    pub fn total(&self) -> Decimal {
        self.free + self.locked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn statuses_round_trip_and_say_if_open() {
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse::<OrderStatus>(), Ok(status));
        }
        assert!(OrderStatus::New.is_open());
        assert!(OrderStatus::PartiallyFilled.is_open());
        assert!(!OrderStatus::Filled.is_open());
        assert!(!OrderStatus::Canceled.is_open());
        assert!("FILLED?".parse::<OrderStatus>().is_err());
    }

    #[test]
    fn average_price_and_remaining() {
        let report = OrderReport {
            symbol: Symbol::new("BTCUSDT").unwrap(),
            order_id: 1,
            client_order_id: ClientOrderId::new("a").unwrap(),
            side: Side::Buy,
            order_type: Some(OrderType::Market),
            status: OrderStatus::PartiallyFilled,
            orig_qty: Quantity::new(dec!(2)).unwrap(),
            executed_qty: Quantity::new(dec!(0.5)).unwrap(),
            cumulative_quote_qty: dec!(50.5),
            fills: Vec::new(),
            update_time: TimestampMs::new(0),
        };
        assert_eq!(report.average_price(), Some(dec!(101)));
        assert_eq!(report.remaining_qty(), dec!(1.5));
        assert_eq!(
            OrderRef::from(ClientOrderId::new("x").unwrap()).to_string(),
            "origClientOrderId=x"
        );
        assert_eq!(OrderRef::from(7).to_string(), "orderId=7");
    }
}
