use levibot_core::{Clock, EventId, LiveClock, TimestampMs};
use levibot_proto::v1::EventEnvelope;
use prost::Message;

use crate::{BusMessage, Topic};

/// One event on the bus: id, type, source, the two timestamps, the producer's trace context,
/// and the payload as protobuf bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Unique id; consumers drop redeliveries by it.
    pub id: EventId,
    /// Protobuf type of the payload (`levibot.v1.Bar`).
    pub event_type: String,
    /// The producing service.
    pub source: String,
    /// When the exchange says it happened (receive time when there is no exchange time).
    pub exchange_time: TimestampMs,
    /// When LeviBot received or produced it.
    pub receive_time: TimestampMs,
    /// W3C `traceparent` of the producer, empty when there was none.
    pub traceparent: String,
    /// The encoded message.
    pub payload: Vec<u8>,
}

/// An envelope that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The bytes are not an `EventEnvelope`.
    #[error("undecodable envelope: {0}")]
    Undecodable(String),
    /// The id is not a ULID.
    #[error("bad event id {0:?}")]
    BadId(String),
    /// The payload type is not the one the topic carries.
    #[error("unexpected event type {found:?} on {topic} (expected {expected})")]
    UnexpectedType {
        /// The topic.
        topic: Topic,
        /// What it carries.
        expected: &'static str,
        /// What the envelope says.
        found: String,
    },
    /// The payload does not decode as the topic's type.
    #[error("undecodable {event_type} payload: {message}")]
    UndecodablePayload {
        /// The type it should be.
        event_type: &'static str,
        /// The decoder's complaint.
        message: String,
    },
}

impl EnvelopeError {
    /// A short label for metrics and the dead-letter stream.
    pub fn reason(&self) -> &'static str {
        match self {
            EnvelopeError::Undecodable(_) => "undecodable_envelope",
            EnvelopeError::BadId(_) => "bad_event_id",
            EnvelopeError::UnexpectedType { .. } => "unknown_type",
            EnvelopeError::UndecodablePayload { .. } => "undecodable_payload",
        }
    }
}

impl Envelope {
    /// Wraps `message`, produced by `source`, with a new id, the current span's trace context
    /// and receive time now.
    pub fn new<M: BusMessage>(message: &M, source: &str, exchange_time: TimestampMs) -> Self {
        let traceparent =
            levibot_telemetry::traceparent_of(&tracing::Span::current()).unwrap_or_default();
        Self {
            id: EventId::new(),
            event_type: M::TOPIC.event_type().to_owned(),
            source: source.to_owned(),
            exchange_time,
            receive_time: LiveClock::new().now(),
            traceparent,
            payload: message.encode_to_vec(),
        }
    }

    /// Encodes as a `levibot.v1.EventEnvelope`.
    pub fn encode(&self) -> Vec<u8> {
        EventEnvelope {
            event_id: self.id.to_string(),
            event_type: self.event_type.clone(),
            source: self.source.clone(),
            exchange_time_ms: self.exchange_time.as_i64(),
            receive_time_ms: self.receive_time.as_i64(),
            traceparent: self.traceparent.clone(),
            payload: self.payload.clone(),
        }
        .encode_to_vec()
    }

    /// Decodes a `levibot.v1.EventEnvelope`.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let wire =
            EventEnvelope::decode(bytes).map_err(|e| EnvelopeError::Undecodable(e.to_string()))?;
        let id = wire
            .event_id
            .parse()
            .map_err(|_| EnvelopeError::BadId(wire.event_id.clone()))?;
        Ok(Self {
            id,
            event_type: wire.event_type,
            source: wire.source,
            exchange_time: TimestampMs::new(wire.exchange_time_ms),
            receive_time: TimestampMs::new(wire.receive_time_ms),
            traceparent: wire.traceparent,
            payload: wire.payload,
        })
    }

    /// The payload as `M`, checking that the envelope says it is one.
    pub fn message<M: BusMessage>(&self) -> Result<M, EnvelopeError> {
        let expected = M::TOPIC.event_type();
        if self.event_type != expected {
            return Err(EnvelopeError::UnexpectedType {
                topic: M::TOPIC,
                expected,
                found: self.event_type.clone(),
            });
        }
        M::decode(self.payload.as_slice()).map_err(|e| EnvelopeError::UndecodablePayload {
            event_type: expected,
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use levibot_proto::v1;

    use super::*;

    fn bar() -> v1::Bar {
        v1::Bar {
            symbol: "BTCUSDT".into(),
            open: "1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn round_trips_and_types_its_payload() {
        let envelope = Envelope::new(&bar(), "backend", TimestampMs::new(5));
        let decoded = Envelope::decode(&envelope.encode()).unwrap();
        assert_eq!(decoded, envelope);
        assert_eq!(decoded.event_type, "levibot.v1.Bar");
        assert_eq!(decoded.message::<v1::Bar>().unwrap(), bar());
        let err = decoded.message::<v1::Fill>().unwrap_err();
        assert_eq!(err.reason(), "unknown_type");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(
            Envelope::decode(&[0xff, 0xff, 0xff]).unwrap_err().reason(),
            "undecodable_envelope"
        );
        let mut envelope = Envelope::new(&bar(), "backend", TimestampMs::new(5));
        envelope.payload = vec![0x0a, 0xff];
        assert_eq!(
            envelope.message::<v1::Bar>().unwrap_err().reason(),
            "undecodable_payload"
        );
        let mut wire = EventEnvelope::decode(envelope.encode().as_slice()).unwrap();
        wire.event_id = "nope".into();
        assert_eq!(
            Envelope::decode(&wire.encode_to_vec())
                .unwrap_err()
                .reason(),
            "bad_event_id"
        );
    }
}
