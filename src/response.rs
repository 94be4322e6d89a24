//! Respond: the one mapping from an [`AuthError`] to what the client sees.
//!
//! | kind | HTTP | `WWW-Authenticate` | gRPC |
//! |---|---|---|---|
//! | missing, unsupported scheme | 401 | every scheme, bare | 16 `UNAUTHENTICATED` |
//! | malformed, ambiguous | 400 | every scheme, `error="invalid_request"` on the one concerned | 16 |
//! | invalid format, unknown key, wrong environment, bad signature, expired, not yet valid, rotated, revoked, replayed | 401 | every scheme, `error="invalid_token"` on the one concerned | 16 |
//! | insufficient scope | 403 | the principal's scheme, `error="insufficient_scope"`, `scope="…"` | 7 `PERMISSION_DENIED` |
//! | forbidden (policy) | 403 | none | 7 |
//! | unavailable | 503 + `Retry-After` | none | 14 `UNAVAILABLE` |
//! | payload too large | 413 | none | 8 `RESOURCE_EXHAUSTED` |
//! | body timeout | 408 | none | 4 `DEADLINE_EXCEEDED` |
//!
//! HTTP bodies are RFC 9457 problem details (`application/problem+json`).
//! Requests whose `content-type` starts with `application/grpc` are answered
//! HTTP 200 with `grpc-status` and `grpc-message` headers and no body (a
//! "trailers-only" response), as tonic clients expect.
//!
//! Replace the whole mapping with your own [`RejectionResponse`].

use std::fmt::{self, Write as _};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

use crate::error::{AuthError, ErrorKind};
use crate::scheme::{is_quotable, Challenge};

/// Everything a [`RejectionResponse`] needs to answer one rejected request.
#[derive(Debug)]
pub struct Rejection<'a> {
    error: &'a AuthError,
    challenges: &'a [Challenge],
    grpc: bool,
    retry_after: Duration,
}

impl<'a> Rejection<'a> {
    pub(crate) fn new(
        error: &'a AuthError,
        challenges: &'a [Challenge],
        grpc: bool,
        retry_after: Duration,
    ) -> Self {
        Self {
            error,
            challenges,
            grpc,
            retry_after,
        }
    }

    /// Why the request is rejected.
    #[must_use]
    pub fn error(&self) -> &'a AuthError {
        self.error
    }

    /// Whether the request is a gRPC call (`content-type: application/grpc*`).
    #[must_use]
    pub fn is_grpc(&self) -> bool {
        self.grpc
    }

    /// How long a client should wait before retrying a 503.
    #[must_use]
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// The `WWW-Authenticate` values this rejection should carry, one per
    /// challenge, following the table in the [module docs](self).
    #[must_use]
    pub fn www_authenticate(&self) -> Vec<HeaderValue> {
        let kind = self.error.kind();
        let concerned = self.error.scheme_index();
        let mut values = Vec::new();
        for (index, challenge) in self.challenges.iter().enumerate() {
            let is_concerned = concerned.is_none_or(|c| c == index);
            let with_error = match kind {
                ErrorKind::InsufficientScope if is_concerned => true,
                ErrorKind::InsufficientScope
                | ErrorKind::Forbidden
                | ErrorKind::Unavailable
                | ErrorKind::PayloadTooLarge
                | ErrorKind::BodyTimeout => continue,
                _ => kind.challenge_error().is_some() && is_concerned,
            };
            let mut text = challenge.to_string();
            if with_error {
                self.append_error(&mut text, challenge);
            }
            if let Ok(value) = HeaderValue::from_str(&text) {
                values.push(value);
            }
        }
        values
    }

    fn append_error(&self, text: &mut String, challenge: &Challenge) {
        let kind = self.error.kind();
        let Some(code) = kind.challenge_error() else {
            return;
        };
        let mut sep = if challenge.params().next().is_some() {
            ", "
        } else {
            " "
        };
        let mut push = |name: &str, value: &dyn fmt::Display| {
            let value = sanitize(&value.to_string());
            // Writing to a String cannot fail.
            let _ = write!(text, "{sep}{name}=\"{value}\"");
            sep = ", ";
        };
        push("error", &code);
        push("error_description", &self.error.description());
        if let Some(scopes) = self.error.required_scopes() {
            push("scope", scopes);
        }
    }
}

/// Keeps a value safe inside a quoted-string.
fn sanitize(value: &str) -> String {
    if is_quotable(value) {
        return value.to_owned();
    }
    value
        .chars()
        .map(|c| {
            if is_quotable(c.encode_utf8(&mut [0; 4])) {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Builds the response for a rejected request.
///
/// Closures `Fn(&Rejection<'_>) -> Response<Bytes>` implement it.
///
/// # Example
///
/// Keep the default mapping but add a header:
///
/// ```
/// use authgate::{ProblemDetails, Rejection, RejectionResponse};
///
/// let custom = |rejection: &Rejection<'_>| {
///     let mut response = ProblemDetails.respond(rejection);
///     response.headers_mut().insert("x-auth-docs", "https://example.com/auth".parse().unwrap());
///     response
/// };
/// # fn check(_: impl RejectionResponse) {}
/// # check(custom);
/// ```
pub trait RejectionResponse: Send + Sync + 'static {
    /// The response for `rejection`.
    fn respond(&self, rejection: &Rejection<'_>) -> Response<Bytes>;
}

impl<F> RejectionResponse for F
where
    F: Fn(&Rejection<'_>) -> Response<Bytes> + Send + Sync + 'static,
{
    fn respond(&self, rejection: &Rejection<'_>) -> Response<Bytes> {
        self(rejection)
    }
}

/// The default [`RejectionResponse`]: RFC 9457 problem details for HTTP,
/// `grpc-status` for gRPC, challenges per RFC 7235 and RFC 6750.
///
/// ```
/// use authgate::{ProblemDetails, RejectionResponse};
/// # let _ = ProblemDetails;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ProblemDetails;

impl RejectionResponse for ProblemDetails {
    fn respond(&self, rejection: &Rejection<'_>) -> Response<Bytes> {
        let error = rejection.error();
        let kind = error.kind();
        let status = kind.status();
        let mut response = if rejection.is_grpc() {
            grpc_response(error)
        } else {
            problem_response(error)
        };
        let headers = response.headers_mut();
        for value in rejection.www_authenticate() {
            headers.append(WWW_AUTHENTICATE, value);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            let secs = rejection.retry_after().as_secs().max(1);
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

fn problem_response(error: &AuthError) -> Response<Bytes> {
    let status = error.status();
    let mut body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": error.description(),
    });
    if let (Some(code), Some(map)) = (error.kind().challenge_error(), body.as_object_mut()) {
        map.insert("error".into(), code.into());
    }
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = Response::new(Bytes::from(bytes));
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
/// ```
#[must_use]
pub fn grpc_status(kind: ErrorKind) -> u16 {
    match kind.status() {
        StatusCode::FORBIDDEN => 7,
        StatusCode::SERVICE_UNAVAILABLE => 14,
        StatusCode::PAYLOAD_TOO_LARGE => 8,
        StatusCode::REQUEST_TIMEOUT => 4,
        _ => 16,
    }
}

fn grpc_response(error: &AuthError) -> Response<Bytes> {
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
    use crate::principal::Scopes;

    fn challenges() -> Vec<Challenge> {
        vec![
            Challenge::new("Bearer").param("realm", "api").unwrap(),
            Challenge::new("ApiKey"),
        ]
    }

    fn render(error: &AuthError) -> Vec<String> {
        let challenges = challenges();
        Rejection::new(error, &challenges, false, Duration::from_secs(5))
            .www_authenticate()
            .into_iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn missing_gets_bare_challenges() {
        assert_eq!(
            render(&AuthError::new(ErrorKind::Missing)),
            [r#"Bearer realm="api""#, "ApiKey"]
        );
    }

    #[test]
    fn invalid_token_goes_on_the_concerned_scheme() {
        let err = AuthError::new(ErrorKind::Expired).for_scheme(1);
        assert_eq!(
            render(&err),
            [
                r#"Bearer realm="api""#,
                r#"ApiKey error="invalid_token", error_description="the credential has expired""#
            ]
        );
    }

    #[test]
    fn insufficient_scope_names_the_scopes_on_one_challenge() {
        let err = AuthError::insufficient_scope(Scopes::parse("a b")).for_scheme(0);
        assert_eq!(
            render(&err),
            [
                r#"Bearer realm="api", error="insufficient_scope", error_description="the credential lacks a required scope", scope="a b""#
            ]
        );
    }

    #[test]
    fn unsafe_descriptions_are_sanitized() {
        let err = AuthError::forbidden("say \"hi\"\n").for_scheme(0);
        let err = AuthError::new(ErrorKind::BadSignature)
            .with_description(err.description().to_owned())
            .for_scheme(0);
        assert!(render(&err)[0].contains(r#"error_description="say ?hi??""#));
    }

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert_eq!(grpc_percent_encode("a 100% é"), "a 100%25 %C3%A9");
    }
}
