use std::{future::Future, time::Duration};

use levibot_core::EventId;

use crate::{BusError, Envelope, Topic};

/// Where a new consumer group starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// Every event still in the stream.
    Beginning,
    /// Only events published after the group is created.
    New,
}

/// One event handed to a consumer, not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The topic.
    pub topic: Topic,
    /// The bus's id of this entry (a Redis stream id), used to acknowledge it.
    pub id: String,
    /// The encoded envelope.
    pub bytes: Vec<u8>,
    /// True when it was delivered before and not acknowledged (a retry or a reclaim).
    pub redelivered: bool,
}

/// A consumer's view of one topic in one consumer group.
pub trait Subscription: Send {
    /// Up to `max` deliveries: first this consumer's unacknowledged ones, then entries
    /// reclaimed from consumers idle too long, then new ones, waiting up to `wait` for any.
    fn next(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Delivery>, BusError>> + Send;

    /// Makes the next call start again with this consumer's unacknowledged entries: a caller
    /// that could not process what it was handed calls this, so nothing is skipped.
    fn redeliver_pending(&mut self);

    /// The topic.
    fn topic(&self) -> Topic;

    /// The consumer group.
    fn group(&self) -> &str;
}

/// The event bus every service publishes and consumes through.
///
/// A publish that returns `Ok` is durable: in the bus, or in the disk buffer that drains to
/// it. Delivery is at least once; [`crate::Consumer`] makes processing exactly once.
pub trait EventBus: Clone + Send + Sync + 'static {
    /// The subscription type.
    type Subscription: Subscription;

    /// Publishes one event.
    fn publish(
        &self,
        topic: Topic,
        envelope: &Envelope,
    ) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Publishes events in order, as one batch.
    fn publish_batch(
        &self,
        topic: Topic,
        envelopes: &[Envelope],
    ) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Joins (creating when needed) consumer group `group` on `topic` as `consumer`.
    fn subscribe(
        &self,
        topic: Topic,
        group: &str,
        consumer: &str,
        start: StartFrom,
    ) -> impl Future<Output = Result<Self::Subscription, BusError>> + Send;

    /// Acknowledges deliveries.
    fn ack(
        &self,
        topic: Topic,
        group: &str,
        ids: &[String],
    ) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Acknowledges deliveries and records their events as processed by `group`, atomically
    /// where the bus can, so a restarted consumer does not process them again.
    fn ack_processed(
        &self,
        topic: Topic,
        group: &str,
        ids: &[String],
        events: &[EventId],
    ) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Which of `events` `group` has already processed.
    fn processed(
        &self,
        topic: Topic,
        group: &str,
        events: &[EventId],
    ) -> impl Future<Output = Result<Vec<bool>, BusError>> + Send;

    /// Parks a delivery that cannot be processed in the dead-letter stream, with `reason`,
    /// and acknowledges it.
    fn dead_letter(
        &self,
        group: &str,
        delivery: &Delivery,
        reason: &str,
    ) -> impl Future<Output = Result<(), BusError>> + Send;
}

/// Rejects an envelope whose type is not the topic's.
pub(crate) fn check_type(topic: Topic, envelope: &Envelope) -> Result<(), BusError> {
    if envelope.event_type == topic.event_type() {
        Ok(())
    } else {
        Err(BusError::WrongType {
            topic,
            expected: topic.event_type(),
            found: envelope.event_type.clone(),
        })
    }
}
