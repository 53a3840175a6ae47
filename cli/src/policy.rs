//! `levibot policy`: the risk policy of a running fleet, through the policy-store's gRPC API
//! (`services.policy-store`). `show` and `history` read; `load-profile` and `set` store a new
//! version as the local operator, `$USER (admin)`, with a reason (audited). The policy-store
//! validates every field and names each invalid one; a refused policy leaves the one in force.
//!
//! `levibot policy show --json > policy.json`, edit, then
//! `levibot policy set policy.json --reason "..."` changes a policy by hand.

use std::path::PathBuf;

use clap::Subcommand;
use levibot_config::Config;
use levibot_core::TimestampMs;
use levibot_policy_store::{PolicyDocument, StoredPolicy, policy_store_client};
use levibot_proto::v1;

use crate::data::{format_utc, table};
use crate::ess::{operator, refused};

/// What `levibot policy` does.
#[derive(Debug, Clone, Subcommand)]
pub enum PolicyCommand {
    /// Show the policy in force.
    Show {
        /// Print only the document as JSON (the format `policy set` reads).
        #[arg(long)]
        json: bool,
    },
    /// The stored versions, newest first.
    History {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Store a launch profile's preset (conservative, expansion or full) as the new version.
    LoadProfile {
        /// conservative, expansion or full.
        name: String,
        /// Why (recorded and audited).
        #[arg(long)]
        reason: String,
    },
    /// Store the policy document of a JSON file (as `policy show --json` prints it) as the new
    /// version.
    Set {
        /// The JSON document.
        file: PathBuf,
        /// Why (recorded and audited).
        #[arg(long)]
        reason: String,
        /// Refuse unless this is the version in force (the one the file was edited from).
        #[arg(long, value_name = "VERSION")]
        expected_version: Option<u64>,
    },
}

/// Runs `command` against the policy-store of `config`; returns what to print on stdout.
pub async fn run(config: &Config, command: PolicyCommand) -> Result<String, String> {
    let mut client = policy_store_client(config)?;
    match command {
        PolicyCommand::Show { json } => {
            let policy = client
                .get_policy(v1::GetPolicyRequest {})
                .await
                .map_err(refused!(config))?
                .into_inner();
            if json {
                let stored = StoredPolicy::from_proto(&policy).map_err(|err| err.to_string())?;
                Ok(format!("{}\n", stored.document.to_json_pretty()))
            } else {
                Ok(show_text(&policy))
            }
        }
        PolicyCommand::History { limit } => {
            let versions = client
                .list_policy_history(v1::ListPolicyHistoryRequest { limit })
                .await
                .map_err(refused!(config))?
                .into_inner()
                .versions;
            Ok(history_text(&versions))
        }
        PolicyCommand::LoadProfile { name, reason } => {
            put(
                config,
                &mut client,
                v1::PutPolicyRequest {
                    policy: None,
                    actor: Some(operator()),
                    reason,
                    load_profile: name,
                    expected_version: 0,
                },
            )
            .await
        }
        PolicyCommand::Set {
            file,
            reason,
            expected_version,
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|err| format!("cannot read {}: {err}", file.display()))?;
            let document = parse_document(&text)
                .map_err(|err| format!("{} is not a policy document: {err}", file.display()))?;
            put(
                config,
                &mut client,
                v1::PutPolicyRequest {
                    policy: Some(document.to_proto()),
                    actor: Some(operator()),
                    reason,
                    load_profile: String::new(),
                    expected_version: expected_version.unwrap_or(0),
                },
            )
            .await
        }
    }
}

/// The document of a JSON file, parsed but not validated: the policy-store validates it and
/// names every invalid field at once.
fn parse_document(text: &str) -> Result<PolicyDocument, String> {
    serde_json::from_str(text).map_err(|err| err.to_string())
}

async fn put(
    config: &Config,
    client: &mut levibot_policy_store::PolicyStoreClient,
    request: v1::PutPolicyRequest,
) -> Result<String, String> {
    let stored = client
        .put_policy(request)
        .await
        .map_err(refused!(config))
        .map_err(|message| format!("policy not changed: {message}"))?
        .into_inner();
    Ok(format!(
        "stored policy version {} (profile {}); it is in force now\n",
        stored.version, stored.profile
    ))
}

fn when(ms: i64) -> String {
    if ms <= 0 {
        "-".to_owned()
    } else {
        format!("{} UTC", format_utc(TimestampMs::new(ms)))
    }
}

fn show_text(p: &v1::RiskPolicy) -> String {
    let mut text = format!(
        "policy version {} (profile {}), stored {} by {}: {}\n",
        p.version,
        p.profile,
        when(p.updated_ms),
        p.updated_by,
        p.reason
    );
    let caps = p
        .symbol_caps
        .iter()
        .map(|c| format!("{} {}", c.symbol, c.max_position_usd))
        .collect::<Vec<_>>()
        .join(", ");
    let weights = p
        .ensemble_weights
        .iter()
        .map(|w| format!("{} {}", w.component, w.weight))
        .collect::<Vec<_>>()
        .join(", ");
    let lines = [
        ("symbols", p.symbols.join(" ")),
        ("max_positions", p.max_positions.to_string()),
        ("max_position_usd", p.max_position_usd.clone()),
        (
            "symbol_caps",
            if caps.is_empty() { "-".into() } else { caps },
        ),
        ("max_total_exposure_usd", p.max_total_exposure_usd.clone()),
        ("daily_loss_limit_usd", p.daily_loss_limit_usd.clone()),
        ("ess_max_drawdown_pct", p.ess_max_drawdown_pct.clone()),
        ("min_confidence", p.min_confidence.to_string()),
        (
            "throttle",
            format!(
                "{} signals per {} ms",
                p.throttle_max_signals, p.throttle_window_ms
            ),
        ),
        (
            "ensemble_weights",
            if weights.is_empty() {
                "- (the ai-engine's own)".into()
            } else {
                weights
            },
        ),
        ("ess_cooldown_ms", p.ess_cooldown_ms.to_string()),
        (
            "ess_flatten_on_trip",
            if p.ess_flatten_on_trip { "yes" } else { "no" }.to_owned(),
        ),
    ];
    for (name, value) in lines {
        text.push_str(&format!("  {name:<24}{value}\n"));
    }
    text
}

fn history_text(versions: &[v1::RiskPolicy]) -> String {
    if versions.is_empty() {
        return "no policy version stored yet\n".to_owned();
    }
    let rows: Vec<[String; 5]> = versions
        .iter()
        .map(|p| {
            [
                p.version.to_string(),
                when(p.updated_ms),
                p.profile.clone(),
                p.updated_by.clone(),
                p.reason.clone(),
            ]
        })
        .collect();
    table(["VERSION", "STORED", "PROFILE", "BY", "REASON"], &rows)
}

#[cfg(test)]
mod tests {
    use levibot_config::{LaunchProfile, TradingConfig};

    use super::*;

    fn wire() -> v1::RiskPolicy {
        v1::RiskPolicy {
            version: 2,
            updated_ms: 1_640_995_200_000,
            updated_by: "ops".into(),
            reason: "calm down".into(),
            ..PolicyDocument::from_profile(LaunchProfile::Conservative, &TradingConfig::default())
                .to_proto()
        }
    }

    #[test]
    fn show_lists_every_field() {
        let text = show_text(&wire());
        assert!(
            text.starts_with(
                "policy version 2 (profile conservative), stored 2022-01-01 00:00 UTC by ops: calm down\n"
            ),
            "{text}"
        );
        for line in [
            "  symbols                 BTCUSDT ETHUSDT BNBUSDT\n",
            "  max_position_usd        1000\n",
            "  ess_max_drawdown_pct    3.0\n",
            "  ess_flatten_on_trip     no\n",
        ] {
            assert!(text.contains(line), "{line:?} not in\n{text}");
        }
    }

    #[test]
    fn the_json_of_show_is_what_set_reads() {
        let document = StoredPolicy::from_proto(&wire()).unwrap().document;
        assert_eq!(
            parse_document(&document.to_json_pretty()).unwrap(),
            document
        );
        assert!(
            parse_document(r#"{"symbols": []}"#)
                .unwrap_err()
                .contains("missing field")
        );
    }

    #[test]
    fn history_is_a_table() {
        assert_eq!(history_text(&[]), "no policy version stored yet\n");
        let text = history_text(&[wire()]);
        assert_eq!(
            text,
            "VERSION  STORED                PROFILE       BY   REASON\n\
             2        2022-01-01 00:00 UTC  conservative  ops  calm down\n"
        );
    }
}
