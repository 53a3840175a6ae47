use levibot_proto::ConversionError;
use tonic::Status;

use crate::store::StoreError;

/// Why a trade-store RPC failed. [`From<ApiError> for Status`](#impl-From<ApiError>-for-Status)
/// is the one place errors become gRPC statuses:
///
/// | error | code | retry? |
/// | --- | --- | --- |
/// | bad request, oversized batch, invalid row | `INVALID_ARGUMENT` | no |
/// | client order id reused for another order, key id or key hash taken | `ALREADY_EXISTS` | no |
/// | unknown API key (hash or id), no policy version stored yet | `NOT_FOUND` | no |
/// | revoked API key presented | `FAILED_PRECONDITION` | no |
/// | stale compare-and-set (policy version, ESS seq): another writer came first | `ABORTED` | after re-reading |
/// | database unreachable, busy, timing out | `UNAVAILABLE` | yes |
/// | anything else (corrupt row, SQL error) | `INTERNAL` | no |
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed, too large, or holds an invalid value. Nothing was stored.
    #[error("{0}")]
    InvalidArgument(String),
    /// What the request names does not exist (an API key hash or id, a policy version).
    #[error("{0}")]
    NotFound(String),
    /// The request is valid but the state forbids it (a revoked API key).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ConversionError> for ApiError {
    fn from(err: ConversionError) -> Self {
        Self::InvalidArgument(err.to_string())
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::InvalidArgument(message) => Status::invalid_argument(message),
            ApiError::NotFound(message) => Status::not_found(message),
            ApiError::FailedPrecondition(message) => Status::failed_precondition(message),
            ApiError::Store(err @ StoreError::InvalidInput(_)) => {
                Status::invalid_argument(err.to_string())
            }
            ApiError::Store(err @ StoreError::Conflict(_)) => {
                Status::already_exists(err.to_string())
            }
            ApiError::Store(err @ StoreError::Stale(_)) => Status::aborted(err.to_string()),
            ApiError::Store(err) if err.is_transient() => {
                tracing::warn!(error = %err, "store unavailable");
                Status::unavailable(err.to_string())
            }
            ApiError::Store(err) => {
                tracing::error!(error = %err, "store failed");
                Status::internal(err.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_tell_rejections_from_transient_failures() {
        let code = |err: ApiError| Status::from(err).code();
        assert_eq!(
            code(ApiError::InvalidArgument("x".into())),
            tonic::Code::InvalidArgument
        );
        assert_eq!(code(ApiError::NotFound("x".into())), tonic::Code::NotFound);
        assert_eq!(
            code(ApiError::FailedPrecondition("x".into())),
            tonic::Code::FailedPrecondition
        );
        assert_eq!(
            code(StoreError::InvalidInput("x".into()).into()),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            code(StoreError::Conflict("x".into()).into()),
            tonic::Code::AlreadyExists
        );
        assert_eq!(
            code(StoreError::Stale("x".into()).into()),
            tonic::Code::Aborted
        );
        assert_eq!(
            code(StoreError::from(sqlx::Error::PoolTimedOut).into()),
            tonic::Code::Unavailable
        );
        assert_eq!(
            code(StoreError::from(sqlx::Error::RowNotFound).into()),
            tonic::Code::Internal
        );
    }
}
