//! [`ReplayCache`]: remembers the nonces of accepted requests for as long as
//! their timestamp could still be accepted.
//!
//! # Two clocks
//!
//! A signed request is accepted when its timestamp `ts` is inside the
//! window around the *wall clock* (`now - window <= ts <= now + window`,
//! the scheme's [`Clock`](crate::clock::Clock)) and its nonce is not in the
//! cache. The cache itself forgets a nonce after a fixed time-to-live on
//! the *monotonic* clock ([`Instant`]), `2 × window + 1 s`: that is how
//! long a timestamp stays acceptable while the wall clock runs forward, and
//! a wall clock stepped *forward* cannot make the cache forget early.
//!
//! A wall clock stepped *backward* breaks that pairing: the window moves
//! back over timestamps whose nonces the monotonic clock has already aged
//! out. Accept `ts = T` at wall time `T`; step the wall clock back by more
//! than the window; once `2 × window + 1 s` have passed (monotonic), the
//! nonce is forgotten while the wall clock reads at most `T + window`, and
//! the captured request verifies again. (`tests/faults.rs` shows it with a
//! one-second window and real sleeps; the same step does nothing to a
//! cache whose nonces are still live.) No retention rule on either clock
//! alone closes this: a rule on the wall clock forgets early after a
//! forward step, and any bounded rule forgets before an arbitrary backward
//! step.
//!
//! So the native scheme passes the signed timestamp with the nonce
//! ([`ReplayCache::admit_signed`]), and the cache keeps a *floor*: one more
//! than the newest timestamp among the nonces it has forgotten. Before a
//! nonce is dropped the floor is raised past its timestamp, under the same
//! lock that guards the nonce; a timestamped request below the floor is
//! refused (`expired`). Any replay therefore meets either its nonce or the
//! floor, whatever the wall clock did meanwhile, and memory stays bounded.
//!
//! The floor never refuses a request the window accepts while the wall
//! clock runs forward: a forgotten `ts` was at most `now₀ + window` when it
//! was accepted (wall time `now₀`), it is forgotten no earlier than
//! `2 × window + 1 s` later, when the window starts at
//! `now₀ + window + 1 s` at least, which is the floor. It only bites after
//! a backward step, and only timestamps older than ones already forgotten:
//! requests that the server, with its corrected clock, no longer remembers
//! enough to judge. It is raised only by requests whose signature verified,
//! and only to timestamps the window accepted, so a forward glitch of the
//! server's clock alone does not raise it (clients keep signing with their
//! own clocks). A cache shared with a TTL shorter than `2 × window + 1 s`
//! forgets sooner and so refuses requests near the old edge of the window:
//! it fails closed, where a TTL-only cache would let them be replayed.
//!
//! Nonces without a timestamp ([`ReplayCache::admit`]: the RFC 9421 and
//! webhook schemes) are kept for the TTL as before and do not move the
//! floor.

use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::fingerprint_set::{Fingerprint, FingerprintSet};
use super::siphash::Fingerprinter;
use crate::error::ErrorKind;
use crate::telemetry::CacheMetrics;

/// Independent locks: requests for different nonces rarely wait on each
/// other.
const SHARDS: usize = 32;

/// A bounded set of `(key id, nonce)` pairs already accepted, each kept for
/// a time-to-live.
///
/// Only requests whose signature verified are recorded, so forged requests
/// cannot fill it. Entries are 128-bit fingerprints keyed with a per-cache
/// random secret (SipHash-1-3 in its 128-bit mode), so long nonces cost no more memory
/// than short ones and nobody can aim two nonces at one entry; a chance
/// collision (about 2⁻¹²⁸ per pair) refuses a request, it never admits one.
/// Clones share the cache: give one to several schemes to reject a nonce
/// used on any of them.
///
/// The time-to-live must cover every instant at which the request's
/// timestamp is still inside the window: a request stamped `window` in the
/// future stays acceptable for `2 × window` plus the second the whole-second
/// window check rounds away, so the schemes size it `2 × window + 1 s`.
/// It runs on the monotonic clock; for what a wall clock stepped backward
/// would otherwise reopen, see [`admit_signed`](Self::admit_signed).
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
    shared: Arc<Shared>,
}

struct Shared {
    shards: Box<[Mutex<Shard>]>,
    /// Nonces held, counted exactly.
    live: AtomicU64,
    capacity: u64,
    ttl: Duration,
    metrics: CacheMetrics,
    /// Timestamped admissions below this are refused: one more than the
    /// newest timestamp among the nonces forgotten so far.
    floor: AtomicU64,
    /// The fingerprints' secret key, drawn once per cache.
    key: (u64, u64),
    clock: Monotonic,
}

#[derive(Default)]
struct Shard {
    /// The nonces held.
    seen: FingerprintSet,
    /// The same, in the order they expire (one TTL for all: the order they
    /// were added), with their signed timestamps.
    expiring: VecDeque<Expiring>,
}

struct Expiring {
    deadline: Instant,
    fingerprint: Fingerprint,
    /// The signed timestamp, `NO_TIMESTAMP` for none.
    signed_at: u64,
}

const NO_TIMESTAMP: u64 = u64::MAX;

impl ReplayCache {
    /// A cache of at most `capacity` nonces, each kept for `ttl`.
    ///
    /// Fails closed: a nonce still inside its window is never evicted to
    /// make room. When the cache holds `capacity` live nonces, new requests
    /// are refused (503) until some expire, so size it for the peak request
    /// rate times the TTL.
    #[must_use]
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self::with_clock(capacity, ttl, Monotonic::System)
    }

    fn with_clock(capacity: u64, ttl: Duration, clock: Monotonic) -> Self {
        Self {
            shared: Arc::new(Shared {
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
                live: AtomicU64::new(0),
                capacity,
                ttl,
                metrics: CacheMetrics::new("replay"),
                floor: AtomicU64::new(0),
                key: random_key(),
                clock,
            }),
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
        self.admit_in("", key_id, nonce, None)
    }

    /// Records `nonce` for `key_id`, for a request signed at `signed_at`
    /// (Unix seconds) that the caller's window accepted. As
    /// [`admit`](Self::admit), and safe against a wall clock stepped back:
    /// a request older than a nonce the cache has already forgotten is
    /// refused with [`ErrorKind::Expired`], since its own nonce may be one
    /// of those. While the wall clock runs forward this never refuses a
    /// request the window accepts (the reasoning is in the source of this
    /// module).
    ///
    /// ```
    /// use authgate::{hmac::ReplayCache, ErrorKind};
    /// use std::time::Duration;
    ///
    /// let cache = ReplayCache::new(100, Duration::from_secs(600));
    /// assert_eq!(cache.admit_signed("k", "n-1", 1_700_000_000), Ok(()));
    /// assert_eq!(cache.admit_signed("k", "n-1", 1_700_000_000), Err(ErrorKind::Replayed));
    /// ```
    ///
    /// # Errors
    ///
    /// As above.
    pub fn admit_signed(&self, key_id: &str, nonce: &str, signed_at: u64) -> Result<(), ErrorKind> {
        self.admit_in("", key_id, nonce, Some(signed_at))
    }

    /// Records `nonce` for `key_id` of `scheme` (the
    /// [`ReplayStore`](crate::replay::ReplayStore) entry point).
    pub(crate) fn admit_in(
        &self,
        scheme: &str,
        key_id: &str,
        nonce: &str,
        signed_at: Option<u64>,
    ) -> Result<(), ErrorKind> {
        let fingerprint = self.shared.fingerprint(scheme, key_id, nonce);
        self.shared.admit(fingerprint, signed_at)
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
        self.shared.prune_all();
        self.shared.live.load(Ordering::SeqCst)
    }

    /// Whether no nonce is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Shared {
    fn admit(&self, fingerprint: Fingerprint, signed_at: Option<u64>) -> Result<(), ErrorKind> {
        let index = usize::try_from(fingerprint.shard_word() % SHARDS as u64).unwrap_or(0);
        let Some(shard) = self.shards.get(index) else {
            return Err(ErrorKind::Unavailable);
        };
        let mut pruned_all = false;
        loop {
            let mut guard = lock(shard);
            let now = self.clock.now();
            self.prune(&mut guard, now);
            // The floor is read under the lock that removed this nonce, if
            // it was removed: it is already past the nonce's timestamp.
            if signed_at.is_some_and(|ts| ts < self.floor.load(Ordering::SeqCst)) {
                return Err(ErrorKind::Expired);
            }
            if self.reserve() {
                // One probe of the table: the insert tells a replay.
                if !guard.seen.insert(fingerprint) {
                    self.live.fetch_sub(1, Ordering::SeqCst);
                    self.metrics.lookup(true);
                    return Err(ErrorKind::Replayed);
                }
                self.metrics.lookup(false);
                self.metrics.entries(self.live.load(Ordering::Relaxed));
                guard.expiring.push_back(Expiring {
                    deadline: now + self.ttl,
                    fingerprint,
                    signed_at: signed_at.unwrap_or(NO_TIMESTAMP),
                });
                return Ok(());
            }
            // A replay is a replay, full or not.
            if guard.seen.contains(&fingerprint) {
                self.metrics.lookup(true);
                return Err(ErrorKind::Replayed);
            }
            if pruned_all {
                return Err(ErrorKind::Unavailable);
            }
            // Full: count out what has expired everywhere, then look again.
            drop(guard);
            self.prune_all();
            pruned_all = true;
        }
    }

    /// Takes one of the `capacity` places.
    fn reserve(&self) -> bool {
        self.live
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |live| {
                (live < self.capacity).then_some(live + 1)
            })
            .is_ok()
    }

    /// Drops the shard's expired nonces, raising the floor past each
    /// forgotten timestamp first.
    fn prune(&self, shard: &mut Shard, now: Instant) {
        while let Some(oldest) = shard.expiring.front() {
            if oldest.deadline > now {
                break;
            }
            let (fingerprint, signed_at) = (oldest.fingerprint, oldest.signed_at);
            if signed_at != NO_TIMESTAMP {
                self.floor
                    .fetch_max(signed_at.saturating_add(1), Ordering::SeqCst);
            }
            shard.expiring.pop_front();
            if shard.seen.remove(&fingerprint) {
                self.live.fetch_sub(1, Ordering::SeqCst);
                self.metrics
                    .removed(moka::notification::RemovalCause::Expired);
            }
        }
    }

    fn prune_all(&self) {
        let now = self.clock.now();
        for shard in &self.shards {
            self.prune(&mut lock(shard), now);
        }
    }

    /// 128 bits, keyed (one SipHash-1-3 pass in its 128-bit mode):
    /// length-prefixed, so `("ab", "c")` and `("a", "bc")` differ.
    fn fingerprint(&self, scheme: &str, key_id: &str, nonce: &str) -> Fingerprint {
        let (k0, k1) = self.key;
        let mut hasher = Fingerprinter::new(k0, k1);
        // Laid out in one buffer first when they fit: one pass over whole
        // words instead of carrying partial words between the parts.
        let mut buffer = [0u8; 128];
        match lay_out(&mut buffer, scheme, key_id, nonce) {
            Some(bytes) => hasher.write(bytes),
            None => {
                for part in [scheme, key_id] {
                    hasher.write(&(part.len() as u64).to_le_bytes());
                    hasher.write(part.as_bytes());
                }
                hasher.write(nonce.as_bytes());
            }
        }
        let (high, low) = hasher.finish();
        Fingerprint::new(high, low)
    }
}

/// `len(scheme) scheme len(key_id) key_id nonce` (lengths as 8 bytes,
/// little-endian) in `buffer`, if it fits: the bytes the slow path of
/// [`Shared::fingerprint`] writes, in the same order.
fn lay_out<'b>(buffer: &'b mut [u8], scheme: &str, key_id: &str, nonce: &str) -> Option<&'b [u8]> {
    fn put<'r>(rest: &'r mut [u8], part: &[u8]) -> Option<&'r mut [u8]> {
        let (head, tail) = rest.split_at_mut_checked(part.len())?;
        head.copy_from_slice(part);
        Some(tail)
    }
    let total = 16 + scheme.len() + key_id.len() + nonce.len();
    let mut rest = &mut *buffer;
    for part in [scheme, key_id] {
        rest = put(rest, &(part.len() as u64).to_le_bytes())?;
        rest = put(rest, part.as_bytes())?;
    }
    put(rest, nonce.as_bytes())?;
    buffer.get(..total)
}

/// A random 128-bit key for the fingerprints: from the system's random
/// source, or the standard library's per-process random hasher keys if
/// that fails (it does not on the platforms ring supports).
fn random_key() -> (u64, u64) {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_ok() {
        let (a, b) = bytes.split_at(8);
        let word = |half: &[u8]| <[u8; 8]>::try_from(half).map_or(0, u64::from_le_bytes);
        return (word(a), word(b));
    }
    let state = RandomState::new();
    (state.hash_one(0u8), state.hash_one(1u8))
}

/// A shard's map and queue are consistent between any two statements that
/// could panic, so a poisoned lock is still usable.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The clock TTLs run on.
enum Monotonic {
    System,
    /// Moved by hand, in unit tests.
    #[cfg(test)]
    Driven(Arc<Mutex<Instant>>),
}

impl Monotonic {
    fn now(&self) -> Instant {
        match self {
            Self::System => Instant::now(),
            #[cfg(test)]
            Self::Driven(now) => *now.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }
}

impl fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayCache")
            .field("entries", &self.shared.live.load(Ordering::SeqCst))
            .field("capacity", &self.shared.capacity)
            .field("ttl", &self.shared.ttl)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_length_prefixed_and_long_nonces_remembered() {
        let cache = ReplayCache::new(10, Duration::from_secs(60));
        let long = "n".repeat(300);
        assert_eq!(cache.admit("k", &long), Ok(()));
        assert_eq!(cache.admit("k", &long), Err(ErrorKind::Replayed));
        assert_eq!(cache.admit("k", &"n".repeat(299)), Ok(()));
        let shared = &cache.shared;
        // Both paths hash the same bytes: a fingerprint does not depend on
        // which one laid them out.
        let mut buffer = [0u8; 128];
        let bytes = lay_out(&mut buffer, "s", "key", "nonce").unwrap().to_vec();
        assert_eq!(
            bytes,
            b"\x01\0\0\0\0\0\0\0s\x03\0\0\0\0\0\0\0keynonce".to_vec()
        );
        assert!(lay_out(&mut [0u8; 20], "s", "key", "nonce").is_none());
        let (k0, k1) = shared.key;
        let streamed = |parts: &[&[u8]]| {
            let mut hasher = Fingerprinter::new(k0, k1);
            for part in parts {
                hasher.write(part);
            }
            let (high, low) = hasher.finish();
            Fingerprint::new(high, low)
        };
        let long = "n".repeat(150);
        for nonce in ["nonce", long.as_str()] {
            let expected = streamed(&[
                &1u64.to_le_bytes(),
                b"s",
                &3u64.to_le_bytes(),
                b"key",
                nonce.as_bytes(),
            ]);
            assert!(
                shared.fingerprint("s", "key", nonce) == expected,
                "{}",
                nonce.len()
            );
        }
        assert!(shared.fingerprint("s", "key", "nonce") == shared.fingerprint("s", "key", "nonce"));
        assert!(shared.fingerprint("ab", "c", "n") != shared.fingerprint("a", "bc", "n"));
        assert!(shared.fingerprint("a", "b", "cn") != shared.fingerprint("a", "bc", "n"));
        // Another cache draws another key.
        let other = ReplayCache::new(10, Duration::from_secs(60));
        assert!(shared.fingerprint("s", "k", "n") != other.shared.fingerprint("s", "k", "n"));
    }

    fn driven(capacity: u64, ttl: Duration) -> (ReplayCache, Arc<Mutex<Instant>>) {
        let now = Arc::new(Mutex::new(Instant::now()));
        let cache = ReplayCache::with_clock(capacity, ttl, Monotonic::Driven(Arc::clone(&now)));
        (cache, now)
    }

    fn advance(now: &Mutex<Instant>, by: Duration) {
        let mut now = now.lock().unwrap();
        *now += by;
    }

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

    #[test]
    fn nonces_are_forgotten_after_the_ttl_exactly() {
        let (cache, now) = driven(10, Duration::from_secs(601));
        assert_eq!(cache.admit("k", "n"), Ok(()));
        advance(&now, Duration::from_secs(600));
        assert_eq!(cache.admit("k", "n"), Err(ErrorKind::Replayed));
        assert_eq!(cache.len(), 1);
        advance(&now, Duration::from_secs(1));
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.admit("k", "n"), Ok(()), "no timestamp: no floor");
    }

    #[test]
    fn a_forgotten_timestamp_stays_refused() {
        const T: u64 = 1_700_000_000;
        let (cache, now) = driven(10, Duration::from_secs(601));
        assert_eq!(cache.admit_signed("k", "n", T), Ok(()));
        advance(&now, Duration::from_secs(601));
        // Whatever the wall clock says now, `T` is below the floor.
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.admit_signed("k", "n", T), Err(ErrorKind::Expired));
        assert_eq!(cache.admit_signed("k", "other", T), Err(ErrorKind::Expired));
        assert_eq!(cache.admit_signed("k", "other", T + 1), Ok(()));
        // Untimestamped nonces are not judged by the floor.
        assert_eq!(cache.admit("k", "n"), Ok(()));
    }

    #[test]
    fn the_floor_is_raised_before_the_nonce_goes() {
        // Many nonces over many shards, forgotten in one sweep: each of
        // them is refused afterwards, never admitted again.
        let (cache, now) = driven(1_000, Duration::from_secs(10));
        for i in 0..500u64 {
            assert_eq!(cache.admit_signed("k", &format!("n{i}"), 1_000 + i), Ok(()));
        }
        advance(&now, Duration::from_secs(10));
        for i in 0..500u64 {
            assert_eq!(
                cache.admit_signed("k", &format!("n{i}"), 1_000 + i),
                Err(ErrorKind::Expired),
                "n{i}"
            );
        }
        assert_eq!(cache.admit_signed("k", "fresh", 1_500), Ok(()));
    }

    #[test]
    fn capacity_is_exact_under_contention() {
        let cache = ReplayCache::new(100, Duration::from_secs(600));
        let admitted = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for t in 0..4 {
                let (cache, admitted) = (&cache, &admitted);
                scope.spawn(move || {
                    for i in 0..100 {
                        if cache.admit("k", &format!("{t}-{i}")).is_ok() {
                            admitted.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        assert_eq!(admitted.load(Ordering::SeqCst), 100);
        assert_eq!(cache.len(), 100);
    }

    #[test]
    fn of_two_identical_concurrent_requests_one_wins() {
        for round in 0..50 {
            let cache = ReplayCache::new(100, Duration::from_secs(600));
            let wins = AtomicU64::new(0);
            std::thread::scope(|scope| {
                for _ in 0..2 {
                    scope.spawn(|| {
                        if cache.admit_signed("k", "same", 1).is_ok() {
                            wins.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                }
            });
            assert_eq!(wins.load(Ordering::SeqCst), 1, "round {round}");
        }
    }

    #[test]
    fn fingerprints_separate_key_ids_from_nonces() {
        let cache = ReplayCache::new(10, Duration::from_secs(600));
        assert_eq!(cache.admit("ab", "c"), Ok(()));
        assert_eq!(cache.admit("a", "bc"), Ok(()));
        let other = ReplayCache::new(10, Duration::from_secs(600));
        assert!(
            cache.shared.fingerprint("", "k", "n") != other.shared.fingerprint("", "k", "n"),
            "each cache has its own key"
        );
    }
}
