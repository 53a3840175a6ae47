//! The ESS state as policy-store reports it, polled; fails closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use levibot_proto::v1::policy_store_service_client::PolicyStoreServiceClient;
use levibot_proto::v1::{self, GetEssRequest};
use levibot_telemetry::InjectTraceContext;
use levibot_trading::{EssState, EssStateSource};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const ARMED: u8 = 0;
const TRIPPED: u8 = 1;
const RESETTING: u8 = 2;
/// policy-store could not be asked: orders are blocked (reported as `unknown`).
const UNKNOWN: u8 = 3;
/// policy-store answers that it does not serve the ESS yet (UNIMPLEMENTED): the state
/// machine arrives with the policy-store work; until then the switch counts as armed.
const NOT_SERVED: u8 = 4;

/// The last ESS state read; shared by every engine.
#[derive(Debug, Clone)]
pub struct EssWatch {
    state: Arc<AtomicU8>,
}

impl EssWatch {
    /// A watch starting `unknown` (closed) until the first answer.
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: Arc::new(AtomicU8::new(UNKNOWN)),
        }
    }

    /// `armed`, `tripped`, `resetting`, `unknown` or `not_served_yet`.
    #[must_use]
    pub fn describe(&self) -> &'static str {
        match self.state.load(Ordering::Relaxed) {
            ARMED => "armed",
            TRIPPED => "tripped",
            RESETTING => "resetting",
            NOT_SERVED => "not_served_yet",
            _ => "unknown",
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
                Ok(Ok(status)) => match status.into_inner().state() {
                    v1::EssState::Armed => ARMED,
                    v1::EssState::Tripped => TRIPPED,
                    v1::EssState::Resetting => RESETTING,
                    v1::EssState::Unspecified => UNKNOWN,
                },
                Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => NOT_SERVED,
                Ok(Err(status)) => {
                    tracing::warn!(code = %status.code(), message = status.message(), "cannot read the ESS state; orders blocked");
                    UNKNOWN
                }
                Err(_) => {
                    tracing::warn!("policy-store did not answer GetEss in time; orders blocked");
                    UNKNOWN
                }
            };
            self.state.store(code, Ordering::Relaxed);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
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
            ARMED | NOT_SERVED => EssState::Armed,
            RESETTING => EssState::Resetting,
            // tripped, or unknown: fail closed
            _ => EssState::Tripped,
        }
    }
}
