//! The Redis Streams implementation of [`EventBus`].

mod subscription;
mod writer;

use std::{path::PathBuf, sync::Arc, time::Duration};

use levibot_core::EventId;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

pub use subscription::RedisSubscription;

use crate::{
    BusError, BusMetrics, Delivery, Envelope, EventBus, StartFrom, Topic,
    buffer::SegmentLogOptions, error::check_name, event_bus::check_type,
};
use writer::{Publish, Writer};

/// Settings of a [`RedisBus`].
#[derive(Debug, Clone)]
pub struct RedisBusOptions {
    /// `redis://host:port[/db]`.
    pub url: String,
    /// Prefix of every key (`levibot:`); tests use one per test.
    pub key_prefix: String,
    /// Where the disk buffer lives (one sub-folder per class of topics).
    pub buffer_dir: PathBuf,
    /// Segment size and size bound of each class's buffer.
    pub buffer: SegmentLogOptions,
    /// How long a publish waits for Redis before buffering.
    pub publish_timeout: Duration,
    /// How long an entry may stay unacknowledged before another consumer may claim it.
    pub claim_idle: Duration,
    /// How many processed event ids each group keeps in Redis.
    pub dedup_window: usize,
}

impl RedisBusOptions {
    /// Defaults for `url` and `buffer_dir`: prefix `levibot:`, 8 MiB segments, 256 MiB per
    /// class, 1 s publish timeout, 30 s claim idle, 100,000 remembered ids per group.
    pub fn new(url: impl Into<String>, buffer_dir: impl Into<PathBuf>) -> Self {
        Self {
            url: url.into(),
            key_prefix: "levibot:".to_owned(),
            buffer_dir: buffer_dir.into(),
            buffer: SegmentLogOptions::default(),
            publish_timeout: Duration::from_secs(1),
            claim_idle: Duration::from_secs(30),
            dedup_window: 100_000,
        }
    }

    fn dedup_key(&self, topic: Topic, group: &str) -> String {
        format!("{}dedup:{}:{group}", self.key_prefix, topic.name())
    }

    fn dead_letter_key(&self) -> String {
        format!("{}dead-letter", self.key_prefix)
    }
}

/// Publishes and consumes through Redis Streams, with the disk buffer behind every publish.
///
/// Publishes go through one writer task that batches them into pipelined `XADD`s, which keeps
/// each publisher's order. When Redis cannot take a batch, it goes to the disk buffer (fsynced
/// before the publish returns), and while a buffer holds events, later events of its topics go
/// there too, so order is kept; the writer drains the buffer to Redis as soon as Redis answers,
/// with jittered exponential backoff while it does not, and on start-up.
#[derive(Debug, Clone)]
pub struct RedisBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: RedisBusOptions,
    client: redis::Client,
    conn: ConnectionManager,
    publish: mpsc::Sender<Publish>,
    metrics: BusMetrics,
    shutdown: CancellationToken,
    backlog: watch::Receiver<u64>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Maps a Redis error: whatever may succeed later (no connection, a timeout, Redis still
/// loading its data after a restart, a failover) is [`BusError::Unavailable`].
pub(crate) fn redis_error(err: &redis::RedisError) -> BusError {
    use redis::{RetryMethod, ServerErrorKind};
    let wait = |kind: Option<ServerErrorKind>| {
        matches!(
            kind,
            Some(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ClusterDown
            )
        )
    };
    let transient = err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
        || matches!(err.retry_method(), RetryMethod::Reconnect | RetryMethod::RetryImmediately | RetryMethod::WaitAndRetry)
        // a transaction or pipeline aborted because one of its commands hit such a state
        || err.clone().into_server_errors().is_some_and(|errors| errors.iter().any(|(_, e)| wait(e.kind())));
    if transient {
        BusError::Unavailable(err.to_string())
    } else {
        BusError::Redis(err.to_string())
    }
}

fn manager_config(response_timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(response_timeout))
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(2))
        .set_number_of_retries(2)
}

impl RedisBus {
    /// Opens the disk buffer (repairing a torn tail), starts the writer, which drains anything
    /// left by an earlier run, and connects lazily: this succeeds while Redis is down.
    pub async fn open(options: RedisBusOptions, metrics: BusMetrics) -> Result<Self, BusError> {
        let client = redis::Client::open(options.url.as_str())
            .map_err(|e| BusError::Redis(e.to_string()))?;
        let conn = ConnectionManager::new_lazy_with_config(
            client.clone(),
            manager_config(options.publish_timeout),
        )
        .map_err(|e| redis_error(&e))?;
        let (publish, requests) = mpsc::channel(1024);
        let shutdown = CancellationToken::new();
        let (backlog_tx, backlog) = watch::channel(0);
        let writer = Writer::open(
            &options,
            conn.clone(),
            requests,
            metrics.clone(),
            shutdown.clone(),
            backlog_tx,
        )
        .await?;
        let handle = tokio::spawn(writer.run());
        let inner = Inner {
            options,
            client,
            conn,
            publish,
            metrics,
            shutdown,
            backlog,
            writer: Mutex::new(Some(handle)),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Stops the writer after it has put every accepted event in Redis or the disk buffer.
    /// Publishing afterwards fails with [`BusError::Closed`].
    pub async fn close(&self) {
        self.inner.shutdown.cancel();
        if let Some(handle) = self.inner.writer.lock().await.take() {
            let _ = handle.await;
        }
    }

    /// Events in the disk buffer waiting for Redis.
    pub fn buffered(&self) -> u64 {
        *self.inner.backlog.borrow()
    }

    /// Waits until the disk buffer is drained to Redis, up to `timeout`; returns whether it
    /// was. A graceful shutdown calls this before [`close`](Self::close); what is still
    /// buffered after it stays on disk and drains at the next start.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let mut backlog = self.inner.backlog.clone();
        tokio::time::timeout(timeout, backlog.wait_for(|pending| *pending == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The bus's metrics.
    pub fn metrics(&self) -> &BusMetrics {
        &self.inner.metrics
    }

    /// The options it runs with.
    pub fn options(&self) -> &RedisBusOptions {
        &self.inner.options
    }

    async fn send(&self, topic: Topic, envelopes: &[Envelope]) -> Result<(), BusError> {
        for envelope in envelopes {
            check_type(topic, envelope)?;
        }
        if envelopes.is_empty() {
            return Ok(());
        }
        let (done, result) = oneshot::channel();
        let request = Publish {
            topic,
            bytes: envelopes.iter().map(Envelope::encode).collect(),
            done,
        };
        self.inner
            .publish
            .send(request)
            .await
            .map_err(|_| BusError::Closed)?;
        result.await.map_err(|_| BusError::Closed)?
    }
}

impl EventBus for RedisBus {
    type Subscription = RedisSubscription;

    async fn publish(&self, topic: Topic, envelope: &Envelope) -> Result<(), BusError> {
        self.send(topic, std::slice::from_ref(envelope)).await
    }

    async fn publish_batch(&self, topic: Topic, envelopes: &[Envelope]) -> Result<(), BusError> {
        self.send(topic, envelopes).await
    }

    async fn subscribe(
        &self,
        topic: Topic,
        group: &str,
        consumer: &str,
        start: StartFrom,
    ) -> Result<RedisSubscription, BusError> {
        check_name(group)?;
        check_name(consumer)?;
        // A subscription blocks its connection in XREADGROUP: it gets its own.
        let conn = ConnectionManager::new_lazy_with_config(
            self.inner.client.clone(),
            manager_config(Duration::from_secs(35)),
        )
        .map_err(|e| redis_error(&e))?;
        RedisSubscription::new(
            conn,
            &self.inner.options,
            topic,
            group,
            consumer,
            start,
            self.inner.metrics.clone(),
        )
        .await
    }

    async fn ack(&self, topic: Topic, group: &str, ids: &[String]) -> Result<(), BusError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.inner.conn.clone();
        redis::cmd("XACK")
            .arg(topic.stream_key(&self.inner.options.key_prefix))
            .arg(group)
            .arg(ids)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| redis_error(&e))
    }

    async fn ack_processed(
        &self,
        topic: Topic,
        group: &str,
        ids: &[String],
        events: &[EventId],
    ) -> Result<(), BusError> {
        if ids.is_empty() && events.is_empty() {
            return Ok(());
        }
        let options = &self.inner.options;
        let dedup = options.dedup_key(topic, group);
        let now = levibot_core::Clock::now(&levibot_core::LiveClock::new()).as_i64();
        let mut pipe = redis::pipe();
        pipe.atomic();
        if !events.is_empty() {
            let mut zadd = redis::cmd("ZADD");
            zadd.arg(&dedup);
            for event in events {
                zadd.arg(now).arg(event.to_string());
            }
            pipe.add_command(zadd).ignore();
            let keep = i64::try_from(options.dedup_window).unwrap_or(i64::MAX);
            pipe.cmd("ZREMRANGEBYRANK")
                .arg(&dedup)
                .arg(0)
                .arg(-keep - 1)
                .ignore();
        }
        if !ids.is_empty() {
            pipe.cmd("XACK")
                .arg(topic.stream_key(&options.key_prefix))
                .arg(group)
                .arg(ids)
                .ignore();
        }
        let mut conn = self.inner.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| redis_error(&e))
    }

    async fn processed(
        &self,
        topic: Topic,
        group: &str,
        events: &[EventId],
    ) -> Result<Vec<bool>, BusError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("ZMSCORE");
        cmd.arg(self.inner.options.dedup_key(topic, group));
        for event in events {
            cmd.arg(event.to_string());
        }
        let mut conn = self.inner.conn.clone();
        let scores: Vec<Option<f64>> = cmd
            .query_async(&mut conn)
            .await
            .map_err(|e| redis_error(&e))?;
        Ok(scores.into_iter().map(|s| s.is_some()).collect())
    }

    async fn dead_letter(
        &self,
        group: &str,
        delivery: &Delivery,
        reason: &str,
    ) -> Result<(), BusError> {
        let options = &self.inner.options;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XADD")
            .arg(options.dead_letter_key())
            .arg("MAXLEN")
            .arg("~")
            .arg(100_000)
            .arg("*")
            .arg("topic")
            .arg(delivery.topic.name())
            .arg("group")
            .arg(group)
            .arg("id")
            .arg(&delivery.id)
            .arg("reason")
            .arg(reason)
            .arg("e")
            .arg(delivery.bytes.as_slice())
            .ignore()
            .cmd("XACK")
            .arg(delivery.topic.stream_key(&options.key_prefix))
            .arg(group)
            .arg(&delivery.id)
            .ignore();
        let mut conn = self.inner.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| redis_error(&e))
    }
}
