//! `levibot apikey` as an operator runs it, against a SQLite file and a PostgreSQL schema of
//! its own: `create` prints the key once and stores only its hash (the gateway's lookup finds
//! it), `list` shows it without secrets, `revoke` disables it once, and mistakes exit non-zero
//! saying why.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

use std::process::{Command, Output};

use levibot_core::api_key_sha256;
use levibot_trade_store::{TradeStore, store::KeySha256, testing::TestSchema};

const LEVIBOT: &str = env!("CARGO_BIN_EXE_levibot");

/// `levibot --set store.database_url=<url> apikey <args>` with a clean environment.
fn apikey(url: &str, args: &[&str]) -> Output {
    let mut command = Command::new(LEVIBOT);
    for (key, _) in std::env::vars() {
        if key.starts_with("LEVIBOT") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command
        .env("LEVIBOT__TELEMETRY__LOG_FILTER", "warn")
        .env("USER", "alice")
        .args(["--set", &format!("store.database_url={url}"), "apikey"])
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    assert!(!output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs the whole lifecycle against `url`; returns the plaintext of the created key.
async fn lifecycle(url: &str) -> String {
    let empty = stdout(&apikey(url, &["list"]));
    assert!(empty.starts_with("no api keys"), "{empty}");

    let created = stdout(&apikey(
        url,
        &["create", "--role", "trader", "--name", "trading bot"],
    ));
    assert!(created.contains("cannot be shown again"), "{created}");
    let key: Vec<_> = created
        .lines()
        .filter(|line| line.starts_with("lbk_"))
        .collect();
    assert_eq!(key.len(), 1, "the key is printed once: {created}");
    let key = key[0].to_owned();
    assert_eq!(key.len(), 68);
    let key_id = created
        .split_whitespace()
        .find(|w| w.starts_with("key_"))
        .unwrap()
        .to_owned();

    // what the gateway does with a presented key finds it
    let store = TradeStore::connect(url).await.unwrap();
    let hash = KeySha256::parse(&api_key_sha256(&key)).unwrap();
    let found = store.api_key_by_sha256(&hash).await.unwrap().unwrap();
    assert_eq!(found.key_id.to_string(), key_id);
    assert_eq!(found.name, "trading bot");
    assert!(found.is_active());

    let default_name = stdout(&apikey(url, &["create", "--role", "viewer"]));
    assert!(
        default_name.contains("(viewer, \"viewer key\")"),
        "{default_name}"
    );

    let list = stdout(&apikey(url, &["list"]));
    let lines: Vec<_> = list.lines().collect();
    assert!(lines[0].starts_with("KEY_ID"), "{list}");
    assert!(
        lines[0].ends_with("NAME         ROLE    CREATED           REVOKED"),
        "{list}"
    );
    assert_eq!(lines.len(), 3, "{list}");
    assert!(lines[1].starts_with(&key_id) && lines[1].contains("trading bot  trader"));
    assert!(lines[1].ends_with("  -"), "active: {list}");
    assert!(!list.contains("lbk_"), "{list}");

    let revoked = stdout(&apikey(url, &["revoke", &key_id]));
    assert!(
        revoked.starts_with(&format!("revoked api key {key_id}")),
        "{revoked}"
    );
    let again = stdout(&apikey(url, &["revoke", &key_id]));
    assert!(again.contains("was already revoked"), "{again}");
    let found = store.api_key_by_sha256(&hash).await.unwrap().unwrap();
    assert!(!found.is_active());
    let list = stdout(&apikey(url, &["list"]));
    assert!(!list.lines().nth(1).unwrap().ends_with("  -"), "{list}");

    // the audit log names the operator
    let log = store
        .query_audit(
            levibot_core::TimestampMs::new(0),
            levibot_core::TimestampMs::new(i64::MAX),
            100,
        )
        .await
        .unwrap();
    let actions: Vec<_> = log
        .iter()
        .map(|r| (r.entry.action.as_str(), r.entry.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("apikey.create", "cli:alice (admin)"),
            ("apikey.create", "cli:alice (admin)"),
            ("apikey.revoke", "cli:alice (admin)"),
            ("apikey.revoke", "cli:alice (admin)"),
        ]
    );
    store.close().await;

    // mistakes say why and exit non-zero
    let unknown = stderr(&apikey(url, &["revoke", "key_01J9Z3NDEKTSV4RRFFQ69G5FAV"]));
    assert!(
        unknown.contains("no api key key_01J9Z3NDEKTSV4RRFFQ69G5FAV"),
        "{unknown}"
    );
    let bad_id = apikey(url, &["revoke", "01J9Z3NDEKTSV4RRFFQ69G5FAV"]);
    assert_eq!(bad_id.status.code(), Some(2), "{bad_id:?}");
    assert!(stderr(&bad_id).contains("invalid key id"));
    let bad_role = apikey(url, &["create", "--role", "root"]);
    assert_eq!(bad_role.status.code(), Some(2), "{bad_role:?}");
    assert!(stderr(&bad_role).contains("expected viewer, trader or admin"));
    let blank = stderr(&apikey(url, &["create", "--role", "admin", "--name", "  "]));
    assert!(blank.contains("name: is required"), "{blank}");
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apikey_lifecycle_on_sqlite_stores_only_the_hash() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("levibot.db");
    let url = format!("sqlite://{}", file.display());
    let key = lifecycle(&url).await;
    // the plaintext is in no file of the database, the hash is
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(!contains(&key));
    assert!(!contains(&key[4..]));
    assert!(contains(&api_key_sha256(&key)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apikey_lifecycle_on_postgres_stores_only_the_hash() {
    let schema = TestSchema::create().await.unwrap();
    let key = lifecycle(schema.url()).await;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(schema.url())
        .await
        .unwrap();
    let everything: String = sqlx::query_scalar(
        "SELECT (SELECT string_agg(t::text, ' ') FROM api_keys AS t)
             || (SELECT string_agg(t::text, ' ') FROM audit_log AS t)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(!everything.contains(&key[4..]), "{everything}");
    assert!(everything.contains(&api_key_sha256(&key)), "{everything}");
    drop(conn);
    schema.drop_schema().await.unwrap();
}
