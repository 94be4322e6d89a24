//! [`Quota`] and the GCRA arithmetic every backend shares.

use std::time::Duration;

/// How many requests a caller may make per period, and how many of them at
/// once.
///
/// The limit is enforced with GCRA (the generic cell rate algorithm): the
/// requests of a period are spread evenly over it, one every
/// `period / count`, and a caller that has been quiet may send up to
/// [`burst`](Self::burst) at once. Over the limit, the answer says exactly
/// when the next request will pass.
///
/// # Example
///
/// ```
/// use authgate::ratelimit::Quota;
/// use std::time::Duration;
///
/// let quota = Quota::per_minute(600).burst(20); // 10/s on average, 20 at once
/// assert_eq!(quota.count(), 600);
/// assert_eq!(quota.period(), Duration::from_secs(60));
/// assert_eq!(quota.emission_interval(), Duration::from_millis(100));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quota {
    count: u32,
    period: Duration,
    burst: u32,
}

impl Quota {
    /// `count` requests per `period`, all of them allowed at once. A count of
    /// 0 is taken as 1, and a period shorter than a microsecond as one
    /// microsecond.
    ///
    /// ```
    /// # use authgate::ratelimit::Quota;
    /// # use std::time::Duration;
    /// let quota = Quota::new(1_000, Duration::from_secs(3600));
    /// assert_eq!(quota.burst_size(), 1_000);
    /// ```
    #[must_use]
    pub fn new(count: u32, period: Duration) -> Self {
        let count = count.max(1);
        Self {
            count,
            period: period.max(Duration::from_micros(1)),
            burst: count,
        }
    }

    /// `count` requests per second.
    ///
    /// ```
    /// # use authgate::ratelimit::Quota;
    /// assert_eq!(Quota::per_second(5).count(), 5);
    /// ```
    #[must_use]
    pub fn per_second(count: u32) -> Self {
        Self::new(count, Duration::from_secs(1))
    }

    /// `count` requests per minute.
    ///
    /// ```
    /// # use authgate::ratelimit::Quota;
    /// assert_eq!(Quota::per_minute(60).period().as_secs(), 60);
    /// ```
    #[must_use]
    pub fn per_minute(count: u32) -> Self {
        Self::new(count, Duration::from_secs(60))
    }

    /// `count` requests per hour.
    ///
    /// ```
    /// # use authgate::ratelimit::Quota;
    /// assert_eq!(Quota::per_hour(5000).period().as_secs(), 3600);
    /// ```
    #[must_use]
    pub fn per_hour(count: u32) -> Self {
        Self::new(count, Duration::from_secs(3600))
    }

    /// How many requests may arrive at once after a quiet spell. Defaults to
    /// the whole [`count`](Self::count); 0 is taken as 1.
    ///
    /// ```
    /// # use authgate::ratelimit::Quota;
    /// assert_eq!(Quota::per_second(100).burst(10).burst_size(), 10);
    /// ```
    #[must_use]
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self
    }

    /// Requests per [`period`](Self::period).
    #[must_use]
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The period the count is spread over.
    #[must_use]
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Requests allowed at once.
    #[must_use]
    pub fn burst_size(&self) -> u32 {
        self.burst
    }

    /// The time one request "costs": `period / count`.
    #[must_use]
    pub fn emission_interval(&self) -> Duration {
        Duration::from_nanos(self.interval_nanos())
    }

    pub(crate) fn interval_nanos(&self) -> u64 {
        let period = u64::try_from(self.period.as_nanos()).unwrap_or(u64::MAX);
        (period / u64::from(self.count)).max(1)
    }

    /// How far ahead of now the theoretical arrival time may run.
    pub(crate) fn tolerance_nanos(&self) -> u64 {
        self.interval_nanos().saturating_mul(u64::from(self.burst))
    }
}

/// Whether a request is charged or only looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Charge {
    /// Count the request when it is allowed.
    Acquire,
    /// Answer whether one more request would be allowed, counting nothing:
    /// how the [failed-authentication throttle](super::FailedAuthLayer)
    /// asks before letting a client try again.
    Peek,
    /// Count the request even when it is over the limit: each one pushes
    /// the caller's next allowed time one interval further. How the
    /// failed-authentication throttle charges a failure, so that guesses
    /// sent all at once (which all pass its [`Peek`](Self::Peek) before the
    /// first fails) are still paid for in full afterwards.
    Penalize,
}

/// A limiter's answer for one request.
///
/// ```
/// use authgate::ratelimit::{Charge, InProcessLimiter, Quota};
///
/// let limiter = InProcessLimiter::new();
/// let quota = Quota::per_minute(2);
/// let first = limiter.decide("acct_42", &quota, Charge::Acquire);
/// assert!(first.is_allowed());
/// assert_eq!(first.remaining(), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    allowed: bool,
    remaining: u64,
    retry_after: Duration,
    reset_after: Duration,
}

impl Decision {
    /// A decision as a backend computed it.
    #[must_use]
    pub fn new(
        allowed: bool,
        remaining: u64,
        retry_after: Duration,
        reset_after: Duration,
    ) -> Self {
        Self {
            allowed,
            remaining,
            retry_after,
            reset_after,
        }
    }

    /// Whether the request may pass.
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        self.allowed
    }

    /// How many more requests would pass right now.
    #[must_use]
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// When a denied request may be tried again (zero when allowed).
    #[must_use]
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// When the caller's whole burst is available again.
    #[must_use]
    pub fn reset_after(&self) -> Duration {
        self.reset_after
    }
}

/// One GCRA step: the decision for a request at `now` given the stored
/// theoretical arrival time `tat` (both in nanoseconds on one clock), and
/// the new TAT to store when it is allowed and charged.
pub(crate) fn gcra(tat: u64, now: u64, quota: &Quota, charge: Charge) -> (Decision, Option<u64>) {
    let interval = quota.interval_nanos();
    let tolerance = quota.tolerance_nanos();
    let base = tat.max(now);
    let new_tat = base.saturating_add(interval);
    // How far ahead of now the caller would be: never negative, so the
    // arithmetic holds on a clock that started a moment ago.
    let ahead = new_tat - now;
    if ahead > tolerance {
        let decision = Decision::new(
            false,
            0,
            Duration::from_nanos(ahead - tolerance),
            Duration::from_nanos(base - now),
        );
        return (decision, (charge == Charge::Penalize).then_some(new_tat));
    }
    let remaining = (tolerance - ahead) / interval;
    match charge {
        Charge::Acquire | Charge::Penalize => {
            let reset = Duration::from_nanos(ahead);
            (
                Decision::new(true, remaining, Duration::ZERO, reset),
                Some(new_tat),
            )
        }
        Charge::Peek => {
            let reset = Duration::from_nanos(base - now);
            (
                Decision::new(true, remaining + 1, Duration::ZERO, reset),
                None,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_one_per_interval() {
        let quota = Quota::per_second(10).burst(3);
        let interval = quota.interval_nanos();
        let mut tat = 0;
        let now = 1;
        for expected_remaining in [2, 1, 0] {
            let (decision, new_tat) = gcra(tat, now, &quota, Charge::Acquire);
            assert!(decision.is_allowed());
            assert_eq!(decision.remaining(), expected_remaining);
            tat = new_tat.unwrap();
        }
        let (denied, none) = gcra(tat, now, &quota, Charge::Acquire);
        assert!(!denied.is_allowed());
        assert!(none.is_none());
        assert_eq!(denied.retry_after(), Duration::from_nanos(interval));
        let (later, _) = gcra(tat, now + interval, &quota, Charge::Acquire);
        assert!(later.is_allowed());
    }

    #[test]
    fn a_penalty_is_counted_past_the_limit() {
        let quota = Quota::per_second(10).burst(2);
        let interval = quota.interval_nanos();
        let now = 1;
        let mut tat = 0;
        // Two allowed, then three more charged anyway.
        for _ in 0..5 {
            let (_, stored) = gcra(tat, now, &quota, Charge::Penalize);
            tat = stored.unwrap();
        }
        let (denied, _) = gcra(tat, now, &quota, Charge::Acquire);
        assert!(!denied.is_allowed());
        // Four intervals to wait: the three extra failures, then one more.
        assert_eq!(denied.retry_after(), Duration::from_nanos(4 * interval));
        let (acquire_past, stored) = gcra(tat, now, &quota, Charge::Acquire);
        assert!(!acquire_past.is_allowed());
        assert!(
            stored.is_none(),
            "an over-limit Acquire still counts nothing"
        );
    }

    #[test]
    fn peek_counts_nothing() {
        let quota = Quota::per_minute(1);
        let (decision, stored) = gcra(0, 10, &quota, Charge::Peek);
        assert!(decision.is_allowed());
        assert_eq!(decision.remaining(), 1);
        assert!(stored.is_none());
    }
}
