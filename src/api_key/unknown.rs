//! The ids a store said it does not know: a bounded table of its own, so
//! that a flood of never-seen keys costs a map read and a slot write, not
//! an insert into the shared look-up cache (and does not evict the found
//! records that cache holds for real clients).
//!
//! The table is split into shards of [`WAYS`] entries, each behind its own
//! mutex, chosen by the scheme's keyed hash of the id (so that a client
//! cannot aim its ids at one shard). A full shard replaces its entries in
//! turn, whether they have expired or not (about the oldest first; an
//! entry stored again in place keeps its turn). An entry holds the whole id (never a hash of it: a
//! collision would refuse a real key), the stripe generation read before
//! the store was asked, and when it was stored; it is used only while that
//! generation is current and for less than the cache's time-to-live.
//!
//! Each shard also keeps a short tag of each entry's id, taken from other
//! bits of the same keyed hash, in the cache line it starts with, and read
//! without the lock: an id whose tag no entry has is not in the shard (the
//! answer for every id of a flood), known from that one line. A tag that
//! matches is confirmed under the lock against the whole entry, so a tag
//! never decides that an id is unknown; a tag read while an entry changes
//! can only make the table miss an id, which then costs a store read.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::format::ID_LEN;

/// Entries per shard.
pub(crate) const WAYS: usize = 8;

/// No table holds more entries than this, whatever the cache capacity:
/// 8,192 shards of 384 bytes, 3 MiB.
pub(crate) const MAX_ENTRIES: u64 = 65_536;

/// The tag of an empty slot: no id's tag (see [`tag`]).
const EMPTY: u32 = 0;

#[derive(Clone, Copy)]
struct Entry {
    id: [u8; ID_LEN],
    generation: u64,
    stored_at: Instant,
}

/// A shard's entries, behind its lock.
struct Slots {
    /// The entry a full shard replaces next.
    next: usize,
    entries: [Option<Entry>; WAYS],
}

/// One shard: the tags, then the lock and the entries, from the start of
/// a cache line.
#[repr(C, align(64))]
struct Shard {
    /// Each slot's tag, [`EMPTY`] for a free one; written under the lock.
    tags: [AtomicU32; WAYS],
    slots: Mutex<Slots>,
}

impl Default for Shard {
    fn default() -> Self {
        Self {
            tags: Default::default(),
            slots: Mutex::new(Slots {
                next: 0,
                entries: [None; WAYS],
            }),
        }
    }
}

impl Shard {
    /// The slots whose tag is `tag`.
    fn tagged(&self, tag: u32) -> impl Iterator<Item = usize> + '_ {
        self.tags
            .iter()
            .enumerate()
            .filter(move |(_, t)| t.load(Ordering::Acquire) == tag)
            .map(|(index, _)| index)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_tag(&self, index: usize, tag: u32) {
        if let Some(t) = self.tags.get(index) {
            t.store(tag, Ordering::Release);
        }
    }
}

/// The tag of the id whose keyed hash is `slot_key`: its high bits (the
/// low ones pick the shard), never [`EMPTY`].
fn tag(slot_key: u64) -> u32 {
    // The high 32 bits of a u64: fits.
    u32::try_from(slot_key >> 32).unwrap_or(u32::MAX) | 1
}

/// Ids known to be unknown, bounded by a fixed number of entries.
pub(crate) struct UnknownIds {
    shards: Box<[Shard]>,
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
            shards: (0..shards).map(|_| Shard::default()).collect(),
            ttl,
        }
    }

    fn shard(&self, slot_key: u64) -> Option<&Shard> {
        let index = usize::try_from(slot_key % self.shards.len() as u64).ok()?;
        self.shards.get(index)
    }

    /// Whether `id` (with the keyed hash `slot_key`) was stored under
    /// `generation` less than the time-to-live before `now`.
    pub(crate) fn contains(&self, id: &[u8], slot_key: u64, generation: u64, now: Instant) -> bool {
        let Some(shard) = self.shard(slot_key) else {
            return false;
        };
        let tag = tag(slot_key);
        let mut tagged = shard.tagged(tag).peekable();
        if tagged.peek().is_none() {
            return false;
        }
        let slots = shard.lock();
        tagged.any(|index| {
            slots
                .entries
                .get(index)
                .copied()
                .flatten()
                .is_some_and(|entry| {
                    entry.id == id && entry.generation == generation && self.fresh(&entry, now)
                })
        })
    }

    /// Remembers that the store did not know `id`, asked under
    /// `generation`. Ids that are not exactly [`ID_LEN`] bytes long are not
    /// kept (no parsed key has one).
    pub(crate) fn insert(&self, id: &[u8], slot_key: u64, generation: u64, now: Instant) {
        let (Ok(id), Some(shard)) = (<[u8; ID_LEN]>::try_from(id), self.shard(slot_key)) else {
            return;
        };
        let tag = tag(slot_key);
        let entry = Entry {
            id,
            generation,
            stored_at: now,
        };
        let mut slots = shard.lock();
        let slots = &mut *slots;
        // The id's own entry, else a free slot, else the next in turn
        // (expired or not: finding expired entries would read every slot's
        // line, which the tags spare a flood).
        let own = shard.tagged(tag).find(|&index| {
            slots
                .entries
                .get(index)
                .copied()
                .flatten()
                .is_some_and(|e| e.id == id)
        });
        let index = own
            .or_else(|| shard.tagged(EMPTY).next())
            .unwrap_or_else(|| {
                let index = slots.next % WAYS;
                slots.next = (index + 1) % WAYS;
                index
            });
        if let Some(slot) = slots.entries.get_mut(index) {
            *slot = Some(entry);
            shard.set_tag(index, tag);
        }
    }

    /// Forgets `id`.
    pub(crate) fn remove(&self, id: &[u8], slot_key: u64) {
        let Some(shard) = self.shard(slot_key) else {
            return;
        };
        let mut slots = shard.lock();
        for (index, slot) in slots.entries.iter_mut().enumerate() {
            if slot.is_some_and(|e| e.id == id) {
                *slot = None;
                shard.set_tag(index, EMPTY);
            }
        }
    }

    /// The number of entries still within their time-to-live.
    pub(crate) fn len(&self, now: Instant) -> u64 {
        let live = self
            .shards
            .iter()
            .map(|shard| {
                shard
                    .lock()
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

    /// Ids whose keyed hashes share a shard and a tag are told apart by
    /// the whole id; replacing or removing one leaves the other.
    #[test]
    fn ids_sharing_a_tag_are_told_apart() {
        let table = UnknownIds::new(64, Duration::from_secs(60));
        let now = Instant::now();
        // Same shard (low bits), same tag (high bits).
        let (a, b) = (other_id(1), other_id(2));
        let key = 0xABCD_0000_0000_0003;
        table.insert(&a, key, 0, now);
        table.insert(&b, key, 0, now);
        assert!(table.contains(&a, key, 0, now));
        assert!(table.contains(&b, key, 0, now));
        assert!(!table.contains(&other_id(3), key, 0, now));
        // Stored again in place: a second slot is not taken.
        table.insert(&a, key, 1, now);
        assert!(table.contains(&a, key, 1, now));
        assert_eq!(table.len(now), 2);
        table.remove(&a, key);
        assert!(!table.contains(&a, key, 1, now));
        assert!(table.contains(&b, key, 0, now));
    }

    /// A full shard replaces its oldest entry, and a removed entry's slot
    /// is the next one used.
    #[test]
    fn a_full_shard_replaces_its_oldest_entry() {
        let table = UnknownIds::new(8, Duration::from_secs(60));
        let now = Instant::now();
        let key = |n: u64| (n << 32) | 5;
        for n in 0..8 {
            table.insert(&other_id(n as usize), key(n), 0, now);
        }
        table.insert(&other_id(8), key(8), 0, now);
        assert!(!table.contains(&other_id(0), key(0), 0, now), "the oldest");
        assert!((1..=8).all(|n| table.contains(&other_id(n as usize), key(n), 0, now)));
        table.remove(&other_id(4), key(4));
        table.insert(&other_id(9), key(9), 0, now);
        assert!((1..=9).filter(|&n| n != 4).all(|n| table.contains(
            &other_id(n as usize),
            key(n),
            0,
            now
        )));
    }

    /// A shard starts a cache line with its tags, and fills at most six
    /// lines (384 bytes on the 64-bit targets this was measured on).
    #[test]
    fn a_shard_starts_a_cache_line_with_its_tags() {
        assert_eq!(std::mem::align_of::<Shard>(), 64);
        assert!(std::mem::size_of::<Shard>() <= 384);
        let shard = Shard::default();
        let start = std::ptr::addr_of!(shard) as usize;
        assert_eq!(std::ptr::addr_of!(shard.tags) as usize, start);
    }
}
