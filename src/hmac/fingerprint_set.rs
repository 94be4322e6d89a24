//! [`FingerprintSet`]: the replay cache's table of nonce fingerprints.
//!
//! Open addressing with linear probing and the 128-bit fingerprints stored
//! inline, four to a cache line. A look-up, an insert and a removal each
//! touch one line of the table in the common case (a SwissTable touches its
//! control bytes and its slot, two lines): the table of a busy server is
//! many megabytes and every request inserts one random fingerprint and
//! removes another, so each touched line is a cache miss.
//!
//! Fingerprints are keyed hashes, so their low word is a uniform index that
//! nobody outside the process can aim. Removal shifts the following run
//! back (no tombstones), so probe runs stay as short as the load allows.

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
    /// A power of two long (or empty); `Fingerprint::EMPTY` marks a free slot.
    slots: Vec<Fingerprint>,
    len: usize,
}

/// Smallest table allocated.
const MIN_SLOTS: usize = 16;

impl FingerprintSet {
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// Where `fingerprint` would sit in a table of `mask + 1` slots.
    fn home(fingerprint: Fingerprint, mask: usize) -> usize {
        // Truncating the word is the point: its low bits pick the slot.
        (fingerprint.1 as usize) & mask
    }

    /// The slot holding `fingerprint`, or the empty slot where it would go.
    fn find(&self, fingerprint: Fingerprint) -> Option<(usize, bool)> {
        let mask = self.mask();
        let mut index = Self::home(fingerprint, mask);
        // At most `len` occupied slots come before an empty one: the load
        // is kept below one, so this always ends.
        for _ in 0..self.slots.len() {
            match self.slots.get(index) {
                Some(&slot) if slot == fingerprint => return Some((index, true)),
                Some(&slot) if slot == Fingerprint::EMPTY => return Some((index, false)),
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
                    *slot = fingerprint;
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
            let Some(&candidate) = self.slots.get(next) else {
                break;
            };
            if candidate == Fingerprint::EMPTY {
                break;
            }
            let home = Self::home(candidate, mask);
            let stays = if hole <= next {
                hole < home && home <= next
            } else {
                hole < home || home <= next
            };
            if !stays {
                if let Some(slot) = self.slots.get_mut(hole) {
                    *slot = candidate;
                }
                hole = next;
            }
        }
        if let Some(slot) = self.slots.get_mut(hole) {
            *slot = Fingerprint::EMPTY;
        }
        self.len -= 1;
        true
    }

    /// Doubles the table (or allocates the first one).
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![Fingerprint::EMPTY; size]);
        let mask = self.mask();
        for fingerprint in old {
            if fingerprint == Fingerprint::EMPTY {
                continue;
            }
            let mut index = Self::home(fingerprint, mask);
            while let Some(slot) = self.slots.get_mut(index) {
                if *slot == Fingerprint::EMPTY {
                    *slot = fingerprint;
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
        // Few distinct low words: long runs that wrap around the table,
        // the cases backward shifting has to get right.
        for round in 0..200_000 {
            let value = next(&mut state);
            let pair = (value % 7, value % 97 + 1);
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
            for low in 1..=97 {
                assert_eq!(
                    set.contains(&Fingerprint::new(high, low)),
                    model.contains(&(high, low))
                );
            }
        }
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
