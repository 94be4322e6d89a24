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
use std::hash::{BuildHasher, Hasher};
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
    /// [`slot_key`](Self::slot_key)'s hash, keyed per instance.
    hasher: SlotHasher,
}

impl Generations {
    pub(crate) fn new() -> Self {
        Self {
            counters: [const { AtomicU64::new(0) }; STRIPES],
            hasher: SlotHasher::new(),
        }
    }

    /// The keyed hash of `id` ([`SlotHasher`]): which stripe it is in
    /// (and, for callers that keep per-thread tables, where it lives there).
    pub(crate) fn slot_key(&self, id: &str) -> u64 {
        self.hasher.hash(id.as_bytes())
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

/// The keyed hash of an id (an API-key id, an HMAC key id, a token) for
/// [`Generations`] stripes and per-thread table slots.
///
/// Every request with an id pays for it, so this is a folded multiply per
/// 8 bytes under two secret keys (the construction of foldhash and
/// wyhash) rather than SipHash: about a tenth of the instructions for
/// a 24-byte id. It is not collision-resistant against someone who
/// knows the keys, and it need not be, because no decision rests on
/// two ids hashing apart:
///
/// - A generation is read and bumped through this same function of the
///   id, so `invalidate(id)` always makes `id`'s answers stale whatever
///   else shares its stripe. Ids that collide (as thousands do anyway:
///   there are [`STRIPES`] stripes) only make each other's invalidations
///   look like theirs: a spurious reload, never a stale grant.
/// - The per-thread tables and the table of unknown API-key ids use it
///   only to find a slot; a hit is used only after the whole id (or
///   token) stored there compares equal, so a collision is a miss.
///
/// The keys keep a client from choosing ids that crowd one stripe or
/// slot (which would cost reloads and misses, not grants).
#[derive(Clone, Copy)]
pub(crate) struct SlotHasher {
    keys: [u64; 2],
}

impl SlotHasher {
    /// A hasher under two fresh secret keys.
    pub(crate) fn new() -> Self {
        // `RandomState` keys come from the system's randomness; two hashes
        // of fixed inputs under one of them are two secret 64-bit keys.
        let random = RandomState::new();
        Self {
            keys: [random.hash_one(0u64), random.hash_one(1u64)],
        }
    }

    /// The hash of `bytes`.
    pub(crate) fn hash(&self, bytes: &[u8]) -> u64 {
        let [k0, k1] = self.keys;
        // The length goes in first, so that ids differing only in trailing
        // zero bytes (the padding of the last chunk) hash apart.
        let mut state = k0 ^ (bytes.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            state = folded_multiply(state ^ u64::from_le_bytes(word), k1);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            if let Some(head) = word.get_mut(..rest.len()) {
                head.copy_from_slice(rest);
            }
            state = folded_multiply(state ^ u64::from_le_bytes(word), k1);
        }
        folded_multiply(state, k0 ^ k1)
    }
}

/// [`SlotHasher`] as a [`BuildHasher`], for the maps keyed by ids that a
/// request may reach (the shared look-up cache, the in-memory key store):
/// SipHash costs about 200 instructions for a 16-byte id, which a flood of
/// never-seen ids pays on every request, up to three times. Fresh secret
/// keys per map, so that a client cannot choose ids that collide (the
/// same argument as for [`SlotHasher`]: a collision costs probes, and the
/// map compares the whole key).
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "api-key"), allow(dead_code))]
pub(crate) struct IdHasher(SlotHasher);

impl Default for IdHasher {
    fn default() -> Self {
        Self(SlotHasher::new())
    }
}

impl BuildHasher for IdHasher {
    type Hasher = IdHasherState;

    fn build_hasher(&self) -> IdHasherState {
        IdHasherState {
            keys: self.0,
            state: self.0.keys[0],
        }
    }
}

/// The state of one [`IdHasher`] hash: each write is hashed whole (with
/// its length) under the keys, and folded into the state.
#[cfg_attr(not(feature = "api-key"), allow(dead_code))]
pub(crate) struct IdHasherState {
    keys: SlotHasher,
    state: u64,
}

impl Hasher for IdHasherState {
    fn write(&mut self, bytes: &[u8]) {
        let [_, k1] = self.keys.keys;
        self.state = folded_multiply(self.state ^ self.keys.hash(bytes), k1);
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

/// The 128-bit product of `x` and `y`, its halves xored: every input bit
/// reaches many output bits.
fn folded_multiply(x: u64, y: u64) -> u64 {
    let full = u128::from(x) * u128::from(y);
    // Truncations on purpose: the low and the high half.
    #[allow(clippy::cast_possible_truncation)]
    let (low, high) = (full as u64, (full >> 64) as u64);
    low ^ high
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

    /// Equal ids hash equal under one map's keys; the hash depends on every
    /// byte and on how the key was written, and two maps have other keys.
    #[test]
    fn id_hasher_is_keyed_and_deterministic() {
        let (one, two) = (IdHasher::default(), IdHasher::default());
        let id = "AbCdEfGhIjKlMnOp";
        assert_eq!(one.hash_one(id), one.hash_one(String::from(id)));
        assert_ne!(one.hash_one(id), one.hash_one("AbCdEfGhIjKlMnOq"));
        assert_ne!(one.hash_one(id), one.hash_one("bCdEfGhIjKlMnOp"));
        assert_ne!(one.hash_one(id), two.hash_one(id));
        assert_ne!(one.hash_one(("ab", "c")), one.hash_one(("a", "bc")));
    }

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

    #[test]
    fn slot_keys_are_keyed_and_spread() {
        let (one, two) = (Generations::new(), Generations::new());
        assert_eq!(one.slot_key("id"), one.slot_key("id"));
        assert_ne!(
            one.slot_key("id"),
            two.slot_key("id"),
            "keys are per instance"
        );
        // Trailing zero bytes, every length up to three chunks.
        assert_ne!(one.slot_key("ab"), one.slot_key("ab\0"));
        assert_ne!(one.slot_key(""), one.slot_key("\0"));
        let ids: Vec<String> = (0..4096).map(|i| format!("key_{i:020}")).collect();
        let keys: std::collections::HashSet<u64> = ids.iter().map(|id| one.slot_key(id)).collect();
        assert_eq!(keys.len(), ids.len(), "no collision among 4096 similar ids");
        let stripes: std::collections::HashSet<u64> =
            keys.iter().map(|k| k % STRIPES as u64).collect();
        assert!(
            stripes.len() > STRIPES / 2,
            "similar ids spread over the stripes"
        );
    }
}
