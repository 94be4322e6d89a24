//! The [`RateLimiter`] trait: where GCRA state lives.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use super::quota::{Charge, Decision, Quota};

/// A limiter could not decide: its shared store is unreachable and it was
/// configured to say so instead of deciding locally. The request gets a
/// 503, like a key store outage.
///
/// ```
/// let err = authgate::ratelimit::LimitError::new(std::io::Error::other("redis down"));
/// assert_eq!(err.to_string(), "rate limiter unavailable: redis down");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimitError(#[source] Box<dyn std::error::Error + Send + Sync>);

impl LimitError {
    /// Wraps the cause.
    pub fn new(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(cause.into())
    }
}

type PendingCheck = Pin<Box<dyn Future<Output = Result<Decision, LimitError>> + Send>>;

/// A limiter's answer: at once (in-process state), or later (a round trip
/// to a shared store). Answering at once keeps the hot path free of boxed
/// futures. `.await` it for the [`Decision`].
///
/// ```
/// use authgate::ratelimit::{Charge, Decision, InProcessLimiter, LimitCheck, Quota, RateLimiter};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let later = LimitCheck::pending(async { Ok(Decision::new(true, 9, Duration::ZERO, Duration::ZERO)) });
/// assert!(later.await.unwrap().is_allowed());
///
/// let limiter = InProcessLimiter::new();
/// let decision = limiter.check("k", &Quota::per_second(1), Charge::Acquire).await.unwrap();
/// assert_eq!(decision.remaining(), 0);
/// # }
/// ```
pub struct LimitCheck(pub(crate) CheckState);

pub(crate) enum CheckState {
    Ready(Result<Decision, LimitError>),
    Pending(PendingCheck),
}

impl LimitCheck {
    /// An answer available now.
    #[must_use]
    pub fn ready(result: Result<Decision, LimitError>) -> Self {
        Self(CheckState::Ready(result))
    }

    /// An answer that needs I/O.
    pub fn pending(
        future: impl Future<Output = Result<Decision, LimitError>> + Send + 'static,
    ) -> Self {
        Self(CheckState::Pending(Box::pin(future)))
    }
}

impl std::future::IntoFuture for LimitCheck {
    type Output = Result<Decision, LimitError>;
    type IntoFuture = PendingCheck;

    fn into_future(self) -> Self::IntoFuture {
        match self.0 {
            CheckState::Ready(result) => Box::pin(std::future::ready(result)),
            CheckState::Pending(future) => future,
        }
    }
}

impl fmt::Debug for LimitCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.0 {
            CheckState::Ready(_) => "ready",
            CheckState::Pending(_) => "pending",
        };
        f.debug_tuple("LimitCheck").field(&state).finish()
    }
}

/// Where rate-limit state lives: [`InProcessLimiter`](super::InProcessLimiter)
/// in this process, or `RedisLimiter` (feature `redis`) shared by a fleet.
///
/// Implement it for another shared store; the [`gcra`](super::Quota)
/// arithmetic is documented on [`Quota`].
///
/// # Example
///
/// A limiter that lets everything through (a test double for your own
/// service's tests):
///
/// ```
/// use authgate::ratelimit::{Charge, Decision, LimitCheck, Quota, RateLimiter};
/// use std::time::Duration;
///
/// struct Unlimited;
///
/// impl RateLimiter for Unlimited {
///     fn check(&self, _key: &str, quota: &Quota, _charge: Charge) -> LimitCheck {
///         let remaining = u64::from(quota.burst_size());
///         LimitCheck::ready(Ok(Decision::new(true, remaining, Duration::ZERO, Duration::ZERO)))
///     }
/// }
/// ```
pub trait RateLimiter: Send + Sync + 'static {
    /// Decides for one request of the caller `key` under `quota`.
    fn check(&self, key: &str, quota: &Quota, charge: Charge) -> LimitCheck;

    /// A short name for metrics and logs (`local`, `redis`). Defaults to
    /// `custom`.
    fn backend(&self) -> &'static str {
        "custom"
    }
}
