//! `levibot apikey`: the API keys of the REST gateway, in the store of `store.database_url`
//! (opened directly, as `levibot data` does). `create` generates a key from the system's secure
//! random source, stores only its SHA-256 and prints the plaintext once; `list` shows every key
//! without secrets; `revoke` disables one for good. Creating and revoking are audited with the
//! actor `cli:<user> (admin)`: whoever can open the database is an administrator.

use clap::Subcommand;
use levibot_config::{Config, redact_url};
use levibot_core::{Actor, ApiKeySecret, Clock, KeyId, LiveClock, Role};
use levibot_trade_store::{
    TradeStore,
    store::{ApiKey, KeySha256, NewApiKey, Revocation},
};

use crate::data::{format_utc, table};

/// What `levibot apikey` does.
#[derive(Debug, Clone, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key and print it once: only its SHA-256 is stored, so it cannot be shown again.
    Create {
        /// What it may do: viewer (read), trader (read and trade) or admin (everything).
        #[arg(long)]
        role: Role,
        /// What it is for, e.g. "grafana" (default: "<role> key").
        #[arg(long)]
        name: Option<String>,
    },
    /// List every key: id, name, role, when created and revoked (UTC). Never the secrets.
    List,
    /// Revoke a key by id (`key_...`); requests with it are refused from then on. Revoking a
    /// revoked key changes nothing.
    Revoke {
        /// The key's id, as `levibot apikey list` shows it.
        key_id: KeyId,
    },
}

/// Runs `command` against the store of `config`; returns what to print on stdout.
pub async fn run(config: &Config, command: ApiKeyCommand) -> Result<String, String> {
    let url = &config.store.database_url;
    let store = TradeStore::connect(url)
        .await
        .map_err(|err| format!("cannot open the store at {}: {err}", redact_url(url)))?;
    let actor = cli_actor()?;
    let now = LiveClock::new().now();
    let result = match command {
        ApiKeyCommand::Create { role, name } => create(&store, role, name, &actor).await,
        ApiKeyCommand::List => list(&store).await,
        ApiKeyCommand::Revoke { key_id } => revoke(&store, key_id, &actor, now).await,
    };
    store.close().await;
    result
}

/// `cli:<user> (admin)`: the operator at this machine, acting with database access; plain
/// `cli` when the user name is unknown or unusable.
fn cli_actor() -> Result<Actor, String> {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default();
    Actor::new(&format!("cli:{user}"), Role::Admin)
        .or_else(|_| Actor::new("cli", Role::Admin))
        .map_err(|err| err.to_string())
}

async fn create(
    store: &TradeStore,
    role: Role,
    name: Option<String>,
    actor: &Actor,
) -> Result<String, String> {
    let secret = ApiKeySecret::generate().map_err(|err| err.to_string())?;
    let key = NewApiKey {
        key_id: KeyId::new(),
        name: name.unwrap_or_else(|| format!("{role} key")),
        role,
        key_sha256: KeySha256::parse(&secret.sha256_hex()).map_err(|err| err.to_string())?,
    };
    let stored = store
        .create_api_key(&key, actor, LiveClock::new().now())
        .await
        .map_err(|err| err.to_string())?;
    Ok(created_text(&stored, &secret))
}

fn created_text(key: &ApiKey, secret: &ApiKeySecret) -> String {
    format!(
        "created api key {} ({}, {:?})\n\n{}\n\n\
         Copy it now: it is shown this once and cannot be shown again (only its SHA-256 is\n\
         stored). Send it as `Authorization: Bearer <key>`. If it is lost, revoke it with\n\
         `levibot apikey revoke {}` and create another.\n",
        key.key_id,
        key.role,
        key.name,
        secret.expose(),
        key.key_id,
    )
}

async fn list(store: &TradeStore) -> Result<String, String> {
    let keys = store.list_api_keys().await.map_err(|err| err.to_string())?;
    Ok(list_text(&keys))
}

fn list_text(keys: &[ApiKey]) -> String {
    if keys.is_empty() {
        return "no api keys; create one with `levibot apikey create --role viewer`\n".to_owned();
    }
    let rows: Vec<[String; 5]> = keys
        .iter()
        .map(|k| {
            [
                k.key_id.to_string(),
                k.name.clone(),
                k.role.to_string(),
                format_utc(k.created_at),
                k.revoked_at.map_or_else(|| "-".to_owned(), format_utc),
            ]
        })
        .collect();
    table(["KEY_ID", "NAME", "ROLE", "CREATED", "REVOKED"], &rows)
}

async fn revoke(
    store: &TradeStore,
    key_id: KeyId,
    actor: &Actor,
    now: levibot_core::TimestampMs,
) -> Result<String, String> {
    let revocation = store
        .revoke_api_key(key_id, actor, now)
        .await
        .map_err(|err| err.to_string())?;
    revoke_text(key_id, &revocation)
}

fn revoke_text(key_id: KeyId, revocation: &Revocation) -> Result<String, String> {
    match revocation {
        Revocation::Revoked(key) => Ok(format!(
            "revoked api key {} ({}, {:?})\n",
            key.key_id, key.role, key.name
        )),
        Revocation::AlreadyRevoked(key) => Ok(format!(
            "api key {} ({}, {:?}) was already revoked at {}; nothing changed\n",
            key.key_id,
            key.role,
            key.name,
            key.revoked_at.map_or_else(String::new, format_utc)
        )),
        Revocation::NotFound => Err(format!(
            "no api key {key_id}; `levibot apikey list` shows the stored ones"
        )),
    }
}

#[cfg(test)]
mod tests {
    use levibot_core::TimestampMs;

    use super::*;

    fn key(revoked: Option<i64>) -> ApiKey {
        ApiKey {
            key_id: "key_01J9Z3NDEKTSV4RRFFQ69G5FAV".parse().unwrap(),
            name: "grafana".into(),
            role: Role::Viewer,
            created_at: TimestampMs::new(1_640_995_200_000),
            revoked_at: revoked.map(TimestampMs::new),
        }
    }

    #[test]
    fn the_key_is_printed_once_with_its_warning() {
        let secret = ApiKeySecret::generate().unwrap();
        let text = created_text(&key(None), &secret);
        assert_eq!(text.matches(secret.expose()).count(), 1, "{text}");
        assert!(text.contains("\n\nlbk_"), "{text}");
        assert!(text.contains("cannot be shown again"), "{text}");
        assert!(
            text.starts_with(
                "created api key key_01J9Z3NDEKTSV4RRFFQ69G5FAV (viewer, \"grafana\")"
            )
        );
    }

    #[test]
    fn lists_are_tables_without_secrets() {
        assert!(list_text(&[]).starts_with("no api keys"));
        assert_eq!(
            list_text(&[key(None), key(Some(1_641_081_600_000))]),
            "KEY_ID                          NAME     ROLE    CREATED           REVOKED\n\
             key_01J9Z3NDEKTSV4RRFFQ69G5FAV  grafana  viewer  2022-01-01 00:00  -\n\
             key_01J9Z3NDEKTSV4RRFFQ69G5FAV  grafana  viewer  2022-01-01 00:00  2022-01-02 00:00\n"
        );
    }

    #[test]
    fn revocations_say_what_happened() {
        let id = key(None).key_id;
        let revoked = key(Some(1_641_081_600_000));
        assert!(
            revoke_text(id, &Revocation::Revoked(revoked.clone()))
                .unwrap()
                .starts_with("revoked api key key_")
        );
        assert!(
            revoke_text(id, &Revocation::AlreadyRevoked(revoked))
                .unwrap()
                .contains("already revoked at 2022-01-02 00:00")
        );
        assert!(
            revoke_text(id, &Revocation::NotFound)
                .unwrap_err()
                .starts_with("no api key key_")
        );
    }

    #[test]
    fn the_cli_acts_as_an_admin() {
        let actor = cli_actor().unwrap();
        assert_eq!(actor.role(), Role::Admin);
        assert!(actor.name().starts_with("cli"));
    }
}
