//! The synchronous strategy interface: one bar in, maybe one prediction out.

use levibot_core::Bar;

use crate::prediction::Prediction;

/// A bar-driven predictor run inside the engine, the backtester or as an explicit fallback
/// when the AI engine is unavailable.
///
/// Implementations keep their own state (moving averages, windows) and must be deterministic:
/// the same bars in the same order give the same predictions.
pub trait Strategy {
    /// The name the predictions carry as their source; part of every signal id, so it must be
    /// stable across restarts and distinct between differently configured strategies.
    fn name(&self) -> &str;

    /// Feeds one closed bar (oldest first) and returns a prediction when the strategy has
    /// something to say about the next move.
    fn on_bar(&mut self, bar: &Bar) -> Option<Prediction>;
}
