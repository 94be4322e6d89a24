//! The rate-limit answers: `RateLimit` / `RateLimit-Policy` headers, 429
//! and 503, through the authenticating layer's own rejection hook.

use std::time::Duration;

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Response};

use super::quota::{gcra, Charge, Decision, Quota};
use crate::error::{AuthError, ErrorKind};
use crate::response::{ProblemDetails, Rejection, RejectionResponse};
use crate::service::context_of;

/// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers).
pub(crate) static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
pub(crate) static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Whole seconds, rounded up: a client told to wait 1 s for a 1.2 s wait
/// would be refused again.
pub(crate) fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// A policy's header values, made once: the `RateLimit-Policy` value of
/// its configured quota and the start of its `RateLimit` value, so that a
/// passed request costs one small copy and no formatting.
#[derive(Clone)]
pub(crate) struct PolicyHeaders {
    name: String,
    quota: Quota,
    /// `"name";q=..;w=..` for `quota`; `None` when the name does not fit
    /// in a header (the layer checks names, so never in practice).
    policy: Option<HeaderValue>,
    /// `"name";r=`.
    state_prefix: String,
    /// The `RateLimit` numbers and value of a caller within its limit
    /// (one request taken from a full burst), rendered once: what most
    /// requests are told.
    fresh: Option<(u64, u64, HeaderValue)>,
}

impl PolicyHeaders {
    pub(crate) fn new(name: &str, quota: Quota) -> Self {
        let mut headers = Self {
            name: name.to_owned(),
            quota,
            policy: policy_value(name, &quota),
            state_prefix: format!("\"{name}\";r="),
            fresh: None,
        };
        // What a caller that was quiet for an interval is told, from the
        // same arithmetic that decides.
        let (fresh, _) = gcra(0, 1, &quota, Charge::Acquire);
        let (remaining, reset) = (fresh.remaining(), ceil_secs(fresh.reset_after()));
        headers.fresh = headers
            .render(remaining, reset)
            .map(|value| (remaining, reset, value));
        headers
    }

    /// The two header values for one decision under `quota`.
    pub(crate) fn values(
        &self,
        quota: &Quota,
        decision: &Decision,
    ) -> Option<(HeaderValue, HeaderValue)> {
        let policy = if *quota == self.quota {
            self.policy.clone()?
        } else {
            // A principal's own quota (`quota_for`): rarer, formatted here.
            policy_value(&self.name, quota)?
        };
        let (remaining, reset) = (decision.remaining(), ceil_secs(decision.reset_after()));
        let state = match &self.fresh {
            Some((r, t, value)) if *r == remaining && *t == reset => value.clone(),
            _ => self.render(remaining, reset)?,
        };
        Some((policy, state))
    }

    fn render(&self, remaining: u64, reset: u64) -> Option<HeaderValue> {
        // Written on the stack, copied once into the value's own buffer.
        let mut state = StackBuf::default();
        state.push(self.state_prefix.as_bytes());
        state.push_decimal(remaining);
        state.push(b";t=");
        state.push_decimal(reset);
        match state.as_bytes() {
            Some(bytes) => HeaderValue::from_bytes(bytes).ok(),
            // A policy name near its 64-character limit and two 20-digit
            // numbers still fit; formatted the slow way otherwise.
            None => {
                HeaderValue::from_str(&format!("{}{remaining};t={reset}", self.state_prefix)).ok()
            }
        }
    }
}

fn policy_value(name: &str, quota: &Quota) -> Option<HeaderValue> {
    let window = ceil_secs(quota.period()).max(1);
    let value = format!("\"{name}\";q={};w={window}", quota.count());
    HeaderValue::from_str(&value).ok()
}

/// A header value being written, on the stack: 128 bytes hold the longest
/// `RateLimit` value a valid policy name makes.
struct StackBuf {
    bytes: [u8; 128],
    len: usize,
    overflowed: bool,
}

impl Default for StackBuf {
    fn default() -> Self {
        Self {
            bytes: [0; 128],
            len: 0,
            overflowed: false,
        }
    }
}

impl StackBuf {
    fn push(&mut self, part: &[u8]) {
        let end = self.len + part.len();
        match self.bytes.get_mut(self.len..end) {
            Some(room) => {
                room.copy_from_slice(part);
                self.len = end;
            }
            None => self.overflowed = true,
        }
    }

    /// Appends `value` in decimal, without the formatting machinery.
    fn push_decimal(&mut self, mut value: u64) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        for slot in digits.iter_mut().rev() {
            // `value % 10` is below 10: the cast cannot truncate.
            *slot = b'0' + (value % 10) as u8;
            start -= 1;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.push(digits.get(start..).unwrap_or_default());
    }

    fn as_bytes(&self) -> Option<&[u8]> {
        if self.overflowed {
            return None;
        }
        self.bytes.get(..self.len)
    }
}

/// What a rate-limit answer reads of the request: its headers (gRPC or
/// not) and extensions (the authenticating layer's rejection hook).
#[derive(Clone, Copy)]
pub(crate) struct Head<'a> {
    pub(crate) headers: &'a HeaderMap,
    pub(crate) extensions: &'a http::Extensions,
}

impl<'a> Head<'a> {
    pub(crate) fn of<B>(request: &'a http::Request<B>) -> Self {
        Self {
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }

    pub(crate) fn of_parts(parts: &'a Parts) -> Self {
        Self {
            headers: &parts.headers,
            extensions: &parts.extensions,
        }
    }
}

pub(crate) fn add_headers(headers: &mut HeaderMap, values: (HeaderValue, HeaderValue)) {
    headers.insert(RATELIMIT_POLICY.clone(), values.0);
    headers.insert(RATELIMIT.clone(), values.1);
}

/// 429 (gRPC 8) with `Retry-After` and the rate-limit headers.
pub(crate) fn too_many(
    parts: Head<'_>,
    policy: &PolicyHeaders,
    quota: &Quota,
    decision: &Decision,
) -> Response<Bytes> {
    let error = AuthError::new(ErrorKind::RateLimited);
    let retry = Duration::from_secs(ceil_secs(decision.retry_after()).max(1));
    let mut response = respond(parts, &error, retry);
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from(retry.as_secs()));
    if let Some(values) = policy.values(quota, decision) {
        add_headers(headers, values);
    }
    response
}

/// 503: the limiter could not decide and is configured to say so.
pub(crate) fn unavailable(parts: Head<'_>, error: AuthError) -> Response<Bytes> {
    let retry =
        context_of(parts.extensions).map_or(Duration::from_secs(5), |c| c.config.retry_after);
    respond(parts, &error, retry)
}

/// The rejection as the layer that authenticated would answer it (its
/// `rejection_body` / `rejection_response` hook), or as problem details
/// when no such layer ran. No challenges: the credential was fine.
fn respond(parts: Head<'_>, error: &AuthError, retry_after: Duration) -> Response<Bytes> {
    let grpc = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let rejection = Rejection::new(error, &[], grpc, retry_after);
    let mut response = match context_of(parts.extensions) {
        Some(context) => context.config.rejection.respond(&rejection),
        None => ProblemDetails.respond(&rejection),
    };
    response.extensions_mut().insert(error.clone());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_match_the_formatted_ones() {
        let quota = Quota::per_minute(60);
        let headers = PolicyHeaders::new("plan", quota);
        for (remaining, reset) in [(0, 0), (7, 1_500), (u64::MAX, 61_000)] {
            let decision = Decision::new(
                true,
                remaining,
                Duration::ZERO,
                Duration::from_millis(reset),
            );
            let (policy, state) = headers.values(&quota, &decision).unwrap();
            assert_eq!(policy, "\"plan\";q=60;w=60");
            let t = ceil_secs(Duration::from_millis(reset));
            assert_eq!(
                state.to_str().unwrap(),
                format!("\"plan\";r={remaining};t={t}")
            );
        }
        let long = PolicyHeaders::new(&"p".repeat(120), quota);
        let decision = Decision::new(
            true,
            u64::MAX,
            Duration::ZERO,
            Duration::from_secs(u64::MAX),
        );
        let (_, state) = long.values(&quota, &decision).unwrap();
        assert!(state
            .to_str()
            .unwrap()
            .ends_with(&format!("r={};t={}", u64::MAX, u64::MAX)));
        let own = Quota::per_hour(5);
        let decision = Decision::new(true, 4, Duration::ZERO, Duration::ZERO);
        let (policy, _) = headers.values(&own, &decision).unwrap();
        assert_eq!(policy, "\"plan\";q=5;w=3600");
    }

    #[test]
    fn the_value_rendered_once_is_the_one_a_caller_within_its_limit_gets() {
        let quota = Quota::per_minute(60).burst(10);
        let headers = PolicyHeaders::new("a", quota);
        let (fresh, _) = gcra(0, 1, &quota, Charge::Acquire);
        assert_eq!(fresh.remaining(), 9);
        let state = |remaining, reset_ms| {
            let decision = Decision::new(
                true,
                remaining,
                Duration::ZERO,
                Duration::from_millis(reset_ms),
            );
            headers.values(&quota, &decision).unwrap().1
        };
        assert_eq!(state(9, 1_000), "\"a\";r=9;t=1");
        assert_eq!(state(9, 2_000), "\"a\";r=9;t=2");
        assert_eq!(state(8, 1_000), "\"a\";r=8;t=1");
        // Another quota with the same numbers: its own policy, same state.
        let other = Quota::per_minute(30).burst(10);
        let decision = Decision::new(true, 9, Duration::ZERO, Duration::from_secs(1));
        let (policy, state) = headers.values(&other, &decision).unwrap();
        assert_eq!(policy, "\"a\";q=30;w=60");
        assert_eq!(state, "\"a\";r=9;t=1");
    }
}
