//! [`FingerprintSet`]: the replay cache's table of nonce fingerprints.
//!
//! Open addressing with linear probing and the 128-bit fingerprints stored
//! inline, four to a cache line. A look-up, an insert and a removal each
//! touch one line of the table in the common case (a SwissTable touches its
//! control bytes and its slot, two lines): the table of a busy server is
//! many megabytes and every request inserts one random fingerprint and
//! removes another, so each touched line is a cache miss.
//!
//! Fingerprints are keyed hashes, so their second word is a uniform number
//! nobody outside the process can aim. Its *top* bits pick the slot: the
//! table then keeps its members in the order of their words, and doubling
//! it moves each one to about twice its old position, so the rehash reads
//! the old table and writes the new one front to back instead of one
//! cache miss per member. The new table is a zeroed allocation (an empty
//! slot is all zeros), which the system hands out already cleared. Removal
//! shifts the following run back (no tombstones), so probe runs stay as
//! short as the load allows.

/// A 128-bit keyed fingerprint; `(0, 0)` is never stored (see [`Self::new`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Fingerprint(u64, u64);

impl Fingerprint {
    /// The empty slot.
    const EMPTY: Self = Self(0, 0);

    /// A fingerprint of two hash words. The one pair that would read as an
    /// empty slot is moved to another value: it then collides with that
    /// one, which can only refuse a request (about 2⁻¹²⁸), never admit one.
    pub(super) fn new(high: u64, low: u64) -> Self {
        if high == 0 && low == 0 {
            Self(0, 1)
        } else {
            Self(high, low)
        }
    }

    /// The word that picks the shard (the table uses the other one).
    pub(super) fn shard_word(self) -> u64 {
        self.0
    }
}

/// A set of fingerprints.
#[derive(Default)]
pub(super) struct FingerprintSet {
    /// A power of two long (or empty); all zeros (`Fingerprint::EMPTY`)
    /// marks a free slot. Words rather than `Fingerprint`s, so that a new
    /// table is a zeroed allocation.
    slots: Vec<[u64; 2]>,
    /// `64 - log2(slots.len())`: the shift that turns a word into a slot.
    shift: u32,
    len: usize,
}

/// Smallest table allocated.
const MIN_SLOTS: usize = 16;

impl FingerprintSet {
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// Where `fingerprint` would sit: the top bits of its word.
    fn home(&self, fingerprint: Fingerprint) -> usize {
        // Below the table's length once shifted: the cast is exact.
        fingerprint.1.checked_shr(self.shift).unwrap_or(0) as usize
    }

    /// The slot holding `fingerprint`, or the empty slot where it would go.
    fn find(&self, fingerprint: Fingerprint) -> Option<(usize, bool)> {
        let mask = self.mask();
        let mut index = self.home(fingerprint);
        // At most `len` occupied slots come before an empty one: the load
        // is kept below one, so this always ends.
        for _ in 0..self.slots.len() {
            match self.slots.get(index).map(|&[a, b]| Fingerprint(a, b)) {
                Some(slot) if slot == fingerprint => return Some((index, true)),
                Some(slot) if slot == Fingerprint::EMPTY => return Some((index, false)),
                Some(_) => index = (index + 1) & mask,
                None => return None,
            }
        }
        None
    }

    /// Whether `fingerprint` is held.
    pub(super) fn contains(&self, fingerprint: &Fingerprint) -> bool {
        matches!(self.find(*fingerprint), Some((_, true)))
    }

    /// Adds `fingerprint`; `false` if it was already held.
    pub(super) fn insert(&mut self, fingerprint: Fingerprint) -> bool {
        // Load at most 3/4: linear probing stays short.
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        match self.find(fingerprint) {
            Some((_, true)) => false,
            Some((index, false)) => {
                if let Some(slot) = self.slots.get_mut(index) {
                    *slot = [fingerprint.0, fingerprint.1];
                    self.len += 1;
                }
                true
            }
            // Never: a table below full load always has an empty slot.
            None => false,
        }
    }

    /// Removes `fingerprint`; `false` if it was not held.
    pub(super) fn remove(&mut self, fingerprint: &Fingerprint) -> bool {
        let Some((mut hole, true)) = self.find(*fingerprint) else {
            return false;
        };
        let mask = self.mask();
        // Shift back every later member of the run that may move into the
        // hole (its home is not strictly between the hole and itself).
        let mut next = hole;
        loop {
            next = (next + 1) & mask;
            let Some(&[a, b]) = self.slots.get(next) else {
                break;
            };
            let candidate = Fingerprint(a, b);
            if candidate == Fingerprint::EMPTY {
                break;
            }
            let home = self.home(candidate);
            let stays = if hole <= next {
                hole < home && home <= next
            } else {
                hole < home || home <= next
            };
            if !stays {
                if let Some(slot) = self.slots.get_mut(hole) {
                    *slot = [candidate.0, candidate.1];
                }
                hole = next;
            }
        }
        if let Some(slot) = self.slots.get_mut(hole) {
            *slot = [0, 0];
        }
        self.len -= 1;
        true
    }

    /// Doubles the table (or allocates the first one). The old table is
    /// read in order, which is (but for a run wrapping past its end) the
    /// order of the members' homes, so the writes move front to back too.
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(MIN_SLOTS);
        // Zeroed: every slot empty, with no pass over the memory.
        let old = std::mem::replace(&mut self.slots, vec![[0u64; 2]; size]);
        self.shift = 64 - size.trailing_zeros();
        let mask = self.mask();
        for [a, b] in old {
            let fingerprint = Fingerprint(a, b);
            if fingerprint == Fingerprint::EMPTY {
                continue;
            }
            let mut index = self.home(fingerprint);
            while let Some(slot) = self.slots.get_mut(index) {
                if *slot == [0, 0] {
                    *slot = [a, b];
                    break;
                }
                index = (index + 1) & mask;
            }
        }
    }

    /// How many fingerprints are held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// A small generator, so that the model test is repeatable.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn agrees_with_a_hash_set_through_inserts_and_removals() {
        let mut state = 0x9e37_79b9_7f4a_7c15;
        let mut set = FingerprintSet::default();
        let mut model = HashSet::new();
        // Few distinct words, bunched at both ends of the word range (the
        // top bits pick the slot): long runs from the first slot and runs
        // that wrap past the last one, the cases backward shifting has to
        // get right.
        let word = |n: u64| {
            if n.is_multiple_of(2) {
                n / 2 + 1
            } else {
                u64::MAX - n / 2
            }
        };
        for round in 0..200_000 {
            let value = next(&mut state);
            let pair = (value % 7, word(value % 97));
            let fingerprint = Fingerprint::new(pair.0, pair.1);
            if value.is_multiple_of(3) {
                assert_eq!(
                    set.remove(&fingerprint),
                    model.remove(&pair),
                    "round {round}"
                );
            } else {
                assert_eq!(set.insert(fingerprint), model.insert(pair), "round {round}");
            }
            assert_eq!(set.len(), model.len());
        }
        for high in 0..7 {
            for n in 0..97 {
                assert_eq!(
                    set.contains(&Fingerprint::new(high, word(n))),
                    model.contains(&(high, word(n)))
                );
            }
        }
    }

    #[test]
    fn a_grown_table_keeps_every_member_findable() {
        // Members inserted while the table doubles many times, with words
        // at the top of the range (runs that wrap) among uniform ones.
        let mut state = 11;
        let mut set = FingerprintSet::default();
        let mut all = Vec::new();
        for i in 0..20_000u64 {
            let low = if i % 5 == 0 {
                u64::MAX - i
            } else {
                next(&mut state)
            };
            let fingerprint = Fingerprint::new(i, low);
            assert!(set.insert(fingerprint));
            all.push(fingerprint);
        }
        for f in &all {
            assert!(set.contains(f));
            assert!(!set.insert(*f));
        }
        assert_eq!(set.len(), all.len());
    }

    #[test]
    fn random_fingerprints_round_trip() {
        let mut state = 7;
        let mut set = FingerprintSet::default();
        let all: Vec<_> = (0..50_000)
            .map(|_| Fingerprint::new(next(&mut state), next(&mut state)))
            .collect();
        for &f in &all {
            assert!(set.insert(f));
            assert!(!set.insert(f));
        }
        assert_eq!(set.len(), all.len());
        for (i, f) in all.iter().enumerate() {
            if i.is_multiple_of(2) {
                assert!(set.remove(f));
                assert!(!set.remove(f));
            }
        }
        for (i, f) in all.iter().enumerate() {
            assert_eq!(set.contains(f), !i.is_multiple_of(2));
        }
    }

    #[test]
    fn the_empty_pair_is_never_stored_as_empty() {
        let mut set = FingerprintSet::default();
        let zero = Fingerprint::new(0, 0);
        assert_ne!(zero, Fingerprint::EMPTY);
        assert!(set.insert(zero));
        assert!(set.contains(&zero));
        assert!(!set.insert(zero));
    }
    /// Runs that wrap past the end of the table, at every size it grows
    /// through: low words just below 2⁶⁴ have their home in the last
    /// slots whatever the mask, and low words near 0 in the first ones,
    /// so the two kinds of run meet across the wrap.
    #[test]
    fn agrees_with_a_hash_set_across_the_wrap_around() {
        let mut state = 0x2545_f491_4f6c_dd1d;
        let mut set = FingerprintSet::default();
        let mut model = HashSet::new();
        for round in 0..200_000 {
            let value = next(&mut state);
            let offset = value % 23;
            let low = if (value >> 8).is_multiple_of(2) {
                u64::MAX - offset
            } else {
                offset + 1
            };
            let pair = ((value >> 16) % 5, low);
            let fingerprint = Fingerprint::new(pair.0, pair.1);
            // Removals lag inserts a little, so the table grows through
            // several sizes while runs keep wrapping.
            if (value >> 24) % 9 < 4 {
                assert_eq!(
                    set.remove(&fingerprint),
                    model.remove(&pair),
                    "round {round}"
                );
            } else {
                assert_eq!(set.insert(fingerprint), model.insert(pair), "round {round}");
            }
            assert_eq!(set.len(), model.len());
            if round % 997 == 0 {
                for &(high, low) in &model {
                    assert!(set.contains(&Fingerprint::new(high, low)), "round {round}");
                }
            }
        }
    }
}
