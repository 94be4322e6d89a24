//! Where the native scheme's and RFC 9421's shared secrets live: the
//! [`SecretStore`] trait, the record, and the in-memory store.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use moka::future::Cache;
use moka::Expiry;

use super::secrets::{HmacKey, RotatingKey};
use crate::error::{AuthError, ErrorKind, StoreError};
use crate::invalidation::{self, Generations, Tagged};
use crate::principal::Scopes;
use crate::telemetry::{CacheMetrics, Failure, StoreMetrics};

/// One key id's secrets and the identity they prove.
///
/// A record usually holds one secret. During a rotation it holds the new
/// one and the old ones until their grace deadline; a signature made with
/// any secret still in service verifies.
///
/// # Example
///
/// ```
/// use authgate::hmac::{HmacKey, SecretRecord};
/// use authgate::Scopes;
///
/// let mut record = SecretRecord::new("partner-1", HmacKey::new("s3cr3t"), "acct_42");
/// record.scopes = Scopes::parse("orders:write");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct SecretRecord {
    /// The key id clients send (`keyId=` or RFC 9421 `keyid`).
    pub key_id: String,
    /// Who the key authenticates.
    pub subject: String,
    /// What the key may do.
    pub scopes: Scopes,
    /// A revoked key never verifies again.
    pub revoked: bool,
    keys: Vec<RotatingKey>,
}

impl SecretRecord {
    /// A record with one secret, no scopes, not revoked.
    #[must_use]
    pub fn new(key_id: impl Into<String>, key: HmacKey, subject: impl Into<String>) -> Self {
        Self {
            key_id: key_id.into(),
            subject: subject.into(),
            scopes: Scopes::empty(),
            revoked: false,
            keys: vec![RotatingKey {
                key,
                retires_at: None,
            }],
        }
    }

    /// Adds a secret that is valid alongside the others until `retires_at`
    /// (`None`: until rotated out).
    ///
    /// ```
    /// # use authgate::hmac::{HmacKey, SecretRecord};
    /// let record = SecretRecord::new("k1", HmacKey::new("a"), "svc").with_key(HmacKey::new("b"), None);
    /// assert_eq!(record.key_count(), 2);
    /// ```
    #[must_use]
    pub fn with_key(mut self, key: HmacKey, retires_at: Option<SystemTime>) -> Self {
        self.keys.push(RotatingKey { key, retires_at });
        self
    }

    /// Adds `key`; every secret already there keeps working until
    /// `now + grace`. Secrets already past their deadline are dropped.
    ///
    /// ```
    /// # use authgate::hmac::{HmacKey, SecretRecord};
    /// # use std::time::{Duration, SystemTime};
    /// let mut record = SecretRecord::new("k1", HmacKey::new("old"), "svc");
    /// record.rotate(HmacKey::new("new"), Duration::from_secs(3600), SystemTime::now());
    /// assert_eq!(record.key_count(), 2);
    /// ```
    pub fn rotate(&mut self, key: HmacKey, grace: Duration, now: SystemTime) {
        let deadline = now + grace;
        self.keys.retain(|k| k.retires_at.is_none_or(|t| t > now));
        for old in &mut self.keys {
            old.retires_at = Some(old.retires_at.map_or(deadline, |t| t.min(deadline)));
        }
        self.keys.push(RotatingKey {
            key,
            retires_at: None,
        });
    }

    /// The number of secrets held, retired ones included.
    #[must_use]
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn keys(&self) -> &[RotatingKey] {
        &self.keys
    }
}

impl fmt::Debug for SecretRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretRecord")
            .field("key_id", &self.key_id)
            .field("subject", &self.subject)
            .field("scopes", &self.scopes)
            .field("revoked", &self.revoked)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// Where shared secrets are looked up by key id: your database or vault, or
/// the [`InMemorySecretStore`].
///
/// Look-ups go through a bounded cache in the scheme, so the store sees at
/// most one query per key id per cache lifetime.
///
/// # Example
///
/// ```
/// use authgate::hmac::{SecretRecord, SecretStore, StoreError};
///
/// struct Vault; // holds a client in real life
///
/// impl SecretStore for Vault {
///     async fn find(&self, key_id: &str) -> Result<Option<SecretRecord>, StoreError> {
///         Ok(None)
///     }
/// }
/// ```
pub trait SecretStore: Send + Sync + 'static {
    /// The record for `key_id`, `Ok(None)` when there is none, an error when
    /// the store cannot answer.
    fn find(
        &self,
        key_id: &str,
    ) -> impl Future<Output = Result<Option<SecretRecord>, StoreError>> + Send;
}

impl<S: SecretStore> SecretStore for Arc<S> {
    fn find(
        &self,
        key_id: &str,
    ) -> impl Future<Output = Result<Option<SecretRecord>, StoreError>> + Send {
        S::find(self, key_id)
    }
}

/// Secrets in memory: for tests, examples and services with a handful of
/// partners loaded at start-up. Clones share the same records.
///
/// ```
/// use authgate::hmac::{HmacKey, InMemorySecretStore, SecretRecord};
///
/// let store = InMemorySecretStore::new();
/// store.insert(SecretRecord::new("partner-1", HmacKey::new("s3cr3t"), "acct_42"));
/// assert!(store.get("partner-1").is_some());
/// ```
#[derive(Clone, Default)]
pub struct InMemorySecretStore {
    records: Arc<RwLock<HashMap<String, SecretRecord>>>,
}

impl InMemorySecretStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a record.
    pub fn insert(&self, record: SecretRecord) {
        self.write().insert(record.key_id.clone(), record);
    }

    /// Rotates the secret of `key_id` (see [`SecretRecord::rotate`]).
    /// Returns whether the key id exists. The scheme's cache may hold the
    /// old record for its TTL: call the scheme's `invalidate` to make the
    /// new secret usable at once.
    ///
    /// ```
    /// # use authgate::hmac::{HmacKey, InMemorySecretStore, SecretRecord};
    /// # use std::time::{Duration, SystemTime};
    /// # let store = InMemorySecretStore::new();
    /// # store.insert(SecretRecord::new("k1", HmacKey::new("old"), "svc"));
    /// assert!(store.rotate("k1", HmacKey::new("new"), Duration::from_secs(600), SystemTime::now()));
    /// ```
    pub fn rotate(&self, key_id: &str, key: HmacKey, grace: Duration, now: SystemTime) -> bool {
        self.write()
            .get_mut(key_id)
            .map(|record| record.rotate(key, grace, now))
            .is_some()
    }

    /// Marks a key id revoked. Returns whether it existed.
    ///
    /// ```
    /// # let store = authgate::hmac::InMemorySecretStore::new();
    /// assert!(!store.revoke("nobody"));
    /// ```
    pub fn revoke(&self, key_id: &str) -> bool {
        self.write()
            .get_mut(key_id)
            .map(|r| r.revoked = true)
            .is_some()
    }

    /// A copy of the record for `key_id`.
    #[must_use]
    pub fn get(&self, key_id: &str) -> Option<SecretRecord> {
        self.records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key_id)
            .cloned()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, SecretRecord>> {
        // A panic elsewhere while holding the lock cannot leave a HashMap of
        // whole records half-written, so a poisoned lock is still usable.
        self.records.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SecretStore for InMemorySecretStore {
    async fn find(&self, key_id: &str) -> Result<Option<SecretRecord>, StoreError> {
        Ok(self.get(key_id))
    }
}

impl fmt::Debug for InMemorySecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self
            .records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("InMemorySecretStore")
            .field("keys", &len)
            .finish()
    }
}

/// A [`SecretStore`] behind a bounded cache of positive and negative
/// answers, with a timeout: what the native and RFC 9421 schemes share.
pub(crate) struct CachedStore<S> {
    store: S,
    cache: Cache<Box<str>, Arc<Lookup>>,
    /// Answers read before an [`invalidate`](Self::invalidate) of their id
    /// are never used: see [`crate::invalidation`].
    generations: Generations,
    timeout: Duration,
    metrics: (CacheMetrics, StoreMetrics),
}

/// A cached answer: the record, or `None` for an unknown id, with the
/// generation of its id's stripe before the store was asked.
struct Lookup {
    generation: u64,
    record: Option<Arc<SecretRecord>>,
}

impl Tagged for Lookup {
    fn generation(&self) -> u64 {
        self.generation
    }
}

impl<S: SecretStore> CachedStore<S> {
    pub(crate) fn new(
        store: S,
        capacity: u64,
        found_ttl: Duration,
        unknown_ttl: Duration,
        timeout: Duration,
    ) -> Self {
        let metrics = (
            CacheMetrics::new("hmac_secret"),
            StoreMetrics::new("hmac_secret"),
        );
        let cache = Cache::builder()
            .max_capacity(capacity)
            .expire_after(LookupExpiry {
                found: found_ttl,
                unknown: unknown_ttl,
            });
        let cache = metrics.0.watch_future(cache).build();
        Self {
            store,
            cache,
            generations: Generations::new(),
            timeout,
            metrics,
        }
    }

    /// The record for `id`: 401 `unknown_key` when there is none, 503 when
    /// the store fails or is too slow.
    pub(crate) async fn find(&self, id: &str) -> Result<Arc<SecretRecord>, AuthError> {
        let stripe = self.generations.slot_key(id);
        let lookup =
            invalidation::current(&self.cache, &self.generations, id, || self.load(id, stripe))
                .await
                .map_err(|e| {
                    AuthError::unavailable(LookupError::Shared(e)).with_credential_id(id)
                })?;
        self.metrics.0.entries(self.cache.entry_count());
        lookup
            .record
            .clone()
            .ok_or_else(|| AuthError::new(ErrorKind::UnknownKey).with_credential_id(id))
    }

    /// Entries cached (records and unknown ids), after pending maintenance.
    pub(crate) async fn entry_count(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.entry_count()
    }

    /// Counts a look-up answered from a thread's own copy of a cached
    /// answer as the cache hit it stands for.
    pub(crate) fn count_hit(&self) {
        self.metrics.0.lookup(true);
    }

    /// The cached answer for `id`, if the cache holds one: read without
    /// waiting, so that a cache hit needs no boxed future.
    pub(crate) fn cached(&self, id: &str) -> Option<Result<Arc<SecretRecord>, AuthError>> {
        let current = |a: &Arc<Lookup>| {
            a.generation == self.generations.current(self.generations.slot_key(id))
        };
        let answer = crate::scheme::poll_once(self.cache.get(id))
            .flatten()
            .filter(current);
        self.metrics.0.lookup(answer.is_some());
        let answer = answer?;
        Some(
            answer
                .record
                .clone()
                .ok_or_else(|| AuthError::new(ErrorKind::UnknownKey).with_credential_id(id)),
        )
    }

    /// Forgets `id`: once this returns, no lookup that starts afterwards is
    /// answered from what the store said before, even by a store read that
    /// was in flight.
    pub(crate) async fn invalidate(&self, id: &str) {
        self.generations.bump(id);
        self.cache.invalidate(id).await;
    }

    async fn load(&self, id: &str, stripe: u64) -> Result<Lookup, LookupError> {
        let generation = self.generations.current(stripe);
        let find = self.store.find(id);
        let found = if tokio::runtime::Handle::try_current().is_ok() {
            tokio::time::timeout(self.timeout, find)
                .await
                .inspect_err(|_| self.metrics.1.failed(Failure::Timeout))
                .map_err(|_| LookupError::Timeout(self.timeout))?
        } else {
            // Outside a Tokio runtime there is no timer to race against.
            find.await
        };
        let record = found
            .inspect_err(|_| self.metrics.1.failed(Failure::Error))
            .map_err(LookupError::Store)?
            .filter(|r| r.key_id == id)
            .map(Arc::new);
        Ok(Lookup { generation, record })
    }
}

#[derive(Debug, thiserror::Error)]
enum LookupError {
    #[error(transparent)]
    Store(StoreError),
    #[error("the secret store did not answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Shared(Arc<LookupError>),
}

/// Found records live for the cache TTL, unknown ids for the negative TTL.
struct LookupExpiry {
    found: Duration,
    unknown: Duration,
}

impl Expiry<Box<str>, Arc<Lookup>> for LookupExpiry {
    fn expire_after_create(
        &self,
        _key: &Box<str>,
        value: &Arc<Lookup>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(if value.record.is_some() {
            self.found
        } else {
            self.unknown
        })
    }
}
