//! [`BasicScheme`]: the verifier, its concurrency cap and its cache.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use super::cache::{VerificationCache, Verified};
use super::hash::{Argon2Hasher, HashError, PasswordHasher};
use super::store::{PasswordRecord, PasswordStore};
use crate::clock::{SharedClock, SystemClock};
use crate::credentials::{Credential, CredentialLocation};
use crate::error::{AuthError, ConfigError, ErrorKind, StoreError};
use crate::invalidation::Generations;
use crate::principal::Principal;
use crate::scheme::{Challenge, Scheme, Verification, VerifyContext};
use crate::telemetry::{CacheMetrics, Failure, StoreMetrics};

/// The name Basic principals carry in [`Principal::scheme`].
pub const SCHEME_NAME: &str = "basic";

/// Standard base64, padded or not: clients differ, and either way it is the
/// same credential.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// HTTP Basic authentication (RFC 7617): `Authorization: Basic
/// base64(user-id ":" password)`, checked against password hashes.
///
/// Per request:
///
/// 1. The credentials are decoded: invalid base64, bytes that are not
///    UTF-8 (§2.1 `charset="UTF-8"`), no `:`, or control characters → 400.
///    The first `:` ends the user-id, so a user-id cannot hold one.
/// 2. A user-id and password verified within
///    [`cache_ttl`](BasicSchemeBuilder::cache_ttl) are served from a cache
///    of successful verifications, in microseconds.
/// 3. Otherwise a permit of the concurrency cap is taken, without waiting:
///    when all [`max_concurrent_verifications`](BasicSchemeBuilder::max_concurrent_verifications)
///    are in use the answer is 503 with `Retry-After`, never a queue.
/// 4. The store is asked for the record, and the password is verified on
///    Tokio's blocking pool. An unknown user is verified against a hash
///    with the algorithm and cost of the stored ones (the store's
///    [`representative_hash`](PasswordStore::representative_hash), else a
///    dummy made by the hasher until a user is found, then the hash of the
///    user found last), so it costs what a wrong password costs; both
///    answer 401 alike.
/// 5. Disabled users and expired records are refused (only a caller with
///    the right password learns which); a success enters the cache.
///
/// Clones share the cache and the cap: keep one to call
/// [`invalidate`](Self::invalidate).
///
/// Basic sends the password itself on every request: serve it over TLS
/// only. See the [module docs](super) for when API keys are the better
/// choice.
///
/// # Example
///
/// ```
/// use authgate::basic::{Argon2Hasher, BasicScheme, InMemoryPasswordStore, PasswordRecord};
/// use authgate::AuthLayer;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let hasher = Argon2Hasher::insecure_for_tests(); // Argon2Hasher::new() in production
/// let store = InMemoryPasswordStore::new();
/// store.insert(PasswordRecord::hashing("ops", b"hunter2", &hasher)?);
///
/// let scheme = BasicScheme::builder(store).realm("metrics").hasher(hasher).build()?;
/// let auth = AuthLayer::builder().scheme(scheme).build()?;
/// let service = ServiceBuilder::new().layer(auth).service(service_fn(|_: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
/// }));
///
/// // base64("ops:hunter2")
/// let request = http::Request::get("/").header("authorization", "Basic b3BzOmh1bnRlcjI=").body(())?;
/// assert_eq!(service.clone().oneshot(request).await?.status(), 200);
///
/// let response = service.oneshot(http::Request::get("/").body(())?).await?;
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], r#"Basic realm="metrics", charset="UTF-8""#);
/// # Ok(())
/// # }
/// ```
pub struct BasicScheme<S, H = Argon2Hasher> {
    inner: Arc<Inner<S, H>>,
}

struct Inner<S, H> {
    store: S,
    hasher: H,
    /// What an unknown user is verified against: the store's
    /// representative hash, else a hash of a random password made by
    /// `hasher` at build time; then the hash of the user found last, so
    /// that an unknown user costs what known ones do.
    dummy_hash: Mutex<Arc<str>>,
    challenge: Challenge,
    /// Bumped by [`BasicScheme::invalidate`] for the stripe of the user it
    /// names: a verification whose store read began before is not used.
    generations: Generations,
    cache: VerificationCache,
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    store_timeout: Duration,
    clock: SharedClock,
    metrics: (CacheMetrics, StoreMetrics),
}

impl<S, H> Clone for BasicScheme<S, H> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: PasswordStore> BasicScheme<S> {
    /// Starts configuring a scheme over `store`, hashing with
    /// [`Argon2Hasher::new`].
    pub fn builder(store: S) -> BasicSchemeBuilder<S> {
        BasicSchemeBuilder {
            store,
            hasher: Argon2Hasher::new(),
            realm: "authgate".into(),
            cache_capacity: 10_000,
            cache_ttl: Duration::from_secs(60),
            max_concurrent: std::thread::available_parallelism().map_or(2, |n| n.get()),
            store_timeout: Duration::from_secs(2),
            clock: Arc::new(SystemClock),
        }
    }
}

impl<S: PasswordStore, H: PasswordHasher> BasicScheme<S, H> {
    /// Stops using every cached verification of `user`: call it after every
    /// change to the user's record (a new password, disabled, removed). Once
    /// this returns, no request is granted from what the store said before,
    /// even if a store read that began earlier finishes later.
    ///
    /// ```
    /// use authgate::basic::{Argon2Hasher, BasicScheme, InMemoryPasswordStore};
    ///
    /// let store = InMemoryPasswordStore::new();
    /// let scheme = BasicScheme::builder(store.clone())
    ///     .hasher(Argon2Hasher::insecure_for_tests())
    ///     .build()
    ///     .unwrap();
    /// store.disable("ops");
    /// scheme.invalidate("ops");
    /// ```
    pub fn invalidate(&self, user: &str) {
        self.inner.generations.bump(user);
    }

    /// The number of cached verifications, after pending cache maintenance
    /// has run.
    ///
    /// ```
    /// # use authgate::basic::{Argon2Hasher, BasicScheme, InMemoryPasswordStore};
    /// # let scheme = BasicScheme::builder(InMemoryPasswordStore::new())
    /// #     .hasher(Argon2Hasher::insecure_for_tests()).build().unwrap();
    /// assert_eq!(scheme.cached_verifications(), 0);
    /// ```
    #[must_use]
    pub fn cached_verifications(&self) -> u64 {
        self.inner.cache.entry_count()
    }

    /// How many more password verifications may start now, under the cap.
    ///
    /// ```
    /// # use authgate::basic::{Argon2Hasher, BasicScheme, InMemoryPasswordStore};
    /// let scheme = BasicScheme::builder(InMemoryPasswordStore::new())
    ///     .hasher(Argon2Hasher::insecure_for_tests())
    ///     .max_concurrent_verifications(4)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(scheme.available_verifications(), 4);
    /// ```
    #[must_use]
    pub fn available_verifications(&self) -> usize {
        self.inner.permits.available_permits()
    }
}

/// The parts of decoded Basic credentials; wiped on drop.
struct Decoded(Zeroizing<Vec<u8>>);

impl Decoded {
    /// RFC 7617 §2 and §2.1: base64 of UTF-8 `user-id ":" password`,
    /// neither with control characters.
    fn parse(value: &str) -> Result<Self, &'static str> {
        let bytes = Zeroizing::new(
            BASE64
                .decode(value)
                .map_err(|_| "the Basic credentials are not valid base64")?,
        );
        let text =
            std::str::from_utf8(&bytes).map_err(|_| "the Basic credentials are not UTF-8")?;
        if !text.contains(':') {
            return Err("the Basic credentials have no ':' between user-id and password");
        }
        if text.chars().any(char::is_control) {
            return Err("the Basic credentials contain control characters");
        }
        Ok(Self(bytes))
    }

    fn user(&self) -> &str {
        self.split().0
    }

    fn password(&self) -> &[u8] {
        self.split().1.as_bytes()
    }

    fn split(&self) -> (&str, &str) {
        // Checked in `parse`: UTF-8 with a ':'.
        std::str::from_utf8(&self.0)
            .ok()
            .and_then(|text| text.split_once(':'))
            .unwrap_or_default()
    }
}

impl<S: PasswordStore, H: PasswordHasher> Inner<S, H> {
    /// The slow path: store, then hash on the blocking pool, holding
    /// `permit` until the hash is done.
    async fn check(
        self: Arc<Self>,
        credentials: Decoded,
        cache_key: [u8; 32],
        permit: OwnedSemaphorePermit,
    ) -> Result<Principal, AuthError> {
        let user = credentials.user();
        let stripe = self.generations.slot_key(user);
        let generation = self.generations.current(stripe);
        let record = self.find(user).await?.filter(|r| r.user == user);
        let hash: Arc<str> = record
            .as_ref()
            .map_or_else(|| self.dummy(), |r| r.hash.as_str().into());
        let matched = self
            .verify_blocking(Arc::clone(&hash), credentials, permit)
            .await;
        if record.is_some() && matched.is_ok() {
            // A usable hash of a real user: the next unknown user costs this.
            *self
                .dummy_hash
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = hash;
        }
        let Some(record) = record else {
            // The dummy hash was verified, as for a wrong password.
            return Err(AuthError::new(ErrorKind::UnknownKey));
        };
        let denied = |kind| Err(AuthError::new(kind).with_credential_id(record.user.as_str()));
        match matched {
            Ok(true) => {}
            Ok(false) => return denied(ErrorKind::BadSignature),
            Err(e) => {
                return Err(AuthError::unavailable(e)
                    .with_description("the stored password hash cannot be used")
                    .with_credential_id(record.user.as_str()))
            }
        }
        // Only a caller holding the password learns the state of the user.
        if record.disabled {
            return denied(ErrorKind::Revoked);
        }
        if record.expires_at.is_some_and(|t| t <= self.clock.now()) {
            return denied(ErrorKind::Expired);
        }
        let principal = Principal::new(record.subject.clone(), SCHEME_NAME)
            .with_scopes(record.scopes.clone())
            .with_credential_id(record.user.clone());
        // A read from before an invalidation is never cached under the new
        // generation; one that raced it is filtered out on every hit.
        if self.generations.current(stripe) == generation {
            self.cache.insert(
                cache_key,
                Verified {
                    generation,
                    expires_at: record.expires_at,
                    principal: principal.clone(),
                },
            );
        }
        Ok(principal)
    }

    async fn find(&self, user: &str) -> Result<Option<PasswordRecord>, AuthError> {
        let unavailable = |e: LookupError| AuthError::unavailable(e);
        let find = self.store.find(user);
        let found = if tokio::runtime::Handle::try_current().is_ok() {
            tokio::time::timeout(self.store_timeout, find)
                .await
                .inspect_err(|_| self.metrics.1.failed(Failure::Timeout))
                .map_err(|_| unavailable(LookupError::Timeout(self.store_timeout)))?
        } else {
            find.await
        };
        found
            .inspect_err(|_| self.metrics.1.failed(Failure::Error))
            .map_err(|e| unavailable(LookupError::Store(e)))
    }

    /// Runs the hash on the blocking pool. The permit moves with it, so that
    /// a request abandoned mid-hash still counts against the cap until the
    /// hash really ends.
    /// The hash an unknown user is verified against now.
    fn dummy(&self) -> Arc<str> {
        Arc::clone(
            &self
                .dummy_hash
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    async fn verify_blocking(
        self: &Arc<Self>,
        hash: Arc<str>,
        credentials: Decoded,
        permit: OwnedSemaphorePermit,
    ) -> Result<bool, HashError> {
        let this = Arc::clone(self);
        let run = move || {
            let matched = this.hasher.verify(&hash, credentials.password());
            drop(permit);
            matched
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return run();
        }
        tokio::task::spawn_blocking(run)
            .await
            .unwrap_or_else(|_| Err(HashError::Malformed("the hashing task failed".into())))
    }
}

#[derive(Debug, thiserror::Error)]
enum LookupError {
    #[error(transparent)]
    Store(StoreError),
    #[error("the password store did not answer within {0:?}")]
    Timeout(Duration),
}

/// Every permit of the cap is in use.
#[derive(Debug, thiserror::Error)]
#[error("{0} password verifications are already running")]
struct Saturated(usize);

impl<S: PasswordStore, H: PasswordHasher> Scheme for BasicScheme<S, H> {
    fn name(&self) -> &'static str {
        SCHEME_NAME
    }

    fn locations(&self) -> Vec<CredentialLocation> {
        vec![CredentialLocation::authorization("Basic")]
    }

    fn challenge(&self) -> Challenge {
        self.inner.challenge.clone()
    }

    fn verify(&self, credential: &Credential, _: &VerifyContext<'_>) -> Verification {
        let credentials = match Decoded::parse(credential.value()) {
            Ok(credentials) => credentials,
            Err(why) => {
                return Verification::ready(Err(
                    AuthError::new(ErrorKind::Malformed).with_description(why)
                ))
            }
        };
        let inner = &self.inner;
        let cache_key = inner
            .cache
            .key_for(credentials.user(), credentials.password());
        if let Some(hit) = inner.cache.get(&cache_key) {
            let current = inner
                .generations
                .current(inner.generations.slot_key(credentials.user()));
            let now = inner.clock.now();
            if hit.generation == current && hit.expires_at.is_none_or(|t| t > now) {
                inner.metrics.0.lookup(true);
                return Verification::ready(Ok(hit.principal.clone()));
            }
        }
        inner.metrics.0.lookup(false);
        let Ok(permit) = Arc::clone(&inner.permits).try_acquire_owned() else {
            return Verification::ready(Err(AuthError::unavailable(Saturated(
                inner.max_concurrent,
            ))
            .with_description("too many password verifications are in progress")));
        };
        let inner = Arc::clone(&self.inner);
        Verification::pending(inner.check(credentials, cache_key, permit))
    }
}

impl<S, H> fmt::Debug for BasicScheme<S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicScheme")
            .field("challenge", &self.inner.challenge)
            .field("store_timeout", &self.inner.store_timeout)
            .finish_non_exhaustive()
    }
}

/// Configures a [`BasicScheme`].
#[must_use]
pub struct BasicSchemeBuilder<S, H = Argon2Hasher> {
    store: S,
    hasher: H,
    realm: String,
    cache_capacity: u64,
    cache_ttl: Duration,
    max_concurrent: usize,
    store_timeout: Duration,
    clock: SharedClock,
}

impl<S: PasswordStore, H: PasswordHasher> BasicSchemeBuilder<S, H> {
    /// The protection space named in the challenge, `Basic realm="…"`;
    /// browsers show it in their login prompt. Defaults to `authgate`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// The hasher that checks passwords and makes the dummy hash unknown
    /// users are checked against. Defaults to [`Argon2Hasher::new`]: keep
    /// its parameters those your stored Argon2id hashes use, so that an
    /// unknown user costs what a known one does.
    pub fn hasher<H2: PasswordHasher>(self, hasher: H2) -> BasicSchemeBuilder<S, H2> {
        BasicSchemeBuilder {
            store: self.store,
            hasher,
            realm: self.realm,
            cache_capacity: self.cache_capacity,
            cache_ttl: self.cache_ttl,
            max_concurrent: self.max_concurrent,
            store_timeout: self.store_timeout,
            clock: self.clock,
        }
    }

    /// Maximum number of cached successful verifications. Defaults to
    /// 10 000.
    pub fn cache_capacity(mut self, capacity: u64) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// How long a successful verification is reused: the longest a change
    /// in the store (a new password, a disabled user) can take to be seen
    /// without [`BasicScheme::invalidate`]. Failed attempts are never
    /// cached. Defaults to 60 seconds.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How many password verifications (store read and hash) may run at
    /// once; a request that would start one more is answered 503 with
    /// `Retry-After` at once. Each Argon2id verification holds its memory
    /// cost (19 MiB by default) while it runs. Defaults to the number of
    /// CPUs.
    pub fn max_concurrent_verifications(mut self, max: usize) -> Self {
        self.max_concurrent = max;
        self
    }

    /// How long a store look-up may take before the request gets a 503.
    /// Defaults to 2 seconds.
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// The clock record expiry is checked against. Defaults to the system
    /// clock.
    pub fn clock(mut self, clock: impl crate::clock::Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the settings, makes the dummy hash, and builds the scheme.
    /// Making the dummy hash costs one hash, unless the store has a
    /// [representative hash](PasswordStore::representative_hash).
    ///
    /// # Errors
    ///
    /// With a realm that cannot be sent in a header, a zero cap, capacity,
    /// TTL or timeout, or when the hasher cannot hash.
    pub fn build(self) -> Result<BasicScheme<S, H>, ConfigError> {
        let zero = |setting| ConfigError::InvalidSetting {
            setting,
            why: "must be greater than zero",
        };
        if self.max_concurrent == 0 {
            return Err(zero("max_concurrent_verifications"));
        }
        if self.cache_capacity == 0 {
            return Err(zero("cache_capacity"));
        }
        if self.cache_ttl.is_zero() {
            return Err(zero("cache_ttl"));
        }
        if self.store_timeout.is_zero() {
            return Err(zero("store_timeout"));
        }
        let challenge = Challenge::new("Basic")
            .param("realm", self.realm)?
            .param("charset", "UTF-8")?;
        let mut random = Zeroizing::new([0u8; 32]);
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut *random).map_err(
            |_| ConfigError::InvalidSetting {
                setting: "hasher",
                why: "the system random generator failed",
            },
        )?;
        let dummy_hash = match self.store.representative_hash() {
            Some(hash) => hash,
            None => self
                .hasher
                .hash(&*random)
                .map_err(|_| ConfigError::InvalidSetting {
                    setting: "hasher",
                    why: "the hasher could not make the dummy hash",
                })?,
        };
        let metrics = (CacheMetrics::new("basic"), StoreMetrics::new("basic"));
        let cache = VerificationCache::new(self.cache_capacity, self.cache_ttl, &metrics.0)?;
        Ok(BasicScheme {
            inner: Arc::new(Inner {
                store: self.store,
                hasher: self.hasher,
                dummy_hash: Mutex::new(dummy_hash.into()),
                challenge,
                generations: Generations::new(),
                cache,
                permits: Arc::new(Semaphore::new(self.max_concurrent)),
                max_concurrent: self.max_concurrent,
                store_timeout: self.store_timeout,
                clock: self.clock,
                metrics,
            }),
        })
    }
}

impl<S, H> fmt::Debug for BasicSchemeBuilder<S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicSchemeBuilder")
            .field("realm", &self.realm)
            .field("max_concurrent", &self.max_concurrent)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_follows_rfc_7617() {
        use base64::engine::general_purpose::STANDARD;
        let ok = |s: &str| Decoded::parse(&STANDARD.encode(s));
        let d = ok("Aladdin:open sesame").unwrap();
        assert_eq!(d.user(), "Aladdin");
        assert_eq!(d.password(), b"open sesame");
        // The first colon ends the user-id; the password may hold more.
        let d = ok("a:b:c").unwrap();
        assert_eq!((d.user(), d.password()), ("a", &b"b:c"[..]));
        // RFC 7617 §2.1's example: UTF-8 "test:123£".
        let d = Decoded::parse("dGVzdDoxMjPCow==").unwrap();
        assert_eq!(d.password(), "123£".as_bytes());
        assert!(Decoded::parse("dGVzdDoxMjPCow").is_ok(), "unpadded");
        assert!(ok("no-colon").is_err());
        assert!(ok("a:b\u{0}").is_err());
        assert!(ok("a\tb:c").is_err());
        assert!(Decoded::parse(&STANDARD.encode([b'a', b':', 0xa3])).is_err());
        assert!(Decoded::parse("!!!").is_err());
    }
}
