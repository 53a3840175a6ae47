use levibot_core::{Actor, TimestampMs};

/// A risk-policy version about to be stored; the store numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPolicyVersion {
    /// The launch profile it came from (`conservative`, `expansion`, `full`) or `custom`.
    pub profile: String,
    /// The whole policy, a JSON object.
    pub document: serde_json::Value,
    /// When it was made.
    pub created_at: TimestampMs,
    /// Who made it.
    pub actor: Actor,
    /// Why (may be empty).
    pub reason: String,
}

/// A stored risk-policy version: versions are 1, 2, 3, ... in the order they were stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyVersion {
    /// Its number, from 1.
    pub version: u64,
    /// What was stored.
    pub policy: NewPolicyVersion,
}
