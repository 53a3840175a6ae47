use std::{
    collections::{HashSet, VecDeque},
    marker::PhantomData,
    time::Duration,
};

use levibot_core::EventId;

use crate::{
    BusError, BusMessage, BusMetrics, Delivery, Envelope, EventBus, StartFrom, Subscription,
};

/// A bounded set of recently seen event ids: the oldest is forgotten past its capacity.
#[derive(Debug, Default)]
pub struct RecentIds {
    order: VecDeque<EventId>,
    set: HashSet<EventId>,
}

impl RecentIds {
    /// Whether `id` was seen.
    pub fn contains(&self, id: &EventId) -> bool {
        self.set.contains(id)
    }

    /// Remembers `id`, forgetting the oldest beyond `capacity`.
    pub fn insert(&mut self, id: EventId, capacity: usize) {
        if self.set.insert(id) {
            self.order.push_back(id);
            while self.order.len() > capacity {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

/// One event ready to process.
#[derive(Debug, Clone, PartialEq)]
pub struct Received<M> {
    /// The bus's id of the entry, for [`Consumer::commit`].
    pub delivery_id: String,
    /// The envelope (id, times, trace context).
    pub envelope: Envelope,
    /// The decoded message.
    pub message: M,
}

impl<M> Received<M> {
    /// A span for processing this event that continues the producer's trace (the envelope's
    /// traceparent), so one trace id follows an event from its producer to its consumers.
    pub fn span(&self, name: &'static str) -> tracing::Span {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let span = tracing::info_span!("bus.consume", otel.name = name, event.id = %self.envelope.id, event.source = %self.envelope.source);
        if !self.envelope.traceparent.is_empty() {
            // a malformed traceparent leaves the span a root: nothing to report
            let _ = span.set_parent(levibot_telemetry::context_from_traceparent(
                &self.envelope.traceparent,
            ));
        }
        span
    }
}

/// How many ids a consumer remembers in memory.
const LOCAL_WINDOW: usize = 200_000;
/// The wait before retrying after the bus was unavailable.
const RETRY_AFTER: Duration = Duration::from_millis(200);

/// A typed consumer of one topic in one group that turns at-least-once delivery into
/// exactly-once processing: every event id is processed once, whatever the redeliveries
/// (consumer restarts, Redis restarts, reclaims, a publisher's retried publish).
///
/// Call [`next`](Self::next), process what it returns, then [`commit`](Self::commit) it: the
/// ids are recorded as processed (in the bus, so they survive a restart, and in memory) and
/// the deliveries acknowledged. An envelope that cannot be decoded, or carries the wrong type,
/// is counted, parked in the dead-letter stream and acknowledged; it never reaches the caller.
#[derive(Debug)]
pub struct Consumer<B: EventBus, M: BusMessage> {
    bus: B,
    subscription: B::Subscription,
    group: String,
    metrics: BusMetrics,
    seen: RecentIds,
    unacked: Vec<(String, EventId)>,
    message: PhantomData<fn() -> M>,
}

impl<B: EventBus, M: BusMessage> Consumer<B, M> {
    /// Joins `group` on `M`'s topic as `consumer`.
    pub async fn new(
        bus: B,
        group: &str,
        consumer: &str,
        start: StartFrom,
        metrics: BusMetrics,
    ) -> Result<Self, BusError> {
        let subscription = bus.subscribe(M::TOPIC, group, consumer, start).await?;
        Ok(Self {
            bus,
            subscription,
            group: group.to_owned(),
            metrics,
            seen: RecentIds::default(),
            unacked: Vec::new(),
            message: PhantomData,
        })
    }

    /// Up to `max` events not processed before, waiting up to `wait`. When the bus is
    /// unavailable it waits a little and returns nothing: call again.
    pub async fn next(&mut self, max: usize, wait: Duration) -> Result<Vec<Received<M>>, BusError> {
        if !self.unacked.is_empty() {
            let (ids, events): (Vec<String>, Vec<EventId>) = self.unacked.iter().cloned().unzip();
            match self
                .bus
                .ack_processed(M::TOPIC, &self.group, &ids, &events)
                .await
            {
                Ok(()) => self.unacked.clear(),
                Err(err) if err.is_transient() => return self.unavailable(&err).await,
                Err(err) => return Err(err),
            }
        }
        let deliveries = match self.subscription.next(max, wait).await {
            Ok(deliveries) => deliveries,
            Err(err) if err.is_transient() => return self.unavailable(&err).await,
            Err(err) => return Err(err),
        };
        match self.sort(deliveries).await {
            Ok(fresh) => Ok(fresh),
            Err(err) => {
                // What was fetched was not handed over: fetch it again next time, in order.
                self.subscription.redeliver_pending();
                if err.is_transient() {
                    self.unavailable(&err).await
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Dead-letters what cannot be decoded, acknowledges what was processed before, and
    /// returns the rest.
    async fn sort(&mut self, deliveries: Vec<Delivery>) -> Result<Vec<Received<M>>, BusError> {
        let mut decoded = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            match Envelope::decode(&delivery.bytes).and_then(|e| Ok((e.message::<M>()?, e))) {
                Ok((message, envelope)) => decoded.push((delivery, envelope, message)),
                Err(err) => {
                    tracing::warn!(topic = %M::TOPIC, id = %delivery.id, reason = err.reason(), error = %err, "dead-lettering an event");
                    self.dead_letter(&delivery, err.reason()).await?;
                }
            }
        }
        let unknown: Vec<EventId> = decoded
            .iter()
            .map(|(_, e, _)| e.id)
            .filter(|id| !self.seen.contains(id))
            .collect();
        let persisted = if unknown.is_empty() {
            Vec::new()
        } else {
            self.bus.processed(M::TOPIC, &self.group, &unknown).await?
        };
        let already: HashSet<EventId> = unknown
            .iter()
            .zip(persisted)
            .filter(|(_, done)| *done)
            .map(|(id, _)| *id)
            .collect();
        let mut fresh = Vec::with_capacity(decoded.len());
        let mut duplicates = Vec::new();
        let mut in_batch = HashSet::new();
        for (delivery, envelope, message) in decoded {
            let id = envelope.id;
            if self.seen.contains(&id) || already.contains(&id) || !in_batch.insert(id) {
                duplicates.push(delivery.id);
            } else {
                fresh.push(Received {
                    delivery_id: delivery.id,
                    envelope,
                    message,
                });
            }
        }
        if !duplicates.is_empty() {
            self.metrics
                .duplicates
                .with_label_values(&[M::TOPIC.name()])
                .inc_by(duplicates.len() as u64);
            self.bus.ack(M::TOPIC, &self.group, &duplicates).await?;
        }
        Ok(fresh)
    }

    async fn unavailable(&self, err: &BusError) -> Result<Vec<Received<M>>, BusError> {
        tracing::debug!(topic = %M::TOPIC, error = %err, "bus unavailable; retrying");
        tokio::time::sleep(RETRY_AFTER).await;
        Ok(Vec::new())
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &'static str) -> Result<(), BusError> {
        self.metrics
            .dead_lettered
            .with_label_values(&[M::TOPIC.name(), reason])
            .inc();
        self.bus.dead_letter(&self.group, delivery, reason).await
    }

    /// Records `processed` as done and acknowledges it. The ids are remembered in memory
    /// first, so even if the bus is unavailable now they are never processed again; the
    /// acknowledgement is retried by the next [`next`](Self::next).
    pub async fn commit(&mut self, processed: &[Received<M>]) -> Result<(), BusError> {
        for received in processed {
            self.seen.insert(received.envelope.id, LOCAL_WINDOW);
            self.unacked
                .push((received.delivery_id.clone(), received.envelope.id));
        }
        let (ids, events): (Vec<String>, Vec<EventId>) = self.unacked.iter().cloned().unzip();
        match self
            .bus
            .ack_processed(M::TOPIC, &self.group, &ids, &events)
            .await
        {
            Ok(()) => {
                self.unacked.clear();
                Ok(())
            }
            Err(err) if err.is_transient() => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Gives back everything handed out and not committed: the next [`next`](Self::next)
    /// starts again with it, in order. For a caller that could not process a batch (its store
    /// was unavailable) and will retry.
    pub fn retry_later(&mut self) {
        self.subscription.redeliver_pending();
    }

    /// Parks an event that decoded but cannot be used (a domain rule refuses it) in the
    /// dead-letter stream with `reason`, counted, and acknowledges it.
    pub async fn reject(
        &mut self,
        received: &Received<M>,
        reason: &'static str,
    ) -> Result<(), BusError> {
        self.seen.insert(received.envelope.id, LOCAL_WINDOW);
        let delivery = Delivery {
            topic: M::TOPIC,
            id: received.delivery_id.clone(),
            bytes: received.envelope.encode(),
            redelivered: false,
        };
        self.dead_letter(&delivery, reason).await
    }

    /// The subscription's consumer group.
    pub fn group(&self) -> &str {
        self.subscription.group()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consumer_span_continues_the_producers_trace() {
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::layer::SubscriberExt;

        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let mut envelope = Envelope::new(
                &levibot_proto::v1::Bar::default(),
                "p",
                levibot_core::TimestampMs::new(1),
            );
            envelope.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into();
            let received = Received {
                delivery_id: "1-0".into(),
                envelope,
                message: levibot_proto::v1::Bar::default(),
            };
            let span = received.span("test.consume");
            assert_eq!(
                levibot_telemetry::trace_id_of(&span).as_deref(),
                Some("0af7651916cd43dd8448eb211c80319c")
            );
        });
    }

    #[test]
    fn recent_ids_forget_the_oldest_past_capacity() {
        let mut ids = RecentIds::default();
        let all: Vec<EventId> = (0..5).map(|_| EventId::new()).collect();
        for id in &all {
            ids.insert(*id, 3);
        }
        assert!(!ids.contains(&all[0]) && !ids.contains(&all[1]));
        assert!(all[2..].iter().all(|id| ids.contains(id)));
        ids.insert(all[4], 3); // re-inserting does not evict
        assert!(ids.contains(&all[2]));
    }
}
