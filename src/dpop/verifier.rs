//! [`Dpop`], the settings, and [`DpopVerifier`], what they build: the
//! mode decisions and the glue that token schemes call.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::Algorithm;
use zeroize::Zeroizing;

use super::check::{proof_algorithm_names, RequestFacts};
use super::htu::normalize_origin;
use super::jwk::ProofKeys;
use super::metrics::{DpopMetrics, Outcome};
use super::nonce::Nonces;
use super::{DpopMode, AUTH_SCHEME, NONCE_HEADER};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::credentials::{Credential, CredentialLocation};
use crate::error::{AuthError, ConfigError, ErrorKind};
use crate::principal::Principal;
use crate::replay::{ReplayCache, ReplayStore, SharedReplayStore};
use crate::scheme::{Challenge, Verification, VerificationState};

/// The proof algorithms accepted by default: asymmetric only.
pub const DEFAULT_PROOF_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

/// DPoP settings, for [`JwtSchemeBuilder::dpop`](crate::jwt::JwtSchemeBuilder::dpop)
/// or [`build`](Self::build) on their own.
///
/// ```
/// use authgate::dpop::{Dpop, DpopMode};
/// use std::time::Duration;
///
/// let dpop = Dpop::new(DpopMode::Required)
///     .public_origin("https://api.example.com")
///     .proof_window(Duration::from_secs(30))
///     .nonce_secret(&[42u8; 32])   // the same on every instance
///     .issuer_mode("https://legacy.example", DpopMode::Allowed);
/// let verifier = dpop.build().unwrap();
/// assert_eq!(verifier.mode(), DpopMode::Required);
/// ```
#[must_use]
pub struct Dpop {
    mode: DpopMode,
    issuers: HashMap<String, DpopMode>,
    origins: Vec<String>,
    algorithms: Vec<Algorithm>,
    window: Duration,
    leeway: Option<Duration>,
    nonce: Option<Zeroizing<Vec<u8>>>,
    nonce_lifetime: Duration,
    store: Option<SharedReplayStore>,
    replay_capacity: u64,
    clock: Option<SharedClock>,
    key_cache_capacity: u64,
}

impl Dpop {
    /// Settings for `mode`, with the defaults below.
    pub fn new(mode: DpopMode) -> Self {
        Self {
            mode,
            issuers: HashMap::new(),
            origins: Vec::new(),
            algorithms: DEFAULT_PROOF_ALGORITHMS.to_vec(),
            window: Duration::from_secs(60),
            leeway: None,
            nonce: None,
            nonce_lifetime: Duration::from_secs(300),
            store: None,
            replay_capacity: 100_000,
            clock: None,
            key_cache_capacity: 10_000,
        }
    }

    /// The externally visible origin (`scheme://host[:port]`) the proofs'
    /// `htu` must name, as clients reach the server: behind a proxy, the
    /// proxy's. Never taken from `Host` or `Forwarded`, which clients
    /// control. Call again for more than one. Required unless the mode is
    /// off.
    pub fn public_origin(mut self, origin: impl Into<String>) -> Self {
        self.origins.push(origin.into());
        self
    }

    /// The proof algorithms accepted. Defaults to
    /// [`DEFAULT_PROOF_ALGORITHMS`]; `HS*` is refused when building.
    /// `EdDSA` also accepts the fully-specified name `Ed25519` (RFC 9864).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How far a proof's `iat` may be from now, either way, before the
    /// leeway is added. Defaults to 60 seconds.
    pub fn proof_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Clock skew added to the proof window. Defaults to the token
    /// scheme's leeway (60 seconds when built on its own).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = Some(leeway);
        self
    }

    /// Requires server nonces (RFC 9449 §8) under a random key: for one
    /// instance. Several instances share [`nonce_secret`](Self::nonce_secret)
    /// instead. Defaults to no nonces.
    pub fn require_nonce(mut self) -> Self {
        let mut key = Zeroizing::new(vec![0u8; 32]);
        if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).is_ok() {
            self.nonce = Some(key);
        } else {
            // Fail closed at build time: an all-zero key is refused there.
            self.nonce = Some(Zeroizing::new(Vec::new()));
        }
        self
    }

    /// Requires server nonces made under this key (at least 32 bytes),
    /// which every instance of the service shares: nonces need no shared
    /// state beyond it. Defaults to no nonces.
    pub fn nonce_secret(mut self, secret: &[u8]) -> Self {
        self.nonce = Some(Zeroizing::new(secret.to_vec()));
        self
    }

    /// How long a nonce stays current. Defaults to 5 minutes.
    pub fn nonce_lifetime(mut self, lifetime: Duration) -> Self {
        self.nonce_lifetime = lifetime;
        self
    }

    /// The mode for tokens whose `iss` is `issuer`, instead of the default
    /// one. Defaults to none.
    pub fn issuer_mode(mut self, issuer: impl Into<String>, mode: DpopMode) -> Self {
        self.issuers.insert(issuer.into(), mode);
        self
    }

    /// Where the `jti`s of accepted proofs are remembered (RFC 9449
    /// §11.1), as nonces of scheme `"dpop"` keyed by the normalised `htu`:
    /// a `RedisReplayStore` (feature `redis`) shares them with every
    /// instance of a fleet, so a proof replayed to another instance is
    /// refused too. A store that cannot answer is a 503, never an
    /// admission. Each `jti` is kept 2 × (proof window + leeway) + 1 s; a
    /// [`ReplayCache`] given here should keep its nonces at least that
    /// long. Defaults to a [`ReplayCache`] of this verifier's own,
    /// bounded by [`replay_capacity`](Self::replay_capacity).
    ///
    /// ```
    /// use authgate::dpop::{Dpop, DpopMode};
    /// use authgate::replay::ReplayCache;
    /// use std::time::Duration;
    ///
    /// let shared = ReplayCache::new(1_000_000, Duration::from_secs(241));
    /// let dpop = Dpop::new(DpopMode::Allowed)
    ///     .public_origin("https://api.example.com")
    ///     .replay_store(shared.clone());
    /// # let _ = dpop.build().unwrap();
    /// ```
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// How many `jti`s the default in-process replay store holds: when it
    /// is full of proofs still inside their window, new proofs are refused
    /// (503) rather than an old `jti` forgotten early, so size it for the
    /// peak proof rate times 2 × (window + leeway). Ignored with a
    /// [`replay_store`](Self::replay_store). Defaults to 100 000.
    pub fn replay_capacity(mut self, capacity: u64) -> Self {
        self.replay_capacity = capacity;
        self
    }

    /// The clock `iat` and nonces are checked against. Defaults to the
    /// token scheme's (the system clock when built on its own).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Builds the verifier on its own, for a token scheme of your own.
    ///
    /// # Errors
    ///
    /// See [`JwtSchemeBuilder::build`](crate::jwt::JwtSchemeBuilder::build):
    /// DPoP on without a public origin, an origin with a path, a symmetric
    /// or empty algorithm list, a nonce secret under 32 bytes.
    pub fn build(self) -> Result<DpopVerifier, ConfigError> {
        self.finish(Duration::from_secs(60), Arc::new(SystemClock))
    }

    /// Builds with the token scheme's leeway and clock as defaults.
    pub(crate) fn finish(
        self,
        leeway: Duration,
        clock: SharedClock,
    ) -> Result<DpopVerifier, ConfigError> {
        let bad = |why: &'static str| ConfigError::InvalidSetting {
            setting: "dpop",
            why,
        };
        let any_dpop = self.mode.accepts_dpop() || self.issuers.values().any(|m| m.accepts_dpop());
        if any_dpop && self.origins.is_empty() {
            return Err(bad(
                "DPoP needs the public origin clients reach the server at",
            ));
        }
        let origins = self
            .origins
            .iter()
            .map(|o| normalize_origin(o))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("a public origin is scheme://host[:port], without a path"))?;
        if self.algorithms.is_empty() {
            return Err(bad("DPoP needs at least one proof algorithm"));
        }
        if self
            .algorithms
            .iter()
            .any(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        {
            return Err(bad("DPoP proofs are signed with asymmetric keys only"));
        }
        if self.window.is_zero() {
            return Err(bad("the proof window must be at least one second"));
        }
        let nonces = match &self.nonce {
            Some(secret) if secret.len() < 32 || secret.iter().all(|&b| b == 0) => {
                return Err(bad("a DPoP nonce secret needs at least 32 random bytes"));
            }
            Some(secret) => Some(Nonces::new(secret, self.nonce_lifetime.as_secs().max(1))),
            None => None,
        };
        let window = self
            .window
            .saturating_add(self.leeway.unwrap_or(leeway))
            .as_secs();
        // A proof stamped `window` ahead stays acceptable for 2 × window,
        // plus the second the whole-second check rounds away.
        let replay_ttl = Duration::from_secs(window.saturating_mul(2).saturating_add(1));
        if self.store.is_none() && self.replay_capacity == 0 {
            return Err(bad(
                "the DPoP replay store needs room for at least one proof",
            ));
        }
        let challenge = Challenge::new(AUTH_SCHEME)
            .param("algs", proof_algorithm_names(&self.algorithms).join(" "))?;
        Ok(DpopVerifier {
            inner: Arc::new(Inner {
                mode: self.mode,
                issuers: self.issuers,
                origins,
                algorithms: self.algorithms,
                window,
                nonces,
                store: self.store.unwrap_or_else(|| {
                    Arc::new(ReplayCache::new(self.replay_capacity, replay_ttl))
                }),
                replay_ttl,
                clock: self.clock.unwrap_or(clock),
                keys: ProofKeys::new(self.key_cache_capacity),
                challenge,
                metrics: DpopMetrics::new(),
            }),
        })
    }
}

impl Default for Dpop {
    /// DPoP off.
    fn default() -> Self {
        Self::new(DpopMode::Off)
    }
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("mode", &self.mode)
            .field("issuers", &self.issuers)
            .field("origins", &self.origins)
            .field("algorithms", &self.algorithms)
            .field("window", &self.window)
            .field("nonces", &self.nonce.is_some())
            .finish_non_exhaustive()
    }
}

/// Checks DPoP proofs and decides, per token, whether Bearer or DPoP is
/// acceptable. Built from [`Dpop`]; cheap to clone.
///
/// Token schemes call [`enforce`](Self::enforce) on their verification;
/// [`check_proof`](Self::check_proof) is the proof check alone.
///
/// ```
/// use authgate::dpop::{Dpop, DpopMode};
///
/// let verifier = Dpop::new(DpopMode::Allowed).public_origin("https://api.example").build().unwrap();
/// assert_eq!(verifier.challenge().to_string(),
///            r#"DPoP algs="ES256 ES384 RS256 PS256 EdDSA Ed25519""#);
/// ```
#[derive(Clone)]
pub struct DpopVerifier {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) mode: DpopMode,
    issuers: HashMap<String, DpopMode>,
    pub(super) origins: Vec<String>,
    pub(super) algorithms: Vec<Algorithm>,
    /// Proof window plus leeway, in seconds.
    pub(super) window: u64,
    pub(super) nonces: Option<Nonces>,
    pub(super) store: SharedReplayStore,
    /// How long a `jti` is remembered: 2 × window + 1 s.
    pub(super) replay_ttl: Duration,
    pub(super) clock: SharedClock,
    pub(super) keys: ProofKeys,
    challenge: Challenge,
    pub(super) metrics: DpopMetrics,
}

/// Whether a credential came as `Authorization: DPoP`.
fn presented_as_dpop(credential: &Credential) -> bool {
    matches!(credential.location(), CredentialLocation::Authorization { scheme, .. }
        if scheme.eq_ignore_ascii_case(AUTH_SCHEME))
}

/// An `invalid_token` error on the challenge of `auth_scheme`.
pub(super) fn token_error(description: &'static str, auth_scheme: &'static str) -> AuthError {
    AuthError::new(ErrorKind::InvalidFormat)
        .with_description(description)
        .with_challenge_detail(|d| d.auth_scheme = Some(auth_scheme))
}

impl DpopVerifier {
    /// A verifier with DPoP off: it only refuses DPoP-bound tokens
    /// presented as `Bearer`.
    pub(crate) fn off() -> Self {
        // Off needs no origin and has valid defaults: this cannot fail.
        Dpop::default()
            .build()
            .unwrap_or_else(|_| unreachable_off())
    }

    /// The default mode.
    #[must_use]
    pub fn mode(&self) -> DpopMode {
        self.inner.mode
    }

    /// The mode for tokens from `issuer`.
    #[must_use]
    pub fn mode_for(&self, issuer: Option<&str>) -> DpopMode {
        issuer
            .and_then(|iss| self.inner.issuers.get(iss))
            .copied()
            .unwrap_or(self.inner.mode)
    }

    fn accepts(&self, test: fn(DpopMode) -> bool) -> bool {
        test(self.inner.mode) || self.inner.issuers.values().any(|m| test(*m))
    }

    /// Where a token scheme finds its tokens under these modes:
    /// `Authorization: Bearer` unless every mode is required,
    /// `Authorization: DPoP` unless every mode is off.
    #[must_use]
    pub fn locations(&self) -> Vec<CredentialLocation> {
        let mut locations = Vec::with_capacity(2);
        if self.accepts(DpopMode::accepts_bearer) {
            locations.push(CredentialLocation::authorization("Bearer"));
        }
        if self.accepts(DpopMode::accepts_dpop) {
            locations.push(CredentialLocation::authorization(AUTH_SCHEME));
        }
        locations
    }

    /// The `DPoP algs="…"` challenge.
    #[must_use]
    pub fn challenge(&self) -> Challenge {
        self.inner.challenge.clone()
    }

    /// The challenges of a token scheme whose bearer challenge is
    /// `bearer`: it alone, with the DPoP one, or the DPoP one alone,
    /// following [`locations`](Self::locations).
    #[must_use]
    pub fn challenges(&self, bearer: Challenge) -> Challenge {
        match (
            self.accepts(DpopMode::accepts_bearer),
            self.accepts(DpopMode::accepts_dpop),
        ) {
            (true, true) => bearer.or(self.challenge()),
            (false, _) => self.challenge(),
            (true, false) => bearer,
        }
    }

    /// The headers a granted request's response gets: the next nonce,
    /// when nonces are on and the request came with DPoP.
    #[must_use]
    pub fn response_headers(&self, credential: &Credential) -> Option<HeaderMap> {
        let nonce = self
            .current_nonce()
            .filter(|_| presented_as_dpop(credential))?;
        let mut headers = HeaderMap::with_capacity(1);
        headers.insert(NONCE_HEADER, HeaderValue::from_str(&nonce).ok()?);
        Some(headers)
    }

    /// A fresh server nonce, when nonces are on.
    #[must_use]
    pub fn current_nonce(&self) -> Option<String> {
        let nonces = self.inner.nonces.as_ref()?;
        Some(nonces.issue(self.inner.clock.unix_now()))
    }

    /// Applies DPoP to a token scheme's verification of `credential`, now
    /// or when it finishes: a token with `cnf.jkt` needs `Authorization:
    /// DPoP` and a valid proof for its key; a token without one needs
    /// `Bearer` and a mode that accepts it; a cached token is judged like a
    /// fresh one. Errors are aimed at the challenge of the scheme the
    /// client used.
    ///
    /// ```
    /// use authgate::dpop::{Dpop, DpopMode};
    /// use authgate::{Credential, CredentialLocation, Principal, Verification};
    ///
    /// let verifier = Dpop::new(DpopMode::Required).public_origin("https://api.example").build().unwrap();
    /// let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let bearer = Credential::new(CredentialLocation::authorization("Bearer"), "t");
    /// let verified = Verification::ready(Ok(Principal::new("alice", "custom")));
    /// // DPoP is required: a bearer token is refused.
    /// let _ = verifier.enforce(verified, &bearer, &parts);
    /// ```
    #[must_use]
    pub fn enforce(
        &self,
        verification: Verification,
        credential: &Credential,
        parts: &Parts,
    ) -> Verification {
        let dpop = presented_as_dpop(credential);
        let auth_scheme = if dpop { AUTH_SCHEME } else { "Bearer" };
        match verification.0 {
            VerificationState::Ready(Err(error)) => {
                Verification::ready(Err(aim(error, auth_scheme)))
            }
            VerificationState::Ready(Ok(principal)) => {
                if !dpop {
                    return Verification::ready(self.judge_bearer(principal));
                }
                let facts = RequestFacts::new(parts);
                let token = credential.value();
                match self.bound_key(&principal) {
                    Err(error) => Verification::ready(Err(error)),
                    Ok(jkt) => {
                        let check = self.check_facts(&facts, token, &jkt);
                        match check.into_ready() {
                            Ok(result) => Verification::ready(result.map(|_| principal)),
                            Err(pending) => {
                                Verification::pending(
                                    async move { pending.await.map(|_| principal) },
                                )
                            }
                        }
                    }
                }
            }
            VerificationState::Pending(future) => {
                let this = self.clone();
                let facts = dpop.then(|| RequestFacts::new(parts));
                let token = Zeroizing::new(credential.value().to_owned());
                Verification::pending(async move {
                    let principal = future.await.map_err(|e| aim(e, auth_scheme))?;
                    let Some(facts) = facts else {
                        return this.judge_bearer(principal);
                    };
                    let jkt = this.bound_key(&principal)?;
                    this.check_facts(&facts, &token, &jkt).await?;
                    Ok(principal)
                })
            }
        }
    }

    /// A token presented as `Bearer`: refused when it is DPoP-bound (no
    /// downgrade) or its issuer's mode requires DPoP.
    fn judge_bearer(&self, principal: Principal) -> Result<Principal, AuthError> {
        if principal
            .claim("cnf")
            .and_then(serde_json::Value::as_object)
            .is_some_and(|cnf| cnf.contains_key("jkt"))
        {
            self.inner.metrics.record(Outcome::Downgrade);
            return Err(token_error(
                "the token is bound to a DPoP key: send it as Authorization: DPoP with a proof",
                "Bearer",
            ));
        }
        if !self.mode_for(issuer(&principal)).accepts_bearer() {
            return Err(token_error("tokens of this issuer need DPoP", "Bearer"));
        }
        Ok(principal)
    }

    /// The `cnf.jkt` of a token presented as `DPoP`.
    fn bound_key(&self, principal: &Principal) -> Result<String, AuthError> {
        if !self.mode_for(issuer(principal)).accepts_dpop() {
            return Err(token_error(
                "DPoP is not accepted for tokens of this issuer",
                AUTH_SCHEME,
            ));
        }
        principal
            .claim("cnf")
            .and_then(|cnf| cnf.get("jkt"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| token_error("the token is not bound to a DPoP key", AUTH_SCHEME))
    }
}

fn issuer(principal: &Principal) -> Option<&str> {
    principal.claim("iss").and_then(serde_json::Value::as_str)
}

/// Aims an error at the challenge of the scheme the client used, unless it
/// already names one.
fn aim(error: AuthError, auth_scheme: &'static str) -> AuthError {
    if error
        .challenge_detail()
        .is_some_and(|d| d.auth_scheme.is_some())
    {
        return error;
    }
    error.with_challenge_detail(|d| d.auth_scheme = Some(auth_scheme))
}

#[cold]
fn unreachable_off() -> DpopVerifier {
    // `Dpop::default()` is off, has no origin to check, a non-empty
    // asymmetric algorithm list, a 60 s window and no nonce: `finish`
    // accepts it. Should that ever change, refuse everything rather than
    // panic: a verifier whose mode is off with no origin still builds.
    DpopVerifier {
        inner: Arc::new(Inner {
            mode: DpopMode::Off,
            issuers: HashMap::new(),
            origins: Vec::new(),
            algorithms: Vec::new(),
            window: 0,
            nonces: None,
            store: Arc::new(ReplayCache::new(1, Duration::from_secs(1))),
            replay_ttl: Duration::from_secs(1),
            clock: Arc::new(SystemClock),
            keys: ProofKeys::new(1),
            challenge: Challenge::new(AUTH_SCHEME),
            metrics: DpopMetrics::new(),
        }),
    }
}

impl fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopVerifier")
            .field("mode", &self.inner.mode)
            .field("origins", &self.inner.origins)
            .field("window_secs", &self.inner.window)
            .field("nonces", &self.inner.nonces.is_some())
            .finish_non_exhaustive()
    }
}
