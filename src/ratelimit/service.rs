//! [`RateLimit`]: the service [`RateLimitLayer`](super::RateLimitLayer)
//! wraps around yours, and the answer for each request.

use std::fmt;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_service::Service;

use super::answer;
use super::backend::{CheckState, LimitError};
use super::future::{Headers, RateLimitFuture, Stage, Then};
use super::layer::{KeyBy, LimitConfig};
use super::quota::{Decision, Quota};
use crate::body::ResponseBody;
use crate::error::AuthError;
use crate::principal::Principal;

/// The service [`RateLimitLayer`](super::RateLimitLayer) wraps around yours.
#[derive(Clone)]
pub struct RateLimit<S> {
    pub(super) inner: S,
    pub(super) config: Arc<LimitConfig>,
}

impl<S> RateLimit<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the middleware, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("policy", &self.config.policy)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimit<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = RateLimitFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let config = &self.config;
        // The request stays whole (no split into parts and back): only a
        // custom key function or a rejection needs the parts.
        let Some(principal) = request.extensions().get::<Principal>() else {
            return RateLimitFuture::inner(self.inner.call(request), None);
        };
        let (quota, headers) = config.select(principal);
        let state = match &config.key_by {
            KeyBy::Custom(key_fn) => {
                let (parts, body) = request.into_parts();
                let key = parts
                    .extensions
                    .get::<Principal>()
                    .and_then(|principal| key_fn(principal, &parts));
                let request = Request::from_parts(parts, body);
                let Some(key) = key else {
                    return RateLimitFuture::inner(self.inner.call(request), None);
                };
                let state = config.limiter.check(&[&config.policy, ":", &key], &quota);
                return self.answer(request, state, quota);
            }
            _ => config.check(principal, &quota),
        };
        match state {
            // The common case, inline: the in-process limiter's answer.
            CheckState::Ready(Ok(decision)) if decision.is_allowed() => {
                config.metrics.allowed();
                let headers = if config.headers_on_success {
                    headers.values(&quota, &decision)
                } else {
                    None
                };
                RateLimitFuture::inner(self.inner.call(request), headers)
            }
            state => self.answer(request, state, quota),
        }
    }
}

impl<S> RateLimit<S> {
    /// The answer when the decision is not an in-process pass: a
    /// rejection, a Redis round trip, or a custom key's.
    fn answer<ReqBody, ResBody>(
        &mut self,
        request: Request<ReqBody>,
        state: CheckState,
        quota: Quota,
    ) -> RateLimitFuture<S::Future>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
        ReqBody: Send + 'static,
    {
        let config = &self.config;
        match state {
            CheckState::Ready(result) => match decide(config, &request, &quota, result) {
                Ok(headers) => RateLimitFuture::inner(self.inner.call(request), headers),
                Err(response) => RateLimitFuture::rejected(response),
            },
            CheckState::Pending(check) => {
                // Take the service that was polled ready; leave a clone behind.
                let clone = self.inner.clone();
                let mut inner = mem::replace(&mut self.inner, clone);
                let config = Arc::clone(config);
                let then: Then<S::Future, Headers> =
                    Box::new(
                        move |result| match decide(&config, &request, &quota, result) {
                            Ok(headers) => Stage::inner(inner.call(request), headers),
                            Err(response) => Stage::rejected(response),
                        },
                    );
                Stage::checking(check, then).into()
            }
        }
    }
}

/// The headers for a passed request, or the rejection.
// The rejection is moved once; boxing it would only add an allocation.
#[allow(clippy::result_large_err)]
fn decide<B>(
    config: &LimitConfig,
    request: &Request<B>,
    quota: &Quota,
    result: Result<Decision, LimitError>,
) -> Result<Headers, Response<Bytes>> {
    // Off the in-process pass path: the layer's headers render any other
    // quota's policy value (no second call to `quota_for`).
    let headers = &config.headers;
    match result {
        Ok(decision) if decision.is_allowed() => {
            config.metrics.allowed();
            Ok(config
                .headers_on_success
                .then(|| headers.values(quota, &decision))
                .flatten())
        }
        Ok(decision) => {
            config.metrics.limited();
            tracing::info!(
                target: "authgate",
                policy = %config.policy,
                reason = "rate_limited",
                status = 429,
                retry_after_ms = u64::try_from(decision.retry_after().as_millis()).unwrap_or(u64::MAX),
                "rate limit reached"
            );
            Err(answer::too_many(
                answer::Head::of(request),
                headers,
                quota,
                &decision,
            ))
        }
        Err(error) => {
            config.metrics.unavailable();
            tracing::warn!(target: "authgate", policy = %config.policy, reason = "unavailable", status = 503, error = %error, "rate limiter unavailable");
            Err(answer::unavailable(
                answer::Head::of(request),
                AuthError::unavailable(error),
            ))
        }
    }
}
