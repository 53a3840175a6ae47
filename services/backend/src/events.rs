//! The backend's live event feed: what engines, the risk manager and the executor do, fanned
//! out to WebSocket clients.

use serde::Serialize;
use tokio::sync::broadcast;

/// One event on the feed, serialized as `{"type": ..., ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BackendEvent {
    /// An engine changed state.
    Engine {
        /// The symbol.
        symbol: String,
        /// The new state.
        state: String,
    },
    /// A signal and the risk manager's decision on it.
    Signal {
        /// The symbol.
        symbol: String,
        /// The signal id.
        signal_id: String,
        /// BUY or SELL.
        side: String,
        /// Whether the risk manager approved it.
        approved: bool,
        /// The refusal reason, empty when approved.
        reason: String,
    },
    /// An order changed state.
    Order {
        /// The symbol.
        symbol: String,
        /// The client order id.
        client_order_id: String,
        /// The new status.
        status: String,
    },
    /// A fill.
    Fill {
        /// The symbol.
        symbol: String,
        /// The client order id.
        client_order_id: String,
        /// Decimal price as a string.
        price: String,
        /// Decimal quantity as a string.
        quantity: String,
    },
    /// A trading switch changed.
    Gates {
        /// Whether trading is enabled.
        trading_enabled: bool,
        /// Whether the kill switch is on.
        kill_switch: bool,
    },
}

/// A bounded broadcast of [`BackendEvent`]s; slow receivers miss the oldest events (and are
/// told how many), publishers never wait.
#[derive(Debug, Clone)]
pub struct EventHub {
    sender: broadcast::Sender<BackendEvent>,
}

impl EventHub {
    /// A hub keeping up to `capacity` events for slow receivers.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }

    /// Publishes an event (dropped if nobody listens).
    pub fn publish(&self, event: BackendEvent) {
        let _ = self.sender.send(event);
    }

    /// A new receiver of every later event.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<BackendEvent> {
        self.sender.subscribe()
    }
}
