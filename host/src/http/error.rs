//! [`HttpError`]: every way a request fails before its stream starts, and the one
//! `IntoResponse` that decides status, headers and body (FastAPI's `{"detail": …}` shape).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::auth::AuthError;
use crate::protocol::ParseError;

/// Seconds a client is told to wait after a 503.
pub const RETRY_AFTER_SECS: &str = "1";

/// A request that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No bot of that name.
    #[error("unknown bot {0:?}")]
    UnknownBot(String),
    /// A path that is not a bot.
    #[error("Not Found")]
    NotFound,
    /// Authentication failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The body is over the size limit.
    #[error("request body is larger than {0} bytes")]
    BodyTooLarge(usize),
    /// The body could not be read.
    #[error("could not read the request body")]
    BodyUnreadable,
    /// The body did not arrive within the read timeout.
    #[error("the request body did not arrive within {0:?}")]
    BodyTimeout(std::time::Duration),
    /// The body is not a valid request.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The bot (or the host) is at its concurrency cap and the queue wait ran out.
    #[error("bot {0:?} is busy: retry shortly")]
    Busy(String),
    /// The host holds as many request bodies as it may (`--body-bytes-in-flight`).
    #[error("the host is busy: retry shortly")]
    HostBusy,
    /// The bot failed on a settings or report call; details are logged, not returned.
    #[error("Internal Server Error")]
    BotFailed,
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = match &self {
            HttpError::UnknownBot(_) | HttpError::NotFound => StatusCode::NOT_FOUND,
            HttpError::Auth(_) => StatusCode::UNAUTHORIZED,
            HttpError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            HttpError::BodyUnreadable
            | HttpError::Parse(
                ParseError::Malformed(_) | ParseError::Invalid { .. } | ParseError::Shape(_),
            ) => StatusCode::BAD_REQUEST,
            HttpError::Parse(ParseError::UnsupportedType) => StatusCode::NOT_IMPLEMENTED,
            HttpError::Busy(_) | HttpError::HostBusy => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::BotFailed => {
                return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response();
            }
        };
        let detail = match &self {
            HttpError::Parse(ParseError::UnsupportedType) => "Unsupported request type".to_owned(),
            other => other.to_string(),
        };
        let mut response = (status, axum::Json(serde_json::json!({ "detail": detail }))).into_response();
        if matches!(self, HttpError::Auth(_)) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(self, HttpError::Busy(_) | HttpError::HostBusy) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
        }
        response
    }
}
