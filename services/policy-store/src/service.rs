//! [`PolicyStore`]: the async shell around the policy document and the ESS state machine. It
//! loads both from [`Storage`] at start, serializes every change behind one lock, stores each
//! change before it takes effect, then broadcasts it (watch streams, the bus) and audits it.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, stream};
use levibot_bus::{Bus, Envelope, EventBus, Topic};
use levibot_config::{LaunchProfile, TradingConfig};
use levibot_core::Clock;
use levibot_proto::v1;
use levibot_server::CancellationToken;
use serde_json::{Value, json};
use tokio::sync::{Mutex, broadcast, mpsc, watch};

use crate::conditions::ConditionSource;
use crate::error::ApiError;
use crate::ess::{
    Caller, CallerRole, Ess, EssState, EssStatus, Transition, TripTrigger, checked_reason,
};
use crate::metrics::PolicyStoreMetrics;
use crate::policy::{Author, CUSTOM_PROFILE, PolicyDocument, StoredPolicy};
use crate::storage::{AuditRecord, NewPolicyVersion, Storage, StorageError};

/// How long `GetPolicy` waits for the start-up load before answering UNAVAILABLE.
pub const LOAD_WAIT: Duration = Duration::from_secs(5);
/// Newest entries returned by the history RPCs when the request says 0, and at most.
pub const DEFAULT_HISTORY_LIMIT: u32 = 100;
const MAX_HISTORY_LIMIT: u32 = 1000;
/// How many times a trip is tried again after another writer stored a transition first.
const TRIP_ATTEMPTS: usize = 3;
/// Backoff of the start-up load and of storing a trip that storage refused.
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// The bus source of published events.
const SOURCE: &str = "policy-store";

/// What the service is built from.
pub struct PolicyStoreParts {
    /// Where versions, transitions and audit entries are kept.
    pub storage: Arc<dyn Storage>,
    /// What a reset asks whether the tripping condition is gone.
    pub conditions: Arc<dyn ConditionSource>,
    /// The clock every transition is stamped with.
    pub clock: Arc<dyn Clock>,
    /// Where new versions and transitions are published (`policy.updated`, `risk.ess`).
    pub bus: Option<Bus>,
    /// The service's metrics.
    pub metrics: PolicyStoreMetrics,
    /// Stored as version 1 when storage holds no policy yet.
    pub initial: PolicyDocument,
    /// The trading section `load_profile` presets take their exposure limit and throttle from.
    pub trading: TradingConfig,
    /// Ends watch streams and background work.
    pub shutdown: CancellationToken,
}

struct Loaded {
    policy: Arc<StoredPolicy>,
    ess: Ess,
    /// A trip in force that storage has not taken yet (it is retried in the background).
    unstored: Option<Transition>,
}

enum Event {
    Policy(Arc<StoredPolicy>),
    Ess(v1::EssStatus),
}

struct Inner {
    storage: Arc<dyn Storage>,
    conditions: Arc<dyn ConditionSource>,
    clock: Arc<dyn Clock>,
    metrics: PolicyStoreMetrics,
    initial: PolicyDocument,
    trading: TradingConfig,
    shutdown: CancellationToken,
    state: Mutex<Option<Loaded>>,
    policy: watch::Sender<Option<Arc<StoredPolicy>>>,
    policy_updates: broadcast::Sender<Arc<StoredPolicy>>,
    ess: watch::Sender<Option<EssStatus>>,
    events: mpsc::UnboundedSender<Event>,
}

/// The policy store; clones share it.
#[derive(Clone)]
pub struct PolicyStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PolicyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStore").finish_non_exhaustive()
    }
}

/// Publishes what the store hands it, in order, until shutdown; run it (and await it) next to
/// the store.
pub struct Publisher {
    bus: Option<Bus>,
    events: mpsc::UnboundedReceiver<Event>,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    /// Publishes until shutdown, then whatever is still queued.
    pub async fn run(mut self) {
        loop {
            let event = tokio::select! {
                biased;
                event = self.events.recv() => event,
                () = self.shutdown.cancelled() => None,
            };
            match event {
                Some(event) => self.publish(event).await,
                None => break,
            }
        }
        while let Ok(event) = self.events.try_recv() {
            self.publish(event).await;
        }
    }

    async fn publish(&self, event: Event) {
        let Some(bus) = &self.bus else { return };
        let (topic, envelope) = match &event {
            Event::Policy(policy) => (
                Topic::PolicyUpdated,
                Envelope::new(&policy.to_proto(), SOURCE, policy.created),
            ),
            Event::Ess(status) => (
                Topic::RiskEss,
                Envelope::new(
                    status,
                    SOURCE,
                    levibot_core::TimestampMs::new(status.since_ms),
                ),
            ),
        };
        if let Err(err) = bus.publish(topic, &envelope).await {
            tracing::error!(%topic, error = %err, "cannot publish");
        }
    }
}

/// The wire form of an ESS status judged by `policy`.
pub fn status_to_wire(status: &EssStatus, policy: Option<&StoredPolicy>) -> v1::EssStatus {
    v1::EssStatus {
        state: match status.state {
            EssState::Armed => v1::EssState::Armed,
            EssState::Tripped => v1::EssState::Tripped,
            EssState::Resetting => v1::EssState::Resetting,
        }
        .into(),
        reason: status.reason.clone(),
        since_ms: status.since.as_i64(),
        cooldown_until_ms: status.cooldown_until.as_i64(),
        trigger: status.trigger.clone(),
        seq: status.seq,
        policy_version: policy.map_or(0, |p| p.version),
        flatten_on_trip: policy.is_some_and(|p| p.document.ess_flatten_on_trip),
    }
}

fn caller_of(actor: Option<&v1::Actor>) -> Result<Caller, ApiError> {
    let actor = actor.ok_or_else(|| {
        ApiError::PermissionDenied("an actor (name and role) is required".to_owned())
    })?;
    Ok(Caller::parse(&actor.name, &actor.role)?)
}

/// `name (role)` of the caller for the audit log: control characters replaced, at most 200
/// characters, whatever a client sends.
fn describe_actor(actor: Option<&v1::Actor>) -> String {
    let text = actor.map_or_else(
        || "unknown (none)".to_owned(),
        |a| format!("{} ({})", a.name.trim(), a.role.trim()),
    );
    text.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn transitions_json(transitions: &[Transition]) -> Value {
    Value::Array(
        transitions
            .iter()
            .map(|t| {
                json!({
                    "seq": t.seq,
                    "from": t.from.as_str(),
                    "to": t.to.as_str(),
                    "trigger": t.trigger,
                    "reason": t.reason,
                })
            })
            .collect(),
    )
}

fn clamp_limit(limit: u32) -> u32 {
    if limit == 0 {
        DEFAULT_HISTORY_LIMIT
    } else {
        limit.min(MAX_HISTORY_LIMIT)
    }
}

impl PolicyStore {
    /// The store (not loaded yet: run [`load_until_done`](Self::load_until_done)) and its
    /// publisher.
    pub fn new(parts: PolicyStoreParts) -> (Self, Publisher) {
        let (events, queued) = mpsc::unbounded_channel();
        let (policy_updates, _) = broadcast::channel(64);
        let store = Self {
            inner: Arc::new(Inner {
                storage: parts.storage,
                conditions: parts.conditions,
                clock: parts.clock,
                metrics: parts.metrics,
                initial: parts.initial,
                trading: parts.trading,
                shutdown: parts.shutdown.clone(),
                state: Mutex::new(None),
                policy: watch::Sender::new(None),
                policy_updates,
                ess: watch::Sender::new(None),
                events,
            }),
        };
        let publisher = Publisher {
            bus: parts.bus,
            events: queued,
            shutdown: parts.shutdown,
        };
        (store, publisher)
    }

    fn now(&self) -> levibot_core::TimestampMs {
        self.inner.clock.now()
    }

    async fn audit(&self, actor: String, action: &str, detail: Value) {
        let record = AuditRecord {
            at: self.now(),
            actor,
            action: action.to_owned(),
            detail,
        };
        if let Err(err) = self.inner.storage.append_audit(record).await {
            self.inner.metrics.audit_failures.inc();
            tracing::error!(action, error = %err, "cannot write the audit log");
        }
    }

    fn publish_ess(&self, status: &EssStatus, policy: &StoredPolicy) {
        self.inner.metrics.set_ess_state(status.state);
        self.inner.ess.send_replace(Some(status.clone()));
        let _ = self
            .inner
            .events
            .send(Event::Ess(status_to_wire(status, Some(policy))));
    }

    fn publish_policy(&self, policy: &Arc<StoredPolicy>) {
        self.inner
            .metrics
            .policy_version
            .set(i64::try_from(policy.version).unwrap_or(i64::MAX));
        // current first, then the update: a watcher subscribing in between dedupes by version
        self.inner.policy.send_replace(Some(Arc::clone(policy)));
        let _ = self.inner.policy_updates.send(Arc::clone(policy));
        let _ = self.inner.events.send(Event::Policy(Arc::clone(policy)));
    }

    /// Applies a stored transition to `loaded` and tells everyone.
    fn took_effect(&self, loaded: &mut Loaded, t: &Transition) -> Result<(), ApiError> {
        loaded.ess.apply(t)?;
        self.inner
            .metrics
            .ess_transitions
            .with_label_values(&[t.to.as_str()])
            .inc();
        self.publish_ess(loaded.ess.status(), &loaded.policy);
        tracing::info!(seq = t.seq, from = %t.from, to = %t.to, trigger = %t.trigger, reason = %t.reason, actor = %t.actor, "ess transition");
        Ok(())
    }

    /// Re-reads the newest transition after another writer stored one.
    async fn refresh_ess(&self, loaded: &mut Loaded) -> Result<(), ApiError> {
        let latest = self.inner.storage.list_transitions(1).await?;
        loaded.ess = Ess::from_latest(latest.first());
        self.publish_ess(loaded.ess.status(), &loaded.policy);
        Ok(())
    }

    /// Loads the newest policy (storing version 1 from the configuration when there is none)
    /// and the ESS state (a RESETTING found here goes back to TRIPPED). Does nothing once
    /// loaded.
    pub async fn load(&self) -> Result<(), ApiError> {
        let mut guard = self.inner.state.lock().await;
        if guard.is_some() {
            return Ok(());
        }
        let storage = &self.inner.storage;
        let mut created = false;
        let policy = match storage.latest_policy().await? {
            Some(policy) => policy,
            None => {
                let initial = NewPolicyVersion {
                    document: self.inner.initial.clone(),
                    created: self.now(),
                    author: Author {
                        name: SOURCE.to_owned(),
                        role: CallerRole::System.as_str().to_owned(),
                    },
                    reason: format!(
                        "initial policy from the configuration (profile {})",
                        self.inner.initial.profile
                    ),
                };
                match storage.append_policy(0, initial).await {
                    Ok(policy) => {
                        created = true;
                        policy
                    }
                    Err(StorageError::Conflict(_)) => storage
                        .latest_policy()
                        .await?
                        .ok_or_else(|| ApiError::Unavailable("no policy stored yet".to_owned()))?,
                    Err(err) => return Err(err.into()),
                }
            }
        };
        let policy = Arc::new(policy);
        let latest = storage.list_transitions(1).await?;
        let mut loaded = Loaded {
            policy: Arc::clone(&policy),
            ess: Ess::from_latest(latest.first()),
            unstored: None,
        };
        let resumed = loaded.ess.resume(self.now());
        if let Some(t) = &resumed {
            storage.append_transition(t).await?;
        }
        self.publish_policy(&policy);
        match &resumed {
            Some(t) => self.took_effect(&mut loaded, t)?,
            None => {
                // the state in force, not a transition: watchers and GetEss only
                self.inner.metrics.set_ess_state(loaded.ess.state());
                self.inner
                    .ess
                    .send_replace(Some(loaded.ess.status().clone()));
            }
        }
        tracing::info!(policy_version = policy.version, ess = %loaded.ess.state(), ess_seq = loaded.ess.status().seq, "policy store loaded");
        *guard = Some(loaded);
        drop(guard);
        let system = Caller::policy_store().to_string();
        if created {
            self.audit(
                system.clone(),
                "policy.initial",
                json!({ "version": policy.version, "profile": policy.document.profile, "ok": true }),
            )
            .await;
        }
        if let Some(t) = resumed {
            self.audit(
                system,
                "ess.resume",
                json!({ "ok": true, "transitions": transitions_json(&[t]) }),
            )
            .await;
        }
        Ok(())
    }

    /// [`load`](Self::load), retried with backoff until it succeeds or shutdown; then keeps
    /// storing a trip that storage did not take, until shutdown.
    pub async fn load_until_done(self) {
        let shutdown = self.inner.shutdown.clone();
        let mut backoff = RETRY_MIN;
        loop {
            match self.load().await {
                Ok(()) => break,
                Err(err) => {
                    tracing::warn!(error = %err, retry_in_ms = backoff.as_millis(), "cannot load the policy and the ESS state yet");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(RETRY_MAX);
        }
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            self.store_unstored().await;
        }
    }

    /// Tries once to store a trip in force that storage did not take.
    pub async fn store_unstored(&self) {
        let mut guard = self.inner.state.lock().await;
        let Some(loaded) = guard.as_mut() else { return };
        let Some(pending) = loaded.unstored.clone() else {
            return;
        };
        match self.inner.storage.append_transition(&pending).await {
            Ok(()) => {
                loaded.unstored = None;
                tracing::info!(
                    seq = pending.seq,
                    "stored the ess trip that storage refused before"
                );
            }
            Err(StorageError::Conflict(_)) => {
                // someone else wrote: trip again on top of what is stored, unless tripped
                let Ok(latest) = self.inner.storage.list_transitions(1).await else {
                    return;
                };
                let stored = Ess::from_latest(latest.first());
                let mut again = pending;
                again.seq = stored.status().seq + 1;
                again.from = stored.state();
                if stored.state() == EssState::Tripped {
                    loaded.ess = stored;
                    loaded.unstored = None;
                } else if self.inner.storage.append_transition(&again).await.is_ok() {
                    let mut ess = stored;
                    if ess.apply(&again).is_ok() {
                        loaded.ess = ess;
                        loaded.unstored = None;
                    }
                }
                self.publish_ess(loaded.ess.status(), &loaded.policy);
            }
            Err(err) => {
                tracing::warn!(error = %err, seq = pending.seq, "the ess trip is still not stored");
            }
        }
    }

    /// The policy in force, waiting up to [`LOAD_WAIT`] for the start-up load.
    pub async fn policy(&self) -> Result<Arc<StoredPolicy>, ApiError> {
        let mut current = self.inner.policy.subscribe();
        let loaded = tokio::time::timeout(LOAD_WAIT, current.wait_for(Option::is_some)).await;
        match loaded {
            Ok(Ok(policy)) => policy
                .clone()
                .ok_or_else(|| ApiError::Unavailable("policy not loaded yet".to_owned())),
            _ => Err(ApiError::Unavailable(
                "the policy is not loaded yet (is the trade-store reachable?)".to_owned(),
            )),
        }
    }

    /// The policy in force now, if loaded.
    pub fn current_policy(&self) -> Option<Arc<StoredPolicy>> {
        self.inner.policy.borrow().clone()
    }

    /// The policy in force (once loaded), then every new version, until shutdown.
    pub fn watch_policy(&self) -> impl Stream<Item = Arc<StoredPolicy>> + Send + 'static {
        struct WatchState {
            last: u64,
            updates: broadcast::Receiver<Arc<StoredPolicy>>,
            current: watch::Receiver<Option<Arc<StoredPolicy>>>,
            shutdown: CancellationToken,
        }
        // updates first, then the current version: nothing published in between is missed
        let updates = self.inner.policy_updates.subscribe();
        let state = WatchState {
            last: 0,
            updates,
            current: self.inner.policy.subscribe(),
            shutdown: self.inner.shutdown.clone(),
        };
        stream::unfold(state, |mut s| async move {
            if s.last == 0 {
                let shutdown = s.shutdown.clone();
                let first = tokio::select! {
                    () = shutdown.cancelled() => return None,
                    first = s.current.wait_for(Option::is_some) => first.ok()?.clone()?,
                };
                s.last = first.version;
                return Some((first, s));
            }
            loop {
                let shutdown = s.shutdown.clone();
                let next = tokio::select! {
                    () = shutdown.cancelled() => return None,
                    next = s.updates.recv() => next,
                };
                let next = match next {
                    Ok(policy) => policy,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "a policy watcher fell behind; sending the newest");
                        match s.current.borrow().clone() {
                            Some(policy) => policy,
                            None => continue,
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                };
                if next.version > s.last {
                    s.last = next.version;
                    return Some((next, s));
                }
            }
        })
    }

    /// `PutPolicy`: stores a new version (admin, with a reason) and puts it in force. Audited
    /// whatever the outcome.
    pub async fn put_policy(
        &self,
        request: v1::PutPolicyRequest,
    ) -> Result<Arc<StoredPolicy>, ApiError> {
        let actor = describe_actor(request.actor.as_ref());
        let params = json!({
            "load_profile": request.load_profile,
            "expected_version": request.expected_version,
            "reason": request.reason,
            "document": request.policy.as_ref().and_then(|p| PolicyDocument::from_proto(p).ok()).map(|d| d.to_json()),
        });
        let outcome = self.put_policy_inner(request).await;
        let detail = match &outcome {
            Ok(policy) => json!({ "params": params, "ok": true, "version": policy.version }),
            Err(err) => {
                self.inner.metrics.policy_rejections.inc();
                json!({ "params": params, "ok": false, "error": err.code(), "message": err.to_string() })
            }
        };
        self.audit(actor, "grpc PolicyStoreService/PutPolicy", detail)
            .await;
        outcome
    }

    async fn put_policy_inner(
        &self,
        request: v1::PutPolicyRequest,
    ) -> Result<Arc<StoredPolicy>, ApiError> {
        let caller = caller_of(request.actor.as_ref())?;
        if caller.role() != CallerRole::Admin {
            return Err(ApiError::PermissionDenied(format!(
                "{caller} may not change the policy: it needs the admin role"
            )));
        }
        let reason = checked_reason(&request.reason)?;
        let profile_name = request.load_profile.trim();
        let document = match (&request.policy, profile_name.is_empty()) {
            (Some(_), false) => {
                return Err(ApiError::InvalidArgument(
                    "give either a policy or a load_profile, not both".to_owned(),
                ));
            }
            (None, true) => {
                return Err(ApiError::InvalidArgument(
                    "give a policy or a load_profile".to_owned(),
                ));
            }
            (Some(policy), true) => {
                let mut document = PolicyDocument::from_proto(policy)?;
                if document.profile.is_empty() {
                    CUSTOM_PROFILE.clone_into(&mut document.profile);
                }
                document
            }
            (None, false) => {
                let profile = LaunchProfile::from_str(profile_name)
                    .map_err(|err| ApiError::InvalidArgument(format!("load_profile: {err}")))?;
                PolicyDocument::from_profile(profile, &self.inner.trading)
            }
        };
        let mut guard = self.inner.state.lock().await;
        let loaded = guard.as_mut().ok_or_else(not_loaded)?;
        let current = loaded.policy.version;
        if request.expected_version != 0 && request.expected_version != current {
            return Err(ApiError::Aborted(format!(
                "the policy is at version {current}, the change was made to version {}; read it again and retry",
                request.expected_version
            )));
        }
        let new = NewPolicyVersion {
            document,
            created: self.now(),
            author: Author {
                name: caller.name().to_owned(),
                role: caller.role().as_str().to_owned(),
            },
            reason,
        };
        match self.inner.storage.append_policy(current, new).await {
            Ok(stored) => {
                let stored = Arc::new(stored);
                loaded.policy = Arc::clone(&stored);
                self.publish_policy(&stored);
                tracing::info!(version = stored.version, profile = %stored.document.profile, actor = %caller, "new policy version in force");
                Ok(stored)
            }
            Err(StorageError::Conflict(message)) => {
                // another writer stored a version: take it, and let the caller retry
                if let Ok(Some(latest)) = self.inner.storage.latest_policy().await
                    && latest.version > current
                {
                    let latest = Arc::new(latest);
                    loaded.policy = Arc::clone(&latest);
                    self.publish_policy(&latest);
                }
                Err(StorageError::Conflict(message).into())
            }
            Err(err) => Err(err.into()),
        }
    }

    /// `GetEss`: the status in force with the policy version it is judged by.
    pub fn ess_status(&self) -> Result<v1::EssStatus, ApiError> {
        let status = self.inner.ess.borrow().clone().ok_or_else(not_loaded)?;
        let policy = self.current_policy();
        Ok(status_to_wire(&status, policy.as_deref()))
    }

    /// `TripEss`: trips (trader, admin or system). Tripping a tripped ESS changes nothing and
    /// answers the status. Audited whatever the outcome.
    pub async fn trip(&self, request: v1::TripEssRequest) -> Result<v1::EssStatus, ApiError> {
        let actor = describe_actor(request.actor.as_ref());
        let params = json!({
            "trigger": request.trigger,
            "reason": request.reason,
            "detail_json": request.detail_json,
        });
        let mut transitions = Vec::new();
        let outcome = self.trip_inner(&request, &mut transitions).await;
        self.audit(
            actor,
            "grpc PolicyStoreService/TripEss",
            outcome_detail(&params, &outcome, &transitions),
        )
        .await;
        outcome
    }

    async fn trip_inner(
        &self,
        request: &v1::TripEssRequest,
        transitions: &mut Vec<Transition>,
    ) -> Result<v1::EssStatus, ApiError> {
        let caller = caller_of(request.actor.as_ref())?;
        let trigger = TripTrigger::from_str(&request.trigger)?;
        let mut guard = self.inner.state.lock().await;
        let loaded = guard.as_mut().ok_or_else(not_loaded)?;
        for _ in 0..TRIP_ATTEMPTS {
            let proposed = loaded.ess.trip(
                &caller,
                trigger,
                &request.reason,
                &request.detail_json,
                loaded.policy.document.ess_cooldown_ms,
                self.now(),
            )?;
            let Some(t) = proposed else {
                return Ok(status_to_wire(loaded.ess.status(), Some(&loaded.policy)));
            };
            match self.inner.storage.append_transition(&t).await {
                Ok(()) => {
                    self.took_effect(loaded, &t)?;
                    transitions.push(t);
                    return Ok(status_to_wire(loaded.ess.status(), Some(&loaded.policy)));
                }
                Err(StorageError::Conflict(message)) => {
                    tracing::warn!(%message, "another writer stored an ess transition; trying the trip again");
                    self.refresh_ess(loaded).await?;
                }
                Err(err) => {
                    // Fail closed: the trip is in force now and stored as soon as storage
                    // takes it.
                    tracing::error!(error = %err, seq = t.seq, "cannot store the ess trip; it is in force and will be stored when storage is back");
                    self.took_effect(loaded, &t)?;
                    loaded.unstored = Some(t.clone());
                    transitions.push(t);
                    return Ok(status_to_wire(loaded.ess.status(), Some(&loaded.policy)));
                }
            }
        }
        Err(ApiError::Aborted(
            "the ESS kept changing under the trip; retry".to_owned(),
        ))
    }

    /// `ResetEss`: TRIPPED → RESETTING (stored), asks the condition source, then ARMED, or
    /// back to TRIPPED with `reset refused: ...` and FAILED_PRECONDITION. Audited whatever the
    /// outcome.
    pub async fn reset(&self, request: v1::ResetEssRequest) -> Result<v1::EssStatus, ApiError> {
        let actor = describe_actor(request.actor.as_ref());
        let params = json!({ "reason": request.reason });
        let mut transitions = Vec::new();
        let outcome = self.reset_inner(&request, &mut transitions).await;
        self.audit(
            actor,
            "grpc PolicyStoreService/ResetEss",
            outcome_detail(&params, &outcome, &transitions),
        )
        .await;
        outcome
    }

    async fn reset_inner(
        &self,
        request: &v1::ResetEssRequest,
        transitions: &mut Vec<Transition>,
    ) -> Result<v1::EssStatus, ApiError> {
        let caller = caller_of(request.actor.as_ref())?;
        let mut guard = self.inner.state.lock().await;
        let loaded = guard.as_mut().ok_or_else(not_loaded)?;
        let begin = loaded
            .ess
            .begin_reset(&caller, &request.reason, self.now())?;
        if loaded.unstored.is_some() {
            return Err(ApiError::Unavailable(
                "the trip is not stored yet (storage unavailable); reset once it is".to_owned(),
            ));
        }
        match self.inner.storage.append_transition(&begin).await {
            Ok(()) => {}
            Err(StorageError::Conflict(message)) => {
                self.refresh_ess(loaded).await?;
                return Err(StorageError::Conflict(message).into());
            }
            Err(err) => return Err(err.into()),
        }
        self.took_effect(loaded, &begin)?;
        transitions.push(begin);

        let reading = self.inner.conditions.reading().await;
        let (finish, armed) = loaded.ess.finish_reset(
            &caller,
            reading.as_ref().map_err(String::as_str),
            &loaded.policy.document,
            self.now(),
        )?;
        if let Err(err) = self.inner.storage.append_transition(&finish).await {
            // RESETTING is stored; a restart would resume as TRIPPED. Do the same now, and
            // store it when storage takes it.
            tracing::error!(error = %err, "cannot store the end of the reset; the ess stays tripped");
            if let Some(back) = loaded.ess.resume(self.now()) {
                self.took_effect(loaded, &back)?;
                loaded.unstored = Some(back.clone());
                transitions.push(back);
            }
            return Err(ApiError::Unavailable(format!(
                "the reset could not be completed, the ESS stays tripped: {err}"
            )));
        }
        self.took_effect(loaded, &finish)?;
        let reason = finish.reason.clone();
        transitions.push(finish);
        if armed {
            Ok(status_to_wire(loaded.ess.status(), Some(&loaded.policy)))
        } else {
            Err(ApiError::FailedPrecondition(reason))
        }
    }

    /// `ListPolicyHistory`: stored versions, newest first.
    pub async fn policy_history(&self, limit: u32) -> Result<Vec<StoredPolicy>, ApiError> {
        Ok(self.inner.storage.list_policies(clamp_limit(limit)).await?)
    }

    /// `ListEssTransitions`: stored transitions, newest first.
    pub async fn ess_transitions(&self, limit: u32) -> Result<Vec<Transition>, ApiError> {
        Ok(self
            .inner
            .storage
            .list_transitions(clamp_limit(limit))
            .await?)
    }
}

fn not_loaded() -> ApiError {
    ApiError::Unavailable(
        "the policy and the ESS state are not loaded yet (is the trade-store reachable?)"
            .to_owned(),
    )
}

fn outcome_detail(
    params: &Value,
    outcome: &Result<v1::EssStatus, ApiError>,
    transitions: &[Transition],
) -> Value {
    let transitions = transitions_json(transitions);
    match outcome {
        Ok(status) => json!({
            "params": params,
            "ok": true,
            "state": status.state().as_str_name(),
            "seq": status.seq,
            "transitions": transitions,
        }),
        Err(err) => json!({
            "params": params,
            "ok": false,
            "error": err.code(),
            "message": err.to_string(),
            "transitions": transitions,
        }),
    }
}
