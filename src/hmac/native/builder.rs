//! [`HmacSchemeBuilder`]: the native scheme's settings.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::{hot_records, HmacScheme, Inner};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::error::ConfigError;
use crate::hmac::params;
use crate::hmac::store::{CachedStore, SecretStore};
use crate::replay::{ReplayCache, ReplayStore, SharedReplayStore};

/// Configures an [`HmacScheme`].
#[must_use]
pub struct HmacSchemeBuilder<S> {
    store: S,
    window: Duration,
    replay_capacity: u64,
    replay: Option<SharedReplayStore>,
    required_headers: Vec<String>,
    cache_capacity: u64,
    cache_ttl: Duration,
    negative_ttl: Duration,
    store_timeout: Duration,
    clock: SharedClock,
}

impl<S: SecretStore> HmacSchemeBuilder<S> {
    /// The defaults, for [`HmacScheme::builder`].
    pub(super) fn new(store: S) -> Self {
        Self {
            store,
            window: Duration::from_secs(300),
            replay_capacity: 100_000,
            replay: None,
            required_headers: Vec::new(),
            cache_capacity: 10_000,
            cache_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(60),
            store_timeout: Duration::from_secs(2),
            clock: Arc::new(SystemClock),
        }
    }

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

    /// Shares a replay cache with other schemes. Its TTL should be at least
    /// `2 × window + 1 s` (what the scheme's own cache uses): a shorter one
    /// forgets nonces sooner and then refuses, as expired, requests near
    /// the old edge of the window. Defaults to a cache of this scheme's own.
    pub fn replay_cache(self, cache: ReplayCache) -> Self {
        self.replay_store(cache)
    }

    /// Records nonces in `store` instead of an in-process cache: a
    /// `RedisReplayStore` (feature `redis`) shared by every instance of
    /// the service refuses a request replayed to any of them. Each nonce is
    /// kept `2 × window + 1 s`. Defaults to a [`ReplayCache`] of this
    /// scheme's own.
    ///
    /// ```
    /// use authgate::hmac::{HmacScheme, InMemorySecretStore, ReplayCache};
    /// use std::time::Duration;
    ///
    /// let shared = ReplayCache::new(100_000, Duration::from_secs(601));
    /// let scheme = HmacScheme::builder(InMemorySecretStore::new())
    ///     .replay_store(shared)
    ///     .build()
    ///     .unwrap();
    /// # let _ = scheme;
    /// ```
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.replay = Some(Arc::new(store));
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

    /// How long an unknown key id is remembered. Defaults to 60 seconds,
    /// like [`cache_ttl`](Self::cache_ttl): with a shorter one, the time a
    /// second probe takes tells an existing key id from an unknown one.
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
    /// With a window under one second, a zero store timeout, or a required
    /// header that is not a lowercase header name.
    pub fn build(self) -> Result<HmacScheme<S>, ConfigError> {
        // Timestamps are whole seconds: a shorter window would be zero.
        if self.window < Duration::from_secs(1) {
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
        let required_headers = params::parse_header_list(&self.required_headers.join(";"))
            .map_err(|_| ConfigError::InvalidName {
                name: self.required_headers.join(";"),
                why: "required signed headers must be distinct lowercase header names",
            })?;
        Ok(self.finish(required_headers))
    }

    /// `build` for the defaults, which cannot fail.
    pub(super) fn build_defaults(self) -> HmacScheme<S> {
        self.finish(Vec::new())
    }

    fn finish(self, required_headers: Vec<HeaderName>) -> HmacScheme<S> {
        let replay_ttl = self.window.saturating_mul(2) + Duration::from_secs(1);
        let replay = self
            .replay
            .unwrap_or_else(|| Arc::new(ReplayCache::new(self.replay_capacity, replay_ttl)));
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
                hot: hot_records::Hot::new(),
                replay,
                replay_ttl,
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
