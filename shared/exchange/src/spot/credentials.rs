use std::fmt;

/// What a [`Redacted`] value prints as.
pub const REDACTED: &str = "[redacted]";

/// A string that never shows in logs: `Debug` and `Display` print `[redacted]`; only
/// [`Redacted::expose`] gives the value.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Redacted(String);

impl Redacted {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for the code that needs it (signing, the API-key header).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A Binance API key and its HMAC secret. `Debug` redacts both. Build it from the values of
/// `levibot_config::Secret` (`Credentials::new(key.expose(), secret.expose())`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    api_key: Redacted,
    api_secret: Redacted,
}

impl Credentials {
    /// The API key (sent as `X-MBX-APIKEY`) and the secret (signs requests, never sent).
    pub fn new(api_key: impl Into<String>, api_secret: impl Into<String>) -> Self {
        Self {
            api_key: Redacted::new(api_key),
            api_secret: Redacted::new(api_secret),
        }
    }

    /// The API key.
    #[must_use]
    pub fn api_key(&self) -> &str {
        self.api_key.expose()
    }

    /// The HMAC secret.
    #[must_use]
    pub fn api_secret(&self) -> &str {
        self.api_secret.expose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_values() {
        let creds = Credentials::new("my-key", "my-secret");
        let shown = format!("{creds:?} {}", Redacted::new("x"));
        assert!(
            !shown.contains("my-key") && !shown.contains("my-secret"),
            "{shown}"
        );
        assert_eq!(
            shown,
            "Credentials { api_key: [redacted], api_secret: [redacted] } [redacted]"
        );
        assert_eq!(creds.api_key(), "my-key");
        assert_eq!(creds.api_secret(), "my-secret");
    }
}
