use std::{io, net::SocketAddr};

/// Why a service stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listener could not be bound.
    #[error("cannot bind {what} listener on {addr}: {source}")]
    Bind {
        /// `grpc` or `metrics`.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The gRPC server failed.
    #[error("grpc server of {service} failed: {source}")]
    Grpc {
        /// The service.
        service: &'static str,
        /// The transport error.
        source: tonic::transport::Error,
    },
    /// The metrics endpoint failed.
    #[error("metrics endpoint of {service} failed: {source}")]
    Metrics {
        /// The service.
        service: &'static str,
        /// The I/O error.
        source: io::Error,
    },
    /// The service could not start (bad configuration, unreachable dependency, ...).
    #[error("{service} cannot start: {message}")]
    Startup {
        /// The service.
        service: &'static str,
        /// What went wrong.
        message: String,
    },
}
