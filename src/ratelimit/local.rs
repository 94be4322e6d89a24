//! [`InProcessLimiter`]: GCRA state in a bounded cache of this process.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;

use super::backend::{LimitCheck, RateLimiter};
use super::quota::{gcra, Charge, Decision, Quota};

/// The default number of callers whose state is kept.
pub const DEFAULT_CAPACITY: u64 = 100_000;

/// A rate limiter in this process: one theoretical arrival time (8 bytes and
/// the key) per caller, in a bounded cache, so that a flood of distinct
/// callers costs at most [`capacity`](Self::with_capacity) entries.
///
/// A caller evicted for room, or idle for longer than
/// [`idle_timeout`](Self::idle_timeout), starts again with a full burst:
/// keep the capacity above the number of callers active within your
/// longest quota period, and the idle timeout above that period.
///
/// Instances do not share state: behind a load balancer each instance
/// allows the whole quota. Use the Redis backend (feature `redis`) for a
/// limit shared by the fleet.
///
/// # Example
///
/// ```
/// use authgate::ratelimit::{InProcessLimiter, Quota, RateLimitLayer};
///
/// let limits = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(600));
/// # let _ = limits;
/// ```
#[derive(Clone)]
pub struct InProcessLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    states: Cache<String, Arc<AtomicU64>>,
    epoch: Instant,
    capacity: u64,
    idle: Duration,
}

impl Default for InProcessLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessLimiter {
    /// A limiter keeping up to [`DEFAULT_CAPACITY`] callers, each forgotten
    /// after an hour without requests.
    #[must_use]
    pub fn new() -> Self {
        Self::build(DEFAULT_CAPACITY, Duration::from_secs(3600))
    }

    /// The most callers whose state is kept. Defaults to
    /// [`DEFAULT_CAPACITY`].
    ///
    /// ```
    /// # use authgate::ratelimit::InProcessLimiter;
    /// let limiter = InProcessLimiter::new().with_capacity(1_000_000);
    /// # let _ = limiter;
    /// ```
    #[must_use]
    pub fn with_capacity(self, capacity: u64) -> Self {
        Self::build(capacity, self.inner.idle)
    }

    /// How long a caller's state is kept without requests. Defaults to one
    /// hour.
    ///
    /// ```
    /// # use authgate::ratelimit::InProcessLimiter;
    /// # use std::time::Duration;
    /// let limiter = InProcessLimiter::new().idle_timeout(Duration::from_secs(600));
    /// # let _ = limiter;
    /// ```
    #[must_use]
    pub fn idle_timeout(self, idle: Duration) -> Self {
        Self::build(self.inner.capacity, idle)
    }

    fn build(capacity: u64, idle: Duration) -> Self {
        let states = Cache::builder()
            .max_capacity(capacity)
            .time_to_idle(idle)
            .build();
        Self {
            inner: Arc::new(Inner {
                states,
                epoch: Instant::now(),
                capacity,
                idle,
            }),
        }
    }

    /// Decides for one request of `key` now.
    ///
    /// ```
    /// use authgate::ratelimit::{Charge, InProcessLimiter, Quota};
    ///
    /// let limiter = InProcessLimiter::new();
    /// let quota = Quota::per_minute(1);
    /// assert!(limiter.decide("k", &quota, Charge::Acquire).is_allowed());
    /// assert!(!limiter.decide("k", &quota, Charge::Acquire).is_allowed());
    /// ```
    #[must_use]
    pub fn decide(&self, key: &str, quota: &Quota, charge: Charge) -> Decision {
        // Nanoseconds since this limiter was made; never 0, the "no state"
        // value.
        let now = u64::try_from(self.inner.epoch.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let Some(state) = self.state(key, charge) else {
            return gcra(0, now, quota, charge).0;
        };
        let mut tat = state.load(Ordering::Acquire);
        loop {
            let (decision, next) = gcra(tat, now, quota, charge);
            let Some(next) = next else {
                return decision;
            };
            match state.compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return decision,
                Err(current) => tat = current,
            }
        }
    }

    /// The caller's state; a peek at an unknown caller creates none.
    fn state(&self, key: &str, charge: Charge) -> Option<Arc<AtomicU64>> {
        match charge {
            Charge::Peek => self.inner.states.get(key),
            _ => Some(
                self.inner
                    .states
                    .get_with_by_ref(key, || Arc::new(AtomicU64::new(0))),
            ),
        }
    }

    /// The number of callers held, after pending cache maintenance.
    ///
    /// ```
    /// # use authgate::ratelimit::{Charge, InProcessLimiter, Quota};
    /// let limiter = InProcessLimiter::new();
    /// let _ = limiter.decide("k", &Quota::per_second(1), Charge::Acquire);
    /// assert_eq!(limiter.entry_count(), 1);
    /// ```
    #[must_use]
    pub fn entry_count(&self) -> u64 {
        self.inner.states.run_pending_tasks();
        self.inner.states.entry_count()
    }
}

impl RateLimiter for InProcessLimiter {
    fn check(&self, key: &str, quota: &Quota, charge: Charge) -> LimitCheck {
        LimitCheck::ready(Ok(self.decide(key, quota, charge)))
    }

    fn backend(&self) -> &'static str {
        "local"
    }
}

impl fmt::Debug for InProcessLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcessLimiter")
            .field("capacity", &self.inner.capacity)
            .field("idle_timeout", &self.inner.idle)
            .finish_non_exhaustive()
    }
}
