//! The one exception to "no order while the ESS is not armed": on a trip whose policy asks
//! for it, every held position is sold at market. [`RiskManager::approve_flatten`] is the only
//! way to build the [`FlattenOrder`] that [`crate::ExecutorCore::decide_flatten`] accepts.

use rust_decimal::Decimal;
use serde::Serialize;

use levibot_core::{OrderRequest, OrderType, Price, Quantity, Side, Symbol, TimestampMs};

use crate::data_quality::DataQuality;
use crate::execution::client_order_id::{flatten_client_order_id, flatten_key};
use crate::risk::approved::RiskApproved;
use crate::risk::decision_detail::{DecisionDetail, FlattenDetail};
use crate::risk::manager::RiskManager;
use crate::risk::reject_reason::{RejectReason, Rejection};
use crate::risk::sizing::round_down_to_step;

/// A reduce-only exit on an ESS trip: a MARKET SELL of at most the quantity held, rounded
/// down to the lot step, with the client order id [`flatten_client_order_id`] of (symbol,
/// trip). Never a BUY, never more than held.
///
/// Only [`RiskManager::approve_flatten`] builds one (private fields, no constructor), so the
/// executor's ESS-exempt path cannot be handed anything else:
///
/// ```compile_fail,E0451
/// use levibot_trading::risk::FlattenOrder;
///
/// fn forge(order: levibot_core::OrderRequest) -> FlattenOrder {
///     FlattenOrder { order, trip_seq: 1 }
/// }
/// ```
#[derive(Debug, PartialEq, Serialize)]
pub struct FlattenOrder {
    order: OrderRequest,
    trip_seq: u64,
}

impl FlattenOrder {
    /// The SELL order.
    #[must_use]
    pub const fn order(&self) -> &OrderRequest {
        &self.order
    }

    /// The ESS transition sequence number of the trip it answers.
    #[must_use]
    pub const fn trip_seq(&self) -> u64 {
        self.trip_seq
    }
}

impl RiskApproved<FlattenOrder> {
    /// The approved SELL as a plain approved order, to send. (Handed to
    /// [`crate::ExecutorCore::decide`] instead, it meets the ESS gate like any other order.)
    #[must_use]
    pub fn into_order(self) -> RiskApproved<OrderRequest> {
        self.map(|flatten| flatten.order)
    }
}

impl RiskManager {
    /// Approves the exit of `symbol`'s position on the ESS trip `trip_seq` (policy-store's
    /// transition sequence number): a MARKET SELL of `held` rounded down to the symbol's lot
    /// step (from the limits in force).
    ///
    /// No gate, limit or signal check applies: a flatten only reduces risk. The executor
    /// still applies the kill switch, trading-disabled, duplicate, breaker and rate-limit
    /// checks ([`crate::ExecutorCore::decide_flatten`]). Nothing is counted: the caller counts
    /// flattens under its own label.
    ///
    /// # Errors
    ///
    /// A [`Rejection`]: [`RejectReason::NoPositionToSell`] when nothing is held,
    /// [`RejectReason::BelowMinQuantity`] when the rounded quantity is zero or below the lot
    /// minimum, [`RejectReason::BelowMinNotional`] when `mark` is known and the order value is
    /// below the lot's minimum notional (the exchange would refuse it).
    pub fn approve_flatten(
        &self,
        symbol: Symbol,
        held: Decimal,
        mark: Option<Price>,
        trip_seq: u64,
        now: TimestampMs,
    ) -> Result<RiskApproved<FlattenOrder>, Rejection> {
        let lot = *self.limits().lot(symbol);
        let held = held.max(Decimal::ZERO);
        let quantity = round_down_to_step(held, lot.step).min(held);
        let price = mark.map_or(Decimal::ZERO, Price::value);
        let notional = quantity * price;
        let mut detail = DecisionDetail {
            signal_id: flatten_key(symbol, trip_seq),
            symbol,
            side: Side::Sell,
            evaluated_at: now,
            price,
            probability_up: 0.0,
            confidence: 0.0,
            data_quality: DataQuality::Ok,
            equity: Decimal::ZERO,
            cash: Decimal::ZERO,
            pnl_today: Decimal::ZERO,
            held_quantity: held,
            held_notional: held * price,
            open_positions: 0,
            total_exposure: Decimal::ZERO,
            payoff_ratio: None,
            p_win: None,
            kelly: None,
            sizing: None,
            quantity: Some(quantity),
            notional: mark.map(|_| notional),
            flatten: Some(FlattenDetail {
                trip_seq,
                step: lot.step,
                min_quantity: lot.min_quantity,
                min_notional: lot.min_notional,
                remainder: held,
            }),
        };
        let refuse = |reason: RejectReason, message: String, detail: DecisionDetail| Rejection {
            reason,
            message,
            detail: Box::new(detail),
        };
        if held.is_zero() {
            let message = format!("nothing held in {symbol} to flatten");
            return Err(refuse(RejectReason::NoPositionToSell, message, detail));
        }
        if quantity.is_zero() || quantity < lot.min_quantity {
            let message = format!(
                "held {held} rounds down to {quantity}, below min {}",
                lot.min_quantity
            );
            return Err(refuse(RejectReason::BelowMinQuantity, message, detail));
        }
        if mark.is_some() && notional < lot.min_notional {
            let message = format!("notional {notional} below min {}", lot.min_notional);
            return Err(refuse(RejectReason::BelowMinNotional, message, detail));
        }
        let order = Quantity::positive(quantity).ok().and_then(|q| {
            OrderRequest::new(
                flatten_client_order_id(symbol, trip_seq),
                symbol,
                Side::Sell,
                OrderType::Market,
                q,
                None,
                now,
            )
            .ok()
        });
        let Some(order) = order else {
            // unreachable: the quantity was checked positive above
            let message = format!("quantity {quantity} is not a valid order size");
            return Err(refuse(RejectReason::BelowMinQuantity, message, detail));
        };
        if let Some(flatten) = detail.flatten.as_mut() {
            flatten.remainder = held - quantity;
        }
        Ok(RiskApproved::new(order, detail).map(|order| FlattenOrder { order, trip_seq }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::client_order_id::{OrderLeg, parse_client_order_id};
    use crate::risk::limits::{LotRules, RiskLimits};
    use rstest::rstest;
    use rust_decimal_macros::dec;

    fn btc() -> Symbol {
        Symbol::new("BTCUSDT").unwrap()
    }

    /// BTC lots: step 0.001, min 0.002, min notional 10. Only ETH is allowed: a position in
    /// a symbol the policy no longer trades is still exited.
    fn manager() -> RiskManager {
        let mut limits = RiskLimits::new([Symbol::new("ETHUSDT").unwrap()]);
        limits.symbol_lots.insert(
            btc(),
            LotRules {
                step: dec!(0.001),
                min_quantity: dec!(0.002),
                min_notional: dec!(10),
            },
        );
        RiskManager::new(limits).unwrap()
    }

    #[rstest]
    // everything held, already on the step
    #[case(dec!(0.5), None, Ok(dec!(0.5)))]
    // rounded down, never up: the dust stays
    #[case(dec!(0.0129), None, Ok(dec!(0.012)))]
    #[case(dec!(0.0129), Some(dec!(40000)), Ok(dec!(0.012)))]
    // exactly the minimum
    #[case(dec!(0.002), None, Ok(dec!(0.002)))]
    // nothing, or a negative (never a buy)
    #[case(dec!(0), None, Err(RejectReason::NoPositionToSell))]
    #[case(dec!(-1), None, Err(RejectReason::NoPositionToSell))]
    // below one step, below the minimum quantity
    #[case(dec!(0.0009), None, Err(RejectReason::BelowMinQuantity))]
    #[case(dec!(0.0019), None, Err(RejectReason::BelowMinQuantity))]
    // 0.002 × 4000 = 8 < 10, refused only when the mark is known
    #[case(dec!(0.002), Some(dec!(4000)), Err(RejectReason::BelowMinNotional))]
    #[case(dec!(0.003), Some(dec!(4000)), Ok(dec!(0.003)))]
    fn a_flatten_sells_at_most_what_is_held_on_the_lot_step(
        #[case] held: Decimal,
        #[case] mark: Option<Decimal>,
        #[case] expected: Result<Decimal, RejectReason>,
    ) {
        let rm = manager();
        let mark = mark.map(|m| Price::new(m).unwrap());
        let got = rm.approve_flatten(btc(), held, mark, 42, TimestampMs::new(5));
        match (got, expected) {
            (Ok(approved), Ok(quantity)) => {
                let order = approved.get().order();
                assert_eq!(order.side(), Side::Sell);
                assert_eq!(order.order_type(), OrderType::Market);
                assert_eq!(order.quantity().value(), quantity);
                assert!(order.quantity().value() <= held);
                assert_eq!(order.signal_id(), None);
                assert_eq!(approved.get().trip_seq(), 42);
                assert_eq!(order.client_order_id(), &flatten_client_order_id(btc(), 42));
                let flatten = approved.detail().flatten.clone().unwrap();
                assert_eq!(flatten.remainder, held - quantity);
                let plain = approved.into_order();
                assert_eq!(plain.get().side(), Side::Sell);
            }
            (Err(rejection), Err(reason)) => {
                assert_eq!(rejection.reason, reason, "{rejection}");
                assert!(rejection.detail.flatten.is_some());
            }
            (got, expected) => panic!("got {got:?}, expected {expected:?}"),
        }
        // nothing is counted on the signal counters
        assert_eq!(rm.approvals(), 0);
        assert_eq!(rm.rejection_counts().total(), 0);
    }

    #[test]
    fn the_same_trip_gives_the_same_id_and_another_trip_another() {
        let rm = manager();
        let order = |seq| {
            rm.approve_flatten(btc(), dec!(1), None, seq, TimestampMs::new(seq as i64))
                .unwrap()
                .into_inner()
                .order
        };
        let (a, again, next) = (order(3), order(3), order(4));
        assert_eq!(a.client_order_id(), again.client_order_id());
        assert_ne!(a.client_order_id(), next.client_order_id());
        assert_eq!(
            parse_client_order_id(a.client_order_id()).map(|(_, leg)| leg),
            Some(OrderLeg::Flatten)
        );
    }

    #[test]
    fn the_detail_serializes_and_plain_details_are_unchanged() {
        let rm = manager();
        let approved = rm
            .approve_flatten(btc(), dec!(0.5), None, 9, TimestampMs::new(0))
            .unwrap();
        let json = serde_json::to_value(approved.detail()).unwrap();
        assert_eq!(json["flatten"]["trip_seq"], 9);
        let back: DecisionDetail = serde_json::from_value(json).unwrap();
        assert_eq!(&back, approved.detail());
        let mut plain = back;
        plain.flatten = None;
        let json = serde_json::to_value(&plain).unwrap();
        assert!(json.get("flatten").is_none());
    }
}
