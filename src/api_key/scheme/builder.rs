//! [`ApiKeySchemeBuilder`]: how an [`ApiKeyScheme`] is configured.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use super::{ApiKeyScheme, Inner};
use crate::api_key::cached_ids::CachedIds;
use crate::api_key::flight::Flights;
use crate::api_key::format;
use crate::api_key::store::KeyStore;
use crate::api_key::unknown::UnknownIds;
use crate::api_key::usage::UsageTracker;
use crate::clock::{SharedClock, SystemClock};
use crate::credentials::CredentialLocation;
use crate::error::ConfigError;
use crate::hot;
use crate::invalidation::{Generations, IdHasher};
use crate::telemetry::{CacheMetrics, StoreMetrics};

/// Configures an [`ApiKeyScheme`].
#[must_use]
pub struct ApiKeySchemeBuilder<S> {
    store: S,
    prefixes: Vec<String>,
    authorization_scheme: Option<Cow<'static, str>>,
    header: Option<Cow<'static, str>>,
    query: Option<Cow<'static, str>>,
    cache_capacity: u64,
    cache_ttl: Duration,
    store_timeout: Duration,
    clock: SharedClock,
    usage: Option<UsageTracker>,
}

impl<S: KeyStore + Clone> ApiKeySchemeBuilder<S> {
    /// Tells the store when each key is used
    /// ([`KeyStore::record_use`]), for a last-used time: at most once per
    /// key per minute, from a background task, never delaying a request.
    /// Needs a store that clones cheaply (an `Arc`, a pool handle) and a
    /// Tokio runtime. Defaults to off.
    ///
    /// ```
    /// use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
    ///
    /// let scheme = ApiKeyScheme::builder(InMemoryKeyStore::new())
    ///     .prefix("sk_live")
    ///     .track_usage()
    ///     .build()
    ///     .unwrap();
    /// # let _ = scheme;
    /// ```
    pub fn track_usage(mut self) -> Self {
        let store = self.store.clone();
        self.usage = Some(UsageTracker::new(move |id, at| {
            let store = store.clone();
            Box::pin(async move {
                if let Err(error) = store.record_use(&id, at).await {
                    tracing::warn!(target: "authgate", key_id = %id, error = %error, "could not record a key's use");
                }
            })
        }));
        self
    }
}

impl<S: KeyStore> ApiKeySchemeBuilder<S> {
    /// The defaults, over `store`: see [`ApiKeyScheme::builder`].
    pub(super) fn new(store: S) -> Self {
        Self {
            store,
            prefixes: Vec::new(),
            authorization_scheme: Some(Cow::Borrowed("ApiKey")),
            header: Some(Cow::Borrowed("x-api-key")),
            query: None,
            cache_capacity: 10_000,
            cache_ttl: Duration::from_secs(60),
            store_timeout: Duration::from_secs(2),
            clock: Arc::new(SystemClock),
            usage: None,
        }
    }

    /// Accepts keys with this environment prefix (`sk_live`). Call again to
    /// accept several. At least one is required.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefixes.push(prefix.into());
        self
    }

    /// The `Authorization` scheme name keys are sent with. Defaults to
    /// `ApiKey`. Use `Bearer` for Stripe-style keys (and no JWT scheme on
    /// the same layer).
    pub fn authorization_scheme(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.authorization_scheme = Some(name.into());
        self
    }

    /// The header keys may be sent in. Defaults to `x-api-key`.
    pub fn header(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.header = Some(name.into());
        self
    }

    /// Accepts keys only in `Authorization`, not in a header of their own.
    pub fn without_header(mut self) -> Self {
        self.header = None;
        self
    }

    /// Also accepts keys in this query parameter. Keys in URLs end up in
    /// access logs, proxies and browser history: enable only for clients
    /// that cannot send headers. Never logged by authgate. Defaults to off.
    pub fn query_param(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.query = Some(name.into());
        self
    }

    /// Maximum number of cached look-ups. Defaults to 10 000.
    ///
    /// Unknown ids are kept apart, in a table of at most this many entries
    /// too (and at most 65 536), under 50 bytes each, allocated when the
    /// scheme is built.
    ///
    /// Hits are served first from a small table per thread (32 entries,
    /// each used for at most a second after it was read from this cache,
    /// and never after [`invalidate`](ApiKeyScheme::invalidate)), so that
    /// cores serving the same keys do not contend on the shared cache.
    pub fn cache_capacity(mut self, capacity: u64) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// How long a look-up is cached: the longest a revocation in the store
    /// can take to be seen without [`ApiKeyScheme::invalidate`]. Found
    /// records and unknown ids are cached alike, so that the time a second
    /// probe takes does not tell whether an id exists (distinct well-formed
    /// ids still cost one look-up each). A key issued in the store after its
    /// id was probed is seen after this long, or at once after
    /// [`invalidate`](ApiKeyScheme::invalidate). Defaults to 60 seconds.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How long a store look-up may take before the request gets a 503.
    /// A request whose look-up raced an [`invalidate`](ApiKeyScheme::invalidate)
    /// reads again (at most three reads in all). A request waiting for
    /// another's look-up of the same id waits this long at most, then
    /// reads the store itself. Defaults to 2 seconds. Needs a Tokio
    /// runtime with timers enabled.
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// The clock expiry and grace deadlines are checked against. Defaults to
    /// the system clock.
    pub fn clock(mut self, clock: impl crate::clock::Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the settings and builds the scheme.
    ///
    /// # Errors
    ///
    /// With no prefix or an invalid one, an invalid header or scheme name, or
    /// a zero timeout.
    pub fn build(self) -> Result<ApiKeyScheme<S>, ConfigError> {
        if self.prefixes.is_empty() {
            return Err(ConfigError::InvalidSetting {
                setting: "prefix",
                why: "an API-key scheme needs at least one environment prefix",
            });
        }
        for prefix in &self.prefixes {
            format::check_prefix(prefix)?;
        }
        if self.store_timeout.is_zero() {
            return Err(ConfigError::InvalidSetting {
                setting: "store_timeout",
                why: "must be greater than zero",
            });
        }
        let mut locations = Vec::new();
        let authorization_scheme = match self.authorization_scheme {
            Some(name) => {
                locations.push(CredentialLocation::authorization(name.clone()));
                name
            }
            None => Cow::Borrowed("ApiKey"),
        };
        if let Some(header) = &self.header {
            locations.push(CredentialLocation::header(header)?);
        }
        if let Some(query) = self.query {
            locations.push(CredentialLocation::Query(query));
        }
        let metrics = (CacheMetrics::new("api_key"), StoreMetrics::new("api_key"));
        let cache = Cache::builder()
            .max_capacity(self.cache_capacity)
            .time_to_live(self.cache_ttl);
        let cache = metrics
            .0
            .watch_future(cache)
            .build_with_hasher(IdHasher::default());
        let unknown = UnknownIds::new(self.cache_capacity, self.cache_ttl);
        let cached_ids = CachedIds::new(self.cache_capacity, self.cache_ttl);
        let flights = Flights::new();
        Ok(ApiKeyScheme {
            inner: Arc::new(Inner {
                id: hot::next_owner(),
                generations: Generations::new(),
                store: self.store,
                prefixes: self.prefixes,
                authorization_scheme,
                locations,
                cache,
                cached_ids,
                unknown,
                flights,
                store_timeout: self.store_timeout,
                clock: self.clock,
                metrics,
                usage: self.usage,
            }),
        })
    }
}

impl<S> fmt::Debug for ApiKeySchemeBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeySchemeBuilder")
            .field("prefixes", &self.prefixes)
            .finish_non_exhaustive()
    }
}
