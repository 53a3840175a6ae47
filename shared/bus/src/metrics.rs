use levibot_telemetry::metrics::{
    Collector, IntCounterVec, IntGaugeVec, Opts, PrometheusError, Registry,
};

/// The bus's metrics (names get the registry's `levibot_` prefix).
#[derive(Debug, Clone)]
pub struct BusMetrics {
    /// `bus_published_total{topic}`: events accepted straight into Redis (or the in-process bus).
    pub published: IntCounterVec,
    /// `bus_buffered_total{topic}`: events written to the disk buffer.
    pub buffered: IntCounterVec,
    /// `bus_drained_total{topic}`: buffered events delivered to Redis.
    pub drained: IntCounterVec,
    /// `bus_dropped_total{topic}`: market-data events dropped from a full buffer.
    pub dropped: IntCounterVec,
    /// `bus_dead_lettered_total{topic,reason}`: deliveries parked in the dead-letter stream.
    pub dead_lettered: IntCounterVec,
    /// `bus_duplicates_total{topic}`: redeliveries dropped by the idempotent consumer.
    pub duplicates: IntCounterVec,
    /// `bus_consumer_lag{topic,group}`: entries not yet delivered to the group.
    pub consumer_lag: IntGaugeVec,
    /// `bus_pending{topic,group}`: entries delivered and not acknowledged.
    pub pending: IntGaugeVec,
    /// `bus_buffer_bytes{class}`: size of the disk buffer (`critical` or `market_data`).
    pub buffer_bytes: IntGaugeVec,
    /// `bus_buffer_pending{class}`: buffered events waiting to be drained.
    pub buffer_pending: IntGaugeVec,
}

impl BusMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, PrometheusError> {
        let metrics = Self::unregistered()?;
        for collector in metrics.collectors() {
            registry.register(collector)?;
        }
        Ok(metrics)
    }

    /// Registers these same metrics (shared values) in another registry as well: the
    /// in-process bus is one bus for every service of the process.
    pub fn register_clones(&self, registry: &Registry) -> Result<(), PrometheusError> {
        for collector in self.collectors() {
            registry.register(collector)?;
        }
        Ok(())
    }

    /// Creates the metrics without registering them (benchmarks, tests).
    pub fn unregistered() -> Result<Self, PrometheusError> {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels)
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name, help), labels)
        };
        Ok(Self {
            published: counter(
                "bus_published_total",
                "events published to the bus",
                &["topic"],
            )?,
            buffered: counter(
                "bus_buffered_total",
                "events written to the disk buffer",
                &["topic"],
            )?,
            drained: counter(
                "bus_drained_total",
                "buffered events drained to redis",
                &["topic"],
            )?,
            dropped: counter(
                "bus_dropped_total",
                "market data dropped from a full buffer",
                &["topic"],
            )?,
            dead_lettered: counter(
                "bus_dead_lettered_total",
                "deliveries parked in the dead-letter stream",
                &["topic", "reason"],
            )?,
            duplicates: counter(
                "bus_duplicates_total",
                "redeliveries dropped by event id",
                &["topic"],
            )?,
            consumer_lag: gauge(
                "bus_consumer_lag",
                "entries not yet delivered to the group",
                &["topic", "group"],
            )?,
            pending: gauge(
                "bus_pending",
                "entries delivered and not acknowledged",
                &["topic", "group"],
            )?,
            buffer_bytes: gauge("bus_buffer_bytes", "bytes in the disk buffer", &["class"])?,
            buffer_pending: gauge(
                "bus_buffer_pending",
                "buffered events waiting for redis",
                &["class"],
            )?,
        })
    }

    fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.published.clone()),
            Box::new(self.buffered.clone()),
            Box::new(self.drained.clone()),
            Box::new(self.dropped.clone()),
            Box::new(self.dead_lettered.clone()),
            Box::new(self.duplicates.clone()),
            Box::new(self.consumer_lag.clone()),
            Box::new(self.pending.clone()),
            Box::new(self.buffer_bytes.clone()),
            Box::new(self.buffer_pending.clone()),
        ]
    }
}
