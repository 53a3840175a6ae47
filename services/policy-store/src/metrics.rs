//! The service's own Prometheus metrics.

use levibot_telemetry::metrics::{
    IntCounter, IntCounterVec, IntGauge, Opts, PrometheusError, Registry,
};

use crate::ess::EssState;

/// Metrics of the policy-store (every name gets the registry's `levibot_` prefix).
#[derive(Debug, Clone)]
pub struct PolicyStoreMetrics {
    /// `policy_version`: the policy version in force (0 until one is loaded).
    pub policy_version: IntGauge,
    /// `ess_state`: 0 armed, 1 tripped, 2 resetting, -1 not loaded yet.
    pub ess_state: IntGauge,
    /// `ess_transitions_total{to}`: stored ESS transitions by the state they lead to.
    pub ess_transitions: IntCounterVec,
    /// `policy_rejections_total`: PutPolicy requests refused (bad input, role, conflict).
    pub policy_rejections: IntCounter,
    /// `policy_store_audit_failures_total`: audit entries that could not be written.
    pub audit_failures: IntCounter,
}

impl PolicyStoreMetrics {
    /// Registers the metrics in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, PrometheusError> {
        let metrics = Self::unregistered()?;
        registry.register(Box::new(metrics.policy_version.clone()))?;
        registry.register(Box::new(metrics.ess_state.clone()))?;
        registry.register(Box::new(metrics.ess_transitions.clone()))?;
        registry.register(Box::new(metrics.policy_rejections.clone()))?;
        registry.register(Box::new(metrics.audit_failures.clone()))?;
        Ok(metrics)
    }

    /// The metrics, in no registry (tests).
    pub fn unregistered() -> Result<Self, PrometheusError> {
        let ess_state = IntGauge::new(
            "ess_state",
            "ESS state: 0 armed, 1 tripped, 2 resetting, -1 not loaded yet",
        )?;
        ess_state.set(-1);
        Ok(Self {
            policy_version: IntGauge::new("policy_version", "The risk policy version in force")?,
            ess_state,
            ess_transitions: IntCounterVec::new(
                Opts::new(
                    "ess_transitions_total",
                    "Stored ESS transitions, by new state",
                ),
                &["to"],
            )?,
            policy_rejections: IntCounter::new(
                "policy_rejections_total",
                "PutPolicy requests refused",
            )?,
            audit_failures: IntCounter::new(
                "policy_store_audit_failures_total",
                "Audit entries that could not be written",
            )?,
        })
    }

    /// Records the state in force.
    pub fn set_ess_state(&self, state: EssState) {
        self.ess_state.set(match state {
            EssState::Armed => 0,
            EssState::Tripped => 1,
            EssState::Resetting => 2,
        });
    }
}
