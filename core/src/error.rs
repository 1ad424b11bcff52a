//! The error type of every operation, with kinds that map 1:1 to the
//! contract's error codes.

use serde::{Deserialize, Serialize};

use crate::outcome::Reason;

/// One field-level problem in a request document or config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FieldError {
    /// JSON path of the offending value, e.g. `/amount` (empty for the document).
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The contract's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Missing or unknown bearer token (HTTP 401).
    Unauthorized,
    /// The token may not use this account or operation (HTTP 403).
    Forbidden,
    /// Unknown account, operation id or route (HTTP 404).
    NotFound,
    /// The request document is invalid; nothing was sent (HTTP 422).
    InvalidRequest,
    /// The idempotency key was used with another document (HTTP 409).
    IdempotencyConflict,
    /// The order has an unresolved money operation, or the operation would
    /// return more than was paid (HTTP 409).
    OperationConflict,
    /// The provider does not support this operation (HTTP 422).
    UnsupportedOperation,
    /// The service is shutting down or a dependency is down (HTTP 503).
    Unavailable,
    /// A bug or an unexpected failure (HTTP 500).
    Internal,
}

impl ErrorCode {
    /// The code as written in error bodies, e.g. `invalid_request`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::IdempotencyConflict => "idempotency_conflict",
            ErrorCode::OperationConflict => "operation_conflict",
            ErrorCode::UnsupportedOperation => "unsupported_operation",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status the contract gives this code.
    pub fn http_status(&self) -> u16 {
        match self {
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::InvalidRequest | ErrorCode::UnsupportedOperation => 422,
            ErrorCode::IdempotencyConflict | ErrorCode::OperationConflict => 409,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation error. Errors mean *nothing was done*: a provider that may
/// have acted reports an [`Outcome`](crate::Outcome) with status `unknown`
/// instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Missing or unknown credentials of the caller.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The caller may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Something named in the request does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request document is invalid.
    #[error("invalid request: {message}")]
    InvalidRequest {
        /// Summary.
        message: String,
        /// Field-level problems.
        details: Vec<FieldError>,
    },
    /// The idempotency key was already used with another document.
    #[error("idempotency conflict: {0}")]
    IdempotencyConflict(String),
    /// The order has an unresolved money operation, or the amount would
    /// exceed what was paid.
    #[error("operation conflict: {0}")]
    Conflict(String),
    /// The provider does not support the operation.
    #[error("unsupported operation: {0}")]
    UnsupportedOperation(String),
    /// Temporarily unavailable.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Unexpected failure.
    #[error("internal error: {0}")]
    Internal(String),
    /// A refusal: `error`, decided before anything was sent to the provider,
    /// with the [`Reason`] it was refused for and, when the host recorded
    /// it for the audit, the refusal's id. Its code, message and details are
    /// `error`'s. A refusal is not a `failed` operation: no provider said
    /// anything, and its idempotency key stays free.
    #[error("{error}")]
    Refused {
        /// What was refused, as the contract's error.
        error: Box<Error>,
        /// Why, from the closed set of reasons (`invalid_request`,
        /// `conflict`, `limit`, `unreachable`...).
        reason: Reason,
        /// The refusal's id in the store's audit records (`rf_…`).
        refusal_id: Option<String>,
    },
}

impl Error {
    /// An [`Error::InvalidRequest`] about one field.
    pub fn invalid_field(path: impl Into<String>, message: impl Into<String>) -> Error {
        let field = FieldError::new(path, message);
        Error::InvalidRequest {
            message: if field.path.is_empty() {
                field.message.clone()
            } else {
                format!("{}: {}", field.path, field.message)
            },
            details: vec![field],
        }
    }

    /// The contract code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Unauthorized(_) => ErrorCode::Unauthorized,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::InvalidRequest { .. } => ErrorCode::InvalidRequest,
            Error::IdempotencyConflict(_) => ErrorCode::IdempotencyConflict,
            Error::Conflict(_) => ErrorCode::OperationConflict,
            Error::UnsupportedOperation(_) => ErrorCode::UnsupportedOperation,
            Error::Unavailable(_) => ErrorCode::Unavailable,
            Error::Internal(_) => ErrorCode::Internal,
            Error::Refused { error, .. } => error.code(),
        }
    }

    /// This error as a refusal for `reason` (an error that is one already
    /// keeps its own reason and gets `refusal_id` if it had none).
    pub fn refused(self, reason: Reason, refusal_id: Option<String>) -> Error {
        match self {
            Error::Refused {
                error,
                reason: own,
                refusal_id: id,
            } => Error::Refused {
                error,
                reason: own,
                refusal_id: id.or(refusal_id),
            },
            e => Error::Refused {
                error: Box::new(e),
                reason,
                refusal_id,
            },
        }
    }

    /// Why it was refused, for a refusal.
    pub fn refusal_reason(&self) -> Option<Reason> {
        match self {
            Error::Refused { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// The refusal's id in the audit records, for a recorded refusal.
    pub fn refusal_id(&self) -> Option<&str> {
        match self {
            Error::Refused { refusal_id, .. } => refusal_id.as_deref(),
            _ => None,
        }
    }

    /// The message without the code prefix.
    pub fn message(&self) -> &str {
        match self {
            Error::Unauthorized(m)
            | Error::Forbidden(m)
            | Error::NotFound(m)
            | Error::IdempotencyConflict(m)
            | Error::Conflict(m)
            | Error::UnsupportedOperation(m)
            | Error::Unavailable(m)
            | Error::Internal(m) => m,
            Error::InvalidRequest { message, .. } => message,
            Error::Refused { error, .. } => error.message(),
        }
    }

    /// Field details (only [`Error::InvalidRequest`] has any).
    pub fn details(&self) -> &[FieldError] {
        match self {
            Error::InvalidRequest { details, .. } => details,
            Error::Refused { error, .. } => error.details(),
            _ => &[],
        }
    }

    /// The contract's error body: `{"error": {"code", "message", "details"}}`,
    /// with `reason` and `refusal_id` for a refusal.
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorObject {
                code: self.code(),
                message: self.message().to_owned(),
                details: self.details().to_vec(),
                reason: self.refusal_reason(),
                refusal_id: self.refusal_id().map(str::to_owned),
            },
        }
    }

    /// The error as it crosses the plugin boundary (code, message,
    /// details: a plugin does not refuse for the host).
    pub fn to_info(&self) -> ErrorInfo {
        ErrorInfo {
            code: self.code(),
            message: self.message().to_owned(),
            details: self.details().to_vec(),
        }
    }

    /// Rebuilds an error from the contract's error object (a refusal when
    /// it has a reason).
    pub fn from_object(o: ErrorObject) -> Error {
        let e = Error::from_info(ErrorInfo {
            code: o.code,
            message: o.message,
            details: o.details,
        });
        match o.reason {
            Some(reason) => e.refused(reason, o.refusal_id),
            None => e,
        }
    }

    /// Rebuilds an error from its parts (e.g. after crossing the plugin boundary).
    pub fn from_info(info: ErrorInfo) -> Error {
        let m = info.message;
        match info.code {
            ErrorCode::Unauthorized => Error::Unauthorized(m),
            ErrorCode::Forbidden => Error::Forbidden(m),
            ErrorCode::NotFound => Error::NotFound(m),
            ErrorCode::InvalidRequest => Error::InvalidRequest {
                message: m,
                details: info.details,
            },
            ErrorCode::IdempotencyConflict => Error::IdempotencyConflict(m),
            ErrorCode::OperationConflict => Error::Conflict(m),
            ErrorCode::UnsupportedOperation => Error::UnsupportedOperation(m),
            ErrorCode::Unavailable => Error::Unavailable(m),
            ErrorCode::Internal => Error::Internal(m),
        }
    }
}

/// An error as it crosses the plugin boundary (the protocol's shape):
/// code, message, details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorInfo {
    /// The contract code.
    pub code: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// Field-level details (may be empty).
    #[serde(default)]
    pub details: Vec<FieldError>,
}

/// The contract's error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorObject,
}

/// The inner object of the contract's error body: the error, and for a
/// refusal its reason and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorObject {
    /// The contract code.
    pub code: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// Field-level details (may be empty).
    #[serde(default)]
    pub details: Vec<FieldError>,
    /// For a refusal (nothing was sent to the provider): why, from the
    /// closed set of reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// For a refusal recorded in the audit: its id (`rf_…`), readable at
    /// `GET /v1/refusals/{refusal_id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal_id: Option<String>,
}

impl From<crate::MoneyError> for Error {
    fn from(e: crate::MoneyError) -> Error {
        Error::invalid_field("/amount", e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        let cases = [
            (Error::Unauthorized("x".into()), "unauthorized", 401),
            (Error::Forbidden("x".into()), "forbidden", 403),
            (Error::NotFound("x".into()), "not_found", 404),
            (
                Error::invalid_field("/amount", "must be > 0"),
                "invalid_request",
                422,
            ),
            (
                Error::IdempotencyConflict("x".into()),
                "idempotency_conflict",
                409,
            ),
            (Error::Conflict("x".into()), "operation_conflict", 409),
            (
                Error::UnsupportedOperation("x".into()),
                "unsupported_operation",
                422,
            ),
            (Error::Unavailable("x".into()), "unavailable", 503),
            (Error::Internal("x".into()), "internal", 500),
        ];
        for (e, code, status) in cases {
            assert_eq!(e.code().as_str(), code);
            assert_eq!(e.code().http_status(), status);
            let body = serde_json::to_value(e.to_body()).unwrap();
            assert_eq!(body["error"]["code"], code);
            let back: ErrorBody = serde_json::from_value(body).unwrap();
            assert_eq!(Error::from_object(back.error), e);
        }
    }

    #[test]
    fn a_refusal_keeps_its_code_and_carries_its_reason() {
        let e = Error::Conflict("busy".into()).refused(Reason::Conflict, Some("rf_1".into()));
        assert_eq!(e.code(), ErrorCode::OperationConflict);
        assert_eq!(e.to_string(), "operation conflict: busy");
        let body = serde_json::to_value(e.to_body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "operation_conflict", "message": "busy", "details": [], "reason": "conflict", "refusal_id": "rf_1"}})
        );
        let back: ErrorBody = serde_json::from_value(body).unwrap();
        assert_eq!(Error::from_object(back.error), e);
        // Refusing a refusal again keeps the first reason.
        let again = e.clone().refused(Reason::Limit, None);
        assert_eq!(again.refusal_reason(), Some(Reason::Conflict));
        assert_eq!(again.refusal_id(), Some("rf_1"));
        // A plain error's body has neither field.
        let plain = serde_json::to_value(Error::Internal("x".into()).to_body()).unwrap();
        assert!(plain["error"].get("reason").is_none());
    }

    #[test]
    fn field_error_names_path() {
        let e = Error::invalid_field("/order_ref", "too long");
        assert_eq!(e.to_string(), "invalid request: /order_ref: too long");
        assert_eq!(e.details()[0].path, "/order_ref");
    }
}
