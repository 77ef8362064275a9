//! The one error shape every endpoint answers with: `{"error": "<sentence>", "code":
//! "<stable_label>"}` and a fitting HTTP status. Clients branch on `code`, people read
//! `error`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tandem_core::bus::CommandError;
use tandem_core::runtime::RuntimeError;

/// An API error: status, stable code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable label (`not_found`, `bad_request`...).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404 `not_found`.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} {id:?}"),
        )
    }

    /// 409 `conflict`: the resource is in a state that does not allow the request.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 501 `not_implemented`, with what is missing.
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, "not_implemented", message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "an API key (Authorization: Bearer, or ?api_key=) or basic credentials are required",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({"error": self.message, "code": self.code})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer, Basic realm=\"tandem\""),
            );
        }
        response
    }
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        let message = e.to_string();
        match e {
            RuntimeError::Session(_) | RuntimeError::InvalidDigits => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_media", message)
            }
            RuntimeError::QueueFull { .. } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
            }
            RuntimeError::Timeout { .. } => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, "worker_timeout", message)
            }
            RuntimeError::Command(CommandError::Ports(_))
            | RuntimeError::Command(CommandError::SessionsFull { .. })
            | RuntimeError::Command(CommandError::RoomFull { .. }) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "capacity", message)
            }
            RuntimeError::Command(CommandError::WrongKind(_)) => Self::conflict(message),
            RuntimeError::UnknownSession(_) | RuntimeError::Command(_) => {
                Self::new(StatusCode::NOT_FOUND, "gone", message)
            }
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
        }
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;
