//! [`HttpSignatureSchemeBuilder`]: the RFC 9421 verifier's settings.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::super::store::{CachedStore, SecretStore};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::error::ConfigError;
use crate::replay::{ReplayCache, ReplayStore, SharedReplayStore};

use super::{HttpSignatureScheme, Inner, DEFAULT_REQUIRED_COMPONENTS};

/// Configures an [`HttpSignatureScheme`].
#[must_use]
pub struct HttpSignatureSchemeBuilder<S> {
    store: S,
    window: Duration,
    label: Option<String>,
    tag: Option<String>,
    require_created: bool,
    require_nonce: bool,
    strict: bool,
    required_components: Vec<String>,
    assumed_scheme: String,
    replay: Option<SharedReplayStore>,
    replay_capacity: u64,
    cache_capacity: u64,
    cache_ttl: Duration,
    negative_ttl: Duration,
    store_timeout: Duration,
    clock: SharedClock,
}

impl<S: SecretStore> HttpSignatureSchemeBuilder<S> {
    /// The defaults, for [`HttpSignatureScheme::builder`].
    pub(super) fn new(store: S) -> Self {
        Self {
            store,
            window: Duration::from_secs(300),
            label: None,
            tag: None,
            require_created: true,
            require_nonce: false,
            strict: false,
            required_components: DEFAULT_REQUIRED_COMPONENTS
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
            assumed_scheme: "https".to_owned(),
            replay: None,
            replay_capacity: 100_000,
            cache_capacity: 10_000,
            cache_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(60),
            store_timeout: Duration::from_secs(2),
            clock: Arc::new(SystemClock),
        }
    }

    /// How far `created` may be from now, either way. Defaults to 300
    /// seconds.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Checks only the signature with this label. Defaults to the first
    /// signature in `Signature-Input`.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Requires the `tag` parameter to be this value (an application
    /// profile). Defaults to not checked.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Whether `created` must be present. Defaults to `true`: without it a
    /// signature never ages.
    pub fn require_created(mut self, required: bool) -> Self {
        self.require_created = required;
        self
    }

    /// Whether `nonce` must be present. Defaults to `false`; a nonce that is
    /// present is always checked against the replay cache.
    pub fn require_nonce(mut self, required: bool) -> Self {
        self.require_nonce = required;
        self
    }

    /// Binds every signature to the whole request, on top of the required
    /// components: a request with a query must have `@query` covered, a
    /// request with a body must have `content-digest` covered (the body is
    /// then read and checked), and `nonce` is required, so a captured
    /// signature cannot be replayed at all, nor with another query or body
    /// within the `created` window. Defaults to `false`: the default
    /// components (`@method`, `@authority`, `@path`) leave the query and the
    /// body to the signer, as RFC 9421 does.
    ///
    /// The cost: clients must sign those components and send a fresh nonce
    /// each time, every nonce is kept in the replay cache for twice the
    /// window, and bodies of strictly verified requests are buffered up to
    /// the layer's limit.
    ///
    /// ```
    /// use authgate::hmac::{HttpSignatureScheme, InMemorySecretStore};
    ///
    /// let scheme = HttpSignatureScheme::builder(InMemorySecretStore::new())
    ///     .strict(true)
    ///     .build()
    ///     .unwrap();
    /// # let _ = scheme;
    /// ```
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The components every signature must cover, replacing the default
    /// [`DEFAULT_REQUIRED_COMPONENTS`] (`@method`, `@authority`, `@path`),
    /// which binds a signature to one request target so that a captured
    /// signature cannot be replayed against another. Add `content-digest`
    /// to bind the body too. Pass an empty list only to verify signatures
    /// made by others over fewer components (the RFC 9421 Appendix B
    /// examples, say): a signature must still cover at least one.
    pub fn require_components<I, C>(mut self, components: I) -> Self
    where
        I: IntoIterator<Item = C>,
        C: Into<String>,
    {
        self.required_components = components.into_iter().map(Into::into).collect();
        self
    }

    /// The scheme used for `@scheme` and `@target-uri` when the request URI
    /// has none (the usual case behind a server: requests arrive in origin
    /// form). Defaults to `https`.
    pub fn assume_scheme(mut self, scheme: impl Into<String>) -> Self {
        self.assumed_scheme = scheme.into();
        self
    }

    /// Shares a replay cache with other schemes. Its TTL must be at least
    /// twice the window. Defaults to a cache of this scheme's own.
    pub fn replay_cache(self, cache: ReplayCache) -> Self {
        self.replay_store(cache)
    }

    /// Records nonces in `store` instead of an in-process cache: a
    /// `RedisReplayStore` (feature `redis`) shared by every instance of
    /// the service refuses a signature replayed to any of them. Each nonce
    /// is kept `2 × window + 1 s`. Defaults to a [`ReplayCache`] of this
    /// scheme's own.
    ///
    /// ```
    /// use authgate::hmac::{HttpSignatureScheme, InMemorySecretStore, ReplayCache};
    /// use std::time::Duration;
    ///
    /// let scheme = HttpSignatureScheme::builder(InMemorySecretStore::new())
    ///     .replay_store(ReplayCache::new(100_000, Duration::from_secs(601)))
    ///     .build()
    ///     .unwrap();
    /// # let _ = scheme;
    /// ```
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.replay = Some(std::sync::Arc::new(store));
        self
    }

    /// How many nonces the replay cache holds. Defaults to 100 000.
    pub fn replay_capacity(mut self, capacity: u64) -> Self {
        self.replay_capacity = capacity;
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

    /// How long a store look-up may take before a 503. Defaults to 2
    /// seconds.
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// The clock `created`, `expires` and rotation deadlines are checked
    /// against. Defaults to the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the settings and builds the scheme.
    ///
    /// # Errors
    ///
    /// With a zero window or store timeout, or a required component that is
    /// not lowercase.
    pub fn build(self) -> Result<HttpSignatureScheme<S>, ConfigError> {
        if self.window.is_zero() || self.store_timeout.is_zero() {
            return Err(ConfigError::InvalidSetting {
                setting: "window / store_timeout",
                why: "must be greater than zero",
            });
        }
        if let Some(bad) = self
            .required_components
            .iter()
            .find(|c| c.is_empty() || c.bytes().any(|b| b.is_ascii_uppercase()))
        {
            return Err(ConfigError::InvalidName {
                name: bad.clone(),
                why: "component names are lowercase",
            });
        }
        let replay_ttl = self.window.saturating_mul(2) + Duration::from_secs(1);
        let replay = self.replay.unwrap_or_else(|| {
            std::sync::Arc::new(ReplayCache::new(self.replay_capacity, replay_ttl))
        });
        Ok(HttpSignatureScheme {
            inner: Arc::new(Inner {
                secrets: CachedStore::new(
                    self.store,
                    self.cache_capacity,
                    self.cache_ttl,
                    self.negative_ttl,
                    self.store_timeout,
                ),
                replay,
                replay_ttl,
                window: self.window,
                label: self.label,
                tag: self.tag,
                require_created: self.require_created,
                require_nonce: self.require_nonce,
                strict: self.strict,
                required_components: self.required_components,
                assumed_scheme: self.assumed_scheme,
                clock: self.clock,
            }),
        })
    }
}

impl<S> fmt::Debug for HttpSignatureSchemeBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSignatureSchemeBuilder")
            .field("window", &self.window)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}
