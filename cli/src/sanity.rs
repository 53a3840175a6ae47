use std::{
    io::{self, Write},
    time::Duration,
};

use levibot_config::Config;
use levibot_core::{Clock, LiveClock};
use levibot_health_aggregator::check_fleet;
pub use levibot_health_aggregator::{CheckOutcome, FleetReport, FleetStatus, Severity};

/// The whole run ends within this, whatever hangs: each check has its own timeout (at most
/// [`levibot_health_aggregator::MAX_CHECK_TIMEOUT`]) and they run in parallel; this bound is
/// the last line of defence.
pub const DEADLINE: Duration = Duration::from_secs(29);

/// Runs every check of the fleet of `config` in parallel, each under `timeout`, the whole run
/// within [`DEADLINE`]: Redis, the store and its migrations, every service's health, the
/// policy, the ESS, market-data freshness, the models (or not required), the disk buffers
/// and the bus lag. The fleet passes when `report.ok`.
pub async fn run(config: &Config, timeout: Duration) -> FleetReport {
    match tokio::time::timeout(DEADLINE, check_fleet(config, timeout)).await {
        Ok(report) => report,
        Err(_) => FleetReport::from_checks(
            vec![CheckOutcome {
                name: "sanity-check".to_owned(),
                ok: false,
                severity: Severity::Critical,
                detail: format!("the checks did not finish within {} s", DEADLINE.as_secs()),
                latency_ms: u64::try_from(DEADLINE.as_millis()).unwrap_or(u64::MAX),
            }],
            LiveClock::new().now().as_i64(),
        ),
    }
}

/// Writes `report` as an aligned table followed by a summary line.
pub fn write_table(out: &mut impl Write, report: &FleetReport) -> io::Result<()> {
    let width = report
        .checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    writeln!(
        out,
        "{:<width$}  {:<4}  {:<8}  {:>8}  DETAIL",
        "CHECK", "OK", "SEVERITY", "LATENCY"
    )?;
    for check in &report.checks {
        let ok = if check.ok { "ok" } else { "FAIL" };
        let latency = format!("{} ms", check.latency_ms);
        writeln!(
            out,
            "{:<width$}  {ok:<4}  {:<8}  {latency:>8}  {}",
            check.name,
            check.severity.as_str(),
            check.detail
        )?;
    }
    writeln!(out, "{}", summary(report))
}

/// `STATUS: N checks, N passed, N failed: names`.
pub fn summary(report: &FleetReport) -> String {
    let failed: Vec<&str> = report.failed().map(|c| c.name.as_str()).collect();
    let total = report.checks.len();
    let mut line = format!(
        "{}: {total} checks, {} passed, {} failed",
        report.status,
        total - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        line.push_str(": ");
        line.push_str(&failed.join(", "));
    }
    line
}

/// Writes `report` as `{"status": "OK"|"DEGRADED"|"DOWN", "ok": bool, "reasons": [string],
/// "checked_ms": int, "checks": [{"name", "ok", "severity", "detail", "latency_ms"}]}`.
pub fn write_json(out: &mut impl Write, report: &FleetReport) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> FleetReport {
        FleetReport::from_checks(
            vec![
                CheckOutcome {
                    name: "redis".into(),
                    ok: true,
                    severity: Severity::Critical,
                    detail: "redis 7".into(),
                    latency_ms: 2,
                },
                CheckOutcome {
                    name: "service:portfolio".into(),
                    ok: false,
                    severity: Severity::Warning,
                    detail: "cannot connect".into(),
                    latency_ms: 1,
                },
            ],
            1_700_000_000_000,
        )
    }

    #[test]
    fn table_names_failures() {
        let mut out = Vec::new();
        write_table(&mut out, &report()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("service:portfolio  FAIL  warning       1 ms  cannot connect"),
            "{text}"
        );
        assert!(
            text.ends_with("DEGRADED: 2 checks, 1 passed, 1 failed: service:portfolio\n"),
            "{text}"
        );
    }

    #[test]
    fn json_has_the_documented_shape() {
        let mut out = Vec::new();
        write_json(&mut out, &report()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["ok"], false);
        assert_eq!(value["status"], "DEGRADED");
        assert_eq!(value["reasons"][0], "service:portfolio: cannot connect");
        assert_eq!(value["checks"][1]["name"], "service:portfolio");
        assert_eq!(value["checks"][1]["ok"], false);
        assert_eq!(value["checks"][1]["severity"], "warning");
        assert_eq!(value["checks"][0]["detail"], "redis 7");
    }
}
