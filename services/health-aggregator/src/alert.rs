//! Alerts: which status changes are worth a message ([`Alerter`], a synchronous state machine
//! fed with the time, so tests drive it with any clock) and the webhook that carries them
//! ([`Webhook`]: Slack-compatible JSON `{"text": "..."}`; Telegram bots behind a relay accept
//! the same).

use std::{collections::HashMap, time::Duration};

use levibot_config::Secret;

use crate::{
    http::{HttpClient, http_client, post_json},
    report::{AlertKey, FleetReport, FleetStatus},
};

/// Longest alert text sent (Telegram caps a message at 4096 characters).
const MAX_TEXT_CHARS: usize = 3_500;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// What it is about.
    pub key: AlertKey,
    /// The text: status and reasons.
    pub text: String,
}

impl Alert {
    /// Whether it announces a return to OK.
    pub fn is_recovery(&self) -> bool {
        self.key.status == FleetStatus::Ok
    }

    /// The alert for `report`; `previous` is the status it recovers from, for an OK report.
    pub fn for_report(report: &FleetReport, previous: Option<FleetStatus>) -> Self {
        let mut text = if report.status == FleetStatus::Ok {
            match previous {
                Some(previous) => format!(
                    "LeviBot fleet OK: recovered from {previous}, all {} checks pass",
                    report.checks.len()
                ),
                None => format!("LeviBot fleet OK: all {} checks pass", report.checks.len()),
            }
        } else {
            let mut text = format!("LeviBot fleet {}", report.status);
            for reason in &report.reasons {
                text.push_str("\n- ");
                text.push_str(reason);
            }
            text
        };
        if let Some((cut, _)) = text.char_indices().nth(MAX_TEXT_CHARS) {
            text.truncate(cut);
            text.push('…');
        }
        Self {
            key: report.alert_key(),
            text,
        }
    }

    /// The webhook body: `{"text": "..."}`.
    pub fn body(&self) -> Vec<u8> {
        serde_json::json!({ "text": self.text })
            .to_string()
            .into_bytes()
    }
}

/// What to do about a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertDecision {
    /// Same status and failing checks as before, nothing undelivered: nothing to say.
    Unchanged,
    /// Send this alert, then report the outcome with [`Alerter::delivered`] or
    /// [`Alerter::failed`].
    Send(Alert),
    /// The same alert went out less than the dedup window ago.
    Suppressed(AlertKey),
    /// Back to OK with no problem announced (the first report, or the recovery was already
    /// sent): nobody needs telling.
    Quiet,
}

/// Decides which reports become alerts.
///
/// A report whose [`AlertKey`] (status and failing checks) differs from the previous one is a
/// change. A problem (DEGRADED/DOWN) is sent unless the same key was sent less than `dedup_ms`
/// ago; a return to OK is sent once, and only when a problem was announced. An alert whose
/// delivery failed is tried again at the next report while the key stays the same.
#[derive(Debug, Clone)]
pub struct Alerter {
    dedup_ms: i64,
    /// The key of the last report seen.
    current: Option<AlertKey>,
    /// When each problem key was last delivered.
    sent_ms: HashMap<AlertKey, i64>,
    /// Whether the last delivered alert announced a problem (so a recovery is owed).
    problem_announced: bool,
    /// The status of the last announced problem.
    announced_status: Option<FleetStatus>,
    /// An alert for the current key whose delivery failed.
    undelivered: Option<AlertKey>,
}

impl Alerter {
    /// An alerter that does not repeat an alert within `dedup_ms`.
    pub fn new(dedup_ms: u64) -> Self {
        Self {
            dedup_ms: i64::try_from(dedup_ms).unwrap_or(i64::MAX),
            current: None,
            sent_ms: HashMap::new(),
            problem_announced: false,
            announced_status: None,
            undelivered: None,
        }
    }

    /// What to do about `report`, seen at `now_ms`.
    pub fn observe(&mut self, report: &FleetReport, now_ms: i64) -> AlertDecision {
        let key = report.alert_key();
        let changed = self.current.as_ref() != Some(&key);
        let retry = self.undelivered.as_ref() == Some(&key);
        if !changed && !retry {
            return AlertDecision::Unchanged;
        }
        self.current = Some(key.clone());
        self.undelivered = None;
        if key.status == FleetStatus::Ok {
            return if self.problem_announced {
                AlertDecision::Send(Alert::for_report(report, self.announced_status))
            } else {
                AlertDecision::Quiet
            };
        }
        if !retry
            && let Some(&at) = self.sent_ms.get(&key)
            && now_ms.saturating_sub(at) < self.dedup_ms
        {
            return AlertDecision::Suppressed(key);
        }
        AlertDecision::Send(Alert::for_report(report, None))
    }

    /// `alert` was delivered at `now_ms`.
    pub fn delivered(&mut self, alert: &Alert, now_ms: i64) {
        if alert.is_recovery() {
            self.problem_announced = false;
            self.announced_status = None;
        } else {
            self.problem_announced = true;
            self.announced_status = Some(alert.key.status);
            self.sent_ms.insert(alert.key.clone(), now_ms);
        }
        let dedup_ms = self.dedup_ms;
        self.sent_ms
            .retain(|_, at| now_ms.saturating_sub(*at) < dedup_ms);
    }

    /// Delivering `alert` failed: it is tried again at the next report with the same key.
    pub fn failed(&mut self, alert: &Alert) {
        if self.current.as_ref() == Some(&alert.key) {
            self.undelivered = Some(alert.key.clone());
        }
    }
}

/// The webhook alerts are posted to. Its URL usually carries a token: it is never logged nor
/// part of an error.
#[derive(Clone)]
pub struct Webhook {
    url: Secret,
    client: HttpClient,
    timeout: Duration,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &"***")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Webhook {
    /// A webhook at `url`; each post is bounded by `timeout`.
    pub fn new(url: Secret, timeout: Duration) -> Result<Self, String> {
        Ok(Self {
            url,
            client: http_client()?,
            timeout,
        })
    }

    /// Posts `alert`. The error says what went wrong without the URL.
    pub async fn send(&self, alert: &Alert) -> Result<(), String> {
        let url = self.url.expose();
        post_json(&self.client, url, alert.body(), self.timeout)
            .await
            // belt and braces: no cause may echo the secret
            .map_err(|e| {
                if url.is_empty() {
                    e
                } else {
                    e.replace(url, "***")
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{CheckOutcome, Severity};

    const DEDUP: u64 = 60_000;

    fn report(failing: &[(&str, Severity)]) -> FleetReport {
        let mut checks = vec![CheckOutcome {
            name: "redis".into(),
            ok: true,
            severity: Severity::Critical,
            detail: "up".into(),
            latency_ms: 1,
        }];
        checks.extend(failing.iter().map(|(name, severity)| CheckOutcome {
            name: (*name).into(),
            ok: false,
            severity: *severity,
            detail: format!("{name} is broken"),
            latency_ms: 1,
        }));
        FleetReport::from_checks(checks, 0)
    }

    fn ok() -> FleetReport {
        report(&[])
    }

    fn degraded() -> FleetReport {
        report(&[("market-data", Severity::Warning)])
    }

    fn down() -> FleetReport {
        report(&[("ess", Severity::Critical)])
    }

    /// Observes `report` at `now` and delivers whatever is to be sent; returns the sent text.
    fn step(alerter: &mut Alerter, report: &FleetReport, now: i64) -> Option<String> {
        match alerter.observe(report, now) {
            AlertDecision::Send(alert) => {
                alerter.delivered(&alert, now);
                Some(alert.text)
            }
            _ => None,
        }
    }

    #[test]
    fn a_healthy_start_says_nothing_and_a_problem_is_sent_once() {
        let mut alerter = Alerter::new(DEDUP);
        assert_eq!(alerter.observe(&ok(), 0), AlertDecision::Quiet);
        assert_eq!(alerter.observe(&ok(), 10), AlertDecision::Unchanged);
        let text = step(&mut alerter, &down(), 20).unwrap();
        assert_eq!(text, "LeviBot fleet DOWN\n- ess: ess is broken");
        for now in [30, 100_000, 10_000_000] {
            assert_eq!(alerter.observe(&down(), now), AlertDecision::Unchanged);
        }
    }

    #[test]
    fn a_change_of_reasons_is_a_new_alert() {
        let mut alerter = Alerter::new(DEDUP);
        step(&mut alerter, &degraded(), 0).unwrap();
        let both = report(&[
            ("market-data", Severity::Warning),
            ("model", Severity::Warning),
        ]);
        let text = step(&mut alerter, &both, 10).unwrap();
        assert!(text.starts_with("LeviBot fleet DEGRADED\n"), "{text}");
        assert!(text.contains("- model: model is broken"), "{text}");
    }

    #[test]
    fn flapping_is_deduplicated_and_recovery_is_sent_once() {
        let mut alerter = Alerter::new(DEDUP);
        assert!(step(&mut alerter, &down(), 0).is_some());
        let recovery = step(&mut alerter, &ok(), 1_000).unwrap();
        assert_eq!(
            recovery,
            "LeviBot fleet OK: recovered from DOWN, all 1 checks pass"
        );
        // the same problem again within the window: suppressed, and so is its recovery
        assert_eq!(
            alerter.observe(&down(), 2_000),
            AlertDecision::Suppressed(down().alert_key())
        );
        assert_eq!(alerter.observe(&ok(), 3_000), AlertDecision::Quiet);
        // a different problem is not the same alert
        assert!(step(&mut alerter, &degraded(), 4_000).is_some());
        // and once the window has passed, the first one is sent again
        assert!(step(&mut alerter, &down(), 2_000 + DEDUP as i64).is_some());
        assert!(step(&mut alerter, &ok(), 3_000 + DEDUP as i64).is_some());
        assert_eq!(
            alerter.observe(&ok(), 4_000 + DEDUP as i64),
            AlertDecision::Unchanged
        );
    }

    #[test]
    fn a_failed_delivery_is_retried_at_the_next_report_and_not_deduplicated() {
        let mut alerter = Alerter::new(DEDUP);
        let AlertDecision::Send(alert) = alerter.observe(&down(), 0) else {
            panic!("expected an alert");
        };
        alerter.failed(&alert);
        let AlertDecision::Send(again) = alerter.observe(&down(), 10) else {
            panic!("expected a retry");
        };
        assert_eq!(again, alert);
        alerter.delivered(&again, 10);
        assert_eq!(alerter.observe(&down(), 20), AlertDecision::Unchanged);
        // a recovery that failed is retried too
        let AlertDecision::Send(recovery) = alerter.observe(&ok(), 30) else {
            panic!("expected a recovery");
        };
        alerter.failed(&recovery);
        assert!(matches!(
            alerter.observe(&ok(), 40),
            AlertDecision::Send(a) if a.is_recovery()
        ));
    }

    #[test]
    fn body_is_slack_json_and_long_texts_are_cut() {
        let many: Vec<(String, Severity)> = (0..400)
            .map(|i| (format!("check-{i}"), Severity::Warning))
            .collect();
        let many: Vec<(&str, Severity)> = many.iter().map(|(n, s)| (n.as_str(), *s)).collect();
        let alert = Alert::for_report(&report(&many), None);
        assert_eq!(alert.text.chars().count(), MAX_TEXT_CHARS + 1);
        let json: serde_json::Value = serde_json::from_slice(&alert.body()).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 1);
        assert_eq!(json["text"].as_str().unwrap(), alert.text);
    }

    #[test]
    fn the_webhook_url_is_never_shown() {
        let webhook = Webhook::new(
            Secret::new("https://hooks.example.com/services/T000/B000/tokentoken"),
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(!format!("{webhook:?}").contains("tokentoken"));
    }
}
