//! The gateway's errors: the admin API's `{code, message}` JSON ([`ApiError`]), with the
//! codes only the gateway gives. Each refuses one request and changes nothing else.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::StatusCode;
pub(crate) use roster_admin::ApiError;
use roster_client::{Error, ErrorCode};

/// 400 `ttl_out_of_range`.
pub(crate) fn ttl_out_of_range(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "ttl_out_of_range", message)
}

/// 413 `too_large`.
pub(crate) fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the body is over the gateway's limit of {limit} bytes"),
    )
}

/// 429 `too_many_waiters`.
pub(crate) fn too_many_waiters(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_waiters",
        format!("{limit} watches and blocking queries are open already"),
    )
}

/// 429 `too_many_subscriptions`.
pub(crate) fn too_many_subscriptions(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_subscriptions",
        format!("the gateway keeps {limit} data ids read by open requests already"),
    )
}

/// 409 `conflict`.
pub(crate) fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "conflict", message)
}

/// A query string that is not what the endpoint takes.
pub(crate) fn query(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request(format!("query: {}", rejection.body_text()))
}

/// A path that does not decode.
pub(crate) fn path(rejection: PathRejection) -> ApiError {
    ApiError::bad_request(format!("path: {}", rejection.body_text()))
}

/// What the client library said, as an answer.
pub(crate) fn client(e: Error) -> ApiError {
    match e {
        Error::InvalidKey(k) => ApiError::bad_request(format!("invalid data id {k:?}")),
        Error::Rejected {
            code: ErrorCode::Overloaded,
            reason,
            ..
        } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "overloaded", reason),
        Error::Rejected {
            code: ErrorCode::NotReady | ErrorCode::Internal,
            reason,
            ..
        } => ApiError::unavailable(format!("the session cannot take it now: {reason}")),
        Error::Rejected { code, reason, .. } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "rejected",
            format!("the session refused it ({code:?}): {reason}"),
        ),
        Error::Timeout => {
            ApiError::unavailable("the session did not acknowledge it in time".to_string())
        }
        e => ApiError::unavailable(e.to_string()),
    }
}
