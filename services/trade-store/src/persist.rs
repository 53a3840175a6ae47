//! Persisting what the bus carries: `md.bar`, `order` and `fill` events are written to the
//! store, idempotently (bars upsert by (symbol, interval, open time), orders by client order
//! id, fills by fill id), each topic by its own consumer in group `trade-store`. An event the
//! domain refuses (a bar breaking OHLC rules, a fill with a negative quantity) is parked in
//! the dead-letter stream and counted; a store that is unavailable makes the consumer retry
//! the same batch, in order, a second later.

use std::{future::Future, time::Duration};

use levibot_bus::{Bus, BusMessage, Consumer, Received, StartFrom};
use levibot_core::{Bar, Fill};
use levibot_proto::v1;
use levibot_server::CancellationToken;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::{TradeStore, metrics::StoreMetrics, store::StoreError, wire::order_from_wire};

/// The consumer group of the trade-store on every topic it persists.
pub const GROUP: &str = "trade-store";
const BATCH: usize = 1_000;
const WAIT: Duration = Duration::from_secs(1);
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Starts one consumer per persisted topic on `tasks`; they stop when `shutdown` is cancelled.
pub fn spawn(
    tasks: &mut JoinSet<()>,
    bus: &Bus,
    store: &TradeStore,
    metrics: &StoreMetrics,
    consumer: &str,
    shutdown: &CancellationToken,
) {
    let (b, s, m) = (bus.clone(), store.clone(), metrics.clone());
    tasks.spawn(consume::<v1::Bar, _, _>(
        b,
        consumer.to_owned(),
        shutdown.clone(),
        move |batch| {
            let (store, metrics) = (s.clone(), m.clone());
            async move {
                let bars: Vec<Bar> = batch.iter().filter_map(|(_, bar)| *bar).collect();
                let report = store.upsert_bars(&bars).await?;
                metrics.bars(&report);
                Ok(())
            }
        },
        |bar: &v1::Bar| Bar::try_from(bar).map_err(|e| e.to_string()),
    ));
    let (b, s, m) = (bus.clone(), store.clone(), metrics.clone());
    tasks.spawn(consume::<v1::Fill, _, _>(
        b,
        consumer.to_owned(),
        shutdown.clone(),
        move |batch| {
            let (store, metrics) = (s.clone(), m.clone());
            async move {
                let fills: Vec<Fill> = batch.iter().filter_map(|(_, fill)| fill.clone()).collect();
                let report = store.record_fills(&fills).await?;
                metrics.fills(&report);
                Ok(())
            }
        },
        |fill: &v1::Fill| Fill::try_from(fill).map_err(|e| e.to_string()),
    ));
    let (b, s, m) = (bus.clone(), store.clone(), metrics.clone());
    tasks.spawn(consume::<v1::Order, _, _>(
        b,
        consumer.to_owned(),
        shutdown.clone(),
        move |batch| {
            let (store, metrics) = (s.clone(), m.clone());
            async move {
                for (_, order) in &batch {
                    if let Some(order) = order {
                        let created = store.record_order(order).await?;
                        metrics.order(created);
                    }
                }
                Ok(())
            }
        },
        |order: &v1::Order| order_from_wire(order).map_err(|e| e.to_string()),
    ));
}

/// Consumes `M`: converts each event with `convert` (a refusal is dead-lettered), persists the
/// batch with `persist`, and commits it only once it is stored.
async fn consume<M, T, P>(
    bus: Bus,
    consumer: String,
    shutdown: CancellationToken,
    mut persist: impl FnMut(Vec<(Received<M>, Option<T>)>) -> P + Send,
    convert: impl Fn(&M) -> Result<T, String> + Send,
) where
    M: BusMessage + Clone + Send + Sync + 'static,
    T: Send + 'static,
    P: Future<Output = Result<(), StoreError>> + Send,
{
    let topic = M::TOPIC;
    let mut events = loop {
        let joined = Consumer::<Bus, M>::new(
            bus.clone(),
            GROUP,
            &consumer,
            StartFrom::Beginning,
            bus.metrics(),
        )
        .await;
        match joined {
            Ok(events) => break events,
            Err(err) => {
                tracing::warn!(%topic, error = %err, "cannot join the consumer group yet");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(RETRY_AFTER) => {}
                }
            }
        }
    };
    loop {
        let batch = tokio::select! {
            () = shutdown.cancelled() => return,
            batch = events.next(BATCH, WAIT) => batch,
        };
        let batch = match batch {
            Ok(batch) if batch.is_empty() => continue,
            Ok(batch) => batch,
            Err(err) => {
                tracing::error!(%topic, error = %err, "bus consumer failed; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        let mut usable = Vec::with_capacity(batch.len());
        let mut refused = Vec::new();
        for received in batch {
            match convert(&received.message) {
                Ok(value) => usable.push((received, Some(value))),
                Err(reason) => {
                    tracing::warn!(%topic, event = %received.envelope.id, %reason, "refusing an event");
                    refused.push(received);
                }
            }
        }
        for received in &refused {
            if let Err(err) = events.reject(received, "invalid_value").await {
                tracing::warn!(%topic, error = %err, "cannot dead-letter an event");
            }
        }
        let processed: Vec<Received<M>> = usable.iter().map(|(r, _)| r.clone()).collect();
        // the batch is stored under the trace of its first event's producer
        let span = processed
            .first()
            .map_or_else(tracing::Span::none, |r| r.span("trade_store.persist"));
        match persist(usable).instrument(span).await {
            Ok(()) => {
                if let Err(err) = events.commit(&processed).await {
                    tracing::warn!(%topic, error = %err, "cannot acknowledge a stored batch");
                }
            }
            Err(err) => {
                tracing::warn!(%topic, error = %err, transient = err.is_transient(), "cannot store a batch; retrying it");
                events.retry_later();
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(RETRY_AFTER) => {}
                }
            }
        }
    }
}
