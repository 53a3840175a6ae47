//! The engines manager: one supervised async engine per symbol.
//!
//! Each engine is a task built by an [`EngineRunner`]; the manager starts, stops and restarts
//! them on request, restarts crashed ones (error, panic, unexpected exit or heartbeat
//! timeout) with the [`RestartPolicy`]'s backoff and hourly cap, persists which engines
//! should run in the [`EngineRegistry`] so a restarted backend resumes them, and journals
//! every life event to the per-symbol JSONL logs.

mod journal;
mod registry;
mod restart_policy;
mod status;
mod supervisor;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use levibot_core::{Clock, Symbol};
use levibot_telemetry::metrics::{IntCounterVec, Opts, PrometheusError, Registry};
use thiserror::Error;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use journal::EngineJournal;
pub use registry::{Desired, EngineRegistry};
pub use restart_policy::RestartPolicy;
pub use status::{EngineState, EngineStats, EngineStatus};

/// Everything one run of an engine gets.
#[derive(Debug, Clone)]
pub struct EngineContext {
    /// The symbol it trades.
    pub symbol: Symbol,
    /// Cancelled when the engine must stop (requested stop, restart, shutdown, hang).
    pub stop: CancellationToken,
    /// Its counters and heartbeat: call [`EngineStats::heartbeat`] at least every
    /// `heartbeat_timeout / 2`, or the supervisor treats it as hung.
    pub stats: Arc<EngineStats>,
    /// Its JSONL log.
    pub journal: Arc<EngineJournal>,
}

/// Builds and runs one engine.
pub trait EngineRunner: Send + Sync + 'static {
    /// Runs `ctx.symbol`'s engine until `ctx.stop` is cancelled (then returns `Ok`); an `Err`
    /// or a panic is a crash and the engine is restarted per the policy.
    fn run(&self, ctx: EngineContext) -> BoxFuture<'static, Result<(), String>>;
}

/// Why a manager call was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EngineError {
    /// The symbol is not one the fleet trades.
    #[error("unknown symbol {0}: not in risk.symbols")]
    UnknownSymbol(Symbol),
    /// No engine was ever started for the symbol.
    #[error("no engine for {0}")]
    NotFound(Symbol),
    /// The registry could not be written; the change was not made.
    #[error("cannot persist the engine registry: {0}")]
    Registry(String),
    /// The manager is shutting down.
    #[error("the engines manager is shutting down")]
    ShuttingDown,
}

/// The manager's settings.
#[derive(Debug, Clone)]
pub struct ManagerSettings {
    /// Restart backoff, cap, heartbeat timeout.
    pub policy: RestartPolicy,
    /// Symbols engines may run for.
    pub symbols: BTreeSet<Symbol>,
    /// Where the registry lives (`None`: not persisted).
    pub registry: Option<PathBuf>,
    /// Where the per-symbol JSONL logs go.
    pub journal_dir: PathBuf,
}

#[derive(Debug, Clone)]
struct EngineMetrics {
    crashes: IntCounterVec,
    restarts: IntCounterVec,
}

impl EngineMetrics {
    fn new(registry: &Registry) -> Result<Self, PrometheusError> {
        let crashes = IntCounterVec::new(
            Opts::new(
                "engine_crashes_total",
                "Engine crashes (error, panic, hang, unexpected exit)",
            ),
            &["symbol"],
        )?;
        let restarts = IntCounterVec::new(
            Opts::new(
                "engine_restarts_total",
                "Automatic engine restarts after a crash",
            ),
            &["symbol"],
        )?;
        registry.register(Box::new(crashes.clone()))?;
        registry.register(Box::new(restarts.clone()))?;
        Ok(Self { crashes, restarts })
    }
}

/// State shared by the manager and its supervisors.
struct Shared {
    runner: Arc<dyn EngineRunner>,
    policy: RestartPolicy,
    clock: Arc<dyn Clock>,
    metrics: EngineMetrics,
    started: tokio::time::Instant,
}

struct Slot {
    stats: Arc<EngineStats>,
    journal: Arc<EngineJournal>,
    desired: Desired,
    /// Cancels the current supervisor; `None` once stopped.
    supervisor: Option<(CancellationToken, tokio::task::JoinHandle<()>)>,
}

/// Starts, stops, restarts and reports the per-symbol engines.
#[derive(Clone)]
pub struct EngineManager {
    shared: Arc<Shared>,
    settings: Arc<ManagerSettings>,
    slots: Arc<Mutex<BTreeMap<Symbol, Slot>>>,
    /// Serialises start/stop/restart so the registry and the tasks agree.
    control: Arc<tokio::sync::Mutex<()>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl std::fmt::Debug for EngineManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineManager")
            .field("symbols", &self.settings.symbols)
            .finish_non_exhaustive()
    }
}

impl EngineManager {
    /// A manager running engines built by `runner`; nothing starts until
    /// [`EngineManager::resume`] or [`EngineManager::start`].
    ///
    /// # Errors
    ///
    /// When its metrics cannot be registered in `metrics`.
    pub fn new(
        settings: ManagerSettings,
        runner: Arc<dyn EngineRunner>,
        clock: Arc<dyn Clock>,
        metrics: &Registry,
        shutdown: CancellationToken,
    ) -> Result<Self, PrometheusError> {
        Ok(Self {
            shared: Arc::new(Shared {
                runner,
                policy: settings.policy.clone(),
                clock,
                metrics: EngineMetrics::new(metrics)?,
                started: tokio::time::Instant::now(),
            }),
            settings: Arc::new(settings),
            slots: Arc::new(Mutex::new(BTreeMap::new())),
            control: Arc::new(tokio::sync::Mutex::new(())),
            shutdown,
            tasks: TaskTracker::new(),
        })
    }

    /// Starts the engines the registry says should run; with no registry yet, every
    /// configured symbol. Returns the symbols started.
    ///
    /// # Errors
    ///
    /// When the registry exists but cannot be read: the backend refuses to guess.
    pub async fn resume(&self) -> Result<Vec<Symbol>, EngineError> {
        let stored = match &self.settings.registry {
            Some(path) => EngineRegistry::at(path)
                .load()
                .map_err(|e| EngineError::Registry(e.to_string()))?,
            None => None,
        };
        let wanted: Vec<(Symbol, Desired)> = match stored {
            Some(entries) => entries.into_iter().collect(),
            None => self
                .settings
                .symbols
                .iter()
                .map(|&s| (s, Desired::Running))
                .collect(),
        };
        let mut started = Vec::new();
        for (symbol, desired) in wanted {
            if !self.settings.symbols.contains(&symbol) {
                tracing::warn!(%symbol, "engine registry names a symbol no longer in risk.symbols; skipped");
                continue;
            }
            match desired {
                Desired::Running => {
                    self.start(symbol).await?;
                    started.push(symbol);
                }
                Desired::Stopped => {
                    let _guard = self.control.lock().await;
                    self.slot_entry(symbol, Desired::Stopped);
                }
            }
        }
        Ok(started)
    }

    /// Starts `symbol`'s engine (a no-op if it is already running) and records that it
    /// should run.
    ///
    /// # Errors
    ///
    /// Unknown symbol, shutting down, or the registry cannot be written.
    pub async fn start(&self, symbol: Symbol) -> Result<EngineStatus, EngineError> {
        self.check(symbol)?;
        let _guard = self.control.lock().await;
        self.persist_with(symbol, Desired::Running)?;
        let (stats, journal, running) = {
            let mut slots = self.lock();
            let slot = Self::entry(&mut slots, &self.settings, symbol);
            slot.desired = Desired::Running;
            let running = slot
                .supervisor
                .as_ref()
                .is_some_and(|(_, handle)| !handle.is_finished());
            (Arc::clone(&slot.stats), Arc::clone(&slot.journal), running)
        };
        if !running {
            let stop = self.shutdown.child_token();
            stats.set_state(EngineState::Starting);
            let ctx = EngineContext {
                symbol,
                stop: stop.clone(),
                stats: Arc::clone(&stats),
                journal,
            };
            let handle = self.tasks.spawn(supervisor::supervise(
                Arc::clone(&self.shared),
                ctx,
                stop.clone(),
            ));
            if let Some(slot) = self.lock().get_mut(&symbol) {
                slot.supervisor = Some((stop, handle));
            }
        }
        Ok(stats.snapshot())
    }

    /// Stops `symbol`'s engine, waits for it to end, and records that it should stay stopped.
    ///
    /// # Errors
    ///
    /// Unknown symbol, no such engine, or the registry cannot be written.
    pub async fn stop(&self, symbol: Symbol) -> Result<EngineStatus, EngineError> {
        self.check(symbol)?;
        let _guard = self.control.lock().await;
        self.stop_locked(symbol, true).await
    }

    /// Stops then starts `symbol`'s engine (with a fresh restart budget).
    ///
    /// # Errors
    ///
    /// As [`EngineManager::stop`] and [`EngineManager::start`].
    pub async fn restart(&self, symbol: Symbol) -> Result<EngineStatus, EngineError> {
        self.check(symbol)?;
        {
            let _guard = self.control.lock().await;
            if self.lock().contains_key(&symbol) {
                self.stop_locked(symbol, false).await?;
            }
        }
        self.start(symbol).await
    }

    /// Every engine's status, by symbol.
    pub fn statuses(&self) -> Vec<EngineStatus> {
        self.lock()
            .values()
            .map(|slot| slot.stats.snapshot())
            .collect()
    }

    /// One engine's status.
    ///
    /// # Errors
    ///
    /// Unknown symbol or no engine for it.
    pub fn status(&self, symbol: Symbol) -> Result<EngineStatus, EngineError> {
        self.check(symbol)?;
        self.lock()
            .get(&symbol)
            .map(|slot| slot.stats.snapshot())
            .ok_or(EngineError::NotFound(symbol))
    }

    /// Waits until every supervisor has ended (after the shutdown token was cancelled).
    pub async fn join(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    fn check(&self, symbol: Symbol) -> Result<(), EngineError> {
        if self.shutdown.is_cancelled() {
            return Err(EngineError::ShuttingDown);
        }
        if self.settings.symbols.contains(&symbol) {
            Ok(())
        } else {
            Err(EngineError::UnknownSymbol(symbol))
        }
    }

    async fn stop_locked(
        &self,
        symbol: Symbol,
        persist: bool,
    ) -> Result<EngineStatus, EngineError> {
        if !self.lock().contains_key(&symbol) {
            return Err(EngineError::NotFound(symbol));
        }
        if persist {
            self.persist_with(symbol, Desired::Stopped)?;
        }
        let (stats, supervisor) = {
            let mut slots = self.lock();
            let slot = slots
                .get_mut(&symbol)
                .ok_or(EngineError::NotFound(symbol))?;
            if persist {
                slot.desired = Desired::Stopped;
            }
            (Arc::clone(&slot.stats), slot.supervisor.take())
        };
        if let Some((stop, handle)) = supervisor {
            stop.cancel();
            // The engine gets the shutdown grace to finish its step; then it is aborted.
            let abort = handle.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), handle)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        stats.set_state(EngineState::Stopped);
        Ok(stats.snapshot())
    }

    /// Writes the registry as it would be with `symbol` set to `desired`; the in-memory
    /// state changes only if this succeeds.
    fn persist_with(&self, symbol: Symbol, desired: Desired) -> Result<(), EngineError> {
        let Some(path) = &self.settings.registry else {
            return Ok(());
        };
        let mut entries: BTreeMap<Symbol, Desired> = self
            .lock()
            .iter()
            .map(|(&s, slot)| (s, slot.desired))
            .collect();
        entries.insert(symbol, desired);
        EngineRegistry::at(path)
            .save(&entries)
            .map_err(|e| EngineError::Registry(e.to_string()))
    }

    fn slot_entry(&self, symbol: Symbol, desired: Desired) {
        let mut slots = self.lock();
        Self::entry(&mut slots, &self.settings, symbol).desired = desired;
        if let Some(slot) = slots.get(&symbol)
            && desired == Desired::Stopped
        {
            slot.stats.set_state(EngineState::Stopped);
        }
    }

    fn entry<'a>(
        slots: &'a mut BTreeMap<Symbol, Slot>,
        settings: &ManagerSettings,
        symbol: Symbol,
    ) -> &'a mut Slot {
        slots.entry(symbol).or_insert_with(|| Slot {
            stats: Arc::new(EngineStats::new(symbol)),
            journal: Arc::new(EngineJournal::new(&settings.journal_dir, symbol)),
            desired: Desired::Stopped,
            supervisor: None,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Symbol, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
