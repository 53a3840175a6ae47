use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};

/// The TLS client configuration of every exchange connection (WebSocket and REST): rustls with
/// the `ring` provider (no OpenSSL, no aws-lc-rs) and the Mozilla root certificates compiled in
/// (`webpki-roots`), so it behaves the same on every machine and in a scratch container.
///
/// # Errors
///
/// Fails only if the provider supports none of the default protocol versions, which `ring`
/// always does.
pub fn client_config() -> Result<ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    #[test]
    fn builds_with_ring_and_roots() {
        let config = super::client_config().unwrap();
        assert!(config.alpn_protocols.is_empty());
        assert!(!webpki_roots::TLS_SERVER_ROOTS.is_empty());
    }
}
