//! [`CachedIds`]: which ids the shared look-up cache may hold, asked
//! before the cache is, so that an id it cannot hold (every id of a flood
//! of never-seen keys) costs one bit read rather than a cache read. A
//! cache read that misses is not free: it hashes the id, reads the clock
//! and records the miss for the cache's admission policy, now and then
//! running the cache's upkeep on the caller's thread.
//!
//! The filter is a set of bits indexed by the scheme's keyed hash of an id
//! (so that a client cannot aim its ids at the bits real keys set), in two
//! halves: the ids inserted in this period and in the last, a period being
//! at least the cache's time-to-live. A bit is set before its id enters
//! the cache and cleared no sooner than one full period after, when the
//! entry has expired. A clear bit therefore means the cache does not hold
//! the id (a set bit may be another id's); and should a bit be lost to a
//! race with a clear, the id is only read from the store once more.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// No half holds fewer bits than this.
const MIN_BITS: u64 = 1 << 12;

/// No half holds more bits than this: 128 KiB.
const MAX_BITS: u64 = 1 << 20;

/// Bits per cache entry, before rounding up to a power of two: with the
/// cache full, an id it does not hold finds its bit set (and is asked for)
/// about one time in eight, or in four while the last period's half is
/// full too; less often when the rounding leaves room. (Past
/// `MAX_BITS / BITS_PER_ENTRY` entries, more often.)
const BITS_PER_ENTRY: u64 = 8;

/// Which ids a cache of found records may hold: see the
/// [module docs](self).
pub(crate) struct CachedIds {
    halves: [Box<[AtomicU64]>; 2],
    /// The number of bits per half, less one (a power of two, less one).
    mask: u64,
    /// How long a half is the current one, in whole seconds: at least the
    /// cache's time-to-live.
    period_secs: u64,
    start: Instant,
    /// The period the halves were last turned for.
    turned: AtomicU64,
}

impl CachedIds {
    /// A filter for a cache of `capacity` entries that keeps each for
    /// `ttl`.
    pub(crate) fn new(capacity: u64, ttl: Duration) -> Self {
        let bits = capacity
            .saturating_mul(BITS_PER_ENTRY)
            .clamp(MIN_BITS, MAX_BITS)
            .next_power_of_two();
        // At most MAX_BITS / 64 words: fits any usize.
        let words = usize::try_from(bits / 64).unwrap_or(1);
        let half = || (0..words).map(|_| AtomicU64::new(0)).collect();
        Self {
            halves: [half(), half()],
            mask: bits - 1,
            period_secs: ttl
                .as_secs()
                .saturating_add(u64::from(ttl.subsec_nanos() > 0))
                .max(1),
            start: Instant::now(),
            turned: AtomicU64::new(0),
        }
    }

    /// The half the ids of `period` are set in.
    fn half(&self, period: u64) -> &[AtomicU64] {
        let [even, odd] = &self.halves;
        if period.is_multiple_of(2) {
            even
        } else {
            odd
        }
    }

    /// The word and the bit within it that stand for keyed hash `key`.
    fn place(&self, key: u64) -> (usize, u64) {
        // Mostly the high half of the hash, whose low bits also pick the
        // id's shard in the table of unknown ids and in the flights.
        let bit = ((key >> 32) ^ key.rotate_left(17)) & self.mask;
        (usize::try_from(bit / 64).unwrap_or(0), 1 << (bit % 64))
    }

    /// The current period at `now`, turning the halves if it is new: the
    /// half the new period writes to is cleared first (it held the ids of
    /// two periods ago, whose entries have expired).
    fn period_at(&self, now: Instant) -> u64 {
        let period = now.saturating_duration_since(self.start).as_secs() / self.period_secs.max(1);
        let turned = self.turned.load(Ordering::Acquire);
        if period > turned
            && self
                .turned
                .compare_exchange(turned, period, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // Two periods or more went by unseen: both halves are stale.
            let stale = if period - turned == 1 { 1 } else { 2 };
            for offset in 0..stale {
                for word in self.half(period.wrapping_add(offset)) {
                    word.store(0, Ordering::Relaxed);
                }
            }
        }
        period
    }

    /// Notes that the cache is about to hold the id whose keyed hash is
    /// `key`. Call it before the insert.
    pub(crate) fn insert(&self, key: u64, now: Instant) {
        let half = self.half(self.period_at(now));
        let (word, bit) = self.place(key);
        if let Some(word) = half.get(word) {
            word.fetch_or(bit, Ordering::Release);
        }
    }

    /// Whether the cache may hold the id whose keyed hash is `key`:
    /// `false` only if it does not.
    ///
    /// Only inserts turn the halves: a bit a reader finds is at worst that
    /// of an entry expired since, which costs it a cache read; and a bit
    /// is never cleared before its entry expires, as the half it is in is
    /// cleared only once the period after the one it was set in is over.
    pub(crate) fn may_hold(&self, key: u64) -> bool {
        let (word, bit) = self.place(key);
        self.halves.iter().any(|half| {
            half.get(word)
                .is_some_and(|w| w.load(Ordering::Acquire) & bit != 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys spread like the scheme's keyed hash.
    fn key(n: u64) -> u64 {
        let mixed = (n ^ 0x5555).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        mixed ^ (mixed >> 29)
    }

    #[test]
    fn an_inserted_id_is_held_until_a_full_period_after_its_own() {
        let ids = CachedIds::new(100, Duration::from_secs(60));
        let at = |secs| ids.start + Duration::from_secs(secs);
        ids.insert(key(1), at(59));
        assert!(ids.may_hold(key(1)));
        // The next period still holds it: its entry lives up to 60 s.
        ids.insert(key(2), at(60));
        ids.insert(key(3), at(119));
        assert!(ids.may_hold(key(1)));
        // Two periods on, its entry has expired.
        ids.insert(key(4), at(120));
        assert!(!ids.may_hold(key(1)));
        assert!(ids.may_hold(key(2)) && ids.may_hold(key(3)) && ids.may_hold(key(4)));
    }

    #[test]
    fn a_long_silence_clears_both_halves() {
        let ids = CachedIds::new(100, Duration::from_secs(60));
        let at = |secs| ids.start + Duration::from_secs(secs);
        ids.insert(key(1), at(0));
        ids.insert(key(2), at(61));
        assert!(ids.may_hold(key(1)) && ids.may_hold(key(2)));
        ids.insert(key(3), at(600));
        assert!(!ids.may_hold(key(1)));
        assert!(!ids.may_hold(key(2)));
        assert!(ids.may_hold(key(3)));
    }

    #[test]
    fn a_period_is_whole_seconds_and_at_least_one() {
        for (ttl, secs) in [
            (Duration::ZERO, 1),
            (Duration::from_millis(1), 1),
            (Duration::from_millis(1500), 2),
            (Duration::from_secs(60), 60),
            (Duration::MAX, u64::MAX),
        ] {
            assert_eq!(CachedIds::new(1, ttl).period_secs, secs, "{ttl:?}");
        }
    }

    #[test]
    fn most_ids_never_inserted_are_not_held() {
        let ids = CachedIds::new(10_000, Duration::from_secs(60));
        let now = ids.start;
        for n in 0..10_000 {
            ids.insert(key(n), now);
        }
        for n in 0..10_000 {
            assert!(ids.may_hold(key(n)), "no inserted id is missed");
        }
        let passed = (10_000..110_000).filter(|&n| ids.may_hold(key(n))).count();
        // A full cache lets about one id in thirteen through (10,000 ids
        // over 131,072 bits: 7.6 %).
        assert!(passed < 10_000, "{passed} of 100,000");
    }

    #[test]
    fn the_filter_is_bounded_whatever_the_capacity() {
        for capacity in [0, 1, 10_000, u64::MAX] {
            let ids = CachedIds::new(capacity, Duration::ZERO);
            let bits = (ids.mask + 1) * 2;
            assert!((2 * MIN_BITS..=2 * MAX_BITS).contains(&bits), "{capacity}");
            assert_eq!(ids.halves[0].len() as u64 * 64, ids.mask + 1);
            ids.insert(key(capacity), ids.start);
            assert!(ids.may_hold(key(capacity)));
        }
    }
}
