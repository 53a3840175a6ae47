//! The ESS state as policy-store reports it: pushed on the `risk.ess` topic (each transition
//! as it happens) and polled as a fallback. Fails closed: until policy-store has answered, or
//! while it cannot be reached, the state is `unknown` and blocks orders.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
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
    /// The transition sequence number of the last status read (0: none yet).
    seq: Arc<AtomicU64>,
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
            seq: Arc::new(AtomicU64::new(0)),
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

    /// The transition sequence number (`EssStatus.seq`) of the last status read from the bus
    /// or the poll; 0 until one was read. Kept while policy-store cannot be reached.
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Records a status read: its sequence number (`None` when nothing was read), then its
    /// state, so a subscriber woken by the state change reads the matching sequence number.
    fn set(&self, code: u8, seq: Option<u64>) {
        if let Some(seq) = seq {
            self.seq.store(seq, Ordering::Release);
        }
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
                tracing::info!(state = ?status.state(), seq = status.seq, trigger = %status.trigger, reason = %status.reason, "ESS transition");
                self.set(code_of(status.state()), Some(status.seq));
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
            let (code, seq) = match answer {
                Ok(Ok(status)) => {
                    let status = status.into_inner();
                    (code_of(status.state()), Some(status.seq))
                }
                Ok(Err(status)) => {
                    tracing::warn!(code = %status.code(), message = status.message(), "cannot read the ESS state; orders blocked");
                    (UNKNOWN, None)
                }
                Err(_) => {
                    tracing::warn!("policy-store did not answer GetEss in time; orders blocked");
                    (UNKNOWN, None)
                }
            };
            self.set(code, seq);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}

impl super::TradingDesk {
    /// Each time the ESS trips, until `shutdown`: cancels every working order, then, when
    /// the policy in force says `ess_flatten_on_trip`, sells every held position
    /// ([`TradingDesk::flatten_on_trip`](super::TradingDesk::flatten_on_trip)).
    pub async fn cancel_on_trip(self: Arc<Self>, shutdown: CancellationToken) {
        let mut changes = self.ess.subscribe();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
            }
            if *changes.borrow_and_update() == TRIPPED {
                self.on_trip(self.ess.seq()).await;
            }
        }
    }

    /// One trip (transition `seq`): cancel, then flatten if the policy asks for it.
    pub(crate) async fn on_trip(&self, seq: u64) {
        let cancelled = self.cancel_all_open().await;
        tracing::warn!(cancelled, seq, "ESS tripped: working orders cancelled");
        if self.flatten_on_trip_enabled() {
            self.flatten_on_trip(seq).await;
        }
    }
}

impl Default for EssWatch {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
impl EssWatch {
    /// Sets the state as a read from policy-store would (tests).
    pub(crate) fn set_for_test(&self, state: EssState, seq: u64) {
        let code = match state {
            EssState::Armed => ARMED,
            EssState::Tripped => TRIPPED,
            EssState::Resetting => RESETTING,
        };
        self.set(code, Some(seq));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_transition_seq_is_kept_and_read_before_the_change_is_seen() {
        let watch = EssWatch::new();
        let mut changes = watch.subscribe();
        assert_eq!(watch.seq(), 0);
        watch.set_for_test(EssState::Tripped, 5);
        assert!(changes.has_changed().unwrap());
        assert_eq!(*changes.borrow_and_update(), TRIPPED);
        assert_eq!(watch.seq(), 5);
        // policy-store unreachable: unknown (closed), the last seq kept
        watch.set(UNKNOWN, None);
        assert_eq!(watch.seq(), 5);
        assert_eq!(watch.ess_state(), EssState::Tripped);
        // the same trip read again after the outage: a change of state, the same seq, so
        // the flatten derives the same client order ids and is refused as a duplicate
        watch.set_for_test(EssState::Tripped, 5);
        assert_eq!(*changes.borrow_and_update(), TRIPPED);
        assert_eq!(watch.seq(), 5);
        // redelivered while tripped: no change to react to
        watch.set_for_test(EssState::Tripped, 5);
        assert!(!changes.has_changed().unwrap());
    }
}
