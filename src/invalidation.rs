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
//! a tiny share of the cached ids look stale, not all of them: a tenant
//! revoking its own keys does not send other tenants to the store.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use moka::future::Cache;
use moka::ops::compute::Op;

/// Number of counters: `invalidate` makes 1/4096 of the cached ids stale
/// (32 KiB per cache).
pub(crate) const STRIPES: usize = 4096;

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

/// A cached answer that knows the generation it was read under.
#[cfg_attr(not(feature = "hmac"), allow(dead_code))]
pub(crate) trait Tagged {
    /// The generation of the id's stripe before the store was asked.
    fn generation(&self) -> u64;
}

/// The cached answer for `id`, read through `load` on a miss (concurrent
/// misses share one read) and never one read before the last invalidation
/// of `id`'s stripe: such an entry is removed (only if it is still the
/// one seen, so that a fresh answer another request put there stays) and
/// read again. `load` must read the generation before asking the store.
/// If invalidations keep racing, the third read answers uncached; a
/// request can therefore wait for up to three store reads.
#[cfg_attr(not(feature = "hmac"), allow(dead_code))]
pub(crate) async fn current<V, E, F, Fut>(
    cache: &Cache<Box<str>, Arc<V>>,
    generations: &Generations,
    id: &str,
    load: F,
) -> Result<Arc<V>, Arc<E>>
where
    V: Tagged + Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<V, E>>,
{
    let slot_key = generations.slot_key(id);
    for _ in 0..2 {
        let lookup = cache
            .try_get_with(id.into(), async { load().await.map(Arc::new) })
            .await?;
        if lookup.generation() == generations.current(slot_key) {
            return Ok(lookup);
        }
        let stale = Arc::clone(&lookup);
        cache
            .entry(id.into())
            .and_compute_with(move |entry| {
                let same = entry.is_some_and(|e| Arc::ptr_eq(e.value(), &stale));
                std::future::ready(if same { Op::Remove } else { Op::Nop })
            })
            .await;
    }
    load().await.map(Arc::new).map_err(Arc::new)
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
