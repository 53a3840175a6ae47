use levibot_core::TimestampMs;

/// One line of the audit log: who did what, when.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// When.
    pub at: TimestampMs,
    /// Who (a user, a service).
    pub actor: String,
    /// What, e.g. `policy.update`, `ess.trip`.
    pub action: String,
    /// Details, as JSON.
    pub detail: serde_json::Value,
}

/// An [`AuditEntry`] as stored, with its id (increasing in append order).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// The id.
    pub id: i64,
    /// The entry.
    pub entry: AuditEntry,
}
