//! `levibot ess`: the emergency stop system of a running fleet, through the policy-store's gRPC
//! API (`services.policy-store`). `status` and `history` read; `trip` and `reset` act as the
//! local operator, `$USER (admin)`, and are audited by the policy-store. A refused reset (role,
//! cooldown, condition still holding, portfolio unreachable) exits non-zero with the reason.

use clap::Subcommand;
use levibot_config::Config;
use levibot_core::TimestampMs;
use levibot_policy_store::{PolicyStoreClient, policy_store_client};
use levibot_proto::v1;

use crate::data::{format_utc, table};

/// What `levibot ess` does.
#[derive(Debug, Clone, Subcommand)]
pub enum EssCommand {
    /// Show the state: armed, tripped or resetting, why, since when, the cooldown.
    Status,
    /// Trip the ESS by hand: every new order is blocked until an admin resets it.
    Trip {
        /// Why (recorded and audited).
        #[arg(long)]
        reason: String,
    },
    /// Reset a tripped ESS: refused during the cooldown and while the tripping condition
    /// (drawdown, daily loss, exposure, reconciliation) still holds.
    Reset {
        /// Why (recorded and audited).
        #[arg(long)]
        reason: String,
    },
    /// The latest transitions, newest first.
    History {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

/// The operator at this machine: `$USER` (or `$LOGNAME`, or `cli`) acting as admin.
pub(crate) fn operator() -> v1::Actor {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default();
    let user = user.trim();
    let valid = !user.is_empty() && user.len() <= 128 && !user.chars().any(char::is_control);
    v1::Actor {
        name: if valid {
            user.to_owned()
        } else {
            "cli".to_owned()
        },
        role: "admin".to_owned(),
    }
}

/// A policy-store answer that was not OK (its gRPC code, as `{:?}` names it, and message),
/// said plainly.
pub(crate) fn refusal(config: &Config, code: &str, message: &str) -> String {
    if code == "Unavailable" {
        format!(
            "cannot reach the policy-store at {} (is the fleet up?): {message}",
            config
                .service(levibot_config::ServiceName::PolicyStore)
                .grpc_url(),
        )
    } else {
        format!("{message} ({code})")
    }
}

/// [`refusal`] of a `tonic::Status` (named by inference: the CLI has no direct tonic
/// dependency).
macro_rules! refused {
    ($config:expr) => {
        |status| crate::ess::refusal($config, &format!("{:?}", status.code()), status.message())
    };
}
pub(crate) use refused;

/// Runs `command` against the policy-store of `config`; returns what to print on stdout.
pub async fn run(config: &Config, command: EssCommand) -> Result<String, String> {
    let mut client = policy_store_client(config)?;
    match command {
        EssCommand::Status => {
            let status = get(config, &mut client).await?;
            Ok(status_text(&status, now()))
        }
        EssCommand::Trip { reason } => {
            let before = get(config, &mut client).await?;
            let after = client
                .trip_ess(v1::TripEssRequest {
                    reason,
                    actor: Some(operator()),
                    trigger: "manual".to_owned(),
                    detail_json: String::new(),
                })
                .await
                .map_err(refused!(config))?
                .into_inner();
            Ok(trip_text(&before, &after, now()))
        }
        EssCommand::Reset { reason } => {
            let after = client
                .reset_ess(v1::ResetEssRequest {
                    reason,
                    actor: Some(operator()),
                })
                .await
                .map_err(refused!(config))
                .map_err(|message| format!("cannot reset the ESS: {message}"))?
                .into_inner();
            Ok(format!(
                "ESS reset: armed again (transition {}); orders may flow\n",
                after.seq
            ))
        }
        EssCommand::History { limit } => {
            let transitions = client
                .list_ess_transitions(v1::ListEssTransitionsRequest { limit })
                .await
                .map_err(refused!(config))?
                .into_inner()
                .transitions;
            Ok(history_text(&transitions))
        }
    }
}

fn now() -> TimestampMs {
    use levibot_core::Clock;
    levibot_core::LiveClock::new().now()
}

async fn get(config: &Config, client: &mut PolicyStoreClient) -> Result<v1::EssStatus, String> {
    client
        .get_ess(v1::GetEssRequest {})
        .await
        .map(|response| response.into_inner())
        .map_err(refused!(config))
}

fn state_name(state: v1::EssState) -> &'static str {
    match state {
        v1::EssState::Armed => "armed",
        v1::EssState::Tripped => "TRIPPED",
        v1::EssState::Resetting => "resetting",
        v1::EssState::Unspecified => "unknown",
    }
}

fn when(ms: i64) -> String {
    if ms <= 0 {
        "-".to_owned()
    } else {
        format!("{} UTC", format_utc(TimestampMs::new(ms)))
    }
}

fn status_text(status: &v1::EssStatus, now: TimestampMs) -> String {
    let mut text = format!(
        "ESS {} (transition {}, policy v{}, flatten on trip: {})\n",
        state_name(status.state()),
        status.seq,
        status.policy_version,
        if status.flatten_on_trip { "yes" } else { "no" },
    );
    text.push_str(&format!("  since:    {}\n", when(status.since_ms)));
    if !status.trigger.is_empty() {
        text.push_str(&format!("  trigger:  {}\n", status.trigger));
    }
    text.push_str(&format!("  reason:   {}\n", status.reason));
    if status.state() != v1::EssState::Armed && status.cooldown_until_ms > 0 {
        let left = status.cooldown_until_ms - now.as_i64();
        let cooldown = if left > 0 {
            format!(
                "{} (a reset may start in {} min)",
                when(status.cooldown_until_ms),
                (left + 59_999) / 60_000
            )
        } else {
            format!("{} (over)", when(status.cooldown_until_ms))
        };
        text.push_str(&format!("  cooldown: {cooldown}\n"));
    }
    text
}

fn trip_text(before: &v1::EssStatus, after: &v1::EssStatus, now: TimestampMs) -> String {
    if before.state() == v1::EssState::Tripped && after.seq == before.seq {
        format!(
            "the ESS was already tripped; nothing changed\n{}",
            status_text(after, now)
        )
    } else {
        format!(
            "ESS tripped: new orders are blocked until an admin resets it\n{}",
            status_text(after, now)
        )
    }
}

fn history_text(transitions: &[v1::EssTransitionInfo]) -> String {
    if transitions.is_empty() {
        return "no ESS transitions yet: armed since the first start\n".to_owned();
    }
    let rows: Vec<[String; 6]> = transitions
        .iter()
        .map(|t| {
            let actor = t
                .actor
                .as_ref()
                .map_or_else(String::new, |a| format!("{} ({})", a.name, a.role));
            [
                t.seq.to_string(),
                when(t.at_ms),
                format!(
                    "{} -> {}",
                    state_name(t.from_state()),
                    state_name(t.to_state())
                ),
                t.trigger.clone(),
                actor,
                t.reason.clone(),
            ]
        })
        .collect();
    table(
        ["SEQ", "AT", "TRANSITION", "TRIGGER", "ACTOR", "REASON"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_641_081_600_000; // 2022-01-02 00:00 UTC

    fn tripped() -> v1::EssStatus {
        v1::EssStatus {
            state: v1::EssState::Tripped.into(),
            reason: "drawdown 3.4%".into(),
            since_ms: NOW - 60_000,
            cooldown_until_ms: NOW + 14 * 60_000,
            trigger: "drawdown".into(),
            seq: 4,
            policy_version: 2,
            flatten_on_trip: true,
        }
    }

    #[test]
    fn the_status_says_what_why_and_how_long() {
        assert_eq!(
            status_text(&tripped(), TimestampMs::new(NOW)),
            "ESS TRIPPED (transition 4, policy v2, flatten on trip: yes)\n  \
             since:    2022-01-01 23:59 UTC\n  trigger:  drawdown\n  reason:   drawdown 3.4%\n  \
             cooldown: 2022-01-02 00:14 UTC (a reset may start in 14 min)\n"
        );
        let armed = v1::EssStatus {
            state: v1::EssState::Armed.into(),
            reason: "armed since the first start".into(),
            ..v1::EssStatus::default()
        };
        assert_eq!(
            status_text(&armed, TimestampMs::new(NOW)),
            "ESS armed (transition 0, policy v0, flatten on trip: no)\n  since:    -\n  \
             reason:   armed since the first start\n"
        );
    }

    #[test]
    fn a_second_trip_says_nothing_changed() {
        let now = TimestampMs::new(NOW);
        assert!(trip_text(&tripped(), &tripped(), now).starts_with("the ESS was already tripped"));
        let armed = v1::EssStatus::default();
        assert!(trip_text(&armed, &tripped(), now).starts_with("ESS tripped: new orders"));
    }

    #[test]
    fn history_is_a_table() {
        assert!(history_text(&[]).starts_with("no ESS transitions yet"));
        let t = v1::EssTransitionInfo {
            seq: 1,
            from_state: v1::EssState::Armed.into(),
            to_state: v1::EssState::Tripped.into(),
            trigger: "manual".into(),
            reason: "incident".into(),
            actor: Some(operator()),
            at_ms: NOW,
            detail_json: "{}".into(),
        };
        let text = history_text(&[t]);
        assert!(text.starts_with("SEQ  AT"), "{text}");
        assert!(text.contains("armed -> TRIPPED  manual"), "{text}");
    }

    #[test]
    fn the_operator_is_an_admin() {
        let actor = operator();
        assert_eq!(actor.role, "admin");
        assert!(!actor.name.is_empty());
    }
}
