//! The service's errors and their one mapping to `tonic::Status`.

use tonic::Status;

use crate::ess::EssError;
use crate::policy::InvalidPolicy;
use crate::storage::StorageError;

/// Why a request was not done. [`ApiError::Unavailable`] and [`ApiError::Aborted`] are
/// transient (the caller may retry); the others are rejections.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Malformed input; nothing changed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The caller's role may not do this; nothing changed.
    #[error("{0}")]
    PermissionDenied(String),
    /// Not in this state (cooldown, condition still holding, ...).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Another writer changed the state first; read it again and retry.
    #[error("{0}")]
    Aborted(String),
    /// Storage or the state is not available yet; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// Something that should not happen (unreadable stored data).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The gRPC status: the one place codes are chosen.
    pub fn to_status(&self) -> Status {
        let message = self.to_string();
        match self {
            Self::InvalidArgument(_) => Status::invalid_argument(message),
            Self::PermissionDenied(_) => Status::permission_denied(message),
            Self::FailedPrecondition(_) => Status::failed_precondition(message),
            Self::Aborted(_) => Status::aborted(message),
            Self::Unavailable(_) => Status::unavailable(message),
            Self::Internal(_) => Status::internal(message),
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Aborted(_) | Self::Unavailable(_))
    }

    /// A short label for logs, metrics and audit entries.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidArgument(_) => "invalid_argument",
            Self::PermissionDenied(_) => "permission_denied",
            Self::FailedPrecondition(_) => "failed_precondition",
            Self::Aborted(_) => "aborted",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        err.to_status()
    }
}

impl From<EssError> for ApiError {
    fn from(err: EssError) -> Self {
        match err {
            EssError::PermissionDenied(m) => Self::PermissionDenied(m),
            EssError::InvalidArgument(m) => Self::InvalidArgument(m),
            EssError::FailedPrecondition(m) => Self::FailedPrecondition(m),
            EssError::OutOfOrder(m) => Self::Aborted(m),
        }
    }
}

impl From<InvalidPolicy> for ApiError {
    fn from(err: InvalidPolicy) -> Self {
        Self::InvalidArgument(err.to_string())
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::Conflict(m) => Self::Aborted(format!(
                "changed concurrently, read it again and retry: {m}"
            )),
            StorageError::Unavailable(m) => Self::Unavailable(format!("storage unavailable: {m}")),
            StorageError::Refused(m) => Self::Internal(format!("storage refused: {m}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_code() {
        let cases = [
            (
                ApiError::InvalidArgument("a".into()),
                tonic::Code::InvalidArgument,
            ),
            (
                ApiError::PermissionDenied("a".into()),
                tonic::Code::PermissionDenied,
            ),
            (
                ApiError::FailedPrecondition("a".into()),
                tonic::Code::FailedPrecondition,
            ),
            (ApiError::Aborted("a".into()), tonic::Code::Aborted),
            (ApiError::Unavailable("a".into()), tonic::Code::Unavailable),
            (ApiError::Internal("a".into()), tonic::Code::Internal),
        ];
        for (err, code) in cases {
            assert_eq!(err.to_status().code(), code);
            assert_eq!(
                err.is_transient(),
                matches!(code, tonic::Code::Aborted | tonic::Code::Unavailable)
            );
        }
        let conflict: ApiError = StorageError::Conflict("x".into()).into();
        assert_eq!(conflict.to_status().code(), tonic::Code::Aborted);
    }
}
