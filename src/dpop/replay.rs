//! Replay protection for proofs (RFC 9449 §11.1): every accepted proof's
//! `jti` is remembered, per normalised `htu`, for as long as its `iat`
//! could still be accepted; a proof seen again in that time is refused.
//!
//! The check is one call, [`JtiStore::remember`], so that a store shared by
//! a fleet of servers can stand in for the in-process default,
//! [`InMemoryJtiStore`].

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::StoreError;

/// The future of [`JtiStore::remember`]: `Ok(true)` when the `jti` was new
/// (and is now remembered), `Ok(false)` when it was already there (a
/// replay).
pub type RememberFuture = Pin<Box<dyn Future<Output = Result<bool, StoreError>> + Send>>;

/// Where the `jti`s of accepted proofs are remembered.
///
/// An error is answered 503: a store that cannot say whether a proof is
/// new fails closed.
///
/// ```
/// use authgate::dpop::{InMemoryJtiStore, JtiStore};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = InMemoryJtiStore::new(1_000);
/// let ttl = Duration::from_secs(60);
/// assert_eq!(store.remember("https://api.example/a", "j1", ttl).await.unwrap(), true);
/// assert_eq!(store.remember("https://api.example/a", "j1", ttl).await.unwrap(), false);
/// assert_eq!(store.remember("https://api.example/b", "j1", ttl).await.unwrap(), true);
/// # }
/// ```
pub trait JtiStore: Send + Sync + 'static {
    /// Records `jti` for the normalised `htu` for `ttl`, atomically: of
    /// two calls with the same pair within `ttl`, exactly one answers
    /// `true`. Answer with a ready future when no I/O is needed.
    fn remember(&self, htu: &str, jti: &str, ttl: Duration) -> RememberFuture;
}

/// Independent locks, so that proofs rarely wait on each other.
const SHARDS: usize = 16;

/// The default [`JtiStore`]: in this process, bounded, each entry kept for
/// its time-to-live on the monotonic clock.
///
/// Entries are 128-bit keyed hashes of `(htu, jti)`, so long `jti`s cost no
/// more than short ones. When it is full of entries that are all still
/// live, a new proof is refused with a 503 rather than letting an old
/// `jti` be forgotten early. Only proofs whose signature verified for a
/// valid token reach it.
///
/// ```
/// use authgate::dpop::InMemoryJtiStore;
/// let store = InMemoryJtiStore::new(100_000);
/// # let _ = store;
/// ```
pub struct InMemoryJtiStore {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    keys: [RandomState; 2],
}

#[derive(Default)]
struct Shard {
    seen: HashMap<u128, Instant>,
    /// The same entries in the order they were added.
    order: VecDeque<(u128, Instant)>,
}

impl InMemoryJtiStore {
    /// A store holding at most `capacity` live entries (at least one per
    /// shard).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard,
            keys: [RandomState::new(), RandomState::new()],
        }
    }

    fn fingerprint(&self, htu: &str, jti: &str) -> u128 {
        let [a, b] = &self.keys;
        let high = a.hash_one((htu, jti));
        let low = b.hash_one((htu, jti));
        u128::from(high) << 64 | u128::from(low)
    }

    /// The answer of [`JtiStore::remember`], without a future.
    fn admit(&self, htu: &str, jti: &str, ttl: Duration) -> Result<bool, StoreError> {
        let key = self.fingerprint(htu, jti);
        // The low bits pick the shard; the modulo keeps the index in range.
        #[allow(clippy::cast_possible_truncation)]
        let index = (key as usize) % SHARDS;
        let shard = self
            .shards
            .get(index)
            .ok_or_else(|| StoreError::new("jti store shard out of range"))?;
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if shard.seen.get(&key).is_some_and(|until| *until > now) {
            return Ok(false);
        }
        while let Some(&(old, until)) = shard.order.front() {
            if until > now {
                break;
            }
            shard.order.pop_front();
            if shard.seen.get(&old) == Some(&until) {
                shard.seen.remove(&old);
            }
        }
        if shard.seen.len() >= self.per_shard {
            return Err(StoreError::new("the DPoP jti store is full"));
        }
        let until = now + ttl;
        shard.seen.insert(key, until);
        shard.order.push_back((key, until));
        Ok(true)
    }

    /// Entries held, live or not yet purged.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).seen.len())
            .sum()
    }

    /// Whether it holds no entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl JtiStore for InMemoryJtiStore {
    fn remember(&self, htu: &str, jti: &str, ttl: Duration) -> RememberFuture {
        let answer = self.admit(htu, jti, ttl);
        Box::pin(std::future::ready(answer))
    }
}

impl fmt::Debug for InMemoryJtiStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryJtiStore")
            .field("capacity", &(self.per_shard * SHARDS))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_for_the_ttl_and_stays_bounded() {
        let store = InMemoryJtiStore::new(SHARDS);
        let short = Duration::from_millis(20);
        assert!(store.admit("h", "a", short).unwrap());
        assert!(!store.admit("h", "a", short).unwrap());
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            store.admit("h", "a", short).unwrap(),
            "forgotten after its ttl"
        );
        // One entry per shard: some shard fills up and refuses.
        let long = Duration::from_secs(60);
        let refused = (0..200)
            .map(|i| store.admit("h", &format!("j{i}"), long))
            .filter(Result::is_err)
            .count();
        assert!(refused > 0);
        assert!(store.len() <= SHARDS);
    }
}
