//! [`ReplayCache`]: remembers the nonces of accepted requests for as long as
//! their timestamp could still be accepted.

use std::fmt;
use std::time::Duration;

use moka::sync::Cache;

/// A bounded, TTL'd set of `(key id, nonce)` pairs already accepted.
///
/// Only requests whose signature verified are recorded, so forged requests
/// cannot fill it. Entries are SHA-256 digests (32 bytes each), so long
/// nonces cost no more memory than short ones. Clones share the cache: give
/// one to several schemes to reject a nonce used on any of them.
///
/// The time-to-live must cover every instant at which the request's
/// timestamp is still inside the window: a request stamped `window` in the
/// future stays acceptable for `2 × window`, so the schemes size it that way.
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
}

impl ReplayCache {
    /// A cache of at most `capacity` nonces, each kept for `ttl`.
    ///
    /// When full, the least recently used entries are evicted first: size
    /// it for the request rate times the TTL.
    #[must_use]
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            seen: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// Records `nonce` for `key_id`; `true` the first time, `false` for a
    /// replay. Atomic: of two concurrent identical requests, one wins.
    #[must_use]
    pub fn first_use(&self, key_id: &str, nonce: &str) -> bool {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        ctx.update(&(key_id.len() as u64).to_be_bytes());
        ctx.update(key_id.as_bytes());
        ctx.update(nonce.as_bytes());
        let mut digest = [0u8; 32];
        digest.copy_from_slice(ctx.finish().as_ref());
        self.seen.entry(digest).or_insert(()).is_fresh()
    }
}

impl fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayCache")
            .field("entries", &self.seen.entry_count())
            .finish()
    }
}
