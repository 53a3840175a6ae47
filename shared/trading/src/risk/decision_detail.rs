//! What the risk manager looked at and computed for one signal, serializable so it can be
//! stored beside the signal and explain any approval or refusal later.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use levibot_core::{Side, SignalId, Symbol, TimestampMs};

use crate::data_quality::DataQuality;

/// Which limit made a BUY smaller than Kelly asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapKind {
    /// The symbol's own cap.
    SymbolCap,
    /// The per-position limit.
    MaxPositionUsd,
    /// The total exposure limit.
    ExposureLimit,
    /// The cash available.
    Cash,
}

impl CapKind {
    /// The stable snake_case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SymbolCap => "symbol_cap",
            Self::MaxPositionUsd => "max_position_usd",
            Self::ExposureLimit => "exposure_limit",
            Self::Cash => "cash",
        }
    }
}

/// How a BUY was sized: `size_usd = min(raw_size_usd, rooms…)` with
/// `raw_size_usd = equity × fraction` and
/// `fraction = kelly × kelly_multiplier × vol_factor × confidence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizingDetail {
    /// `min(1, vol_target / realized_vol)` (1 when the realized volatility is 0).
    pub vol_factor: f64,
    /// The realized per-bar volatility used.
    pub realized_vol: f64,
    /// The target it was compared with.
    pub vol_target: f64,
    /// The configured Kelly multiplier.
    pub kelly_multiplier: f64,
    /// The product of the dimensionless factors, converted to a decimal once.
    pub fraction: Decimal,
    /// `equity × fraction`.
    pub raw_size_usd: Decimal,
    /// What the symbol cap still allows, if the symbol has one.
    pub symbol_cap_room_usd: Option<Decimal>,
    /// What the per-position limit still allows.
    pub max_position_room_usd: Decimal,
    /// What the exposure limit still allows.
    pub exposure_room_usd: Decimal,
    /// Cash available.
    pub cash_room_usd: Decimal,
    /// The size after the caps.
    pub size_usd: Decimal,
    /// The cap that bound, if one did.
    pub binding_cap: Option<CapKind>,
}

/// Why and how a flatten (a reduce-only exit on an ESS trip) was sized: everything held,
/// rounded down to the lot step. Present only on a flatten's [`DecisionDetail`], whose
/// prediction fields are then zero (a flatten has no prediction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlattenDetail {
    /// The ESS transition sequence number of the trip being answered.
    pub trip_seq: u64,
    /// The lot step the held quantity was rounded down to.
    pub step: Decimal,
    /// The lot's minimum quantity.
    pub min_quantity: Decimal,
    /// The lot's minimum notional (checked only when a mark price was known).
    pub min_notional: Decimal,
    /// What stays held after the exit (below one step, or all of it when refused).
    pub remainder: Decimal,
}

/// The inputs, factors and result of one evaluation. Fields after the failing check of a
/// refusal are `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionDetail {
    /// The signal evaluated.
    pub signal_id: SignalId,
    /// Its symbol.
    pub symbol: Symbol,
    /// Its side.
    pub side: Side,
    /// The evaluation time (injected clock).
    pub evaluated_at: TimestampMs,
    /// The price used for sizing (the bar close).
    pub price: Decimal,
    /// The prediction's probability of an up move.
    pub probability_up: f64,
    /// The prediction's confidence.
    pub confidence: f64,
    /// The prediction's data-quality verdict.
    pub data_quality: DataQuality,
    /// Account equity.
    pub equity: Decimal,
    /// Account cash.
    pub cash: Decimal,
    /// Today's PnL.
    pub pnl_today: Decimal,
    /// Quantity held in the symbol.
    pub held_quantity: Decimal,
    /// Value held in the symbol.
    pub held_notional: Decimal,
    /// Open positions across symbols.
    pub open_positions: usize,
    /// Total exposure across symbols.
    pub total_exposure: Decimal,
    /// The payoff ratio `b` used (1 unless the prediction gave one).
    pub payoff_ratio: Option<f64>,
    /// The probability of winning this side: `probability_up` for BUY, `1 − probability_up`
    /// for SELL.
    pub p_win: Option<f64>,
    /// `p_win − (1 − p_win) / b`.
    pub kelly: Option<f64>,
    /// Sizing (BUY only).
    pub sizing: Option<SizingDetail>,
    /// The order quantity, rounded down to the lot step.
    pub quantity: Option<Decimal>,
    /// `quantity × price`.
    pub notional: Option<Decimal>,
    /// Set on a flatten on an ESS trip only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flatten: Option<FlattenDetail>,
}
