//! [`HmacScheme`]: the verifier of the native `HMAC-SHA256` scheme.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::HeaderName;

use super::canonical::{self, canonical_string, Params, SCHEME};
use super::encoding::{body_of, check_window};
use super::replay::ReplayCache;
use super::secrets::{match_keys, KeyMatch};
use super::store::{CachedStore, SecretRecord, SecretStore};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::credentials::{AuthorizationSyntax, Credential, CredentialLocation};
use crate::error::{AuthError, ConfigError, ErrorKind};
use crate::principal::Principal;
use crate::scheme::{Challenge, Scheme, Verification, VerifyContext};

/// The name native HMAC principals carry in [`Principal::scheme`].
pub const SCHEME_NAME: &str = "hmac";

/// The native signed-request scheme: `Authorization: HMAC-SHA256 keyId=…,
/// ts=…, nonce=…, headers=…, signature=…`, specified in the
/// [module docs](super#the-native-hmac-sha256-scheme).
///
/// Verification order: parameters, timestamp window, signed headers present,
/// the key id's record through a bounded cache, the signature against every
/// secret of the record in constant time (rotation), then the nonce in the
/// [`ReplayCache`]: a second request with the same key id and nonce is
/// answered 401 `replayed`.
///
/// # Example
///
/// ```
/// use authgate::hmac::{HmacKey, HmacScheme, InMemorySecretStore, SecretRecord, Signer};
/// use authgate::AuthLayer;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use bytes::Bytes;
/// use http_body_util::Full;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = InMemorySecretStore::new();
/// store.insert(SecretRecord::new("partner-1", HmacKey::new("s3cr3t"), "acct_42"));
/// let layer = AuthLayer::builder()
///     .scheme(HmacScheme::new(store))
///     .with_request_bodies()
///     .build()?;
/// let service = ServiceBuilder::new().layer(layer).service(service_fn(|_req: http::Request<Full<Bytes>>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// }));
///
/// // The client side.
/// let signer = Signer::new("partner-1", HmacKey::new("s3cr3t"))?.sign_header("host")?;
/// let mut request = http::Request::post("https://api.example.com/orders?b=2&a=1")
///     .header("host", "api.example.com")
///     .body(Bytes::from_static(br#"{"sku":"A-1"}"#))?;
/// signer.sign(&mut request)?;
///
/// let response = service.oneshot(request.map(Full::new)).await?;
/// assert_eq!(response.status(), 200);
/// # Ok(())
/// # }
/// ```
pub struct HmacScheme<S> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    secrets: CachedStore<S>,
    replay: ReplayCache,
    window: Duration,
    required_headers: Vec<HeaderName>,
    clock: SharedClock,
}

impl<S> Clone for HmacScheme<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: SecretStore> HmacScheme<S> {
    /// A scheme over `store` with default settings.
    #[must_use]
    pub fn new(store: S) -> Self {
        Self::builder(store).build_defaults()
    }

    /// Starts configuring a scheme over `store`.
    ///
    /// ```
    /// use authgate::hmac::{HmacScheme, InMemorySecretStore};
    /// use std::time::Duration;
    ///
    /// let scheme = HmacScheme::builder(InMemorySecretStore::new())
    ///     .window(Duration::from_secs(120))
    ///     .require_signed_header("host")
    ///     .build()
    ///     .unwrap();
    /// # let _ = scheme;
    /// ```
    pub fn builder(store: S) -> HmacSchemeBuilder<S> {
        HmacSchemeBuilder {
            store,
            window: Duration::from_secs(300),
            replay_capacity: 100_000,
            replay: None,
            required_headers: Vec::new(),
            cache_capacity: 10_000,
            cache_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
            store_timeout: Duration::from_secs(2),
            clock: Arc::new(SystemClock),
        }
    }

    /// Drops the cached record for `key_id`, so that a rotation or
    /// revocation in the store takes effect at once.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let scheme = authgate::hmac::HmacScheme::new(authgate::hmac::InMemorySecretStore::new());
    /// scheme.invalidate("partner-1").await;
    /// # }
    /// ```
    pub async fn invalidate(&self, key_id: &str) {
        self.inner.secrets.invalidate(key_id).await;
    }

    /// The number of cached look-ups (records and unknown key ids), after
    /// pending cache maintenance: never more than
    /// [`cache_capacity`](HmacSchemeBuilder::cache_capacity).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scheme = authgate::hmac::HmacScheme::new(authgate::hmac::InMemorySecretStore::new());
    /// assert_eq!(scheme.cached_entries().await, 0);
    /// # }
    /// ```
    pub async fn cached_entries(&self) -> u64 {
        self.inner.secrets.entry_count().await
    }
}

impl<S: SecretStore> Inner<S> {
    async fn check(&self, params: Params, canonical: String) -> Result<Principal, AuthError> {
        let record = self.secrets.find(&params.key_id).await?;
        self.judge(&record, &params, &canonical)
    }

    /// The signature, then the key's state, then the nonce.
    fn judge(
        &self,
        record: &SecretRecord,
        params: &Params,
        canonical: &str,
    ) -> Result<Principal, AuthError> {
        let denied = |kind| Err(AuthError::new(kind).with_credential_id(params.key_id.as_str()));
        let matched = match_keys(record.keys(), self.clock.now(), |key| {
            ring::hmac::verify(key.ring_key(), canonical.as_bytes(), &params.signature).is_ok()
        });
        match matched {
            KeyMatch::Current => {}
            KeyMatch::Retired => return denied(ErrorKind::Rotated),
            KeyMatch::None => return denied(ErrorKind::BadSignature),
        }
        // Only a caller holding the secret learns the state of the key.
        if record.revoked {
            return denied(ErrorKind::Revoked);
        }
        if let Err(kind) = self.replay.admit(&params.key_id, &params.nonce) {
            return denied(kind);
        }
        Ok(Principal::new(record.subject.clone(), SCHEME_NAME)
            .with_scopes(record.scopes.clone())
            .with_credential_id(record.key_id.clone()))
    }
}

impl<S: SecretStore> Scheme for HmacScheme<S> {
    fn name(&self) -> &'static str {
        SCHEME_NAME
    }

    fn locations(&self) -> Vec<CredentialLocation> {
        vec![CredentialLocation::Authorization {
            scheme: SCHEME.into(),
            syntax: AuthorizationSyntax::AuthParams,
        }]
    }

    fn challenge(&self) -> Challenge {
        Challenge::new(SCHEME)
    }

    fn reads_body(&self) -> bool {
        true
    }

    /// Cheap checks first: a malformed header or a timestamp outside the
    /// window is answered without reading the body.
    fn needs_body(&self, credential: &Credential, _: &Parts) -> bool {
        canonical::parse_params(credential.value()).is_ok_and(|params| {
            check_window(
                params.ts,
                self.inner.clock.unix_now(),
                self.inner.window.as_secs(),
            )
            .is_ok()
        })
    }

    fn verify(&self, credential: &Credential, ctx: &VerifyContext<'_>) -> Verification {
        let invalid = |why: &'static str| {
            Verification::ready(Err(
                AuthError::new(ErrorKind::InvalidFormat).with_description(why)
            ))
        };
        let params = match canonical::parse_params(credential.value()) {
            Ok(params) => params,
            Err(e) => return invalid(e.description()),
        };
        let with_id = |e: AuthError| e.with_credential_id(params.key_id.as_str());
        if let Err(e) = check_window(
            params.ts,
            self.inner.clock.unix_now(),
            self.inner.window.as_secs(),
        ) {
            return Verification::ready(Err(with_id(e)));
        }
        if !self
            .inner
            .required_headers
            .iter()
            .all(|h| params.headers.contains(h))
        {
            return invalid("a header this server requires is not signed");
        }
        let body = match body_of(ctx) {
            Ok(body) => body,
            Err(e) => return Verification::ready(Err(e)),
        };
        let parts = ctx.parts();
        let canonical = match canonical_string(
            &parts.method,
            &parts.uri,
            &parts.headers,
            &params.headers,
            &params.ts_text,
            &params.nonce,
            body,
        ) {
            Ok(text) => text,
            Err(e) => return invalid(e.description()),
        };
        // A cached record needs no I/O: decide on the spot, without boxing.
        if let Some(found) = self.inner.secrets.cached(&params.key_id) {
            return Verification::ready(
                found.and_then(|record| self.inner.judge(&record, &params, &canonical)),
            );
        }
        let inner = Arc::clone(&self.inner);
        Verification::pending(async move { inner.check(params, canonical).await })
    }
}

impl<S> fmt::Debug for HmacScheme<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacScheme")
            .field("window", &self.inner.window)
            .field("required_headers", &self.inner.required_headers)
            .field("replay", &self.inner.replay)
            .finish_non_exhaustive()
    }
}

/// Configures an [`HmacScheme`].
#[must_use]
pub struct HmacSchemeBuilder<S> {
    store: S,
    window: Duration,
    replay_capacity: u64,
    replay: Option<ReplayCache>,
    required_headers: Vec<String>,
    cache_capacity: u64,
    cache_ttl: Duration,
    negative_ttl: Duration,
    store_timeout: Duration,
    clock: SharedClock,
}

impl<S: SecretStore> HmacSchemeBuilder<S> {
    /// How far `ts` may be from now, either way (both edges accepted).
    /// Defaults to 300 seconds.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// How many nonces the replay cache holds. Defaults to 100 000.
    pub fn replay_capacity(mut self, capacity: u64) -> Self {
        self.replay_capacity = capacity;
        self
    }

    /// Shares a replay cache with other schemes. Its TTL must be at least
    /// twice the window. Defaults to a cache of this scheme's own.
    pub fn replay_cache(mut self, cache: ReplayCache) -> Self {
        self.replay = Some(cache);
        self
    }

    /// Refuses signatures that do not cover `name` (for example `host`, so
    /// a request cannot be replayed against another host, or
    /// `content-type`). Defaults to none.
    pub fn require_signed_header(mut self, name: impl Into<String>) -> Self {
        self.required_headers.push(name.into());
        self
    }

    /// Maximum number of cached secret look-ups. Defaults to 10 000.
    pub fn cache_capacity(mut self, capacity: u64) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// How long a found record is cached. Defaults to 60 seconds.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How long an unknown key id is remembered. Defaults to 5 seconds.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// How long a store look-up may take before a 503. Defaults to 2
    /// seconds.
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// The clock timestamps and rotation deadlines are checked against.
    /// Defaults to the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the settings and builds the scheme.
    ///
    /// # Errors
    ///
    /// With a zero window or store timeout, or a required header that is
    /// not a lowercase header name.
    pub fn build(self) -> Result<HmacScheme<S>, ConfigError> {
        if self.window.is_zero() {
            return Err(ConfigError::InvalidSetting {
                setting: "window",
                why: "must be at least one second",
            });
        }
        if self.store_timeout.is_zero() {
            return Err(ConfigError::InvalidSetting {
                setting: "store_timeout",
                why: "must be greater than zero",
            });
        }
        let required_headers = canonical::parse_header_list(&self.required_headers.join(";"))
            .map_err(|_| ConfigError::InvalidName {
                name: self.required_headers.join(";"),
                why: "required signed headers must be distinct lowercase header names",
            })?;
        Ok(self.finish(required_headers))
    }

    /// `build` for the defaults, which cannot fail.
    fn build_defaults(self) -> HmacScheme<S> {
        self.finish(Vec::new())
    }

    fn finish(self, required_headers: Vec<HeaderName>) -> HmacScheme<S> {
        let replay = self.replay.unwrap_or_else(|| {
            ReplayCache::new(
                self.replay_capacity,
                self.window.saturating_mul(2) + Duration::from_secs(1),
            )
        });
        let secrets = CachedStore::new(
            self.store,
            self.cache_capacity,
            self.cache_ttl,
            self.negative_ttl,
            self.store_timeout,
        );
        HmacScheme {
            inner: Arc::new(Inner {
                secrets,
                replay,
                window: self.window,
                required_headers,
                clock: self.clock,
            }),
        }
    }
}

impl<S> fmt::Debug for HmacSchemeBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacSchemeBuilder")
            .field("window", &self.window)
            .field("required_headers", &self.required_headers)
            .finish_non_exhaustive()
    }
}
