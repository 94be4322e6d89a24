//! Where password records live: the [`PasswordStore`] trait, the record and
//! the in-memory store.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use super::hash::{self, HashError, PasswordHasher};
use crate::error::{ConfigError, StoreError};
use crate::principal::Scopes;

/// A stored user: the PHC-format hash of the password (never the password),
/// who the user is and what they may do, like an API key's
/// [`KeyRecord`](crate::api_key::KeyRecord).
///
/// # Example
///
/// ```
/// use authgate::basic::{Argon2Hasher, PasswordHasher, PasswordRecord};
/// use authgate::Scopes;
///
/// let hash = Argon2Hasher::insecure_for_tests().hash(b"s3cret").unwrap();
/// let mut record = PasswordRecord::new("ci-bot", hash).unwrap();
/// record.scopes = Scopes::parse("deploy");
/// assert_eq!(record.subject, "ci-bot");
/// assert!(!format!("{record:?}").contains("argon2id$v"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PasswordRecord {
    /// The user-id the client sends. Never contains `:`, which separates it
    /// from the password in Basic credentials.
    pub user: String,
    /// The password hash: an Argon2 PHC string (`$argon2id$v=19$...`) or
    /// bcrypt (`$2b$...`).
    pub hash: String,
    /// The principal's subject. Defaults to the user-id.
    pub subject: String,
    /// What the user may do.
    pub scopes: Scopes,
    /// When the record was created.
    pub created_at: SystemTime,
    /// When the password stops working, if ever.
    pub expires_at: Option<SystemTime>,
    /// A disabled user is refused (401 `revoked`), even with the right
    /// password.
    pub disabled: bool,
}

impl PasswordRecord {
    /// A record for `user` with `hash`, no scopes, no expiry, created now.
    ///
    /// # Errors
    ///
    /// When `user` is empty or holds `:` or control characters (a client
    /// could never send it), or `hash` is not an Argon2 or bcrypt hash.
    pub fn new(user: impl Into<String>, hash: impl Into<String>) -> Result<Self, ConfigError> {
        let (user, hash) = (user.into(), hash.into());
        check_user(&user)?;
        hash::check_format(&hash).map_err(|e| ConfigError::InvalidSetting {
            setting: "password hash",
            why: match e {
                HashError::UnsupportedFormat => {
                    "not an Argon2 or bcrypt hash (MD5-crypt, SHA-1 and plain text are refused)"
                }
                _ => "a malformed Argon2 or bcrypt hash",
            },
        })?;
        Ok(Self {
            subject: user.clone(),
            user,
            hash,
            scopes: Scopes::empty(),
            created_at: SystemTime::now(),
            expires_at: None,
            disabled: false,
        })
    }

    /// A record for `user` whose password is hashed now with `hasher`.
    ///
    /// ```
    /// use authgate::basic::{Argon2Hasher, PasswordRecord};
    /// use authgate::Scopes;
    ///
    /// let hasher = Argon2Hasher::insecure_for_tests();
    /// let record = PasswordRecord::hashing("ops", b"hunter2", &hasher)
    ///     .unwrap()
    ///     .with_scopes(Scopes::parse("metrics:read"));
    /// assert!(record.hash.starts_with("$argon2id$"));
    /// ```
    ///
    /// # Errors
    ///
    /// When `user` is not a valid user-id, or hashing fails.
    pub fn hashing(
        user: impl Into<String>,
        password: &[u8],
        hasher: &impl PasswordHasher,
    ) -> Result<Self, ConfigError> {
        let hash = hasher
            .hash(password)
            .map_err(|_| ConfigError::InvalidSetting {
                setting: "password hash",
                why: "hashing the password failed",
            })?;
        Self::new(user, hash)
    }

    /// The same record with `scopes`.
    #[must_use]
    pub fn with_scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }
}

impl fmt::Debug for PasswordRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordRecord")
            .field("user", &self.user)
            .field("hash", &"<redacted>")
            .field("subject", &self.subject)
            .field("scopes", &self.scopes)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// RFC 7617 §2: a user-id has no `:` and no control characters.
pub(crate) fn check_user(user: &str) -> Result<(), ConfigError> {
    if user.is_empty() || user.contains(':') || user.chars().any(char::is_control) {
        return Err(ConfigError::InvalidName {
            name: user.to_owned(),
            why: "a Basic user-id must be non-empty, without ':' or control characters",
        });
    }
    Ok(())
}

/// Where password records are looked up: your database, an htpasswd file
/// ([`InMemoryPasswordStore::from_htpasswd`]), or the
/// [`InMemoryPasswordStore`].
///
/// [`BasicScheme`](super::BasicScheme) asks it only for passwords it has not
/// verified recently, and never more often at once than its concurrency cap.
///
/// # Example
///
/// ```
/// use authgate::basic::{PasswordRecord, PasswordStore};
/// use authgate::StoreError;
///
/// struct Postgres; // holds a pool in real life
///
/// impl PasswordStore for Postgres {
///     async fn find(&self, user: &str) -> Result<Option<PasswordRecord>, StoreError> {
///         // SELECT ... WHERE user_id = $1
///         Ok(None)
///     }
/// }
/// ```
pub trait PasswordStore: Send + Sync + 'static {
    /// The record of `user`, `Ok(None)` when there is none, an error when
    /// the store cannot answer.
    fn find(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Option<PasswordRecord>, StoreError>> + Send;

    /// A hash with the algorithm and cost the store's hashes have, asked
    /// for once when the scheme is built: an unknown user is verified
    /// against it, so that it costs what a known user with a wrong password
    /// costs (a bcrypt htpasswd file and an Argon2id dummy would tell them
    /// apart by timing). Defaults to `None`: the scheme then starts with a
    /// dummy made by its hasher and, from the first user it finds, uses
    /// the hash of the user it found last.
    ///
    /// ```
    /// use authgate::basic::{InMemoryPasswordStore, PasswordStore};
    ///
    /// let store = InMemoryPasswordStore::from_htpasswd(
    ///     "legacy:$2y$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie\n",
    /// )
    /// .unwrap();
    /// assert!(store.representative_hash().unwrap().starts_with("$2y$04$"));
    /// ```
    fn representative_hash(&self) -> Option<String> {
        None
    }
}

impl<S: PasswordStore> PasswordStore for Arc<S> {
    fn find(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Option<PasswordRecord>, StoreError>> + Send {
        S::find(self, user)
    }

    fn representative_hash(&self) -> Option<String> {
        S::representative_hash(self)
    }
}

/// A password store in memory: for tests, and for services with a handful
/// of users loaded at start-up (from an htpasswd file, say). Clones share
/// the same records.
///
/// After changing a record, call
/// [`BasicScheme::invalidate`](super::BasicScheme::invalidate) so that
/// cached verifications of the old one are not used again.
///
/// ```
/// use authgate::basic::{Argon2Hasher, InMemoryPasswordStore, PasswordRecord};
///
/// let store = InMemoryPasswordStore::new();
/// let hasher = Argon2Hasher::insecure_for_tests();
/// store.insert(PasswordRecord::hashing("ops", b"hunter2", &hasher).unwrap());
/// assert!(store.get("ops").is_some());
/// assert!(store.disable("ops"));
/// ```
#[derive(Clone, Default)]
pub struct InMemoryPasswordStore {
    records: Arc<RwLock<HashMap<String, PasswordRecord>>>,
}

impl InMemoryPasswordStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the record of its user.
    pub fn insert(&self, record: PasswordRecord) {
        self.write().insert(record.user.clone(), record);
    }

    /// Disables a user. Returns whether it existed.
    pub fn disable(&self, user: &str) -> bool {
        self.write()
            .get_mut(user)
            .map(|r| r.disabled = true)
            .is_some()
    }

    /// Removes a user. Returns whether it existed.
    pub fn remove(&self, user: &str) -> bool {
        self.write().remove(user).is_some()
    }

    /// A copy of the record of `user`.
    #[must_use]
    pub fn get(&self, user: &str) -> Option<PasswordRecord> {
        self.records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(user)
            .cloned()
    }

    /// The number of users.
    #[must_use]
    pub fn len(&self) -> usize {
        self.records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether there are no users.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, PasswordRecord>> {
        // A panic elsewhere while holding the lock cannot leave a HashMap of
        // whole records half-written, so a poisoned lock is still usable.
        self.records.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PasswordStore for InMemoryPasswordStore {
    async fn find(&self, user: &str) -> Result<Option<PasswordRecord>, StoreError> {
        Ok(self.get(user))
    }

    /// The hash of the first user in user-id order.
    fn representative_hash(&self) -> Option<String> {
        self.records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .min_by(|a, b| a.user.cmp(&b.user))
            .map(|record| record.hash.clone())
    }
}

impl fmt::Debug for InMemoryPasswordStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryPasswordStore")
            .field("users", &self.len())
            .finish()
    }
}
