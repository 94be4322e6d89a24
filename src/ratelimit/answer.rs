//! The rate-limit answers: `RateLimit` / `RateLimit-Policy` headers, 429
//! and 503, through the authenticating layer's own rejection hook.

use std::time::Duration;

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Response};

use super::quota::{Decision, Quota};
use crate::error::{AuthError, ErrorKind};
use crate::response::{ProblemDetails, Rejection, RejectionResponse};
use crate::service::{is_grpc, AuthContext};

/// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers).
pub(crate) static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
pub(crate) static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Whole seconds, rounded up: a client told to wait 1 s for a 1.2 s wait
/// would be refused again.
pub(crate) fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// The two header values for one decision under `quota`.
pub(crate) fn header_values(
    policy: &str,
    quota: &Quota,
    decision: &Decision,
) -> Option<(HeaderValue, HeaderValue)> {
    let window = ceil_secs(quota.period()).max(1);
    let policy_value = format!("\"{policy}\";q={};w={window}", quota.count());
    let reset = ceil_secs(decision.reset_after());
    let state = format!("\"{policy}\";r={};t={reset}", decision.remaining());
    Some((
        HeaderValue::from_str(&policy_value).ok()?,
        HeaderValue::from_str(&state).ok()?,
    ))
}

pub(crate) fn add_headers(headers: &mut HeaderMap, values: (HeaderValue, HeaderValue)) {
    headers.insert(RATELIMIT_POLICY.clone(), values.0);
    headers.insert(RATELIMIT.clone(), values.1);
}

/// 429 (gRPC 8) with `Retry-After` and the rate-limit headers.
pub(crate) fn too_many(
    parts: &Parts,
    policy: &str,
    quota: &Quota,
    decision: &Decision,
) -> Response<Bytes> {
    let error = AuthError::new(ErrorKind::RateLimited);
    let retry = Duration::from_secs(ceil_secs(decision.retry_after()).max(1));
    let mut response = respond(parts, &error, retry);
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from(retry.as_secs()));
    if let Some(values) = header_values(policy, quota, decision) {
        add_headers(headers, values);
    }
    response
}

/// 503: the limiter could not decide and is configured to say so.
pub(crate) fn unavailable(parts: &Parts, error: AuthError) -> Response<Bytes> {
    let retry = parts
        .extensions
        .get::<AuthContext>()
        .map_or(Duration::from_secs(5), |c| c.config.retry_after);
    respond(parts, &error, retry)
}

/// The rejection as the layer that authenticated would answer it (its
/// `rejection_body` / `rejection_response` hook), or as problem details
/// when no such layer ran. No challenges: the credential was fine.
fn respond(parts: &Parts, error: &AuthError, retry_after: Duration) -> Response<Bytes> {
    let rejection = Rejection::new(error, &[], is_grpc(parts), retry_after);
    let mut response = match parts.extensions.get::<AuthContext>() {
        Some(context) => context.config.rejection.respond(&rejection),
        None => ProblemDetails.respond(&rejection),
    };
    response.extensions_mut().insert(error.clone());
    response
}
