//! The async adapters around [`Portfolio`]: rebuilding the books from the trade-store (fills,
//! then the peak and today's opening equity from the stored equity curve), the bus consumers of
//! `fill` and `md.bar`, the equity-snapshot sender, the policy watcher, the ESS tripper and the
//! reconciler. Each is a task owned by [`Runtime::run`].

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use levibot_bus::{Bus, BusMessage, Consumer, Received, StartFrom};
use levibot_config::{Config, ServiceName};
use levibot_core::{Bar, Clock, Fill, Symbol, TimestampMs};
use levibot_policy_store::{PolicyWatch, StoredPolicy, policy_store_client};
use levibot_proto::v1::{
    self, backend_service_client::BackendServiceClient,
    policy_store_service_client::PolicyStoreServiceClient,
    trade_store_service_client::TradeStoreServiceClient,
};
use levibot_telemetry::InjectTraceContext;
use levibot_telemetry::metrics::Registry;
use rust_decimal::Decimal;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::books::{Books, EquityHistory, EquitySnapshot, FillOutcome};
use crate::ess::RiskLimits;
use crate::metrics::PortfolioMetrics;
use crate::portfolio::Portfolio;
use crate::reconcile::{
    BooksView, ExchangeAccount, ReconciliationOutcome, ReconciliationReport, compare,
};

/// The consumer group of the portfolio on `fill`.
pub const FILLS_GROUP: &str = "portfolio-fills";
/// The consumer group of the portfolio on `md.bar`.
pub const MARKS_GROUP: &str = "portfolio-marks";
/// Unsent equity snapshots kept while the trade-store is down (a week of 1-minute snapshots);
/// past it the oldest are dropped, counted.
pub const PENDING_SNAPSHOTS: usize = 10_080;
/// Fills booked but not yet confirmed stored kept unacknowledged on the bus at most; past it
/// the oldest are acknowledged anyway (the trade-store's own consumer still stores them).
const MAX_UNSTORED_FILLS: usize = 50_000;
/// Snapshots per `RecordEquitySnapshots` call.
const SNAPSHOT_BATCH: usize = 1_000;
/// Fills per `RecordFills` call (the trade-store takes at most 10 000).
const RECORD_FILLS_BATCH: usize = 5_000;
/// A mismatch must still be there this long after it is first seen: fills in flight (on the
/// exchange, not yet through the bus) settle in between.
const RECONCILE_CONFIRM: Duration = Duration::from_secs(2);
/// Orders older than this are not looked for among the open ones: the executor cancels what is
/// still open five minutes after sending it.
const OPEN_ORDER_LOOKBACK_MS: i64 = 7 * TimestampMs::MS_PER_DAY;
/// Retry pace of the loops that wait for another service.
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// Longest wait between two attempts of a failed `TripEss`.
const TRIP_RETRY_MAX: Duration = Duration::from_secs(5);

/// A gRPC channel that carries the trace context.
pub type TracedChannel = InjectTraceContext<Channel>;

/// The clients of the services the portfolio calls.
#[derive(Debug, Clone)]
pub struct Clients {
    /// The trade-store: fills, orders, equity snapshots.
    pub trade_store: TradeStoreServiceClient<TracedChannel>,
    /// The policy-store: `TripEss`.
    pub policy_store: PolicyStoreServiceClient<TracedChannel>,
    /// The policy-store without a call timeout, for the `WatchPolicy` stream.
    pub policy_watch: PolicyStoreServiceClient<TracedChannel>,
    /// The backend: `GetExchangeAccount`.
    pub backend: BackendServiceClient<TracedChannel>,
}

impl Clients {
    /// Lazily connecting clients to the services of `config`.
    pub fn new(config: &Config) -> Result<Self, String> {
        Ok(Self {
            trade_store: TradeStoreServiceClient::new(levibot_server::peers::channel(
                config,
                ServiceName::TradeStore,
            )?)
            .max_decoding_message_size(64 * 1024 * 1024),
            policy_store: PolicyStoreServiceClient::new(levibot_server::peers::channel(
                config,
                ServiceName::PolicyStore,
            )?),
            policy_watch: policy_store_client(config)?,
            backend: BackendServiceClient::new(levibot_server::peers::channel(
                config,
                ServiceName::Backend,
            )?),
        })
    }
}

/// What the runtime needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The cash asset.
    pub quote_asset: String,
    /// Cash before any fill.
    pub starting_cash: Decimal,
    /// Symbols the fleet trades (reconciled even while flat).
    pub tradable: Vec<Symbol>,
    /// Reconcile this often.
    pub reconcile_interval: Duration,
    /// Snapshot at most this often, in ms.
    pub snapshot_interval_ms: i64,
}

impl Settings {
    /// The settings of `config`.
    pub fn from_config(config: &Config) -> Self {
        let p = &config.portfolio;
        Self {
            quote_asset: p.quote_asset.clone(),
            starting_cash: p.starting_cash_usd,
            tradable: config
                .risk
                .symbols
                .iter()
                .filter_map(|s| Symbol::new(s).ok())
                .collect(),
            reconcile_interval: Duration::from_millis(p.reconcile_interval_ms.max(1_000)),
            snapshot_interval_ms: i64::try_from(p.snapshot_interval_ms).unwrap_or(i64::MAX),
        }
    }
}

/// The portfolio and everything its tasks share; cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    portfolio: Arc<Mutex<Portfolio>>,
    clients: Clients,
    metrics: PortfolioMetrics,
    settings: Arc<Settings>,
    clock: Arc<dyn Clock>,
    trips: Arc<Notify>,
    snapshots: Arc<Notify>,
    reconciling: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime for `config`, its metrics in `registry`. Nothing runs until [`run`](Self::run).
    pub fn new(
        config: &Config,
        registry: &Registry,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let settings = Settings::from_config(config);
        let metrics = PortfolioMetrics::register(registry)
            .map_err(|e| format!("cannot register metrics: {e}"))?;
        let portfolio = Portfolio::new(
            Books::new(&settings.quote_asset, settings.starting_cash),
            RiskLimits::from_config(config),
            settings.snapshot_interval_ms,
            PENDING_SNAPSHOTS,
        );
        Ok(Self {
            portfolio: Arc::new(Mutex::new(portfolio)),
            clients: Clients::new(config)?,
            metrics,
            settings: Arc::new(settings),
            clock,
            trips: Arc::new(Notify::new()),
            snapshots: Arc::new(Notify::new()),
            reconciling: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// The portfolio, locked. Never held across an await.
    pub fn portfolio(&self) -> MutexGuard<'_, Portfolio> {
        // a panic while holding the lock cannot leave the books half-updated: every update
        // computes the new state first and assigns it last
        self.portfolio
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The service clients.
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// The clock.
    pub fn now(&self) -> TimestampMs {
        self.clock.now()
    }

    /// Rebuilds the books, then runs every task until `stop` is cancelled.
    pub async fn run(self, bus: Bus, consumer: String, stop: CancellationToken) {
        if !self.rebuild(&stop).await {
            return;
        }
        let mut tasks = JoinSet::new();
        tasks.spawn(
            self.clone()
                .consume_fills(bus.clone(), consumer.clone(), stop.clone()),
        );
        tasks.spawn(self.clone().consume_bars(bus, consumer, stop.clone()));
        tasks.spawn(self.clone().send_snapshots(stop.clone()));
        tasks.spawn(self.clone().send_trips(stop.clone()));
        let (policy, watcher) = PolicyWatch::new(self.clients.policy_watch.clone());
        tasks.spawn(watcher.run(stop.clone()));
        tasks.spawn(self.clone().follow_policy(policy, stop.clone()));
        tasks.spawn(self.clone().reconcile_every(stop.clone()));
        while tasks.join_next().await.is_some() {}
    }

    /// Rebuilds the books from every fill the trade-store holds, then takes their peak equity
    /// and today's opening equity back from every equity snapshot it holds
    /// ([`Books::restore`]), retrying until it answers both; false when stopped first.
    pub async fn rebuild(&self, stop: &CancellationToken) -> bool {
        let mut wait = RETRY_MIN;
        loop {
            match self.load_books().await {
                Ok(books) => {
                    tracing::info!(
                        fills = books.fills_applied(),
                        cash = %books.cash(),
                        "books rebuilt from the trade-store"
                    );
                    let mut portfolio = self.portfolio();
                    self.metrics.fills_applied.inc_by(books.fills_applied());
                    portfolio.rebuilt(books);
                    self.metrics.observe(&portfolio);
                    return true;
                }
                Err(status) => {
                    tracing::warn!(code = %status.code(), message = status.message(), "cannot rebuild the books yet; retrying");
                }
            }
            if !pause(stop, &mut wait).await {
                return false;
            }
        }
    }

    async fn load_books(&self) -> Result<Books, tonic::Status> {
        let mut books = Books::new(&self.settings.quote_asset, self.settings.starting_cash);
        let now = self.now();
        let to = now.as_i64().saturating_add(TimestampMs::MS_PER_DAY);
        let fills = query_paged(0, to, |from, to| {
            let mut client = self.clients.trade_store.clone();
            async move {
                client
                    .query_fills(v1::QueryFillsRequest {
                        symbol: String::new(),
                        range: Some(v1::TimeRange {
                            from_ms: from,
                            to_ms: to,
                        }),
                    })
                    .await
                    .map(|r| r.into_inner().fills)
            }
        })
        .await?;
        for wire in &fills {
            match Fill::try_from(wire) {
                Ok(fill) => {
                    for anomaly in books.apply_fill(&fill).anomalies() {
                        tracing::warn!(%anomaly, "stored fill anomaly");
                    }
                }
                Err(err) => {
                    tracing::warn!(fill = wire.fill_id, error = %err, "skipping a stored fill that is not valid");
                }
            }
        }
        let history = self.load_equity_history(now).await?;
        let rebuilt_peak = books.peak_equity();
        let opening = books.restore(&history);
        tracing::info!(
            snapshots = history.snapshots(),
            %rebuilt_peak,
            peak = %books.peak_equity(),
            drawdown_pct = %books.drawdown_pct().round_dp(4),
            ?opening,
            daily_pnl = %books.daily_pnl_at(now),
            "peak and today's opening equity restored from the stored equity curve"
        );
        Ok(books)
    }

    /// Reads every equity snapshot the trade-store holds, oldest first and page by page, into
    /// an [`EquityHistory`] seen at `now`. The whole curve, not a recent window: the live books'
    /// peak is the highest equity ever, and a drawdown older than any window must survive a
    /// restart. A year of one-minute snapshots is about 53 pages of 10 000 (more calls when a
    /// range must be split), folded as they come, so only a page is held at a time.
    async fn load_equity_history(&self, now: TimestampMs) -> Result<EquityHistory, tonic::Status> {
        let mut history = EquityHistory::new(now);
        let mut malformed = 0_u64;
        let to = now.as_i64().saturating_add(TimestampMs::MS_PER_DAY);
        for_each_page(
            0,
            to,
            |from, to| {
                let mut client = self.clients.trade_store.clone();
                async move {
                    client
                        .query_equity(v1::QueryEquityRequest {
                            range: Some(v1::TimeRange {
                                from_ms: from,
                                to_ms: to,
                            }),
                        })
                        .await
                        .map(|r| r.into_inner().snapshots)
                }
            },
            |page| {
                for snapshot in page {
                    match snapshot.equity.parse::<Decimal>() {
                        Ok(equity) => history.observe(TimestampMs::new(snapshot.at_ms), equity),
                        Err(_) => malformed += 1,
                    }
                }
            },
        )
        .await?;
        if malformed > 0 {
            tracing::warn!(
                malformed,
                "skipped stored equity snapshots whose equity is not a decimal"
            );
        }
        Ok(history)
    }

    /// Books one fill from the bus, counted and logged.
    fn book_fill(&self, fill: &Fill) {
        let mut portfolio = self.portfolio();
        let outcome = portfolio.apply_fill(fill);
        match &outcome {
            FillOutcome::Duplicate => self.metrics.fills_duplicate.inc(),
            FillOutcome::Applied { .. } => self.metrics.fills_applied.inc(),
            FillOutcome::Rejected(_) => {}
        }
        for anomaly in outcome.anomalies() {
            self.metrics
                .anomalies
                .with_label_values(&[anomaly.kind()])
                .inc();
            tracing::warn!(%anomaly, "fill anomaly");
        }
        self.metrics.observe(&portfolio);
        if !portfolio.due_trips().is_empty() {
            self.trips.notify_one();
        }
    }

    /// Consumes `fill`: books each fill at once, and acknowledges it only once the trade-store
    /// holds it (`RecordFills`, idempotent), so the books rebuilt after a restart include every
    /// fill the bus will not deliver again.
    async fn consume_fills(self, bus: Bus, consumer: String, stop: CancellationToken) {
        let Some(mut events) =
            join::<v1::Fill>(&bus, FILLS_GROUP, &consumer, StartFrom::Beginning, &stop).await
        else {
            return;
        };
        let mut unstored: VecDeque<(Received<v1::Fill>, v1::Fill)> = VecDeque::new();
        let mut wait = RETRY_MIN;
        loop {
            let batch = tokio::select! {
                () = stop.cancelled() => return,
                batch = events.next(256, Duration::from_millis(500)) => batch,
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(err) => {
                    tracing::warn!(error = %err, "fill read failed; retrying");
                    if !pause(&stop, &mut wait).await {
                        return;
                    }
                    continue;
                }
            };
            for received in batch {
                match Fill::try_from(&received.message) {
                    Ok(fill) => {
                        self.book_fill(&fill);
                        if !unstored
                            .iter()
                            .any(|(r, _)| r.delivery_id == received.delivery_id)
                        {
                            unstored.push_back((received, v1::Fill::from(&fill)));
                        }
                    }
                    Err(err) => {
                        self.malformed(v1::Fill::TOPIC.name(), &err.to_string());
                        if let Err(err) = events.reject(&received, "invalid_value").await {
                            tracing::warn!(error = %err, "cannot dead-letter a malformed fill");
                        }
                    }
                }
            }
            while unstored.len() > MAX_UNSTORED_FILLS {
                if let Some((received, _)) = unstored.pop_front() {
                    tracing::warn!(delivery = %received.delivery_id, "acknowledging a fill the trade-store has not confirmed: too many waiting");
                    let _ = events.commit(std::slice::from_ref(&received)).await;
                }
            }
            if unstored.is_empty() {
                continue;
            }
            match self
                .store_fills(unstored.iter().map(|(_, f)| f.clone()))
                .await
            {
                Ok(()) => {
                    let done: Vec<Received<v1::Fill>> =
                        unstored.drain(..).map(|(r, _)| r).collect();
                    if let Err(err) = events.commit(&done).await {
                        tracing::warn!(error = %err, "cannot acknowledge fills");
                    }
                    wait = RETRY_MIN;
                }
                Err(status) => {
                    tracing::warn!(code = %status.code(), message = status.message(), waiting = unstored.len(), "trade-store did not take the fills; they stay unacknowledged");
                    if !pause(&stop, &mut wait).await {
                        return;
                    }
                }
            }
        }
    }

    async fn store_fills(
        &self,
        fills: impl Iterator<Item = v1::Fill>,
    ) -> Result<(), tonic::Status> {
        let fills: Vec<v1::Fill> = fills.collect();
        for chunk in fills.chunks(RECORD_FILLS_BATCH) {
            self.clients
                .trade_store
                .clone()
                .record_fills(v1::RecordFillsRequest {
                    fills: chunk.to_vec(),
                })
                .await?;
        }
        Ok(())
    }

    /// Consumes `md.bar`: marks each symbol at its bar's close.
    async fn consume_bars(self, bus: Bus, consumer: String, stop: CancellationToken) {
        let Some(mut events) =
            join::<v1::Bar>(&bus, MARKS_GROUP, &consumer, StartFrom::New, &stop).await
        else {
            return;
        };
        let mut wait = RETRY_MIN;
        loop {
            let batch = tokio::select! {
                () = stop.cancelled() => return,
                batch = events.next(512, Duration::from_millis(500)) => batch,
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(err) => {
                    tracing::warn!(error = %err, "md.bar read failed; retrying");
                    if !pause(&stop, &mut wait).await {
                        return;
                    }
                    continue;
                }
            };
            if batch.is_empty() {
                continue;
            }
            let mut refused = Vec::new();
            {
                let mut portfolio = self.portfolio();
                let mut snapshot_due = false;
                for received in &batch {
                    match Bar::try_from(&received.message) {
                        Ok(bar) => {
                            let before = portfolio.pending_snapshots().0;
                            portfolio.apply_bar(&bar);
                            snapshot_due |= portfolio.pending_snapshots().0 != before;
                        }
                        Err(err) => refused.push((received, err.to_string())),
                    }
                }
                self.metrics.observe(&portfolio);
                if snapshot_due {
                    self.snapshots.notify_one();
                }
                if !portfolio.due_trips().is_empty() {
                    self.trips.notify_one();
                }
            }
            for (received, reason) in refused {
                self.malformed(v1::Bar::TOPIC.name(), &reason);
                if let Err(err) = events.reject(received, "invalid_value").await {
                    tracing::warn!(error = %err, "cannot dead-letter a malformed bar");
                }
            }
            if let Err(err) = events.commit(&batch).await {
                tracing::warn!(error = %err, "cannot acknowledge bars");
            }
        }
    }

    fn malformed(&self, topic: &str, reason: &str) {
        self.metrics.malformed.with_label_values(&[topic]).inc();
        tracing::warn!(topic, %reason, "skipping a malformed bus message");
    }

    /// Sends queued equity snapshots to the trade-store; what it does not take stays queued.
    async fn send_snapshots(self, stop: CancellationToken) {
        let mut wait = RETRY_MIN;
        loop {
            let batch = self.portfolio().take_snapshots(SNAPSHOT_BATCH);
            if batch.is_empty() {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = self.snapshots.notified() => {}
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
                continue;
            }
            let request = v1::RecordEquitySnapshotsRequest {
                snapshots: batch.iter().map(snapshot_to_wire).collect(),
            };
            match self
                .clients
                .trade_store
                .clone()
                .record_equity_snapshots(request)
                .await
            {
                Ok(_) => {
                    self.metrics
                        .snapshots_stored
                        .inc_by(u64::try_from(batch.len()).unwrap_or(u64::MAX));
                    self.metrics.observe(&self.portfolio());
                    wait = RETRY_MIN;
                }
                Err(status) => {
                    tracing::warn!(code = %status.code(), message = status.message(), snapshots = batch.len(), "trade-store did not take the equity snapshots; retrying later");
                    {
                        let mut portfolio = self.portfolio();
                        portfolio.return_snapshots(batch);
                        self.metrics.observe(&portfolio);
                    }
                    if !pause(&stop, &mut wait).await {
                        return;
                    }
                }
            }
        }
    }

    /// Sends due ESS trips to policy-store, retrying the ones that fail.
    async fn send_trips(self, stop: CancellationToken) {
        let mut wait = RETRY_MIN;
        loop {
            let due = self.portfolio().due_trips();
            let mut failed = false;
            for breach in due {
                let request = v1::TripEssRequest {
                    reason: breach.reason.clone(),
                    actor: Some(v1::Actor {
                        name: "portfolio".to_owned(),
                        role: "system".to_owned(),
                    }),
                    trigger: breach.trigger.as_str().to_owned(),
                    detail_json: breach.detail_json.clone(),
                };
                match self.clients.policy_store.clone().trip_ess(request).await {
                    Ok(_) => {
                        tracing::warn!(trigger = %breach.trigger, reason = %breach.reason, "ESS tripped");
                        self.metrics
                            .ess_trips
                            .with_label_values(&[breach.trigger.as_str()])
                            .inc();
                        self.portfolio().trip_reported(breach.trigger);
                    }
                    Err(status) => {
                        failed = true;
                        self.metrics.ess_trip_failures.inc();
                        tracing::error!(trigger = %breach.trigger, code = %status.code(), message = status.message(), "cannot trip the ESS; retrying");
                    }
                }
            }
            if failed {
                if !pause(&stop, &mut wait).await {
                    return;
                }
                // a trip is a safety action: never wait long between attempts
                wait = wait.min(TRIP_RETRY_MAX);
            } else {
                wait = RETRY_MIN;
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = self.trips.notified() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }

    /// Follows the risk policy through policy-store's `WatchPolicy` ([`PolicyWatch`], which
    /// reconnects) and takes each new version's limits.
    async fn follow_policy(self, policy: PolicyWatch, stop: CancellationToken) {
        let mut changes = policy.subscribe();
        loop {
            let current = changes.borrow_and_update().clone();
            if let Some(policy) = current {
                self.apply_policy(&policy);
            }
            tokio::select! {
                () = stop.cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
            }
        }
    }

    /// Takes the limits of a new policy version.
    pub fn apply_policy(&self, policy: &StoredPolicy) {
        let limits = RiskLimits::from_policy(policy);
        tracing::info!(version = policy.version, ?limits, "risk limits updated");
        let mut portfolio = self.portfolio();
        portfolio.set_limits(limits);
        if !portfolio.due_trips().is_empty() {
            self.trips.notify_one();
        }
    }

    async fn reconcile_every(self, stop: CancellationToken) {
        loop {
            self.reconcile().await;
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.settings.reconcile_interval) => {}
            }
        }
    }

    /// Reconciles the books against the exchange now (one run at a time), records the result
    /// and returns it. A mismatch is confirmed by a second comparison [`RECONCILE_CONFIRM`]
    /// later, so fills still in flight do not count.
    pub async fn reconcile(&self) -> ReconciliationReport {
        let _one_at_a_time = self.reconciling.lock().await;
        let mut outcome = self.reconcile_once().await;
        if matches!(outcome, ReconciliationOutcome::Mismatched(_)) {
            tokio::time::sleep(RECONCILE_CONFIRM).await;
            outcome = self.reconcile_once().await;
        }
        let report = ReconciliationReport {
            at: self.now(),
            outcome,
        };
        let label = match &report.outcome {
            ReconciliationOutcome::Matched => {
                tracing::info!("books reconciled with the exchange");
                "matched"
            }
            ReconciliationOutcome::Mismatched(items) => {
                self.metrics
                    .reconciliation_mismatches
                    .inc_by(u64::try_from(items.len()).unwrap_or(u64::MAX));
                for m in items {
                    tracing::warn!(item = %m.item, books = %m.expected, exchange = %m.actual, "reconciliation mismatch");
                }
                "mismatched"
            }
            ReconciliationOutcome::NotRun(error) => {
                tracing::warn!(%error, "reconciliation could not run");
                "not_run"
            }
        };
        self.metrics
            .reconciliation_runs
            .with_label_values(&[label])
            .inc();
        let mut portfolio = self.portfolio();
        portfolio.record_reconciliation(report.clone());
        if !portfolio.due_trips().is_empty() {
            self.trips.notify_one();
        }
        report
    }

    async fn reconcile_once(&self) -> ReconciliationOutcome {
        let account = match self
            .clients
            .backend
            .clone()
            .get_exchange_account(v1::GetExchangeAccountRequest {})
            .await
        {
            Ok(account) => account.into_inner(),
            Err(status) => {
                return ReconciliationOutcome::NotRun(format!(
                    "the backend cannot report the exchange account ({}): {}",
                    status.code(),
                    status.message()
                ));
            }
        };
        let account = match ExchangeAccount::try_from(&account) {
            Ok(account) => account,
            Err(err) => {
                return ReconciliationOutcome::NotRun(format!(
                    "the backend reported a malformed exchange account: {err}"
                ));
            }
        };
        let store_open = match self.store_open_orders().await {
            Ok(open) => open,
            Err(status) => {
                return ReconciliationOutcome::NotRun(format!(
                    "the trade-store cannot list the open orders ({}): {}",
                    status.code(),
                    status.message()
                ));
            }
        };
        let view = BooksView::of(self.portfolio().books(), &self.settings.tradable);
        let mismatches = compare(&view, &account, &store_open);
        if mismatches.is_empty() {
            ReconciliationOutcome::Matched
        } else {
            ReconciliationOutcome::Mismatched(mismatches)
        }
    }

    /// Client order ids of the orders the trade-store holds as new or partially filled.
    async fn store_open_orders(&self) -> Result<BTreeSet<String>, tonic::Status> {
        let now = self.now().as_i64();
        let orders = query_paged(
            now.saturating_sub(OPEN_ORDER_LOOKBACK_MS),
            now.saturating_add(60_000),
            |from, to| {
                let mut client = self.clients.trade_store.clone();
                async move {
                    client
                        .query_orders(v1::QueryOrdersRequest {
                            symbol: String::new(),
                            range: Some(v1::TimeRange {
                                from_ms: from,
                                to_ms: to,
                            }),
                        })
                        .await
                        .map(|r| r.into_inner().orders)
                }
            },
        )
        .await?;
        Ok(orders
            .into_iter()
            .filter(|o| {
                matches!(
                    o.status(),
                    v1::OrderStatus::New | v1::OrderStatus::PartiallyFilled
                )
            })
            .filter_map(|o| o.request.map(|r| r.client_order_id))
            .collect())
    }
}

/// `snapshot` on the wire.
pub fn snapshot_to_wire(snapshot: &EquitySnapshot) -> v1::EquitySnapshot {
    v1::EquitySnapshot {
        at_ms: snapshot.at.as_i64(),
        equity: snapshot.equity.normalize().to_string(),
        cash: snapshot.cash.normalize().to_string(),
        unrealized_pnl: snapshot.unrealized_pnl.normalize().to_string(),
        realized_pnl: snapshot.realized_pnl.normalize().to_string(),
    }
}

/// Runs `query` over `[from, to)`, splitting a range the trade-store finds too large (it
/// refuses more than 10 000 rows with `INVALID_ARGUMENT`) into halves, oldest first.
async fn query_paged<T, F, Fut>(from: i64, to: i64, query: F) -> Result<Vec<T>, tonic::Status>
where
    F: Fn(i64, i64) -> Fut,
    Fut: Future<Output = Result<Vec<T>, tonic::Status>>,
{
    let mut rows = Vec::new();
    for_each_page(from, to, query, |mut page| rows.append(&mut page)).await?;
    Ok(rows)
}

/// [`query_paged`], handing each page to `take` as it comes instead of collecting them.
async fn for_each_page<T, F, Fut>(
    from: i64,
    to: i64,
    query: F,
    mut take: impl FnMut(Vec<T>),
) -> Result<(), tonic::Status>
where
    F: Fn(i64, i64) -> Fut,
    Fut: Future<Output = Result<Vec<T>, tonic::Status>>,
{
    let mut ranges = VecDeque::from([(from, to)]);
    while let Some((from, to)) = ranges.pop_front() {
        match query(from, to).await {
            Ok(page) => take(page),
            Err(status)
                if status.code() == tonic::Code::InvalidArgument
                    && status.message().contains("narrow the range")
                    && to.saturating_sub(from) > 1 =>
            {
                let mid = from + (to - from) / 2;
                ranges.push_front((mid, to));
                ranges.push_front((from, mid));
            }
            Err(status) => return Err(status),
        }
    }
    Ok(())
}

/// Joins `group` on `M`'s topic, retrying until the bus answers; `None` when stopped first.
async fn join<M: BusMessage>(
    bus: &Bus,
    group: &str,
    consumer: &str,
    start: StartFrom,
    stop: &CancellationToken,
) -> Option<Consumer<Bus, M>> {
    let mut wait = RETRY_MIN;
    loop {
        match Consumer::<Bus, M>::new(bus.clone(), group, consumer, start, bus.metrics()).await {
            Ok(consumer) => return Some(consumer),
            Err(err) => {
                tracing::warn!(topic = %M::TOPIC, error = %err, "cannot join the topic yet")
            }
        }
        if !pause(stop, &mut wait).await {
            return None;
        }
    }
}

/// Sleeps `wait` (doubling it up to [`RETRY_MAX`] for next time); false when stopped first.
async fn pause(stop: &CancellationToken, wait: &mut Duration) -> bool {
    let now = *wait;
    *wait = (*wait * 2).min(RETRY_MAX);
    tokio::select! {
        () = stop.cancelled() => false,
        () = tokio::time::sleep(now) => true,
    }
}
