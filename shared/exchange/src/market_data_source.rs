use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use levibot_core::Bar;

/// A stream of closed bars, whatever produces them: the live exchange (through
/// [`GapFiller::fill`](crate::GapFiller::fill)), a kline CSV ([`CsvReplay`](crate::CsvReplay)),
/// or any other `Stream<Item = Bar>` (e.g. bars read back from the database) via
/// [`MarketDataSource::new`]. Consumers take a `MarketDataSource` and cannot tell them apart;
/// [`MarketDataSource::paced`] replays any of them at a speed factor.
///
/// Per symbol, bars come oldest first. The stream ends when its producer does (a live source
/// ends on shutdown).
pub struct MarketDataSource {
    inner: Pin<Box<dyn Stream<Item = Bar> + Send>>,
}

impl MarketDataSource {
    /// Wraps any stream of bars.
    pub fn new(bars: impl Stream<Item = Bar> + Send + 'static) -> Self {
        Self {
            inner: Box::pin(bars),
        }
    }

    /// A source that yields `bars` in order, as fast as they are polled.
    #[must_use]
    pub fn from_bars(bars: Vec<Bar>) -> Self {
        Self::new(futures::stream::iter(bars))
    }

    /// The same bars, released at `speed` (see [`ReplaySpeed`](crate::ReplaySpeed)).
    #[must_use]
    pub fn paced(self, speed: crate::ReplaySpeed) -> Self {
        crate::replay::pace(self, speed)
    }

    /// The next bar, or `None` when the source has ended.
    pub async fn next_bar(&mut self) -> Option<Bar> {
        self.inner.next().await
    }
}

impl Stream for MarketDataSource {
    type Item = Bar;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bar>> {
        self.inner.as_mut().poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl fmt::Debug for MarketDataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MarketDataSource").finish_non_exhaustive()
    }
}
