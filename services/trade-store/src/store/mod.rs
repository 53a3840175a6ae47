mod api_key;
mod audit_entry;
mod codec;
mod equity_snapshot;
mod error;
mod ess_transition;
mod order_record;
mod pg_binary_copy;
mod pg_numeric;
mod policy_version;
mod postgres;
mod reports;
mod series;
mod signal_record;
mod sqlite;
mod timescale;

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt, stream::BoxStream};
use levibot_config::redact_url;
use levibot_core::{Actor, Bar, Fill, Interval, KeyId, Symbol, TimestampMs};
use sqlx::{PgPool, SqlitePool};

pub use api_key::{ApiKey, KeySha256, MAX_API_KEY_NAME_CHARS, NewApiKey, Revocation, api_key_name};
pub use audit_entry::{AuditEntry, AuditRecord};
pub use equity_snapshot::EquitySnapshot;
pub use error::StoreError;
pub use ess_transition::{EssState, EssStateParseError, EssTransition};
pub use order_record::{
    MAX_EXCHANGE_ORDER_ID_LEN, MAX_REJECT_REASON_LEN, OrderRecord, OrderRecordError, OrderState,
    OrderStatus,
};
pub use policy_version::{NewPolicyVersion, PolicyVersion};
pub use reports::{FillsReport, SnapshotsReport, UpsertReport};
pub use series::{Gap, SeriesSummary};
pub use signal_record::{MAX_REASON_CHARS, RiskDecision, SignalRecord};

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

/// The trade store: bars, orders, fills, signals, equity snapshots, risk-policy versions, ESS
/// transitions, API keys and the audit log, in PostgreSQL or SQLite with the same API and the
/// same behaviour.
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
        Self::connect_with(database_url, true).await
    }

    /// [`connect`](Self::connect); on PostgreSQL, `synchronous_commit = false` answers
    /// commits before their WAL reaches the disk (see `store.synchronous_commit`).
    pub async fn connect_with(
        database_url: &str,
        synchronous_commit: bool,
    ) -> Result<Self, StoreError> {
        if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
            let pool = postgres::connect(database_url, synchronous_commit).await?;
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
    /// [`BAR_PAGE_SIZE`] at a time (no connection is held between pages). While one page is
    /// consumed, the next is already being read.
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
        futures::stream::try_unfold(NextPage::At(from.as_i64()), move |next| {
            let store = store.clone();
            async move {
                let page = match next {
                    NextPage::At(cursor) => {
                        store
                            .bar_page(symbol, interval, cursor, to, BAR_PAGE_SIZE)
                            .await?
                    }
                    NextPage::Reading(task) => task.join().await?,
                    NextPage::Done => return Ok::<_, StoreError>(None),
                };
                let next = match page.last() {
                    Some(bar) if page.len() == BAR_PAGE_SIZE => {
                        match bar.open_time().as_i64().checked_add(1) {
                            Some(cursor) => NextPage::Reading(PageTask::spawn(
                                store, symbol, interval, cursor, to,
                            )),
                            None => NextPage::Done,
                        }
                    }
                    _ => NextPage::Done,
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

    /// Records a signal with its risk decision, in one row; false when its id is already
    /// stored (the stored signal and decision are kept, whatever this one says).
    pub async fn record_signal(&self, signal: &SignalRecord) -> Result<bool, StoreError> {
        codec::check_signal(signal)?;
        match &self.backend {
            Backend::Postgres(pool) => postgres::record_signal(pool, signal).await,
            Backend::Sqlite(pool) => sqlite::record_signal(pool, signal).await,
        }
    }

    /// Signals created in `[from, to)` (of `symbol`, or of every symbol), with their
    /// decisions, oldest first, at most `limit`.
    pub async fn query_signals(
        &self,
        symbol: Option<Symbol>,
        from: TimestampMs,
        to: TimestampMs,
        limit: usize,
    ) -> Result<Vec<SignalRecord>, StoreError> {
        check_range(from, to)?;
        let symbol = symbol.map(|s| s.as_str().to_owned());
        let (from, to, limit) = (from.as_i64(), to.as_i64(), as_limit(limit));
        let rows = match &self.backend {
            Backend::Postgres(pool) => {
                postgres::query_signals(pool, symbol, from, to, limit).await?
            }
            Backend::Sqlite(pool) => sqlite::query_signals(pool, symbol, from, to, limit).await?,
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

    /// Records equity snapshots, idempotent by instant, in one transaction: the first snapshot
    /// of an instant is kept, whether it was stored before or comes earlier in the batch.
    pub async fn record_equity_snapshots(
        &self,
        snapshots: &[EquitySnapshot],
    ) -> Result<SnapshotsReport, StoreError> {
        let mut seen = HashSet::with_capacity(snapshots.len());
        let unique: Vec<EquitySnapshot> = snapshots
            .iter()
            .filter(|s| seen.insert(s.at))
            .copied()
            .collect();
        let repeated = count(snapshots.len() - unique.len());
        let inserted = if unique.is_empty() {
            0
        } else {
            match &self.backend {
                Backend::Postgres(pool) => postgres::record_equity_snapshots(pool, &unique).await?,
                Backend::Sqlite(pool) => sqlite::record_equity_snapshots(pool, &unique).await?,
            }
        };
        Ok(SnapshotsReport {
            inserted,
            duplicates: repeated + count(unique.len()).saturating_sub(inserted),
        })
    }

    /// Equity snapshots taken in `[from, to)`, oldest first, at most `limit`.
    pub async fn query_equity(
        &self,
        from: TimestampMs,
        to: TimestampMs,
        limit: usize,
    ) -> Result<Vec<EquitySnapshot>, StoreError> {
        check_range(from, to)?;
        let (from, to, limit) = (from.as_i64(), to.as_i64(), as_limit(limit));
        let rows = match &self.backend {
            Backend::Postgres(pool) => postgres::query_equity(pool, from, to, limit).await?,
            Backend::Sqlite(pool) => sqlite::query_equity(pool, from, to, limit).await?,
        };
        rows.into_iter()
            .map(codec::EquityRow::into_snapshot)
            .collect()
    }

    /// Stores `policy` as version `expected_latest + 1`, by compare-and-set: only when
    /// `expected_latest` is the latest stored version (0: none stored yet). Otherwise nothing
    /// is stored and the answer is [`StoreError::Stale`]; of two writers racing with the same
    /// `expected_latest`, exactly one succeeds.
    pub async fn append_policy_version(
        &self,
        expected_latest: u64,
        policy: &NewPolicyVersion,
    ) -> Result<PolicyVersion, StoreError> {
        check_policy(policy)?;
        let expected = codec::as_bigint("expected_latest", expected_latest)?;
        let version = expected.checked_add(1).ok_or_else(|| {
            StoreError::InvalidInput(format!(
                "expected_latest: {expected_latest} is out of range"
            ))
        })?;
        let row = codec::PolicyVersionRow::of(version, policy);
        let appended = match &self.backend {
            Backend::Postgres(pool) => {
                postgres::append_policy_version(pool, expected, &row).await?
            }
            Backend::Sqlite(pool) => sqlite::append_policy_version(pool, expected, &row).await?,
        };
        match appended {
            codec::Append::Stored => Ok(PolicyVersion {
                version: expected_latest + 1,
                policy: policy.clone(),
            }),
            codec::Append::Stale { latest } => Err(StoreError::Stale(format!(
                "policy version {latest} is current, not {expected_latest}"
            ))),
        }
    }

    /// The latest stored policy version; `None` when none was ever stored.
    pub async fn latest_policy_version(&self) -> Result<Option<PolicyVersion>, StoreError> {
        Ok(self.list_policy_versions(1).await?.into_iter().next())
    }

    /// Stored policy versions, newest first, at most `limit`.
    pub async fn list_policy_versions(
        &self,
        limit: usize,
    ) -> Result<Vec<PolicyVersion>, StoreError> {
        let limit = as_limit(limit);
        let rows = match &self.backend {
            Backend::Postgres(pool) => postgres::list_policy_versions(pool, limit).await?,
            Backend::Sqlite(pool) => sqlite::list_policy_versions(pool, limit).await?,
        };
        rows.into_iter()
            .map(codec::PolicyVersionRow::into_policy_version)
            .collect()
    }

    /// Appends an ESS transition. Its seq must follow the latest stored one (1 for the first):
    /// a gap or a repeat is [`StoreError::Stale`] and stores nothing, so two writers cannot
    /// interleave.
    pub async fn append_ess_transition(
        &self,
        transition: &EssTransition,
    ) -> Result<(), StoreError> {
        check_ess_transition(transition)?;
        let seq = codec::as_bigint("seq", transition.seq)?;
        let row = codec::EssTransitionRow::of(seq, transition);
        let appended = match &self.backend {
            Backend::Postgres(pool) => postgres::append_ess_transition(pool, &row).await?,
            Backend::Sqlite(pool) => sqlite::append_ess_transition(pool, &row).await?,
        };
        match appended {
            codec::Append::Stored => Ok(()),
            codec::Append::Stale { latest } => Err(StoreError::Stale(format!(
                "ess transition seq {} refused: the latest stored seq is {latest}, the next must be {}",
                transition.seq,
                latest.saturating_add(1)
            ))),
        }
    }

    /// Stored ESS transitions, newest first (the first is the current state), at most `limit`.
    pub async fn query_ess_transitions(
        &self,
        limit: usize,
    ) -> Result<Vec<EssTransition>, StoreError> {
        let limit = as_limit(limit);
        let rows = match &self.backend {
            Backend::Postgres(pool) => postgres::query_ess_transitions(pool, limit).await?,
            Backend::Sqlite(pool) => sqlite::query_ess_transitions(pool, limit).await?,
        };
        rows.into_iter()
            .map(codec::EssTransitionRow::into_transition)
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

    /// Audit entries made in `[from, to)`, in append order (oldest first), at most `limit`.
    pub async fn query_audit(
        &self,
        from: TimestampMs,
        to: TimestampMs,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        check_range(from, to)?;
        let (from, to, limit) = (from.as_i64(), to.as_i64(), as_limit(limit));
        let rows = match &self.backend {
            Backend::Postgres(pool) => postgres::query_audit(pool, from, to, limit).await?,
            Backend::Sqlite(pool) => sqlite::query_audit(pool, from, to, limit).await?,
        };
        rows.into_iter().map(codec::AuditRow::into_record).collect()
    }

    /// Stores a new API key, created at `at`, and audits it (`apikey.create` by `actor`) in
    /// the same transaction. A key id or a hash already stored is a [`StoreError::Conflict`]
    /// and changes nothing.
    pub async fn create_api_key(
        &self,
        key: &NewApiKey,
        actor: &Actor,
        at: TimestampMs,
    ) -> Result<ApiKey, StoreError> {
        let name = api_key_name(&key.name)?;
        let audit = AuditEntry {
            at,
            actor: actor.to_string(),
            action: "apikey.create".to_owned(),
            detail: serde_json::json!({
                "key_id": key.key_id.to_string(),
                "name": name,
                "role": key.role.as_str(),
            }),
        };
        let row = codec::NewApiKeyRow {
            key_id: key.key_id.to_string(),
            name: name.clone(),
            role: key.role.as_str(),
            key_sha256: key.key_sha256.as_str(),
            created_ms: at.as_i64(),
        };
        let created = match &self.backend {
            Backend::Postgres(pool) => postgres::create_api_key(pool, &row, &audit).await?,
            Backend::Sqlite(pool) => sqlite::create_api_key(pool, &row, &audit).await?,
        };
        match created {
            codec::KeyInsert::Inserted => Ok(ApiKey {
                key_id: key.key_id,
                name,
                role: key.role,
                created_at: at,
                revoked_at: None,
            }),
            codec::KeyInsert::IdTaken => Err(StoreError::Conflict(format!(
                "key_id: {} already exists",
                key.key_id
            ))),
            codec::KeyInsert::HashTaken => Err(StoreError::Conflict(
                "key_sha256: a key with this hash already exists".to_owned(),
            )),
        }
    }

    /// The key whose plaintext hashes to `key_sha256`, active or revoked; `None` when unknown.
    pub async fn api_key_by_sha256(
        &self,
        key_sha256: &KeySha256,
    ) -> Result<Option<ApiKey>, StoreError> {
        let row = match &self.backend {
            Backend::Postgres(pool) => postgres::api_key_by_sha256(pool, key_sha256).await?,
            Backend::Sqlite(pool) => sqlite::api_key_by_sha256(pool, key_sha256).await?,
        };
        row.map(codec::ApiKeyRow::into_api_key).transpose()
    }

    /// Every key, active and revoked, oldest first (never their hashes).
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let rows = match &self.backend {
            Backend::Postgres(pool) => postgres::list_api_keys(pool).await?,
            Backend::Sqlite(pool) => sqlite::list_api_keys(pool).await?,
        };
        rows.into_iter()
            .map(codec::ApiKeyRow::into_api_key)
            .collect()
    }

    /// Revokes key `key_id` at `at`, and audits it (`apikey.revoke` by `actor`, with the
    /// outcome) in the same transaction. Revoking a revoked key changes nothing but the audit
    /// log; an unknown id changes nothing at all.
    pub async fn revoke_api_key(
        &self,
        key_id: KeyId,
        actor: &Actor,
        at: TimestampMs,
    ) -> Result<Revocation, StoreError> {
        let id = key_id.to_string();
        let audit = |revoked_now: bool| AuditEntry {
            at,
            actor: actor.to_string(),
            action: "apikey.revoke".to_owned(),
            detail: serde_json::json!({
                "key_id": id,
                "outcome": if revoked_now { "revoked" } else { "already_revoked" },
            }),
        };
        let revoked = match &self.backend {
            Backend::Postgres(pool) => {
                postgres::revoke_api_key(pool, &id, at.as_i64(), audit).await?
            }
            Backend::Sqlite(pool) => sqlite::revoke_api_key(pool, &id, at.as_i64(), audit).await?,
        };
        Ok(match revoked {
            None => Revocation::NotFound,
            Some((row, true)) => Revocation::Revoked(row.into_api_key()?),
            Some((row, false)) => Revocation::AlreadyRevoked(row.into_api_key()?),
        })
    }
}

/// Where [`TradeStore::query_bars`] goes on.
enum NextPage {
    /// Read the page starting at this open time.
    At(i64),
    /// The next page is being read already.
    Reading(PageTask),
    /// The last page was handed over.
    Done,
}

/// A page being read ahead in a task of its own, so the database works while the current page
/// is consumed. Aborted when dropped (a caller that stops reading stops the read-ahead).
struct PageTask(tokio::task::JoinHandle<Result<Vec<Bar>, StoreError>>);

impl PageTask {
    fn spawn(store: TradeStore, symbol: Symbol, interval: Interval, from: i64, to: i64) -> Self {
        Self(tokio::spawn(async move {
            store
                .bar_page(symbol, interval, from, to, BAR_PAGE_SIZE)
                .await
        }))
    }

    async fn join(mut self) -> Result<Vec<Bar>, StoreError> {
        (&mut self.0)
            .await
            .map_err(|err| StoreError::Task(err.to_string()))?
    }
}

impl Drop for PageTask {
    fn drop(&mut self) {
        self.0.abort();
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

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Checks what the schema checks too, so a bad version is refused with a clear message.
fn check_policy(policy: &NewPolicyVersion) -> Result<(), StoreError> {
    if policy.profile.trim().is_empty() {
        return Err(StoreError::InvalidInput("profile: is required".to_owned()));
    }
    if !policy.document.is_object() {
        return Err(StoreError::InvalidInput(
            "document: must be a JSON object".to_owned(),
        ));
    }
    Ok(())
}

/// Checks what the schema checks too, so a bad transition is refused with a clear message.
fn check_ess_transition(t: &EssTransition) -> Result<(), StoreError> {
    if t.seq == 0 {
        return Err(StoreError::InvalidInput(
            "seq: must be 1 or more".to_owned(),
        ));
    }
    if t.trigger.trim().is_empty() {
        return Err(StoreError::InvalidInput("trigger: is required".to_owned()));
    }
    if !t.detail.is_object() {
        return Err(StoreError::InvalidInput(
            "detail: must be a JSON object".to_owned(),
        ));
    }
    if t.cooldown_until.is_some_and(|c| c.as_i64() <= 0) {
        return Err(StoreError::InvalidInput(
            "cooldown_until: must be a positive time".to_owned(),
        ));
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
