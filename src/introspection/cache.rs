//! The introspection caches and the single flight.
//!
//! Answers are kept under a keyed hash of the endpoint, the client id and
//! the whole token, and every hit is confirmed by comparing the whole token
//! in constant time. Active answers stay for the configured TTL, never past
//! the token's `exp` (RFC 7662 §4); inactive ones only in a separate, short,
//! separately bounded negative cache. Concurrent misses for one token share
//! one call.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use moka::Expiry;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::answer::Verdict;
use crate::error::AuthError;

/// A cached answer of `active: true` (accepted or refused by our rules).
#[derive(Debug)]
pub(crate) struct Entry {
    /// The scheme's generation when the call began: the entry serves only
    /// while it is unchanged (see `IntrospectionScheme::clear_cache`).
    pub(crate) generation: u64,
    pub(crate) token: Zeroizing<String>,
    pub(crate) verdict: Verdict,
    /// How long the entry may live: min(TTL, `exp` − now).
    pub(crate) ttl: Duration,
}

/// A cached `active: false`.
#[derive(Debug)]
pub(crate) struct Inactive {
    pub(crate) generation: u64,
    pub(crate) token: Zeroizing<String>,
}

/// What a call (shared by concurrent requests) gives.
pub(crate) type Outcome = Result<Arc<Entry>, AuthError>;

/// Whether two tokens are equal, in constant time for equal lengths.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The cache key: a keyed hash of the endpoint and client id (`scope`,
/// hashed once at build time) and the whole token.
pub(crate) fn cache_key(hasher: &impl BuildHasher, scope: u64, token: &str) -> u64 {
    hasher.hash_one((scope, token))
}

/// Each entry lives for its own TTL.
pub(crate) struct PerEntry;

impl Expiry<u64, Arc<Entry>> for PerEntry {
    fn expire_after_create(&self, _: &u64, value: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// One call in flight and the token it is for.
pub(crate) struct Flight {
    token: Zeroizing<String>,
    /// The cache generation the call began in.
    generation: u64,
    pub(crate) cell: tokio::sync::OnceCell<Outcome>,
}

/// The calls in flight, by cache key. Each holds at most one entry per
/// token being introspected right now; entries leave when their call ends
/// or when no request waits for them any more.
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<u64, Arc<Flight>>>,
}

/// A request's share of a flight; leaving removes the flight once it is
/// done or nobody else waits.
pub(crate) struct Joined<'a> {
    flights: &'a Flights,
    key: u64,
    pub(crate) flight: Arc<Flight>,
}

impl Flights {
    /// Joins (or starts) the flight for `token` in cache `generation`;
    /// `None` when another token with the same key is in flight (a hash
    /// collision: call alone). A call begun before the cache was cleared
    /// answers only the requests that joined it before: a later one starts
    /// a new flight (the old one's requests keep theirs).
    pub(crate) fn join(&self, key: u64, token: &str, generation: u64) -> Option<Joined<'_>> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh = || {
            Arc::new(Flight {
                token: Zeroizing::new(token.to_owned()),
                generation,
                cell: tokio::sync::OnceCell::new(),
            })
        };
        let flight = map.entry(key).or_insert_with(fresh);
        if flight.generation < generation {
            *flight = fresh();
        }
        if !same_token(&flight.token, token) {
            return None;
        }
        Some(Joined {
            flights: self,
            key,
            flight: Arc::clone(flight),
        })
    }

    /// Calls in flight now.
    pub(crate) fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for Joined<'_> {
    fn drop(&mut self) {
        let mut map = self
            .flights
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ours = map
            .get(&self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight));
        // The map's reference and ours: nobody else waits.
        if ours && (self.flight.cell.initialized() || Arc::strong_count(&self.flight) <= 2) {
            map.remove(&self.key);
        }
    }
}
