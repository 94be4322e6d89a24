//! [`IntrospectionSchemeBuilder`]: where the endpoint is, who we are to
//! it, and how long answers are kept.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use moka::sync::Cache;

use super::answer::Rules;
use super::cache::{Flights, PerEntry};
use super::client::{is_secure, ClientAuth, Endpoint, IntrospectionClient};
use super::scheme::{Inner, IntrospectionScheme};
use super::signed::SignedAnswers;
use crate::clock::{SharedClock, SystemClock};
use crate::dpop::{Dpop, DpopVerifier};
use crate::error::ConfigError;
use crate::jwt::jwks::{JwksCache, Location};
use crate::jwt::{HttpFetcher, JwksFetcher, JwksSettings, Revocation, DEFAULT_ALGORITHMS};
use crate::secret::SecretString;
use crate::telemetry::{CacheMetrics, StoreMetrics};

/// The longest any answer is cached.
const MAX_TTL: Duration = Duration::from_secs(86_400);

/// The largest introspection answer read by default: 64 KiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Configures an [`IntrospectionScheme`].
///
/// ```
/// use authgate::introspection::{ClientAuth, IntrospectionScheme};
/// use std::time::Duration;
///
/// let scheme = IntrospectionScheme::builder()
///     .issuer("https://login.example.com")
///     .discover_endpoint()            // introspection_endpoint from discovery
///     .client("resource-server", "s3cr3t")
///     .client_auth(ClientAuth::SecretPost)
///     .audience("https://api.example.com")
///     .cache_ttl(Duration::from_secs(30))
///     .timeout(Duration::from_secs(2))
///     .build()
///     .unwrap();
/// # let _ = scheme;
/// ```
#[must_use]
pub struct IntrospectionSchemeBuilder {
    endpoint: Option<String>,
    discover: bool,
    issuer: Option<String>,
    client: Option<(String, SecretString)>,
    auth: ClientAuth,
    audiences: Vec<String>,
    leeway: Duration,
    cache_ttl: Duration,
    cache_capacity: u64,
    negative_ttl: Duration,
    negative_capacity: u64,
    connect_timeout: Duration,
    timeout: Duration,
    max_bytes: usize,
    signed: bool,
    response_jwks: Option<String>,
    algorithms: Vec<Algorithm>,
    fetcher: Option<Arc<dyn JwksFetcher>>,
    revocation: Option<Arc<dyn Revocation>>,
    clock: SharedClock,
    dpop: Option<Dpop>,
}

impl IntrospectionSchemeBuilder {
    pub(crate) fn new() -> Self {
        Self {
            endpoint: None,
            discover: false,
            issuer: None,
            client: None,
            auth: ClientAuth::default(),
            audiences: Vec::new(),
            leeway: Duration::from_secs(60),
            cache_ttl: Duration::from_secs(60),
            cache_capacity: 10_000,
            negative_ttl: Duration::from_secs(5),
            negative_capacity: 10_000,
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            max_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            signed: false,
            response_jwks: None,
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            fetcher: None,
            revocation: None,
            clock: Arc::new(SystemClock),
            dpop: None,
        }
    }

    /// The introspection endpoint's URL: `https`, or `http` on loopback.
    /// Either this or [`discover_endpoint`](Self::discover_endpoint) is
    /// required.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The authorization server's issuer identifier: answers naming
    /// another `iss` are refused (answers without `iss` are accepted: they
    /// come from this server's own endpoint). Needed for
    /// [`discover_endpoint`](Self::discover_endpoint) and
    /// [`signed_answers`](Self::signed_answers). Defaults to none.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Reads the endpoint from `<issuer>/.well-known/openid-configuration`
    /// (`introspection_endpoint`), on the first token. Until it is found,
    /// requests get 503. Defaults to off.
    pub fn discover_endpoint(mut self) -> Self {
        self.discover = true;
        self
    }

    /// The resource server's client id and secret at the authorization
    /// server. Required. The secret is redacted in `Debug` and zeroized
    /// when the scheme is dropped.
    pub fn client(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.client = Some((id.into(), SecretString::new(secret.into())));
        self
    }

    /// How the client authenticates. Defaults to
    /// [`ClientAuth::SecretBasic`].
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    /// An audience the token must have (`aud`, a string or an array); call
    /// again for more. Defaults to none: `aud` is not checked.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Clock skew tolerated on `exp` and `nbf`. Defaults to 60 seconds.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// How long an active answer is cached: never past the token's `exp`.
    /// Zero turns caching of active answers off; longer than a day counts
    /// as a day. Defaults to 60 seconds;
    /// a token revoked at the authorization server is still accepted here
    /// until its entry ends.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// The most active answers kept. Defaults to 10 000.
    pub fn cache_capacity(mut self, entries: u64) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// How long an inactive answer is remembered, so that a client
    /// retrying a dead token does not reach the endpoint each time. Zero
    /// turns it off; longer than a day counts as a day. Defaults to 5
    /// seconds.
    pub fn negative_cache_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// The most inactive answers kept, apart from active ones. Defaults to
    /// 10 000.
    pub fn negative_cache_capacity(mut self, entries: u64) -> Self {
        self.negative_capacity = entries;
        self
    }

    /// How long connecting to the endpoint may take. Defaults to 2 seconds.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one call may take, connection and answer included.
    /// Defaults to 5 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest answer read; a larger one is a 503. Defaults to
    /// [`DEFAULT_MAX_RESPONSE_BYTES`].
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Asks for RFC 9701 signed answers
    /// (`Accept: application/token-introspection+jwt`) and accepts only
    /// those: signed by a key of the authorization server, `typ`
    /// `token-introspection+jwt`, `iss` the [`issuer`](Self::issuer), `aud`
    /// our client id. The keys come from the issuer's discovery document,
    /// or from [`answer_jwks_url`](Self::answer_jwks_url). Defaults to off.
    pub fn signed_answers(mut self) -> Self {
        self.signed = true;
        self
    }

    /// Where the keys of signed answers are published, instead of the
    /// issuer's discovery document. Defaults to discovery.
    pub fn answer_jwks_url(mut self, url: impl Into<String>) -> Self {
        self.response_jwks = Some(url.into());
        self
    }

    /// The algorithms signed answers may use. Defaults to
    /// [`DEFAULT_ALGORITHMS`] (no `HS*`).
    pub fn answer_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How discovery documents and key sets are fetched. Defaults to
    /// [`HttpFetcher`].
    pub fn fetcher(mut self, fetcher: impl JwksFetcher) -> Self {
        self.fetcher = Some(Arc::new(fetcher));
        self
    }

    /// Checks every active token against this revocation list (by `jti`,
    /// or by `sub` with an issued-before cutoff), cached or not. Defaults
    /// to none.
    pub fn revocation(mut self, revocation: impl Revocation) -> Self {
        self.revocation = Some(Arc::new(revocation));
        self
    }

    /// The clock `exp` and `nbf` are checked against. Defaults to the
    /// system clock.
    pub fn clock(mut self, clock: impl crate::clock::Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Accepts DPoP-bound tokens (RFC 9449): an active answer whose `cnf`
    /// carries `jkt` needs `Authorization: DPoP` and a proof for that key
    /// on every request, cached answer or not, exactly as with
    /// [`JwtSchemeBuilder::dpop`](crate::jwt::JwtSchemeBuilder::dpop). The
    /// proof window's leeway and the clock default to this scheme's.
    /// Defaults to DPoP off; in every mode, a token whose answer carries
    /// `cnf.jkt` presented as `Bearer` is refused.
    ///
    /// ```
    /// use authgate::dpop::{Dpop, DpopMode};
    /// use authgate::introspection::IntrospectionScheme;
    ///
    /// let scheme = IntrospectionScheme::builder()
    ///     .endpoint("https://as.example/introspect")
    ///     .client("rs", "secret")
    ///     .dpop(Dpop::new(DpopMode::Allowed).public_origin("https://api.example.com"))
    ///     .build()
    ///     .unwrap();
    /// # let _ = scheme;
    /// ```
    pub fn dpop(mut self, dpop: Dpop) -> Self {
        self.dpop = Some(dpop);
        self
    }

    /// Checks the settings and builds the scheme.
    ///
    /// # Errors
    ///
    /// With no client, no endpoint (neither configured nor discovered), an
    /// endpoint that is not `https` (or loopback `http`), discovery or
    /// signed answers without an issuer, zero timeouts, or no algorithm for
    /// signed answers; DPoP settings refused as by
    /// [`JwtSchemeBuilder::build`](crate::jwt::JwtSchemeBuilder::build).
    pub fn build(self) -> Result<IntrospectionScheme, ConfigError> {
        crate::jwt::install_default();
        let dpop = match self.dpop {
            Some(dpop) => dpop.finish(self.leeway, Arc::clone(&self.clock))?,
            None => DpopVerifier::off(),
        };
        let bad =
            |setting: &'static str, why: &'static str| ConfigError::InvalidSetting { setting, why };
        let (client_id, secret) = self
            .client
            .ok_or(bad("client", "introspection needs a client id and secret"))?;
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(bad("timeout", "must be greater than zero"));
        }
        if self.max_bytes == 0 {
            return Err(bad("max_response_bytes", "must be greater than zero"));
        }
        let fetcher: Arc<dyn JwksFetcher> = match self.fetcher {
            Some(f) => f,
            None => Arc::new(HttpFetcher::new()?.timeout(self.timeout)),
        };
        let discovery_uri = |issuer: &str| {
            parse_secure(&format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            ))
        };
        let endpoint = match (&self.endpoint, self.discover, &self.issuer) {
            (Some(_), true, _) => {
                return Err(bad(
                    "endpoint",
                    "configure the endpoint or discover it, not both",
                ))
            }
            (Some(url), false, _) => Endpoint::Fixed(parse_secure(url)?),
            (None, true, Some(issuer)) => Endpoint::Discovered {
                issuer: issuer.clone(),
                document: discovery_uri(issuer)?,
                fetcher: Arc::clone(&fetcher),
                found: tokio::sync::OnceCell::new(),
            },
            (None, true, None) => return Err(bad("issuer", "discovery needs the issuer")),
            (None, false, _) => {
                return Err(bad(
                    "endpoint",
                    "introspection needs an endpoint or discover_endpoint()",
                ))
            }
        };
        let signed = if self.signed {
            let issuer = self
                .issuer
                .clone()
                .ok_or(bad("issuer", "signed answers need the issuer"))?;
            if self.algorithms.is_empty() {
                return Err(bad("answer_algorithms", "at least one algorithm"));
            }
            let location = match &self.response_jwks {
                Some(url) => Location::Jwks(parse_secure(url)?),
                None => Location::Discovery {
                    uri: discovery_uri(&issuer)?,
                    issuer: issuer.clone(),
                },
            };
            let settings = JwksSettings::default();
            Some(SignedAnswers {
                issuer,
                audience: client_id.clone(),
                algorithms: self.algorithms,
                keys: Arc::new(JwksCache::new(location, Arc::clone(&fetcher), settings)),
            })
        } else {
            None
        };
        let hasher = std::collections::hash_map::RandomState::new();
        let scope = match &endpoint {
            Endpoint::Fixed(uri) => hasher.hash_one((uri.to_string(), &client_id)),
            Endpoint::Discovered { document, .. } => {
                hasher.hash_one((document.to_string(), &client_id))
            }
        };
        let client = IntrospectionClient::new(
            endpoint,
            self.auth,
            client_id,
            secret,
            self.connect_timeout,
            self.timeout,
            self.max_bytes,
            self.signed,
        )?;
        // A far-future TTL must not reach moka's instant arithmetic.
        let cache_ttl = self.cache_ttl.min(MAX_TTL);
        let negative_ttl = self.negative_ttl.min(MAX_TTL);
        let metrics = CacheMetrics::new("introspection");
        let negative_metrics = CacheMetrics::new("introspection_negative");
        let cache = (self.cache_capacity > 0 && !cache_ttl.is_zero()).then(|| {
            let builder = Cache::builder()
                .max_capacity(self.cache_capacity)
                .expire_after(PerEntry);
            metrics.watch_sync(builder).build()
        });
        let negative = (self.negative_capacity > 0 && !negative_ttl.is_zero()).then(|| {
            let builder = Cache::builder()
                .max_capacity(self.negative_capacity)
                .time_to_live(negative_ttl);
            negative_metrics.watch_sync(builder).build()
        });
        Ok(IntrospectionScheme::from_inner(Inner {
            id: crate::hot::next_owner(),
            generation: AtomicU64::new(0),
            client,
            rules: Rules {
                issuer: self.issuer,
                audiences: self.audiences,
                leeway: self.leeway.as_secs(),
            },
            signed,
            cache,
            negative,
            cache_ttl,
            flights: Flights::default(),
            hasher,
            scope,
            clock: self.clock,
            revocation: self.revocation,
            calls: AtomicU64::new(0),
            metrics,
            negative_metrics,
            errors: StoreMetrics::new("introspection"),
            dpop,
        }))
    }
}

/// An absolute `https` URL, or `http` on loopback.
fn parse_secure(url: &str) -> Result<http::Uri, ConfigError> {
    let uri: http::Uri = url.parse().map_err(|_| ConfigError::InvalidSetting {
        setting: "endpoint",
        why: "not a valid absolute URL",
    })?;
    if !is_secure(&uri) {
        return Err(ConfigError::InvalidSetting {
            setting: "endpoint",
            why: "must use https (http only on loopback)",
        });
    }
    Ok(uri)
}

impl fmt::Debug for IntrospectionSchemeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionSchemeBuilder")
            .field("endpoint", &self.endpoint)
            .field("issuer", &self.issuer)
            .field("client", &self.client)
            .field("auth", &self.auth)
            .field("audiences", &self.audiences)
            .field("cache_ttl", &self.cache_ttl)
            .finish_non_exhaustive()
    }
}
