use levibot_core::{Side, SignalId, Symbol, TimestampMs};

/// A trading signal as the store keeps it, with the risk manager's decision on it.
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
    /// What the risk manager decided; `None` for a signal recorded without a decision.
    pub decision: Option<RiskDecision>,
}

/// Longest refusal reason, in characters.
pub const MAX_REASON_CHARS: usize = 64;

/// What the risk manager decided about one signal.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskDecision {
    /// Whether an order may follow.
    pub approved: bool,
    /// The refusal reason's stable name (`min_confidence`, `daily_loss_limit`, ...): `None`
    /// when approved, required when refused. Lowercase ASCII letters, digits, `_`, `.` and
    /// `-`, at most [`MAX_REASON_CHARS`].
    pub reason: Option<String>,
    /// The sizing inputs and limits behind the decision: a JSON object.
    pub detail: serde_json::Value,
    /// When it was decided.
    pub decided_at: TimestampMs,
}

impl RiskDecision {
    /// Checks a refusal reason is a stable name (`min_confidence`, `ess.tripped`,
    /// `daily-loss`): 1 to [`MAX_REASON_CHARS`] of `a-z`, `0-9`, `_`, `.`, `-`.
    pub fn check_reason(reason: &str) -> Result<(), String> {
        if reason.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if reason.len() > MAX_REASON_CHARS {
            return Err(format!("is longer than {MAX_REASON_CHARS} characters"));
        }
        if !reason
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
        {
            return Err("must be a stable name of a-z, 0-9, '_', '.' and '-'".to_owned());
        }
        Ok(())
    }
}
