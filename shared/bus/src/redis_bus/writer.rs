use std::{
    hash::{BuildHasher, RandomState},
    io,
    time::Duration,
};

use redis::aio::ConnectionManager;
use tokio::{
    sync::{mpsc, oneshot, watch},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use super::{RedisBusOptions, redis_error};
use crate::{
    BusError, BusMetrics, OverflowPolicy, Topic,
    buffer::{Record, SegmentLog},
};

/// Most events taken from the queue into one pipelined write.
const MAX_BATCH_EVENTS: usize = 4096;
/// Most buffered events drained in one pipelined write.
const DRAIN_BATCH: usize = 4096;
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A publish request: events of one topic, answered once they are durable.
#[derive(Debug)]
pub(super) struct Publish {
    pub(super) topic: Topic,
    pub(super) bytes: Vec<Vec<u8>>,
    pub(super) done: oneshot::Sender<Result<(), BusError>>,
}

/// The disk buffer is kept per class: a full market-data buffer drops its oldest events and
/// never holds trading events up; a full critical buffer makes publishers wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Critical = 0,
    MarketData = 1,
}

impl Class {
    const ALL: [Class; 2] = [Class::Critical, Class::MarketData];

    fn of(topic: Topic) -> Class {
        match topic.overflow_policy() {
            OverflowPolicy::Backpressure => Class::Critical,
            OverflowPolicy::DropOldest => Class::MarketData,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Class::Critical => "critical",
            Class::MarketData => "market_data",
        }
    }
}

/// `delay` scaled by a random factor in [0.5, 1.5), so reconnecting publishers spread out.
fn jittered(delay: Duration) -> Duration {
    let random = RandomState::new().hash_one(std::time::SystemTime::now());
    delay.mul_f64(0.5 + (random % 1000) as f64 / 1000.0)
}

/// Owns the connection used for publishing and both disk buffers; the only writer of either.
pub(super) struct Writer {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    logs: [Option<SegmentLog>; 2],
    requests: mpsc::Receiver<Publish>,
    metrics: BusMetrics,
    shutdown: CancellationToken,
    backlog: watch::Sender<u64>,
    redis_up: bool,
    backoff: Duration,
    next_drain: Instant,
}

async fn xadd(
    conn: &mut ConnectionManager,
    prefix: &str,
    timeout: Duration,
    events: &[(Topic, &[u8])],
) -> Result<(), BusError> {
    // One transaction per batch: a batch lands whole or not at all. A plain pipeline sent while
    // a restarted Redis finishes loading its data gets LOADING errors for its first commands and
    // success for the rest, and that suffix would overtake the events before it.
    let mut pipe = redis::pipe();
    pipe.atomic();
    for &(topic, bytes) in events {
        pipe.cmd("XADD")
            .arg(topic.stream_key(prefix))
            .arg("MAXLEN")
            .arg("~")
            .arg(topic.max_len())
            .arg("*")
            .arg("e")
            .arg(bytes)
            .ignore();
    }
    match tokio::time::timeout(timeout, pipe.query_async::<()>(conn)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(redis_error(&err)),
        Err(_) => Err(BusError::Unavailable(format!(
            "no answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

impl Writer {
    pub(super) async fn open(
        options: &RedisBusOptions,
        conn: ConnectionManager,
        requests: mpsc::Receiver<Publish>,
        metrics: BusMetrics,
        shutdown: CancellationToken,
        backlog: watch::Sender<u64>,
    ) -> Result<Self, BusError> {
        let mut logs = [None, None];
        for class in Class::ALL {
            let dir = options.buffer_dir.join(class.name());
            let buffer = options.buffer;
            let (log, report) = tokio::task::spawn_blocking(move || SegmentLog::open(dir, buffer))
                .await
                .map_err(|e| BusError::Buffer(io::Error::other(e.to_string())))??;
            if report.pending > 0 {
                tracing::info!(
                    class = class.name(),
                    pending = report.pending,
                    "disk buffer holds events from an earlier run; draining"
                );
            }
            if report.torn_bytes > 0 || report.corrupt_segments > 0 {
                tracing::warn!(
                    class = class.name(),
                    torn_bytes = report.torn_bytes,
                    corrupt_segments = report.corrupt_segments,
                    "disk buffer was damaged; kept every intact record"
                );
            }
            logs[class as usize] = Some(log);
        }
        let writer = Self {
            conn,
            prefix: options.key_prefix.clone(),
            timeout: options.publish_timeout,
            logs,
            requests,
            metrics,
            shutdown,
            backlog,
            redis_up: true,
            backoff: MIN_BACKOFF,
            next_drain: Instant::now(),
        };
        // report what an earlier run left before anyone can ask (flush, buffered)
        writer.update_gauges();
        Ok(writer)
    }

    fn pending(&self, class: Class) -> u64 {
        self.logs[class as usize]
            .as_ref()
            .map_or(0, SegmentLog::pending)
    }

    fn backlog(&self) -> bool {
        Class::ALL.into_iter().any(|c| self.pending(c) > 0)
    }

    fn update_gauges(&self) {
        let total = Class::ALL.into_iter().map(|c| self.pending(c)).sum();
        self.backlog
            .send_if_modified(|current| std::mem::replace(current, total) != total);
        for class in Class::ALL {
            if let Some(log) = &self.logs[class as usize] {
                let labels = [class.name()];
                self.metrics
                    .buffer_bytes
                    .with_label_values(&labels)
                    .set(i64::try_from(log.bytes()).unwrap_or(i64::MAX));
                self.metrics
                    .buffer_pending
                    .with_label_values(&labels)
                    .set(i64::try_from(log.pending()).unwrap_or(i64::MAX));
            }
        }
    }

    /// Runs `f` on the class's log on a blocking thread (appends fsync).
    async fn with_log<T: Send + 'static>(
        &mut self,
        class: Class,
        f: impl FnOnce(&mut SegmentLog) -> io::Result<T> + Send + 'static,
    ) -> Result<T, BusError> {
        let mut log = self.logs[class as usize].take().ok_or(BusError::Closed)?;
        let (log, result) = tokio::task::spawn_blocking(move || {
            let result = f(&mut log);
            (log, result)
        })
        .await
        .map_err(|e| BusError::Buffer(io::Error::other(e.to_string())))?;
        self.logs[class as usize] = Some(log);
        Ok(result?)
    }

    pub(super) async fn run(mut self) {
        loop {
            self.update_gauges();
            let backlog = self.backlog();
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => break,
                () = tokio::time::sleep_until(self.next_drain), if backlog => self.drain_step().await,
                request = self.requests.recv() => match request {
                    Some(first) => {
                        let mut batch = vec![first];
                        let mut events = batch[0].bytes.len();
                        while events < MAX_BATCH_EVENTS {
                            match self.requests.try_recv() {
                                Ok(next) => {
                                    events += next.bytes.len();
                                    batch.push(next);
                                }
                                Err(_) => break,
                            }
                        }
                        self.handle(batch).await;
                    }
                    None => break,
                },
            }
        }
        // Accept nothing new; make what was already queued durable.
        self.requests.close();
        let mut rest = Vec::new();
        while let Ok(request) = self.requests.try_recv() {
            rest.push(request);
        }
        if !rest.is_empty() {
            self.handle(rest).await;
        }
        self.update_gauges();
    }

    /// Publishes a batch straight to Redis when it is up and the topics' buffers are empty
    /// (so order is kept); buffers the rest.
    async fn handle(&mut self, batch: Vec<Publish>) {
        let (direct, mut buffered): (Vec<Publish>, Vec<Publish>) = batch
            .into_iter()
            .partition(|p| self.redis_up && self.pending(Class::of(p.topic)) == 0);
        if !direct.is_empty() {
            let mut events: Vec<(Topic, &[u8])> = Vec::new();
            for request in &direct {
                for bytes in &request.bytes {
                    events.push((request.topic, bytes.as_slice()));
                }
            }
            let sent = xadd(&mut self.conn, &self.prefix, self.timeout, &events).await;
            drop(events);
            match sent {
                Ok(()) => {
                    for request in direct {
                        self.metrics
                            .published
                            .with_label_values(&[request.topic.name()])
                            .inc_by(request.bytes.len() as u64);
                        let _ = request.done.send(Ok(()));
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "redis did not take a publish; buffering on disk");
                    self.redis_down();
                    // These classes had empty buffers, so buffering them now keeps order.
                    buffered.extend(direct);
                }
            }
        }
        let mut by_class: [Vec<Publish>; 2] = [Vec::new(), Vec::new()];
        for request in buffered {
            by_class[Class::of(request.topic) as usize].push(request);
        }
        for class in Class::ALL {
            let requests = std::mem::take(&mut by_class[class as usize]);
            if requests.is_empty() {
                continue;
            }
            let records: Vec<Record> = requests
                .iter()
                .flat_map(|p| {
                    p.bytes.iter().map(|b| Record {
                        topic: p.topic,
                        bytes: b.clone(),
                    })
                })
                .collect();
            let result = self.buffer(class, records).await;
            for request in requests {
                let answer = match &result {
                    Ok(()) => {
                        self.metrics
                            .buffered
                            .with_label_values(&[request.topic.name()])
                            .inc_by(request.bytes.len() as u64);
                        Ok(())
                    }
                    Err(err) => Err(BusError::Unavailable(err.to_string())),
                };
                let _ = request.done.send(answer);
            }
        }
    }

    /// Appends to the class's buffer, applying its overflow policy when it is full.
    async fn buffer(&mut self, class: Class, records: Vec<Record>) -> Result<(), BusError> {
        loop {
            let fits = self.logs[class as usize]
                .as_ref()
                .is_some_and(|log| log.fits(&records));
            if fits || (class == Class::MarketData && self.pending(class) == 0) {
                return self.with_log(class, move |log| log.append(&records)).await;
            }
            match class {
                Class::MarketData => {
                    let dropped = self.with_log(class, SegmentLog::drop_oldest).await?;
                    for (topic, count) in dropped {
                        tracing::warn!(%topic, count, "disk buffer full: dropped the oldest market data");
                        self.metrics
                            .dropped
                            .with_label_values(&[topic.name()])
                            .inc_by(count);
                    }
                }
                Class::Critical => {
                    // Backpressure: nothing trading-related is dropped; wait for room.
                    if self.shutdown.is_cancelled() {
                        return Err(BusError::Unavailable(
                            "disk buffer full and redis unavailable while shutting down".to_owned(),
                        ));
                    }
                    tracing::warn!("disk buffer full: publishers wait for redis");
                    tokio::select! {
                        () = tokio::time::sleep_until(self.next_drain) => self.drain_step().await,
                        () = self.shutdown.cancelled() => {}
                    }
                    self.update_gauges();
                }
            }
        }
    }

    fn redis_down(&mut self) {
        self.redis_up = false;
        self.next_drain = Instant::now() + jittered(self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// Sends the oldest buffered events of each class to Redis.
    async fn drain_step(&mut self) {
        for class in Class::ALL {
            if self.pending(class) == 0 {
                continue;
            }
            let (records, to) = match self.with_log(class, |log| log.read(DRAIN_BATCH)).await {
                Ok(read) => read,
                Err(err) => {
                    tracing::error!(class = class.name(), error = %err, "cannot read the disk buffer");
                    self.next_drain = Instant::now() + MAX_BACKOFF;
                    return;
                }
            };
            if records.is_empty() {
                continue;
            }
            let mut events: Vec<(Topic, &[u8])> = Vec::with_capacity(records.len());
            for record in &records {
                events.push((record.topic, record.bytes.as_slice()));
            }
            let sent = xadd(&mut self.conn, &self.prefix, self.timeout, &events).await;
            drop(events);
            match sent {
                Ok(()) => {
                    let count = records.len() as u64;
                    if let Err(err) = self.with_log(class, move |log| log.commit(to, count)).await {
                        tracing::error!(class = class.name(), error = %err, "cannot move the disk buffer cursor");
                    }
                    for record in &records {
                        self.metrics
                            .drained
                            .with_label_values(&[record.topic.name()])
                            .inc();
                    }
                    if !self.redis_up {
                        tracing::info!(
                            class = class.name(),
                            "redis is back; draining the disk buffer"
                        );
                    }
                    self.redis_up = true;
                    self.backoff = MIN_BACKOFF;
                    self.next_drain = Instant::now();
                }
                Err(err) => {
                    tracing::debug!(error = %err, "redis still unavailable");
                    self.redis_down();
                    return;
                }
            }
        }
    }
}
