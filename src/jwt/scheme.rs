//! [`JwtScheme`]: the verifier for `Authorization: Bearer <jwt>`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use moka::sync::Cache;
use moka::Expiry;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::claims::{ClaimRules, TokenClaims, Validated, ALL_ALGORITHMS};
use super::issuer::{Issuer, KeySource, DEFAULT_ALGORITHMS};
use super::jwks::{self, JwksCache, JwksFetcher, JwksSettings, Location};
use super::key::{self, JwtKey};
use super::profile::Profile;
use super::revocation::Revocation;
use super::token::{self, invalid, Jws, KidlessKeys, Scratch, Selection};
use crate::clock::{SharedClock, SystemClock};
use crate::credentials::{Credential, CredentialLocation};
use crate::error::{AuthError, ConfigError, ErrorKind};
use crate::hot::{self, HotTable};
use crate::principal::Principal;
use crate::scheme::{Challenge, Scheme, Verification, VerificationState, VerifyContext};

/// The name JWT principals carry in [`Principal::scheme`].
pub const SCHEME_NAME: &str = "jwt";

/// JWT bearer tokens (RFC 6750, RFC 9068): `Authorization: Bearer <jwt>`.
///
/// For each token: the header is parsed (`alg: none`, unknown algorithms
/// and any `crit` are refused); the unverified `iss` picks a configured
/// [`Issuer`] (an unknown one is a 401 without network traffic); the key is
/// selected by `kid` and must fit the `alg`; the signature is verified;
/// then `exp`, `nbf`, `iat` (with leeway), `iss`, `aud`, required claims
/// and `typ`; then revocation. Validated tokens are cached until their
/// `exp`, so a token seen again costs a hash, a comparison and the
/// revocation check.
///
/// # Example
///
/// ```
/// use authgate::jwt::{Issuer, JwtKey, JwtScheme};
/// use authgate::AuthLayer;
/// use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
/// use tower::{service_fn, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let secret = [7u8; 32];
/// let scheme = JwtScheme::builder()
///     .issuer(Issuer::new("https://login.example").audience("api")
///         .key(JwtKey::shared_secret(&secret)?))
///     .build()?;
/// let layer = AuthLayer::builder().scheme(scheme).build()?;
///
/// authgate::jwt::install_default();
/// let token = encode(&Header::new(Algorithm::HS256), &serde_json::json!({
///     "iss": "https://login.example", "aud": "api", "sub": "alice",
///     "exp": 4_000_000_000u64, "scope": "orders:read",
/// }), &EncodingKey::from_secret(&secret))?;
///
/// let service = tower::ServiceBuilder::new().layer(layer).service(service_fn(
///     |req: http::Request<()>| async move {
///         let p = req.extensions().get::<authgate::Principal>().cloned();
///         Ok::<_, std::convert::Infallible>(http::Response::new(p.map(|p| p.subject().to_owned())))
///     },
/// ));
/// let request = http::Request::get("/").header("authorization", format!("Bearer {token}")).body(())?;
/// let response = service.oneshot(request).await?;
/// assert_eq!(response.status(), 200);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct JwtScheme {
    inner: Arc<Inner>,
}

/// This thread's table of cached tokens, each with its own copy of the
/// principal, and of tokens remembered as forged: see [`crate::hot`].
type HotTokens = HotTable<HotToken>;

/// An entry of [`HotTokens`].
enum HotToken {
    /// A validated token, with this thread's copy of its principal.
    Valid(Arc<CachedToken>, Principal),
    /// A token whose signature failed (from [`Inner::forged`]): the same
    /// forgery presented again is refused without a shared-cache read.
    Forged(Arc<Zeroizing<Vec<u8>>>),
}

/// What the token caches say of a presented token.
enum Cached {
    /// A validated token: its judgement now, and whether it is a [plain
    /// bearer token](CachedToken::plain_bearer).
    Hit(Result<Principal, AuthError>, bool),
    /// A token this thread's table holds as forged.
    Forged,
    /// Neither.
    Miss,
}

thread_local! {
    static HOT_TOKENS: RefCell<HotTokens> = const { RefCell::new(HotTable::new()) };
}

struct Inner {
    /// This scheme among others, in the per-thread tables.
    id: u64,
    /// Bumped when the token cache is cleared: per-thread entries taken
    /// before are not used again.
    generation: AtomicU64,
    issuers: HashMap<String, Arc<IssuerState>>,
    rules: ClaimRules,
    /// RFC 9068 strict mode and the maximum lifetime.
    profile: Profile,
    revocation: Option<Arc<dyn Revocation>>,
    cache: Option<Cache<u64, Arc<CachedToken>, KeyIsHash>>,
    /// Tokens whose signature failed under an issuer's static keys, which
    /// never change: the same forgery presented again is answered after a
    /// hash and a comparison instead of a signature check. Bounded like
    /// the token cache, each entry kept [`FORGED_TTL`].
    forged: Option<ForgedTokens>,
    /// The secret keys of [`cache_key`].
    hash_keys: HashKeys,
    clock: SharedClock,
    metrics: crate::telemetry::CacheMetrics,
    /// DPoP-bound tokens (RFC 9449): checked on every request, cached or not.
    dpop: crate::dpop::DpopVerifier,
}

/// Tokens whose signature failed, by [`cache_key`].
type ForgedTokens = Cache<u64, Arc<Zeroizing<Vec<u8>>>, KeyIsHash>;

struct IssuerState {
    iss: String,
    /// `iss` as the claim value its principals lend before they build
    /// their claims map.
    iss_claim: Arc<serde_json::Value>,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    keys: Keys,
}

enum Keys {
    Static(Vec<JwtKey>),
    Jwks(Arc<JwksCache>),
}

/// A token whose signature and claims passed, before it is admitted:
/// its checked facts and whether it has a `cnf` claim.
type Checked = (Validated, bool);

/// A validated token, kept until its `exp`.
struct CachedToken {
    /// The scheme's generation when the token's verification began: the
    /// entry is used only while the generation is unchanged, so that a
    /// verification in flight across [`JwtScheme::clear_token_cache`] never
    /// serves later requests.
    generation: u64,
    token: Zeroizing<Vec<u8>>,
    issuer: Arc<IssuerState>,
    validated: Validated,
    /// No `cnf` claim, and DPoP (if configured) accepts its issuer's tokens
    /// as `Bearer`: presented as `Bearer`, neither the certificate binding
    /// nor DPoP has anything to check on a hit.
    plain_bearer: bool,
}

impl JwtScheme {
    /// Starts configuring a scheme.
    pub fn builder() -> JwtSchemeBuilder {
        JwtSchemeBuilder {
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

    /// Number of JWKS and discovery fetches made so far for `iss` (`None`
    /// for an unknown issuer or one with static keys).
    #[must_use]
    pub fn jwks_fetches(&self, iss: &str) -> Option<u64> {
        match &self.inner.issuers.get(iss)?.keys {
            Keys::Jwks(cache) => Some(cache.fetch_count()),
            Keys::Static(_) => None,
        }
    }

    /// Whether `token` is a well-formed JWS whose unverified `iss` is one of
    /// this scheme's issuers: what
    /// [`jwt_or_opaque`](crate::introspection::jwt_or_opaque) routes on.
    /// Nothing is verified; only the payload is decoded.
    ///
    /// ```
    /// # use authgate::jwt::{Issuer, JwtKey, JwtScheme};
    /// let scheme = JwtScheme::builder()
    ///     .issuer(Issuer::new("https://login.example").audience("api")
    ///         .key(JwtKey::shared_secret(&[7u8; 32]).unwrap()))
    ///     .build()
    ///     .unwrap();
    /// assert!(!scheme.names_trusted_issuer("an-opaque-token"));
    /// ```
    #[must_use]
    pub fn names_trusted_issuer(&self, token: &str) -> bool {
        // A token in the validated-token cache named a trusted issuer: the
        // cached path stays free of a second decoding.
        self.inner.is_cached(token)
            || super::route::unverified_issuer(token)
                .is_some_and(|iss| self.inner.issuers.contains_key(&*iss))
    }

    /// Number of validated tokens cached, after pending maintenance.
    #[must_use]
    pub fn cached_tokens(&self) -> u64 {
        self.inner.cache.as_ref().map_or(0, |c| {
            c.run_pending_tasks();
            c.entry_count()
        })
    }

    /// Forgets every cached validated token (they are verified again on
    /// their next use) and every fetched key set (the next token of a JWKS
    /// issuer waits for a fresh one: 503 while its key server cannot be
    /// reached).
    ///
    /// Call it after an identity provider removed a compromised key from
    /// its JWKS: neither a cached token nor a new one signed with the
    /// removed key passes afterwards. Once this returns, no request that
    /// starts afterwards, on any thread, is granted from an entry cached
    /// before, even by a verification that was in flight.
    ///
    /// ```
    /// # use authgate::jwt::{Issuer, JwtKey, JwtScheme};
    /// let scheme = JwtScheme::builder()
    ///     .issuer(Issuer::new("https://login.example").audience("api")
    ///         .key(JwtKey::shared_secret(&[7u8; 32]).unwrap()))
    ///     .build()
    ///     .unwrap();
    /// scheme.clear_token_cache();
    /// assert_eq!(scheme.cached_tokens(), 0);
    /// ```
    pub fn clear_token_cache(&self) {
        // Key sets first: a token verified from here on needs a fresh set.
        for issuer in self.inner.issuers.values() {
            if let Keys::Jwks(keys) = &issuer.keys {
                keys.require_refetch();
            }
        }
        if let Some(cache) = &self.inner.cache {
            self.inner.generation.fetch_add(1, Ordering::SeqCst);
            cache.invalidate_all();
        }
        if let Some(forged) = &self.inner.forged {
            forged.invalidate_all();
        }
    }
}

/// How long a token whose signature failed is remembered.
const FORGED_TTL: Duration = Duration::from_secs(3600);

/// Whether two tokens are equal, in constant time for equal lengths.
///
/// Every byte pair is XORed and ORed into one accumulator, with no branch
/// on the data (64 bytes per step, which the compiler turns into vector
/// instructions; the last step takes the last 64 bytes, overlapping the
/// one before, instead of a byte at a time), and that accumulator compared
/// with `subtle`: the cache-hit path is meant to stay well under a
/// microsecond, and a per-byte `ct_eq` over a kilobyte token costs more
/// than everything else on it.
fn same_token(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = if a.len() < LANES {
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))
    } else {
        let mut lanes = [0u8; LANES];
        let mut step = |x: &[u8], y: &[u8]| {
            if let (Ok(x), Ok(y)) = (<&[u8; LANES]>::try_from(x), <&[u8; LANES]>::try_from(y)) {
                for ((lane, x), y) in lanes.iter_mut().zip(x).zip(y) {
                    *lane |= x ^ y;
                }
            }
        };
        for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
            step(x, y);
        }
        let last = a.len() - LANES;
        step(
            a.get(last..).unwrap_or_default(),
            b.get(last..).unwrap_or_default(),
        );
        lanes.iter().fold(0u8, |acc, lane| acc | lane)
    };
    difference.ct_eq(&0).into()
}

/// The bytes [`same_token`] compares per step.
const LANES: usize = 64;

/// The secret keys of [`cache_key`], drawn once per scheme.
#[derive(Clone, Copy)]
struct HashKeys([u64; 3]);

impl HashKeys {
    fn random() -> Self {
        let state = std::collections::hash_map::RandomState::new();
        Self([0u64, 1, 2].map(|i| state.hash_one(i)))
    }
}

/// The 128-bit product of `a` and `b`, folded to 64 bits.
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    // Both halves, on purpose.
    #[allow(clippy::cast_possible_truncation)]
    let (low, high) = (product as u64, (product >> 64) as u64);
    low ^ high
}

/// The cache key: a keyed hash of the token's length and last 16 bytes,
/// which lie in its signature (a signed token's most random part), with
/// keys drawn once per scheme. Collisions only cost a miss: a hit is
/// confirmed by comparing the whole token.
fn cache_key(keys: HashKeys, token: &[u8]) -> u64 {
    let mut tail = [0u8; 16];
    let start = token.len().saturating_sub(16);
    for (t, b) in tail.iter_mut().zip(token.get(start..).unwrap_or_default()) {
        *t = *b;
    }
    let (high, low) = tail.split_at(8);
    let word = |half: &[u8]| <[u8; 8]>::try_from(half).map_or(0, u64::from_le_bytes);
    let [k0, k1, k2] = keys.0;
    let mixed = folded_multiply(word(high) ^ k0, word(low) ^ k1);
    folded_multiply(mixed ^ k2, (token.len() as u64) ^ k0.rotate_left(32))
}

/// The token cache's keys are already keyed hashes: hashing them again
/// would be wasted work on every request.
#[derive(Clone, Copy, Debug, Default)]
struct KeyIsHash;

impl BuildHasher for KeyIsHash {
    type Hasher = PassThrough;

    fn build_hasher(&self) -> PassThrough {
        PassThrough(0)
    }
}

/// Hands a `u64` key through unchanged; any other input is folded in with
/// FNV-1a so that the hasher stays correct if it ever sees one.
#[derive(Debug)]
struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

impl Inner {
    /// Whether `token` is in this thread's table or the shared cache under
    /// the current generation (nothing is judged).
    fn is_cached(&self, token: &str) -> bool {
        let Some(cache) = &self.cache else {
            return false;
        };
        let generation = self.generation.load(Ordering::SeqCst);
        let key = cache_key(self.hash_keys, token.as_bytes());
        let now = self.clock.unix_now();
        let same = |entry: &CachedToken| {
            entry.generation == generation && same_token(&entry.token, token.as_bytes())
        };
        HOT_TOKENS
            .try_with(|table| {
                let table = table.try_borrow().ok()?;
                match table.get(self.id, generation, key, now)? {
                    HotToken::Valid(entry, _) => Some(same(entry)),
                    HotToken::Forged(_) => None,
                }
            })
            .ok()
            .flatten()
            .unwrap_or_else(|| cache.get(&key).is_some_and(|entry| same(&entry)))
    }

    /// A cached validated token: from this thread's table when it holds a
    /// current entry, else from the shared cache (and then kept in the
    /// table). The time claims and revocation are checked on every hit.
    ///
    /// With the result, whether the entry is a [plain bearer
    /// token](CachedToken::plain_bearer).
    fn cached(&self, key: u64, token: &[u8], generation: u64) -> Cached {
        let Some(cache) = self.cache.as_ref() else {
            return Cached::Miss;
        };
        let now = self.clock.unix_now();
        let hot = HOT_TOKENS
            .try_with(|table| {
                let table = table.try_borrow().ok()?;
                match table.get(self.id, generation, key, now)? {
                    HotToken::Valid(entry, principal) => {
                        same_token(&entry.token, token).then(|| {
                            Cached::Hit(
                                self.judge_cached(now, entry, principal),
                                entry.plain_bearer,
                            )
                        })
                    }
                    HotToken::Forged(forged) => {
                        same_token(&forged[..], token).then_some(Cached::Forged)
                    }
                }
            })
            .ok()
            .flatten();
        if let Some(hot) = hot {
            return hot;
        }
        let Some(entry) = cache.get(&key) else {
            return Cached::Miss;
        };
        if entry.generation != generation || !same_token(&entry.token, token) {
            return Cached::Miss;
        }
        let result = self.judge_cached(now, &entry, &entry.validated.principal);
        let plain = entry.plain_bearer;
        let principal = entry.validated.principal.unshared();
        keep_hot(
            self.id,
            generation,
            key,
            now,
            HotToken::Valid(entry, principal),
        );
        Cached::Hit(result, plain)
    }

    /// Whether `token` is one whose signature already failed (the shared
    /// table of forgeries; this thread's table was asked first). A hit is
    /// kept in this thread's table.
    fn known_forged(&self, (key, generation): (u64, u64), token: &[u8]) -> bool {
        let Some(entry) = self.forged.as_ref().and_then(|forged| forged.get(&key)) else {
            return false;
        };
        if !same_token(&entry[..], token) {
            return false;
        }
        let now = self.clock.unix_now();
        keep_hot(self.id, generation, key, now, HotToken::Forged(entry));
        true
    }

    /// Remembers `token` as forged when `result` says its signature failed.
    fn remember_forged(
        &self,
        (key, generation): (u64, u64),
        token: &[u8],
        result: &Result<Principal, AuthError>,
    ) {
        if let (Some(forged), Err(error)) = (&self.forged, result) {
            if error.kind() == ErrorKind::BadSignature {
                let entry = Arc::new(Zeroizing::new(token.to_vec()));
                forged.insert(key, Arc::clone(&entry));
                let now = self.clock.unix_now();
                keep_hot(self.id, generation, key, now, HotToken::Forged(entry));
            }
        }
    }

    /// Whether a cached token is still good at `now`.
    fn judge_cached(
        &self,
        now: u64,
        entry: &CachedToken,
        principal: &Principal,
    ) -> Result<Principal, AuthError> {
        let v = &entry.validated;
        self.rules
            .check_times(now, v.exp, v.nbf, v.iat)
            .and_then(|()| self.check_revocation(&entry.issuer.iss, v))
            .map(|()| principal.clone())
    }

    fn check_revocation(&self, iss: &str, v: &Validated) -> Result<(), AuthError> {
        let Some(revocation) = &self.revocation else {
            return Ok(());
        };
        let revoked = v
            .jti()
            .is_some_and(|jti| revocation.is_jti_revoked(iss, jti))
            || revocation
                .revoked_before(iss, v.principal.subject())
                .is_some_and(|cutoff| {
                    // A token without iat cannot show it came after the cutoff.
                    #[allow(clippy::cast_precision_loss)]
                    let cutoff = cutoff as f64;
                    v.iat.is_none_or(|iat| iat < cutoff)
                });
        if revoked {
            let err = AuthError::new(ErrorKind::Revoked);
            return Err(match v.jti() {
                Some(jti) => err.with_credential_id(jti.to_owned()),
                None => err,
            });
        }
        Ok(())
    }

    /// Parses a token; its decoded claims are taken out, for
    /// [`TokenClaims`] to borrow.
    fn prepare<'t>(
        token: &'t [u8],
        scratch: &'t mut Scratch,
    ) -> Result<(Jws<'t>, Vec<u8>), AuthError> {
        let mut jws = token::parse(token, scratch, &ALL_ALGORITHMS)?;
        let payload = std::mem::take(&mut jws.payload);
        Ok((jws, payload))
    }

    /// The issuer the unverified claims name, if it is configured and
    /// accepts the token's algorithm: all that can be decided before a key
    /// is chosen.
    fn issuer_of(
        &self,
        jws: &Jws<'_>,
        claims: &TokenClaims<'_>,
    ) -> Result<Arc<IssuerState>, AuthError> {
        let issuer = claims
            .iss()
            .and_then(|iss| self.issuers.get(iss))
            .cloned()
            .ok_or_else(|| {
                AuthError::new(ErrorKind::UnknownKey)
                    .with_description("the token's issuer is not trusted")
            })?;
        if !issuer.algorithms.contains(&jws.alg) {
            return Err(invalid("the token's algorithm is not accepted"));
        }
        Ok(issuer)
    }

    /// The signature, then the claims.
    fn check(
        &self,
        jws: &Jws<'_>,
        claims: TokenClaims<'_>,
        issuer: &IssuerState,
        key: &JwtKey,
    ) -> Result<Checked, AuthError> {
        token::check_signature(jws, key)?;
        let now = self.clock.unix_now();
        let validated = self.rules.validate(
            &jws.header,
            &claims,
            &issuer.iss,
            &issuer.audiences,
            now,
            SCHEME_NAME,
        )?;
        self.profile.check(&jws.header, &claims, &validated)?;
        self.check_revocation(&issuer.iss, &validated)?;
        Ok((validated, claims.has_cnf()))
    }

    /// Gives a checked token's principal its claims (`payload`, which
    /// [`check`](Self::check) read) and caches it.
    fn admit(
        &self,
        (mut validated, cnf): Checked,
        payload: Vec<u8>,
        issuer: &Arc<IssuerState>,
        token: &[u8],
        (cache_key, generation): (u64, u64),
    ) -> Principal {
        // `iss` is the issuer's: `validate` compared them.
        validated.principal =
            validated
                .principal
                .with_token_claims(payload, Arc::clone(&issuer.iss_claim), cnf);
        let principal = validated.principal.clone();
        if let Some(cache) = &self.cache {
            let plain_bearer = !cnf && self.dpop.mode_for(Some(&issuer.iss)).accepts_bearer();
            cache.insert(
                cache_key,
                Arc::new(CachedToken {
                    generation,
                    token: Zeroizing::new(token.to_vec()),
                    issuer: Arc::clone(issuer),
                    validated,
                    plain_bearer,
                }),
            );
            self.metrics.entries(cache.entry_count());
        }
        principal
    }

    /// Verifies `credential`'s token; with the result, whether it was a
    /// cache hit on a [plain bearer token](CachedToken::plain_bearer).
    fn verify_now(self: &Arc<Self>, credential: &Credential) -> (Verification, bool) {
        // Read before anything else: a result whose verification began
        // before a `clear_token_cache` is never cached as current.
        let generation = self.generation.load(Ordering::SeqCst);
        // A hit compares bytes: no UTF-8 or token68 check of the token,
        // which is equal to one that passed both when it was cached.
        let bytes = credential.value_bytes();
        let key = (cache_key(self.hash_keys, bytes), generation);
        match self.cached(key.0, bytes, generation) {
            Cached::Hit(result, plain) => {
                self.metrics.lookup(true);
                return (Verification::ready(result), plain);
            }
            Cached::Forged => {
                // Counted as before this thread kept it: a token-cache miss.
                self.metrics.lookup(false);
                return (forged(), false);
            }
            Cached::Miss => {}
        }
        if self.cache.is_some() {
            self.metrics.lookup(false);
        }
        (self.verify_uncached(credential, bytes, key), false)
    }

    /// Verifies a token not in the cache. The token68 check the extractor
    /// may have left to the scheme (`deferred_syntax`) is made only when
    /// the token does not parse: one that does is strict base64url in
    /// three parts, hence token68, and a token remembered as forged parsed.
    fn verify_uncached(
        self: &Arc<Self>,
        credential: &Credential,
        token: &[u8],
        key: (u64, u64),
    ) -> Verification {
        if self.known_forged(key, token) {
            return forged();
        }
        let mut scratch = Scratch::new();
        let (jws, payload) = match Self::prepare(token, &mut scratch) {
            Ok(prepared) => prepared,
            Err(e) => {
                // The extraction's answer to a credential that is not token68.
                let error = credential.deferred_syntax().err().unwrap_or(e);
                return Verification::ready(Err(error));
            }
        };
        let claims = match TokenClaims::parse(&payload, &self.rules) {
            Ok(claims) => claims,
            Err(e) => return Verification::ready(Err(e)),
        };
        let issuer = match self.issuer_of(&jws, &claims) {
            Ok(issuer) => issuer,
            Err(e) => return Verification::ready(Err(e)),
        };
        match &issuer.keys {
            Keys::Static(keys) => {
                let result = match token::select(
                    keys,
                    jws.header.kid.as_deref(),
                    jws.alg,
                    KidlessKeys::StandIn,
                ) {
                    Selection::Found(k) => self
                        .check(&jws, claims, &issuer, k)
                        .map(|checked| self.admit(checked, payload, &issuer, token, key)),
                    Selection::Unknown | Selection::Mismatch => Err(jwks::no_fit()),
                };
                self.remember_forged(key, token, &result);
                Verification::ready(result)
            }
            Keys::Jwks(cache) => {
                if let Some(k) = cache.key_now(jws.header.kid.as_deref(), jws.alg) {
                    return Verification::ready(
                        self.check(&jws, claims, &issuer, &k)
                            .map(|checked| self.admit(checked, payload, &issuer, token, key)),
                    );
                }
                let cache = Arc::clone(cache);
                let inner = Arc::clone(self);
                let owned = Zeroizing::new(token.to_vec());
                Verification::pending(async move {
                    let mut scratch = Scratch::new();
                    let (jws, payload) = Self::prepare(&owned, &mut scratch)?;
                    let claims = TokenClaims::parse(&payload, &inner.rules)?;
                    let issuer = inner.issuer_of(&jws, &claims)?;
                    let k = cache.key_for(jws.header.kid.as_deref(), jws.alg).await?;
                    let checked = inner.check(&jws, claims, &issuer, &k)?;
                    Ok(inner.admit(checked, payload, &issuer, &owned, key))
                })
            }
        }
    }
}

/// The answer to a token remembered as forged: what its signature check
/// answered.
fn forged() -> Verification {
    Verification::ready(Err(AuthError::new(ErrorKind::BadSignature)))
}

/// Keeps `value` in this thread's table of tokens.
fn keep_hot(owner: u64, generation: u64, key: u64, now: u64, value: HotToken) {
    let _ = HOT_TOKENS.try_with(|table| {
        if let Ok(mut table) = table.try_borrow_mut() {
            table.put(owner, generation, key, now, value);
        }
    });
}

impl Scheme for JwtScheme {
    fn name(&self) -> &'static str {
        SCHEME_NAME
    }

    fn locations(&self) -> Vec<CredentialLocation> {
        self.inner.dpop.locations()
    }

    fn challenge(&self) -> Challenge {
        self.inner.dpop.challenges(Challenge::new("Bearer"))
    }

    fn verify(&self, credential: &Credential, ctx: &VerifyContext<'_>) -> Verification {
        // RFC 8705: a certificate-bound token, cached or not, only over a
        // connection with its certificate. RFC 9449: a DPoP-bound one only
        // with a proof for its key, and never as a bearer token.
        let (verification, plain) = self.inner.verify_now(credential);
        let granted = matches!(verification.0, VerificationState::Ready(Ok(_)));
        if plain && granted && presented_as_bearer(credential) {
            // A cached token without `cnf`, of an issuer whose tokens DPoP
            // accepts as bearer tokens, granted: the two checks below would
            // let it through unchanged.
            return verification;
        }
        let verification = super::binding::enforce(verification, ctx.parts());
        self.inner
            .dpop
            .enforce(verification, credential, ctx.parts())
    }

    fn response_headers(
        &self,
        credential: &Credential,
        _: &http::request::Parts,
    ) -> Option<http::HeaderMap> {
        self.inner.dpop.response_headers(credential)
    }
}

impl fmt::Debug for JwtScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut issuers: Vec<&str> = self.inner.issuers.keys().map(String::as_str).collect();
        issuers.sort_unstable();
        f.debug_struct("JwtScheme")
            .field("issuers", &issuers)
            .field("leeway", &self.inner.rules.leeway)
            .finish_non_exhaustive()
    }
}

/// Whether `credential` came as `Authorization: Bearer`.
fn presented_as_bearer(credential: &Credential) -> bool {
    matches!(credential.location(), CredentialLocation::Authorization { scheme, .. }
        if scheme.eq_ignore_ascii_case("Bearer"))
}

/// Entries never outlive the token's `exp`, nor a day.
struct UntilExp;

/// The longest a validated token stays cached.
const MAX_CACHED_SECS: f64 = 86_400.0;

impl Expiry<u64, Arc<CachedToken>> for UntilExp {
    fn expire_after_create(
        &self,
        _: &u64,
        value: &Arc<CachedToken>,
        _: Instant,
    ) -> Option<Duration> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        // Capped at a day: a far-future `exp` (year 9999) must not reach
        // moka's instant arithmetic, and every hit re-checks `exp` anyway.
        let left = (value.validated.exp - now).clamp(0.0, MAX_CACHED_SECS);
        Some(Duration::try_from_secs_f64(left).unwrap_or(Duration::ZERO))
    }
}

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
    /// (see [`install_default`](super::install_default)).
    ///
    /// # Errors
    ///
    /// With no issuer, two issuers with the same `iss`, an issuer without
    /// audience or key source, static keys that cannot serve its algorithms,
    /// an invalid JWKS URL, or no fetcher for a JWKS source; DPoP settings
    /// without a public origin, with a symmetric algorithm or a nonce
    /// secret under 32 bytes.
    pub fn build(self) -> Result<JwtScheme, ConfigError> {
        super::crypto::install_default();
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
    Ok(Some(Arc::new(super::HttpFetcher::new()?)))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 13.3b): `clear_token_cache` bumps the generation
    /// before it empties the shared cache. A request in that gap used to
    /// copy the old entry into its thread's table under the new generation
    /// and be served from it for up to two seconds. An entry cached before
    /// the bump is never served now.
    #[test]
    #[allow(clippy::unwrap_used, clippy::panic)]
    fn an_entry_cached_before_a_clear_is_not_served_in_its_gap() {
        crate::jwt::install_default();
        let secret = [7u8; 32];
        let scheme = JwtScheme::builder()
            .issuer(
                crate::jwt::Issuer::new("https://login.example")
                    .audience("api")
                    .key(JwtKey::shared_secret(&secret).unwrap()),
            )
            .build()
            .unwrap();
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &serde_json::json!({
                "iss": "https://login.example", "aud": "api", "sub": "alice",
                "exp": 4_000_000_000u64,
            }),
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();
        let inner = &scheme.inner;
        let credential = Credential::new(CredentialLocation::authorization("Bearer"), &token);
        let crate::scheme::VerificationState::Ready(Ok(_)) = inner.verify_now(&credential).0 .0
        else {
            panic!("a valid token");
        };
        let key = cache_key(inner.hash_keys, token.as_bytes());
        let before = inner.generation.load(Ordering::SeqCst);
        assert!(
            matches!(inner.cached(key, token.as_bytes(), before), Cached::Hit(..)),
            "cached"
        );
        // The first half of `clear_token_cache`: the shared entry is still
        // there.
        inner.generation.fetch_add(1, Ordering::SeqCst);
        assert!(matches!(
            inner.cached(key, token.as_bytes(), before + 1),
            Cached::Miss
        ));
    }

    /// A forgery of a static key's token is answered from this thread's
    /// table once remembered, every time, and only for its own bytes: a
    /// forged entry under another token's key never refuses that token.
    #[test]
    #[allow(clippy::unwrap_used, clippy::panic)]
    fn forgeries_are_refused_from_this_threads_table_and_only_they() {
        crate::jwt::install_default();
        let secret = [9u8; 32];
        let scheme = JwtScheme::builder()
            .issuer(
                crate::jwt::Issuer::new("https://login.example")
                    .audience("api")
                    .key(JwtKey::shared_secret(&secret).unwrap()),
            )
            .build()
            .unwrap();
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &serde_json::json!({
                "iss": "https://login.example", "aud": "api", "sub": "alice",
                "exp": 4_000_000_000u64,
            }),
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();
        // One signature character changed (not the last, whose low bits
        // base64url may ignore).
        let mut forged = token.clone().into_bytes();
        let at = forged.len() - 5;
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        let inner = &scheme.inner;
        let verdict = |text: &str| {
            let credential = Credential::new(CredentialLocation::authorization("Bearer"), text);
            match inner.verify_now(&credential).0 .0 {
                crate::scheme::VerificationState::Ready(result) => result.map_err(|e| e.kind()),
                crate::scheme::VerificationState::Pending(_) => panic!("static keys answer now"),
            }
        };
        let generation = inner.generation.load(Ordering::SeqCst);
        let forged_key = cache_key(inner.hash_keys, forged.as_bytes());
        assert!(matches!(
            inner.cached(forged_key, forged.as_bytes(), generation),
            Cached::Miss
        ));
        for _ in 0..3 {
            assert_eq!(verdict(&forged).unwrap_err(), ErrorKind::BadSignature);
            assert!(matches!(
                inner.cached(forged_key, forged.as_bytes(), generation),
                Cached::Forged
            ));
        }
        assert_eq!(verdict(&token).unwrap().subject(), "alice");
        // A forged entry under the valid token's own key (a collision of
        // the keyed hash) holds other bytes: the valid token is still
        // granted, and cached as valid again.
        let key = cache_key(inner.hash_keys, token.as_bytes());
        let now = inner.clock.unix_now();
        let other = Arc::new(Zeroizing::new(forged.clone().into_bytes()));
        keep_hot(inner.id, generation, key, now, HotToken::Forged(other));
        assert!(matches!(
            inner.cached(key, token.as_bytes(), generation),
            Cached::Hit(Ok(_), _)
        ));
        assert_eq!(verdict(&token).unwrap().subject(), "alice");
    }

    #[test]
    fn token_comparison() {
        assert!(same_token(b"abcdefghijk", b"abcdefghijk"));
        assert!(!same_token(b"abcdefghijk", b"abcdefghijx"));
        assert!(!same_token(b"abcdefgXijk", b"abcdefghijk"));
        assert!(!same_token(b"abc", b"abcd"));
        // Every position of tokens of every length around the steps, in
        // the vector part and the overlapping last step.
        for len in 0..200u8 {
            let token: Vec<u8> = (0..len).map(|i| b'a' + i % 26).collect();
            assert!(same_token(&token, &token.clone()));
            for i in 0..token.len() {
                let mut other = token.clone();
                other[i] ^= 1;
                assert!(!same_token(&token, &other), "length {len}, byte {i}");
            }
        }
    }

    #[test]
    fn cache_keys_depend_on_length_and_tail() {
        let keys = HashKeys::random();
        let token = b"header.payload.signature-0123456789abcdef";
        let key = cache_key(keys, token);
        assert_eq!(key, cache_key(keys, token));
        let mut other = token.to_vec();
        if let Some(last) = other.last_mut() {
            *last ^= 1;
        }
        assert_ne!(key, cache_key(keys, &other));
        assert_ne!(key, cache_key(keys, &token[1..]));
        assert_ne!(key, cache_key(HashKeys::random(), token));
        // Short tokens hash too.
        assert_ne!(cache_key(keys, b"a"), cache_key(keys, b"b"));
    }
}
