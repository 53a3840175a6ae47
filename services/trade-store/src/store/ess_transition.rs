use std::{fmt, str::FromStr};

use levibot_core::{Actor, TimestampMs};

/// A state of the emergency stop switch, as the store keeps it (`ARMED`, `TRIPPED`,
/// `RESETTING`). The store only records transitions; the state machine's rules belong to
/// policy-store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EssState {
    /// Watching; trading allowed.
    Armed,
    /// Tripped; nothing may be sent until it is reset.
    Tripped,
    /// Being reset.
    Resetting,
}

impl EssState {
    /// Every state.
    pub const ALL: [Self; 3] = [Self::Armed, Self::Tripped, Self::Resetting];

    /// The stored name: `ARMED`, `TRIPPED` or `RESETTING`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Armed => "ARMED",
            Self::Tripped => "TRIPPED",
            Self::Resetting => "RESETTING",
        }
    }
}

impl fmt::Display for EssState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an [`EssState`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ess state {0:?}")]
pub struct EssStateParseError(pub String);

impl FromStr for EssState {
    type Err = EssStateParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| EssStateParseError(s.to_owned()))
    }
}

/// One transition of the emergency stop switch. Transitions are numbered 1, 2, 3, ... by
/// their writer; the store refuses gaps and repeats, so two writers cannot interleave.
#[derive(Debug, Clone, PartialEq)]
pub struct EssTransition {
    /// Its number, from 1.
    pub seq: u64,
    /// The state it left.
    pub from: EssState,
    /// The state it entered.
    pub to: EssState,
    /// What caused it (`drawdown`, `manual`, `reset_started`, ...).
    pub trigger: String,
    /// Why, in words (may be empty).
    pub reason: String,
    /// Who made it (a service for an automatic trip).
    pub actor: Actor,
    /// When.
    pub at: TimestampMs,
    /// Earliest time a reset may start, when the transition set one.
    pub cooldown_until: Option<TimestampMs>,
    /// The measurement behind an automatic trip, a JSON object (`{}` when none).
    pub detail: serde_json::Value,
}
