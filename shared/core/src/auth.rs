//! API-key authentication building blocks: the access [`Role`]s, a freshly generated
//! [`ApiKeySecret`] (shown to its owner once, never stored), its public [`KeyId`], the
//! [`Actor`] named in the audit log, and [`api_key_sha256`], the one hash both the store (at
//! creation) and the gateway (on every request) compute, so only hashes are ever compared.

use std::{fmt, str::FromStr};

use ring::{
    digest,
    rand::{SecureRandom, SystemRandom},
};
use thiserror::Error;
use ulid::Ulid;

/// What a caller may do; each role includes the ones before it (`Viewer < Trader < Admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads: positions, signals, metrics.
    Viewer,
    /// Reads and trades: start and stop engines, place orders.
    Trader,
    /// Everything, including ESS resets, policy changes and key management.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Self; 3] = [Self::Viewer, Self::Trader, Self::Admin];

    /// `viewer`, `trader` or `admin`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Trader => "trader",
            Self::Admin => "admin",
        }
    }

    /// Whether this role may do what needs `required` (it is that role or a higher one).
    #[must_use]
    pub fn allows(self, required: Self) -> bool {
        self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`Role`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown role {0:?}: expected viewer, trader or admin")]
pub struct RoleParseError(pub String);

impl FromStr for Role {
    type Err = RoleParseError;

    /// `viewer`, `trader` or `admin`, exactly (lowercase, as stored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| RoleParseError(s.to_owned()))
    }
}

/// What every API key's plaintext starts with, so a leaked one is recognisable (secret
/// scanners, logs) and a mistyped header fails fast.
pub const API_KEY_PREFIX: &str = "lbk_";

/// Random bytes behind one API key: 256 bits.
const SECRET_BYTES: usize = 32;

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// The lowercase hex SHA-256 (64 characters) of an API key's plaintext, exactly as presented:
/// what the store keeps and what the gateway looks a presented key up by.
#[must_use]
pub fn api_key_sha256(plaintext: &str) -> String {
    hex(digest::digest(&digest::SHA256, plaintext.as_bytes()).as_ref())
}

/// Whether `text` is a lowercase hex SHA-256 (64 characters of `0-9a-f`).
#[must_use]
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The system's secure random source failed (no entropy available).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the system random source failed; no api key was generated")]
pub struct RandomUnavailable;

/// A new API key's plaintext: [`API_KEY_PREFIX`] and 64 hex characters of 32 bytes from the
/// operating system's secure random source.
///
/// Shown to its owner once ([`ApiKeySecret::expose`]) and never stored: the store keeps only
/// [`ApiKeySecret::sha256_hex`]. `Debug` and `Display` print `[redacted]`, so the secret
/// cannot reach a log by accident; the buffer is overwritten when dropped (best effort).
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    /// A fresh key from the operating system's secure random source ([`SystemRandom`]).
    pub fn generate() -> Result<Self, RandomUnavailable> {
        let mut bytes = [0_u8; SECRET_BYTES];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| RandomUnavailable)?;
        let mut text = String::with_capacity(API_KEY_PREFIX.len() + 2 * SECRET_BYTES);
        text.push_str(API_KEY_PREFIX);
        text.push_str(&hex(&bytes));
        bytes.fill(0);
        std::hint::black_box(&bytes);
        Ok(Self(text))
    }

    /// The plaintext, to show its owner once. Never log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The lowercase hex SHA-256 of the plaintext: what the store keeps.
    #[must_use]
    pub fn sha256_hex(&self) -> String {
        api_key_sha256(&self.0)
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret([redacted])")
    }
}

impl fmt::Display for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for ApiKeySecret {
    fn drop(&mut self) {
        // best effort without unsafe: overwrite the bytes before the allocation is freed
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

/// What every [`KeyId`] starts with.
pub const KEY_ID_PREFIX: &str = "key_";

/// The public id of an API key: `key_` and a ULID (`key_01J9Z3...`). Shown in lists and the
/// audit log; knowing it grants nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(Ulid);

impl KeyId {
    /// A fresh id stamped with the current time.
    #[must_use]
    #[expect(
        clippy::new_without_default,
        reason = "a random id is not a sensible default value"
    )]
    pub fn new() -> Self {
        Self(Ulid::new())
    }

    /// The ULID behind it.
    #[must_use]
    pub const fn as_ulid(self) -> Ulid {
        self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{KEY_ID_PREFIX}{}", self.0)
    }
}

/// A string that is not `key_` followed by a ULID.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid key id {0:?}: expected key_ followed by a 26-character ULID")]
pub struct KeyIdParseError(pub String);

impl FromStr for KeyId {
    type Err = KeyIdParseError;

    /// `key_` and a ULID (its letters in either case; shown uppercase).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || KeyIdParseError(s.to_owned());
        let ulid = s.strip_prefix(KEY_ID_PREFIX).ok_or_else(err)?;
        let parsed = Ulid::from_string(ulid).map_err(|_| err())?;
        // the ulid crate wraps values above 7ZZZ...: refuse what does not print back
        if !parsed.to_string().eq_ignore_ascii_case(ulid) {
            return Err(err());
        }
        Ok(Self(parsed))
    }
}

/// Longest [`Actor`] name, in characters.
pub const MAX_ACTOR_NAME_CHARS: usize = 128;

/// Who made an audited call: a name (a key's name or id, a user, a service) and the role it
/// acted with. Shown in the audit log as `name (role)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor {
    name: String,
    role: Role,
}

/// An actor name that is empty, too long or holds control characters.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("actor name {name:?}: {reason}")]
pub struct ActorError {
    /// The refused name.
    pub name: String,
    /// Why.
    pub reason: &'static str,
}

impl Actor {
    /// An actor; the name is trimmed and must be 1 to [`MAX_ACTOR_NAME_CHARS`] characters
    /// without control characters.
    pub fn new(name: &str, role: Role) -> Result<Self, ActorError> {
        let err = |reason| ActorError {
            name: name.to_owned(),
            reason,
        };
        let trimmed = name.trim();
        if trimmed.is_empty() {
            return Err(err("must not be empty"));
        }
        if trimmed.chars().count() > MAX_ACTOR_NAME_CHARS {
            return Err(err("is longer than 128 characters"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(err("must not hold control characters"));
        }
        Ok(Self {
            name: trimmed.to_owned(),
            role,
        })
    }

    /// The name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The role it acted with.
    #[must_use]
    pub const fn role(&self) -> Role {
        self.role
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn roles_are_ordered_and_include_the_lower_ones() {
        assert!(Role::Viewer < Role::Trader && Role::Trader < Role::Admin);
        assert!(Role::Admin.allows(Role::Viewer));
        assert!(Role::Admin.allows(Role::Admin));
        assert!(Role::Trader.allows(Role::Viewer));
        assert!(!Role::Trader.allows(Role::Admin));
        assert!(!Role::Viewer.allows(Role::Trader));
    }

    #[rstest]
    #[case("viewer", Role::Viewer)]
    #[case("trader", Role::Trader)]
    #[case("admin", Role::Admin)]
    fn roles_parse_and_print(#[case] text: &str, #[case] role: Role) {
        assert_eq!(text.parse::<Role>().unwrap(), role);
        assert_eq!(role.to_string(), text);
        assert_eq!(role.as_str(), text);
    }

    #[rstest]
    #[case("")]
    #[case("Admin")]
    #[case("root")]
    #[case(" admin")]
    fn unknown_roles_are_refused(#[case] text: &str) {
        let err = text.parse::<Role>().unwrap_err();
        assert!(err.to_string().contains("expected viewer, trader or admin"));
    }

    #[test]
    fn the_sha256_of_a_key_is_lowercase_hex() {
        // FIPS 180-2 test vector
        assert_eq!(
            api_key_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_sha256_hex(&api_key_sha256("")));
        assert!(!is_sha256_hex(&api_key_sha256("abc").to_uppercase()));
        assert!(!is_sha256_hex("abc"));
    }

    #[test]
    fn generated_secrets_are_random_prefixed_and_never_printed() {
        let a = ApiKeySecret::generate().unwrap();
        let b = ApiKeySecret::generate().unwrap();
        assert_ne!(a.expose(), b.expose());
        let text = a.expose();
        assert_eq!(text.len(), 4 + 64);
        assert!(text.starts_with(API_KEY_PREFIX));
        assert!(is_sha256_hex(&text[4..]), "{text}");
        assert_eq!(a.sha256_hex(), api_key_sha256(text));
        assert_eq!(format!("{a:?}"), "ApiKeySecret([redacted])");
        assert_eq!(a.to_string(), "[redacted]");
        assert!(!format!("{a:?}{a}").contains(&text[4..]));
    }

    #[test]
    fn key_ids_round_trip_and_refuse_other_shapes() {
        let id = KeyId::new();
        let text = id.to_string();
        assert!(text.starts_with("key_") && text.len() == 30, "{text}");
        assert_eq!(text.parse::<KeyId>().unwrap(), id);
        assert_eq!(text.to_lowercase().parse::<KeyId>().unwrap(), id);
        for bad in [
            "",
            "key_",
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "kid_01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "key_01ARZ3NDEKTSV4RRFFQ69G5FAU",
            "key_81ARZ3NDEKTSV4RRFFQ69G5FAV",
        ] {
            assert!(bad.parse::<KeyId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn actors_are_named_and_trimmed() {
        let actor = Actor::new(" ops-laptop ", Role::Admin).unwrap();
        assert_eq!(actor.to_string(), "ops-laptop (admin)");
        assert_eq!((actor.name(), actor.role()), ("ops-laptop", Role::Admin));
        assert!(Actor::new("  ", Role::Viewer).is_err());
        assert!(Actor::new("a\nb", Role::Viewer).is_err());
        assert!(Actor::new(&"x".repeat(129), Role::Viewer).is_err());
    }
}
