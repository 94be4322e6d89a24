//! [`MockIssuer`]: a real OpenID Connect issuer on 127.0.0.1, for tests.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::introspect::{self, ClientCredentials, OpaqueTokens, INTROSPECTION_PATH};
use super::signing_key::{TestAlgorithm, TestSigningKey};
use super::token::TokenBuilder;
use super::TestKitError;
use crate::jwt::Issuer;

/// The audience tokens name unless told otherwise.
pub const DEFAULT_AUDIENCE: &str = "api://test";

/// The path the JWKS is served at.
const JWKS_PATH: &str = "/jwks.json";
/// OpenID Connect discovery (OIDC Discovery 1.0 §4).
const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// How a [`MockIssuer`] misbehaves, to test outages.
///
/// ```
/// use authgate::testing::{MockIssuer, Outage};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let issuer = MockIssuer::start().await.unwrap();
/// issuer.fail_with(Outage::Status(503));
/// issuer.recover();
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outage {
    /// Every endpoint answers with this status and no body.
    Status(u16),
    /// Every endpoint accepts the request and never answers.
    Hang,
    /// Every endpoint answers 200 with a body that is not JSON.
    Garbage,
    /// Every endpoint answers 200 with a 10 MiB JSON body, larger than any
    /// sane size cap.
    Oversized,
    /// Every endpoint answers normally, after this delay.
    Slow(Duration),
}

/// The size of an [`Outage::Oversized`] answer.
const OVERSIZED_BYTES: usize = 10 * 1024 * 1024;

/// A real OpenID Connect issuer serving discovery, a JWKS and a token
/// introspection endpoint over HTTP on 127.0.0.1 (a port of its own),
/// which mints tokens with the keys it publishes, and opaque tokens it
/// answers for.
///
/// It starts with one key per algorithm: RS256 (`rsa-1`, a fixed test key),
/// ES256 (`ec-1`) and EdDSA (`ed-1`) generated at start, all in the JWKS,
/// and an HS256 shared secret (`hs-1`, never published). Tokens are RS256
/// unless told otherwise. [`rotate`](Self::rotate) adds a key and signs
/// with it from then on; [`retire`](Self::retire) removes one from the
/// JWKS; [`fail_with`](Self::fail_with) makes every endpoint fail;
/// [`jwks_fetches`](Self::jwks_fetches) counts what it served. The server
/// stops when the `MockIssuer` is dropped.
///
/// Opaque tokens ([`TokenBuilder::mint_opaque`]) are answered at the
/// RFC 7662 introspection endpoint (`/introspect`, advertised as
/// `introspection_endpoint` in discovery) for the client
/// [`client_id`](Self::client_id) / [`client_secret`](Self::client_secret)
/// (`client_secret_basic` or `client_secret_post`); see
/// [`revoke`](Self::revoke) and [`introspection_calls`](Self::introspection_calls).
///
/// # Example
///
/// ```
/// use authgate::jwt::JwtScheme;
/// use authgate::testing::MockIssuer;
/// use authgate::AuthLayer;
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let issuer = MockIssuer::start().await?;
/// let auth = AuthLayer::builder()
///     .scheme(JwtScheme::builder().issuer(issuer.discovery_issuer()).build()?)
///     .build()?;
/// let service = ServiceBuilder::new().layer(auth).service(service_fn(|_: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
/// }));
///
/// let token = issuer.token().subject("alice").scopes("orders:read").lifetime(Duration::from_secs(60)).mint();
/// let request = http::Request::get("/").header("authorization", format!("Bearer {token}")).body(())?;
/// assert_eq!(service.oneshot(request).await?.status(), 200);
/// assert_eq!(issuer.jwks_fetches(), 1);
/// # Ok(())
/// # }
/// ```
pub struct MockIssuer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

/// What the endpoints read, and what the tests change.
pub(super) struct Shared {
    pub(super) base: String,
    keys: Mutex<KeySet>,
    outage: Mutex<Option<Outage>>,
    jwks: Mutex<JwksServing>,
    jwks_fetches: AtomicU64,
    discovery_fetches: AtomicU64,
    pub(super) introspection_calls: AtomicU64,
    /// The client the introspection endpoint accepts.
    pub(super) client: ClientCredentials,
    /// The opaque tokens minted so far, and which are revoked.
    pub(super) opaque: OpaqueTokens,
}

/// How the JWKS endpoint answers, beyond the issuer's own keys.
#[derive(Default)]
struct JwksServing {
    /// JWKs served in place of the published keys.
    replaced: Option<Vec<Value>>,
    cache_control: Option<http::HeaderValue>,
}

pub(super) struct KeySet {
    /// The key each algorithm signs with now.
    pub(super) signing: HashMap<TestAlgorithm, TestSigningKey>,
    /// Every key in the JWKS, in order of publication.
    published: Vec<TestSigningKey>,
    /// Keys made so far, for fresh `kid`s.
    made: usize,
}

impl Shared {
    pub(super) fn keys(&self) -> std::sync::MutexGuard<'_, KeySet> {
        // A panic while holding the lock cannot leave the key set half
        // changed: every change is one push or one insert.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn jwks(&self) -> std::sync::MutexGuard<'_, JwksServing> {
        // Every change is one assignment.
        self.jwks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn outage(&self) -> Option<Outage> {
        *self.outage.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl MockIssuer {
    /// Starts the issuer on 127.0.0.1 with a free port.
    ///
    /// # Errors
    ///
    /// When no port can be bound, or a key cannot be made.
    pub async fn start() -> Result<Self, TestKitError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(TestKitError::Io)?;
        let addr = listener.local_addr().map_err(TestKitError::Io)?;
        let mut keys = KeySet {
            signing: HashMap::new(),
            published: Vec::new(),
            made: 0,
        };
        for (alg, kid) in [
            (TestAlgorithm::RS256, "rsa-1"),
            (TestAlgorithm::ES256, "ec-1"),
            (TestAlgorithm::EdDSA, "ed-1"),
            (TestAlgorithm::HS256, "hs-1"),
        ] {
            let key = TestSigningKey::generate(alg, kid)?;
            if key.jwk().is_some() {
                keys.published.push(key.clone());
            }
            keys.signing.insert(alg, key);
            keys.made += 1;
        }
        let shared = Arc::new(Shared {
            base: format!("http://{addr}"),
            keys: Mutex::new(keys),
            outage: Mutex::new(None),
            jwks: Mutex::new(JwksServing::default()),
            jwks_fetches: AtomicU64::new(0),
            discovery_fetches: AtomicU64::new(0),
            introspection_calls: AtomicU64::new(0),
            client: ClientCredentials::generate()?,
            opaque: OpaqueTokens::default(),
        });
        let app = router(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            // Ends when the listener fails, or when the task is aborted on drop.
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            shared,
            addr,
            server,
        })
    }

    /// The `iss` of its tokens: `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.shared.base
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The JWKS URL.
    #[must_use]
    pub fn jwks_url(&self) -> String {
        format!("{}{JWKS_PATH}", self.shared.base)
    }

    /// The discovery document's URL.
    #[must_use]
    pub fn discovery_url(&self) -> String {
        format!("{}{DISCOVERY_PATH}", self.shared.base)
    }

    /// The introspection endpoint's URL.
    #[must_use]
    pub fn introspection_url(&self) -> String {
        format!("{}{INTROSPECTION_PATH}", self.shared.base)
    }

    /// The client id the introspection endpoint accepts:
    /// `test-resource-server`.
    #[must_use]
    pub fn client_id(&self) -> &str {
        self.shared.client.id()
    }

    /// The client secret the introspection endpoint accepts: random, made
    /// at start.
    #[must_use]
    pub fn client_secret(&self) -> &str {
        self.shared.client.secret()
    }

    /// An [`IntrospectionScheme`](crate::introspection::IntrospectionScheme)
    /// builder for this issuer's opaque tokens: the endpoint found through
    /// discovery, this issuer's client credentials (`client_secret_basic`),
    /// `iss` this issuer and [`DEFAULT_AUDIENCE`]. Change what you need
    /// (caches, timeouts, [`signed_answers`][signed]) and build.
    ///
    /// [signed]: crate::introspection::IntrospectionSchemeBuilder::signed_answers
    ///
    /// ```
    /// use authgate::testing::MockIssuer;
    /// use authgate::AuthLayer;
    /// use tower::{service_fn, ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let issuer = MockIssuer::start().await?;
    /// let auth = AuthLayer::builder()
    ///     .scheme(issuer.introspection_scheme().build()?)
    ///     .build()?;
    /// let service = ServiceBuilder::new().layer(auth).service(service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
    /// }));
    ///
    /// let token = issuer.token().subject("alice").mint_opaque();
    /// let call = |token: &str| {
    ///     http::Request::get("/").header("authorization", format!("Bearer {token}")).body(())
    /// };
    /// assert_eq!(service.clone().oneshot(call(&token)?).await?.status(), 200);
    /// issuer.revoke(&token);
    /// assert_eq!(service.oneshot(call("never-minted")?).await?.status(), 401);
    /// assert_eq!(issuer.introspection_calls(), 2);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "introspection")]
    pub fn introspection_scheme(&self) -> crate::introspection::IntrospectionSchemeBuilder {
        crate::introspection::IntrospectionScheme::builder()
            .issuer(self.url())
            .discover_endpoint()
            .client(self.client_id(), self.client_secret())
            .audience(DEFAULT_AUDIENCE)
    }

    /// Makes the opaque token `token` inactive from now on: the
    /// introspection endpoint answers `{"active": false}` for it. Returns
    /// whether it was minted here.
    pub fn revoke(&self, token: &str) -> bool {
        self.shared.opaque.revoke(token)
    }

    /// Introspection requests served so far (failed and refused ones
    /// included).
    #[must_use]
    pub fn introspection_calls(&self) -> u64 {
        self.shared.introspection_calls.load(Ordering::SeqCst)
    }

    /// An [`Issuer`] for this issuer's tokens: [`DEFAULT_AUDIENCE`], keys
    /// from its JWKS URL (RS256, ES256, EdDSA tokens).
    pub fn jwks_issuer(&self) -> Issuer {
        Issuer::new(self.url())
            .audience(DEFAULT_AUDIENCE)
            .jwks_url(self.jwks_url())
    }

    /// An [`Issuer`] that finds the JWKS through OIDC discovery.
    pub fn discovery_issuer(&self) -> Issuer {
        Issuer::new(self.url())
            .audience(DEFAULT_AUDIENCE)
            .oidc_discovery()
    }

    /// An [`Issuer`] with the keys signing now as static keys, the HS256
    /// secret included: no HTTP at all.
    ///
    /// # Errors
    ///
    /// Never in practice: the keys were made by the kit.
    pub fn static_issuer(&self) -> Result<Issuer, TestKitError> {
        let mut issuer = Issuer::new(self.url()).audience(DEFAULT_AUDIENCE);
        let keys: Vec<TestSigningKey> = self.shared.keys().signing.values().cloned().collect();
        for key in keys {
            issuer = issuer.key(key.verifying_key()?);
        }
        Ok(issuer)
    }

    /// Starts a token with default claims: `iss` this issuer, `aud`
    /// [`DEFAULT_AUDIENCE`], `sub` `test-user`, issued now, valid for an
    /// hour, a fresh `jti`; RS256.
    pub fn token(&self) -> TokenBuilder<'_> {
        TokenBuilder::new(self)
    }

    pub(super) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The key `alg` signs with now.
    ///
    /// # Errors
    ///
    /// Never in practice: every algorithm has a key from the start.
    pub fn signing_key(&self, alg: TestAlgorithm) -> Result<TestSigningKey, TestKitError> {
        self.shared
            .keys()
            .signing
            .get(&alg)
            .cloned()
            .ok_or(TestKitError::Key("no key for this algorithm"))
    }

    /// Makes a new key for `alg`, publishes it next to the old ones (except
    /// HS256 secrets) and signs with it from now on; returns its `kid`
    /// (`<alg>-<n>`). RS256 alternates between the two fixed test keys.
    ///
    /// # Errors
    ///
    /// When the random generator fails.
    pub fn rotate(&self, alg: TestAlgorithm) -> Result<String, TestKitError> {
        let mut keys = self.shared.keys();
        keys.made += 1;
        let kid = format!("{}-{}", prefix(alg), keys.made);
        let key = match alg {
            TestAlgorithm::RS256 => {
                let rsa_made = keys
                    .published
                    .iter()
                    .filter(|k| k.algorithm() == TestAlgorithm::RS256)
                    .count();
                TestSigningKey::rsa(&kid, rsa_made)?
            }
            _ => TestSigningKey::generate(alg, &kid)?,
        };
        if key.jwk().is_some() {
            keys.published.push(key.clone());
        }
        keys.signing.insert(alg, key);
        Ok(kid)
    }

    /// Removes the key `kid` from the JWKS; tokens it signed stop verifying
    /// once a verifier refreshes. Returns whether it was published.
    pub fn retire(&self, kid: &str) -> bool {
        let mut keys = self.shared.keys();
        let before = keys.published.len();
        keys.published.retain(|k| k.kid() != kid);
        keys.published.len() != before
    }

    /// Serves exactly these JWKs (raw JSON) from now on, in place of the
    /// issuer's own: keys of your own, or hostile and malformed sets, to
    /// test a verifier against them. [`serve_own_jwks`](Self::serve_own_jwks)
    /// goes back.
    ///
    /// ```
    /// use authgate::testing::{MockIssuer, TestAlgorithm, TestSigningKey};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let issuer = MockIssuer::start().await?;
    /// let mine = TestSigningKey::generate(TestAlgorithm::EdDSA, "mine")?;
    /// issuer.serve_jwks(vec![mine.jwk().cloned().unwrap_or_default()]);
    /// issuer.serve_jwks(vec![serde_json::json!({"kty": "OKP", "kid": "no-key-material"})]);
    /// issuer.jwks_cache_control(Some("public, max-age=1"));
    /// issuer.serve_own_jwks();
    /// # Ok(())
    /// # }
    /// ```
    pub fn serve_jwks(&self, keys: Vec<Value>) {
        self.shared.jwks().replaced = Some(keys);
    }

    /// Serves the issuer's own published keys again. The default.
    pub fn serve_own_jwks(&self) {
        self.shared.jwks().replaced = None;
    }

    /// The `Cache-Control` header of JWKS answers (e.g. `max-age=1`), or
    /// none; a value that is not a valid header value is left out.
    /// Defaults to none.
    pub fn jwks_cache_control(&self, value: Option<&str>) {
        self.shared.jwks().cache_control = value.and_then(|v| http::HeaderValue::from_str(v).ok());
    }

    /// Makes every endpoint fail this way until [`recover`](Self::recover).
    pub fn fail_with(&self, outage: Outage) {
        *self
            .shared
            .outage
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(outage);
    }

    /// Serves normally again.
    pub fn recover(&self) {
        *self
            .shared
            .outage
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// JWKS requests served so far (failed ones included).
    #[must_use]
    pub fn jwks_fetches(&self) -> u64 {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Discovery requests served so far (failed ones included).
    #[must_use]
    pub fn discovery_fetches(&self) -> u64 {
        self.shared.discovery_fetches.load(Ordering::SeqCst)
    }
}

impl Drop for MockIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl fmt::Debug for MockIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockIssuer")
            .field("url", &self.shared.base)
            .field("outage", &self.shared.outage())
            .finish_non_exhaustive()
    }
}

fn prefix(alg: TestAlgorithm) -> &'static str {
    match alg {
        TestAlgorithm::RS256 => "rsa",
        TestAlgorithm::ES256 => "ec",
        TestAlgorithm::EdDSA => "ed",
        TestAlgorithm::HS256 => "hs",
    }
}

/// The issuer's endpoints. Each one counts its requests and honours the
/// current [`Outage`] first.
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(DISCOVERY_PATH, get(discovery))
        .route(JWKS_PATH, get(jwks))
        .route(INTROSPECTION_PATH, post(introspect::introspect))
        .with_state(shared)
}

/// The answer to give instead of the real one, if the issuer is failing.
pub(super) async fn outage(shared: &Shared) -> Option<Response> {
    match shared.outage()? {
        Outage::Status(code) => Some(
            http::StatusCode::from_u16(code)
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
                .into_response(),
        ),
        Outage::Hang => std::future::pending().await,
        Outage::Garbage => Some("{\"keys\": [ not json".into_response()),
        Outage::Oversized => {
            let pad = "x".repeat(OVERSIZED_BYTES);
            Some(format!("{{\"keys\": [], \"pad\": \"{pad}\"}}").into_response())
        }
        Outage::Slow(delay) => {
            tokio::time::sleep(delay).await;
            None
        }
    }
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    if let Some(failure) = outage(&shared).await {
        return failure;
    }
    let base = &shared.base;
    Json(json!({
        "issuer": base,
        "jwks_uri": format!("{base}{JWKS_PATH}"),
        "introspection_endpoint": format!("{base}{INTROSPECTION_PATH}"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_signing_alg_values_supported": ["RS256"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
    }))
    .into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if let Some(failure) = outage(&shared).await {
        return failure;
    }
    let (replaced, cache_control) = {
        let serving = shared.jwks();
        (serving.replaced.clone(), serving.cache_control.clone())
    };
    let keys: Vec<Value> = replaced.unwrap_or_else(|| {
        shared
            .keys()
            .published
            .iter()
            .filter_map(|k| k.jwk().cloned())
            .collect()
    });
    let mut response = Json(json!({ "keys": keys })).into_response();
    if let Some(value) = cache_control {
        response
            .headers_mut()
            .insert(http::header::CACHE_CONTROL, value);
    }
    response
}
