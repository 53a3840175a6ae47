//! Where policy versions, ESS transitions and audit entries are kept: [`Storage`], served by
//! the trade-store over gRPC ([`TradeStoreStorage`], the database's one owner) or in memory
//! ([`MemoryStorage`], for tests). Both enforce the same compare-and-set rules.

use std::sync::{Arc, Mutex};

use levibot_core::TimestampMs;
use levibot_proto::v1::{self, trade_store_service_client::TradeStoreServiceClient};
use levibot_telemetry::InjectTraceContext;
use tonic::transport::Channel;

use crate::ess::{Caller, CallerRole, EssState, Transition};
use crate::policy::{Author, PolicyDocument, StoredPolicy};

/// Why storage did not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// Another writer got there first (compare-and-set lost); nothing was stored.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Storage could not be reached or failed; the caller may retry.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Storage refused the request or holds something unreadable; retrying will not help.
    #[error("storage refused: {0}")]
    Refused(String),
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When.
    pub at: TimestampMs,
    /// `name (role)`.
    pub actor: String,
    /// e.g. `grpc PolicyStoreService/PutPolicy`.
    pub action: String,
    /// Parameters and outcome, a JSON object.
    pub detail: serde_json::Value,
}

/// A new policy version to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPolicyVersion {
    /// The document.
    pub document: PolicyDocument,
    /// When.
    pub created: TimestampMs,
    /// Who.
    pub author: Author,
    /// Why.
    pub reason: String,
}

/// Durable storage of the policy history, the ESS transitions and the audit log.
#[tonic::async_trait]
pub trait Storage: Send + Sync + 'static {
    /// The newest stored policy version, `None` when none was ever stored.
    async fn latest_policy(&self) -> Result<Option<StoredPolicy>, StorageError>;
    /// Stores `version` as `expected_latest + 1` if `expected_latest` is the newest stored
    /// version (0 = none yet); [`StorageError::Conflict`] otherwise.
    async fn append_policy(
        &self,
        expected_latest: u64,
        version: NewPolicyVersion,
    ) -> Result<StoredPolicy, StorageError>;
    /// Stored versions, newest first, at most `limit`.
    async fn list_policies(&self, limit: u32) -> Result<Vec<StoredPolicy>, StorageError>;
    /// Stores `transition` if its seq is the newest stored seq + 1; [`StorageError::Conflict`]
    /// otherwise.
    async fn append_transition(&self, transition: &Transition) -> Result<(), StorageError>;
    /// Stored transitions, newest first, at most `limit`.
    async fn list_transitions(&self, limit: u32) -> Result<Vec<Transition>, StorageError>;
    /// Appends to the audit log.
    async fn append_audit(&self, record: AuditRecord) -> Result<(), StorageError>;
}

/// The trade-store's client type.
pub type TradeStoreClient = TradeStoreServiceClient<InjectTraceContext<Channel>>;

/// [`Storage`] through the trade-store's gRPC API.
#[derive(Debug, Clone)]
pub struct TradeStoreStorage {
    client: TradeStoreClient,
}

impl TradeStoreStorage {
    /// Stores through `client`.
    pub fn new(client: TradeStoreClient) -> Self {
        Self { client }
    }
}

fn storage_error(status: &tonic::Status) -> StorageError {
    let message = format!("trade-store: {}: {}", status.code(), status.message());
    match status.code() {
        tonic::Code::Aborted | tonic::Code::AlreadyExists => StorageError::Conflict(message),
        tonic::Code::InvalidArgument
        | tonic::Code::PermissionDenied
        | tonic::Code::FailedPrecondition
        | tonic::Code::OutOfRange
        | tonic::Code::DataLoss => StorageError::Refused(message),
        _ => StorageError::Unavailable(message),
    }
}

/// The prefix that marks a LeviBot service acting on its own in the trade-store, whose actors
/// have the roles viewer, trader and admin only.
const SYSTEM_PREFIX: &str = "system:";

/// The stored form of an actor. A `system` actor (a service acting on its own) is stored as
/// `system:<name>` with `stored_role`, the least role the action needs (trader for ESS
/// transitions, admin for policy versions), and read back as `system`.
fn actor_to_wire(name: &str, role: &str, stored_role: &str) -> Option<v1::Actor> {
    Some(if role == CallerRole::System.as_str() {
        v1::Actor {
            name: format!("{SYSTEM_PREFIX}{name}"),
            role: stored_role.to_owned(),
        }
    } else {
        v1::Actor {
            name: name.to_owned(),
            role: role.to_owned(),
        }
    })
}

/// The (name, role) of a stored actor, undoing [`actor_to_wire`].
fn actor_from_wire(actor: Option<&v1::Actor>) -> (String, String) {
    let actor = actor.cloned().unwrap_or_default();
    match actor.name.strip_prefix(SYSTEM_PREFIX) {
        Some(name) => (name.to_owned(), CallerRole::System.as_str().to_owned()),
        None => (actor.name, actor.role),
    }
}

fn policy_from_record(record: &v1::PolicyVersionRecord) -> Result<StoredPolicy, StorageError> {
    let document = PolicyDocument::from_json(&record.document_json).map_err(|err| {
        StorageError::Refused(format!(
            "stored policy version {} is unreadable: {err}",
            record.version
        ))
    })?;
    let (name, role) = actor_from_wire(record.actor.as_ref());
    Ok(StoredPolicy {
        version: record.version,
        document,
        created: TimestampMs::new(record.created_ms),
        author: Author { name, role },
        reason: record.reason.clone(),
    })
}

fn state_to_wire(state: EssState) -> v1::EssState {
    match state {
        EssState::Armed => v1::EssState::Armed,
        EssState::Tripped => v1::EssState::Tripped,
        EssState::Resetting => v1::EssState::Resetting,
    }
}

fn state_from_wire(state: v1::EssState, seq: u64) -> Result<EssState, StorageError> {
    match state {
        v1::EssState::Armed => Ok(EssState::Armed),
        v1::EssState::Tripped => Ok(EssState::Tripped),
        v1::EssState::Resetting => Ok(EssState::Resetting),
        v1::EssState::Unspecified => Err(StorageError::Refused(format!(
            "stored ESS transition {seq} has no state"
        ))),
    }
}

/// The wire form of a transition, as `ListEssTransitions` answers it (its true actor).
pub fn transition_to_wire(t: &Transition) -> v1::EssTransition {
    v1::EssTransition {
        seq: t.seq,
        from_state: state_to_wire(t.from).into(),
        to_state: state_to_wire(t.to).into(),
        trigger: t.trigger.clone(),
        reason: t.reason.clone(),
        actor: Some(v1::Actor {
            name: t.actor.name().to_owned(),
            role: t.actor.role().as_str().to_owned(),
        }),
        at_ms: t.at.as_i64(),
        cooldown_until_ms: t.cooldown_until.as_i64(),
        detail_json: t.detail_json.clone(),
    }
}

fn transition_from_wire(t: &v1::EssTransition) -> Result<Transition, StorageError> {
    let (name, role) = actor_from_wire(t.actor.as_ref());
    let actor = Caller::parse(&name, &role).unwrap_or_else(|_| Caller::policy_store());
    Ok(Transition {
        seq: t.seq,
        from: state_from_wire(t.from_state(), t.seq)?,
        to: state_from_wire(t.to_state(), t.seq)?,
        trigger: t.trigger.clone(),
        reason: t.reason.clone(),
        actor,
        at: TimestampMs::new(t.at_ms),
        cooldown_until: TimestampMs::new(t.cooldown_until_ms),
        detail_json: t.detail_json.clone(),
    })
}

#[tonic::async_trait]
impl Storage for TradeStoreStorage {
    async fn latest_policy(&self) -> Result<Option<StoredPolicy>, StorageError> {
        match self
            .client
            .clone()
            .latest_policy_version(v1::LatestPolicyVersionRequest {})
            .await
        {
            Ok(record) => policy_from_record(&record.into_inner()).map(Some),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(storage_error(&status)),
        }
    }

    async fn append_policy(
        &self,
        expected_latest: u64,
        version: NewPolicyVersion,
    ) -> Result<StoredPolicy, StorageError> {
        let record = self
            .client
            .clone()
            .append_policy_version(v1::AppendPolicyVersionRequest {
                expected_latest,
                profile: version.document.profile.clone(),
                document_json: version.document.to_json(),
                created_ms: version.created.as_i64(),
                actor: actor_to_wire(
                    &version.author.name,
                    &version.author.role,
                    CallerRole::Admin.as_str(),
                ),
                reason: version.reason.clone(),
            })
            .await
            .map_err(|status| storage_error(&status))?
            .into_inner();
        Ok(StoredPolicy {
            version: record.version,
            document: version.document,
            created: version.created,
            author: version.author,
            reason: version.reason,
        })
    }

    async fn list_policies(&self, limit: u32) -> Result<Vec<StoredPolicy>, StorageError> {
        let versions = self
            .client
            .clone()
            .list_policy_versions(v1::ListPolicyVersionsRequest { limit })
            .await
            .map_err(|status| storage_error(&status))?
            .into_inner()
            .versions;
        versions.iter().map(policy_from_record).collect()
    }

    async fn append_transition(&self, transition: &Transition) -> Result<(), StorageError> {
        self.client
            .clone()
            .append_ess_transition(v1::AppendEssTransitionRequest {
                transition: Some(v1::EssTransition {
                    actor: actor_to_wire(
                        transition.actor.name(),
                        transition.actor.role().as_str(),
                        CallerRole::Trader.as_str(),
                    ),
                    ..transition_to_wire(transition)
                }),
            })
            .await
            .map_err(|status| storage_error(&status))?;
        Ok(())
    }

    async fn list_transitions(&self, limit: u32) -> Result<Vec<Transition>, StorageError> {
        let transitions = self
            .client
            .clone()
            .query_ess_transitions(v1::QueryEssTransitionsRequest { limit })
            .await
            .map_err(|status| storage_error(&status))?
            .into_inner()
            .transitions;
        transitions.iter().map(transition_from_wire).collect()
    }

    async fn append_audit(&self, record: AuditRecord) -> Result<(), StorageError> {
        self.client
            .clone()
            .append_audit(v1::AppendAuditRequest {
                entry: Some(v1::AuditEntry {
                    at_ms: record.at.as_i64(),
                    actor: record.actor,
                    action: record.action,
                    detail_json: record.detail.to_string(),
                }),
            })
            .await
            .map_err(|status| storage_error(&status))?;
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Memory {
    policies: Vec<StoredPolicy>,
    transitions: Vec<Transition>,
    audit: Vec<AuditRecord>,
    unavailable: bool,
}

/// [`Storage`] in memory, with the trade-store's compare-and-set rules; clones share it. For
/// tests: [`set_unavailable`](Self::set_unavailable) simulates an outage.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    memory: Arc<Mutex<Memory>>,
}

impl MemoryStorage {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Memory) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut memory = self
            .memory
            .lock()
            .map_err(|_| StorageError::Unavailable("memory storage poisoned".to_owned()))?;
        if memory.unavailable {
            return Err(StorageError::Unavailable("simulated outage".to_owned()));
        }
        f(&mut memory)
    }

    /// Makes every call fail with [`StorageError::Unavailable`] (or work again).
    pub fn set_unavailable(&self, unavailable: bool) {
        if let Ok(mut memory) = self.memory.lock() {
            memory.unavailable = unavailable;
        }
    }

    /// Every audit entry, oldest first.
    pub fn audit(&self) -> Vec<AuditRecord> {
        self.memory
            .lock()
            .map(|m| m.audit.clone())
            .unwrap_or_default()
    }

    /// Every transition, oldest first.
    pub fn transitions(&self) -> Vec<Transition> {
        self.memory
            .lock()
            .map(|m| m.transitions.clone())
            .unwrap_or_default()
    }
}

#[tonic::async_trait]
impl Storage for MemoryStorage {
    async fn latest_policy(&self) -> Result<Option<StoredPolicy>, StorageError> {
        self.with(|m| Ok(m.policies.last().cloned()))
    }

    async fn append_policy(
        &self,
        expected_latest: u64,
        version: NewPolicyVersion,
    ) -> Result<StoredPolicy, StorageError> {
        self.with(|m| {
            let latest = m.policies.last().map_or(0, |p| p.version);
            if latest != expected_latest {
                return Err(StorageError::Conflict(format!(
                    "latest version is {latest}, not {expected_latest}"
                )));
            }
            let stored = StoredPolicy {
                version: latest + 1,
                document: version.document,
                created: version.created,
                author: version.author,
                reason: version.reason,
            };
            m.policies.push(stored.clone());
            Ok(stored)
        })
    }

    async fn list_policies(&self, limit: u32) -> Result<Vec<StoredPolicy>, StorageError> {
        self.with(|m| {
            Ok(m.policies
                .iter()
                .rev()
                .take(limit as usize)
                .cloned()
                .collect())
        })
    }

    async fn append_transition(&self, transition: &Transition) -> Result<(), StorageError> {
        self.with(|m| {
            let latest = m.transitions.last().map_or(0, |t| t.seq);
            if transition.seq != latest + 1 {
                return Err(StorageError::Conflict(format!(
                    "latest seq is {latest}, transition has {}",
                    transition.seq
                )));
            }
            m.transitions.push(transition.clone());
            Ok(())
        })
    }

    async fn list_transitions(&self, limit: u32) -> Result<Vec<Transition>, StorageError> {
        self.with(|m| {
            Ok(m.transitions
                .iter()
                .rev()
                .take(limit as usize)
                .cloned()
                .collect())
        })
    }

    async fn append_audit(&self, record: AuditRecord) -> Result<(), StorageError> {
        self.with(|m| {
            m.audit.push(record);
            Ok(())
        })
    }
}
