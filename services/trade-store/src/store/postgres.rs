//! The PostgreSQL backend. New bars stream in with a binary `COPY`; batches that overlap stored
//! rows, and fills, travel as arrays (`UNNEST`), one statement per chunk, with decimals as text
//! cast to NUMERIC by the server. Bars come back in NUMERIC's binary form, decoded by our own
//! exact decoder (`pg_numeric`), which keeps the scale (even `0.00`, which sqlx's decoding would
//! turn into `0`); other tables read their decimals as `::text`.

use std::{collections::HashMap, str::FromStr, time::Duration};

use futures::TryStreamExt;

use levibot_config::redact_url;
use levibot_core::{Bar, Fill, Interval, Symbol};
use sqlx::{
    PgConnection, PgPool, Postgres,
    postgres::{PgArguments, PgConnectOptions, PgPoolOptions},
    query::Query,
};

use super::{
    AuditEntry, EquitySnapshot, FillsReport, KeySha256, OrderRecord, SignalRecord, StoreError,
    UpsertReport,
    codec::{
        ApiKeyRow, Append, AuditRow, BarColumns, EquityColumns, EquityRow, EssTransitionRow,
        FillColumns, FillRow, KeyInsert, NewApiKeyRow, OrderColumns, OrderRow, PolicyVersionRow,
        SignalRow, bar_from_decimals, decision_columns,
    },
    pg_binary_copy,
    pg_numeric::ExactNumeric,
    series::GapScan,
};

/// Rows per `UNNEST` statement: large enough that round trips do not dominate, small enough to
/// keep a statement's arrays a few MB.
const CHUNK: usize = 10_000;
const MAX_CONNECTIONS: u32 = 8;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn connect(url: &str, synchronous_commit: bool) -> Result<PgPool, StoreError> {
    let mut options = PgConnectOptions::from_str(url).map_err(|err| StoreError::InvalidUrl {
        url: redact_url(url),
        reason: err.to_string(),
    })?;
    if !synchronous_commit {
        options = options.options([("synchronous_commit", "off")]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?;
    let mut migrator = sqlx::migrate!("migrations/postgres");
    migrator.dangerous_set_table_name(super::MIGRATIONS_TABLE);
    migrator.run(&pool).await?;
    Ok(pool)
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Stores a batch in one transaction. Each chunk whose key ranges hold no stored bar yet (the
/// common case: new data) is streamed in with `COPY`; a chunk overlapping stored bars goes
/// through `INSERT ... ON CONFLICT DO NOTHING` and an `UPDATE` of the bars that changed. If a
/// concurrent writer stores an overlapping key between the check and the `COPY`, the whole
/// batch is retried on the conflict-safe path.
pub(super) async fn upsert_bars(pool: &PgPool, bars: &[Bar]) -> Result<UpsertReport, StoreError> {
    match upsert_bars_once(pool, bars, true).await {
        Err(StoreError::Database(sqlx::Error::Database(err))) if err.is_unique_violation() => {
            tracing::debug!("bar copy raced a concurrent writer; retrying with on conflict");
            upsert_bars_once(pool, bars, false).await
        }
        other => other,
    }
}

async fn upsert_bars_once(
    pool: &PgPool,
    bars: &[Bar],
    allow_copy: bool,
) -> Result<UpsertReport, StoreError> {
    let mut tx = pool.begin().await?;
    let mut report = UpsertReport::default();
    for chunk in bars.chunks(CHUNK) {
        let chunk_report = if allow_copy && key_ranges_are_free(&mut tx, chunk).await? {
            UpsertReport {
                inserted: copy_bars(&mut tx, chunk).await?,
                ..UpsertReport::default()
            }
        } else {
            merge_bars(&mut tx, chunk).await?
        };
        report.absorb(chunk_report);
    }
    tx.commit().await?;
    Ok(report)
}

/// Whether no stored bar lies within the open-time range of any (symbol, interval) of `bars`.
async fn key_ranges_are_free(conn: &mut PgConnection, bars: &[Bar]) -> Result<bool, StoreError> {
    let mut ranges: HashMap<(Symbol, Interval), (i64, i64)> = HashMap::new();
    for bar in bars {
        let t = bar.open_time().as_i64();
        ranges
            .entry((bar.symbol(), bar.interval()))
            .and_modify(|(lo, hi)| {
                *lo = (*lo).min(t);
                *hi = (*hi).max(t);
            })
            .or_insert((t, t));
    }
    let (mut symbols, mut intervals, mut los, mut his) = (vec![], vec![], vec![], vec![]);
    for ((symbol, interval), (lo, hi)) in ranges {
        symbols.push(symbol.as_str().to_owned());
        intervals.push(interval.as_str().to_owned());
        los.push(lo);
        his.push(hi);
    }
    Ok(sqlx::query_scalar(
        "SELECT NOT EXISTS (
             SELECT 1
             FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[]) AS g (symbol, interval, lo, hi)
             JOIN bars AS b ON b.symbol = g.symbol AND b.interval = g.interval
                           AND b.open_time_ms BETWEEN g.lo AND g.hi
         )",
    )
    .bind(symbols)
    .bind(intervals)
    .bind(los)
    .bind(his)
    .fetch_one(&mut *conn)
    .await?)
}

/// Streams `bars` into the table with a binary `COPY`.
async fn copy_bars(conn: &mut PgConnection, bars: &[Bar]) -> Result<u64, StoreError> {
    let data = pg_binary_copy::encode_bars(bars);
    let mut copy = conn
        .copy_in_raw(
            "COPY bars (symbol, interval, open_time_ms, open, high, low, close, volume)
             FROM STDIN WITH (FORMAT binary)",
        )
        .await?;
    if let Err(err) = copy.send(data).await {
        let _ = copy.abort("sending the bars failed").await;
        return Err(err.into());
    }
    Ok(copy.finish().await?)
}

/// `query` with the bar columns bound as the arrays `$1..$8`.
fn bind_bar_columns<'q>(
    query: Query<'q, Postgres, PgArguments>,
    c: &'q BarColumns,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(&c.symbol)
        .bind(&c.interval)
        .bind(&c.open_time)
        .bind(&c.open)
        .bind(&c.high)
        .bind(&c.low)
        .bind(&c.close)
        .bind(&c.volume)
}

/// Inserts the new bars of `bars` and overwrites the stored ones whose values differ.
async fn merge_bars(conn: &mut PgConnection, bars: &[Bar]) -> Result<UpsertReport, StoreError> {
    let c = BarColumns::of(bars);
    let insert = sqlx::query(
        "INSERT INTO bars (symbol, interval, open_time_ms, open, high, low, close, volume)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::numeric[],
                              $5::numeric[], $6::numeric[], $7::numeric[], $8::numeric[])
         ON CONFLICT DO NOTHING",
    );
    let inserted = bind_bar_columns(insert, &c)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    // Only when some keys were already stored: overwrite those whose values differ. The text
    // comparison makes a change of scale (46216.1 -> 46216.10) a change too.
    let updated = if inserted < count(bars.len()) {
        let update = sqlx::query(
            "UPDATE bars AS b
             SET open = v.open, high = v.high, low = v.low, close = v.close, volume = v.volume
             FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::numeric[], $5::numeric[],
                         $6::numeric[], $7::numeric[], $8::numeric[])
                  AS v (symbol, interval, open_time_ms, open, high, low, close, volume)
             WHERE b.symbol = v.symbol AND b.interval = v.interval
               AND b.open_time_ms = v.open_time_ms
               AND (b.open::text, b.high::text, b.low::text, b.close::text, b.volume::text)
                   IS DISTINCT FROM
                   (v.open::text, v.high::text, v.low::text, v.close::text, v.volume::text)",
        );
        bind_bar_columns(update, &c)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    } else {
        0
    };
    Ok(UpsertReport {
        inserted,
        updated,
        unchanged: count(bars.len()).saturating_sub(inserted + updated),
    })
}

/// One page of bars in time order. The rows stream in (no intermediate row vector) with the
/// decimals in NUMERIC's binary form, decoded exactly by [`ExactNumeric`]: reading 45,000 bars
/// as `::text` and parsing them back took about twice as long.
pub(super) async fn bar_page(
    pool: &PgPool,
    symbol: Symbol,
    interval: Interval,
    from: i64,
    to: i64,
    limit: usize,
) -> Result<Vec<Bar>, StoreError> {
    let mut rows = sqlx::query_as::<_, PgBarRow>(
        "SELECT open_time_ms, open, high, low, close, volume
         FROM bars
         WHERE symbol = $1 AND interval = $2 AND open_time_ms >= $3 AND open_time_ms < $4
         ORDER BY open_time_ms
         LIMIT $5",
    )
    .bind(symbol.as_str())
    .bind(interval.as_str())
    .bind(from)
    .bind(to)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch(pool);
    let mut bars = Vec::with_capacity(limit.min(PAGE_CAPACITY_HINT));
    while let Some((open_time, open, high, low, close, volume)) = rows.try_next().await? {
        bars.push(bar_from_decimals(
            symbol,
            interval,
            open_time,
            [open.0, high.0, low.0, close.0, volume.0],
        )?);
    }
    Ok(bars)
}

/// Most bars a page reserves room for up front.
const PAGE_CAPACITY_HINT: usize = 16_384;

/// One stored bar as PostgreSQL sends it: open time and the five NUMERICs, binary.
type PgBarRow = (
    i64,
    ExactNumeric,
    ExactNumeric,
    ExactNumeric,
    ExactNumeric,
    ExactNumeric,
);

pub(super) async fn series(
    pool: &PgPool,
) -> Result<Vec<(String, String, i64, i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT symbol, interval, MIN(open_time_ms), MAX(open_time_ms), COUNT(*)
         FROM bars GROUP BY symbol, interval",
    )
    .fetch_all(pool)
    .await?)
}

pub(super) async fn gap_scan(
    pool: &PgPool,
    symbol: Symbol,
    interval: Interval,
    from: i64,
    to: i64,
) -> Result<GapScan, StoreError> {
    let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT MIN(open_time_ms), MAX(open_time_ms) FROM bars
         WHERE symbol = $1 AND interval = $2 AND open_time_ms >= $3 AND open_time_ms < $4",
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
             WHERE symbol = $1 AND interval = $2 AND open_time_ms >= $3 AND open_time_ms < $4
         ) AS t
         WHERE open_time_ms - prev > $5
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

/// The columns of `orders`, decimals as text.
macro_rules! order_columns {
    () => {
        "client_order_id, symbol, side, order_type, quantity::text AS quantity,
         limit_price::text AS limit_price, time_in_force, signal_id, created_ms, status,
         exchange_order_id, filled_quantity::text AS filled_quantity,
         average_price::text AS average_price, reject_reason, updated_ms"
    };
}

/// `INSERT` of a new order; a recorded client order id inserts nothing.
fn insert_order(c: &OrderColumns) -> Query<'_, Postgres, PgArguments> {
    sqlx::query(
        "INSERT INTO orders (client_order_id, symbol, side, order_type, quantity, limit_price,
                             time_in_force, signal_id, created_ms, status, exchange_order_id,
                             filled_quantity, average_price, reject_reason, updated_ms)
         VALUES ($1, $2, $3, $4, $5::numeric, $6::numeric, $7, $8, $9, $10, $11, $12::numeric,
                 $13::numeric, $14, $15)
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
}

pub(super) async fn record_order(pool: &PgPool, order: &OrderRecord) -> Result<bool, StoreError> {
    let c = OrderColumns::of(order);
    // The common case, a new order, is one statement (one round trip, its own commit); only
    // an order already recorded takes the transaction below.
    if insert_order(&c).execute(pool).await?.rows_affected() == 1 {
        return Ok(true);
    }
    // Recorded already (orders are never deleted): the same request may move its state on.
    let mut tx = pool.begin().await?;
    let stored: OrderRow = sqlx::query_as(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE client_order_id = $1 FOR UPDATE"
    ))
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
             SET status = $2, exchange_order_id = $3, filled_quantity = $4::numeric,
                 average_price = $5::numeric, reject_reason = $6, updated_ms = $7
             WHERE client_order_id = $1",
        )
        .bind(&c.client_order_id)
        .bind(c.status)
        .bind(&c.exchange_order_id)
        .bind(&c.filled_quantity)
        .bind(&c.average_price)
        .bind(&c.reject_reason)
        .bind(c.updated_ms)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(false)
}

pub(super) async fn record_fills(pool: &PgPool, fills: &[Fill]) -> Result<FillsReport, StoreError> {
    let mut tx = pool.begin().await?;
    let mut report = FillsReport::default();
    for chunk in fills.chunks(CHUNK) {
        let c = FillColumns::of(chunk);
        let inserted = sqlx::query(
            "INSERT INTO fills (fill_id, client_order_id, symbol, side, price, quantity, fee,
                                fee_asset, is_maker, exchange_time_ms, receive_time_ms)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                                  $5::numeric[], $6::numeric[], $7::numeric[], $8::text[],
                                  $9::bool[], $10::int8[], $11::int8[])
             ON CONFLICT (fill_id) DO NOTHING",
        )
        .bind(&c.fill_id)
        .bind(&c.client_order_id)
        .bind(&c.symbol)
        .bind(&c.side)
        .bind(&c.price)
        .bind(&c.quantity)
        .bind(&c.fee)
        .bind(&c.fee_asset)
        .bind(&c.is_maker)
        .bind(&c.exchange_time_ms)
        .bind(&c.receive_time_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        report.inserted += inserted;
        report.duplicates += count(chunk.len()).saturating_sub(inserted);
    }
    tx.commit().await?;
    Ok(report)
}

pub(super) async fn query_orders(
    pool: &PgPool,
    symbol: Option<String>,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<OrderRow>, StoreError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders
          WHERE ($1::text IS NULL OR symbol = $1) AND created_ms >= $2 AND created_ms < $3
          ORDER BY created_ms, client_order_id
          LIMIT $4"
    ))
    .bind(symbol)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub(super) async fn query_fills(
    pool: &PgPool,
    symbol: Option<String>,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<FillRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT fill_id, client_order_id, symbol, side, price::text AS price,
                quantity::text AS quantity, fee::text AS fee, fee_asset, is_maker,
                exchange_time_ms, receive_time_ms
         FROM fills
         WHERE ($1::text IS NULL OR symbol = $1)
           AND exchange_time_ms >= $2 AND exchange_time_ms < $3
         ORDER BY exchange_time_ms, fill_id
         LIMIT $4",
    )
    .bind(symbol)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub(super) async fn record_signal(pool: &PgPool, s: &SignalRecord) -> Result<bool, StoreError> {
    let (approved, reason, detail, decided_ms) = decision_columns(s.decision.as_ref());
    let inserted = sqlx::query(
        "INSERT INTO signals (signal_id, symbol, bar_open_time_ms, side, probability_up,
                              confidence, strategy, votes, created_ms, approved, reason,
                              decision_detail, decided_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12::jsonb, $13)
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
    pool: &PgPool,
    symbol: Option<String>,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<SignalRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT signal_id, symbol, bar_open_time_ms, side, probability_up, confidence,
                strategy, votes::text AS votes, created_ms, approved, reason,
                decision_detail::text AS decision_detail, decided_ms
         FROM signals
         WHERE ($1::text IS NULL OR symbol = $1) AND created_ms >= $2 AND created_ms < $3
         ORDER BY created_ms, signal_id
         LIMIT $4",
    )
    .bind(symbol)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub(super) async fn record_equity_snapshot(
    pool: &PgPool,
    s: &EquitySnapshot,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO equity_snapshots (at_ms, equity, cash, unrealized_pnl, realized_pnl)
         VALUES ($1, $2::numeric, $3::numeric, $4::numeric, $5::numeric)
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

/// Inserts `snapshots` (no instant repeated) in one transaction, one `UNNEST` statement per
/// chunk; returns how many were new.
pub(super) async fn record_equity_snapshots(
    pool: &PgPool,
    snapshots: &[EquitySnapshot],
) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let mut inserted = 0;
    for chunk in snapshots.chunks(CHUNK) {
        let c = EquityColumns::of(chunk);
        inserted += sqlx::query(
            "INSERT INTO equity_snapshots (at_ms, equity, cash, unrealized_pnl, realized_pnl)
             SELECT * FROM UNNEST($1::int8[], $2::numeric[], $3::numeric[], $4::numeric[],
                                  $5::numeric[])
             ON CONFLICT (at_ms) DO NOTHING",
        )
        .bind(&c.at_ms)
        .bind(&c.equity)
        .bind(&c.cash)
        .bind(&c.unrealized_pnl)
        .bind(&c.realized_pnl)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(inserted)
}

pub(super) async fn query_equity(
    pool: &PgPool,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<EquityRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT at_ms, equity::text AS equity, cash::text AS cash,
                unrealized_pnl::text AS unrealized_pnl, realized_pnl::text AS realized_pnl
         FROM equity_snapshots WHERE at_ms >= $1 AND at_ms < $2 ORDER BY at_ms LIMIT $3",
    )
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Whether `result` failed on a unique constraint (a concurrent writer stored the same key).
fn is_unique_violation<T>(result: &Result<T, sqlx::Error>) -> bool {
    matches!(result, Err(sqlx::Error::Database(err)) if err.is_unique_violation())
}

/// Compare-and-set in one transaction: the latest version must be `expected`. Under READ
/// COMMITTED two writers may both read the same latest version; the primary key then makes
/// the second insert wait for the first to commit and fail, which answers stale too.
pub(super) async fn append_policy_version(
    pool: &PgPool,
    expected: i64,
    row: &PolicyVersionRow,
) -> Result<Append, StoreError> {
    let mut tx = pool.begin().await?;
    let latest = latest_policy_version_number(&mut tx).await?;
    if latest != expected {
        return Ok(Append::Stale { latest });
    }
    let inserted = sqlx::query(
        "INSERT INTO policy_versions (version, profile, document, created_ms, actor_name,
                                      actor_role, reason)
         VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7)",
    )
    .bind(row.version)
    .bind(&row.profile)
    .bind(&row.document)
    .bind(row.created_ms)
    .bind(&row.actor_name)
    .bind(&row.actor_role)
    .bind(&row.reason)
    .execute(&mut *tx)
    .await;
    if is_unique_violation(&inserted) {
        tracing::debug!("policy version append raced a concurrent writer and lost");
        tx.rollback().await?;
        let latest = latest_policy_version_number(&mut *pool.acquire().await?).await?;
        return Ok(Append::Stale { latest });
    }
    inserted?;
    tx.commit().await?;
    Ok(Append::Stored)
}

async fn latest_policy_version_number(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0)::int8 FROM policy_versions")
            .fetch_one(conn)
            .await?,
    )
}

pub(super) async fn list_policy_versions(
    pool: &PgPool,
    limit: i64,
) -> Result<Vec<PolicyVersionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT version, profile, document::text AS document, created_ms, actor_name,
                actor_role, reason
         FROM policy_versions ORDER BY version DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Appends when `row.seq` follows the latest stored seq, in one transaction; a concurrent
/// writer of the same seq fails on the primary key and answers stale too.
pub(super) async fn append_ess_transition(
    pool: &PgPool,
    row: &EssTransitionRow,
) -> Result<Append, StoreError> {
    let mut tx = pool.begin().await?;
    let latest = latest_ess_seq(&mut tx).await?;
    if latest.checked_add(1) != Some(row.seq) {
        return Ok(Append::Stale { latest });
    }
    let inserted = sqlx::query(
        "INSERT INTO ess_transitions (seq, from_state, to_state, trigger, reason, actor_name,
                                      actor_role, at_ms, cooldown_until_ms, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)",
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
    .await;
    if is_unique_violation(&inserted) {
        tracing::debug!("ess transition append raced a concurrent writer and lost");
        tx.rollback().await?;
        let latest = latest_ess_seq(&mut *pool.acquire().await?).await?;
        return Ok(Append::Stale { latest });
    }
    inserted?;
    tx.commit().await?;
    Ok(Append::Stored)
}

async fn latest_ess_seq(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0)::int8 FROM ess_transitions")
            .fetch_one(conn)
            .await?,
    )
}

pub(super) async fn query_ess_transitions(
    pool: &PgPool,
    limit: i64,
) -> Result<Vec<EssTransitionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT seq, from_state, to_state, trigger, reason, actor_name, actor_role, at_ms,
                cooldown_until_ms, detail::text AS detail
         FROM ess_transitions ORDER BY seq DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub(super) async fn append_audit(pool: &PgPool, entry: &AuditEntry) -> Result<i64, StoreError> {
    let mut conn = pool.acquire().await?;
    append_audit_on(&mut conn, entry).await
}

async fn append_audit_on(conn: &mut PgConnection, entry: &AuditEntry) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO audit_log (at_ms, actor, action, detail) VALUES ($1, $2, $3, $4::jsonb)
         RETURNING id",
    )
    .bind(entry.at.as_i64())
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(entry.detail.to_string())
    .fetch_one(conn)
    .await?)
}

pub(super) async fn query_audit(
    pool: &PgPool,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, at_ms, actor, action, detail::text AS detail
         FROM audit_log WHERE at_ms >= $1 AND at_ms < $2 ORDER BY id LIMIT $3",
    )
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

const API_KEY_COLUMNS: &str = "key_id, name, role, created_ms, revoked_ms";

pub(super) async fn create_api_key(
    pool: &PgPool,
    key: &NewApiKeyRow<'_>,
    audit: &AuditEntry,
) -> Result<KeyInsert, StoreError> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO api_keys (key_id, name, role, key_sha256, created_ms)
         VALUES ($1, $2, $3, $4, $5)
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
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys WHERE key_id = $1)")
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
    pool: &PgPool,
    key_sha256: &KeySha256,
) -> Result<Option<ApiKeyRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_sha256 = $1"
    )))
    .bind(key_sha256.as_str())
    .fetch_optional(pool)
    .await?)
}

pub(super) async fn list_api_keys(pool: &PgPool) -> Result<Vec<ApiKeyRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY created_ms, key_id"
    )))
    .fetch_all(pool)
    .await?)
}

/// Revokes the key unless it already is, and audits the outcome, in one transaction; `None`
/// when no key has this id (nothing written). The row lock the `UPDATE` takes makes a
/// concurrent revocation of the same key wait and then find it revoked.
pub(super) async fn revoke_api_key(
    pool: &PgPool,
    key_id: &str,
    at_ms: i64,
    audit: impl Fn(bool) -> AuditEntry,
) -> Result<Option<(ApiKeyRow, bool)>, StoreError> {
    let mut tx = pool.begin().await?;
    let revoked_now =
        sqlx::query("UPDATE api_keys SET revoked_ms = $2 WHERE key_id = $1 AND revoked_ms IS NULL")
            .bind(key_id)
            .bind(at_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
    let row: Option<ApiKeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_id = $1"
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
