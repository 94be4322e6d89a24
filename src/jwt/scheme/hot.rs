//! A per-thread front for the validated-token cache.
//!
//! moka records every read in a channel shared by all threads and stamps
//! the entry's access time, so cores that hit the shared cache write to the
//! same cache lines on every request, and adding a core adds little
//! throughput. A hit here writes nothing another thread reads: a small
//! direct-mapped table per thread holds entries taken from the shared
//! cache, each with this thread's own copy of the principal (cloning a
//! shared `Arc` would bounce its count between cores).
//!
//! The shared cache stays the authority. An entry here is used for at most
//! [`FRESH_SECS`] by the scheme's clock after it was taken, and never after
//! the scheme's cache was cleared (a generation number); every hit still
//! re-checks the time claims and revocation. What the shared cache evicts
//! is therefore served here for at most a second longer, and each thread
//! holds at most [`SLOTS`] entries.

use std::cell::RefCell;
use std::sync::Arc;

use super::CachedToken;
use crate::principal::Principal;

/// Entries per thread, across every `JwtScheme`.
pub(super) const SLOTS: usize = 32;

/// How long, in seconds of the scheme's clock, an entry may be used after
/// it was taken from the shared cache.
pub(super) const FRESH_SECS: u64 = 1;

struct Slot {
    scheme: u64,
    generation: u64,
    key: u64,
    taken_at: u64,
    token: Arc<CachedToken>,
    principal: Principal,
}

thread_local! {
    static TABLE: RefCell<[Option<Slot>; SLOTS]> = const { RefCell::new([const { None }; SLOTS]) };
}

/// Where `key` of `scheme` lives in the table.
fn index(scheme: u64, key: u64) -> usize {
    let mixed = key ^ scheme.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // The remainder is below SLOTS, so it fits a usize.
    #[allow(clippy::cast_possible_truncation)]
    let index = (mixed % SLOTS as u64) as usize;
    index
}

/// Calls `judge` with this thread's entry for `key`, if it is current.
pub(super) fn get<R>(
    scheme: u64,
    generation: u64,
    key: u64,
    now: u64,
    judge: impl FnOnce(&CachedToken, &Principal) -> Option<R>,
) -> Option<R> {
    TABLE
        .try_with(|table| {
            let table = table.try_borrow().ok()?;
            let slot = table.get(index(scheme, key))?.as_ref()?;
            let current = slot.scheme == scheme
                && slot.key == key
                && slot.generation == generation
                && now
                    .checked_sub(slot.taken_at)
                    .is_some_and(|age| age <= FRESH_SECS);
            if !current {
                return None;
            }
            judge(&slot.token, &slot.principal)
        })
        .ok()
        .flatten()
}

/// Keeps `token`, just read from the shared cache, for this thread.
pub(super) fn put(scheme: u64, generation: u64, key: u64, now: u64, token: &Arc<CachedToken>) {
    let _ = TABLE.try_with(|table| {
        let Ok(mut table) = table.try_borrow_mut() else {
            return;
        };
        if let Some(slot) = table.get_mut(index(scheme, key)) {
            *slot = Some(Slot {
                scheme,
                generation,
                key,
                taken_at: now,
                token: Arc::clone(token),
                principal: token.validated.principal.unshared(),
            });
        }
    });
}
