//! Where key records live: the [`KeyStore`] trait, the record, the in-memory
//! store and the generator.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use ring::rand::SystemRandom;

use super::format::{self, RandomError};
use crate::error::{ConfigError, StoreError};
use crate::invalidation::IdHasher;
use crate::principal::Scopes;
use crate::secret::SecretString;

/// A stored API key: everything but the key itself, of which only the
/// SHA-256 of the secret part is kept.
///
/// # Example
///
/// A record loaded from your database:
///
/// ```
/// use authgate::api_key::KeyRecord;
/// use authgate::Scopes;
/// use std::time::{Duration, SystemTime};
///
/// let mut record = KeyRecord::new("sk_live", "0123456789abcdef", [0u8; 32], "acct_42");
/// record.scopes = Scopes::parse("orders:read");
/// record.expires_at = Some(SystemTime::now() + Duration::from_secs(86_400));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyRecord {
    /// The environment prefix the key was issued for, e.g. `sk_live`.
    pub prefix: String,
    /// The key id: the middle part of the key.
    pub id: String,
    /// SHA-256 of the secret part (the random characters and checksum).
    pub secret_hash: [u8; 32],
    /// Who the key authenticates.
    pub subject: String,
    /// What the key may do.
    pub scopes: Scopes,
    /// When the key was issued.
    pub created_at: SystemTime,
    /// When the key stops working, if ever.
    pub expires_at: Option<SystemTime>,
    /// When a key that was rotated out stops working: the end of its grace
    /// period.
    pub retires_at: Option<SystemTime>,
    /// A revoked key never works again.
    pub revoked: bool,
    /// The key's plan (`"free"`, `"pro"`): carried to the
    /// [`Principal`](crate::Principal), where a
    /// [`RateLimitLayer`](crate::ratelimit::RateLimitLayer) with
    /// [`plan`](crate::ratelimit::RateLimitLayer::plan)s picks its quota.
    /// `None`: the layer's default quota.
    pub plan: Option<String>,
}

impl KeyRecord {
    /// A record with no scopes, no expiry, created now.
    #[must_use]
    pub fn new(
        prefix: impl Into<String>,
        id: impl Into<String>,
        secret_hash: [u8; 32],
        subject: impl Into<String>,
    ) -> Self {
        Self {
            prefix: prefix.into(),
            id: id.into(),
            secret_hash,
            subject: subject.into(),
            scopes: Scopes::empty(),
            created_at: SystemTime::now(),
            expires_at: None,
            retires_at: None,
            revoked: false,
            plan: None,
        }
    }

    /// Sets the key's [`plan`](Self::plan).
    ///
    /// ```
    /// use authgate::api_key::KeyRecord;
    ///
    /// let record = KeyRecord::new("sk_live", "0123456789abcdef", [0u8; 32], "acct_42").with_plan("pro");
    /// assert_eq!(record.plan.as_deref(), Some("pro"));
    /// ```
    #[must_use]
    pub fn with_plan(mut self, plan: impl Into<String>) -> Self {
        self.plan = Some(plan.into());
        self
    }
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("prefix", &self.prefix)
            .field("id", &self.id)
            .field("secret_hash", &"<redacted>")
            .field("subject", &self.subject)
            .field("scopes", &self.scopes)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("retires_at", &self.retires_at)
            .field("revoked", &self.revoked)
            .field("plan", &self.plan)
            .finish()
    }
}

/// Where key records are looked up: your database, or the
/// [`InMemoryKeyStore`].
///
/// Look-ups go through a bounded cache in [`ApiKeyScheme`](super::ApiKeyScheme),
/// so the store sees at most one query per key id per cache lifetime.
///
/// # Example
///
/// ```
/// use authgate::api_key::{KeyRecord, KeyStore, StoreError};
///
/// struct Postgres; // holds a pool in real life
///
/// impl KeyStore for Postgres {
///     async fn find(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
///         // SELECT ... WHERE id = $1
///         Ok(None)
///     }
/// }
/// ```
pub trait KeyStore: Send + Sync + 'static {
    /// The record with this id, `Ok(None)` when there is none, an error when
    /// the store cannot answer.
    fn find(&self, id: &str) -> impl Future<Output = Result<Option<KeyRecord>, StoreError>> + Send;

    /// The answer [`find`](Self::find) would give, when the store has it
    /// at hand without waiting (an in-memory map); `None` to have `find`
    /// asked instead. Defaults to `None`, which is right for any store
    /// that does I/O.
    ///
    /// The scheme calls it on a cache miss, before `find`: an id this
    /// answers as unknown is rejected on the spot, with no task or timer,
    /// which keeps a flood of never-seen keys cheap (an id `find` answers
    /// as unknown is not inserted into the shared cache either, but waits
    /// for `find`). Found records still go through `find` and the shared
    /// cache.
    ///
    /// ```
    /// use authgate::api_key::{KeyRecord, KeyStore, StoreError};
    /// use std::collections::HashMap;
    ///
    /// struct Fixed(HashMap<String, KeyRecord>);
    ///
    /// impl KeyStore for Fixed {
    ///     async fn find(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
    ///         Ok(self.0.get(id).cloned())
    ///     }
    ///
    ///     fn find_now(&self, id: &str) -> Option<Result<Option<KeyRecord>, StoreError>> {
    ///         Some(Ok(self.0.get(id).cloned()))
    ///     }
    /// }
    /// ```
    fn find_now(&self, id: &str) -> Option<Result<Option<KeyRecord>, StoreError>> {
        let _ = id;
        None
    }

    /// Told that key `id` was used at `at`, to keep a last-used time. A
    /// scheme built with
    /// [`track_usage`](super::ApiKeySchemeBuilder::track_usage) calls it
    /// off the request path, at most once per key per minute; errors are
    /// logged and dropped. Defaults to doing nothing.
    ///
    /// ```
    /// use authgate::api_key::{KeyRecord, KeyStore, StoreError};
    /// use std::time::SystemTime;
    ///
    /// struct Db;
    ///
    /// impl KeyStore for Db {
    ///     async fn find(&self, _id: &str) -> Result<Option<KeyRecord>, StoreError> {
    ///         Ok(None)
    ///     }
    ///
    ///     async fn record_use(&self, _id: &str, _at: SystemTime) -> Result<(), StoreError> {
    ///         // UPDATE keys SET last_used_at = $2 WHERE id = $1
    ///         Ok(())
    ///     }
    /// }
    /// ```
    fn record_use(
        &self,
        id: &str,
        at: SystemTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (id, at);
        std::future::ready(Ok(()))
    }
}

impl<S: KeyStore> KeyStore for Arc<S> {
    fn find(&self, id: &str) -> impl Future<Output = Result<Option<KeyRecord>, StoreError>> + Send {
        S::find(self, id)
    }

    fn find_now(&self, id: &str) -> Option<Result<Option<KeyRecord>, StoreError>> {
        S::find_now(self, id)
    }

    fn record_use(
        &self,
        id: &str,
        at: SystemTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        S::record_use(self, id, at)
    }
}

/// A key store in memory: for tests, examples, and services with a handful
/// of keys loaded at start-up. Clones share the same keys.
///
/// ```
/// use authgate::api_key::{ApiKeyGenerator, InMemoryKeyStore};
/// use authgate::Scopes;
///
/// let store = InMemoryKeyStore::new();
/// let key = ApiKeyGenerator::new("sk_live").unwrap()
///     .generate("acct_42", Scopes::parse("orders:read")).unwrap();
/// store.insert(key.record().clone());
/// // Hand key.plaintext() to the customer once; it is not kept anywhere.
/// ```
#[derive(Clone, Default)]
pub struct InMemoryKeyStore {
    records: Arc<RwLock<HashMap<String, KeyRecord, IdHasher>>>,
}

impl InMemoryKeyStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a record.
    pub fn insert(&self, record: KeyRecord) {
        self.write().insert(record.id.clone(), record);
    }

    /// Marks a key revoked. Returns whether it existed.
    ///
    /// The scheme's cache may still hold the old record for its TTL; call
    /// [`ApiKeyScheme::invalidate`](super::ApiKeyScheme::invalidate) to make
    /// the revocation take effect at once.
    pub fn revoke(&self, id: &str) -> bool {
        self.write().get_mut(id).map(|r| r.revoked = true).is_some()
    }

    /// Issues a replacement for key `id` with the same subject and scopes;
    /// the old key keeps working until `now + grace`, then stops.
    ///
    /// Returns `Ok(None)` when there is no such key, or it is revoked.
    ///
    /// # Errors
    ///
    /// When the system random generator fails.
    pub fn rotate(
        &self,
        id: &str,
        grace: Duration,
        now: SystemTime,
    ) -> Result<Option<GeneratedKey>, RandomError> {
        let mut records = self.write();
        // A revoked key is never brought back through its replacement.
        let Some(old) = records.get_mut(id).filter(|r| !r.revoked) else {
            return Ok(None);
        };
        let generator = ApiKeyGenerator {
            prefix: old.prefix.clone(),
            rng: SystemRandom::new(),
        };
        let mut fresh = generator.generate(old.subject.clone(), old.scopes.clone())?;
        fresh.record.created_at = now;
        fresh.record.expires_at = old.expires_at;
        let deadline = now + grace;
        old.retires_at = Some(old.retires_at.map_or(deadline, |d| d.min(deadline)));
        records.insert(fresh.record.id.clone(), fresh.record.clone());
        Ok(Some(fresh))
    }

    /// Removes a record. Returns whether it existed.
    pub fn remove(&self, id: &str) -> bool {
        self.write().remove(id).is_some()
    }

    /// A copy of the record with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<KeyRecord> {
        self.records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, KeyRecord, IdHasher>> {
        // A panic elsewhere while holding the lock cannot leave a HashMap of
        // whole records half-written, so a poisoned lock is still usable.
        self.records.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl KeyStore for InMemoryKeyStore {
    async fn find(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.get(id))
    }

    fn find_now(&self, id: &str) -> Option<Result<Option<KeyRecord>, StoreError>> {
        Some(Ok(self.get(id)))
    }
}

impl fmt::Debug for InMemoryKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self
            .records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("InMemoryKeyStore")
            .field("keys", &len)
            .finish()
    }
}

/// Issues new keys for one environment prefix.
///
/// ```
/// use authgate::api_key::ApiKeyGenerator;
/// use authgate::Scopes;
///
/// let key = ApiKeyGenerator::new("sk_test").unwrap()
///     .generate("acct_42", Scopes::empty()).unwrap();
/// assert!(key.plaintext().expose().starts_with("sk_test_"));
/// assert!(!format!("{key:?}").contains(key.plaintext().expose()));
/// ```
pub struct ApiKeyGenerator {
    prefix: String,
    rng: SystemRandom,
}

impl ApiKeyGenerator {
    /// A generator for keys starting with `prefix_`.
    ///
    /// # Errors
    ///
    /// When `prefix` is not lowercase letters and digits in segments joined
    /// by `_`.
    pub fn new(prefix: &str) -> Result<Self, ConfigError> {
        format::check_prefix(prefix)?;
        Ok(Self {
            prefix: prefix.to_owned(),
            rng: SystemRandom::new(),
        })
    }

    /// A new key for `subject` with `scopes`, created now, never expiring.
    ///
    /// # Errors
    ///
    /// When the system random generator fails.
    pub fn generate(
        &self,
        subject: impl Into<String>,
        scopes: Scopes,
    ) -> Result<GeneratedKey, RandomError> {
        let key = format::generate(&self.rng, &self.prefix)?;
        let mut record = KeyRecord::new(self.prefix.clone(), key.id, key.secret_hash, subject);
        record.scopes = scopes;
        Ok(GeneratedKey {
            plaintext: key.plaintext,
            record,
        })
    }
}

impl fmt::Debug for ApiKeyGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyGenerator")
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// A freshly generated key: the plaintext to hand out once, and the record
/// to store.
pub struct GeneratedKey {
    plaintext: SecretString,
    record: KeyRecord,
}

impl GeneratedKey {
    #[cfg(feature = "postgres")]
    pub(crate) fn from_parts(plaintext: SecretString, record: KeyRecord) -> Self {
        Self { plaintext, record }
    }

    /// The key to give the customer. It is not stored anywhere.
    #[must_use]
    pub fn plaintext(&self) -> &SecretString {
        &self.plaintext
    }

    /// The record to store.
    #[must_use]
    pub fn record(&self) -> &KeyRecord {
        &self.record
    }

    /// Splits into the plaintext and the record.
    #[must_use]
    pub fn into_parts(self) -> (SecretString, KeyRecord) {
        (self.plaintext, self.record)
    }
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("plaintext", &self.plaintext)
            .field("record", &self.record)
            .finish()
    }
}
