use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::StreamExt;
use levibot_core::{Bar, Clock, Symbol};
use levibot_telemetry::metrics::IntCounter;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::market_data_source::MarketDataSource;
use crate::metrics::ExchangeMetrics;
use crate::staleness_tracker::StalenessTracker;

/// One bounded queue per symbol between a source and its consumers.
///
/// [`SymbolQueues::push`] never waits: when a symbol's queue is full, its oldest item is
/// dropped (and counted in `exchange_queue_dropped_total{symbol}`), so a slow consumer of one
/// symbol never stalls the source or any other symbol. Each symbol has one consumer, a
/// [`SymbolReceiver`] from [`SymbolQueues::subscribe`]. Cloning shares the queues.
pub struct SymbolQueues<T = Bar> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    capacity: usize,
    slots: Mutex<HashMap<Symbol, Arc<Slot<T>>>>,
    metrics: ExchangeMetrics,
    staleness: Option<(Arc<StalenessTracker>, Arc<dyn Clock>)>,
    closed: AtomicBool,
}

struct Slot<T> {
    items: Mutex<VecDeque<T>>,
    notify: Notify,
    dropped: IntCounter,
    closed: AtomicBool,
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, VecDeque<T>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> Clone for SymbolQueues<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for SymbolQueues<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymbolQueues")
            .field("capacity", &self.inner.capacity)
            .finish_non_exhaustive()
    }
}

impl<T: Send> SymbolQueues<T> {
    /// Queues holding up to `capacity` items per symbol (at least 1).
    #[must_use]
    pub fn new(capacity: usize, metrics: ExchangeMetrics) -> Self {
        Self {
            inner: Arc::new(Inner {
                capacity: capacity.max(1),
                slots: Mutex::new(HashMap::new()),
                metrics,
                staleness: None,
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Queues that also record every push in `tracker`, timed by `clock`.
    #[must_use]
    pub fn with_staleness(
        capacity: usize,
        metrics: ExchangeMetrics,
        tracker: Arc<StalenessTracker>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                capacity: capacity.max(1),
                slots: Mutex::new(HashMap::new()),
                metrics,
                staleness: Some((tracker, clock)),
                closed: AtomicBool::new(false),
            }),
        }
    }

    fn slot(&self, symbol: Symbol) -> Arc<Slot<T>> {
        let mut slots = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(slots.entry(symbol).or_insert_with(|| {
            Arc::new(Slot {
                items: Mutex::new(VecDeque::with_capacity(self.inner.capacity.min(1024))),
                notify: Notify::new(),
                dropped: self.inner.metrics.queue_dropped_counter(symbol),
                closed: AtomicBool::new(self.inner.closed.load(Ordering::Acquire)),
            })
        }))
    }

    /// The consumer end of `symbol`'s queue (items pushed before subscribing are kept, up to
    /// the capacity). Subscribing twice to one symbol makes the two receivers share its items.
    #[must_use]
    pub fn subscribe(&self, symbol: Symbol) -> SymbolReceiver<T> {
        SymbolReceiver {
            symbol,
            slot: self.slot(symbol),
        }
    }

    /// Appends `item` to `symbol`'s queue, dropping the oldest if it is full; returns whether
    /// one was dropped. Never blocks on a consumer.
    pub fn push(&self, symbol: Symbol, item: T) -> bool {
        let slot = self.slot(symbol);
        let dropped = {
            let mut items = slot.lock();
            let dropped = if items.len() >= self.inner.capacity {
                items.pop_front();
                true
            } else {
                false
            };
            items.push_back(item);
            dropped
        };
        if dropped {
            slot.dropped.inc();
        }
        slot.notify.notify_one();
        if let Some((tracker, clock)) = &self.inner.staleness {
            tracker.record(symbol, clock.now());
        }
        dropped
    }

    /// Items waiting in `symbol`'s queue.
    #[must_use]
    pub fn len(&self, symbol: Symbol) -> usize {
        let slot = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&symbol)
            .cloned();
        slot.map_or(0, |slot| slot.lock().len())
    }

    /// Ends every queue: receivers get what is left, then `None`.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let slots = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for slot in slots.values() {
            slot.closed.store(true, Ordering::Release);
            slot.notify.notify_one();
        }
    }
}

impl SymbolQueues<Bar> {
    /// Moves every bar of `source` into its symbol's queue until the source ends or `shutdown`
    /// is cancelled; returns how many bars were pushed. Does not close the queues.
    pub async fn pump(&self, mut source: MarketDataSource, shutdown: CancellationToken) -> u64 {
        let mut pushed = 0;
        loop {
            let bar = tokio::select! {
                () = shutdown.cancelled() => break,
                bar = source.next() => bar,
            };
            let Some(bar) = bar else { break };
            self.push(bar.symbol(), bar);
            pushed += 1;
        }
        pushed
    }
}

/// The consumer end of one symbol's queue.
pub struct SymbolReceiver<T = Bar> {
    symbol: Symbol,
    slot: Arc<Slot<T>>,
}

impl<T> fmt::Debug for SymbolReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymbolReceiver")
            .field("symbol", &self.symbol)
            .finish_non_exhaustive()
    }
}

impl<T> SymbolReceiver<T> {
    /// The symbol.
    #[must_use]
    pub const fn symbol(&self) -> Symbol {
        self.symbol
    }

    /// The oldest waiting item, waiting for one if the queue is empty; `None` once the queues
    /// are closed and this one is drained.
    pub async fn recv(&mut self) -> Option<T> {
        loop {
            if let Some(item) = self.try_recv() {
                return Some(item);
            }
            if self.slot.closed.load(Ordering::Acquire) {
                // a push may have raced the close
                return self.try_recv();
            }
            self.slot.notify.notified().await;
        }
    }

    /// The oldest waiting item, if any.
    pub fn try_recv(&mut self) -> Option<T> {
        self.slot.lock().pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use levibot_core::{HistoricalClock, Interval, Price, Quantity, TimestampMs};
    use levibot_telemetry::metrics::Registry;
    use rust_decimal::Decimal;
    use std::time::Duration;

    fn bar(symbol: Symbol, minute: i64) -> Bar {
        let p = Price::new(Decimal::from(100 + minute)).unwrap();
        Bar::new(
            symbol,
            Interval::M1,
            TimestampMs::new(minute * 60_000),
            p,
            p,
            p,
            p,
            Quantity::ZERO,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn overflow_drops_the_oldest_and_counts_per_symbol() {
        let metrics = ExchangeMetrics::new(&Registry::new()).unwrap();
        let btc = Symbol::new("BTCUSDT").unwrap();
        let eth = Symbol::new("ETHUSDT").unwrap();
        let queues = SymbolQueues::new(3, metrics.clone());
        let mut rx_btc = queues.subscribe(btc);
        let mut rx_eth = queues.subscribe(eth);
        for m in 0..10 {
            let dropped = queues.push(btc, bar(btc, m));
            assert_eq!(dropped, m >= 3);
        }
        queues.push(eth, bar(eth, 0));
        assert_eq!(queues.len(btc), 3);
        assert_eq!(metrics.queue_dropped(btc), 7);
        assert_eq!(metrics.queue_dropped(eth), 0);
        // the newest three survive, in order
        let mut got = Vec::new();
        while let Some(b) = rx_btc.try_recv() {
            got.push(b.open_time().as_i64() / 60_000);
        }
        assert_eq!(got, vec![7, 8, 9]);
        assert_eq!(rx_eth.recv().await.unwrap().symbol(), eth);
    }

    #[tokio::test]
    async fn a_stalled_symbol_does_not_block_the_others() {
        let metrics = ExchangeMetrics::new(&Registry::new()).unwrap();
        let btc = Symbol::new("BTCUSDT").unwrap();
        let eth = Symbol::new("ETHUSDT").unwrap();
        let queues = SymbolQueues::new(4, metrics.clone());
        let _never_read = queues.subscribe(btc);
        let mut rx_eth = queues.subscribe(eth);
        let mut bars = Vec::new();
        for m in 0..1000 {
            bars.push(bar(btc, m));
            bars.push(bar(eth, m));
        }
        let shutdown = CancellationToken::new();
        let pump = {
            let queues = queues.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                queues
                    .pump(MarketDataSource::from_bars(bars), shutdown)
                    .await
            })
        };
        let consumer = tokio::spawn(async move {
            let mut seen = 0;
            let mut last = -1;
            while let Some(b) = rx_eth.recv().await {
                let m = b.open_time().as_i64() / 60_000;
                assert!(m > last);
                last = m;
                seen += 1;
                if m == 999 {
                    break;
                }
            }
            seen
        });
        let pushed = tokio::time::timeout(Duration::from_secs(5), pump)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pushed, 2000);
        let seen = tokio::time::timeout(Duration::from_secs(5), consumer)
            .await
            .unwrap()
            .unwrap();
        assert!(seen >= 4, "{seen}");
        assert_eq!(metrics.queue_dropped(btc), 996);
        queues.close();
    }

    #[tokio::test]
    async fn close_ends_receivers_after_draining_and_records_staleness() {
        let metrics = ExchangeMetrics::new(&Registry::new()).unwrap();
        let btc = Symbol::new("BTCUSDT").unwrap();
        let tracker = Arc::new(StalenessTracker::new(Interval::M1, 2));
        let clock = Arc::new(HistoricalClock::new(TimestampMs::new(1_000)));
        let queues = SymbolQueues::with_staleness(8, metrics, Arc::clone(&tracker), clock.clone());
        let mut rx = queues.subscribe(btc);
        let waiter = tokio::spawn(async move {
            let mut n = 0;
            while rx.recv().await.is_some() {
                n += 1;
            }
            n
        });
        queues.push(btc, bar(btc, 1));
        queues.push(btc, bar(btc, 2));
        queues.close();
        assert_eq!(waiter.await.unwrap(), 2);
        assert!(!tracker.is_stale(btc, TimestampMs::new(1_000 + 120_000)));
        assert!(tracker.is_stale(btc, TimestampMs::new(1_000 + 120_001)));
    }
}
