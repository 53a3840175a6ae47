use std::time::Duration;

use levibot_config::{Config, ServiceName};
use levibot_telemetry::InjectTraceContext;
use tonic::transport::{Channel, Endpoint};

/// How long connecting to another service may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one unary call to another service may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A channel to `service` as `config` reaches it (`services.<name>.grpc_url`): connected
/// lazily (the peer may start after us), each unary call bounded by [`CALL_TIMEOUT`], the
/// caller's trace context injected into every call. Not for server streams, which the call
/// timeout would cut: build those with [`streaming_channel`].
///
/// # Errors
///
/// The configured URL is not a URL.
pub fn channel(
    config: &Config,
    service: ServiceName,
) -> Result<InjectTraceContext<Channel>, String> {
    Ok(InjectTraceContext::new(
        endpoint(config, service)?
            .timeout(CALL_TIMEOUT)
            .connect_lazy(),
    ))
}

/// [`channel`] without the call timeout, for server streams that stay open.
///
/// # Errors
///
/// The configured URL is not a URL.
pub fn streaming_channel(
    config: &Config,
    service: ServiceName,
) -> Result<InjectTraceContext<Channel>, String> {
    Ok(InjectTraceContext::new(
        endpoint(config, service)?.connect_lazy(),
    ))
}

fn endpoint(config: &Config, service: ServiceName) -> Result<Endpoint, String> {
    let url = config.service(service).grpc_url();
    Ok(Endpoint::from_shared(url.clone())
        .map_err(|e| format!("bad {} url {url}: {e}", service.as_str()))?
        .connect_timeout(CONNECT_TIMEOUT))
}

/// This instance's name among the consumers of a bus group: the host name (a Kubernetes
/// pod's name) when it is a usable one, else the service's name.
#[must_use]
pub fn consumer_name(service: ServiceName) -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 64
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
        })
        .unwrap_or_else(|| service.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bad_url_is_named_and_a_good_one_connects_lazily() {
        let mut config = Config::default();
        config
            .services
            .endpoint_mut(ServiceName::Portfolio)
            .grpc_url = Some("not a url".into());
        let err = channel(&config, ServiceName::Portfolio).unwrap_err();
        assert!(
            err.contains("portfolio") && err.contains("not a url"),
            "{err}"
        );
        // nothing listens there: building the channel must not fail or block
        assert!(channel(&Config::default(), ServiceName::Backend).is_ok());
        assert!(streaming_channel(&Config::default(), ServiceName::PolicyStore).is_ok());
    }
}
