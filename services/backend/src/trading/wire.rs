//! Wire forms of what the trading runtime records and publishes.

use levibot_core::{OrderRequest, TimestampMs};
use levibot_proto::v1;
use levibot_trading::{DataQuality, Signal};

/// A signal as proto.
pub(crate) fn signal_to_wire(signal: &Signal) -> v1::Signal {
    let p = signal.prediction();
    v1::Signal {
        signal_id: signal.id().to_string(),
        symbol: signal.symbol().to_string(),
        bar_open_time_ms: signal.bar_open_time().as_i64(),
        side: levibot_proto::convert::side_to_wire(signal.side()) as i32,
        probability_up: p.probability_up(),
        confidence: p.confidence(),
        strategy: p.source().to_owned(),
        votes: vec![v1::ComponentVote {
            component: p.source().to_owned(),
            probability_up: p.probability_up(),
            weight: 1.0,
            model_version: String::new(),
            available: p.data_quality() == DataQuality::Ok,
        }],
        created_ms: signal.created_at().as_i64(),
    }
}

/// An order's state as the trade-store records it.
pub(crate) struct OrderState<'a> {
    pub(crate) status: v1::OrderStatus,
    pub(crate) exchange_order_id: String,
    pub(crate) filled_quantity: String,
    pub(crate) average_price: String,
    pub(crate) updated: TimestampMs,
    pub(crate) reject_reason: &'a str,
}

/// An order and its state as proto.
pub(crate) fn order_to_wire(request: &OrderRequest, state: &OrderState<'_>) -> v1::Order {
    v1::Order {
        request: Some(v1::OrderRequest::from(request)),
        exchange_order_id: state.exchange_order_id.clone(),
        status: state.status as i32,
        filled_quantity: state.filled_quantity.clone(),
        average_price: state.average_price.clone(),
        updated_ms: state.updated.as_i64(),
        reject_reason: state.reject_reason.to_owned(),
    }
}

/// The exchange's order status as proto.
pub(crate) fn status_to_wire(status: levibot_exchange::spot::OrderStatus) -> v1::OrderStatus {
    use levibot_exchange::spot::OrderStatus as S;
    match status {
        S::New | S::PendingNew | S::PendingCancel => v1::OrderStatus::New,
        S::PartiallyFilled => v1::OrderStatus::PartiallyFilled,
        S::Filled => v1::OrderStatus::Filled,
        S::Canceled => v1::OrderStatus::Canceled,
        S::Rejected => v1::OrderStatus::Rejected,
        S::Expired | S::ExpiredInMatch => v1::OrderStatus::Expired,
    }
}
