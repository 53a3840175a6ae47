use std::fmt;

use levibot_proto::v1;
use serde::{Deserialize, Serialize};

/// How much a failing check matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Failing makes the fleet [`FleetStatus::Down`]: it cannot trade safely.
    Critical,
    /// Failing makes the fleet [`FleetStatus::Degraded`].
    Warning,
}

impl Severity {
    /// `critical` or `warning`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
        }
    }
}

impl From<Severity> for v1::CheckSeverity {
    fn from(severity: Severity) -> Self {
        match severity {
            Severity::Critical => Self::Critical,
            Severity::Warning => Self::Warning,
        }
    }
}

/// The fleet's overall state, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum FleetStatus {
    /// Every check passed.
    Ok,
    /// Only warning checks failed.
    Degraded,
    /// A critical check failed.
    Down,
}

impl FleetStatus {
    /// `OK`, `DEGRADED` or `DOWN`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Degraded => "DEGRADED",
            Self::Down => "DOWN",
        }
    }

    /// The value of the `fleet_status` gauge: 0 OK, 1 DEGRADED, 2 DOWN.
    pub const fn gauge_value(self) -> i64 {
        match self {
            Self::Ok => 0,
            Self::Degraded => 1,
            Self::Down => 2,
        }
    }

    /// The status of a fleet whose checks ended as `checks`: DOWN when a critical check
    /// failed, DEGRADED when only warnings failed, OK otherwise.
    pub fn derive(checks: &[CheckOutcome]) -> Self {
        checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| match c.severity {
                Severity::Critical => Self::Down,
                Severity::Warning => Self::Degraded,
            })
            .max()
            .unwrap_or(Self::Ok)
    }
}

impl fmt::Display for FleetStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<FleetStatus> for v1::FleetStatus {
    fn from(status: FleetStatus) -> Self {
        match status {
            FleetStatus::Ok => Self::Ok,
            FleetStatus::Degraded => Self::Degraded,
            FleetStatus::Down => Self::Down,
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// `redis` (or `bus` when Redis is not configured), `postgresql` or `sqlite`,
    /// `migrations`, `service:<name>`, `policy`, `ess`, `market-data`, `model`,
    /// `disk-buffer`, `bus-lag`.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What a failure does to the fleet's status.
    pub severity: Severity,
    /// What was found, or why it failed.
    pub detail: String,
    /// How long it took.
    pub latency_ms: u64,
}

/// The outcome of every check, with the status it adds up to.
///
/// Serialized (the gateway's `GET /health/cluster`, `levibot sanity-check --json`) as
/// `{"status": "OK"|"DEGRADED"|"DOWN", "ok": bool, "reasons": [string], "checked_ms": int,
/// "checks": [{"name", "ok", "severity": "critical"|"warning", "detail", "latency_ms"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetReport {
    /// OK, DEGRADED or DOWN.
    pub status: FleetStatus,
    /// True when every check passed (`status` is OK).
    pub ok: bool,
    /// One line per failing check, critical ones first: `<name>: <detail>`.
    pub reasons: Vec<String>,
    /// When the checks ran (epoch ms, UTC).
    pub checked_ms: i64,
    /// One entry per check, in a fixed order (see [`check_fleet`](crate::check_fleet)).
    pub checks: Vec<CheckOutcome>,
}

/// What an alert is about: the status and the names of the failing checks. Details (ages,
/// latencies, error texts) change from poll to poll and are left out, so a fleet that stays
/// broken the same way is one alert, not one per poll.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AlertKey {
    /// The fleet's status.
    pub status: FleetStatus,
    /// The failing checks, sorted.
    pub failing: Vec<String>,
}

impl FleetReport {
    /// The report of `checks` run at `checked_ms`: status derived, reasons listed.
    pub fn from_checks(checks: Vec<CheckOutcome>, checked_ms: i64) -> Self {
        let status = FleetStatus::derive(&checks);
        let mut failing: Vec<&CheckOutcome> = checks.iter().filter(|c| !c.ok).collect();
        // stable: the check order is kept within a severity
        failing.sort_by_key(|c| c.severity);
        let reasons = failing
            .iter()
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        Self {
            status,
            ok: status == FleetStatus::Ok,
            reasons,
            checked_ms,
            checks,
        }
    }

    /// The checks that failed.
    pub fn failed(&self) -> impl Iterator<Item = &CheckOutcome> {
        self.checks.iter().filter(|c| !c.ok)
    }

    /// The check called `name`.
    pub fn check(&self, name: &str) -> Option<&CheckOutcome> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// What an alert about this report is about.
    pub fn alert_key(&self) -> AlertKey {
        let mut failing: Vec<String> = self.failed().map(|c| c.name.clone()).collect();
        failing.sort();
        AlertKey {
            status: self.status,
            failing,
        }
    }

    /// The report a wire message carries (a status or severity the sender left unspecified
    /// is derived again / read as critical), e.g. for a gateway that serves it as JSON.
    pub fn from_proto(wire: &v1::FleetHealth) -> Self {
        let checks: Vec<CheckOutcome> = wire
            .checks
            .iter()
            .map(|c| CheckOutcome {
                name: c.name.clone(),
                ok: c.ok,
                severity: match c.severity() {
                    v1::CheckSeverity::Warning => Severity::Warning,
                    v1::CheckSeverity::Critical | v1::CheckSeverity::Unspecified => {
                        Severity::Critical
                    }
                },
                detail: c.detail.clone(),
                latency_ms: u64::from(c.latency_ms),
            })
            .collect();
        let mut report = Self::from_checks(checks, wire.checked_ms);
        if !wire.reasons.is_empty() {
            report.reasons.clone_from(&wire.reasons);
        }
        report
    }

    /// The report as its wire message.
    pub fn to_proto(&self) -> v1::FleetHealth {
        v1::FleetHealth {
            ok: self.ok,
            checks: self
                .checks
                .iter()
                .map(|c| v1::HealthCheck {
                    name: c.name.clone(),
                    ok: c.ok,
                    detail: c.detail.clone(),
                    latency_ms: u32::try_from(c.latency_ms).unwrap_or(u32::MAX),
                    severity: v1::CheckSeverity::from(c.severity).into(),
                })
                .collect(),
            checked_ms: self.checked_ms,
            status: v1::FleetStatus::from(self.status).into(),
            reasons: self.reasons.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn check(name: &str, ok: bool, severity: Severity) -> CheckOutcome {
        CheckOutcome {
            name: name.into(),
            ok,
            severity,
            detail: format!("{name} detail"),
            latency_ms: 1,
        }
    }

    #[rstest]
    #[case::all_pass(&[(true, Severity::Critical), (true, Severity::Warning)], FleetStatus::Ok)]
    #[case::no_checks(&[], FleetStatus::Ok)]
    #[case::warning_fails(&[(true, Severity::Critical), (false, Severity::Warning)], FleetStatus::Degraded)]
    #[case::critical_fails(&[(false, Severity::Critical), (true, Severity::Warning)], FleetStatus::Down)]
    #[case::both_fail(&[(false, Severity::Warning), (false, Severity::Critical)], FleetStatus::Down)]
    fn status_is_the_worst_failing_severity(
        #[case] checks: &[(bool, Severity)],
        #[case] expected: FleetStatus,
    ) {
        let checks: Vec<_> = checks
            .iter()
            .enumerate()
            .map(|(i, (ok, severity))| check(&format!("c{i}"), *ok, *severity))
            .collect();
        let report = FleetReport::from_checks(checks, 7);
        assert_eq!(report.status, expected);
        assert_eq!(report.ok, expected == FleetStatus::Ok);
    }

    #[test]
    fn reasons_list_critical_failures_first_and_keep_check_order() {
        let report = FleetReport::from_checks(
            vec![
                check("market-data", false, Severity::Warning),
                check("redis", true, Severity::Critical),
                check("model", false, Severity::Warning),
                check("ess", false, Severity::Critical),
            ],
            1,
        );
        assert_eq!(
            report.reasons,
            [
                "ess: ess detail",
                "market-data: market-data detail",
                "model: model detail"
            ]
        );
        assert_eq!(
            report.alert_key(),
            AlertKey {
                status: FleetStatus::Down,
                failing: vec!["ess".into(), "market-data".into(), "model".into()],
            }
        );
    }

    #[test]
    fn alert_key_ignores_details() {
        let mut a = check("market-data", false, Severity::Warning);
        let mut b = a.clone();
        a.detail = "BTCUSDT last bar closed 200 s ago".into();
        b.detail = "BTCUSDT last bar closed 260 s ago".into();
        b.latency_ms = 99;
        let a = FleetReport::from_checks(vec![a], 1);
        let b = FleetReport::from_checks(vec![b], 2);
        assert_ne!(a.reasons, b.reasons);
        assert_eq!(a.alert_key(), b.alert_key());
    }

    #[test]
    fn json_shape_is_clean() {
        let report = FleetReport::from_checks(
            vec![
                check("redis", true, Severity::Critical),
                check("model", false, Severity::Warning),
            ],
            1_700_000_000_000,
        );
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "status": "DEGRADED",
                "ok": false,
                "reasons": ["model: model detail"],
                "checked_ms": 1_700_000_000_000_i64,
                "checks": [
                    {"name": "redis", "ok": true, "severity": "critical",
                     "detail": "redis detail", "latency_ms": 1},
                    {"name": "model", "ok": false, "severity": "warning",
                     "detail": "model detail", "latency_ms": 1},
                ]
            })
        );
        let back: FleetReport = serde_json::from_value(value).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn proto_carries_status_reasons_and_severities() {
        let report = FleetReport::from_checks(vec![check("ess", false, Severity::Critical)], 5);
        let wire = report.to_proto();
        assert_eq!(wire.status(), v1::FleetStatus::Down);
        assert!(!wire.ok);
        assert_eq!(wire.reasons, ["ess: ess detail"]);
        assert_eq!(wire.checks[0].severity(), v1::CheckSeverity::Critical);
        assert_eq!(wire.checked_ms, 5);
        assert_eq!(FleetReport::from_proto(&wire), report);
    }
}
