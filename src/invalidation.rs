//! Invalidation generations: how a cache tells an answer read before an
//! `invalidate` from one read after it.
//!
//! A cache filled by an asynchronous store read has two ways to serve a
//! stale answer after `invalidate(id)` returned: a read that began before
//! the invalidation finishes after it and is inserted (moka's
//! `try_get_with` inserts whatever its loader returns), or another thread
//! copies the old entry somewhere (a per-thread table) in the moment
//! between the invalidation's steps. Both are closed the same way: every
//! answer carries the generation of its id's stripe as it was *before* the
//! store was asked, `invalidate` bumps that generation *before* it removes
//! anything, and an answer whose generation is no longer current is never
//! used.
//!
//! Ids hash to one of [`STRIPES`] counters, so that an invalidation makes
//! a small share of the cached ids look stale, not all of them.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

/// Number of counters: `invalidate` makes 1/64 of the cached ids stale.
pub(crate) const STRIPES: usize = 64;

/// One counter per stripe of ids, bumped by each invalidation of an id in
/// the stripe.
pub(crate) struct Generations {
    counters: [AtomicU64; STRIPES],
    hasher: RandomState,
}

impl Generations {
    pub(crate) fn new() -> Self {
        Self {
            counters: [const { AtomicU64::new(0) }; STRIPES],
            hasher: RandomState::new(),
        }
    }

    /// The keyed hash of `id`: which stripe it is in (and, for callers that
    /// keep per-thread tables, where it lives there).
    pub(crate) fn slot_key(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    fn counter(&self, slot_key: u64) -> &AtomicU64 {
        // The remainder is below STRIPES, so it fits a usize and indexes.
        #[allow(clippy::cast_possible_truncation)]
        let index = (slot_key % STRIPES as u64) as usize;
        let [first, ..] = &self.counters;
        self.counters.get(index).unwrap_or(first)
    }

    /// The current generation of the stripe of the id with `slot_key`.
    pub(crate) fn current(&self, slot_key: u64) -> u64 {
        self.counter(slot_key).load(Ordering::SeqCst)
    }

    /// Makes every answer for the stripe of `id` read so far stale. Call it
    /// before removing the cached entry.
    pub(crate) fn bump(&self, id: &str) {
        self.counter(self.slot_key(id))
            .fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_makes_only_its_stripe_stale() {
        let generations = Generations::new();
        let a = generations.slot_key("a");
        let other = (0..10_000)
            .map(|i| format!("id{i}"))
            .map(|id| generations.slot_key(&id))
            .find(|&k| k % STRIPES as u64 != a % STRIPES as u64)
            .unwrap_or(a + 1);
        let (before_a, before_other) = (generations.current(a), generations.current(other));
        generations.bump("a");
        assert_ne!(generations.current(a), before_a);
        assert_eq!(generations.current(other), before_other);
    }
}
