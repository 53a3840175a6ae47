//! The switches every order must pass: trading enabled, the kill switch, and the emergency
//! stop switch (ESS) state.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The emergency stop switch state, as policy-store publishes it.
///
/// Only [`EssState::Armed`] lets orders through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EssState {
    /// Watching; trading allowed.
    Armed,
    /// Tripped by a breach; nothing may be sent until an admin resets it.
    Tripped,
    /// Being reset; still closed until it is armed again.
    Resetting,
}

impl EssState {
    /// The stable snake_case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Armed => "armed",
            Self::Tripped => "tripped",
            Self::Resetting => "resetting",
        }
    }

    /// Whether orders may pass.
    #[must_use]
    pub const fn allows_orders(self) -> bool {
        matches!(self, Self::Armed)
    }
}

impl fmt::Display for EssState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that knows the current ESS state (policy-store's watcher, a test double).
pub trait EssStateSource {
    /// The state now.
    fn ess_state(&self) -> EssState;
}

impl EssStateSource for EssState {
    fn ess_state(&self) -> EssState {
        *self
    }
}

/// A snapshot of the switches, read by the async wrapper before each step and passed in by
/// value, so the synchronous core never waits on anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gates {
    /// The operator's / policy's master switch.
    pub trading_enabled: bool,
    /// The kill switch: `true` means engaged, nothing goes out.
    pub kill_switch_engaged: bool,
    /// The ESS state.
    pub ess: EssState,
}

/// Which gate is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedGate {
    /// Trading is disabled.
    TradingDisabled,
    /// The kill switch is engaged.
    KillSwitch,
    /// The ESS is not armed.
    Ess(EssState),
}

impl Gates {
    /// All gates open: trading enabled, kill switch off, ESS armed.
    pub const OPEN: Self = Self {
        trading_enabled: true,
        kill_switch_engaged: false,
        ess: EssState::Armed,
    };

    /// Builds a snapshot reading the ESS state from `ess`.
    #[must_use]
    pub fn read(
        trading_enabled: bool,
        kill_switch_engaged: bool,
        ess: &dyn EssStateSource,
    ) -> Self {
        Self {
            trading_enabled,
            kill_switch_engaged,
            ess: ess.ess_state(),
        }
    }

    /// The first closed gate, in the order trading enabled, kill switch, ESS; `None` when all
    /// are open.
    #[must_use]
    pub const fn first_closed(&self) -> Option<ClosedGate> {
        if !self.trading_enabled {
            Some(ClosedGate::TradingDisabled)
        } else if self.kill_switch_engaged {
            Some(ClosedGate::KillSwitch)
        } else if !self.ess.allows_orders() {
            Some(ClosedGate::Ess(self.ess))
        } else {
            None
        }
    }

    /// The first closed gate ignoring the ESS: trading enabled, then the kill switch. Only
    /// the flatten-on-trip exit ([`crate::ExecutorCore::decide_flatten`]) is judged by this;
    /// the kill switch means "send nothing" and still blocks it.
    #[must_use]
    pub const fn first_closed_except_ess(&self) -> Option<ClosedGate> {
        if !self.trading_enabled {
            Some(ClosedGate::TradingDisabled)
        } else if self.kill_switch_engaged {
            Some(ClosedGate::KillSwitch)
        } else {
            None
        }
    }

    /// Whether every gate is open.
    #[must_use]
    pub const fn all_open(&self) -> bool {
        self.first_closed().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(true, false, EssState::Armed, None)]
    #[case(false, true, EssState::Tripped, Some(ClosedGate::TradingDisabled))]
    #[case(true, true, EssState::Armed, Some(ClosedGate::KillSwitch))]
    #[case(
        true,
        false,
        EssState::Tripped,
        Some(ClosedGate::Ess(EssState::Tripped))
    )]
    #[case(
        true,
        false,
        EssState::Resetting,
        Some(ClosedGate::Ess(EssState::Resetting))
    )]
    fn first_closed(
        #[case] enabled: bool,
        #[case] kill: bool,
        #[case] ess: EssState,
        #[case] expected: Option<ClosedGate>,
    ) {
        let g = Gates::read(enabled, kill, &ess);
        assert_eq!(g.first_closed(), expected);
        assert_eq!(g.all_open(), expected.is_none());
        let except_ess = expected.filter(|c| !matches!(c, ClosedGate::Ess(_)));
        assert_eq!(g.first_closed_except_ess(), except_ess);
    }
}
