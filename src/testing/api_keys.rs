//! [`TestApiKeys`]: an API-key store with keys in every state.

use std::fmt;
use std::time::{Duration, SystemTime};

use super::TestKitError;
use crate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore, KeyRecord};
use crate::principal::Scopes;

/// An [`InMemoryKeyStore`] and a generator for one environment prefix:
/// issue keys in any state with one call each, and get the scheme that
/// checks them.
///
/// ```
/// use authgate::testing::TestApiKeys;
/// use authgate::AuthLayer;
///
/// let keys = TestApiKeys::new("sk_test").unwrap();
/// let alice = keys.issue("alice", "orders:read");
/// let expired = keys.issue_expired("bob", "orders:read");
/// let revoked = keys.issue_revoked("carol", "");
/// let unknown = keys.unknown();
/// let auth = AuthLayer::builder().scheme(keys.scheme()).build().unwrap();
/// # let _ = (alice, expired, revoked, unknown, auth);
/// ```
#[derive(Clone)]
pub struct TestApiKeys {
    prefix: String,
    store: InMemoryKeyStore,
}

impl TestApiKeys {
    /// Keys starting with `prefix_` (e.g. `sk_test`), in an empty store.
    ///
    /// # Errors
    ///
    /// When `prefix` is not a valid key prefix.
    pub fn new(prefix: &str) -> Result<Self, TestKitError> {
        ApiKeyGenerator::new(prefix).map_err(TestKitError::Config)?;
        Ok(Self {
            prefix: prefix.to_owned(),
            store: InMemoryKeyStore::new(),
        })
    }

    /// Keys of another prefix (another environment, e.g. `sk_live` next to
    /// `sk_test`) in the same store.
    ///
    /// ```
    /// let test = authgate::testing::TestApiKeys::new("sk_test").unwrap();
    /// let live = test.with_prefix("sk_live").unwrap();
    /// let key = live.issue("acct", "");
    /// assert!(key.starts_with("sk_live_"));
    /// ```
    ///
    /// # Errors
    ///
    /// When `prefix` is not a valid key prefix.
    pub fn with_prefix(&self, prefix: &str) -> Result<Self, TestKitError> {
        ApiKeyGenerator::new(prefix).map_err(TestKitError::Config)?;
        Ok(Self {
            prefix: prefix.to_owned(),
            store: self.store.clone(),
        })
    }

    /// The store the keys are in; clones share it.
    #[must_use]
    pub fn store(&self) -> InMemoryKeyStore {
        self.store.clone()
    }

    /// An [`ApiKeyScheme`] over the store, accepting this prefix.
    ///
    /// # Panics
    ///
    /// Never: the prefix was checked by [`new`](Self::new).
    #[must_use]
    #[allow(clippy::expect_used)] // the prefix was checked in `new`
    pub fn scheme(&self) -> ApiKeyScheme<InMemoryKeyStore> {
        ApiKeyScheme::new(self.store.clone(), &self.prefix).expect("a checked prefix")
    }

    /// A valid key for `subject` with space-separated `scopes`; returns the
    /// plaintext.
    #[must_use]
    pub fn issue(&self, subject: &str, scopes: &str) -> String {
        self.issue_with(subject, scopes, |_| {})
    }

    /// A key that expired a second ago.
    #[must_use]
    pub fn issue_expired(&self, subject: &str, scopes: &str) -> String {
        self.issue_with(subject, scopes, |r| {
            r.expires_at = Some(SystemTime::now() - Duration::from_secs(1));
        })
    }

    /// A revoked key.
    #[must_use]
    pub fn issue_revoked(&self, subject: &str, scopes: &str) -> String {
        self.issue_with(subject, scopes, |r| r.revoked = true)
    }

    /// A key whose id is stored, with another secret: a wrong secret.
    #[must_use]
    pub fn issue_wrong_secret(&self, subject: &str, scopes: &str) -> String {
        self.issue_with(subject, scopes, |r| r.secret_hash = [7u8; 32])
    }

    /// A well-formed key of this prefix that was never stored.
    #[must_use]
    pub fn unknown(&self) -> String {
        self.generate("nobody", "")
            .map(|(plaintext, _)| plaintext)
            .unwrap_or_default()
    }

    /// A key for `subject`, its record changed by `edit` before it is
    /// stored.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// let keys = authgate::testing::TestApiKeys::new("sk_test").unwrap();
    /// let retiring = keys.issue_with("acct", "", |record| {
    ///     record.retires_at = Some(SystemTime::now() + Duration::from_secs(60));
    /// });
    /// # let _ = retiring;
    /// ```
    #[must_use]
    pub fn issue_with(
        &self,
        subject: &str,
        scopes: &str,
        edit: impl FnOnce(&mut KeyRecord),
    ) -> String {
        match self.generate(subject, scopes) {
            Some((plaintext, mut record)) => {
                edit(&mut record);
                self.store.insert(record);
                plaintext
            }
            None => String::new(),
        }
    }

    fn generate(&self, subject: &str, scopes: &str) -> Option<(String, KeyRecord)> {
        let generator = ApiKeyGenerator::new(&self.prefix).ok()?;
        let (plaintext, record) = generator
            .generate(subject, Scopes::parse(scopes))
            .ok()?
            .into_parts();
        Some((plaintext.expose().to_owned(), record))
    }
}

impl fmt::Debug for TestApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestApiKeys")
            .field("prefix", &self.prefix)
            .field("store", &self.store)
            .finish()
    }
}
