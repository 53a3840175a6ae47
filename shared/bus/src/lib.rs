//! The LeviBot event bus.
//!
//! Every service publishes and consumes through [`EventBus`]: Redis Streams in production
//! ([`RedisBus`]), an in-process twin with the same semantics for `levibot up` on a machine
//! without Redis ([`InProcessBus`]). Topic names are built in one place ([`Topic`]); every event
//! travels in an [`Envelope`] (ULID id, type, source, exchange and receive time, W3C
//! traceparent, protobuf payload).
//!
//! Nothing acknowledged is lost: when Redis cannot take a publish, the event goes to an
//! fsynced on-disk segment log ([`buffer::SegmentLog`]) and is drained to Redis, in order, once
//! Redis is back or the process restarts. Consumers get at-least-once delivery from consumer
//! groups; [`Consumer`] turns it into exactly-once processing by dropping redeliveries by event
//! id, and parks undecodable events in a dead-letter stream.

/// The bus chosen by the configuration.
pub mod any;
/// WebSocket frame batching for the gateway.
pub mod batch;
/// The disk buffer.
pub mod buffer;
/// The typed, idempotent consumer.
pub mod consumer;
/// The event envelope.
pub mod envelope;
/// Errors.
pub mod error;
/// The [`EventBus`] and [`Subscription`] traits.
pub mod event_bus;
/// The in-process implementation.
pub mod memory;
/// Bus metrics.
pub mod metrics;
/// The Redis Streams implementation.
pub mod redis_bus;
/// Topics and the messages they carry.
pub mod topic;

pub use any::{Bus, BusSubscription};
pub use consumer::{Consumer, Received};
pub use envelope::{Envelope, EnvelopeError};
pub use error::BusError;
pub use event_bus::{Delivery, EventBus, StartFrom, Subscription};
pub use memory::InProcessBus;
pub use metrics::BusMetrics;
pub use redis_bus::{RedisBus, RedisBusOptions};
pub use topic::{BusMessage, OverflowPolicy, Topic};
