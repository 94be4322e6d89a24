//! [`MockIssuer`]: a real OpenID Connect issuer on 127.0.0.1, for tests.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::signing_key::{TestAlgorithm, TestSigningKey};
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
}

/// A real OpenID Connect issuer serving discovery and a JWKS over HTTP on
/// 127.0.0.1 (a port of its own), which mints tokens with the keys it
/// publishes.
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
struct Shared {
    base: String,
    keys: Mutex<KeySet>,
    outage: Mutex<Option<Outage>>,
    jwks_fetches: AtomicU64,
    discovery_fetches: AtomicU64,
}

struct KeySet {
    /// The key each algorithm signs with now.
    signing: HashMap<TestAlgorithm, TestSigningKey>,
    /// Every key in the JWKS, in order of publication.
    published: Vec<TestSigningKey>,
    /// Keys made so far, for fresh `kid`s.
    made: usize,
}

impl Shared {
    fn keys(&self) -> std::sync::MutexGuard<'_, KeySet> {
        // A panic while holding the lock cannot leave the key set half
        // changed: every change is one push or one insert.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
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
            jwks_fetches: AtomicU64::new(0),
            discovery_fetches: AtomicU64::new(0),
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
/// current [`Outage`] first; a new endpoint (token introspection) is one
/// more route of the same shape.
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(DISCOVERY_PATH, get(discovery))
        .route(JWKS_PATH, get(jwks))
        .with_state(shared)
}

/// The answer to give instead of the real one, if the issuer is failing.
async fn outage(shared: &Shared) -> Option<Response> {
    match shared.outage()? {
        Outage::Status(code) => Some(
            http::StatusCode::from_u16(code)
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
                .into_response(),
        ),
        Outage::Hang => std::future::pending().await,
        Outage::Garbage => Some("{\"keys\": [ not json".into_response()),
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
    let keys: Vec<Value> = shared
        .keys()
        .published
        .iter()
        .filter_map(|k| k.jwk().cloned())
        .collect();
    Json(json!({ "keys": keys })).into_response()
}

/// Builds one token of a [`MockIssuer`]: start with
/// [`MockIssuer::token`], end with [`mint`](Self::mint).
///
/// ```
/// use authgate::testing::{MockIssuer, TestAlgorithm};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let issuer = MockIssuer::start().await.unwrap();
/// let token = issuer
///     .token()
///     .subject("alice")
///     .scopes("orders:read orders:write")
///     .claim("tenant", "acme")
///     .algorithm(TestAlgorithm::ES256)
///     .lifetime(Duration::from_secs(300))
///     .token_type("at+jwt")
///     .mint();
/// # let _ = token;
/// let expired = issuer.token().expired().mint();
/// # let _ = expired;
/// # }
/// ```
#[must_use]
pub struct TokenBuilder<'a> {
    issuer: &'a MockIssuer,
    claims: Map<String, Value>,
    /// Claims left out on purpose, default time claims included.
    removed: Vec<String>,
    alg: TestAlgorithm,
    kid: Option<String>,
    typ: Option<String>,
    issued_at: u64,
    lifetime: i64,
}

impl<'a> TokenBuilder<'a> {
    fn new(issuer: &'a MockIssuer) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(issuer.url()));
        claims.insert("aud".into(), json!(DEFAULT_AUDIENCE));
        claims.insert("sub".into(), json!("test-user"));
        claims.insert("jti".into(), json!(next_jti()));
        Self {
            issuer,
            claims,
            removed: Vec::new(),
            alg: TestAlgorithm::RS256,
            kid: None,
            typ: None,
            issued_at: now,
            lifetime: 3600,
        }
    }

    /// `sub`. Defaults to `test-user`.
    pub fn subject(self, subject: &str) -> Self {
        self.claim("sub", subject)
    }

    /// `aud`. Defaults to [`DEFAULT_AUDIENCE`].
    pub fn audience(self, audience: &str) -> Self {
        self.claim("aud", audience)
    }

    /// `scope`, space-separated. Defaults to none.
    pub fn scopes(self, scopes: &str) -> Self {
        self.claim("scope", scopes)
    }

    /// Any claim, replacing one set before (`iss`, `aud`, `exp` included).
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.removed.retain(|r| r != name);
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Leaves a claim out (`exp`, `iss`, …).
    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self.removed.push(name.to_owned());
        self
    }

    /// Valid for this long from `iat`. Defaults to an hour.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// Expired a minute ago (beyond the usual leeway).
    pub fn expired(mut self) -> Self {
        self.lifetime = -120;
        self
    }

    /// `iat` and `nbf` at this Unix time (for a manual clock); `exp`
    /// follows from the lifetime. Defaults to now.
    pub fn issued_at(mut self, unix_secs: u64) -> Self {
        self.issued_at = unix_secs;
        self
    }

    /// The signing algorithm, with the issuer's current key for it.
    /// Defaults to RS256.
    pub fn algorithm(mut self, alg: TestAlgorithm) -> Self {
        self.alg = alg;
        self
    }

    /// The `kid` header, in place of the signing key's own (to test
    /// unknown key ids).
    pub fn kid(mut self, kid: &str) -> Self {
        self.kid = Some(kid.to_owned());
        self
    }

    /// The `typ` header, e.g. `at+jwt` (RFC 9068). Defaults to `JWT`.
    pub fn token_type(mut self, typ: &str) -> Self {
        self.typ = Some(typ.to_owned());
        self
    }

    /// The claims as they will be signed.
    #[must_use]
    pub fn claims(&self) -> Value {
        let mut claims = self.claims.clone();
        let exp = i64::try_from(self.issued_at)
            .unwrap_or(i64::MAX)
            .saturating_add(self.lifetime);
        let defaults = [
            ("iat", json!(self.issued_at)),
            ("nbf", json!(self.issued_at)),
            ("exp", json!(exp.max(0))),
        ];
        for (name, value) in defaults {
            let removed = self.removed.iter().any(|r| r == name);
            if !removed && !claims.contains_key(name) {
                claims.insert(name.into(), value);
            }
        }
        Value::Object(claims)
    }

    /// Signs the token.
    ///
    /// # Errors
    ///
    /// When signing fails (never with the kit's own keys).
    pub fn try_mint(self) -> Result<String, TestKitError> {
        let key = self.issuer.signing_key(self.alg)?;
        let mut header = key.header();
        if let Some(kid) = &self.kid {
            header.kid = Some(kid.clone());
        }
        if let Some(typ) = &self.typ {
            header.typ = Some(typ.clone());
        }
        key.sign_with(&header, &self.claims())
    }

    /// Signs the token.
    ///
    /// # Panics
    ///
    /// When signing fails, which the kit's own keys never do: a test kit
    /// fails loudly. [`try_mint`](Self::try_mint) returns the error instead.
    #[allow(clippy::expect_used)] // a test helper: failing loudly is its job
    #[must_use]
    pub fn mint(self) -> String {
        self.try_mint()
            .expect("the test kit could not sign a token")
    }
}

impl fmt::Debug for TokenBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBuilder")
            .field("claims", &self.claims())
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// A `jti` unique in this process.
fn next_jti() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("test-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
