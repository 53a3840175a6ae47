use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a secret, or a password inside a URL, is replaced with when shown.
pub const REDACTED: &str = "***";

/// A credential that never shows up in logs, `Debug` output or dumped configuration.
///
/// `Debug`, `Display` and `Serialize` all produce `***`; only [`Secret::expose`] gives the
/// real value. It deserializes from a plain string.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for handing to the client that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

/// Query parameters whose values are treated as passwords.
const SECRET_QUERY_KEYS: [&str; 4] = ["password", "pass", "sslpassword", "token"];

/// Replaces the password in a URL with `***`.
///
/// Handles `scheme://user:password@host/...` (the user name is kept) and query parameters
/// such as `?password=...`. Anything that is not a `scheme://` URL is returned unchanged.
///
/// ```
/// use levibot_config::redact_url;
/// assert_eq!(
///     redact_url("postgres://levi:hunter2@db:5432/levibot"),
///     "postgres://levi:***@db:5432/levibot"
/// );
/// assert_eq!(redact_url("redis://:hunter2@cache"), "redis://:***@cache");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];

    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..authority_start]);
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => {
                    out.push_str(&userinfo[..=colon]);
                    out.push_str(REDACTED);
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    out.push_str(&redact_query(&rest[authority_len..]));
    out
}

/// Redacts secret-looking parameters in `path?query#fragment`.
fn redact_query(tail: &str) -> String {
    let Some(q) = tail.find('?') else {
        return tail.to_owned();
    };
    let (path, after) = tail.split_at(q + 1);
    let query_len = after.find('#').unwrap_or(after.len());
    let (query, fragment) = after.split_at(query_len);
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _))
                if SECRET_QUERY_KEYS
                    .iter()
                    .any(|secret| key.eq_ignore_ascii_case(secret)) =>
            {
                format!("{key}={REDACTED}")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}{}{fragment}", redacted.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(
        "postgres://levi:hunter2@db:5432/levibot",
        "postgres://levi:***@db:5432/levibot"
    )]
    #[case(
        "postgresql://levi:p%40ss@db/levibot?sslmode=require",
        "postgresql://levi:***@db/levibot?sslmode=require"
    )]
    #[case("postgres://levi@db/levibot", "postgres://levi@db/levibot")]
    #[case(
        "postgres://db/levibot?user=levi&password=hunter2",
        "postgres://db/levibot?user=levi&password=***"
    )]
    #[case("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0")]
    #[case("rediss://default:hunter2@cache", "rediss://default:***@cache")]
    #[case("redis://cache:6379", "redis://cache:6379")]
    #[case("sqlite://var/levibot.db", "sqlite://var/levibot.db")]
    #[case("sqlite::memory:", "sqlite::memory:")]
    #[case("postgres://a:b@c@host/db", "postgres://a:***@host/db")]
    fn redacts_url_passwords(#[case] url: &str, #[case] expected: &str) {
        assert_eq!(redact_url(url), expected);
    }

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(secret.to_string(), "***");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"***\"");
        assert_eq!(secret.expose(), "hunter2");
        let back: Secret = serde_json::from_str("\"hunter2\"").unwrap();
        assert_eq!(back, secret);
    }
}
