//! [`JwtSchemeBuilder`]: a [`JwtScheme`]'s issuers, claim rules, caches
//! and JWKS settings, checked when it is built.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Configures a [`JwtScheme`].
///
/// ```
/// use authgate::jwt::{Issuer, JwtScheme};
/// use std::time::Duration;
///
/// let scheme = JwtScheme::builder()
///     .issuer(Issuer::new("https://idp.example").audience("api").jwks_url("https://idp.example/jwks.json"))
///     .leeway(Duration::from_secs(30))
///     .token_type("at+jwt")
///     .require_claim("client_id")
///     .fetcher(|_: &http::Uri| async { Err::<http::Response<bytes::Bytes>, _>(authgate::jwt::FetchError::new("offline")) })
///     .build()
///     .unwrap();
/// # let _ = scheme;
/// ```
#[must_use]
pub struct JwtSchemeBuilder {
    issuers: Vec<Issuer>,
    leeway: Duration,
    required: Vec<String>,
    typ: Option<String>,
    scope_claim: Option<String>,
    profile: Profile,
    revocation: Option<Arc<dyn Revocation>>,
    cache_capacity: u64,
    clock: SharedClock,
    fetcher: Option<Arc<dyn JwksFetcher>>,
    jwks: JwksSettings,
    dpop: Option<crate::dpop::Dpop>,
}

impl JwtSchemeBuilder {
    /// A builder with the defaults.
    pub(super) fn new() -> Self {
        Self {
            issuers: Vec::new(),
            leeway: Duration::from_secs(60),
            required: Vec::new(),
            typ: None,
            scope_claim: None,
            profile: Profile::default(),
            revocation: None,
            cache_capacity: 10_000,
            clock: Arc::new(SystemClock),
            fetcher: None,
            jwks: JwksSettings::default(),
            dpop: None,
        }
    }

    /// Trusts tokens from this issuer. Call once per issuer; at least one
    /// is required.
    pub fn issuer(mut self, issuer: Issuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat`, to the second.
    /// Defaults to 60 seconds; zero is allowed.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// A claim every token must carry (besides `iss`, `aud`, `exp` and
    /// `sub`, which always are). Call again for more. Defaults to none.
    pub fn require_claim(mut self, claim: impl Into<String>) -> Self {
        self.required.push(claim.into());
        self
    }

    /// The `typ` header tokens must have, e.g. `at+jwt` (RFC 9068 §2.1).
    /// Defaults to no check.
    pub fn token_type(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// RFC 9068 strict mode for JWT access tokens: the `typ` header must be
    /// `at+jwt` (or `application/at+jwt`), and `iss`, `exp`, `aud`, `sub`,
    /// `client_id`, `iat` and `jti` must all be present. Defaults to off
    /// (`iss`, `exp`, `aud` and `sub` are always required).
    ///
    /// ```
    /// # use authgate::jwt::{Issuer, JwtKey, JwtScheme};
    /// let scheme = JwtScheme::builder()
    ///     .issuer(Issuer::new("https://login.example").audience("api")
    ///         .key(JwtKey::shared_secret(&[7u8; 32]).unwrap()))
    ///     .rfc9068_strict()
    ///     .build()
    ///     .unwrap();
    /// # let _ = scheme;
    /// ```
    pub fn rfc9068_strict(mut self) -> Self {
        self.profile.strict = true;
        self
    }

    /// The longest lifetime a token may claim: tokens whose `exp − iat`
    /// exceeds it, or that have no `iat`, are refused (as Envoy's
    /// `max_lifetime`). Works with or without
    /// [`rfc9068_strict`](Self::rfc9068_strict). Defaults to no bound.
    ///
    /// ```
    /// # use authgate::jwt::{Issuer, JwtKey, JwtScheme};
    /// # use std::time::Duration;
    /// let scheme = JwtScheme::builder()
    ///     .issuer(Issuer::new("https://login.example").audience("api")
    ///         .key(JwtKey::shared_secret(&[7u8; 32]).unwrap()))
    ///     .max_token_lifetime(Duration::from_secs(3600))
    ///     .build()
    ///     .unwrap();
    /// # let _ = scheme;
    /// ```
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.profile.max_lifetime = Some(lifetime.as_secs());
        self
    }

    /// The claim scopes are read from (a space-separated string or an array).
    /// Defaults to `scope`, then `scp`.
    pub fn scope_claim(mut self, claim: impl Into<String>) -> Self {
        self.scope_claim = Some(claim.into());
        self
    }

    /// Checks every token against this revocation list, cached or not.
    /// Defaults to none.
    pub fn revocation(mut self, revocation: impl Revocation) -> Self {
        self.revocation = Some(Arc::new(revocation));
        self
    }

    /// The validated-token cache's budget, in KiB of cached tokens: a
    /// typical access token (under 1 KiB) counts 1, a 5 KiB token counts 5,
    /// so memory stays bounded whatever the tokens' size. 0 turns the cache
    /// off. Defaults to 10 000 (about 10 MiB of tokens).
    ///
    /// Hits are served first from a small table per thread (32 entries,
    /// each used for at most a second after it was read from this cache),
    /// so that cores serving the same tokens do not contend on the shared
    /// cache.
    pub fn token_cache_capacity(mut self, capacity: u64) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// The clock `exp`, `nbf` and `iat` are checked against. Defaults to
    /// the system clock.
    pub fn clock(mut self, clock: impl crate::clock::Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How JWKS and discovery documents are fetched, for issuers without a
    /// fetcher of their own. Defaults to `HttpFetcher`
    /// with feature `jwks-http`; without it, issuers with a JWKS source need
    /// a fetcher.
    pub fn fetcher(mut self, fetcher: impl JwksFetcher) -> Self {
        self.fetcher = Some(Arc::new(fetcher));
        self
    }

    /// JWKS cache settings for issuers without their own. Defaults to
    /// [`JwksSettings::default`].
    pub fn jwks_settings(mut self, settings: JwksSettings) -> Self {
        self.jwks = settings;
        self
    }

    /// Accepts DPoP-bound tokens (RFC 9449) under these settings:
    /// `Authorization: DPoP` with a proof, as well as or instead of
    /// `Bearer`, following the [mode](crate::dpop::DpopMode). The proof
    /// window's leeway and the clock default to this scheme's. Defaults to
    /// DPoP off; in every mode, a token with `cnf.jkt` presented as
    /// `Bearer` is refused.
    ///
    /// ```
    /// use authgate::dpop::{Dpop, DpopMode};
    /// # use authgate::jwt::{Issuer, JwtKey, JwtScheme};
    /// let scheme = JwtScheme::builder()
    /// #   .issuer(Issuer::new("https://login.example").audience("api").key(JwtKey::shared_secret(&[7u8; 32]).unwrap()))
    ///     .dpop(Dpop::new(DpopMode::Required).public_origin("https://api.example.com"))
    ///     .build()
    ///     .unwrap();
    /// # let _ = scheme;
    /// ```
    pub fn dpop(mut self, dpop: crate::dpop::Dpop) -> Self {
        self.dpop = Some(dpop);
        self
    }

    /// Checks the settings and builds the scheme. Also installs the ring
    /// provider as jsonwebtoken's process default if none is installed
    /// (see [`install_default`](crate::jwt::install_default)).
    ///
    /// # Errors
    ///
    /// With no issuer, two issuers with the same `iss`, an issuer without
    /// audience or key source, static keys that cannot serve its algorithms,
    /// an invalid JWKS URL, or no fetcher for a JWKS source; DPoP settings
    /// without a public origin, with a symmetric algorithm or a nonce
    /// secret under 32 bytes.
    pub fn build(self) -> Result<JwtScheme, ConfigError> {
        crate::jwt::crypto::install_default();
        let dpop = match self.dpop {
            Some(dpop) => dpop.finish(self.leeway, Arc::clone(&self.clock))?,
            None => crate::dpop::DpopVerifier::off(),
        };
        let bad =
            |setting: &'static str, why: &'static str| ConfigError::InvalidSetting { setting, why };
        if self.issuers.is_empty() {
            return Err(bad("issuer", "a JWT scheme needs at least one issuer"));
        }
        self.jwks.check()?;
        let default_fetcher = match self.fetcher {
            Some(f) => Some(f),
            None => default_fetcher()?,
        };
        let mut issuers = HashMap::new();
        for issuer in self.issuers {
            if issuer.audiences.is_empty() {
                return Err(bad("audience", "every issuer needs at least one audience"));
            }
            let has_secret = issuer.keys.iter().any(JwtKey::is_secret);
            let algorithms = issuer.algorithms.clone().unwrap_or_else(|| {
                let mut algs = DEFAULT_ALGORITHMS.to_vec();
                if has_secret {
                    algs.extend([Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]);
                }
                algs
            });
            if algorithms.is_empty() {
                return Err(bad("algorithms", "an issuer needs at least one algorithm"));
            }
            if !issuer.keys.is_empty() && !matches!(issuer.source, KeySource::Static) {
                return Err(bad(
                    "key source",
                    "an issuer has either static keys or a JWKS source, not both",
                ));
            }
            let settings = issuer.jwks.clone().unwrap_or_else(|| self.jwks.clone());
            settings.check()?;
            let fetcher = issuer.fetcher.clone().or_else(|| default_fetcher.clone());
            let keys = match &issuer.source {
                KeySource::None => {
                    return Err(bad(
                        "key source",
                        "every issuer needs keys, a JWKS URL or discovery",
                    ))
                }
                KeySource::Static => {
                    if key::has_duplicate_kid(&issuer.keys) {
                        return Err(bad("key", "two static keys of an issuer share a kid"));
                    }
                    if !algorithms
                        .iter()
                        .any(|a| issuer.keys.iter().any(|k| k.fits(*a)))
                    {
                        return Err(bad("key", "no static key fits the issuer's algorithms"));
                    }
                    Keys::Static(issuer.keys.clone())
                }
                KeySource::JwksUrl(url) => {
                    let uri = parse_uri(url)?;
                    let fetcher = fetcher.ok_or_else(|| {
                        bad(
                            "fetcher",
                            "a JWKS URL needs a JwksFetcher (feature jwks-http)",
                        )
                    })?;
                    Keys::Jwks(Arc::new(JwksCache::new(
                        Location::Jwks(uri),
                        fetcher,
                        settings,
                    )))
                }
                KeySource::Discovery => {
                    let url = format!(
                        "{}/.well-known/openid-configuration",
                        issuer.iss.trim_end_matches('/')
                    );
                    let uri = parse_uri(&url)?;
                    let fetcher = fetcher.ok_or_else(|| {
                        bad(
                            "fetcher",
                            "discovery needs a JwksFetcher (feature jwks-http)",
                        )
                    })?;
                    let location = Location::Discovery {
                        issuer: issuer.iss.clone(),
                        uri,
                    };
                    Keys::Jwks(Arc::new(JwksCache::new(location, fetcher, settings)))
                }
            };
            let state = IssuerState {
                iss: issuer.iss.clone(),
                iss_claim: Arc::new(serde_json::Value::String(issuer.iss.clone())),
                audiences: issuer.audiences,
                algorithms,
                keys,
            };
            if issuers.insert(issuer.iss, Arc::new(state)).is_some() {
                return Err(bad("issuer", "two issuers share one iss"));
            }
        }
        let metrics = crate::telemetry::CacheMetrics::new("jwt_token");
        let cache = (self.cache_capacity > 0).then(|| {
            let builder = Cache::builder()
                .max_capacity(self.cache_capacity)
                .weigher(|_, entry: &Arc<CachedToken>| {
                    // Tokens are at most MAX_TOKEN_LEN (16 KiB), so this fits.
                    u32::try_from(entry.token.len() / 1024 + 1).unwrap_or(u32::MAX)
                })
                .expire_after(UntilExp);
            metrics.watch_sync(builder).build_with_hasher(KeyIsHash)
        });
        let forged = (self.cache_capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(self.cache_capacity)
                .weigher(|_, token: &Arc<Zeroizing<Vec<u8>>>| {
                    u32::try_from(token.len() / 1024 + 1).unwrap_or(u32::MAX)
                })
                .time_to_live(FORGED_TTL)
                .build_with_hasher(KeyIsHash)
        });
        Ok(JwtScheme {
            inner: Arc::new(Inner {
                id: hot::next_owner(),
                generation: AtomicU64::new(0),
                issuers,
                rules: ClaimRules {
                    leeway: self.leeway.as_secs(),
                    required: self.required,
                    typ: self.typ,
                    scope_claim: self.scope_claim,
                },
                profile: self.profile,
                revocation: self.revocation,
                cache,
                forged,
                hash_keys: HashKeys::random(),
                clock: self.clock,
                metrics,
                dpop,
            }),
        })
    }
}

fn parse_uri(url: &str) -> Result<http::Uri, ConfigError> {
    let uri: http::Uri = url.parse().map_err(|_| ConfigError::InvalidSetting {
        setting: "jwks_url",
        why: "not a valid absolute URL",
    })?;
    if uri.scheme().is_none() || uri.host().is_none() {
        return Err(ConfigError::InvalidSetting {
            setting: "jwks_url",
            why: "not a valid absolute URL",
        });
    }
    Ok(uri)
}

#[cfg(feature = "jwks-http")]
fn default_fetcher() -> Result<Option<Arc<dyn JwksFetcher>>, ConfigError> {
    Ok(Some(Arc::new(crate::jwt::HttpFetcher::new()?)))
}

#[cfg(not(feature = "jwks-http"))]
fn default_fetcher() -> Result<Option<Arc<dyn JwksFetcher>>, ConfigError> {
    Ok(None)
}

impl fmt::Debug for JwtSchemeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSchemeBuilder")
            .field("issuers", &self.issuers)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}
