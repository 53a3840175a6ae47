//! The per-symbol engine task and the `md.bar` router feeding it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use levibot_bus::{Bus, Consumer, EventBus, StartFrom, Topic};
use levibot_core::Bar;
use levibot_exchange::SymbolQueues;
use levibot_proto::v1::{self, RecordSignalRequest, RiskDecision};
use levibot_trading::{
    EmaCross, EmaCrossConfig, EngineConfig, EngineCore, ExecutorDecision, Signal, StepOutcome,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::signal_source::predict;
use super::wire::signal_to_wire;
use super::{PredictionSource, TradingDesk};
use crate::engines::{EngineContext, EngineRunner};
use crate::events::BackendEvent;

/// The consumer group the engines read `md.bar` in.
pub const GROUP: &str = "backend-engines";
/// How often an idle engine beats.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Returns in the realized-volatility window.
const VOL_WINDOW: usize = 60;
/// Longest wait the executor may ask for before an order is given up for this bar.
const MAX_WAITS: u32 = 3;

/// A bar and when it reached the backend (for the order latency).
pub type Arrival = (Bar, Instant);

/// Runs each symbol's engine on the shared desk.
#[derive(Clone)]
pub struct DeskRunner {
    desk: Arc<TradingDesk>,
    queues: SymbolQueues<Arrival>,
}

impl DeskRunner {
    /// Engines stepping `queues`' bars through `desk`.
    #[must_use]
    pub fn new(desk: Arc<TradingDesk>, queues: SymbolQueues<Arrival>) -> Self {
        Self { desk, queues }
    }
}

impl EngineRunner for DeskRunner {
    fn run(&self, ctx: EngineContext) -> BoxFuture<'static, Result<(), String>> {
        let desk = Arc::clone(&self.desk);
        let mut bars = self.queues.subscribe(ctx.symbol);
        Box::pin(async move {
            let config = EngineConfig {
                symbol: ctx.symbol,
                stale_after_ms: desk.settings.stale_after_ms,
                vol_window: VOL_WINDOW,
            };
            let mut engine = EngineCore::new(config).map_err(|e| e.to_string())?;
            let mut ema = EmaCross::new(EmaCrossConfig::default()).map_err(|e| e.to_string())?;
            loop {
                ctx.stats.heartbeat(desk.clock.now());
                tokio::select! {
                    () = ctx.stop.cancelled() => return Ok(()),
                    () = tokio::time::sleep(HEARTBEAT) => {}
                    arrival = bars.recv() => match arrival {
                        Some((bar, at)) => on_bar(&desk, &ctx, &mut engine, &mut ema, &bar, at).await,
                        None => return Ok(()),
                    },
                }
            }
        })
    }
}

/// One bar: paper fills and open orders first, then the step, then whatever it decided.
async fn on_bar(
    desk: &TradingDesk,
    ctx: &EngineContext,
    engine: &mut EngineCore,
    ema: &mut EmaCross,
    bar: &Bar,
    arrived: Instant,
) {
    let now = desk.clock.now();
    if let Some(paper) = &desk.paper {
        paper.on_bar(bar);
    }
    desk.book().mark(bar.symbol(), bar.close().value(), now);
    desk.refresh_orders(bar.symbol()).await;
    let prediction = match &desk.source {
        PredictionSource::EmaCross => None,
        PredictionSource::Ai { client, fallback } => match predict(client, bar).await {
            Ok(prediction) => Some(Some(prediction)),
            Err(missing) => {
                desk.metrics
                    .predictions_missing
                    .with_label_values(&[missing.label()])
                    .inc();
                if *fallback {
                    None
                } else {
                    tracing::debug!(symbol = %bar.symbol(), ?missing, "no prediction; skipping the bar");
                    Some(None)
                }
            }
        },
    };
    let outcome = {
        let account = desk.book().view();
        let gates = desk.gates_now();
        let mut core = desk.core();
        match prediction {
            Some(prediction) => engine.step(bar, prediction, &account, &gates, &mut core, now),
            None => engine.step_with(bar, ema, &account, &gates, &mut core, now),
        }
    };
    desk.metrics
        .steps
        .with_label_values(&[outcome.label()])
        .inc();
    ctx.stats.set_stale(engine.is_stale());
    match outcome {
        StepOutcome::Ignored(ignored) => {
            journal(
                ctx,
                desk,
                "bar_ignored",
                &json!({ "open_time": bar.open_time().as_i64(), "reason": ignored.as_str() }),
            );
        }
        StepOutcome::Stale { lag_ms } => {
            ctx.stats.bar_processed(bar.open_time());
            tracing::warn!(symbol = %bar.symbol(), lag_ms, "stale bar: not trading on it");
            journal(
                ctx,
                desk,
                "stale_data",
                &json!({ "open_time": bar.open_time().as_i64(), "lag_ms": lag_ms }),
            );
        }
        StepOutcome::NoSignal => ctx.stats.bar_processed(bar.open_time()),
        StepOutcome::InvalidSignal(err) => {
            ctx.stats.bar_processed(bar.open_time());
            ctx.stats.error(&err.to_string());
        }
        StepOutcome::Rejected { signal, rejection } => {
            ctx.stats.bar_processed(bar.open_time());
            ctx.stats.signal();
            desk.metrics.signals.inc();
            desk.metrics
                .rejections
                .with_label_values(&[rejection.reason.as_str()])
                .inc();
            let detail = serde_json::to_string(&rejection).unwrap_or_default();
            record_signal(desk, ctx, &signal, false, rejection.reason.as_str(), detail).await;
        }
        StepOutcome::Decided { signal, decision } => {
            ctx.stats.bar_processed(bar.open_time());
            ctx.stats.signal();
            desk.metrics.signals.inc();
            let detail = match &decision {
                ExecutorDecision::Send(approved) | ExecutorDecision::Wait { approved, .. } => {
                    serde_json::to_string(approved.detail()).unwrap_or_default()
                }
                ExecutorDecision::Blocked { .. } => String::new(),
            };
            record_signal(desk, ctx, &signal, true, "", detail).await;
            decide(desk, ctx, decision, arrived).await;
        }
    }
}

/// Sends, waits and re-asks, or records the block.
async fn decide(
    desk: &TradingDesk,
    ctx: &EngineContext,
    mut decision: ExecutorDecision,
    arrived: Instant,
) {
    let mut waits = 0;
    loop {
        match decision {
            ExecutorDecision::Send(approved) => {
                ctx.stats.order();
                journal(
                    ctx,
                    desk,
                    "order",
                    &json!({ "client_order_id": approved.get().client_order_id().as_str(), "side": approved.get().side().to_string(), "quantity": approved.get().quantity().value().to_string() }),
                );
                desk.execute(approved, arrived).await;
                return;
            }
            ExecutorDecision::Blocked { reason, order } => {
                desk.metrics
                    .blocked
                    .with_label_values(&[reason.as_str()])
                    .inc();
                tracing::info!(client_order_id = %order.client_order_id(), %reason, "order blocked by the executor");
                journal(
                    ctx,
                    desk,
                    "order_blocked",
                    &json!({ "client_order_id": order.client_order_id().as_str(), "reason": reason.as_str() }),
                );
                return;
            }
            ExecutorDecision::Wait {
                retry_in_ms,
                approved,
            } => {
                waits += 1;
                if waits > MAX_WAITS {
                    desk.metrics
                        .blocked
                        .with_label_values(&["rate_limited"])
                        .inc();
                    return;
                }
                tokio::time::sleep(Duration::from_millis(retry_in_ms)).await;
                let gates = desk.gates_now();
                decision = desk
                    .core()
                    .executor
                    .decide(approved, &gates, desk.clock.now());
            }
        }
    }
}

async fn record_signal(
    desk: &TradingDesk,
    ctx: &EngineContext,
    signal: &Signal,
    approved: bool,
    reason: &str,
    detail_json: String,
) {
    let wire = signal_to_wire(signal);
    desk.events.publish(BackendEvent::Signal {
        symbol: signal.symbol().to_string(),
        signal_id: signal.id().to_string(),
        side: signal.side().to_string(),
        approved,
        reason: reason.to_owned(),
    });
    journal(
        ctx,
        desk,
        "signal",
        &json!({ "signal_id": signal.id().to_string(), "side": signal.side().to_string(), "approved": approved, "reason": reason }),
    );
    let envelope = levibot_bus::Envelope::new(&wire, "backend", desk.clock.now());
    let decision = RiskDecision {
        approved,
        reason: reason.to_owned(),
        detail_json: if detail_json.is_empty() {
            "{}".to_owned()
        } else {
            detail_json
        },
        decided_ms: desk.clock.now().as_i64(),
    };
    // Recorded off the order's critical path (the order itself is recorded before it is sent,
    // and carries the signal id); a failure is logged and counted on the engine.
    let mut store = desk.store.clone();
    let stats = std::sync::Arc::clone(&ctx.stats);
    let bus = desk.bus.clone();
    tokio::spawn(async move {
        if let Err(err) = bus.publish(Topic::Signal, &envelope).await {
            tracing::warn!(error = %err, "cannot publish a signal");
        }
        if let Err(status) = store
            .record_signal(RecordSignalRequest {
                signal: Some(wire),
                decision: Some(decision),
            })
            .await
        {
            stats.error(&format!("cannot record signal: {}", status.message()));
            tracing::error!(code = %status.code(), message = status.message(), "cannot record a signal");
        }
    });
}

fn journal(ctx: &EngineContext, desk: &TradingDesk, event: &str, detail: &serde_json::Value) {
    if let Err(err) = ctx.journal.write(desk.clock.now(), event, detail) {
        tracing::warn!(symbol = %ctx.symbol, error = %err, "cannot write the engine journal");
    }
}

/// Reads `md.bar` in group [`GROUP`] and pushes each bar into its symbol's queue (a slow
/// engine drops its own oldest bars, counted) until `shutdown`.
pub async fn route_bars(
    bus: Bus,
    queues: SymbolQueues<Arrival>,
    consumer: String,
    shutdown: CancellationToken,
) {
    let metrics = bus.metrics();
    let mut events = loop {
        match Consumer::<Bus, v1::Bar>::new(
            bus.clone(),
            GROUP,
            &consumer,
            StartFrom::New,
            metrics.clone(),
        )
        .await
        {
            Ok(events) => break events,
            Err(err) => {
                tracing::warn!(error = %err, "cannot join md.bar yet");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    loop {
        let batch = tokio::select! {
            () = shutdown.cancelled() => break,
            batch = events.next(256, Duration::from_millis(500)) => batch,
        };
        let batch = match batch {
            Ok(batch) => batch,
            Err(err) => {
                tracing::warn!(error = %err, "md.bar read failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        let at = Instant::now();
        let mut refused = Vec::new();
        for received in &batch {
            match Bar::try_from(&received.message) {
                Ok(bar) => {
                    queues.push(bar.symbol(), (bar, at));
                }
                Err(err) => refused.push((received.clone(), err.to_string())),
            }
        }
        for (received, reason) in &refused {
            tracing::warn!(%reason, "refusing a malformed bar");
            let _ = events.reject(received, "invalid_value").await;
        }
        if let Err(err) = events.commit(&batch).await {
            tracing::warn!(error = %err, "cannot acknowledge bars");
        }
    }
    queues.close();
}
