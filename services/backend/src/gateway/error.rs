//! Gateway errors: a status code and a JSON body `{"error": code, "message": text}`.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::engines::EngineError;

/// An error answered to a REST client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code, e.g. `unknown_symbol`.
    pub code: &'static str,
    /// What went wrong, for humans.
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with code `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401: no key, or a key the store does not know.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 403: the key's role is not enough.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 503: a dependency (the store) is unreachable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 404: no route matches.
    pub fn no_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such route; see /openapi.json",
        )
    }

    /// 405: the route exists, not with this method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not take this method; see /openapi.json",
        )
    }

    /// 413: the request body is larger than `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    }
}

/// An extractor's rejection as a JSON error, keeping its (4xx) status.
fn rejection(status: StatusCode, what: &str, text: &str) -> ApiError {
    let code = match status {
        StatusCode::UPGRADE_REQUIRED => "upgrade_required",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    ApiError::new(status, code, format!("{what}: {text}"))
}

impl From<PathRejection> for ApiError {
    fn from(err: PathRejection) -> Self {
        rejection(err.status(), "bad path", &err.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(err: QueryRejection) -> Self {
        rejection(err.status(), "bad query string", &err.body_text())
    }
}

impl From<WebSocketUpgradeRejection> for ApiError {
    fn from(err: WebSocketUpgradeRejection) -> Self {
        rejection(err.status(), "not a WebSocket upgrade", &err.body_text())
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        let (status, code) = match err {
            EngineError::UnknownSymbol(_) => (StatusCode::NOT_FOUND, "unknown_symbol"),
            EngineError::NotFound(_) => (StatusCode::NOT_FOUND, "no_engine"),
            EngineError::Registry(_) => (StatusCode::INTERNAL_SERVER_ERROR, "registry"),
            EngineError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
        };
        Self::new(status, code, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(Body {
                error: self.code,
                message: &self.message,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
