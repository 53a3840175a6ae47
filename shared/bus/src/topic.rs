use std::fmt;

use levibot_proto::v1;

/// A bus topic. Names are built here and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Closed bars (`md.bar`).
    MdBar,
    /// Public trades (`md.trade`).
    MdTrade,
    /// Trading signals (`signal`).
    Signal,
    /// Orders and their state changes (`order`).
    Order,
    /// Fills (`fill`).
    Fill,
    /// Emergency stop system transitions (`risk.ess`).
    RiskEss,
    /// New risk policy versions (`policy.updated`).
    PolicyUpdated,
    /// Model promotions and rollbacks (`model.promoted`).
    ModelPromoted,
    /// Fleet health reports (`health`).
    Health,
}

/// What a full disk buffer does with a topic's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// The publisher waits until there is room: nothing is dropped.
    Backpressure,
    /// The oldest buffered events are dropped, and counted.
    DropOldest,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 9] = [
        Topic::MdBar,
        Topic::MdTrade,
        Topic::Signal,
        Topic::Order,
        Topic::Fill,
        Topic::RiskEss,
        Topic::PolicyUpdated,
        Topic::ModelPromoted,
        Topic::Health,
    ];

    /// The topic's name, as in the design (`md.bar`, `risk.ess`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Topic::MdBar => "md.bar",
            Topic::MdTrade => "md.trade",
            Topic::Signal => "signal",
            Topic::Order => "order",
            Topic::Fill => "fill",
            Topic::RiskEss => "risk.ess",
            Topic::PolicyUpdated => "policy.updated",
            Topic::ModelPromoted => "model.promoted",
            Topic::Health => "health",
        }
    }

    /// The topic whose [`name`](Self::name) is `name`.
    pub fn from_name(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The Redis stream key of the topic under `prefix` (`levibot:md.bar`).
    pub fn stream_key(self, prefix: &str) -> String {
        format!("{prefix}{}", self.name())
    }

    /// The protobuf message type its events carry (`levibot.v1.Bar`).
    pub const fn event_type(self) -> &'static str {
        match self {
            Topic::MdBar => "levibot.v1.Bar",
            Topic::MdTrade => "levibot.v1.Trade",
            Topic::Signal => "levibot.v1.Signal",
            Topic::Order => "levibot.v1.Order",
            Topic::Fill => "levibot.v1.Fill",
            Topic::RiskEss => "levibot.v1.EssStatus",
            Topic::PolicyUpdated => "levibot.v1.RiskPolicy",
            Topic::ModelPromoted => "levibot.v1.RegisteredModel",
            Topic::Health => "levibot.v1.FleetHealth",
        }
    }

    /// Trading-related topics wait for room in a full buffer; market data drops its oldest.
    pub const fn overflow_policy(self) -> OverflowPolicy {
        match self {
            Topic::MdBar | Topic::MdTrade => OverflowPolicy::DropOldest,
            _ => OverflowPolicy::Backpressure,
        }
    }

    /// Approximate maximum stream length kept in Redis (`XADD MAXLEN ~`).
    pub const fn max_len(self) -> usize {
        match self {
            Topic::MdTrade => 2_000_000,
            Topic::MdBar => 1_000_000,
            _ => 500_000,
        }
    }

    /// A one-byte code for the disk buffer's records.
    pub(crate) const fn code(self) -> u8 {
        match self {
            Topic::MdBar => 1,
            Topic::MdTrade => 2,
            Topic::Signal => 3,
            Topic::Order => 4,
            Topic::Fill => 5,
            Topic::RiskEss => 6,
            Topic::PolicyUpdated => 7,
            Topic::ModelPromoted => 8,
            Topic::Health => 9,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.code() == code)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A protobuf message that travels on one topic.
pub trait BusMessage: prost::Message + Default {
    /// The topic it travels on.
    const TOPIC: Topic;
}

macro_rules! bus_messages {
    ($($ty:ty => $topic:expr),* $(,)?) => {
        $(impl BusMessage for $ty { const TOPIC: Topic = $topic; })*
    };
}

bus_messages! {
    v1::Bar => Topic::MdBar,
    v1::Trade => Topic::MdTrade,
    v1::Signal => Topic::Signal,
    v1::Order => Topic::Order,
    v1::Fill => Topic::Fill,
    v1::EssStatus => Topic::RiskEss,
    v1::RiskPolicy => Topic::PolicyUpdated,
    v1::RegisteredModel => Topic::ModelPromoted,
    v1::FleetHealth => Topic::Health,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_codes_and_types_are_distinct_and_round_trip() {
        let mut names = std::collections::HashSet::new();
        let mut codes = std::collections::HashSet::new();
        for topic in Topic::ALL {
            assert!(names.insert(topic.name()));
            assert!(codes.insert(topic.code()));
            assert_eq!(Topic::from_name(topic.name()), Some(topic));
            assert_eq!(Topic::from_code(topic.code()), Some(topic));
        }
        assert_eq!(Topic::from_name("md.candles"), None);
        assert_eq!(Topic::from_code(0), None);
    }

    #[test]
    fn only_market_data_may_be_dropped() {
        for topic in Topic::ALL {
            let droppable = topic.overflow_policy() == OverflowPolicy::DropOldest;
            assert_eq!(droppable, topic.name().starts_with("md."), "{topic}");
        }
        assert_eq!(Topic::Fill.stream_key("lb:"), "lb:fill");
    }
}
