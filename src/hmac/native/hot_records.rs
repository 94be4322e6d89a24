//! This thread's copies of the look-ups cached for an [`HmacScheme`]
//! (see `crate::hot`), in front of its shared cache: a repeated key id is
//! judged without touching memory other threads write.
//!
//! [`HmacScheme`]: super::HmacScheme

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::hot::{self, HotTable};
use crate::invalidation::SlotHasher;
use crate::principal::Principal;

use super::super::store::SecretRecord;

/// A cached look-up: the record and this thread's own copy of the
/// principal it grants, or `None` for an unknown key id.
pub(super) type Found<'a> = Option<(&'a SecretRecord, &'a Principal)>;

struct HotRecord {
    key_id: Box<str>,
    found: Option<(Arc<SecretRecord>, Principal)>,
}

thread_local! {
    static HOT_RECORDS: RefCell<HotTable<HotRecord>> =
        const { RefCell::new(HotTable::new()) };
}

/// One scheme's view of the per-thread tables.
pub(super) struct Hot {
    owner: u64,
    generation: AtomicU64,
    /// Where a key id lives in the tables: a hit is used only after the
    /// key id stored there compares equal, so a collision is a miss.
    hasher: SlotHasher,
}

impl Hot {
    pub(super) fn new() -> Self {
        Self {
            owner: hot::next_owner(),
            generation: AtomicU64::new(0),
            hasher: SlotHasher::new(),
        }
    }

    /// Makes every thread's copies stale.
    pub(super) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Read before the shared cache, so that a copy taken across
    /// an invalidation is stale at once.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Where `key_id` lives in the tables: hashed once per
    /// request, for every look-up it makes.
    pub(super) fn slot(&self, key_id: &[u8]) -> u64 {
        self.hasher.hash(key_id)
    }

    /// `judge` of this thread's copy for `key_id` (at `slot`,
    /// its [`slot`](Self::slot)), if it holds a current one.
    pub(super) fn get<T>(
        &self,
        slot: u64,
        key_id: &[u8],
        now: u64,
        judge: impl FnOnce(Found<'_>) -> T,
    ) -> Option<T> {
        let generation = self.generation();
        HOT_RECORDS
            .try_with(|table| {
                let table = table.try_borrow().ok()?;
                let hot = table.get(self.owner, generation, slot, now)?;
                (hot.key_id.as_bytes() == key_id)
                    .then(|| judge(hot.found.as_ref().map(|(r, p)| (&**r, p))))
            })
            .ok()
            .flatten()
    }

    /// Keeps a copy of what the shared cache answered for `key_id`
    /// in `generation`.
    pub(super) fn put(
        &self,
        slot: u64,
        key_id: &str,
        now: u64,
        generation: u64,
        found: Option<&Arc<SecretRecord>>,
    ) {
        let _ = HOT_RECORDS.try_with(|table| {
            if let Ok(mut table) = table.try_borrow_mut() {
                let hot = HotRecord {
                    key_id: key_id.into(),
                    found: found.map(|r| (Arc::clone(r), super::principal_of(r))),
                };
                table.put(self.owner, generation, slot, now, hot);
            }
        });
    }
}
