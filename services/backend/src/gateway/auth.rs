//! API-key authentication and role checks.
//!
//! A client presents its key as `Authorization: Bearer <key>` or `X-API-Key: <key>`. The
//! gateway hashes it (SHA-256) and asks the trade-store, which stores only hashes; answers
//! are cached for [`CACHE_TTL`], so a revoked key stops working within that time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use levibot_core::auth::{Role, api_key_sha256};
use levibot_proto::v1::VerifyApiKeyRequest;
use levibot_proto::v1::trade_store_service_client::TradeStoreServiceClient;
use levibot_telemetry::InjectTraceContext;
use serde_json::json;
use tonic::Code;
use tonic::transport::Channel;

use super::audit::{self, Audit};
use super::error::ApiError;
use super::{BodyTooLarge, MAX_BODY};

/// How long a verified key is trusted without asking the store again.
pub const CACHE_TTL: Duration = Duration::from_secs(10);

/// Longest key accepted (anything longer is refused before hashing).
const MAX_KEY_LEN: usize = 256;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's public id.
    pub key_id: String,
    /// The key's name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

impl Principal {
    /// `"name (key_id, role)"`, as written to the audit log.
    #[must_use]
    pub fn describe(&self) -> String {
        format!("{} ({}, {})", self.name, self.key_id, self.role.as_str())
    }
}

/// Verifies keys against the trade-store, with a cache.
#[derive(Debug, Clone)]
pub struct ApiKeyAuth {
    store: TradeStoreServiceClient<InjectTraceContext<Channel>>,
    cache: Arc<Mutex<HashMap<String, (Principal, Instant)>>>,
}

impl ApiKeyAuth {
    /// Verifies through `store`.
    #[must_use]
    pub fn new(store: TradeStoreServiceClient<InjectTraceContext<Channel>>) -> Self {
        Self {
            store,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The principal behind the key in `headers`.
    ///
    /// # Errors
    ///
    /// 401 without a key or with an unknown or revoked one; 503 when the store cannot answer.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let key = presented_key(headers)?;
        let hash = api_key_sha256(key);
        if let Some(principal) = self.cached(&hash) {
            return Ok(principal);
        }
        let mut store = self.store.clone();
        let info = match store
            .verify_api_key(VerifyApiKeyRequest {
                key_sha256: hash.clone(),
            })
            .await
        {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == Code::NotFound => {
                return Err(ApiError::unauthenticated("unknown API key"));
            }
            Err(status) if status.code() == Code::FailedPrecondition => {
                return Err(ApiError::unauthenticated("this API key was revoked"));
            }
            Err(status) => {
                return Err(ApiError::unavailable(format!(
                    "cannot verify the API key: trade-store answered {}: {}",
                    status.code(),
                    status.message()
                )));
            }
        };
        let role = levibot_proto::convert::role_from_wire("role", info.role)
            .map_err(|e| ApiError::unavailable(format!("trade-store returned a bad role: {e}")))?;
        let principal = Principal {
            key_id: info.key_id,
            name: info.name,
            role,
        };
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hash, (principal.clone(), Instant::now()));
        Ok(principal)
    }

    fn cached(&self, hash: &str) -> Option<Principal> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        match cache.get(hash) {
            Some((principal, at)) if at.elapsed() < CACHE_TTL => Some(principal.clone()),
            Some(_) => {
                cache.remove(hash);
                None
            }
            None => None,
        }
    }
}

/// The key from `Authorization: Bearer` or `X-API-Key`.
fn presented_key(headers: &HeaderMap) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::unauthenticated(
            "missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
        )
    };
    let key = if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthenticated("the Authorization header is not ASCII"))?;
        // The scheme is case-insensitive (RFC 9110 section 11.1).
        let (scheme, key) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::unauthenticated(
                "the Authorization header must be `Bearer <key>`",
            ));
        }
        key
    } else if let Some(value) = headers.get("x-api-key") {
        value
            .to_str()
            .map_err(|_| ApiError::unauthenticated("the X-API-Key header is not ASCII"))?
    } else {
        return Err(missing());
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(missing());
    }
    if key.len() > MAX_KEY_LEN {
        return Err(ApiError::unauthenticated("API key too long"));
    }
    Ok(key)
}

/// Middleware state: who verifies, which role the routes need, and where a refused
/// mutating call is audited.
#[derive(Debug, Clone)]
pub(super) struct RoleGuard {
    /// The verifier.
    pub(super) auth: ApiKeyAuth,
    /// The least role allowed.
    pub(super) required: Role,
    /// Where a mutating call refused for its role is recorded.
    pub(super) audit: Audit,
}

/// Authenticates the request, checks the role and the body size, and stores the
/// [`Principal`] in the request's extensions for the handler. A mutating call refused here
/// (role: 403, body: 413) is audited here, the caller being known; the handlers audit the
/// calls that reach them.
pub(super) async fn require_role(
    State(guard): State<RoleGuard>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let principal = guard.auth.authenticate(request.headers()).await?;
    let refusal = if !principal.role.allows(guard.required) {
        Some(ApiError::forbidden(format!(
            "this call needs the {} role; the key {} has {}",
            guard.required.as_str(),
            principal.key_id,
            principal.role.as_str()
        )))
    } else if request.extensions().get::<BodyTooLarge>().is_some() {
        Some(ApiError::payload_too_large(MAX_BODY))
    } else {
        None
    };
    if let Some(err) = refusal {
        if audit::is_mutating(request.method()) {
            let action = audit::action(request.method(), request.uri().path());
            let params =
                json!({ "query": audit::clip(request.uri().query().unwrap_or_default(), 1000) });
            guard
                .audit
                .record(&principal, &action, params, Err(&err))
                .await;
        }
        return Err(err);
    }
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}
