//! Where "now" comes from, so that tests can move time to the second.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time for expiry checks.
///
/// # Example
///
/// ```
/// use authgate::clock::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::at_unix(1_000);
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.unix_now(), 1_005);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// The current time as whole seconds since the Unix epoch (0 before it).
    fn unix_now(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// The system clock.
///
/// ```
/// use authgate::clock::{Clock, SystemClock};
/// assert!(SystemClock.unix_now() > 1_600_000_000);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to: for tests.
///
/// Clones share the same time.
///
/// ```
/// use authgate::clock::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::at_unix(100);
/// let shared = clock.clone();
/// clock.set_unix(50);
/// assert_eq!(shared.unix_now(), 50);
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    unix_millis: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at `secs` seconds after the Unix epoch.
    #[must_use]
    pub fn at_unix(secs: u64) -> Self {
        let clock = Self::default();
        clock.set_unix(secs);
        clock
    }

    /// Moves the clock to `secs` seconds after the epoch (backwards too).
    pub fn set_unix(&self, secs: u64) {
        self.unix_millis
            .store(secs.saturating_mul(1000), Ordering::SeqCst);
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let millis = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        // fetch_update never fails with a closure that always returns Some.
        let _ = self
            .unix_millis
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |m| {
                Some(m.saturating_add(millis))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.unix_millis.load(Ordering::SeqCst))
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("unix_now", &self.unix_now())
            .finish()
    }
}

/// A shared clock handle.
#[cfg(any(
    feature = "api-key",
    feature = "hmac",
    feature = "jwt",
    feature = "mtls",
    feature = "basic"
))]
pub(crate) type SharedClock = Arc<dyn Clock>;
