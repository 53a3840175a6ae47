//! Follows one order from NEW to a final state, applying fills idempotently.

use std::collections::HashSet;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use levibot_core::{
    ClientOrderId, Fill, FillId, OrderRequest, Quantity, Side, Symbol, TimestampMs,
};

use crate::execution::client_order_id::{OrderLeg, client_order_id_for, parse_client_order_id};

/// An order's status (Binance's names, `PENDING_NEW` meaning sent and not yet acknowledged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Sent, no acknowledgement yet.
    PendingNew,
    /// Acknowledged, nothing filled.
    New,
    /// Some filled, the rest working.
    PartiallyFilled,
    /// Completely filled. Final.
    Filled,
    /// Cancelled (possibly after partial fills). Final.
    Canceled,
    /// Refused by the exchange. Final.
    Rejected,
    /// Expired (IOC/FOK remainder, or expired in match). Final.
    Expired,
}

impl OrderStatus {
    /// Binance's name, e.g. `"PARTIALLY_FILLED"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PendingNew => "PENDING_NEW",
            Self::New => "NEW",
            Self::PartiallyFilled => "PARTIALLY_FILLED",
            Self::Filled => "FILLED",
            Self::Canceled => "CANCELED",
            Self::Rejected => "REJECTED",
            Self::Expired => "EXPIRED",
        }
    }

    /// Whether no further change can happen (except late fills of a cancelled order).
    #[must_use]
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Canceled | Self::Rejected | Self::Expired
        )
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`OrderTracker::apply_fill`] did with a fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillOutcome {
    /// Applied; the order is now in this status.
    Applied(OrderStatus),
    /// This fill id was applied before: ignored.
    Duplicate,
    /// The fill is for another order, symbol or side: ignored.
    WrongOrder,
    /// It would fill more than the order quantity: ignored (reconcile with the exchange).
    Overfill {
        /// The quantity filled before this fill.
        filled: Decimal,
        /// The fill's quantity.
        fill: Decimal,
    },
    /// The order was rejected, it cannot have fills: ignored.
    NotFillable(OrderStatus),
}

/// What the tracker wants done about its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerAction {
    /// Nothing.
    None,
    /// Cancel the unfilled rest of the order: its deadline passed.
    Cancel {
        /// The order to cancel (`origClientOrderId`).
        client_order_id: ClientOrderId,
        /// The id for the cancel request (`newClientOrderId`), when the order's id is one of
        /// ours.
        cancel_client_order_id: Option<ClientOrderId>,
        /// The quantity still unfilled.
        remaining: Decimal,
    },
}

/// One order's life: NEW → PARTIALLY_FILLED → FILLED, or CANCELED / REJECTED / EXPIRED.
///
/// Fills are applied once each (by fill id), so a replayed execution report changes nothing.
/// The filled quantity and the quote amount are exact decimals; the average price is their
/// ratio. An order still open `deadline_ms` after it was sent yields one
/// [`TrackerAction::Cancel`] for the rest.
#[derive(Debug, Clone)]
pub struct OrderTracker {
    client_order_id: ClientOrderId,
    symbol: Symbol,
    side: Side,
    quantity: Quantity,
    status: OrderStatus,
    filled: Decimal,
    quote_filled: Decimal,
    fill_ids: HashSet<FillId>,
    sent_at: TimestampMs,
    deadline_ms: i64,
    cancel_requested: bool,
}

impl OrderTracker {
    /// Starts tracking `order`, sent at `sent_at`, to be cancelled if still open
    /// `deadline_ms` later.
    #[must_use]
    pub fn new(order: &OrderRequest, sent_at: TimestampMs, deadline_ms: i64) -> Self {
        Self {
            client_order_id: order.client_order_id().clone(),
            symbol: order.symbol(),
            side: order.side(),
            quantity: order.quantity(),
            status: OrderStatus::PendingNew,
            filled: Decimal::ZERO,
            quote_filled: Decimal::ZERO,
            fill_ids: HashSet::new(),
            sent_at,
            deadline_ms,
            cancel_requested: false,
        }
    }

    /// The order's client order id.
    #[must_use]
    pub const fn client_order_id(&self) -> &ClientOrderId {
        &self.client_order_id
    }

    /// The current status.
    #[must_use]
    pub const fn status(&self) -> OrderStatus {
        self.status
    }

    /// The quantity filled so far.
    #[must_use]
    pub const fn filled_quantity(&self) -> Decimal {
        self.filled
    }

    /// The quantity not yet filled (0 once final).
    #[must_use]
    pub fn remaining(&self) -> Decimal {
        if self.status.is_final() {
            Decimal::ZERO
        } else {
            self.quantity.value() - self.filled
        }
    }

    /// The volume-weighted average fill price, once something filled.
    #[must_use]
    pub fn average_price(&self) -> Option<Decimal> {
        (!self.filled.is_zero()).then(|| self.quote_filled / self.filled)
    }

    /// The exchange acknowledged the order. Ignored unless pending.
    pub fn on_ack(&mut self) {
        if self.status == OrderStatus::PendingNew {
            self.status = OrderStatus::New;
        }
    }

    /// The exchange reports a final non-fill status (CANCELED, REJECTED, EXPIRED). Ignored
    /// once final; a REJECTED after fills is recorded as CANCELED (what filled stays filled).
    pub fn on_closed(&mut self, status: OrderStatus) {
        if self.status.is_final() {
            return;
        }
        self.status = match status {
            OrderStatus::Rejected if !self.filled.is_zero() => OrderStatus::Canceled,
            OrderStatus::Canceled | OrderStatus::Rejected | OrderStatus::Expired => status,
            _ => return,
        };
    }

    /// Applies one fill, once.
    pub fn apply_fill(&mut self, fill: &Fill) -> FillOutcome {
        if fill.client_order_id() != &self.client_order_id
            || fill.symbol() != self.symbol
            || fill.side() != self.side
        {
            return FillOutcome::WrongOrder;
        }
        if self.fill_ids.contains(&fill.fill_id()) {
            return FillOutcome::Duplicate;
        }
        if self.status == OrderStatus::Rejected {
            return FillOutcome::NotFillable(self.status);
        }
        let qty = fill.quantity().value();
        let total = self.filled + qty;
        if total > self.quantity.value() {
            return FillOutcome::Overfill {
                filled: self.filled,
                fill: qty,
            };
        }
        self.fill_ids.insert(fill.fill_id());
        self.filled = total;
        self.quote_filled += fill.notional();
        // a late fill of a cancelled or expired order is counted, the status stays final
        if !self.status.is_final() {
            self.status = if total == self.quantity.value() {
                OrderStatus::Filled
            } else {
                OrderStatus::PartiallyFilled
            };
        }
        FillOutcome::Applied(self.status)
    }

    /// At `now`: a [`TrackerAction::Cancel`] once, when the order is still open (NEW or
    /// PARTIALLY_FILLED) past its deadline.
    pub fn check_deadline(&mut self, now: TimestampMs) -> TrackerAction {
        let open = matches!(self.status, OrderStatus::New | OrderStatus::PartiallyFilled);
        let due = now.as_i64().saturating_sub(self.sent_at.as_i64()) >= self.deadline_ms;
        if !open || !due || self.cancel_requested {
            return TrackerAction::None;
        }
        self.cancel_requested = true;
        TrackerAction::Cancel {
            client_order_id: self.client_order_id.clone(),
            cancel_client_order_id: parse_client_order_id(&self.client_order_id)
                .map(|(signal, _)| client_order_id_for(signal, OrderLeg::Cancel(1))),
            remaining: self.remaining(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use levibot_core::{FillParts, Money, OrderType, Price, SignalId};
    use rust_decimal_macros::dec;
    use ulid::Ulid;

    fn signal() -> SignalId {
        SignalId::from_ulid(Ulid::from_parts(1_640_991_660_000, 42))
    }

    fn order(qty: Decimal) -> OrderRequest {
        OrderRequest::new(
            client_order_id_for(signal(), OrderLeg::Entry),
            Symbol::new("BTCUSDT").unwrap(),
            Side::Buy,
            OrderType::Market,
            Quantity::new(qty).unwrap(),
            Some(signal()),
            TimestampMs::new(0),
        )
        .unwrap()
    }

    fn fill(id: u128, price: Decimal, qty: Decimal) -> Fill {
        Fill::new(FillParts {
            fill_id: FillId::from_ulid(Ulid::from(id)),
            client_order_id: client_order_id_for(signal(), OrderLeg::Entry),
            symbol: Symbol::new("BTCUSDT").unwrap(),
            side: Side::Buy,
            price: Price::new(price).unwrap(),
            quantity: Quantity::new(qty).unwrap(),
            fee: Money::ZERO,
            fee_asset: "USDT".to_owned(),
            is_maker: false,
            exchange_time: TimestampMs::new(1),
            receive_time: TimestampMs::new(2),
        })
        .unwrap()
    }

    #[test]
    fn partial_then_complete() {
        let mut t = OrderTracker::new(&order(dec!(1.0)), TimestampMs::new(0), 10_000);
        assert_eq!(t.status(), OrderStatus::PendingNew);
        t.on_ack();
        assert_eq!(t.status(), OrderStatus::New);
        assert_eq!(
            t.apply_fill(&fill(1, dec!(100), dec!(0.4))),
            FillOutcome::Applied(OrderStatus::PartiallyFilled)
        );
        assert_eq!(t.remaining(), dec!(0.6));
        assert_eq!(
            t.apply_fill(&fill(2, dec!(110), dec!(0.6))),
            FillOutcome::Applied(OrderStatus::Filled)
        );
        // (0.4 × 100 + 0.6 × 110) / 1.0 = 106
        assert_eq!(t.average_price(), Some(dec!(106)));
        assert_eq!(t.filled_quantity(), dec!(1.0));
        assert_eq!(t.remaining(), dec!(0));
        assert_eq!(
            t.check_deadline(TimestampMs::new(1_000_000)),
            TrackerAction::None
        );
    }

    #[test]
    fn duplicate_fill_is_ignored() {
        let mut t = OrderTracker::new(&order(dec!(1)), TimestampMs::new(0), 10_000);
        t.on_ack();
        let f = fill(7, dec!(100), dec!(0.5));
        assert_eq!(
            t.apply_fill(&f),
            FillOutcome::Applied(OrderStatus::PartiallyFilled)
        );
        assert_eq!(t.apply_fill(&f), FillOutcome::Duplicate);
        assert_eq!(t.filled_quantity(), dec!(0.5));
        assert_eq!(t.average_price(), Some(dec!(100)));
    }

    #[test]
    fn partial_then_deadline_cancels_the_rest_once() {
        let mut t = OrderTracker::new(&order(dec!(1)), TimestampMs::new(1_000), 5_000);
        t.on_ack();
        t.apply_fill(&fill(1, dec!(100), dec!(0.25)));
        assert_eq!(
            t.check_deadline(TimestampMs::new(5_999)),
            TrackerAction::None
        );
        let action = t.check_deadline(TimestampMs::new(6_000));
        let TrackerAction::Cancel {
            client_order_id,
            cancel_client_order_id,
            remaining,
        } = action
        else {
            panic!("expected a cancel, got {action:?}");
        };
        assert_eq!(&client_order_id, t.client_order_id());
        assert_eq!(
            cancel_client_order_id,
            Some(client_order_id_for(signal(), OrderLeg::Cancel(1)))
        );
        assert_eq!(remaining, dec!(0.75));
        assert_eq!(
            t.check_deadline(TimestampMs::new(7_000)),
            TrackerAction::None
        );
        t.on_closed(OrderStatus::Canceled);
        assert_eq!(t.status(), OrderStatus::Canceled);
        assert_eq!(t.remaining(), dec!(0));
        // a late fill reported after the cancel is still counted
        assert_eq!(
            t.apply_fill(&fill(2, dec!(100), dec!(0.25))),
            FillOutcome::Applied(OrderStatus::Canceled)
        );
        assert_eq!(t.filled_quantity(), dec!(0.5));
    }

    #[test]
    fn overfill_wrong_order_and_rejected() {
        let mut t = OrderTracker::new(&order(dec!(1)), TimestampMs::new(0), 5_000);
        assert_eq!(
            t.apply_fill(&fill(1, dec!(100), dec!(1.5))),
            FillOutcome::Overfill {
                filled: dec!(0),
                fill: dec!(1.5)
            }
        );
        let other = OrderRequest::new(
            ClientOrderId::new("manual").unwrap(),
            Symbol::new("BTCUSDT").unwrap(),
            Side::Buy,
            OrderType::Market,
            Quantity::new(dec!(1)).unwrap(),
            None,
            TimestampMs::new(0),
        )
        .unwrap();
        let mut manual = OrderTracker::new(&other, TimestampMs::new(0), 1);
        assert_eq!(
            manual.apply_fill(&fill(1, dec!(1), dec!(1))),
            FillOutcome::WrongOrder
        );
        manual.on_ack();
        // a foreign id: cancel by the order's id only
        assert!(matches!(
            manual.check_deadline(TimestampMs::new(1)),
            TrackerAction::Cancel {
                cancel_client_order_id: None,
                ..
            }
        ));
        t.on_closed(OrderStatus::Rejected);
        assert_eq!(t.status(), OrderStatus::Rejected);
        assert_eq!(
            t.apply_fill(&fill(3, dec!(100), dec!(0.1))),
            FillOutcome::NotFillable(OrderStatus::Rejected)
        );
        // a NEW order with no fills past its deadline is cancelled too
        let mut idle = OrderTracker::new(&order(dec!(1)), TimestampMs::new(0), 100);
        idle.on_ack();
        assert!(matches!(
            idle.check_deadline(TimestampMs::new(100)),
            TrackerAction::Cancel { remaining, .. } if remaining == dec!(1)
        ));
    }
}
