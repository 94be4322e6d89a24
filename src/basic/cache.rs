//! The cache of successful password verifications.
//!
//! Keyed by HMAC-SHA256, under a random key made when the scheme is built,
//! of the user-id and password: the cache never holds a password, nor
//! anything that could be brute-forced offline without that key (which never
//! leaves the process). Only successes are inserted, each tagged with the
//! user's [invalidation generation](crate::invalidation) as it was before
//! the store was read, and used only while that generation is current.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use moka::sync::Cache;
use ring::hmac;
use ring::rand::SystemRandom;

use crate::error::ConfigError;
use crate::principal::Principal;
use crate::telemetry::CacheMetrics;

/// A verification that succeeded.
pub(crate) struct Verified {
    /// The user's stripe generation before the store was read.
    pub(crate) generation: u64,
    /// The record's expiry: a hit after it is not used.
    pub(crate) expires_at: Option<SystemTime>,
    pub(crate) principal: Principal,
}

/// Bounded in entries and age.
pub(crate) struct VerificationCache {
    key: hmac::Key,
    entries: Cache<[u8; 32], Arc<Verified>>,
}

impl VerificationCache {
    pub(crate) fn new(
        capacity: u64,
        ttl: Duration,
        metrics: &CacheMetrics,
    ) -> Result<Self, ConfigError> {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new()).map_err(|_| {
            ConfigError::InvalidSetting {
                setting: "verification cache",
                why: "the system random generator failed",
            }
        })?;
        let builder = Cache::builder().max_capacity(capacity).time_to_live(ttl);
        Ok(Self {
            key,
            entries: metrics.watch_sync(builder).build(),
        })
    }

    /// The cache key of `user` with `password`: the user-id's length comes
    /// first, so that `("ab", "c")` and `("a", "bc")` differ.
    pub(crate) fn key_for(&self, user: &str, password: &[u8]) -> [u8; 32] {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(&(user.len() as u64).to_be_bytes());
        context.update(user.as_bytes());
        context.update(password);
        // An HMAC-SHA256 tag is always 32 bytes.
        <[u8; 32]>::try_from(context.sign().as_ref()).unwrap_or([0u8; 32])
    }

    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Arc<Verified>> {
        self.entries.get(key)
    }

    pub(crate) fn insert(&self, key: [u8; 32], verified: Verified) {
        self.entries.insert(key, Arc::new(verified));
    }

    pub(crate) fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn keys_separate_user_from_password_and_depend_on_the_process_key() {
        let metrics = CacheMetrics::new("basic");
        let cache = VerificationCache::new(10, Duration::from_secs(60), &metrics).unwrap();
        assert_ne!(cache.key_for("ab", b"c"), cache.key_for("a", b"bc"));
        assert_eq!(cache.key_for("a", b"bc"), cache.key_for("a", b"bc"));
        let other = VerificationCache::new(10, Duration::from_secs(60), &metrics).unwrap();
        assert_ne!(cache.key_for("a", b"b"), other.key_for("a", b"b"));
    }
}
