use levibot_core::{Side, SignalId, Symbol, TimestampMs};

/// A trading signal as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRecord {
    /// The signal's id; recording the same id twice keeps the first.
    pub signal_id: SignalId,
    /// The symbol.
    pub symbol: Symbol,
    /// Open time of the bar the signal was computed on.
    pub bar_open_time: TimestampMs,
    /// The suggested side.
    pub side: Side,
    /// Model probability that the price goes up, in `0..=1`.
    pub probability_up: f64,
    /// Confidence, in `0..=1`.
    pub confidence: f64,
    /// The strategy that produced it.
    pub strategy: String,
    /// The ensemble's component votes, as JSON.
    pub votes: serde_json::Value,
    /// When it was produced.
    pub created_at: TimestampMs,
}
