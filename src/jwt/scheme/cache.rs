//! The token caches' parts: keyed hashes of tokens, their constant-time
//! comparison, entry lifetimes, and this thread's table in front of the
//! shared cache (validated tokens and remembered forgeries).

#[allow(clippy::wildcard_imports)]
use super::*;

/// This thread's table of cached tokens, each with its own copy of the
/// principal, and of tokens remembered as forged: see [`crate::hot`].
pub(super) type HotTokens = HotTable<HotToken>;

/// An entry of [`HotTokens`].
pub(super) enum HotToken {
    /// A validated token, with this thread's copy of its principal.
    Valid(Arc<CachedToken>, Principal),
    /// A token whose signature failed (from [`Inner::forged`]): the same
    /// forgery presented again is refused without a shared-cache read.
    Forged(Arc<Zeroizing<Vec<u8>>>),
}

/// What the token caches say of a presented token.
pub(super) enum Cached {
    /// A validated token: its judgement now, and whether it is a [plain
    /// bearer token](CachedToken::plain_bearer).
    Hit(Result<Principal, AuthError>, bool),
    /// A token this thread's table holds as forged.
    Forged,
    /// Neither.
    Miss,
}

thread_local! {
    pub(super) static HOT_TOKENS: RefCell<HotTokens> = const { RefCell::new(HotTable::new()) };
}

/// How long a token whose signature failed is remembered.
pub(super) const FORGED_TTL: Duration = Duration::from_secs(3600);

/// Whether two tokens are equal, in constant time for equal lengths.
///
/// Every byte pair is XORed and ORed into one accumulator, with no branch
/// on the data (64 bytes per step, which the compiler turns into vector
/// instructions; the last step takes the last 64 bytes, overlapping the
/// one before, instead of a byte at a time), and that accumulator compared
/// with `subtle`: the cache-hit path is meant to stay well under a
/// microsecond, and a per-byte `ct_eq` over a kilobyte token costs more
/// than everything else on it.
pub(super) fn same_token(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = if a.len() < LANES {
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))
    } else {
        let mut lanes = [0u8; LANES];
        let mut step = |x: &[u8], y: &[u8]| {
            if let (Ok(x), Ok(y)) = (<&[u8; LANES]>::try_from(x), <&[u8; LANES]>::try_from(y)) {
                for ((lane, x), y) in lanes.iter_mut().zip(x).zip(y) {
                    *lane |= x ^ y;
                }
            }
        };
        for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
            step(x, y);
        }
        let last = a.len() - LANES;
        step(
            a.get(last..).unwrap_or_default(),
            b.get(last..).unwrap_or_default(),
        );
        lanes.iter().fold(0u8, |acc, lane| acc | lane)
    };
    difference.ct_eq(&0).into()
}

/// The bytes [`same_token`] compares per step.
pub(super) const LANES: usize = 64;

/// The secret keys of [`cache_key`], drawn once per scheme.
#[derive(Clone, Copy)]
pub(super) struct HashKeys([u64; 3]);

impl HashKeys {
    pub(super) fn random() -> Self {
        let state = std::collections::hash_map::RandomState::new();
        Self([0u64, 1, 2].map(|i| state.hash_one(i)))
    }
}

/// The 128-bit product of `a` and `b`, folded to 64 bits.
pub(super) fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    // Both halves, on purpose.
    #[allow(clippy::cast_possible_truncation)]
    let (low, high) = (product as u64, (product >> 64) as u64);
    low ^ high
}

/// The cache key: a keyed hash of the token's length and last 16 bytes,
/// which lie in its signature (a signed token's most random part), with
/// keys drawn once per scheme. Collisions only cost a miss: a hit is
/// confirmed by comparing the whole token.
pub(super) fn cache_key(keys: HashKeys, token: &[u8]) -> u64 {
    let mut tail = [0u8; 16];
    let start = token.len().saturating_sub(16);
    for (t, b) in tail.iter_mut().zip(token.get(start..).unwrap_or_default()) {
        *t = *b;
    }
    let (high, low) = tail.split_at(8);
    let word = |half: &[u8]| <[u8; 8]>::try_from(half).map_or(0, u64::from_le_bytes);
    let [k0, k1, k2] = keys.0;
    let mixed = folded_multiply(word(high) ^ k0, word(low) ^ k1);
    folded_multiply(mixed ^ k2, (token.len() as u64) ^ k0.rotate_left(32))
}

/// The token cache's keys are already keyed hashes: hashing them again
/// would be wasted work on every request.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct KeyIsHash;

impl BuildHasher for KeyIsHash {
    type Hasher = PassThrough;

    fn build_hasher(&self) -> PassThrough {
        PassThrough(0)
    }
}

/// Hands a `u64` key through unchanged; any other input is folded in with
/// FNV-1a so that the hasher stays correct if it ever sees one.
#[derive(Debug)]
pub(super) struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

/// Keeps `value` in this thread's table of tokens.
pub(super) fn keep_hot(owner: u64, generation: u64, key: u64, now: u64, value: HotToken) {
    let _ = HOT_TOKENS.try_with(|table| {
        if let Ok(mut table) = table.try_borrow_mut() {
            // A forgery (anyone can send those, fresh ones at no cost once
            // remembered) never pushes out a validated token of this second:
            // else a few dozen of them replayed in turn would send the
            // thread's valid tokens back to the shared cache.
            let forged = matches!(value, HotToken::Forged(_));
            table.put_unless(owner, generation, key, now, value, |held| {
                forged && matches!(held, HotToken::Valid(..))
            });
        }
    });
}

/// Entries never outlive the token's `exp`, nor a day.
pub(super) struct UntilExp;

/// The longest a validated token stays cached.
pub(super) const MAX_CACHED_SECS: f64 = 86_400.0;

impl Expiry<u64, Arc<CachedToken>> for UntilExp {
    fn expire_after_create(
        &self,
        _: &u64,
        value: &Arc<CachedToken>,
        _: Instant,
    ) -> Option<Duration> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        // Capped at a day: a far-future `exp` (year 9999) must not reach
        // moka's instant arithmetic, and every hit re-checks `exp` anyway.
        let left = (value.validated.exp - now).clamp(0.0, MAX_CACHED_SECS);
        Some(Duration::try_from_secs_f64(left).unwrap_or(Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(same_token(b"abcdefghijk", b"abcdefghijk"));
        assert!(!same_token(b"abcdefghijk", b"abcdefghijx"));
        assert!(!same_token(b"abcdefgXijk", b"abcdefghijk"));
        assert!(!same_token(b"abc", b"abcd"));
        // Every position of tokens of every length around the steps, in
        // the vector part and the overlapping last step.
        for len in 0..200u8 {
            let token: Vec<u8> = (0..len).map(|i| b'a' + i % 26).collect();
            assert!(same_token(&token, &token.clone()));
            for i in 0..token.len() {
                let mut other = token.clone();
                other[i] ^= 1;
                assert!(!same_token(&token, &other), "length {len}, byte {i}");
            }
        }
    }

    #[test]
    fn cache_keys_depend_on_length_and_tail() {
        let keys = HashKeys::random();
        let token = b"header.payload.signature-0123456789abcdef";
        let key = cache_key(keys, token);
        assert_eq!(key, cache_key(keys, token));
        let mut other = token.to_vec();
        if let Some(last) = other.last_mut() {
            *last ^= 1;
        }
        assert_ne!(key, cache_key(keys, &other));
        assert_ne!(key, cache_key(keys, &token[1..]));
        assert_ne!(key, cache_key(HashKeys::random(), token));
        // Short tokens hash too.
        assert_ne!(cache_key(keys, b"a"), cache_key(keys, b"b"));
    }
}
