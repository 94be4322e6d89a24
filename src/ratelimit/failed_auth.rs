//! [`FailedAuthLayer`]: a wall for clients whose credentials keep failing.

use std::fmt;
use std::future::Future;
use std::mem;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::answer;
use super::backend::{CheckState, LimitError, RateLimiter};
use super::future::{Finish, Stage, Then};
use super::metrics::LimitMetrics;
use super::quota::{Charge, Decision, Quota};
use crate::body::ResponseBody;
use crate::error::AuthError;

/// Throttles failed authentication per client address, so that credential
/// stuffing against API keys, signatures or passwords meets a wall.
///
/// Wrap it *around* the [`AuthLayer`](crate::AuthLayer) (axum:
/// `.layer(auth).layer(throttle)`). Every rejection for a bad credential
/// (the `invalid_token` kinds: unknown key, wrong secret, bad signature,
/// expired, revoked, …) costs the client's address one request of
/// `quota`; once it is spent, every request from that address is answered
/// 429 with `Retry-After` (gRPC 8) before any credential is looked at,
/// until the quota refills. Requests without a credential, and those that
/// pass, cost nothing. A failure is charged even past the limit
/// ([`Charge::Penalize`]): guesses sent all at once, which all pass the
/// check made before the first of them fails, are paid for afterwards (one
/// more interval of waiting each), so over time an address gets no more
/// failed attempts than its quota, whatever its concurrency.
///
/// The address is axum's `ConnectInfo<SocketAddr>` (serve with
/// `into_make_service_with_connect_info`) or an
/// [`audit::ClientAddr`](crate::audit::ClientAddr) extension set by a layer
/// outside that knows the real client (behind a proxy); requests with
/// neither pass unthrottled. IPv6 clients are counted per /64, the block a
/// single host usually holds. If the limiter cannot answer, requests pass:
/// this wall is a defence in depth, not a reason to refuse service.
///
/// # Example
///
/// ```
/// use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
/// use authgate::audit::ClientAddr;
/// use authgate::ratelimit::{FailedAuthLayer, InProcessLimiter, Quota};
/// use authgate::AuthLayer;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let auth = AuthLayer::builder().scheme(ApiKeyScheme::new(InMemoryKeyStore::new(), "sk_live")?).build()?;
/// let throttle = FailedAuthLayer::new(InProcessLimiter::new(), Quota::per_minute(2));
/// let service = ServiceBuilder::new().layer(throttle).layer(auth).service(service_fn(|_| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// }));
///
/// let guess = || {
///     let mut request = http::Request::get("/")
///         .header("x-api-key", "sk_live_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
///         .body(())
///         .unwrap();
///     request.extensions_mut().insert(ClientAddr("203.0.113.7:5000".parse().unwrap()));
///     request
/// };
/// assert_eq!(service.clone().oneshot(guess()).await?.status(), 401);
/// assert_eq!(service.clone().oneshot(guess()).await?.status(), 401);
/// assert_eq!(service.oneshot(guess()).await?.status(), 429);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct FailedAuthLayer {
    config: Arc<ThrottleConfig>,
}

struct ThrottleConfig {
    limiter: Arc<dyn RateLimiter>,
    quota: Quota,
    metrics: LimitMetrics,
}

impl FailedAuthLayer {
    /// Each client address may fail `quota` times (burst and refill as
    /// [`Quota`] says), counted in `limiter`. Share a `RedisLimiter`
    /// (feature `redis`) to count failures across a fleet.
    pub fn new(limiter: impl RateLimiter, quota: Quota) -> Self {
        let limiter: Arc<dyn RateLimiter> = Arc::new(limiter);
        let metrics = LimitMetrics::new("failed_auth", limiter.backend());
        Self {
            config: Arc::new(ThrottleConfig {
                limiter,
                quota,
                metrics,
            }),
        }
    }
}

impl<S> Layer<S> for FailedAuthLayer {
    type Service = FailedAuthThrottle<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FailedAuthThrottle {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

impl fmt::Debug for FailedAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailedAuthLayer")
            .field("quota", &self.config.quota)
            .field("backend", &self.config.limiter.backend())
            .finish()
    }
}

/// The service [`FailedAuthLayer`] wraps around the authenticating one.
#[derive(Clone)]
pub struct FailedAuthThrottle<S> {
    inner: S,
    config: Arc<ThrottleConfig>,
}

impl<S> FailedAuthThrottle<S> {
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

impl<S: fmt::Debug> fmt::Debug for FailedAuthThrottle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailedAuthThrottle")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The key of a client address: IPv4 whole, IPv6 by its /64.
fn source_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("failed_auth:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("failed_auth:{v4}"),
            None => {
                let s = v6.segments();
                let [a, b, c, d, ..] = s;
                format!("failed_auth:{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
    }
}

/// Whether a rejection says the credential itself was bad (not a DPoP
/// server nonce asked for: the nonce protocol's first step, RFC 9449 §8).
fn is_credential_failure(error: &AuthError) -> bool {
    error.kind().challenge_error() == Some("invalid_token")
        && error.challenge_error() != Some("use_dpop_nonce")
}

/// What a request costs its source once the inner service has answered.
struct Charger {
    config: Arc<ThrottleConfig>,
    key: String,
}

impl Charger {
    fn charge_if_failed<B>(self, response: &Response<B>) {
        let failed = response
            .extensions()
            .get::<AuthError>()
            .is_some_and(is_credential_failure);
        if !failed {
            return;
        }
        let check = self
            .config
            .limiter
            .check(&self.key, &self.config.quota, Charge::Penalize);
        if let CheckState::Pending(future) = check.0 {
            // Off the response path: the answer has been decided already.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(future);
            }
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for FailedAuthThrottle<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = FailedAuthFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let Some(addr) = crate::audit::client(&parts) else {
            return FailedAuthFuture::inner(
                self.inner.call(Request::from_parts(parts, body)),
                None,
            );
        };
        let config = &self.config;
        let key = source_key(addr.ip());
        let check = config.limiter.check(&key, &config.quota, Charge::Peek);
        let charger = Charger {
            config: Arc::clone(config),
            key,
        };
        match check.0 {
            CheckState::Ready(result) => match gate(config, &parts, result) {
                Ok(()) => {
                    let future = self.inner.call(Request::from_parts(parts, body));
                    FailedAuthFuture::inner(future, Some(charger))
                }
                Err(response) => FailedAuthFuture::rejected(response),
            },
            CheckState::Pending(check) => {
                // Take the service that was polled ready; leave a clone behind.
                let clone = self.inner.clone();
                let mut inner = mem::replace(&mut self.inner, clone);
                let then: Then<S::Future, Option<Charger>> =
                    Box::new(move |result| match gate(&charger.config, &parts, result) {
                        Ok(()) => {
                            let future = inner.call(Request::from_parts(parts, body));
                            Stage::inner(future, Some(charger))
                        }
                        Err(response) => Stage::rejected(response),
                    });
                FailedAuthFuture {
                    stage: Stage::checking(check, then),
                }
            }
        }
    }
}

/// Lets the request through unless its source has no failures left.
// The rejection is moved once; boxing it would only add an allocation.
#[allow(clippy::result_large_err)]
fn gate(
    config: &ThrottleConfig,
    parts: &http::request::Parts,
    result: Result<Decision, LimitError>,
) -> Result<(), Response<Bytes>> {
    match result {
        Ok(decision) if !decision.is_allowed() => {
            config.metrics.limited();
            tracing::info!(
                target: "authgate",
                policy = "failed_auth",
                reason = "rate_limited",
                status = 429,
                "too many failed authentications from this client"
            );
            Err(answer::too_many(
                answer::Head::of_parts(parts),
                &answer::PolicyHeaders::new("failed_auth", config.quota),
                &config.quota,
                &decision,
            ))
        }
        Ok(_) => {
            config.metrics.allowed();
            Ok(())
        }
        Err(error) => {
            config.metrics.unavailable();
            tracing::warn!(target: "authgate", policy = "failed_auth", error = %error, "failed-authentication throttle unavailable; request passed");
            Ok(())
        }
    }
}

impl Finish for Option<Charger> {
    fn finish<B>(self, response: &mut Response<B>) {
        if let Some(charger) = self {
            charger.charge_if_failed(response);
        }
    }
}

pin_project! {
    /// The response future of [`FailedAuthThrottle`].
    pub struct FailedAuthFuture<F> {
        #[pin]
        stage: Stage<F, Option<Charger>>,
    }
}

impl<F> FailedAuthFuture<F> {
    fn inner(future: F, charger: Option<Charger>) -> Self {
        Self {
            stage: Stage::inner(future, charger),
        }
    }

    fn rejected(response: Response<Bytes>) -> Self {
        Self {
            stage: Stage::rejected(response),
        }
    }
}

impl<F, B, E> Future for FailedAuthFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().stage.poll(cx)
    }
}

impl<F> fmt::Debug for FailedAuthFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailedAuthFuture").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_per_64() {
        let a = source_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = source_key("2001:db8:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(
            source_key("::ffff:192.0.2.1".parse().unwrap()),
            "failed_auth:192.0.2.1"
        );
    }
}
