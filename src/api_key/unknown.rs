//! The ids a store said it does not know: a bounded table of its own, so
//! that a flood of never-seen keys costs a map read and a slot write, not
//! an insert into the shared look-up cache (and does not evict the found
//! records that cache holds for real clients).
//!
//! The table is split into shards of [`WAYS`] entries, each behind its own
//! mutex, chosen by the scheme's keyed hash of the id (so that a client
//! cannot aim its ids at one shard). A full shard replaces its entries in
//! turn. An entry holds the whole id (never a hash of it: a collision
//! would refuse a real key), the stripe generation read before the store
//! was asked, and when it was stored; it is used only while that
//! generation is current and for less than the cache's time-to-live.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::format::ID_LEN;

/// Entries per shard.
pub(crate) const WAYS: usize = 8;

/// No table holds more entries than this, whatever the cache capacity:
/// about 2 MiB.
pub(crate) const MAX_ENTRIES: u64 = 65_536;

#[derive(Clone, Copy)]
struct Entry {
    id: [u8; ID_LEN],
    generation: u64,
    stored_at: Instant,
}

#[derive(Default)]
struct Shard {
    entries: [Option<Entry>; WAYS],
    /// The entry a full shard replaces next.
    next: usize,
}

/// Ids known to be unknown, bounded by a fixed number of entries.
pub(crate) struct UnknownIds {
    shards: Box<[Mutex<Shard>]>,
    ttl: Duration,
}

impl UnknownIds {
    /// A table of at most `capacity` entries (at least [`WAYS`], at most
    /// [`MAX_ENTRIES`]), each used for less than `ttl`.
    pub(crate) fn new(capacity: u64, ttl: Duration) -> Self {
        let entries = capacity.clamp(WAYS as u64, MAX_ENTRIES);
        // Below MAX_ENTRIES / WAYS, so it fits any usize.
        let shards = usize::try_from(entries / WAYS as u64).unwrap_or(1).max(1);
        Self {
            shards: (0..shards).map(|_| Mutex::default()).collect(),
            ttl,
        }
    }

    fn shard(&self, slot_key: u64) -> Option<&Mutex<Shard>> {
        let index = usize::try_from(slot_key % self.shards.len() as u64).ok()?;
        self.shards.get(index)
    }

    /// Whether `id` (with the keyed hash `slot_key`) was stored under
    /// `generation` less than the time-to-live before `now`.
    pub(crate) fn contains(&self, id: &[u8], slot_key: u64, generation: u64, now: Instant) -> bool {
        let Some(shard) = self.shard(slot_key) else {
            return false;
        };
        let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        shard
            .entries
            .iter()
            .flatten()
            .any(|entry| entry.id == id && entry.generation == generation && self.fresh(entry, now))
    }

    /// Remembers that the store did not know `id`, asked under
    /// `generation`. Ids that are not exactly [`ID_LEN`] bytes long are not
    /// kept (no parsed key has one).
    pub(crate) fn insert(&self, id: &[u8], slot_key: u64, generation: u64, now: Instant) {
        let (Ok(id), Some(shard)) = (<[u8; ID_LEN]>::try_from(id), self.shard(slot_key)) else {
            return;
        };
        let entry = Entry {
            id,
            generation,
            stored_at: now,
        };
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let shard = &mut *shard;
        // The id's own entry, else a free or outdated one, else the next in
        // turn.
        let free = shard
            .entries
            .iter()
            .position(|e| e.is_some_and(|e| e.id == id))
            .or_else(|| {
                shard
                    .entries
                    .iter()
                    .position(|e| e.is_none_or(|e| !self.fresh(&e, now)))
            });
        let index = free.unwrap_or_else(|| {
            let index = shard.next % WAYS;
            shard.next = (index + 1) % WAYS;
            index
        });
        if let Some(slot) = shard.entries.get_mut(index) {
            *slot = Some(entry);
        }
    }

    /// Forgets `id`.
    pub(crate) fn remove(&self, id: &[u8], slot_key: u64) {
        if let Some(shard) = self.shard(slot_key) {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            for slot in &mut shard.entries {
                if slot.is_some_and(|e| e.id == id) {
                    *slot = None;
                }
            }
        }
    }

    /// The number of entries still within their time-to-live.
    pub(crate) fn len(&self, now: Instant) -> u64 {
        let live = self
            .shards
            .iter()
            .map(|shard| {
                let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
                shard
                    .entries
                    .iter()
                    .flatten()
                    .filter(|e| self.fresh(e, now))
                    .count()
            })
            .sum::<usize>();
        u64::try_from(live).unwrap_or(u64::MAX)
    }

    /// Stored less than the time-to-live before `now` (an entry from the
    /// future, which a monotonic clock never gives, counts as outdated).
    fn fresh(&self, entry: &Entry, now: Instant) -> bool {
        now.checked_duration_since(entry.stored_at)
            .is_some_and(|age| age < self.ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &[u8; ID_LEN] = b"0123456789abcdef";

    fn other_id(n: usize) -> [u8; ID_LEN] {
        let mut id = *ID;
        for (slot, digit) in id.iter_mut().zip(format!("{n:016}").bytes()) {
            *slot = digit;
        }
        id
    }

    #[test]
    fn an_entry_is_used_only_within_its_generation_and_ttl() {
        let table = UnknownIds::new(64, Duration::from_secs(60));
        let now = Instant::now();
        table.insert(ID, 7, 0, now);
        assert!(table.contains(ID, 7, 0, now));
        assert!(!table.contains(ID, 7, 1, now), "invalidated");
        assert!(!table.contains(&other_id(1), 7, 0, now), "another id");
        assert!(!table.contains(ID, 7, 0, now + Duration::from_secs(60)));
        assert!(table.contains(ID, 7, 0, now + Duration::from_secs(59)));
        table.remove(ID, 7);
        assert!(!table.contains(ID, 7, 0, now));
    }

    #[test]
    fn the_table_never_holds_more_than_its_capacity() {
        for capacity in [0, 1, 8, 100, 10_000, u64::MAX] {
            let table = UnknownIds::new(capacity, Duration::from_secs(60));
            let now = Instant::now();
            for n in 0..200_000 {
                table.insert(&other_id(n), n as u64 * 0x9E37_79B9, 0, now);
            }
            let held = table.len(now);
            assert!(
                held <= capacity.clamp(WAYS as u64, MAX_ENTRIES),
                "{capacity}: {held}"
            );
        }
    }

    #[test]
    fn ids_of_another_length_are_not_kept() {
        let table = UnknownIds::new(64, Duration::from_secs(60));
        let now = Instant::now();
        table.insert(b"short", 1, 0, now);
        assert!(!table.contains(b"short", 1, 0, now));
        assert_eq!(table.len(now), 0);
    }
}
