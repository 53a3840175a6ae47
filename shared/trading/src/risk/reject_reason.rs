//! Why the risk manager said no: a stable reason (a metric label) plus the numbers.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::data_quality::DataQuality;
use crate::gates::EssState;
use crate::risk::decision_detail::DecisionDetail;

/// Why a signal was refused. [`RejectReason::as_str`] is the stable metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Trading is disabled.
    TradingDisabled,
    /// The kill switch is engaged.
    KillSwitch,
    /// The emergency stop switch is not armed.
    EssNotArmed(EssState),
    /// The daily loss limit was breached: the global stop is on until the next UTC day or a
    /// reset.
    DailyLossLimit,
    /// The symbol is not in the allowed list.
    UnknownSymbol,
    /// The prediction's inputs were not good enough to trade on.
    DataQuality(DataQuality),
    /// The signal's bar is older than the allowed signal age.
    StaleData,
    /// The same signal id was evaluated before.
    DuplicateSignal,
    /// Too many signals for this symbol within the throttle window.
    Throttled,
    /// The prediction's confidence is below the minimum.
    MinConfidence,
    /// Kelly says the bet has no edge (fraction ≤ 0).
    NoEdge,
    /// No realized volatility yet (the window is still filling): a BUY cannot be sized.
    NoVolatility,
    /// Opening this position would exceed the open-positions limit.
    MaxOpenPositions,
    /// The symbol's own cap is already used up.
    SymbolCapReached,
    /// The per-position value limit is already used up.
    MaxPositionUsd,
    /// The total exposure limit is already used up.
    ExposureLimit,
    /// No cash to buy with.
    InsufficientCash,
    /// A SELL with nothing held (spot, long-only: SELL only closes).
    NoPositionToSell,
    /// The rounded quantity is below the lot minimum.
    BelowMinQuantity,
    /// The order value is below the exchange minimum.
    BelowMinNotional,
}

impl RejectReason {
    /// The stable snake_case label, e.g. `"daily_loss_limit"`, `"data_quality_stale"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TradingDisabled => "trading_disabled",
            Self::KillSwitch => "kill_switch",
            Self::EssNotArmed(_) => "ess_not_armed",
            Self::DailyLossLimit => "daily_loss_limit",
            Self::UnknownSymbol => "unknown_symbol",
            Self::DataQuality(q) => match q {
                DataQuality::Ok => "data_quality_ok",
                DataQuality::Stale => "data_quality_stale",
                DataQuality::Missing => "data_quality_missing",
                DataQuality::Constant => "data_quality_constant",
                DataQuality::Synthetic => "data_quality_synthetic",
            },
            Self::StaleData => "stale_data",
            Self::DuplicateSignal => "duplicate_signal",
            Self::Throttled => "throttled",
            Self::MinConfidence => "min_confidence",
            Self::NoEdge => "no_edge",
            Self::NoVolatility => "no_volatility",
            Self::MaxOpenPositions => "max_open_positions",
            Self::SymbolCapReached => "symbol_cap_reached",
            Self::MaxPositionUsd => "max_position_usd",
            Self::ExposureLimit => "exposure_limit",
            Self::InsufficientCash => "insufficient_cash",
            Self::NoPositionToSell => "no_position_to_sell",
            Self::BelowMinQuantity => "below_min_quantity",
            Self::BelowMinNotional => "below_min_notional",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RejectReason {
    /// As its label.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A refusal: the reason, a one-line message with the numbers compared, and the decision
/// detail as far as the evaluation got (serializable, to store beside the signal).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    /// The reason (metric label via [`RejectReason::as_str`]).
    pub reason: RejectReason,
    /// e.g. `"confidence 0.42 below min 0.55"`.
    pub message: String,
    /// Inputs and factors up to the failing check.
    pub detail: Box<DecisionDetail>,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn labels_are_unique_snake_case() {
        let mut all = vec![
            RejectReason::TradingDisabled,
            RejectReason::KillSwitch,
            RejectReason::EssNotArmed(EssState::Tripped),
            RejectReason::DailyLossLimit,
            RejectReason::UnknownSymbol,
            RejectReason::StaleData,
            RejectReason::DuplicateSignal,
            RejectReason::Throttled,
            RejectReason::MinConfidence,
            RejectReason::NoEdge,
            RejectReason::NoVolatility,
            RejectReason::MaxOpenPositions,
            RejectReason::SymbolCapReached,
            RejectReason::MaxPositionUsd,
            RejectReason::ExposureLimit,
            RejectReason::InsufficientCash,
            RejectReason::NoPositionToSell,
            RejectReason::BelowMinQuantity,
            RejectReason::BelowMinNotional,
        ];
        all.extend(DataQuality::ALL.map(RejectReason::DataQuality));
        let labels: HashSet<&str> = all.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), all.len());
        for l in labels {
            assert!(
                l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{l}"
            );
        }
        assert_eq!(
            serde_json::to_string(&RejectReason::DataQuality(DataQuality::Synthetic)).unwrap(),
            "\"data_quality_synthetic\""
        );
    }
}
