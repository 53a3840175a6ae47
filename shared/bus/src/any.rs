use std::{sync::OnceLock, time::Duration};

use levibot_config::BusConfig;
use levibot_core::EventId;
use levibot_telemetry::metrics::Registry;

use crate::{
    BusError, BusMetrics, Delivery, Envelope, EventBus, InProcessBus, RedisBus, RedisBusOptions,
    StartFrom, Subscription, Topic, buffer::SegmentLogOptions, memory::InProcessSubscription,
    redis_bus::RedisSubscription,
};

/// How long [`Bus::close`] waits for the disk buffer to drain before leaving the rest for
/// the next start.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);

/// The bus a service runs with, chosen by the configuration: Redis Streams when
/// `bus.redis_url` is set, otherwise the in-process bus shared by every service of this
/// process (`levibot up` on a machine without Redis).
#[derive(Debug, Clone)]
pub enum Bus {
    /// Redis Streams with the disk buffer.
    Redis(RedisBus),
    /// The process-wide in-process bus.
    InProcess(InProcessBus),
}

/// A subscription on a [`Bus`].
#[derive(Debug)]
pub enum BusSubscription {
    /// On Redis.
    Redis(RedisSubscription),
    /// In process.
    InProcess(InProcessSubscription),
}

fn shared_in_process() -> Result<InProcessBus, BusError> {
    static SHARED: OnceLock<InProcessBus> = OnceLock::new();
    if let Some(bus) = SHARED.get() {
        return Ok(bus.clone());
    }
    let metrics = BusMetrics::unregistered().map_err(|e| BusError::Redis(e.to_string()))?;
    Ok(SHARED.get_or_init(|| InProcessBus::new(metrics)).clone())
}

impl Bus {
    /// Opens the bus of `config` for `owner` (a service name). A Redis bus buffers under
    /// `bus.buffer_dir/<owner>`, so services sharing a machine never share a buffer. The bus
    /// metrics are registered in `registry`.
    pub async fn open(
        config: &BusConfig,
        owner: &str,
        registry: &Registry,
    ) -> Result<Self, BusError> {
        let metrics_error = |e: levibot_telemetry::metrics::PrometheusError| {
            BusError::Redis(format!("cannot register bus metrics: {e}"))
        };
        match &config.redis_url {
            Some(url) => {
                let metrics = BusMetrics::register(registry).map_err(metrics_error)?;
                let mut options = RedisBusOptions::new(url.clone(), config.buffer_dir.join(owner));
                options.key_prefix.clone_from(&config.key_prefix);
                options.buffer = SegmentLogOptions {
                    max_bytes: config.buffer_max_mb.saturating_mul(1024 * 1024),
                    ..SegmentLogOptions::default()
                };
                Ok(Self::Redis(RedisBus::open(options, metrics).await?))
            }
            None => {
                let bus = shared_in_process()?;
                bus.metrics()
                    .register_clones(registry)
                    .map_err(metrics_error)?;
                Ok(Self::InProcess(bus))
            }
        }
    }

    /// The bus's metrics.
    pub fn metrics(&self) -> BusMetrics {
        match self {
            Self::Redis(bus) => bus.metrics().clone(),
            Self::InProcess(bus) => bus.metrics().clone(),
        }
    }

    /// Drains the disk buffer for up to 2 s, then stops accepting publishes. Whatever is
    /// still buffered stays on disk and is delivered at the next start.
    pub async fn close(&self) {
        if let Self::Redis(bus) = self {
            if !bus.flush(CLOSE_FLUSH).await {
                tracing::info!(
                    buffered = bus.buffered(),
                    "bus closing with events on disk; they drain at the next start"
                );
            }
            bus.close().await;
        }
    }
}

impl EventBus for Bus {
    type Subscription = BusSubscription;

    async fn publish(&self, topic: Topic, envelope: &Envelope) -> Result<(), BusError> {
        match self {
            Self::Redis(bus) => bus.publish(topic, envelope).await,
            Self::InProcess(bus) => bus.publish(topic, envelope).await,
        }
    }

    async fn publish_batch(&self, topic: Topic, envelopes: &[Envelope]) -> Result<(), BusError> {
        match self {
            Self::Redis(bus) => bus.publish_batch(topic, envelopes).await,
            Self::InProcess(bus) => bus.publish_batch(topic, envelopes).await,
        }
    }

    async fn subscribe(
        &self,
        topic: Topic,
        group: &str,
        consumer: &str,
        start: StartFrom,
    ) -> Result<BusSubscription, BusError> {
        Ok(match self {
            Self::Redis(bus) => {
                BusSubscription::Redis(bus.subscribe(topic, group, consumer, start).await?)
            }
            Self::InProcess(bus) => {
                BusSubscription::InProcess(bus.subscribe(topic, group, consumer, start).await?)
            }
        })
    }

    async fn ack(&self, topic: Topic, group: &str, ids: &[String]) -> Result<(), BusError> {
        match self {
            Self::Redis(bus) => bus.ack(topic, group, ids).await,
            Self::InProcess(bus) => bus.ack(topic, group, ids).await,
        }
    }

    async fn ack_processed(
        &self,
        topic: Topic,
        group: &str,
        ids: &[String],
        events: &[EventId],
    ) -> Result<(), BusError> {
        match self {
            Self::Redis(bus) => bus.ack_processed(topic, group, ids, events).await,
            Self::InProcess(bus) => bus.ack_processed(topic, group, ids, events).await,
        }
    }

    async fn processed(
        &self,
        topic: Topic,
        group: &str,
        events: &[EventId],
    ) -> Result<Vec<bool>, BusError> {
        match self {
            Self::Redis(bus) => bus.processed(topic, group, events).await,
            Self::InProcess(bus) => bus.processed(topic, group, events).await,
        }
    }

    async fn dead_letter(
        &self,
        group: &str,
        delivery: &Delivery,
        reason: &str,
    ) -> Result<(), BusError> {
        match self {
            Self::Redis(bus) => bus.dead_letter(group, delivery, reason).await,
            Self::InProcess(bus) => bus.dead_letter(group, delivery, reason).await,
        }
    }
}

impl Subscription for BusSubscription {
    async fn next(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        match self {
            Self::Redis(s) => s.next(max, wait).await,
            Self::InProcess(s) => s.next(max, wait).await,
        }
    }

    fn redeliver_pending(&mut self) {
        match self {
            Self::Redis(s) => s.redeliver_pending(),
            Self::InProcess(s) => s.redeliver_pending(),
        }
    }

    fn topic(&self) -> Topic {
        match self {
            Self::Redis(s) => s.topic(),
            Self::InProcess(s) => s.topic(),
        }
    }

    fn group(&self) -> &str {
        match self {
            Self::Redis(s) => s.group(),
            Self::InProcess(s) => s.group(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_redis_every_owner_shares_one_in_process_bus() {
        let config = BusConfig::default();
        let a = Bus::open(&config, "backend", &Registry::new())
            .await
            .unwrap();
        let b = Bus::open(&config, "trade-store", &Registry::new())
            .await
            .unwrap();
        let mut sub = b
            .subscribe(Topic::Health, "any-shared-test", "c", StartFrom::New)
            .await
            .unwrap();
        let event = Envelope::new(
            &levibot_proto::v1::FleetHealth::default(),
            "backend",
            levibot_core::TimestampMs::new(1),
        );
        a.publish(Topic::Health, &event).await.unwrap();
        let got = sub.next(10, Duration::from_secs(1)).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(Envelope::decode(&got[0].bytes).unwrap().id, event.id);
    }
}
