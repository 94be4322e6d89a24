//! [`InProcessLimiter`]: GCRA state in bounded, sharded tables of this
//! process.
//!
//! One theoretical arrival time (TAT) per caller. A TAT that has fallen
//! behind the clock says exactly what no state says (a full burst), so such
//! entries are dropped whenever a table needs room, with no change in any
//! decision; only when every entry of a full table still matters is the
//! table thinned by an eighth (those callers start again with a full
//! burst). That keeps memory at [`capacity`](InProcessLimiter::with_capacity)
//! entries under a flood of distinct callers, at an amortised constant cost
//! per request, and the hot path at one hash, one uncontended lock and no
//! allocation.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::backend::{LimitCheck, RateLimiter};
use super::quota::{gcra, Charge, Decision, Quota};

/// The default number of callers whose state is kept.
pub const DEFAULT_CAPACITY: u64 = 100_000;

/// Keys up to this long are written on the stack.
const KEY_ON_STACK: usize = 128;

/// At most this many tables, each behind its own lock.
const MAX_SHARDS: usize = 64;

/// A rate limiter in this process: one theoretical arrival time (8 bytes and
/// the key) per caller, in bounded tables, so that a flood of distinct
/// callers costs at most [`capacity`](Self::with_capacity) entries.
///
/// A caller's state is kept for as long as it matters (until its burst has
/// refilled) and then dropped when room is needed, which changes nothing.
/// Only when the tables are full of callers that all still matter is one
/// of them forgotten early, starting again with a full burst: keep the
/// capacity above the number of callers active within your longest quota
/// period.
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
    shards: Box<[Mutex<Shard>]>,
    /// Keyed per limiter: which table a key lands in, and its slot there,
    /// cannot be steered by whoever picks key ids.
    hasher: RandomState,
    epoch: Instant,
    capacity: u64,
}

/// One table: callers by the 64-bit hash of their key. The key itself is
/// kept and compared, so two keys never share a budget; on a (keyed,
/// unforgeable, about 2⁻⁶⁴) hash collision the newer caller takes the slot.
struct Shard {
    slots: HashMap<u64, Slot, BuildHasherDefault<Prehashed>>,
    limit: usize,
}

struct Slot {
    key: Box<[u8]>,
    tat: u64,
}

/// The map's keys are already keyed SipHash outputs: hashing them again
/// would only cost time.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        // The table was picked by the top bits, which the map's probe tags
        // also read: one multiplication spreads the low bits over them.
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed (`write_u64`); fold anything else in.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

impl Default for InProcessLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessLimiter {
    /// A limiter keeping up to [`DEFAULT_CAPACITY`] callers.
    #[must_use]
    pub fn new() -> Self {
        Self::build(DEFAULT_CAPACITY)
    }

    /// The most callers whose state is kept (at least 1). Defaults to
    /// [`DEFAULT_CAPACITY`].
    ///
    /// ```
    /// # use authgate::ratelimit::InProcessLimiter;
    /// let limiter = InProcessLimiter::new().with_capacity(1_000_000);
    /// # let _ = limiter;
    /// ```
    #[must_use]
    pub fn with_capacity(self, capacity: u64) -> Self {
        Self::build(capacity)
    }

    fn build(capacity: u64) -> Self {
        let capacity = capacity.max(1);
        let total = usize::try_from(capacity).unwrap_or(usize::MAX);
        // Enough tables that threads rarely meet on one lock, few enough
        // that each holds a useful number of callers (at least 64 where the
        // capacity allows); a power of two, so a table is picked by bits.
        let mut shards = MAX_SHARDS;
        while shards > 1 && total / shards < 64 {
            shards /= 2;
        }
        let limit = (total / shards).max(1);
        let shards = (0..shards)
            .map(|_| {
                Mutex::new(Shard {
                    slots: HashMap::default(),
                    limit,
                })
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                shards,
                hasher: RandomState::new(),
                epoch: Instant::now(),
                capacity,
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
        self.decide_bytes(key.as_bytes(), quota, charge)
    }

    /// [`decide`](Self::decide) for the key that is the concatenation of
    /// `parts` (the rate-limit layer's `policy:scheme:id`), written on the
    /// stack rather than into a `String`: nothing is allocated but a new
    /// caller's stored key.
    pub(crate) fn decide_parts(&self, parts: &[&str], quota: &Quota, charge: Charge) -> Decision {
        let mut buffer = [0u8; KEY_ON_STACK];
        let mut len = 0;
        for part in parts {
            let end = len + part.len();
            let room = buffer.get_mut(len..end);
            match (room, part.as_bytes()) {
                // The separators: a store, not a call to `memcpy`.
                (Some([slot]), [byte]) => *slot = *byte,
                (Some(room), bytes) => room.copy_from_slice(bytes),
                // A very long key (a long custom key or subject).
                (None, _) => return self.decide_bytes(parts.concat().as_bytes(), quota, charge),
            }
            len = end;
        }
        self.decide_bytes(buffer.get(..len).unwrap_or_default(), quota, charge)
    }

    fn decide_bytes(&self, key: &[u8], quota: &Quota, charge: Charge) -> Decision {
        // Nanoseconds since this limiter was made; never 0, the "no state"
        // value.
        let now = u64::try_from(self.inner.epoch.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        // As `str` hashes: the bytes, then 0xff.
        let mut hasher = self.inner.hasher.build_hasher();
        hasher.write(key);
        hasher.write_u8(0xff);
        let hash = hasher.finish();
        let Some(mut shard) = self.shard(hash) else {
            // `build` always makes at least one table.
            return gcra(0, now, quota, charge).0;
        };
        // A known caller: one look-up, updated in place.
        if let Some(slot) = shard.slots.get_mut(&hash) {
            if *slot.key == *key {
                let (decision, next) = gcra(slot.tat, now, quota, charge);
                if let Some(next) = next {
                    slot.tat = next;
                }
                return decision;
            }
        }
        let (decision, next) = gcra(0, now, quota, charge);
        if let Some(next) = next {
            shard.store(hash, key, next, now);
        }
        decision
    }

    fn shard(&self, hash: u64) -> Option<std::sync::MutexGuard<'_, Shard>> {
        // The top bits pick the table (the table count is a power of two
        // no larger than 64); `Prehashed` remixes them for the map.
        let shards = &self.inner.shards;
        let index = usize::try_from(hash >> 58).unwrap_or(0) % shards.len().max(1);
        let shard = shards.get(index)?;
        // A panic while a table was held cannot leave it half-written (no
        // code in the critical section panics); carry on with it.
        Some(shard.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The number of callers held.
    ///
    /// ```
    /// # use authgate::ratelimit::{Charge, InProcessLimiter, Quota};
    /// let limiter = InProcessLimiter::new();
    /// let _ = limiter.decide("k", &Quota::per_second(1), Charge::Acquire);
    /// assert_eq!(limiter.entry_count(), 1);
    /// ```
    #[must_use]
    pub fn entry_count(&self) -> u64 {
        self.inner
            .shards
            .iter()
            .map(|shard| {
                let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
                u64::try_from(shard.slots.len()).unwrap_or(u64::MAX)
            })
            .sum()
    }
}

impl Shard {
    fn store(&mut self, hash: u64, key: &[u8], tat: u64, now: u64) {
        if let Some(slot) = self.slots.get_mut(&hash) {
            if *slot.key != *key {
                slot.key = key.into();
            }
            slot.tat = tat;
            return;
        }
        if self.slots.len() >= self.limit {
            self.make_room(now);
        }
        self.slots.insert(
            hash,
            Slot {
                key: key.into(),
                tat,
            },
        );
    }

    /// Drops every caller whose burst has refilled (forgetting them changes
    /// no decision); when that frees less than an eighth of the table,
    /// forgets arbitrary callers down to seven eighths, so that a flood of
    /// active callers costs a constant amount per request, amortised.
    fn make_room(&mut self, now: u64) {
        self.slots.retain(|_, slot| slot.tat > now);
        let target = self.limit - self.limit.div_ceil(8);
        let mut excess = self.slots.len().saturating_sub(target);
        if excess > 0 {
            self.slots.retain(|_, _| {
                if excess == 0 {
                    return true;
                }
                excess -= 1;
                false
            });
        }
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
            .field("shards", &self.inner.shards.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn callers_whose_burst_refilled_make_room_first() {
        let limiter = InProcessLimiter::new().with_capacity(64);
        assert_eq!(limiter.inner.shards.len(), 1);
        // A caller that still matters...
        let slow = Quota::per_hour(1);
        assert!(limiter
            .decide("active", &slow, Charge::Acquire)
            .is_allowed());
        // ...and many whose state is stale a moment later.
        let fast = Quota::new(1, Duration::from_micros(1));
        for i in 0..1_000 {
            let _ = limiter.decide(&format!("k{i}"), &fast, Charge::Acquire);
        }
        assert!(limiter.entry_count() <= 64);
        assert!(!limiter
            .decide("active", &slow, Charge::Acquire)
            .is_allowed());
    }

    #[test]
    fn a_key_in_parts_is_the_same_caller_as_the_whole_key() {
        let limiter = InProcessLimiter::new();
        let quota = Quota::per_minute(2);
        assert!(limiter
            .decide("p:api_key:k1", &quota, Charge::Acquire)
            .is_allowed());
        let parts = ["p", ":", "api_key", ":", "k1"];
        assert!(limiter
            .decide_parts(&parts, &quota, Charge::Acquire)
            .is_allowed());
        assert!(!limiter
            .decide_parts(&parts, &quota, Charge::Acquire)
            .is_allowed());
        // Same bytes split differently: still one caller; other bytes: not.
        assert!(!limiter
            .decide_parts(&["p:api", "_key:k1"], &quota, Charge::Acquire)
            .is_allowed());
        assert!(limiter
            .decide_parts(&["p", ":", "api_key", ":", "k2"], &quota, Charge::Acquire)
            .is_allowed());
        assert_eq!(limiter.entry_count(), 2);
        // Longer than the stack buffer: the same caller either way.
        let long = "x".repeat(300);
        assert!(limiter
            .decide_parts(&["p:", &long], &quota, Charge::Acquire)
            .is_allowed());
        assert!(limiter
            .decide(&format!("p:{long}"), &quota, Charge::Acquire)
            .is_allowed());
        assert!(!limiter
            .decide_parts(&["p:", &long], &quota, Charge::Acquire)
            .is_allowed());
    }

    #[test]
    fn a_peek_creates_no_state() {
        let limiter = InProcessLimiter::new();
        let quota = Quota::per_minute(1);
        assert!(limiter.decide("k", &quota, Charge::Peek).is_allowed());
        assert_eq!(limiter.entry_count(), 0);
    }
}
