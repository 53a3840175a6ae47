use std::net::SocketAddr;

use levibot_config::ServiceEndpoint;
use tokio::net::TcpListener;

use crate::ServeError;

/// The two listeners a service serves on: gRPC and the Prometheus `/metrics` endpoint.
///
/// Binding happens before serving so that callers (the `levibot up` supervisor, tests on port
/// 0) know the real addresses before any request is made.
#[derive(Debug)]
pub struct ServiceListeners {
    /// gRPC (HTTP/2).
    pub grpc: TcpListener,
    /// `/metrics` (HTTP/1.1).
    pub metrics: TcpListener,
}

impl ServiceListeners {
    /// Binds both listeners of `endpoint`.
    pub async fn bind(endpoint: &ServiceEndpoint) -> Result<Self, ServeError> {
        Ok(Self {
            grpc: bind("grpc", endpoint.grpc_listen).await?,
            metrics: bind("metrics", endpoint.metrics_listen).await?,
        })
    }

    /// Binds both listeners on ephemeral loopback ports (tests, sandboxes).
    pub async fn ephemeral() -> Result<Self, ServeError> {
        let any: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
        Ok(Self {
            grpc: bind("grpc", any).await?,
            metrics: bind("metrics", any).await?,
        })
    }

    /// The bound gRPC address.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.local_addr().ok()
    }

    /// The bound metrics address.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.local_addr().ok()
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { what, addr, source })
}
