//! The ESS state as policy-store reports it: pushed on the `risk.ess` topic (each transition
//! as it happens) and polled as a fallback. Fails closed: until policy-store has answered, or
//! while it cannot be reached, the state is `unknown` and blocks orders.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use levibot_bus::{Bus, Consumer, StartFrom};
use levibot_proto::v1::policy_store_service_client::PolicyStoreServiceClient;
use levibot_proto::v1::{self, GetEssRequest};
use levibot_telemetry::InjectTraceContext;
use levibot_trading::{EssState, EssStateSource};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const ARMED: u8 = 0;
const TRIPPED: u8 = 1;
const RESETTING: u8 = 2;
/// policy-store could not be asked: orders are blocked (reported as `unknown`).
const UNKNOWN: u8 = 3;

/// Consumer group of the `risk.ess` readers; each backend process reads every transition.
const GROUP_PREFIX: &str = "backend-ess";

/// The last ESS state read; shared by every engine.
#[derive(Debug, Clone)]
pub struct EssWatch {
    state: Arc<AtomicU8>,
    changes: Arc<watch::Sender<u8>>,
}

fn code_of(state: v1::EssState) -> u8 {
    match state {
        v1::EssState::Armed => ARMED,
        v1::EssState::Tripped => TRIPPED,
        v1::EssState::Resetting => RESETTING,
        v1::EssState::Unspecified => UNKNOWN,
    }
}

impl EssWatch {
    /// A watch starting `unknown` (closed) until the first answer.
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: Arc::new(AtomicU8::new(UNKNOWN)),
            changes: Arc::new(watch::channel(UNKNOWN).0),
        }
    }

    /// `armed`, `tripped`, `resetting` or `unknown`.
    #[must_use]
    pub fn describe(&self) -> &'static str {
        match self.state.load(Ordering::Relaxed) {
            ARMED => "armed",
            TRIPPED => "tripped",
            RESETTING => "resetting",
            _ => "unknown",
        }
    }

    /// Whether the last state read is TRIPPED (not merely unknown).
    #[must_use]
    pub fn is_tripped(&self) -> bool {
        self.state.load(Ordering::Relaxed) == TRIPPED
    }

    /// Notified at every change of state.
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<u8> {
        self.changes.subscribe()
    }

    fn set(&self, code: u8) {
        let previous = self.state.swap(code, Ordering::Relaxed);
        if previous != code {
            self.changes.send_replace(code);
        }
    }

    /// Reads every transition published on `risk.ess` until `shutdown`: the state changes
    /// the moment policy-store publishes it, not at the next poll.
    pub async fn follow_events(self, bus: Bus, consumer: String, shutdown: CancellationToken) {
        let group = format!("{GROUP_PREFIX}-{consumer}");
        let mut events = loop {
            match Consumer::<Bus, v1::EssStatus>::new(
                bus.clone(),
                &group,
                &consumer,
                StartFrom::New,
                bus.metrics(),
            )
            .await
            {
                Ok(events) => break events,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot join risk.ess yet; polling only");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        loop {
            let batch = tokio::select! {
                () = shutdown.cancelled() => return,
                batch = events.next(64, Duration::from_millis(500)) => batch,
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(err) => {
                    tracing::warn!(error = %err, "risk.ess read failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            // the newest transition wins (they arrive in order)
            if let Some(last) = batch.last() {
                let status = &last.message;
                tracing::info!(state = ?status.state(), trigger = %status.trigger, reason = %status.reason, "ESS transition");
                self.set(code_of(status.state()));
            }
            if let Err(err) = events.commit(&batch).await {
                tracing::warn!(error = %err, "cannot acknowledge ESS events");
            }
        }
    }

    /// Polls `client` every `every` until `shutdown`.
    pub async fn poll(
        self,
        mut client: PolicyStoreServiceClient<InjectTraceContext<Channel>>,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        loop {
            let answer = tokio::time::timeout(
                every.max(Duration::from_millis(200)),
                client.get_ess(GetEssRequest {}),
            )
            .await;
            let code = match answer {
                Ok(Ok(status)) => code_of(status.into_inner().state()),
                Ok(Err(status)) => {
                    tracing::warn!(code = %status.code(), message = status.message(), "cannot read the ESS state; orders blocked");
                    UNKNOWN
                }
                Err(_) => {
                    tracing::warn!("policy-store did not answer GetEss in time; orders blocked");
                    UNKNOWN
                }
            };
            self.set(code);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}

impl super::TradingDesk {
    /// Cancels every working order each time the ESS trips, until `shutdown`.
    pub async fn cancel_on_trip(self: Arc<Self>, shutdown: CancellationToken) {
        let mut changes = self.ess.subscribe();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
            }
            if *changes.borrow_and_update() == TRIPPED {
                let cancelled = self.cancel_all_open().await;
                tracing::warn!(cancelled, "ESS tripped: working orders cancelled");
            }
        }
    }
}

impl Default for EssWatch {
    fn default() -> Self {
        Self::new()
    }
}

impl EssStateSource for EssWatch {
    fn ess_state(&self) -> EssState {
        match self.state.load(Ordering::Relaxed) {
            ARMED => EssState::Armed,
            RESETTING => EssState::Resetting,
            // tripped, or unknown: fail closed
            _ => EssState::Tripped,
        }
    }
}
