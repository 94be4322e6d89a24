//! Per-thread tables in front of the shared caches of hot paths.
//!
//! moka records every read in a channel shared by all threads and stamps
//! the entry's access time, and a value cloned out of a shared cache bumps
//! a reference count every thread bumps: cores serving the same credentials
//! write to the same cache lines on every request, and adding a core adds
//! little throughput. A hit in a [`HotTable`] writes nothing another thread
//! reads: each thread keeps a small direct-mapped table of entries taken
//! from the shared cache, with values of its own.
//!
//! The shared cache stays the authority. An entry is used only within the
//! whole second of the owner's clock in which it was taken (so for less
//! than [`FRESH_SECS`]), and never after the owner bumped its generation
//! (on invalidation); callers re-check everything time-dependent on every
//! hit. What the shared cache evicts or forgets is therefore served for
//! less than a second longer, and each thread holds at most [`SLOTS`]
//! entries per kind of table.

use std::sync::atomic::{AtomicU64, Ordering};

/// Entries per table, across every owner on the thread.
pub(crate) const SLOTS: usize = 32;

/// An entry is used while fewer than this many whole seconds of the owner's
/// clock have passed since it was taken: with 1, only within the second it
/// was taken in, so for less than a second.
pub(crate) const FRESH_SECS: u64 = 1;

/// Tells the owners (schemes) of a process apart.
static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

/// A new owner id, never handed out before in this process.
pub(crate) fn next_owner() -> u64 {
    NEXT_OWNER.fetch_add(1, Ordering::Relaxed)
}

struct Slot<V> {
    owner: u64,
    generation: u64,
    key: u64,
    taken_at: u64,
    value: V,
}

/// One thread's table: keep it in a `thread_local!` `RefCell`.
pub(crate) struct HotTable<V> {
    slots: [Option<Slot<V>>; SLOTS],
}

impl<V> HotTable<V> {
    pub(crate) const fn new() -> Self {
        Self {
            slots: [const { None }; SLOTS],
        }
    }

    /// Where `key` of `owner` lives.
    fn index(owner: u64, key: u64) -> usize {
        let mixed = key ^ owner.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // The remainder is below SLOTS, so it fits a usize.
        #[allow(clippy::cast_possible_truncation)]
        let index = (mixed % SLOTS as u64) as usize;
        index
    }

    /// The entry for `key`, if it was taken by `owner` in `generation`
    /// fewer than [`FRESH_SECS`] whole seconds before `now` (a clock that
    /// stepped back makes it stale too).
    pub(crate) fn get(&self, owner: u64, generation: u64, key: u64, now: u64) -> Option<&V> {
        let slot = self.slots.get(Self::index(owner, key))?.as_ref()?;
        let current = slot.owner == owner
            && slot.key == key
            && slot.generation == generation
            && now
                .checked_sub(slot.taken_at)
                .is_some_and(|age| age < FRESH_SECS);
        current.then_some(&slot.value)
    }

    /// Keeps `value` for `key`, unless its slot holds an entry taken in
    /// second `now` that `keep` says must stay: a table that also holds
    /// what requests without a valid credential put there (forgeries) must
    /// not let them push out the entries of valid ones.
    pub(crate) fn put_unless(
        &mut self,
        owner: u64,
        generation: u64,
        key: u64,
        now: u64,
        value: V,
        keep: impl FnOnce(&V) -> bool,
    ) {
        let Some(slot) = self.slots.get_mut(Self::index(owner, key)) else {
            return;
        };
        if slot
            .as_ref()
            .is_some_and(|s| s.taken_at == now && keep(&s.value))
        {
            return;
        }
        *slot = Some(Slot {
            owner,
            generation,
            key,
            taken_at: now,
            value,
        });
    }

    /// Keeps `value` for `key`, replacing whatever shared its slot.
    #[cfg_attr(
        not(any(feature = "api-key", feature = "hmac", feature = "introspection")),
        allow(dead_code)
    )] // the JWT tables use `put_unless`
    pub(crate) fn put(&mut self, owner: u64, generation: u64, key: u64, now: u64, value: V) {
        self.put_unless(owner, generation, key, now, value, |_| false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_per_owner_generation_and_second() {
        let mut table = HotTable::new();
        table.put(1, 0, 42, 100, "a");
        assert_eq!(table.get(1, 0, 42, 100), Some(&"a"));
        // Regression: whole-second ages used to let an entry taken at
        // x.001 s serve until (x + 1).999 s, almost two seconds.
        assert_eq!(table.get(1, 0, 42, 101), None, "stale in the next second");
        assert_eq!(table.get(1, 0, 42, 99), None, "clock stepped back");
        assert_eq!(table.get(2, 0, 42, 100), None, "another owner");
        assert_eq!(table.get(1, 1, 42, 100), None, "invalidated");
        assert_eq!(table.get(1, 0, 43, 100), None, "another key");
        // A colliding key replaces the entry.
        let other = (0..10_000u64)
            .find(|&k| k != 42 && HotTable::<&str>::index(1, k) == HotTable::<&str>::index(1, 42))
            .unwrap_or(42 + SLOTS as u64);
        table.put(1, 0, other, 100, "b");
        assert_eq!(table.get(1, 0, 42, 100), None);
        assert_eq!(table.get(1, 0, other, 100), Some(&"b"));
        // `put_unless` leaves an entry of this second that must stay, and
        // replaces one of an earlier second or one that may go.
        table.put_unless(1, 0, 42, 100, "c", |v| *v == "b");
        assert_eq!(table.get(1, 0, other, 100), Some(&"b"));
        table.put_unless(1, 0, 42, 100, "c", |v| *v == "x");
        assert_eq!(table.get(1, 0, 42, 100), Some(&"c"));
        table.put(1, 0, other, 99, "b");
        table.put_unless(1, 0, 42, 100, "d", |_| true);
        assert_eq!(table.get(1, 0, 42, 100), Some(&"d"));
    }
}
