//! [`ReplayCache`]: remembers the nonces of accepted requests for as long as
//! their timestamp could still be accepted.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use crate::error::ErrorKind;
use crate::telemetry::CacheMetrics;

/// A bounded, TTL'd set of `(key id, nonce)` pairs already accepted.
///
/// Only requests whose signature verified are recorded, so forged requests
/// cannot fill it. Entries are SHA-256 digests (32 bytes each), so long
/// nonces cost no more memory than short ones. Clones share the cache: give
/// one to several schemes to reject a nonce used on any of them.
///
/// The time-to-live must cover every instant at which the request's
/// timestamp is still inside the window: a request stamped `window` in the
/// future stays acceptable for `2 × window` plus the second the whole-second
/// window check rounds away, so the schemes size it `2 × window + 1 s`.
///
/// # Example
///
/// ```
/// use authgate::hmac::ReplayCache;
/// use std::time::Duration;
///
/// let cache = ReplayCache::new(100_000, Duration::from_secs(600));
/// assert!(cache.first_use("k1", "n-1"));
/// assert!(!cache.first_use("k1", "n-1"));
/// assert!(cache.first_use("k2", "n-1"));
/// ```
#[derive(Clone)]
pub struct ReplayCache {
    seen: Cache<[u8; 32], ()>,
    /// Nonces held, counted exactly (moka's own count lags behind writes).
    live: Arc<AtomicU64>,
    capacity: u64,
    metrics: CacheMetrics,
}

impl ReplayCache {
    /// A cache of at most `capacity` nonces, each kept for `ttl`.
    ///
    /// Fails closed: a nonce still inside its window is never evicted to
    /// make room. When the cache holds `capacity` live nonces, new requests
    /// are refused (503) until some expire, so size it for the peak request
    /// rate times the TTL.
    #[must_use]
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        let live = Arc::new(AtomicU64::new(0));
        let removed = Arc::clone(&live);
        let metrics = CacheMetrics::new("replay");
        let evictions = metrics.clone();
        Self {
            // Headroom over `capacity`: moka's own admission policy only
            // acts when its bound is reached, which `admit` never lets happen.
            seen: Cache::builder()
                .max_capacity(capacity.saturating_mul(2).max(16))
                .time_to_live(ttl)
                .eviction_listener(move |_, _, cause| {
                    removed.fetch_sub(1, Ordering::SeqCst);
                    evictions.removed(cause);
                })
                .build(),
            live,
            capacity,
            metrics,
        }
    }

    /// Records `nonce` for `key_id`; `true` the first time, `false` for a
    /// replay or when the cache is full. Atomic: of two concurrent identical
    /// requests, one wins.
    #[must_use]
    pub fn first_use(&self, key_id: &str, nonce: &str) -> bool {
        self.admit(key_id, nonce).is_ok()
    }

    /// Records `nonce` for `key_id`: `Ok` the first time,
    /// [`ErrorKind::Replayed`] for a replay, [`ErrorKind::Unavailable`] when
    /// the cache is full of nonces still inside their window.
    ///
    /// ```
    /// use authgate::{hmac::ReplayCache, ErrorKind};
    /// use std::time::Duration;
    ///
    /// let cache = ReplayCache::new(1, Duration::from_secs(600));
    /// assert_eq!(cache.admit("k", "n-1"), Ok(()));
    /// assert_eq!(cache.admit("k", "n-1"), Err(ErrorKind::Replayed));
    /// assert_eq!(cache.admit("k", "n-2"), Err(ErrorKind::Unavailable));
    /// ```
    ///
    /// # Errors
    ///
    /// As above.
    pub fn admit(&self, key_id: &str, nonce: &str) -> Result<(), ErrorKind> {
        let digest = Self::digest(key_id, nonce);
        if self.seen.contains_key(&digest) {
            self.metrics.lookup(true);
            return Err(ErrorKind::Replayed);
        }
        if self.live.load(Ordering::SeqCst) >= self.capacity {
            // Expired nonces are only counted out when moka's housekeeping
            // runs: run it before refusing.
            self.seen.run_pending_tasks();
            if self.live.load(Ordering::SeqCst) >= self.capacity {
                return Err(ErrorKind::Unavailable);
            }
        }
        // Counted before the insert, so that the eviction listener can never
        // subtract an entry that was not yet added.
        self.live.fetch_add(1, Ordering::SeqCst);
        if self.seen.entry(digest).or_insert(()).is_fresh() {
            self.metrics.lookup(false);
            self.metrics.entries(self.live.load(Ordering::SeqCst));
            Ok(())
        } else {
            self.live.fetch_sub(1, Ordering::SeqCst);
            Err(ErrorKind::Replayed)
        }
    }

    /// The number of nonces held, after expired ones were counted out:
    /// never more than the capacity.
    ///
    /// ```
    /// use authgate::hmac::ReplayCache;
    /// use std::time::Duration;
    ///
    /// let cache = ReplayCache::new(10, Duration::from_secs(600));
    /// assert!(cache.is_empty());
    /// assert!(cache.first_use("k", "n-1"));
    /// assert_eq!(cache.len(), 1);
    /// ```
    #[must_use]
    pub fn len(&self) -> u64 {
        self.seen.run_pending_tasks();
        self.live.load(Ordering::SeqCst)
    }

    /// Whether no nonce is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn digest(key_id: &str, nonce: &str) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        ctx.update(&(key_id.len() as u64).to_be_bytes());
        ctx.update(key_id.as_bytes());
        ctx.update(nonce.as_bytes());
        let mut digest = [0u8; 32];
        digest.copy_from_slice(ctx.finish().as_ref());
        digest
    }
}

impl fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayCache")
            .field("entries", &self.live.load(Ordering::SeqCst))
            .field("capacity", &self.capacity)
            .finish()
    }
}

#[cfg(test)]
mod capacity_tests {
    use super::*;

    #[test]
    fn a_full_cache_refuses_until_nonces_expire() {
        let cache = ReplayCache::new(2, Duration::from_millis(200));
        assert_eq!(cache.admit("k", "a"), Ok(()));
        assert_eq!(cache.admit("k", "b"), Ok(()));
        assert_eq!(cache.admit("k", "c"), Err(ErrorKind::Unavailable));
        assert_eq!(cache.admit("k", "a"), Err(ErrorKind::Replayed));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(cache.admit("k", "c"), Ok(()));
        assert_eq!(cache.admit("k", "c"), Err(ErrorKind::Replayed));
    }
}
