//! gRPC answers: `grpc-status` and `grpc-message` in a trailers-only
//! response.

use std::fmt::Write as _;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};

use crate::error::{AuthError, ErrorKind};

/// The answer when a handler needs a [`Principal`](crate::Principal) on a
/// route no [`AuthLayer`](crate::AuthLayer) protects: a server bug, so 500
/// (gRPC 13 `INTERNAL`), in the default format since no layer's hook
/// applies.
#[cfg(feature = "axum")]
pub(crate) fn not_configured(grpc: bool) -> Response<Bytes> {
    const DETAIL: &str = "authentication is not configured for this route";
    if grpc {
        let mut response = Response::new(Bytes::new());
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from(13_u16));
        headers.insert("grpc-message", HeaderValue::from_static(DETAIL));
        return response;
    }
    let status = StatusCode::INTERNAL_SERVER_ERROR;
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": DETAIL,
    });
    let mut response = Response::new(Bytes::from(serde_json::to_vec(&body).unwrap_or_default()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// The gRPC status code for an error kind.
///
/// ```
/// use authgate::{response::grpc_status, ErrorKind};
/// assert_eq!(grpc_status(ErrorKind::Missing), 16);
/// assert_eq!(grpc_status(ErrorKind::InsufficientScope), 7);
/// assert_eq!(grpc_status(ErrorKind::Unavailable), 14);
/// assert_eq!(grpc_status(ErrorKind::PayloadTooLarge), 8);
/// assert_eq!(grpc_status(ErrorKind::BodyTimeout), 4);
/// assert_eq!(grpc_status(ErrorKind::RateLimited), 8);
/// ```
#[must_use]
pub fn grpc_status(kind: ErrorKind) -> u16 {
    match kind.status() {
        StatusCode::FORBIDDEN => 7,
        StatusCode::SERVICE_UNAVAILABLE => 14,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => 8,
        StatusCode::REQUEST_TIMEOUT => 4,
        _ => 16,
    }
}

pub(super) fn grpc_response(error: &AuthError) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(grpc_status(error.kind())));
    if let Ok(message) = HeaderValue::from_str(&grpc_percent_encode(error.description())) {
        headers.insert("grpc-message", message);
    }
    response
}

/// Percent-encodes a `grpc-message` as the gRPC HTTP/2 spec requires.
fn grpc_percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (b' '..=b'~').contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert_eq!(grpc_percent_encode("a 100% é"), "a 100%25 %C3%A9");
    }
}
