use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use levibot_core::{Bar, Interval, Symbol, TimestampMs};
use thiserror::Error;

use crate::market_data_source::MarketDataSource;
use crate::metrics::ExchangeMetrics;

/// Why a backfill fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BackfillError {
    /// The exchange asked us to back off (HTTP 429 or 418) for this long.
    #[error("rate limited, retry after {retry_after:?}")]
    RateLimited {
        /// How long to wait before the next request.
        retry_after: Duration,
    },
    /// Anything else (transport, HTTP status, undecodable rows).
    #[error("backfill failed: {0}")]
    Failed(String),
}

/// Where missing bars come from: the REST client in production, a fake in tests.
pub trait BackfillSource: Send + Sync {
    /// The closed bars of `symbol` and `interval` whose open time is in `start..=end`, oldest
    /// first.
    fn fetch_bars(
        &self,
        symbol: Symbol,
        interval: Interval,
        start: TimestampMs,
        end: TimestampMs,
    ) -> impl Future<Output = Result<Vec<Bar>, BackfillError>> + Send;
}

/// What to do with a closed bar, given the last one of its symbol and interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapDecision {
    /// The first bar seen, or exactly one interval after the last: emit it.
    Emit,
    /// Bars with open times `from..=to` are missing before this one: backfill, then emit it.
    Gap {
        /// Open time of the first missing bar.
        from: TimestampMs,
        /// Open time of the last missing bar.
        to: TimestampMs,
    },
    /// Same open time as the last bar: drop it.
    Duplicate,
    /// Older than the last bar: drop it.
    OutOfOrder,
}

/// The synchronous heart of gap handling: remembers the last open time per symbol and
/// interval and classifies each new closed bar.
#[derive(Debug, Clone, Default)]
pub struct GapDetector {
    last: HashMap<(Symbol, Interval), TimestampMs>,
}

impl GapDetector {
    /// A detector that has seen nothing.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts `symbol`'s series after `open_time` (e.g. the last bar already stored), so a gap
    /// between it and the first live bar is detected too.
    pub fn seed(&mut self, symbol: Symbol, interval: Interval, open_time: TimestampMs) {
        self.last.insert((symbol, interval), open_time);
    }

    /// Classifies `bar` without recording it.
    #[must_use]
    pub fn check(&self, bar: &Bar) -> GapDecision {
        let Some(&last) = self.last.get(&(bar.symbol(), bar.interval())) else {
            return GapDecision::Emit;
        };
        let open = bar.open_time();
        let step = bar.interval().duration_ms();
        if open == last {
            return GapDecision::Duplicate;
        }
        if open < last {
            return GapDecision::OutOfOrder;
        }
        match (last.checked_add_ms(step), open.checked_sub_ms(step)) {
            (Some(next), Some(prev)) if next < open => GapDecision::Gap {
                from: next,
                to: prev,
            },
            _ => GapDecision::Emit,
        }
    }

    /// Records `bar` as the last of its series.
    pub fn accept(&mut self, bar: &Bar) {
        self.last
            .insert((bar.symbol(), bar.interval()), bar.open_time());
    }

    /// The last open time seen for `symbol` and `interval`.
    #[must_use]
    pub fn last_open_time(&self, symbol: Symbol, interval: Interval) -> Option<TimestampMs> {
        self.last.get(&(symbol, interval)).copied()
    }
}

/// Makes a closed-bar series continuous: when a bar arrives later than one interval after the
/// last of its symbol, the missing range is fetched from a [`BackfillSource`] and emitted
/// before it; duplicates and older bars are dropped and counted.
///
/// When the exchange rate-limits the fetch, the filler waits `Retry-After` (up to
/// [`GapFiller::max_rate_limit_wait`]) and retries; when a fetch fails for good, the later bar
/// is emitted anyway (the gap is logged and counted in `exchange_backfill_failures_total`).
#[derive(Debug)]
pub struct GapFiller<S> {
    detector: GapDetector,
    source: S,
    metrics: ExchangeMetrics,
    max_rate_limit_wait: Duration,
    max_attempts: u32,
}

impl<S: BackfillSource> GapFiller<S> {
    /// A filler fetching from `source`.
    pub fn new(source: S, metrics: ExchangeMetrics) -> Self {
        Self {
            detector: GapDetector::new(),
            source,
            metrics,
            max_rate_limit_wait: Duration::from_secs(60),
            max_attempts: 3,
        }
    }

    /// Waits at most this long for a rate limit to lift before giving up on a backfill
    /// (default 60 s).
    #[must_use]
    pub const fn max_rate_limit_wait(mut self, wait: Duration) -> Self {
        self.max_rate_limit_wait = wait;
        self
    }

    /// Tries a backfill this many times in all (default 3, at least 1).
    #[must_use]
    pub const fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = if attempts == 0 { 1 } else { attempts };
        self
    }

    /// The detector, e.g. to [`GapDetector::seed`] it with the last stored bars.
    pub const fn detector_mut(&mut self) -> &mut GapDetector {
        &mut self.detector
    }

    /// Handles one closed bar; returns what to emit, oldest first (empty for a dropped bar).
    pub async fn process(&mut self, bar: Bar) -> Vec<Bar> {
        match self.detector.check(&bar) {
            GapDecision::Emit => {
                self.detector.accept(&bar);
                vec![bar]
            }
            GapDecision::Duplicate => {
                self.metrics.record_bar_dropped("duplicate");
                Vec::new()
            }
            GapDecision::OutOfOrder => {
                self.metrics.record_bar_dropped("out_of_order");
                Vec::new()
            }
            GapDecision::Gap { from, to } => {
                self.metrics.record_gap();
                let mut out = self.backfill(&bar, from, to).await;
                self.metrics
                    .record_backfilled(u64::try_from(out.len()).unwrap_or(u64::MAX));
                self.detector.accept(&bar);
                out.push(bar);
                out
            }
        }
    }

    async fn backfill(&self, bar: &Bar, from: TimestampMs, to: TimestampMs) -> Vec<Bar> {
        let (symbol, interval) = (bar.symbol(), bar.interval());
        tracing::info!(
            %symbol,
            %interval,
            from = from.as_i64(),
            to = to.as_i64(),
            "bar gap found, backfilling",
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.source.fetch_bars(symbol, interval, from, to).await {
                Ok(mut bars) => {
                    // keep only bars of this series inside the gap, strictly increasing
                    bars.retain(|b| {
                        b.symbol() == symbol
                            && b.interval() == interval
                            && b.open_time() >= from
                            && b.open_time() <= to
                    });
                    bars.sort_by_key(Bar::open_time);
                    bars.dedup_by_key(|b| b.open_time());
                    return bars;
                }
                Err(BackfillError::RateLimited { retry_after })
                    if attempt < self.max_attempts && retry_after <= self.max_rate_limit_wait =>
                {
                    tracing::warn!(
                        %symbol,
                        retry_after_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
                        "backfill rate limited, waiting",
                    );
                    tokio::time::sleep(retry_after).await;
                }
                Err(BackfillError::Failed(err)) if attempt < self.max_attempts => {
                    tracing::warn!(%symbol, attempt, error = %err, "backfill failed, retrying");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
                Err(err) => {
                    tracing::warn!(
                        %symbol,
                        %interval,
                        error = %err,
                        "backfill gave up, the gap stays",
                    );
                    self.metrics.record_backfill_failure();
                    return Vec::new();
                }
            }
        }
    }
}

impl<S: BackfillSource + 'static> GapFiller<S> {
    /// Applies the filler to a stream of closed bars.
    pub fn fill<B>(self, bars: B) -> MarketDataSource
    where
        B: futures::Stream<Item = Bar> + Send + 'static,
    {
        let state = (self, Box::pin(bars), VecDeque::<Bar>::new());
        MarketDataSource::new(futures::stream::unfold(
            state,
            |(mut filler, mut input, mut pending)| async move {
                loop {
                    if let Some(bar) = pending.pop_front() {
                        return Some((bar, (filler, input, pending)));
                    }
                    let bar = input.next().await?;
                    pending.extend(filler.process(bar).await);
                }
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use levibot_core::{Price, Quantity};
    use levibot_telemetry::metrics::Registry;
    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use std::sync::Mutex;

    const T0: i64 = 1_723_161_240_000;

    fn bar(symbol: &str, minute: i64) -> Bar {
        let p = Price::new(Decimal::from(100 + minute)).unwrap();
        Bar::new(
            Symbol::new(symbol).unwrap(),
            Interval::M1,
            TimestampMs::new(T0 + minute * 60_000),
            p,
            p,
            p,
            p,
            Quantity::ZERO,
        )
        .unwrap()
    }

    /// Serves every bar of a complete series; records the ranges asked for.
    struct FakeSource {
        bars: Vec<Bar>,
        calls: Mutex<Vec<(Symbol, i64, i64)>>,
        rate_limited_first: Mutex<u32>,
    }

    impl FakeSource {
        fn new(bars: Vec<Bar>) -> Self {
            Self {
                bars,
                calls: Mutex::new(Vec::new()),
                rate_limited_first: Mutex::new(0),
            }
        }
    }

    impl BackfillSource for FakeSource {
        async fn fetch_bars(
            &self,
            symbol: Symbol,
            interval: Interval,
            start: TimestampMs,
            end: TimestampMs,
        ) -> Result<Vec<Bar>, BackfillError> {
            self.calls
                .lock()
                .unwrap()
                .push((symbol, start.as_i64(), end.as_i64()));
            {
                let mut left = self.rate_limited_first.lock().unwrap();
                if *left > 0 {
                    *left -= 1;
                    return Err(BackfillError::RateLimited {
                        retry_after: Duration::from_millis(5),
                    });
                }
            }
            Ok(self
                .bars
                .iter()
                .filter(|b| {
                    b.symbol() == symbol
                        && b.interval() == interval
                        && b.open_time() >= start
                        && b.open_time() <= end
                })
                .copied()
                .collect())
        }
    }

    fn metrics() -> ExchangeMetrics {
        ExchangeMetrics::new(&Registry::new()).unwrap()
    }

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn detector_classifies() {
        let mut d = GapDetector::new();
        assert_eq!(d.check(&bar("BTCUSDT", 0)), GapDecision::Emit);
        d.accept(&bar("BTCUSDT", 0));
        assert_eq!(d.check(&bar("BTCUSDT", 1)), GapDecision::Emit);
        assert_eq!(d.check(&bar("BTCUSDT", 0)), GapDecision::Duplicate);
        assert_eq!(
            d.check(&bar("BTCUSDT", 4)),
            GapDecision::Gap {
                from: TimestampMs::new(T0 + 60_000),
                to: TimestampMs::new(T0 + 180_000)
            }
        );
        // symbols are independent
        assert_eq!(d.check(&bar("ETHUSDT", 9)), GapDecision::Emit);
        d.accept(&bar("BTCUSDT", 4));
        assert_eq!(d.check(&bar("BTCUSDT", 2)), GapDecision::OutOfOrder);
        assert_eq!(
            d.last_open_time(Symbol::new("BTCUSDT").unwrap(), Interval::M1),
            Some(TimestampMs::new(T0 + 240_000))
        );
    }

    #[test]
    fn backfills_before_the_later_bar_and_counts() {
        let all: Vec<Bar> = (0..10).map(|m| bar("BTCUSDT", m)).collect();
        let m = metrics();
        let mut filler = GapFiller::new(FakeSource::new(all.clone()), m.clone());
        let out = run(async {
            let mut out = Vec::new();
            for i in [0, 1, 5, 5, 3, 9] {
                out.extend(filler.process(all[i]).await);
            }
            out
        });
        assert_eq!(out, all);
        assert_eq!(m.gaps_found(), 2);
        assert_eq!(m.bars_backfilled(), 6);
        assert_eq!(m.bars_dropped("duplicate"), 1);
        assert_eq!(m.bars_dropped("out_of_order"), 1);
        let calls = filler.source.calls.lock().unwrap().clone();
        let btc = Symbol::new("BTCUSDT").unwrap();
        assert_eq!(
            calls,
            vec![
                (btc, T0 + 2 * 60_000, T0 + 4 * 60_000),
                (btc, T0 + 6 * 60_000, T0 + 8 * 60_000)
            ]
        );
    }

    #[test]
    fn waits_out_a_rate_limit_then_gives_up_after_max_attempts() {
        let all: Vec<Bar> = (0..4).map(|m| bar("BTCUSDT", m)).collect();
        let source = FakeSource::new(all.clone());
        *source.rate_limited_first.lock().unwrap() = 1;
        let mut filler = GapFiller::new(source, metrics());
        let out = run(async {
            let mut out = filler.process(all[0]).await;
            out.extend(filler.process(all[3]).await);
            out
        });
        assert_eq!(out, all);
        assert_eq!(filler.source.calls.lock().unwrap().len(), 2);

        let source = FakeSource::new(all.clone());
        *source.rate_limited_first.lock().unwrap() = 5;
        let m = metrics();
        let mut filler = GapFiller::new(source, m.clone()).max_attempts(2);
        let out = run(async {
            let mut out = filler.process(all[0]).await;
            out.extend(filler.process(all[3]).await);
            out
        });
        assert_eq!(out, vec![all[0], all[3]]);
        assert_eq!(m.backfill_failures(), 1);
    }

    proptest! {
        /// Whatever bars the live stream loses, duplicates or reorders, the output is the
        /// complete series from the first bar received to the newest, strictly increasing.
        #[test]
        fn output_is_continuous(
            keep in proptest::collection::vec(0u8..4, 1..120),
            dup in proptest::collection::vec(proptest::bool::weighted(0.1), 120),
            late in proptest::collection::vec(proptest::bool::weighted(0.1), 120),
            two_symbols in proptest::bool::ANY,
        ) {
            let symbols: &[&str] = if two_symbols { &["BTCUSDT", "ETHUSDT"] } else { &["BTCUSDT"] };
            let n = i64::try_from(keep.len()).unwrap();
            let all: Vec<Bar> = symbols
                .iter()
                .flat_map(|s| (0..n).map(move |m| bar(s, m)))
                .collect();
            // the live stream: each bar kept with probability 3/4, sometimes repeated,
            // sometimes followed by an older bar
            let mut live = Vec::new();
            for (i, k) in keep.iter().enumerate() {
                for s in symbols {
                    if *k > 0 {
                        live.push(bar(s, i64::try_from(i).unwrap()));
                        if dup[i] { live.push(bar(s, i64::try_from(i).unwrap())); }
                        if late[i] && i > 2 { live.push(bar(s, i64::try_from(i - 2).unwrap())); }
                    }
                }
            }
            let m = metrics();
            let filler = GapFiller::new(FakeSource::new(all), m);
            let out: Vec<Bar> = run(filler.fill(futures::stream::iter(live.clone())).collect());
            for s in symbols {
                let sym = Symbol::new(s).unwrap();
                let series: Vec<i64> = out.iter().filter(|b| b.symbol() == sym).map(|b| b.open_time().as_i64()).collect();
                let received: Vec<i64> = live.iter().filter(|b| b.symbol() == sym).map(|b| b.open_time().as_i64()).collect();
                if received.is_empty() {
                    prop_assert!(series.is_empty());
                    continue;
                }
                let first = received[0];
                let newest = *received.iter().max().unwrap();
                let expected: Vec<i64> = (0..).map(|k| first + k * 60_000).take_while(|t| *t <= newest).collect();
                prop_assert_eq!(series, expected);
            }
        }
    }
}
