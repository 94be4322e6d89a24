//! The JWKS cache: an issuer's published keys, fetched through a
//! [`JwksFetcher`], parsed once, and kept available through rotations and
//! key-server outages.
//!
//! - **Freshness** follows the response's `Cache-Control: max-age`, clamped
//!   to [`JwksSettings::ttl_bounds`].
//! - **Stale-while-revalidate**: from 90 % of the freshness lifetime on, a
//!   request that uses the keys starts one background refresh and does not
//!   wait for it.
//! - **Unknown `kid`**: a token naming a key the cache does not know
//!   triggers one refresh per [cooldown](JwksSettings::unknown_kid_cooldown);
//!   concurrent misses wait for the same fetch (single flight).
//! - **Stale-if-error**: when refreshes fail, known keys keep working for
//!   [`JwksSettings::max_stale`] past their freshness, with a warning; after
//!   that, and when no key was ever fetched, requests get a 503.
//! - **OIDC discovery** runs before the first fetch, again every
//!   [`JwksSettings::rediscovery_interval`], and again (at most once per
//!   cooldown) when the discovered `jwks_uri` cannot be fetched: an issuer
//!   that moves its JWKS is followed without a restart.
//! - Keys that cannot be used (`use: enc`, unsupported `kty`/`crv`, `oct`,
//!   RSA under 2048 bits, EC points off their curve, small-order Ed25519
//!   points, bad parameters) are skipped with a warning; a set naming one
//!   `kid` twice loses both keys. A key without `kid` never serves a token
//!   that names one: such a token is an unknown `kid`.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

// tokio's `Instant` is `std`'s monotonic clock, except in a runtime whose
// time is paused (tests), where minutes of key-server trouble can be
// simulated without waiting for them.
use tokio::time::Instant;

use bytes::Bytes;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use super::key::{self, JwtKey};
use super::token::{self, KidlessKeys, Selection};
use crate::error::{AuthError, ConfigError, ErrorKind};
use crate::telemetry::{FetchResult, JwksMetrics};
use crate::trace::TARGET;

/// The largest JWKS or discovery document the cache accepts from any
/// fetcher.
pub const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// The most keys a fetched JWK Set may hold. A larger set is refused as a
/// whole (the keys already cached stay in use): real issuers publish a
/// handful, and every key costs a parse and memory for as long as it is
/// cached.
///
/// ```
/// assert_eq!(authgate::jwt::MAX_KEYS, 100);
/// ```
pub const MAX_KEYS: usize = 100;

/// The future a [`JwksFetcher`] returns.
pub type FetchFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, FetchError>> + Send>>;

/// Fetches a JWKS (or an OIDC discovery document) over the network.
///
/// The cache checks the status (200 only), parses the body and reads
/// `Cache-Control`; a fetcher only moves bytes, bounded in size and time.
/// The default HTTPS implementation is
/// `HttpFetcher` (feature `jwks-http`); closures
/// `Fn(&http::Uri) -> impl Future<...>` implement the trait too, which is
/// handy in tests.
///
/// # Example
///
/// ```
/// use authgate::jwt::{FetchError, JwksFetcher};
/// use bytes::Bytes;
///
/// let fetcher = |_uri: &http::Uri| async {
///     Ok::<_, FetchError>(http::Response::new(Bytes::from_static(br#"{"keys":[]}"#)))
/// };
/// # fn is_fetcher(_: &impl JwksFetcher) {}
/// is_fetcher(&fetcher);
/// ```
pub trait JwksFetcher: Send + Sync + 'static {
    /// Fetches `uri`.
    fn fetch(&self, uri: &http::Uri) -> FetchFuture;
}

impl<F, Fut> JwksFetcher for F
where
    F: Fn(&http::Uri) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<http::Response<Bytes>, FetchError>> + Send + 'static,
{
    fn fetch(&self, uri: &http::Uri) -> FetchFuture {
        Box::pin(self(uri))
    }
}

/// Why a fetch failed. Logged, never sent to the client.
///
/// ```
/// let err = authgate::jwt::FetchError::new("connection refused");
/// assert_eq!(err.to_string(), "connection refused");
/// ```
#[derive(Debug, Clone)]
pub struct FetchError(Arc<dyn StdError + Send + Sync>);

impl FetchError {
    /// An error with a message or an underlying cause.
    pub fn new(cause: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self(Arc::from(cause.into()))
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for FetchError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

/// How the JWKS cache refreshes. Builder by value.
///
/// ```
/// use authgate::jwt::JwksSettings;
/// use std::time::Duration;
///
/// let settings = JwksSettings::default()
///     .ttl_bounds(Duration::from_secs(60), Duration::from_secs(3600))
///     .unknown_kid_cooldown(Duration::from_secs(10))
///     .max_stale(Duration::from_secs(4 * 3600));
/// # let _ = settings;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct JwksSettings {
    pub(crate) min_ttl: Duration,
    pub(crate) max_ttl: Duration,
    pub(crate) cooldown: Duration,
    pub(crate) max_stale: Duration,
    pub(crate) fetch_timeout: Duration,
    pub(crate) failure_backoff: Duration,
    pub(crate) rediscovery: Duration,
}

impl Default for JwksSettings {
    fn default() -> Self {
        Self {
            min_ttl: Duration::from_secs(5 * 60),
            max_ttl: Duration::from_secs(24 * 3600),
            cooldown: Duration::from_secs(30),
            max_stale: Duration::from_secs(6 * 3600),
            fetch_timeout: Duration::from_secs(5),
            failure_backoff: Duration::from_secs(5),
            rediscovery: Duration::from_secs(24 * 3600),
        }
    }
}

impl JwksSettings {
    /// Bounds on how long a fetched set is fresh: `Cache-Control: max-age`
    /// is clamped into `[min, max]`, and a response without one is fresh
    /// for `min`. Defaults to 5 minutes and 24 hours.
    pub fn ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_ttl = min;
        self.max_ttl = max;
        self
    }

    /// The least time between two refreshes triggered by unknown `kid`s.
    /// Defaults to 30 seconds.
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// How long past their freshness known keys keep working while
    /// refreshes fail (stale-if-error). Defaults to 6 hours.
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// How long one fetch (discovery included) may take. Defaults to 5
    /// seconds.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// After a failed fetch, how long to answer from what is known (or 503)
    /// before trying again. Defaults to 5 seconds.
    pub fn failure_backoff(mut self, backoff: Duration) -> Self {
        self.failure_backoff = backoff;
        self
    }

    /// With OIDC discovery, how long a discovered `jwks_uri` is used before
    /// the discovery document is read again (at the next refresh of the
    /// keys). Discovery also runs again, at most once per
    /// [cooldown](Self::unknown_kid_cooldown), when fetching the discovered
    /// `jwks_uri` fails: an issuer that moves its JWKS and updates its
    /// discovery document is followed without a restart. A failed
    /// rediscovery keeps the known `jwks_uri`. Defaults to 24 hours.
    ///
    /// ```
    /// use authgate::jwt::JwksSettings;
    /// use std::time::Duration;
    ///
    /// let settings = JwksSettings::default().rediscovery_interval(Duration::from_secs(3600));
    /// # let _ = settings;
    /// ```
    pub fn rediscovery_interval(mut self, interval: Duration) -> Self {
        self.rediscovery = interval;
        self
    }

    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if self.min_ttl.is_zero() || self.min_ttl > self.max_ttl {
            return Err(ConfigError::InvalidSetting {
                setting: "ttl_bounds",
                why: "min must be positive and not above max",
            });
        }
        if self.fetch_timeout.is_zero() {
            return Err(ConfigError::InvalidSetting {
                setting: "fetch_timeout",
                why: "must be greater than zero",
            });
        }
        Ok(())
    }
}

/// Where an issuer's keys are published.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    Jwks(http::Uri),
    /// `<issuer>/.well-known/openid-configuration`, whose `issuer` must be
    /// the configured one.
    Discovery {
        issuer: String,
        uri: http::Uri,
    },
}

impl Location {
    /// The `source` label of this source's metrics: the JWKS URL, or the
    /// issuer for discovery, as configured.
    fn source_name(&self) -> String {
        match self {
            Self::Jwks(uri) => uri.to_string(),
            Self::Discovery { issuer, .. } => issuer.clone(),
        }
    }
}

struct State {
    keys: Arc<[JwtKey]>,
    fetched_at: Option<Instant>,
    ttl: Duration,
    last_failure: Option<Instant>,
    last_miss_refresh: Option<Instant>,
    last_error: Option<AuthError>,
    /// The `jwks_uri` discovery found, and when.
    jwks_uri: Option<(http::Uri, Instant)>,
    /// When discovery last ran, successfully or not.
    last_discovery: Option<Instant>,
    /// Bumped by [`JwksCache::require_refetch`]: a fetch that began before
    /// is not stored.
    refetch_epoch: u64,
}

pub(crate) struct JwksCache {
    location: Location,
    fetcher: Arc<dyn JwksFetcher>,
    settings: JwksSettings,
    state: RwLock<State>,
    fetch_lock: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    refreshing: AtomicBool,
    fetches: AtomicU64,
    metrics: JwksMetrics,
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksCache")
            .field("location", &self.location)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn add(t: Instant, d: Duration) -> Instant {
    // Past the end of the representable future means "never".
    t.checked_add(d)
        .unwrap_or(t + Duration::from_secs(100 * 365 * 24 * 3600))
}

impl JwksCache {
    pub(crate) fn new(
        location: Location,
        fetcher: Arc<dyn JwksFetcher>,
        settings: JwksSettings,
    ) -> Self {
        let metrics = JwksMetrics::new(&location.source_name());
        Self {
            metrics,
            location,
            fetcher,
            settings,
            state: RwLock::new(State {
                keys: Arc::from(Vec::new()),
                fetched_at: None,
                ttl: Duration::ZERO,
                last_failure: None,
                last_miss_refresh: None,
                last_error: None,
                jwks_uri: None,
                last_discovery: None,
                refetch_epoch: 0,
            }),
            fetch_lock: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            refreshing: AtomicBool::new(false),
            fetches: AtomicU64::new(0),
        }
    }

    /// Number of network fetches attempted (discovery documents included).
    pub(crate) fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops using the key set held now: the next token waits for a fresh
    /// one (503 while the key server cannot be reached), so a key removed
    /// from the issuer's JWKS stops verifying at once.
    pub(crate) fn require_refetch(&self) {
        let mut state = self.write();
        state.fetched_at = None;
        // A fetch already in flight may carry the old set: not stored.
        state.refetch_epoch = state.refetch_epoch.wrapping_add(1);
    }

    /// The keys, if they may still be used, and whether a background
    /// refresh is due.
    fn usable(&self, now: Instant) -> Option<(Arc<[JwtKey]>, bool)> {
        let state = self.read();
        let fetched_at = state.fetched_at?;
        if now >= add(add(fetched_at, state.ttl), self.settings.max_stale) {
            return None;
        }
        let refresh_due = now >= add(fetched_at, state.ttl.mul_f64(0.9));
        if refresh_due && now >= add(fetched_at, state.ttl) {
            self.metrics.stale_served();
        }
        Some((Arc::clone(&state.keys), refresh_due))
    }

    /// The key for this `kid` and `alg` if it is known and usable now,
    /// without waiting (a due refresh starts in the background).
    pub(crate) fn key_now(self: &Arc<Self>, kid: Option<&str>, alg: Algorithm) -> Option<JwtKey> {
        let (keys, refresh_due) = self.usable(Instant::now())?;
        if refresh_due {
            self.refresh_in_background();
        }
        match token::select(&keys, kid, alg, KidlessKeys::NamedOnly) {
            Selection::Found(key) => Some(key.clone()),
            Selection::Unknown | Selection::Mismatch => None,
        }
    }

    /// The key that verifies a token with this `kid` and `alg`.
    pub(crate) async fn key_for(
        self: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<JwtKey, AuthError> {
        let generation = self.generation.load(Ordering::SeqCst);
        let now = Instant::now();
        let Some((keys, refresh_due)) = self.usable(now) else {
            self.refresh_now(generation).await?;
            return match self.usable(Instant::now()) {
                Some((keys, _)) => pick(&keys, kid, alg),
                None => Err(self.unavailable()),
            };
        };
        if refresh_due {
            self.refresh_in_background();
        }
        match token::select(&keys, kid, alg, KidlessKeys::NamedOnly) {
            Selection::Found(key) => Ok(key.clone()),
            Selection::Mismatch => Err(no_fit()),
            Selection::Unknown => {
                if !self.refresh_for_unknown_kid(generation).await? {
                    return Err(unknown_kid());
                }
                match self.usable(Instant::now()) {
                    Some((keys, _)) => pick(&keys, kid, alg),
                    None => Err(self.unavailable()),
                }
            }
        }
    }

    fn unavailable(&self) -> AuthError {
        self.read()
            .last_error
            .clone()
            .unwrap_or_else(|| AuthError::new(ErrorKind::Unavailable))
    }

    /// Fetches unless another caller did since `generation` was read, or the
    /// last failure is too recent.
    async fn refresh_now(&self, generation: u64) -> Result<(), AuthError> {
        let _flight = self.fetch_lock.lock().await;
        if self.generation.load(Ordering::SeqCst) != generation {
            return Ok(());
        }
        let recent_failure = self
            .read()
            .last_failure
            .is_some_and(|t| Instant::now() < add(t, self.settings.failure_backoff));
        if recent_failure {
            return Err(self.unavailable());
        }
        self.fetch_and_store().await
    }

    /// Whether the keys changed (or may have), so the caller should look
    /// again.
    async fn refresh_for_unknown_kid(&self, generation: u64) -> Result<bool, AuthError> {
        let _flight = self.fetch_lock.lock().await;
        if self.generation.load(Ordering::SeqCst) != generation {
            return Ok(true);
        }
        let now = Instant::now();
        {
            let mut state = self.write();
            if state
                .last_miss_refresh
                .is_some_and(|t| now < add(t, self.settings.cooldown))
            {
                return Ok(false);
            }
            state.last_miss_refresh = Some(now);
        }
        self.fetch_and_store().await.map(|()| true)
    }

    fn refresh_in_background(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let recent_failure = self
            .read()
            .last_failure
            .is_some_and(|t| Instant::now() < add(t, self.settings.failure_backoff));
        if recent_failure || self.refreshing.swap(true, Ordering::SeqCst) {
            return;
        }
        let cache = Arc::clone(self);
        let generation = self.generation.load(Ordering::SeqCst);
        runtime.spawn(async move {
            {
                let _flight = cache.fetch_lock.lock().await;
                if cache.generation.load(Ordering::SeqCst) == generation {
                    // Failures are logged and recorded by fetch_and_store.
                    let _ = cache.fetch_and_store().await;
                }
            }
            cache.refreshing.store(false, Ordering::SeqCst);
        });
    }

    /// Fetches the set and stores the outcome. Callers hold `fetch_lock`.
    async fn fetch_and_store(&self) -> Result<(), AuthError> {
        let epoch = self.read().refetch_epoch;
        let outcome = tokio::time::timeout(self.settings.fetch_timeout, self.fetch()).await;
        self.metrics
            .fetched(FetchResult::of(&outcome, |f| f.keys.len()));
        let outcome = outcome.unwrap_or_else(|_| Err(FetchError::new("the JWKS fetch timed out")));
        let now = Instant::now();
        let result = {
            let mut state = self.write();
            match outcome {
                Ok(_) if state.refetch_epoch != epoch => {
                    Err(AuthError::new(ErrorKind::Unavailable)
                        .with_description("the token's keys are being fetched again"))
                }
                Ok(fetched) => {
                    state.keys = fetched.keys;
                    state.fetched_at = Some(now);
                    state.ttl = fetched.ttl;
                    state.last_failure = None;
                    state.last_error = None;
                    Ok(())
                }
                Err(e) => {
                    let have_keys = state
                        .fetched_at
                        .is_some_and(|t| now < add(add(t, state.ttl), self.settings.max_stale));
                    tracing::warn!(
                        target: TARGET,
                        error = %e,
                        keeping_known_keys = have_keys,
                        "JWKS refresh failed"
                    );
                    let err = AuthError::new(ErrorKind::Unavailable)
                        .with_description("the token's keys cannot be fetched right now")
                        .with_source(e);
                    state.last_failure = Some(now);
                    state.last_error = Some(err.clone());
                    Err(err)
                }
            }
        };
        self.generation.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn fetch(&self) -> Result<Fetched, FetchError> {
        let (issuer, discovery_uri) = match &self.location {
            Location::Jwks(uri) => return self.fetch_jwks(uri).await,
            Location::Discovery { issuer, uri } => (issuer, uri),
        };
        let now = Instant::now();
        let (known, may_rediscover) = {
            let state = self.read();
            let may = state
                .last_discovery
                .is_none_or(|t| now >= add(t, self.settings.cooldown));
            (state.jwks_uri.clone(), may)
        };
        let (uri, fresh) = match known {
            None => (self.discover(issuer, discovery_uri).await?, true),
            Some((uri, found_at))
                if may_rediscover && now >= add(found_at, self.settings.rediscovery) =>
            {
                match self.discover(issuer, discovery_uri).await {
                    Ok(new) => (new, true),
                    Err(e) => {
                        tracing::warn!(
                            target: TARGET,
                            error = %e,
                            "OIDC rediscovery failed; keeping the known jwks_uri"
                        );
                        (uri, false)
                    }
                }
            }
            Some((uri, _)) => (uri, false),
        };
        match self.fetch_jwks(&uri).await {
            Err(e) if !fresh && may_rediscover => {
                // The issuer may have moved its keys: ask discovery again.
                let Ok(new) = self.discover(issuer, discovery_uri).await else {
                    return Err(e);
                };
                if new == uri {
                    return Err(e);
                }
                tracing::info!(target: TARGET, jwks_uri = %new, "OIDC discovery names a new jwks_uri");
                self.fetch_jwks(&new).await
            }
            outcome => outcome,
        }
    }

    async fn fetch_jwks(&self, uri: &http::Uri) -> Result<Fetched, FetchError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let response = self.fetcher.fetch(uri).await?;
        let ttl = max_age(response.headers())
            .unwrap_or(self.settings.min_ttl)
            .clamp(self.settings.min_ttl, self.settings.max_ttl);
        let body = ok_body(response)?;
        let keys = parse_jwks(&body)?;
        Ok(Fetched { keys, ttl })
    }

    /// Reads the discovery document and records the `jwks_uri` it names.
    async fn discover(&self, issuer: &str, uri: &http::Uri) -> Result<http::Uri, FetchError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.write().last_discovery = Some(Instant::now());
        let found = self.read_discovery(issuer, uri).await?;
        self.write().jwks_uri = Some((found.clone(), Instant::now()));
        Ok(found)
    }

    async fn read_discovery(&self, issuer: &str, uri: &http::Uri) -> Result<http::Uri, FetchError> {
        let body = ok_body(self.fetcher.fetch(uri).await?)?;
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|_| FetchError::new("the discovery document is not JSON"))?;
        // OpenID Connect Discovery 1.0 §4.3: the document must name the
        // issuer it was fetched for.
        if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
            return Err(FetchError::new(
                "the discovery document names another issuer",
            ));
        }
        doc.get("jwks_uri")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<http::Uri>().ok())
            .ok_or_else(|| FetchError::new("the discovery document has no valid jwks_uri"))
    }
}

struct Fetched {
    keys: Arc<[JwtKey]>,
    ttl: Duration,
}

fn pick(keys: &[JwtKey], kid: Option<&str>, alg: Algorithm) -> Result<JwtKey, AuthError> {
    match token::select(keys, kid, alg, KidlessKeys::NamedOnly) {
        Selection::Found(key) => Ok(key.clone()),
        Selection::Mismatch => Err(no_fit()),
        Selection::Unknown => Err(unknown_kid()),
    }
}

fn unknown_kid() -> AuthError {
    AuthError::new(ErrorKind::UnknownKey).with_description("the token's signing key is not known")
}

pub(crate) fn no_fit() -> AuthError {
    AuthError::new(ErrorKind::UnknownKey)
        .with_description("no single key of the issuer fits the token's algorithm")
}

fn ok_body(response: http::Response<Bytes>) -> Result<Bytes, FetchError> {
    if response.status() != http::StatusCode::OK {
        return Err(FetchError::new(format!(
            "the key server answered {}",
            response.status()
        )));
    }
    let body = response.into_body();
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(FetchError::new("the key server's answer is too large"));
    }
    Ok(body)
}

/// `max-age` from `Cache-Control`; `no-cache`/`no-store` count as 0.
fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
    let mut age = None;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-cache" || lower == "no-store" {
                return Some(Duration::ZERO);
            }
            if let Some(secs) = lower.strip_prefix("max-age=") {
                if let Ok(secs) = secs.trim_matches('"').parse::<u64>() {
                    age = Some(Duration::from_secs(secs));
                }
            }
        }
    }
    age
}

/// Parses a fetched JWK Set, skipping (with a warning) every key that cannot
/// be used. Fails only when no key at all is usable.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<Arc<[JwtKey]>, FetchError> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|_| FetchError::new("the JWKS is not JSON"))?;
    let entries = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| FetchError::new("the JWKS has no \"keys\" array"))?;
    if entries.len() > MAX_KEYS {
        return Err(FetchError::new(
            "the JWKS holds more keys than authgate accepts",
        ));
    }
    let mut keys = Vec::with_capacity(entries.len());
    for entry in entries {
        match key::parse_jwk(entry, false) {
            Ok(key) => keys.push(key),
            Err(why) => tracing::warn!(
                target: TARGET,
                kid = entry.get("kid").and_then(serde_json::Value::as_str),
                reason = why.reason(),
                "skipping a JWKS key"
            ),
        }
    }
    if key::has_duplicate_kid(&keys) {
        let all = keys.clone();
        keys.retain(|k| {
            let duplicated = k.kid().is_some()
                && all.iter().filter(|o| o.kid() == k.kid()).count() > 1;
            if duplicated {
                tracing::warn!(target: TARGET, kid = k.kid(), "skipping a JWKS key whose kid is not unique");
            }
            !duplicated
        });
    }
    if keys.is_empty() {
        return Err(FetchError::new("the JWKS holds no usable key"));
    }
    Ok(keys.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control() {
        let mut h = http::HeaderMap::new();
        assert_eq!(max_age(&h), None);
        h.insert("cache-control", "public, max-age=600".parse().unwrap());
        assert_eq!(max_age(&h), Some(Duration::from_secs(600)));
        h.insert("cache-control", "no-store".parse().unwrap());
        assert_eq!(max_age(&h), Some(Duration::ZERO));
    }

    #[test]
    fn skips_unusable_keys_and_duplicates() {
        let body = br#"{"keys":[
            {"kty":"oct","k":"AAAA"},
            {"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"OKP","crv":"Ed25519","kid":"d","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"OKP","crv":"Ed25519","kid":"d","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"OKP","crv":"X25519","kid":"x","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            "not a key"]}"#;
        let keys = parse_jwks(body).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys.first().and_then(JwtKey::kid), Some("a"));
        assert!(parse_jwks(br#"{"keys":[]}"#).is_err());
        assert!(parse_jwks(b"<html>").is_err());
    }
}
