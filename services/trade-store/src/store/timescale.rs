//! The TimescaleDB path: after the migrations, `bars` becomes a hypertable partitioned on
//! `open_time_ms` when the `timescaledb` extension is available on the server. Without it (the
//! default PostgreSQL set-up) `bars` stays a plain table whose primary key
//! `(symbol, interval, open_time_ms)` is the range-query index; both layouts take the same
//! statements, so nothing else in the store knows which one runs.
//!
//! This is not a migration on purpose: migrations must be the same on every server, while the
//! extension depends on how the server was installed (and needs
//! `shared_preload_libraries = 'timescaledb'`).

use sqlx::{AssertSqlSafe, PgPool};

/// Chunk width of the hypertable, in the column's unit (milliseconds): one week.
const CHUNK_MS: i64 = 7 * 86_400_000;

/// Turns `bars` into a hypertable when TimescaleDB is available. Returns whether it is one.
/// Never fails the start: a server that offers the extension but cannot load it keeps the
/// plain table, with a warning.
pub(super) async fn make_bars_hypertable(pool: &PgPool) -> bool {
    match try_make_bars_hypertable(pool).await {
        Ok(true) => {
            tracing::info!(chunk_ms = CHUNK_MS, "bars is a timescaledb hypertable");
            true
        }
        Ok(false) => {
            tracing::info!("timescaledb is not available; bars is a plain indexed table");
            false
        }
        Err(err) => {
            tracing::warn!(
                error = %err,
                "timescaledb is available but bars could not become a hypertable; keeping a plain indexed table"
            );
            false
        }
    }
}

async fn try_make_bars_hypertable(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let available: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')",
    )
    .fetch_one(pool)
    .await?;
    if !available {
        return Ok(false);
    }
    sqlx::query("CREATE EXTENSION IF NOT EXISTS timescaledb")
        .execute(pool)
        .await?;
    // `create_hypertable` lives in the extension's schema, which need not be on this
    // connection's search_path; `regnamespace::text` quotes the name when it needs quotes.
    let schema: String = sqlx::query_scalar(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'timescaledb'",
    )
    .fetch_one(pool)
    .await?;
    // 'bars' resolves through the search_path, like every other statement of the store.
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {schema}.create_hypertable('bars', 'open_time_ms',
             chunk_time_interval => $1::bigint, if_not_exists => TRUE, migrate_data => TRUE)"
    )))
    .bind(CHUNK_MS)
    .execute(pool)
    .await?;
    Ok(true)
}
