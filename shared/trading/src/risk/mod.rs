//! Risk manager v2: sizing, limits, refusals with reasons, and the `RiskApproved` proof type.

/// The account snapshot the manager sizes against.
pub mod account;
/// `RiskApproved<T>`, constructible only here.
pub mod approved;
/// The serializable detail of each decision.
pub mod decision_detail;
/// The reduce-only exit on an ESS trip.
pub mod flatten;
/// The risk policy.
pub mod limits;
/// The manager.
pub mod manager;
/// Refusal reasons and refusals.
pub mod reject_reason;
/// Kelly, volatility factor and lot rounding.
pub mod sizing;

pub use account::{AccountView, PositionView};
pub use approved::RiskApproved;
pub use decision_detail::{CapKind, DecisionDetail, FlattenDetail, SizingDetail};
pub use flatten::FlattenOrder;
pub use limits::{LotRules, RiskLimits, RiskLimitsError, ThrottleLimits};
pub use manager::{DailyStop, MarketSnapshot, RiskManager};
pub use reject_reason::{RejectReason, Rejection};
