use std::time::{Duration, Instant};

use redis::{
    Value,
    aio::ConnectionManager,
    streams::{StreamAutoClaimReply, StreamId, StreamInfoGroupsReply, StreamReadReply},
};

use super::{RedisBusOptions, redis_error};
use crate::{BusError, BusMetrics, Delivery, StartFrom, Subscription, Topic};

/// How often lag and pending counts are refreshed.
const INFO_EVERY: Duration = Duration::from_secs(5);

/// A consumer of one topic in one consumer group on Redis.
#[derive(Debug)]
pub struct RedisSubscription {
    conn: ConnectionManager,
    topic: Topic,
    key: String,
    group: String,
    consumer: String,
    start: StartFrom,
    claim_idle: Duration,
    /// While re-reading this consumer's own pending entries: the id to read after.
    own_pending_from: Option<String>,
    last_claim: Instant,
    last_info: Option<Instant>,
    metrics: BusMetrics,
}

fn to_delivery(topic: Topic, entry: StreamId, redelivered: bool) -> Delivery {
    let bytes = match entry.map.get("e") {
        Some(Value::BulkString(bytes)) => bytes.clone(),
        // an entry without our field is bad input: an empty payload fails to decode and is
        // dead-lettered by the consumer
        _ => Vec::new(),
    };
    Delivery {
        topic,
        id: entry.id,
        bytes,
        redelivered,
    }
}

impl RedisSubscription {
    pub(super) async fn new(
        conn: ConnectionManager,
        options: &RedisBusOptions,
        topic: Topic,
        group: &str,
        consumer: &str,
        start: StartFrom,
        metrics: BusMetrics,
    ) -> Result<Self, BusError> {
        let mut subscription = Self {
            conn,
            topic,
            key: topic.stream_key(&options.key_prefix),
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            start,
            claim_idle: options.claim_idle,
            own_pending_from: Some("0".to_owned()),
            last_claim: Instant::now(),
            last_info: None,
            metrics,
        };
        subscription.create_group().await?;
        Ok(subscription)
    }

    async fn create_group(&mut self) -> Result<(), BusError> {
        let from = match self.start {
            StartFrom::Beginning => "0",
            StartFrom::New => "$",
        };
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.key)
            .arg(&self.group)
            .arg(from)
            .arg("MKSTREAM")
            .query_async(&mut self.conn)
            .await;
        match created {
            Ok(()) => Ok(()),
            Err(err) if err.code() == Some("BUSYGROUP") => Ok(()),
            Err(err) => Err(redis_error(&err)),
        }
    }

    async fn read(
        &mut self,
        id: &str,
        max: usize,
        block: Option<Duration>,
    ) -> Result<Vec<Delivery>, BusError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(max);
        if let Some(block) = block {
            cmd.arg("BLOCK")
                .arg(u64::try_from(block.as_millis()).unwrap_or(u64::MAX).max(1));
        }
        cmd.arg("STREAMS").arg(&self.key).arg(id);
        let reply: Option<StreamReadReply> = match cmd.query_async(&mut self.conn).await {
            Ok(reply) => reply,
            Err(err) => return Err(self.on_error(&err).await),
        };
        let redelivered = id != ">";
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .map(|entry| to_delivery(self.topic, entry, redelivered))
            .collect())
    }

    async fn claim(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let reply: Result<StreamAutoClaimReply, _> = redis::cmd("XAUTOCLAIM")
            .arg(&self.key)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(u64::try_from(self.claim_idle.as_millis()).unwrap_or(u64::MAX))
            .arg("0-0")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut self.conn)
            .await;
        match reply {
            Ok(reply) => Ok(reply
                .claimed
                .into_iter()
                .map(|e| to_delivery(self.topic, e, true))
                .collect()),
            Err(err) => Err(self.on_error(&err).await),
        }
    }

    /// After an error the consumer re-reads its own pending entries: a reply lost with the
    /// connection leaves delivered entries only there.
    async fn on_error(&mut self, err: &redis::RedisError) -> BusError {
        self.own_pending_from = Some("0".to_owned());
        if err.code() == Some("NOGROUP") {
            // Redis lost the group (restarted without persistence): recreate it.
            tracing::warn!(topic = %self.topic, group = %self.group, "consumer group missing; recreating it");
            if let Err(err) = self.create_group().await {
                return err;
            }
            return BusError::Unavailable("consumer group was recreated".to_owned());
        }
        redis_error(err)
    }

    async fn refresh_info(&mut self) {
        if self.last_info.is_some_and(|at| at.elapsed() < INFO_EVERY) {
            return;
        }
        self.last_info = Some(Instant::now());
        let reply: Result<StreamInfoGroupsReply, _> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&self.key)
            .query_async(&mut self.conn)
            .await;
        if let Ok(reply) = reply
            && let Some(group) = reply.groups.iter().find(|g| g.name == self.group)
        {
            let labels = [self.topic.name(), self.group.as_str()];
            self.metrics
                .pending
                .with_label_values(&labels)
                .set(i64::try_from(group.pending).unwrap_or(i64::MAX));
            if let Some(lag) = group.lag {
                self.metrics
                    .consumer_lag
                    .with_label_values(&labels)
                    .set(i64::try_from(lag).unwrap_or(i64::MAX));
            }
        }
    }
}

impl Subscription for RedisSubscription {
    async fn next(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        self.refresh_info().await;
        if let Some(from) = self.own_pending_from.clone() {
            let own = self.read(&from, max, None).await?;
            self.own_pending_from = own.last().map(|d| d.id.clone());
            if !own.is_empty() {
                return Ok(own);
            }
        }
        if self.last_claim.elapsed() >= self.claim_idle / 2 {
            self.last_claim = Instant::now();
            let claimed = self.claim(max).await?;
            if !claimed.is_empty() {
                return Ok(claimed);
            }
        }
        self.read(">", max, Some(wait)).await
    }

    fn redeliver_pending(&mut self) {
        self.own_pending_from = Some("0".to_owned());
    }

    fn topic(&self) -> Topic {
        self.topic
    }

    fn group(&self) -> &str {
        &self.group
    }
}
