mod audit_entry;
mod codec;
mod equity_snapshot;
mod error;
mod order_record;
mod pg_binary_copy;
mod postgres;
mod reports;
mod series;
mod signal_record;
mod sqlite;
mod timescale;

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt, stream::BoxStream};
use levibot_config::redact_url;
use levibot_core::{Bar, Fill, Interval, Symbol, TimestampMs};
use sqlx::{PgPool, SqlitePool};

pub use audit_entry::{AuditEntry, AuditRecord};
pub use equity_snapshot::EquitySnapshot;
pub use error::StoreError;
pub use order_record::{
    MAX_EXCHANGE_ORDER_ID_LEN, MAX_REJECT_REASON_LEN, OrderRecord, OrderRecordError, OrderState,
    OrderStatus,
};
pub use reports::{FillsReport, UpsertReport};
pub use series::{Gap, SeriesSummary};
pub use signal_record::SignalRecord;

/// Where the store records which migrations it applied: a table of its own (not sqlx's
/// default `_sqlx_migrations`), so that another component migrating the same database cannot
/// collide with it. Fixed for good: renaming it would make the store re-apply everything.
pub const MIGRATIONS_TABLE: &str = "_trade_store_migrations";

/// How many bars [`TradeStore::query_bars`] reads per round trip.
pub const BAR_PAGE_SIZE: usize = 10_000;

/// Bars in time order, read page by page; an error ends the stream.
pub type BarStream = BoxStream<'static, Result<Bar, StoreError>>;

/// Which database a [`TradeStore`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// PostgreSQL (production).
    Postgres,
    /// SQLite (embedded default).
    Sqlite,
}

impl BackendKind {
    /// `postgresql` or `sqlite`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgresql",
            Self::Sqlite => "sqlite",
        }
    }
}

/// The trade store: bars, orders, fills, signals, equity snapshots and the audit log, in
/// PostgreSQL or SQLite with the same API and the same behaviour.
///
/// Cheap to clone (a connection pool inside). Money is `rust_decimal` end to end: NUMERIC in
/// PostgreSQL, the canonical decimal string in SQLite; a decimal comes back with the value and
/// the scale it was stored with (`46216.10` stays `46216.10`, `0.00` stays `0.00`).
#[derive(Debug, Clone)]
pub struct TradeStore {
    backend: Backend,
    bars_hypertable: bool,
}

#[derive(Debug, Clone)]
enum Backend {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl TradeStore {
    /// Connects to `database_url` (`postgres://`, `postgresql://` or `sqlite://`) and applies
    /// the migrations. A SQLite file and its directory are created when missing. On PostgreSQL,
    /// `bars` becomes a TimescaleDB hypertable when the extension is available.
    ///
    /// A PostgreSQL URL may carry `options=-c search_path=<schema>` to work in one schema.
    pub async fn connect(database_url: &str) -> Result<Self, StoreError> {
        if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
            let pool = postgres::connect(database_url).await?;
            let bars_hypertable = timescale::make_bars_hypertable(&pool).await;
            Ok(Self {
                backend: Backend::Postgres(pool),
                bars_hypertable,
            })
        } else if database_url.starts_with("sqlite:") {
            Ok(Self {
                backend: Backend::Sqlite(sqlite::connect(database_url).await?),
                bars_hypertable: false,
            })
        } else {
            Err(StoreError::InvalidUrl {
                url: redact_url(database_url),
                reason: "expected postgres://, postgresql:// or sqlite://".to_owned(),
            })
        }
    }

    /// Which database this is.
    pub fn backend(&self) -> BackendKind {
        match self.backend {
            Backend::Postgres(_) => BackendKind::Postgres,
            Backend::Sqlite(_) => BackendKind::Sqlite,
        }
    }

    /// How many writes of disjoint bars are worth running at once: PostgreSQL takes them in
    /// parallel (one server process each); SQLite has one writer, so more would only wait.
    pub fn write_parallelism(&self) -> usize {
        match self.backend {
            Backend::Postgres(_) => 2,
            Backend::Sqlite(_) => 1,
        }
    }

    /// Whether `bars` is a TimescaleDB hypertable (false: a plain table indexed by its key).
    pub fn bars_is_hypertable(&self) -> bool {
        self.bars_hypertable
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Postgres(pool) => pool.close().await,
            Backend::Sqlite(pool) => pool.close().await,
        }
    }

    /// Stores `bars`, idempotent on (symbol, interval, open time), in one transaction: new bars
    /// are inserted, bars stored with other values are overwritten (a corrected bar), identical
    /// ones are left alone. A batch repeating a key is rejected whole.
    pub async fn upsert_bars(&self, bars: &[Bar]) -> Result<UpsertReport, StoreError> {
        check_unique_keys(bars)?;
        if bars.is_empty() {
            return Ok(UpsertReport::default());
        }
        match &self.backend {
            Backend::Postgres(pool) => postgres::upsert_bars(pool, bars).await,
            Backend::Sqlite(pool) => sqlite::upsert_bars(pool, bars).await,
        }
    }

    /// The bars of `symbol` and `interval` opening in `[from, to)`, in time order, read
    /// [`BAR_PAGE_SIZE`] at a time (no connection is held between pages).
    pub fn query_bars(
        &self,
        symbol: Symbol,
        interval: Interval,
        from: TimestampMs,
        to: TimestampMs,
    ) -> BarStream {
        if let Err(err) = check_range(from, to) {
            return futures::stream::once(async move { Err(err) }).boxed();
        }
        let store = self.clone();
        let to = to.as_i64();
        futures::stream::try_unfold(Some(from.as_i64()), move |cursor| {
            let store = store.clone();
            async move {
                let Some(cursor) = cursor else {
                    return Ok::<_, StoreError>(None);
                };
                let page = store
                    .bar_page(symbol, interval, cursor, to, BAR_PAGE_SIZE)
                    .await?;
                let next = match page.last() {
                    Some(bar) if page.len() == BAR_PAGE_SIZE => {
                        bar.open_time().as_i64().checked_add(1)
                    }
                    _ => None,
                };
                Ok(Some((page, next)))
            }
        })
        .map_ok(|page| futures::stream::iter(page.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    async fn bar_page(
        &self,
        symbol: Symbol,
        interval: Interval,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Result<Vec<Bar>, StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => {
                postgres::bar_page(pool, symbol, interval, from, to, limit).await
            }
            Backend::Sqlite(pool) => {
                sqlite::bar_page(pool, symbol, interval, from, to, limit).await
            }
        }
    }

    /// One summary per stored (symbol, interval), ordered by symbol then interval name.
    pub async fn series(&self) -> Result<Vec<SeriesSummary>, StoreError> {
        let rows = match &self.backend {
            Backend::Postgres(pool) => postgres::series(pool).await?,
            Backend::Sqlite(pool) => sqlite::series(pool).await?,
        };
        let mut series = rows
            .into_iter()
            .map(|(symbol, interval, first, last, count)| {
                Ok(SeriesSummary {
                    symbol: symbol
                        .parse()
                        .map_err(|err| StoreError::corrupt("bars", err))?,
                    interval: interval
                        .parse()
                        .map_err(|err| StoreError::corrupt("bars", err))?,
                    first: TimestampMs::new(first),
                    last: TimestampMs::new(last),
                    count: u64::try_from(count).unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        series.sort_by_key(|s| (s.symbol, s.interval));
        Ok(series)
    }

    /// The runs of missing bars of `symbol` and `interval` among the open times in
    /// `[from, to)`, in time order. Bars missing before the first or after the last stored
    /// bar of the range count too.
    pub async fn gaps(
        &self,
        symbol: Symbol,
        interval: Interval,
        from: TimestampMs,
        to: TimestampMs,
    ) -> Result<Vec<Gap>, StoreError> {
        check_range(from, to)?;
        let (from, to) = (from.as_i64(), to.as_i64());
        let scan = match &self.backend {
            Backend::Postgres(pool) => postgres::gap_scan(pool, symbol, interval, from, to).await?,
            Backend::Sqlite(pool) => sqlite::gap_scan(pool, symbol, interval, from, to).await?,
        };
        Ok(series::gaps_in(interval, from, to, &scan))
    }

    /// Records an order: inserts it (returns true) or, when its client order id is already
    /// stored, applies its state unless the stored state is newer (returns false). A client
    /// order id reused for a different request is a [`StoreError::Conflict`].
    pub async fn record_order(&self, order: &OrderRecord) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => postgres::record_order(pool, order).await,
            Backend::Sqlite(pool) => sqlite::record_order(pool, order).await,
        }
    }

    /// Stores `fills`, idempotent by fill id, in one transaction.
    pub async fn record_fills(&self, fills: &[Fill]) -> Result<FillsReport, StoreError> {
        if fills.is_empty() {
            return Ok(FillsReport::default());
        }
        match &self.backend {
            Backend::Postgres(pool) => postgres::record_fills(pool, fills).await,
            Backend::Sqlite(pool) => sqlite::record_fills(pool, fills).await,
        }
    }

    /// Orders created in `[from, to)` (of `symbol`, or of every symbol), oldest first, at most
    /// `limit`.
    pub async fn query_orders(
        &self,
        symbol: Option<Symbol>,
        from: TimestampMs,
        to: TimestampMs,
        limit: usize,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        check_range(from, to)?;
        let symbol = symbol.map(|s| s.as_str().to_owned());
        let (from, to, limit) = (from.as_i64(), to.as_i64(), as_limit(limit));
        let rows = match &self.backend {
            Backend::Postgres(pool) => {
                postgres::query_orders(pool, symbol, from, to, limit).await?
            }
            Backend::Sqlite(pool) => sqlite::query_orders(pool, symbol, from, to, limit).await?,
        };
        rows.into_iter().map(codec::OrderRow::into_record).collect()
    }

    /// Fills executed in `[from, to)` (of `symbol`, or of every symbol), oldest first, at most
    /// `limit`.
    pub async fn query_fills(
        &self,
        symbol: Option<Symbol>,
        from: TimestampMs,
        to: TimestampMs,
        limit: usize,
    ) -> Result<Vec<Fill>, StoreError> {
        check_range(from, to)?;
        let symbol = symbol.map(|s| s.as_str().to_owned());
        let (from, to, limit) = (from.as_i64(), to.as_i64(), as_limit(limit));
        let rows = match &self.backend {
            Backend::Postgres(pool) => postgres::query_fills(pool, symbol, from, to, limit).await?,
            Backend::Sqlite(pool) => sqlite::query_fills(pool, symbol, from, to, limit).await?,
        };
        rows.into_iter().map(codec::FillRow::into_fill).collect()
    }

    /// Records a signal; false when its id is already stored (the stored one is kept).
    pub async fn record_signal(&self, signal: &SignalRecord) -> Result<bool, StoreError> {
        codec::check_signal(signal)?;
        match &self.backend {
            Backend::Postgres(pool) => postgres::record_signal(pool, signal).await,
            Backend::Sqlite(pool) => sqlite::record_signal(pool, signal).await,
        }
    }

    /// Signals created in `[from, to)` (of `symbol`, or of every symbol), oldest first.
    pub async fn query_signals(
        &self,
        symbol: Option<Symbol>,
        from: TimestampMs,
        to: TimestampMs,
    ) -> Result<Vec<SignalRecord>, StoreError> {
        check_range(from, to)?;
        let symbol = symbol.map(|s| s.as_str().to_owned());
        let (from, to) = (from.as_i64(), to.as_i64());
        let rows = match &self.backend {
            Backend::Postgres(pool) => postgres::query_signals(pool, symbol, from, to).await?,
            Backend::Sqlite(pool) => sqlite::query_signals(pool, symbol, from, to).await?,
        };
        rows.into_iter()
            .map(codec::SignalRow::into_record)
            .collect()
    }

    /// Records an equity snapshot; false when one is already stored for that instant.
    pub async fn record_equity_snapshot(
        &self,
        snapshot: &EquitySnapshot,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => postgres::record_equity_snapshot(pool, snapshot).await,
            Backend::Sqlite(pool) => sqlite::record_equity_snapshot(pool, snapshot).await,
        }
    }

    /// Equity snapshots taken in `[from, to)`, oldest first.
    pub async fn query_equity(
        &self,
        from: TimestampMs,
        to: TimestampMs,
    ) -> Result<Vec<EquitySnapshot>, StoreError> {
        check_range(from, to)?;
        let (from, to) = (from.as_i64(), to.as_i64());
        let rows = match &self.backend {
            Backend::Postgres(pool) => postgres::query_equity(pool, from, to).await?,
            Backend::Sqlite(pool) => sqlite::query_equity(pool, from, to).await?,
        };
        rows.into_iter()
            .map(codec::EquityRow::into_snapshot)
            .collect()
    }

    /// Appends to the audit log; returns the entry's id.
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<i64, StoreError> {
        codec::check_audit(entry)?;
        match &self.backend {
            Backend::Postgres(pool) => postgres::append_audit(pool, entry).await,
            Backend::Sqlite(pool) => sqlite::append_audit(pool, entry).await,
        }
    }

    /// Audit entries made in `[from, to)`, in append order.
    pub async fn query_audit(
        &self,
        from: TimestampMs,
        to: TimestampMs,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        check_range(from, to)?;
        let (from, to) = (from.as_i64(), to.as_i64());
        let rows = match &self.backend {
            Backend::Postgres(pool) => postgres::query_audit(pool, from, to).await?,
            Backend::Sqlite(pool) => sqlite::query_audit(pool, from, to).await?,
        };
        rows.into_iter().map(codec::AuditRow::into_record).collect()
    }
}

fn check_range(from: TimestampMs, to: TimestampMs) -> Result<(), StoreError> {
    if from > to {
        return Err(StoreError::InvalidInput(format!(
            "time range starts at {from}, after its end {to}"
        )));
    }
    Ok(())
}

fn as_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A batch repeating a (symbol, interval, open time) is ambiguous: which one should win?
fn check_unique_keys(bars: &[Bar]) -> Result<(), StoreError> {
    let mut seen = HashSet::with_capacity(bars.len());
    for (index, bar) in bars.iter().enumerate() {
        if !seen.insert((bar.symbol(), bar.interval(), bar.open_time())) {
            return Err(StoreError::InvalidInput(format!(
                "bars[{index}]: {} {} at {} appears twice in the batch",
                bar.symbol(),
                bar.interval(),
                bar.open_time()
            )));
        }
    }
    Ok(())
}
