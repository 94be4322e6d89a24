//! [`Issuer`]: one trusted token issuer, its audience, algorithms and key
//! source.

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::Algorithm;

use super::jwks::{JwksFetcher, JwksSettings};
use super::key::JwtKey;

/// The algorithms an issuer accepts unless told otherwise: asymmetric
/// only (RFC 8725 §3.1).
pub const DEFAULT_ALGORITHMS: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    None,
    Static,
    JwksUrl(String),
    Discovery,
}

/// A trusted issuer: the exact `iss` value, the audiences its tokens must
/// name, the algorithms it signs with, and where its keys come from (a JWKS
/// URL, OIDC discovery, or static keys).
///
/// The token's `iss` is read before verification only to pick the issuer;
/// a token from an issuer that is not configured is refused without any
/// network call.
///
/// # Example
///
/// ```
/// use authgate::jwt::{Issuer, JwtKey};
/// use jsonwebtoken::Algorithm;
///
/// let auth0 = Issuer::new("https://tenant.eu.auth0.com/")
///     .audience("https://api.example.com")
///     .oidc_discovery();
/// let internal = Issuer::new("https://login.internal")
///     .audience("orders")
///     .key(JwtKey::shared_secret(&[42u8; 32]).unwrap())
///     .algorithms([Algorithm::HS256]);
/// # let _ = (auth0, internal);
/// ```
#[derive(Clone)]
#[must_use]
pub struct Issuer {
    pub(crate) iss: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: Option<Vec<Algorithm>>,
    pub(crate) source: KeySource,
    pub(crate) keys: Vec<JwtKey>,
    pub(crate) fetcher: Option<Arc<dyn JwksFetcher>>,
    pub(crate) jwks: Option<JwksSettings>,
}

impl Issuer {
    /// An issuer whose tokens carry exactly this `iss`.
    pub fn new(iss: impl Into<String>) -> Self {
        Self {
            iss: iss.into(),
            audiences: Vec::new(),
            algorithms: None,
            source: KeySource::None,
            keys: Vec::new(),
            fetcher: None,
            jwks: None,
        }
    }

    /// An audience the token's `aud` must name (one of, when called
    /// several times). At least one is required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The algorithms accepted from this issuer. Defaults to
    /// [`DEFAULT_ALGORITHMS`], plus `HS256`/`HS384`/`HS512` when a shared
    /// secret is configured. `HS*` never verifies with a key from a JWKS.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Fetches keys from this JWKS URL (https, or http on a loopback
    /// address).
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.source = KeySource::JwksUrl(url.into());
        self
    }

    /// Finds the JWKS URL through OpenID Connect discovery at
    /// `<issuer>/.well-known/openid-configuration`; the document must name
    /// this issuer.
    pub fn oidc_discovery(mut self) -> Self {
        self.source = KeySource::Discovery;
        self
    }

    /// Adds a static key (a JWK, a PEM public key or a shared secret).
    /// Static keys and a JWKS source are exclusive.
    ///
    /// A token naming a `kid` is verified with the key of that `kid`; when
    /// no static key has it, the one static key without `kid` that fits the
    /// token's algorithm stands in (a key read from PEM usually has none).
    /// Keys fetched from a JWKS never stand in like this: there, an unknown
    /// `kid` triggers a refresh.
    pub fn key(mut self, key: JwtKey) -> Self {
        self.source = KeySource::Static;
        self.keys.push(key);
        self
    }

    /// Fetches this issuer's keys with `fetcher` instead of the scheme's.
    pub fn fetcher(mut self, fetcher: impl JwksFetcher) -> Self {
        self.fetcher = Some(Arc::new(fetcher));
        self
    }

    /// JWKS cache settings for this issuer. Defaults to the scheme's.
    pub fn jwks_settings(mut self, settings: JwksSettings) -> Self {
        self.jwks = Some(settings);
        self
    }

    /// The `iss` value.
    #[must_use]
    pub fn iss(&self) -> &str {
        &self.iss
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("iss", &self.iss)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .field("source", &self.source)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}
