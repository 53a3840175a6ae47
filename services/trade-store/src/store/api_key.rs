use std::fmt;

use levibot_core::{KeyId, Role, TimestampMs, auth::is_sha256_hex};

use super::StoreError;

/// Longest API key name, in characters.
pub const MAX_API_KEY_NAME_CHARS: usize = 100;

/// The SHA-256 of an API key's plaintext, as 64 lowercase hex characters: all the store ever
/// knows of a key's secret.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeySha256(String);

impl KeySha256 {
    /// Checks `text` is 64 hex characters; uppercase is accepted and kept lowercase.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let lower = text.to_ascii_lowercase();
        if is_sha256_hex(&lower) {
            return Ok(Self(lower));
        }
        let reason = if text.len() == 64 {
            "holds a character that is not hex"
        } else {
            "is not 64 characters long"
        };
        Err(StoreError::InvalidInput(format!(
            "key_sha256: must be the 64 hex characters of a SHA-256, {reason} (got {} characters)",
            text.chars().count()
        )))
    }

    /// The lowercase hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeySha256 {
    /// Only a prefix: a hash is not a secret, but there is no need to spread it either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeySha256({}…)", self.0.get(..8).unwrap_or_default())
    }
}

/// Checks an API key name: trimmed, 1 to [`MAX_API_KEY_NAME_CHARS`] characters, no control
/// characters; returns it trimmed.
pub fn api_key_name(name: &str) -> Result<String, StoreError> {
    let invalid = |reason: &str| StoreError::InvalidInput(format!("name: {reason}"));
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(invalid("is required"));
    }
    if trimmed.chars().count() > MAX_API_KEY_NAME_CHARS {
        return Err(invalid(&format!(
            "is longer than {MAX_API_KEY_NAME_CHARS} characters"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid("must not hold control characters"));
    }
    Ok(trimmed.to_owned())
}

/// A key to store: its public id, a name, its role and the hash of its plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// Public id.
    pub key_id: KeyId,
    /// What it is for (checked by [`api_key_name`] when stored).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the plaintext.
    pub key_sha256: KeySha256,
}

/// A stored API key, without its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Public id.
    pub key_id: KeyId,
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was stored.
    pub created_at: TimestampMs,
    /// When it was revoked; `None` while it is active.
    pub revoked_at: Option<TimestampMs>,
}

impl ApiKey {
    /// Whether it may still be used.
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// What [`revoke_api_key`](super::TradeStore::revoke_api_key) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// The key was active and is now revoked.
    Revoked(ApiKey),
    /// The key was revoked before; nothing changed.
    AlreadyRevoked(ApiKey),
    /// No key has this id.
    NotFound,
}
