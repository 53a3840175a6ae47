use levibot_core::{Money, TimestampMs};

/// The portfolio's value at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EquitySnapshot {
    /// When; one snapshot per instant (recording the same instant twice keeps the first).
    pub at: TimestampMs,
    /// Cash plus positions at market.
    pub equity: Money,
    /// Cash.
    pub cash: Money,
    /// Unrealized profit and loss of open positions.
    pub unrealized_pnl: Money,
    /// Realized profit and loss so far.
    pub realized_pnl: Money,
}
