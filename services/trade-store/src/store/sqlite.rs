//! The SQLite backend. Writes run in `BEGIN IMMEDIATE` transactions (so a writer never fails
//! half-way on a lock upgrade) with prepared multi-row statements; decimals are stored as their
//! canonical text.

use std::{fmt::Write as _, str::FromStr, time::Duration};

use levibot_config::redact_url;
use levibot_core::{Bar, Fill, Interval, Symbol};
use sqlx::{
    AssertSqlSafe, Sqlite, SqliteConnection, SqlitePool,
    query::Query,
    sqlite::{
        SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions,
        SqliteSynchronous,
    },
};

use super::{
    AuditEntry, EquitySnapshot, FillsReport, KeySha256, OrderRecord, SignalRecord, StoreError,
    UpsertReport,
    codec::{
        ApiKeyRow, Append, AuditRow, EquityRow, EssTransitionRow, FillRow, KeyInsert, NewApiKeyRow,
        OrderColumns, OrderRow, PolicyVersionRow, SignalRow, bar_from_text, decision_columns,
    },
    series::GapScan,
};

/// Rows per multi-row statement: 500 bars bind 4,000 parameters, fills 5,500, far below
/// SQLite's limit of 32,766.
const ROWS_PER_STATEMENT: usize = 500;
const MAX_CONNECTIONS: u32 = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

pub(super) async fn connect(url: &str) -> Result<SqlitePool, StoreError> {
    let invalid = |reason: String| StoreError::InvalidUrl {
        url: redact_url(url),
        reason,
    };
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|err| invalid(err.to_string()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let pool_options = if in_memory {
        // One connection that never closes: an in-memory database lives as long as it does.
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|source| StoreError::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS)
    };
    let pool = pool_options.connect_with(options).await?;
    let mut migrator = sqlx::migrate!("migrations/sqlite");
    migrator.dangerous_set_table_name(super::MIGRATIONS_TABLE);
    migrator.run(&pool).await?;
    Ok(pool)
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// `(?, ?, ...), (?, ...)`: `rows` groups of `columns` placeholders.
fn placeholders(rows: usize, columns: usize) -> String {
    let mut group = String::from("(?");
    for _ in 1..columns {
        group.push_str(", ?");
    }
    group.push(')');
    let mut text = String::with_capacity(rows * (group.len() + 2));
    for row in 0..rows {
        if row > 0 {
            text.push_str(", ");
        }
        text.push_str(&group);
    }
    text
}

fn insert_bars_sql(rows: usize) -> String {
    format!(
        "INSERT INTO bars (symbol, interval, open_time_ms, open, high, low, close, volume)
         VALUES {} ON CONFLICT DO NOTHING",
        placeholders(rows, 8)
    )
}

fn update_bars_sql(rows: usize) -> String {
    let mut sql = String::from(
        "UPDATE bars
         SET open = v.column4, high = v.column5, low = v.column6, close = v.column7,
             volume = v.column8
         FROM (VALUES ",
    );
    sql.push_str(&placeholders(rows, 8));
    let _ = write!(
        sql,
        ") AS v
         WHERE bars.symbol = v.column1 AND bars.interval = v.column2
           AND bars.open_time_ms = v.column3
           AND (bars.open IS NOT v.column4 OR bars.high IS NOT v.column5
                OR bars.low IS NOT v.column6 OR bars.close IS NOT v.column7
                OR bars.volume IS NOT v.column8)"
    );
    sql
}

fn bind_bars<'q>(
    mut query: Query<'q, Sqlite, SqliteArguments>,
    bars: &[Bar],
) -> Query<'q, Sqlite, SqliteArguments> {
    for bar in bars {
        query = query
            .bind(bar.symbol().as_str().to_owned())
            .bind(bar.interval().as_str())
            .bind(bar.open_time().as_i64())
            .bind(bar.open().to_string())
            .bind(bar.high().to_string())
            .bind(bar.low().to_string())
            .bind(bar.close().to_string())
            .bind(bar.volume().to_string());
    }
    query
}

pub(super) async fn upsert_bars(
    pool: &SqlitePool,
    bars: &[Bar],
) -> Result<UpsertReport, StoreError> {
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let mut report = UpsertReport::default();
    for chunk in bars.chunks(ROWS_PER_STATEMENT) {
        let insert = sqlx::query(AssertSqlSafe(insert_bars_sql(chunk.len())));
        let inserted = bind_bars(insert, chunk)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // Only when some keys were already stored: overwrite those whose values differ (text
        // comparison, so a change of scale counts as a change, as on PostgreSQL).
        let updated = if inserted < count(chunk.len()) {
            let update = sqlx::query(AssertSqlSafe(update_bars_sql(chunk.len())));
            bind_bars(update, chunk)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        } else {
            0
        };
        report.absorb(UpsertReport {
            inserted,
            updated,
            unchanged: count(chunk.len()).saturating_sub(inserted + updated),
        });
    }
    tx.commit().await?;
    Ok(report)
}

/// One page of bars in time order.
///
/// The page comes back as one row, its bars joined by `group_concat` into
/// `time,open,high,low,close,volume;...` text: sqlx hands SQLite rows over from a worker
/// thread one at a time, which made reading a 45,000-bar range take about five times longer
/// than reading it as a few such rows. Decimals and integers never hold `,` or `;`.
///
/// Which rows make the page is fixed by the ordered, limited subquery; the order in which
/// `group_concat` joins them is not specified without an `ORDER BY` inside the aggregate, which
/// would sort every page again (a third of the read time). So the bars are checked to be in
/// strictly increasing time while parsed, and the page is sorted only if they are not.
pub(super) async fn bar_page(
    pool: &SqlitePool,
    symbol: Symbol,
    interval: Interval,
    from: i64,
    to: i64,
    limit: usize,
) -> Result<Vec<Bar>, StoreError> {
    let (rows, text): (i64, Option<String>) = sqlx::query_as(
        "SELECT count(*),
                group_concat(concat_ws(',', open_time_ms, open, high, low, close, volume), ';')
         FROM (
             SELECT open_time_ms, open, high, low, close, volume
             FROM bars
             WHERE symbol = ? AND interval = ? AND open_time_ms >= ? AND open_time_ms < ?
             ORDER BY open_time_ms
             LIMIT ?
         )",
    )
    .bind(symbol.as_str())
    .bind(interval.as_str())
    .bind(from)
    .bind(to)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_one(pool)
    .await?;
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let mut bars = Vec::with_capacity(usize::try_from(rows).unwrap_or_default());
    let mut in_order = true;
    for record in text.split(';') {
        let mut fields = record.split(',');
        let mut next = || fields.next().unwrap_or_default();
        let open_time = next();
        let open_time: i64 = open_time
            .parse()
            .map_err(|_| StoreError::corrupt("bars", format!("open time {open_time:?}")))?;
        let decimals = [next(), next(), next(), next(), next()];
        let bar = bar_from_text(symbol, interval, open_time, decimals)?;
        in_order &= bars
            .last()
            .is_none_or(|last: &Bar| last.open_time() < bar.open_time());
        bars.push(bar);
    }
    if !in_order {
        bars.sort_unstable_by_key(Bar::open_time);
    }
    if i64::try_from(bars.len()).ok() != Some(rows) {
        return Err(StoreError::corrupt(
            "bars",
            format!("a page of {rows} bars read back as {}", bars.len()),
        ));
    }
    Ok(bars)
}

pub(super) async fn series(
    pool: &SqlitePool,
) -> Result<Vec<(String, String, i64, i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT symbol, interval, MIN(open_time_ms), MAX(open_time_ms), COUNT(*)
         FROM bars GROUP BY symbol, interval",
    )
    .fetch_all(pool)
    .await?)
}

pub(super) async fn gap_scan(
    pool: &SqlitePool,
    symbol: Symbol,
    interval: Interval,
    from: i64,
    to: i64,
) -> Result<GapScan, StoreError> {
    let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT MIN(open_time_ms), MAX(open_time_ms) FROM bars
         WHERE symbol = ? AND interval = ? AND open_time_ms >= ? AND open_time_ms < ?",
    )
    .bind(symbol.as_str())
    .bind(interval.as_str())
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let jumps = sqlx::query_as(
        "SELECT prev, open_time_ms FROM (
             SELECT open_time_ms, LAG(open_time_ms) OVER (ORDER BY open_time_ms) AS prev
             FROM bars
             WHERE symbol = ? AND interval = ? AND open_time_ms >= ? AND open_time_ms < ?
         )
         WHERE open_time_ms - prev > ?
         ORDER BY open_time_ms",
    )
    .bind(symbol.as_str())
    .bind(interval.as_str())
    .bind(from)
    .bind(to)
    .bind(interval.duration_ms())
    .fetch_all(pool)
    .await?;
    Ok(GapScan {
        present: first.zip(last),
        jumps,
    })
}

const ORDER_COLUMNS: &str = "client_order_id, symbol, side, order_type, quantity, limit_price,
    time_in_force, signal_id, created_ms, status, exchange_order_id, filled_quantity,
    average_price, reject_reason, updated_ms";

pub(super) async fn record_order(
    pool: &SqlitePool,
    order: &OrderRecord,
) -> Result<bool, StoreError> {
    let c = OrderColumns::of(order);
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let inserted = sqlx::query(
        "INSERT INTO orders (client_order_id, symbol, side, order_type, quantity, limit_price,
                             time_in_force, signal_id, created_ms, status, exchange_order_id,
                             filled_quantity, average_price, reject_reason, updated_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (client_order_id) DO NOTHING",
    )
    .bind(&c.client_order_id)
    .bind(&c.symbol)
    .bind(c.side)
    .bind(c.order_type)
    .bind(&c.quantity)
    .bind(&c.limit_price)
    .bind(c.time_in_force)
    .bind(&c.signal_id)
    .bind(c.created_ms)
    .bind(c.status)
    .bind(&c.exchange_order_id)
    .bind(&c.filled_quantity)
    .bind(&c.average_price)
    .bind(&c.reject_reason)
    .bind(c.updated_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        tx.commit().await?;
        return Ok(true);
    }
    let stored: OrderRow = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE client_order_id = ?"
    )))
    .bind(&c.client_order_id)
    .fetch_one(&mut *tx)
    .await?;
    if !stored.same_request(&c) {
        return Err(StoreError::Conflict(format!(
            "client order id {} is already recorded for another order",
            c.client_order_id
        )));
    }
    if c.updated_ms >= stored.updated_ms {
        sqlx::query(
            "UPDATE orders
             SET status = ?, exchange_order_id = ?, filled_quantity = ?, average_price = ?,
                 reject_reason = ?, updated_ms = ?
             WHERE client_order_id = ?",
        )
        .bind(c.status)
        .bind(&c.exchange_order_id)
        .bind(&c.filled_quantity)
        .bind(&c.average_price)
        .bind(&c.reject_reason)
        .bind(c.updated_ms)
        .bind(&c.client_order_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(false)
}

pub(super) async fn record_fills(
    pool: &SqlitePool,
    fills: &[Fill],
) -> Result<FillsReport, StoreError> {
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let mut report = FillsReport::default();
    for chunk in fills.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO fills (fill_id, client_order_id, symbol, side, price, quantity, fee,
                                fee_asset, is_maker, exchange_time_ms, receive_time_ms)
             VALUES {} ON CONFLICT (fill_id) DO NOTHING",
            placeholders(chunk.len(), 11)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for fill in chunk {
            query = query
                .bind(fill.fill_id().to_string())
                .bind(fill.client_order_id().to_string())
                .bind(fill.symbol().as_str().to_owned())
                .bind(fill.side().as_str())
                .bind(fill.price().to_string())
                .bind(fill.quantity().to_string())
                .bind(fill.fee().to_string())
                .bind(fill.fee_asset().to_owned())
                .bind(fill.is_maker())
                .bind(fill.exchange_time().as_i64())
                .bind(fill.receive_time().as_i64());
        }
        let inserted = query.execute(&mut *tx).await?.rows_affected();
        report.inserted += inserted;
        report.duplicates += count(chunk.len()).saturating_sub(inserted);
    }
    tx.commit().await?;
    Ok(report)
}

pub(super) async fn query_orders(
    pool: &SqlitePool,
    symbol: Option<String>,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<OrderRow>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE (?1 IS NULL OR symbol = ?1) AND created_ms >= ?2 AND created_ms < ?3
         ORDER BY created_ms, client_order_id
         LIMIT ?4"
    )))
    .bind(symbol)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub(super) async fn query_fills(
    pool: &SqlitePool,
    symbol: Option<String>,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<FillRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT fill_id, client_order_id, symbol, side, price, quantity, fee, fee_asset,
                is_maker, exchange_time_ms, receive_time_ms
         FROM fills
         WHERE (?1 IS NULL OR symbol = ?1) AND exchange_time_ms >= ?2 AND exchange_time_ms < ?3
         ORDER BY exchange_time_ms, fill_id
         LIMIT ?4",
    )
    .bind(symbol)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub(super) async fn record_signal(pool: &SqlitePool, s: &SignalRecord) -> Result<bool, StoreError> {
    let (approved, reason, detail, decided_ms) = decision_columns(s.decision.as_ref());
    let inserted = sqlx::query(
        "INSERT INTO signals (signal_id, symbol, bar_open_time_ms, side, probability_up,
                              confidence, strategy, votes, created_ms, approved, reason,
                              decision_detail, decided_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (signal_id) DO NOTHING",
    )
    .bind(s.signal_id.to_string())
    .bind(s.symbol.as_str())
    .bind(s.bar_open_time.as_i64())
    .bind(s.side.as_str())
    .bind(s.probability_up)
    .bind(s.confidence)
    .bind(&s.strategy)
    .bind(s.votes.to_string())
    .bind(s.created_at.as_i64())
    .bind(approved)
    .bind(reason)
    .bind(detail)
    .bind(decided_ms)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

pub(super) async fn query_signals(
    pool: &SqlitePool,
    symbol: Option<String>,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<SignalRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT signal_id, symbol, bar_open_time_ms, side, probability_up, confidence,
                strategy, votes, created_ms, approved, reason, decision_detail, decided_ms
         FROM signals
         WHERE (?1 IS NULL OR symbol = ?1) AND created_ms >= ?2 AND created_ms < ?3
         ORDER BY created_ms, signal_id
         LIMIT ?4",
    )
    .bind(symbol)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub(super) async fn record_equity_snapshot(
    pool: &SqlitePool,
    s: &EquitySnapshot,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO equity_snapshots (at_ms, equity, cash, unrealized_pnl, realized_pnl)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (at_ms) DO NOTHING",
    )
    .bind(s.at.as_i64())
    .bind(s.equity.to_string())
    .bind(s.cash.to_string())
    .bind(s.unrealized_pnl.to_string())
    .bind(s.realized_pnl.to_string())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Inserts `snapshots` (no instant repeated) in one transaction, with multi-row statements;
/// returns how many were new.
pub(super) async fn record_equity_snapshots(
    pool: &SqlitePool,
    snapshots: &[EquitySnapshot],
) -> Result<u64, StoreError> {
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let mut inserted = 0;
    for chunk in snapshots.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO equity_snapshots (at_ms, equity, cash, unrealized_pnl, realized_pnl)
             VALUES {} ON CONFLICT (at_ms) DO NOTHING",
            placeholders(chunk.len(), 5)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for s in chunk {
            query = query
                .bind(s.at.as_i64())
                .bind(s.equity.to_string())
                .bind(s.cash.to_string())
                .bind(s.unrealized_pnl.to_string())
                .bind(s.realized_pnl.to_string());
        }
        inserted += query.execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    Ok(inserted)
}

pub(super) async fn query_equity(
    pool: &SqlitePool,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<EquityRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT at_ms, equity, cash, unrealized_pnl, realized_pnl
         FROM equity_snapshots WHERE at_ms >= ? AND at_ms < ? ORDER BY at_ms LIMIT ?",
    )
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Compare-and-set: `BEGIN IMMEDIATE` takes the write lock first, so no other writer can
/// store a version between the check and the insert.
pub(super) async fn append_policy_version(
    pool: &SqlitePool,
    expected: i64,
    row: &PolicyVersionRow,
) -> Result<Append, StoreError> {
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let latest: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM policy_versions")
        .fetch_one(&mut *tx)
        .await?;
    if latest != expected {
        return Ok(Append::Stale { latest });
    }
    sqlx::query(
        "INSERT INTO policy_versions (version, profile, document, created_ms, actor_name,
                                      actor_role, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(row.version)
    .bind(&row.profile)
    .bind(&row.document)
    .bind(row.created_ms)
    .bind(&row.actor_name)
    .bind(&row.actor_role)
    .bind(&row.reason)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Append::Stored)
}

pub(super) async fn list_policy_versions(
    pool: &SqlitePool,
    limit: i64,
) -> Result<Vec<PolicyVersionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT version, profile, document, created_ms, actor_name, actor_role, reason
         FROM policy_versions ORDER BY version DESC LIMIT ?",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Appends when `row.seq` follows the latest stored seq, under the write lock
/// (`BEGIN IMMEDIATE`).
pub(super) async fn append_ess_transition(
    pool: &SqlitePool,
    row: &EssTransitionRow,
) -> Result<Append, StoreError> {
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let latest: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM ess_transitions")
        .fetch_one(&mut *tx)
        .await?;
    if latest.checked_add(1) != Some(row.seq) {
        return Ok(Append::Stale { latest });
    }
    sqlx::query(
        "INSERT INTO ess_transitions (seq, from_state, to_state, trigger, reason, actor_name,
                                      actor_role, at_ms, cooldown_until_ms, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(row.seq)
    .bind(&row.from_state)
    .bind(&row.to_state)
    .bind(&row.trigger)
    .bind(&row.reason)
    .bind(&row.actor_name)
    .bind(&row.actor_role)
    .bind(row.at_ms)
    .bind(row.cooldown_until_ms)
    .bind(&row.detail)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Append::Stored)
}

pub(super) async fn query_ess_transitions(
    pool: &SqlitePool,
    limit: i64,
) -> Result<Vec<EssTransitionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT seq, from_state, to_state, trigger, reason, actor_name, actor_role, at_ms,
                cooldown_until_ms, detail
         FROM ess_transitions ORDER BY seq DESC LIMIT ?",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub(super) async fn append_audit(pool: &SqlitePool, entry: &AuditEntry) -> Result<i64, StoreError> {
    let mut conn = pool.acquire().await?;
    append_audit_on(&mut conn, entry).await
}

async fn append_audit_on(
    conn: &mut SqliteConnection,
    entry: &AuditEntry,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO audit_log (at_ms, actor, action, detail) VALUES (?, ?, ?, ?) RETURNING id",
    )
    .bind(entry.at.as_i64())
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(entry.detail.to_string())
    .fetch_one(conn)
    .await?)
}

pub(super) async fn query_audit(
    pool: &SqlitePool,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, at_ms, actor, action, detail
         FROM audit_log WHERE at_ms >= ? AND at_ms < ? ORDER BY id LIMIT ?",
    )
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

const API_KEY_COLUMNS: &str = "key_id, name, role, created_ms, revoked_ms";

pub(super) async fn create_api_key(
    pool: &SqlitePool,
    key: &NewApiKeyRow<'_>,
    audit: &AuditEntry,
) -> Result<KeyInsert, StoreError> {
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    // ON CONFLICT, not INSERT OR IGNORE: only a taken id or hash may be passed over, never a
    // failed CHECK
    let inserted = sqlx::query(
        "INSERT INTO api_keys (key_id, name, role, key_sha256, created_ms)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING",
    )
    .bind(&key.key_id)
    .bind(&key.name)
    .bind(key.role)
    .bind(key.key_sha256)
    .bind(key.created_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        let id_taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys WHERE key_id = ?)")
                .bind(&key.key_id)
                .fetch_one(&mut *tx)
                .await?;
        return Ok(if id_taken {
            KeyInsert::IdTaken
        } else {
            KeyInsert::HashTaken
        });
    }
    append_audit_on(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(KeyInsert::Inserted)
}

pub(super) async fn api_key_by_sha256(
    pool: &SqlitePool,
    key_sha256: &KeySha256,
) -> Result<Option<ApiKeyRow>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_sha256 = ?"
    )))
    .bind(key_sha256.as_str())
    .fetch_optional(pool)
    .await?)
}

pub(super) async fn list_api_keys(pool: &SqlitePool) -> Result<Vec<ApiKeyRow>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY created_ms, key_id"
    )))
    .fetch_all(pool)
    .await?)
}

/// Revokes the key unless it already is, and audits the outcome, in one write transaction;
/// `None` when no key has this id (nothing written).
pub(super) async fn revoke_api_key(
    pool: &SqlitePool,
    key_id: &str,
    at_ms: i64,
    audit: impl Fn(bool) -> AuditEntry,
) -> Result<Option<(ApiKeyRow, bool)>, StoreError> {
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let revoked_now =
        sqlx::query("UPDATE api_keys SET revoked_ms = ? WHERE key_id = ? AND revoked_ms IS NULL")
            .bind(at_ms)
            .bind(key_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
    let row: Option<ApiKeyRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_id = ?"
    )))
    .bind(key_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    append_audit_on(&mut tx, &audit(revoked_now)).await?;
    tx.commit().await?;
    Ok(Some((row, revoked_now)))
}
