//! The emergency stop system as a pure, synchronous state machine: ARMED → TRIPPED →
//! RESETTING → ARMED (or back to TRIPPED when a reset is refused). Every method takes the
//! current time from the caller's clock and proposes a [`Transition`]; nothing changes until
//! the caller has stored it and [`Ess::apply`]s it, so a transition that could not be stored
//! never happened.

use std::fmt;
use std::str::FromStr;

use levibot_core::TimestampMs;
use rust_decimal::Decimal;
use serde_json::json;

use crate::policy::PolicyDocument;

/// Longest reason kept, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest `detail_json` accepted, in bytes.
pub const MAX_DETAIL_BYTES: usize = 4096;

/// Where the ESS is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EssState {
    /// Trading allowed.
    Armed,
    /// Every new order blocked.
    Tripped,
    /// A reset is checking whether the tripping condition is gone; orders stay blocked.
    Resetting,
}

impl EssState {
    /// `armed`, `tripped` or `resetting`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Armed => "armed",
            Self::Tripped => "tripped",
            Self::Resetting => "resetting",
        }
    }
}

impl fmt::Display for EssState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What tripped the ESS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TripTrigger {
    /// Drawdown reached `ess_max_drawdown_pct`.
    Drawdown,
    /// The day's loss reached `daily_loss_limit_usd`.
    DailyLoss,
    /// Total exposure went over `max_total_exposure_usd`.
    Exposure,
    /// The books do not match the exchange.
    Reconciliation,
    /// An operator.
    Manual,
}

impl TripTrigger {
    /// Every trigger.
    pub const ALL: [Self; 5] = [
        Self::Drawdown,
        Self::DailyLoss,
        Self::Exposure,
        Self::Reconciliation,
        Self::Manual,
    ];

    /// `drawdown`, `daily_loss`, `exposure`, `reconciliation` or `manual`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Drawdown => "drawdown",
            Self::DailyLoss => "daily_loss",
            Self::Exposure => "exposure",
            Self::Reconciliation => "reconciliation",
            Self::Manual => "manual",
        }
    }
}

impl FromStr for TripTrigger {
    type Err = EssError;

    /// An empty trigger is `manual`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Self::Manual);
        }
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                EssError::InvalidArgument(format!(
                    "unknown trigger '{s}' (drawdown, daily_loss, exposure, reconciliation or manual)"
                ))
            })
    }
}

/// The trigger recorded on the transitions of a reset (TRIPPED → RESETTING → ARMED).
pub const RESET_TRIGGER: &str = "reset";

/// The role a caller acts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallerRole {
    /// Reads only.
    Viewer,
    /// Trades; may trip the ESS.
    Trader,
    /// Everything, including resets and policy changes.
    Admin,
    /// A LeviBot service acting on its own (the portfolio's automatic trips); may trip only.
    System,
}

impl CallerRole {
    /// `viewer`, `trader`, `admin` or `system`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Trader => "trader",
            Self::Admin => "admin",
            Self::System => "system",
        }
    }
}

/// Who asks for a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    name: String,
    role: CallerRole,
}

impl Caller {
    /// A caller from the wire's name and role; an empty name or an unknown role is refused.
    pub fn parse(name: &str, role: &str) -> Result<Self, EssError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(EssError::PermissionDenied(
                "the actor needs a name (1 to 128 characters, no control characters)".to_owned(),
            ));
        }
        let role = match role.trim() {
            "viewer" => CallerRole::Viewer,
            "trader" => CallerRole::Trader,
            "admin" => CallerRole::Admin,
            "system" => CallerRole::System,
            other => {
                return Err(EssError::PermissionDenied(format!(
                    "unknown role '{other}' (viewer, trader, admin or system)"
                )));
            }
        };
        Ok(Self {
            name: name.to_owned(),
            role,
        })
    }

    /// policy-store itself (transitions it makes on its own, e.g. at start-up).
    pub fn policy_store() -> Self {
        Self {
            name: "policy-store".to_owned(),
            role: CallerRole::System,
        }
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The role.
    pub const fn role(&self) -> CallerRole {
        self.role
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.role.as_str())
    }
}

/// A refused request; each maps to one gRPC code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EssError {
    /// The caller's role may not do this (PERMISSION_DENIED).
    #[error("{0}")]
    PermissionDenied(String),
    /// Malformed input (INVALID_ARGUMENT).
    #[error("{0}")]
    InvalidArgument(String),
    /// Not now: wrong state, cooldown running, condition still holding (FAILED_PRECONDITION).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A transition that does not follow the current state (another writer got there first).
    #[error("{0}")]
    OutOfOrder(String),
}

/// One transition, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// 1, 2, 3, ...
    pub seq: u64,
    /// State before.
    pub from: EssState,
    /// State after.
    pub to: EssState,
    /// `drawdown`, ..., `manual` for trips; `reset` for a reset's steps.
    pub trigger: String,
    /// Why.
    pub reason: String,
    /// Who.
    pub actor: Caller,
    /// When.
    pub at: TimestampMs,
    /// Earliest time a reset may start; zero when armed.
    pub cooldown_until: TimestampMs,
    /// The measurement behind it, a JSON object.
    pub detail_json: String,
}

/// The ESS state as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EssStatus {
    /// Where it is.
    pub state: EssState,
    /// What caused the last transition (a trip's trigger, kept through a refused reset).
    pub trigger: String,
    /// Why.
    pub reason: String,
    /// Since when (zero before the first transition).
    pub since: TimestampMs,
    /// Earliest time a reset may start; zero when armed.
    pub cooldown_until: TimestampMs,
    /// Seq of the last transition (0 = never transitioned).
    pub seq: u64,
}

/// What the portfolio reports, parsed: the measurements a reset is judged by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskReading {
    /// (peak - equity) / peak * 100.
    pub drawdown_pct: Decimal,
    /// PnL since 00:00 UTC (negative is a loss).
    pub daily_pnl: Decimal,
    /// Total exposure in USD.
    pub total_exposure_usd: Decimal,
    /// Whether the books match the exchange.
    pub reconciled: bool,
}

impl RiskReading {
    /// The conditions of `policy` this reading breaches, described; empty when none.
    pub fn breaches(&self, policy: &PolicyDocument) -> Vec<String> {
        let mut breaches = Vec::new();
        if self.drawdown_pct >= policy.ess_max_drawdown_pct {
            breaches.push(format!(
                "drawdown {}% >= limit {}%",
                self.drawdown_pct, policy.ess_max_drawdown_pct
            ));
        }
        if self.daily_pnl <= -policy.daily_loss_limit_usd {
            breaches.push(format!(
                "daily pnl {} USD <= -{} USD",
                self.daily_pnl, policy.daily_loss_limit_usd
            ));
        }
        if self.total_exposure_usd > policy.max_total_exposure_usd {
            breaches.push(format!(
                "exposure {} USD > limit {} USD",
                self.total_exposure_usd, policy.max_total_exposure_usd
            ));
        }
        if !self.reconciled {
            breaches.push("books not reconciled with the exchange".to_owned());
        }
        breaches
    }
}

/// `reason` trimmed, or INVALID_ARGUMENT when empty or longer than [`MAX_REASON_CHARS`].
pub fn checked_reason(reason: &str) -> Result<String, EssError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(EssError::InvalidArgument("a reason is required".to_owned()));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(EssError::InvalidArgument(format!(
            "the reason is longer than {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect())
}

/// `detail` if it is a JSON object of at most [`MAX_DETAIL_BYTES`], `{}` when empty.
pub fn checked_detail(detail: &str) -> Result<String, EssError> {
    if detail.trim().is_empty() {
        return Ok("{}".to_owned());
    }
    if detail.len() > MAX_DETAIL_BYTES {
        return Err(EssError::InvalidArgument(format!(
            "detail_json is longer than {MAX_DETAIL_BYTES} bytes"
        )));
    }
    match serde_json::from_str::<serde_json::Value>(detail) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(value.to_string()),
        _ => Err(EssError::InvalidArgument(
            "detail_json must be a JSON object".to_owned(),
        )),
    }
}

/// "12m 5s" for a duration in milliseconds.
fn describe_ms(ms: i64) -> String {
    let seconds = (ms.max(0) + 999) / 1000;
    match (seconds / 3600, (seconds % 3600) / 60, seconds % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, s) => format!("{h}h {m}m {s}s"),
    }
}

/// The state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ess {
    status: EssStatus,
    /// The trip a reset started from (trigger, reason), to go back to when it is refused.
    tripped_by: Option<(String, String)>,
}

impl Default for Ess {
    fn default() -> Self {
        Self::armed()
    }
}

impl Ess {
    /// Armed, never transitioned.
    pub fn armed() -> Self {
        Self {
            status: EssStatus {
                state: EssState::Armed,
                trigger: String::new(),
                reason: "armed since the first start".to_owned(),
                since: TimestampMs::EPOCH,
                cooldown_until: TimestampMs::EPOCH,
                seq: 0,
            },
            tripped_by: None,
        }
    }

    /// The state the newest stored transition leaves (armed when there is none).
    pub fn from_latest(latest: Option<&Transition>) -> Self {
        let Some(t) = latest else {
            return Self::armed();
        };
        let tripped_by = match t.to {
            EssState::Armed => None,
            EssState::Tripped => Some((t.trigger.clone(), t.reason.clone())),
            EssState::Resetting => Some(tripped_by_of(&t.detail_json)),
        };
        Self {
            status: EssStatus {
                state: t.to,
                trigger: match (t.to, &tripped_by) {
                    (EssState::Resetting, _) => RESET_TRIGGER.to_owned(),
                    _ => t.trigger.clone(),
                },
                reason: t.reason.clone(),
                since: t.at,
                cooldown_until: t.cooldown_until,
                seq: t.seq,
            },
            tripped_by,
        }
    }

    /// The current status.
    pub fn status(&self) -> &EssStatus {
        &self.status
    }

    /// The current state.
    pub fn state(&self) -> EssState {
        self.status.state
    }

    fn next(
        &self,
        to: EssState,
        trigger: &str,
        reason: String,
        actor: &Caller,
        now: TimestampMs,
    ) -> Transition {
        Transition {
            seq: self.status.seq + 1,
            from: self.status.state,
            to,
            trigger: trigger.to_owned(),
            reason,
            actor: actor.clone(),
            at: now,
            cooldown_until: self.status.cooldown_until,
            detail_json: "{}".to_owned(),
        }
    }

    /// A RESETTING found at start-up: the reset was cut short, so the ESS goes back to
    /// TRIPPED (the trip it started from, same cooldown). `None` in any other state.
    pub fn resume(&self, now: TimestampMs) -> Option<Transition> {
        (self.status.state == EssState::Resetting).then(|| {
            let (trigger, trip_reason) = self.trip_origin();
            self.next(
                EssState::Tripped,
                &trigger,
                format!("reset interrupted by a restart; tripped: {trip_reason}"),
                &Caller::policy_store(),
                now,
            )
        })
    }

    fn trip_origin(&self) -> (String, String) {
        self.tripped_by
            .clone()
            .unwrap_or_else(|| (TripTrigger::Manual.as_str().to_owned(), String::new()))
    }

    /// A trip by `caller` (trader, admin or system). `Ok(None)` when already tripped: nothing
    /// changes. From RESETTING a trip wins over the reset.
    pub fn trip(
        &self,
        caller: &Caller,
        trigger: TripTrigger,
        reason: &str,
        detail_json: &str,
        cooldown_ms: i64,
        now: TimestampMs,
    ) -> Result<Option<Transition>, EssError> {
        if caller.role() == CallerRole::Viewer {
            return Err(EssError::PermissionDenied(format!(
                "{caller} may not trip the ESS: it needs the trader or admin role"
            )));
        }
        let reason = checked_reason(reason)?;
        let detail_json = checked_detail(detail_json)?;
        if self.status.state == EssState::Tripped {
            return Ok(None);
        }
        let mut t = self.next(EssState::Tripped, trigger.as_str(), reason, caller, now);
        t.cooldown_until = now
            .checked_add_ms(cooldown_ms.max(0))
            .unwrap_or(TimestampMs::new(i64::MAX));
        t.detail_json = detail_json;
        Ok(Some(t))
    }

    /// The first step of a reset: TRIPPED → RESETTING, for an admin with a reason once the
    /// cooldown is over. The caller then judges the conditions and calls
    /// [`finish_reset`](Self::finish_reset).
    pub fn begin_reset(
        &self,
        caller: &Caller,
        reason: &str,
        now: TimestampMs,
    ) -> Result<Transition, EssError> {
        if caller.role() != CallerRole::Admin {
            return Err(EssError::PermissionDenied(format!(
                "{caller} may not reset the ESS: it needs the admin role"
            )));
        }
        let reason = checked_reason(reason)?;
        match self.status.state {
            EssState::Tripped => {}
            EssState::Armed => {
                return Err(EssError::FailedPrecondition(
                    "the ESS is armed: there is nothing to reset".to_owned(),
                ));
            }
            EssState::Resetting => {
                return Err(EssError::FailedPrecondition(
                    "a reset is already in progress".to_owned(),
                ));
            }
        }
        if now < self.status.cooldown_until {
            let left = self.status.cooldown_until.as_i64() - now.as_i64();
            return Err(EssError::FailedPrecondition(format!(
                "the ESS is cooling down: a reset may start in {} (at {} ms)",
                describe_ms(left),
                self.status.cooldown_until.as_i64()
            )));
        }
        let mut t = self.next(EssState::Resetting, RESET_TRIGGER, reason, caller, now);
        t.detail_json = json!({
            "tripped_by": self.status.trigger,
            "trip_reason": self.status.reason,
        })
        .to_string();
        Ok(t)
    }

    /// The last step of a reset, from RESETTING: ARMED when `reading` breaches nothing in
    /// `policy`, otherwise back to TRIPPED with the reason `reset refused: ...` (also when the
    /// reading could not be had: nothing is reset that cannot be verified). The returned flag
    /// says whether the reset went through.
    pub fn finish_reset(
        &self,
        caller: &Caller,
        reading: Result<&RiskReading, &str>,
        policy: &PolicyDocument,
        now: TimestampMs,
    ) -> Result<(Transition, bool), EssError> {
        if self.status.state != EssState::Resetting {
            return Err(EssError::FailedPrecondition(format!(
                "the ESS is {}, not resetting",
                self.status.state
            )));
        }
        let refusal = match reading {
            Err(why) => Some(format!("cannot verify the tripping condition: {why}")),
            Ok(reading) => {
                let breaches = reading.breaches(policy);
                (!breaches.is_empty())
                    .then(|| format!("condition still holds: {}", breaches.join(", ")))
            }
        };
        let detail = match reading {
            Ok(r) => json!({
                "drawdown_pct": r.drawdown_pct.to_string(),
                "daily_pnl": r.daily_pnl.to_string(),
                "total_exposure_usd": r.total_exposure_usd.to_string(),
                "reconciled": r.reconciled,
            }),
            Err(why) => json!({ "unverified": why }),
        }
        .to_string();
        let (mut t, armed) = match refusal {
            None => {
                let mut t = self.next(
                    EssState::Armed,
                    RESET_TRIGGER,
                    self.status.reason.clone(),
                    caller,
                    now,
                );
                t.cooldown_until = TimestampMs::EPOCH;
                (t, true)
            }
            Some(refusal) => {
                let (trigger, _) = self.trip_origin();
                let t = self.next(
                    EssState::Tripped,
                    &trigger,
                    format!("reset refused: {refusal}"),
                    caller,
                    now,
                );
                (t, false)
            }
        };
        t.detail_json = detail;
        Ok((t, armed))
    }

    /// Takes `t` (once stored): it must be the next transition from the current state.
    pub fn apply(&mut self, t: &Transition) -> Result<(), EssError> {
        if t.seq != self.status.seq + 1 || t.from != self.status.state {
            return Err(EssError::OutOfOrder(format!(
                "transition {} ({} -> {}) does not follow {} at seq {}",
                t.seq, t.from, t.to, self.status.state, self.status.seq
            )));
        }
        let before = self.status.clone();
        *self = Self::from_latest(Some(t));
        if t.to == EssState::Resetting {
            self.tripped_by = Some((before.trigger, before.reason));
        }
        Ok(())
    }
}

fn tripped_by_of(detail_json: &str) -> (String, String) {
    let detail: serde_json::Value = serde_json::from_str(detail_json).unwrap_or_default();
    let field = |name: &str| {
        detail
            .get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let trigger = field("tripped_by");
    (
        if trigger.is_empty() {
            TripTrigger::Manual.as_str().to_owned()
        } else {
            trigger
        },
        field("trip_reason"),
    )
}

#[cfg(test)]
mod tests {
    use levibot_config::{LaunchProfile, TradingConfig};
    use rstest::rstest;
    use rust_decimal_macros::dec;

    use super::*;

    const T0: i64 = 1_700_000_000_000;
    const COOLDOWN: i64 = 60_000;

    fn caller(role: &str) -> Caller {
        Caller::parse("ops", role).unwrap()
    }

    fn policy() -> PolicyDocument {
        // conservative: drawdown 3%, daily loss 300, exposure 5000
        PolicyDocument::from_profile(LaunchProfile::Conservative, &TradingConfig::default())
    }

    fn calm() -> RiskReading {
        RiskReading {
            drawdown_pct: dec!(1.0),
            daily_pnl: dec!(-50),
            total_exposure_usd: dec!(1000),
            reconciled: true,
        }
    }

    fn at(ms: i64) -> TimestampMs {
        TimestampMs::new(T0 + ms)
    }

    /// Applies `t`, as the service does once it is stored.
    fn step(ess: &mut Ess, t: &Transition) {
        ess.apply(t).unwrap();
    }

    fn tripped() -> Ess {
        let mut ess = Ess::armed();
        let t = ess
            .trip(
                &caller("system"),
                TripTrigger::Drawdown,
                "drawdown 3.2%",
                r#"{"drawdown_pct":"3.2"}"#,
                COOLDOWN,
                at(0),
            )
            .unwrap()
            .unwrap();
        step(&mut ess, &t);
        ess
    }

    fn resetting() -> Ess {
        let mut ess = tripped();
        let t = ess
            .begin_reset(&caller("admin"), "recovered", at(COOLDOWN))
            .unwrap();
        step(&mut ess, &t);
        ess
    }

    #[rstest]
    #[case("trader", TripTrigger::Manual)]
    #[case("admin", TripTrigger::Manual)]
    #[case("system", TripTrigger::Drawdown)]
    #[case("system", TripTrigger::DailyLoss)]
    #[case("system", TripTrigger::Exposure)]
    #[case("system", TripTrigger::Reconciliation)]
    fn armed_trips(#[case] role: &str, #[case] trigger: TripTrigger) {
        let ess = Ess::armed();
        let t = ess
            .trip(&caller(role), trigger, " why ", "", COOLDOWN, at(5))
            .unwrap()
            .unwrap();
        assert_eq!(
            (t.seq, t.from, t.to),
            (1, EssState::Armed, EssState::Tripped)
        );
        assert_eq!(t.trigger, trigger.as_str());
        assert_eq!(t.reason, "why");
        assert_eq!(t.cooldown_until, at(5 + COOLDOWN));
        assert_eq!(t.detail_json, "{}");
        let mut ess = ess;
        step(&mut ess, &t);
        let status = ess.status();
        assert_eq!(status.state, EssState::Tripped);
        assert_eq!(status.since, at(5));
        assert_eq!(status.seq, 1);
    }

    #[test]
    fn a_viewer_cannot_trip() {
        let err = Ess::armed()
            .trip(&caller("viewer"), TripTrigger::Manual, "x", "", 0, at(0))
            .unwrap_err();
        assert!(matches!(err, EssError::PermissionDenied(_)), "{err}");
    }

    #[rstest]
    #[case("", "{}", "a reason is required")]
    #[case("   ", "{}", "a reason is required")]
    #[case("x", "[1]", "detail_json must be a JSON object")]
    #[case("x", "{bad", "detail_json must be a JSON object")]
    fn a_trip_needs_a_reason_and_an_object(
        #[case] reason: &str,
        #[case] detail: &str,
        #[case] message: &str,
    ) {
        let err = Ess::armed()
            .trip(
                &caller("admin"),
                TripTrigger::Manual,
                reason,
                detail,
                0,
                at(0),
            )
            .unwrap_err();
        assert_eq!(err, EssError::InvalidArgument(message.to_owned()));
    }

    #[test]
    fn triggers_parse_and_empty_is_manual() {
        assert_eq!("".parse::<TripTrigger>().unwrap(), TripTrigger::Manual);
        for trigger in TripTrigger::ALL {
            assert_eq!(trigger.as_str().parse::<TripTrigger>().unwrap(), trigger);
        }
        assert!(matches!(
            "meteor".parse::<TripTrigger>(),
            Err(EssError::InvalidArgument(_))
        ));
    }

    #[test]
    fn tripping_a_tripped_ess_changes_nothing() {
        let ess = tripped();
        let again = ess
            .trip(
                &caller("admin"),
                TripTrigger::Manual,
                "again",
                "",
                COOLDOWN,
                at(10),
            )
            .unwrap();
        assert_eq!(again, None);
        assert_eq!(ess.status().trigger, "drawdown");
        assert_eq!(ess.status().cooldown_until, at(COOLDOWN));
    }

    #[rstest]
    #[case("viewer")]
    #[case("trader")]
    #[case("system")]
    fn only_an_admin_resets(#[case] role: &str) {
        let err = tripped()
            .begin_reset(&caller(role), "ok now", at(COOLDOWN))
            .unwrap_err();
        assert!(matches!(err, EssError::PermissionDenied(_)), "{err}");
    }

    #[test]
    fn a_reset_needs_a_reason() {
        let err = tripped()
            .begin_reset(&caller("admin"), " ", at(COOLDOWN))
            .unwrap_err();
        assert!(matches!(err, EssError::InvalidArgument(_)), "{err}");
    }

    #[rstest]
    #[case(0, "a reset may start in 1m 0s")]
    #[case(COOLDOWN - 1, "a reset may start in 1s")]
    #[case(COOLDOWN - 61_000 + COOLDOWN, "a reset may start in 1s")]
    fn no_reset_during_the_cooldown(#[case] elapsed: i64, #[case] left: &str) {
        let ess = tripped();
        match ess.begin_reset(&caller("admin"), "ok now", at(elapsed)) {
            Err(EssError::FailedPrecondition(message)) => {
                assert!(message.contains(left), "{message}");
                assert!(message.contains("cooling down"), "{message}");
            }
            other => panic!("expected a cooldown refusal, got {other:?}"),
        }
    }

    #[test]
    fn nothing_to_reset_when_armed() {
        let err = Ess::armed()
            .begin_reset(&caller("admin"), "x", at(0))
            .unwrap_err();
        assert!(matches!(err, EssError::FailedPrecondition(_)), "{err}");
        let err = resetting()
            .begin_reset(&caller("admin"), "x", at(COOLDOWN))
            .unwrap_err();
        assert!(matches!(err, EssError::FailedPrecondition(_)), "{err}");
    }

    #[test]
    fn a_reset_after_the_cooldown_with_calm_conditions_arms() {
        let mut ess = resetting();
        assert_eq!(ess.state(), EssState::Resetting);
        assert_eq!(ess.status().seq, 2);
        let (t, armed) = ess
            .finish_reset(&caller("admin"), Ok(&calm()), &policy(), at(COOLDOWN + 1))
            .unwrap();
        assert!(armed);
        assert_eq!(
            (t.seq, t.from, t.to),
            (3, EssState::Resetting, EssState::Armed)
        );
        assert_eq!(t.trigger, RESET_TRIGGER);
        assert_eq!(t.cooldown_until, TimestampMs::EPOCH);
        step(&mut ess, &t);
        assert_eq!(ess.state(), EssState::Armed);
        // and it can trip again
        assert!(
            ess.trip(
                &caller("trader"),
                TripTrigger::Manual,
                "x",
                "",
                1,
                at(COOLDOWN + 2)
            )
            .unwrap()
            .is_some()
        );
    }

    #[rstest]
    #[case::drawdown(RiskReading { drawdown_pct: dec!(3.0), ..calm() }, "drawdown 3.0% >= limit 3.0%")]
    #[case::daily_loss(RiskReading { daily_pnl: dec!(-300), ..calm() }, "daily pnl -300 USD <= -300 USD")]
    #[case::exposure(RiskReading { total_exposure_usd: dec!(5000.01), ..calm() }, "exposure 5000.01 USD > limit 5000 USD")]
    #[case::reconciliation(RiskReading { reconciled: false, ..calm() }, "books not reconciled")]
    fn a_reset_is_refused_while_the_condition_holds(
        #[case] reading: RiskReading,
        #[case] breach: &str,
    ) {
        let mut ess = resetting();
        let (t, armed) = ess
            .finish_reset(&caller("admin"), Ok(&reading), &policy(), at(COOLDOWN))
            .unwrap();
        assert!(!armed);
        assert_eq!((t.from, t.to), (EssState::Resetting, EssState::Tripped));
        assert!(
            t.reason
                .starts_with("reset refused: condition still holds: "),
            "{}",
            t.reason
        );
        assert!(t.reason.contains(breach), "{}", t.reason);
        // back to the trip it started from, same cooldown
        assert_eq!(t.trigger, "drawdown");
        assert_eq!(t.cooldown_until, at(COOLDOWN));
        step(&mut ess, &t);
        assert_eq!(ess.state(), EssState::Tripped);
        assert_eq!(ess.status().seq, 3);
    }

    #[test]
    fn the_edges_of_the_limits_are_calm() {
        let reading = RiskReading {
            drawdown_pct: dec!(2.99),
            daily_pnl: dec!(-299.99),
            total_exposure_usd: dec!(5000),
            reconciled: true,
        };
        assert!(reading.breaches(&policy()).is_empty());
    }

    #[test]
    fn an_unverifiable_reset_is_refused() {
        let ess = resetting();
        let (t, armed) = ess
            .finish_reset(
                &caller("admin"),
                Err("portfolio unreachable"),
                &policy(),
                at(COOLDOWN),
            )
            .unwrap();
        assert!(!armed);
        assert_eq!(t.to, EssState::Tripped);
        assert_eq!(
            t.reason,
            "reset refused: cannot verify the tripping condition: portfolio unreachable"
        );
    }

    #[test]
    fn finishing_needs_a_reset_in_progress() {
        let err = tripped()
            .finish_reset(&caller("admin"), Ok(&calm()), &policy(), at(COOLDOWN))
            .unwrap_err();
        assert!(matches!(err, EssError::FailedPrecondition(_)));
    }

    #[test]
    fn a_trip_during_a_reset_wins() {
        let ess = resetting();
        let t = ess
            .trip(
                &caller("system"),
                TripTrigger::Exposure,
                "exposure",
                "",
                COOLDOWN,
                at(COOLDOWN),
            )
            .unwrap()
            .unwrap();
        assert_eq!((t.from, t.to), (EssState::Resetting, EssState::Tripped));
        assert_eq!(t.cooldown_until, at(2 * COOLDOWN));
    }

    #[test]
    fn a_resetting_found_at_start_resumes_as_tripped() {
        let ess = resetting();
        let stored = Transition {
            seq: 2,
            from: EssState::Tripped,
            to: EssState::Resetting,
            trigger: RESET_TRIGGER.into(),
            reason: "recovered".into(),
            actor: caller("admin"),
            at: at(COOLDOWN),
            cooldown_until: at(COOLDOWN),
            detail_json: r#"{"tripped_by":"drawdown","trip_reason":"drawdown 3.2%"}"#.into(),
        };
        // what a restart reads back is what the machine had
        let mut loaded = Ess::from_latest(Some(&stored));
        assert_eq!(loaded, ess);
        let t = loaded.resume(at(COOLDOWN + 5)).unwrap();
        assert_eq!(
            (t.seq, t.from, t.to),
            (3, EssState::Resetting, EssState::Tripped)
        );
        assert_eq!(t.trigger, "drawdown");
        assert!(
            t.reason.contains("reset interrupted by a restart"),
            "{}",
            t.reason
        );
        assert_eq!(t.actor, Caller::policy_store());
        assert_eq!(t.cooldown_until, at(COOLDOWN));
        step(&mut loaded, &t);
        assert_eq!(loaded.state(), EssState::Tripped);
        assert_eq!(tripped().resume(at(0)), None);
        assert_eq!(Ess::armed().resume(at(0)), None);
    }

    #[test]
    fn out_of_order_transitions_are_refused() {
        let mut ess = Ess::armed();
        let t = ess
            .trip(&caller("admin"), TripTrigger::Manual, "x", "", 0, at(0))
            .unwrap()
            .unwrap();
        let mut late = t.clone();
        late.seq = 2;
        assert!(matches!(ess.apply(&late), Err(EssError::OutOfOrder(_))));
        step(&mut ess, &t);
        assert!(matches!(ess.apply(&t), Err(EssError::OutOfOrder(_))));
    }

    #[rstest]
    #[case("", "admin")]
    #[case("ops", "root")]
    #[case("ops", "")]
    fn callers_need_a_name_and_a_known_role(#[case] name: &str, #[case] role: &str) {
        assert!(matches!(
            Caller::parse(name, role),
            Err(EssError::PermissionDenied(_))
        ));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(describe_ms(0), "0s");
        assert_eq!(describe_ms(1), "1s");
        assert_eq!(describe_ms(61_000), "1m 1s");
        assert_eq!(describe_ms(3_600_000), "1h 0m 0s");
    }
}
