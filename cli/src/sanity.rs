use std::io::{self, Write};

use levibot_health_aggregator::FleetReport;

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
        "{:<width$}  {:<4}  {:>8}  DETAIL",
        "CHECK", "OK", "LATENCY"
    )?;
    for check in &report.checks {
        let ok = if check.ok { "ok" } else { "FAIL" };
        let latency = format!("{} ms", check.latency_ms);
        writeln!(
            out,
            "{:<width$}  {ok:<4}  {latency:>8}  {}",
            check.name, check.detail
        )?;
    }
    writeln!(out, "{}", summary(report))
}

/// `N checks, N passed, N failed: names`.
pub fn summary(report: &FleetReport) -> String {
    let failed: Vec<&str> = report.failed().map(|c| c.name.as_str()).collect();
    let total = report.checks.len();
    let mut line = format!(
        "{total} checks, {} passed, {} failed",
        total - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        line.push_str(": ");
        line.push_str(&failed.join(", "));
    }
    line
}

/// Writes `report` as `{"ok": bool, "checks": [{"name", "ok", "detail", "latency_ms"}]}`.
pub fn write_json(out: &mut impl Write, report: &FleetReport) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use levibot_health_aggregator::CheckOutcome;

    use super::*;

    fn report() -> FleetReport {
        FleetReport {
            ok: false,
            checks: vec![
                CheckOutcome {
                    name: "redis".into(),
                    ok: true,
                    detail: "redis 7".into(),
                    latency_ms: 2,
                },
                CheckOutcome {
                    name: "service:portfolio".into(),
                    ok: false,
                    detail: "cannot connect".into(),
                    latency_ms: 1,
                },
            ],
        }
    }

    #[test]
    fn table_names_failures() {
        let mut out = Vec::new();
        write_table(&mut out, &report()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("service:portfolio  FAIL"), "{text}");
        assert!(
            text.ends_with("2 checks, 1 passed, 1 failed: service:portfolio\n"),
            "{text}"
        );
    }

    #[test]
    fn json_has_the_documented_shape() {
        let mut out = Vec::new();
        write_json(&mut out, &report()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["ok"], false);
        assert_eq!(value["checks"][1]["name"], "service:portfolio");
        assert_eq!(value["checks"][1]["ok"], false);
        assert_eq!(value["checks"][0]["detail"], "redis 7");
    }
}
