//! The fleet-wide trading switches the executor checks on every order: trading enabled and
//! the kill switch.

use std::sync::{Mutex, PoisonError};

use levibot_core::TimestampMs;
use serde::Serialize;

/// The switches, shared by the gateway (which flips them) and the executor (which obeys).
#[derive(Debug)]
pub struct TradingGates {
    state: Mutex<GateState>,
}

/// A copy of the switches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateState {
    /// Whether new orders may be sent at all.
    pub trading_enabled: bool,
    /// The kill switch: when on, no new order leaves the executor.
    pub kill_switch: bool,
    /// Why the kill switch was last flipped (empty if never).
    pub kill_reason: String,
    /// Who flipped it last.
    pub changed_by: String,
    /// When a switch last changed (epoch ms, 0 if never).
    pub changed_ms: i64,
}

impl TradingGates {
    /// Switches with trading `enabled` and the kill switch off.
    #[must_use]
    pub fn new(enabled: bool) -> Self {
        Self {
            state: Mutex::new(GateState {
                trading_enabled: enabled,
                kill_switch: false,
                kill_reason: String::new(),
                changed_by: String::new(),
                changed_ms: 0,
            }),
        }
    }

    /// The current switches.
    pub fn get(&self) -> GateState {
        self.lock().clone()
    }

    /// Whether an order may pass both switches right now.
    pub fn open(&self) -> bool {
        let state = self.lock();
        state.trading_enabled && !state.kill_switch
    }

    /// Turns trading on or off.
    pub fn set_trading_enabled(&self, enabled: bool, by: &str, at: TimestampMs) -> GateState {
        let mut state = self.lock();
        state.trading_enabled = enabled;
        by.clone_into(&mut state.changed_by);
        state.changed_ms = at.as_i64();
        state.clone()
    }

    /// Flips the kill switch.
    pub fn set_kill_switch(&self, on: bool, reason: &str, by: &str, at: TimestampMs) -> GateState {
        let mut state = self.lock();
        state.kill_switch = on;
        reason.clone_into(&mut state.kill_reason);
        by.clone_into(&mut state.changed_by);
        state.changed_ms = at.as_i64();
        state.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
