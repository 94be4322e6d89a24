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

mod builder;
mod cache;

pub use builder::JwtSchemeBuilder;
use cache::{
    cache_key, keep_hot, same_token, Cached, HashKeys, HotToken, KeyIsHash, UntilExp, FORGED_TTL,
    HOT_TOKENS,
};

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
        JwtSchemeBuilder::new()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A scheme trusting one HS256 secret, on `clock`, and a valid token
    /// of it for `alice`.
    #[allow(clippy::unwrap_used)]
    fn hs256_scheme(secret: [u8; 32], clock: impl crate::clock::Clock) -> (JwtScheme, String) {
        crate::jwt::install_default();
        let scheme = JwtScheme::builder()
            .issuer(
                crate::jwt::Issuer::new("https://login.example")
                    .audience("api")
                    .key(JwtKey::shared_secret(&secret).unwrap()),
            )
            .clock(clock)
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
        (scheme, token)
    }

    /// Regression (issue 13.3b): `clear_token_cache` bumps the generation
    /// before it empties the shared cache. A request in that gap used to
    /// copy the old entry into its thread's table under the new generation
    /// and be served from it for up to two seconds. An entry cached before
    /// the bump is never served now.
    #[test]
    #[allow(clippy::unwrap_used, clippy::panic)]
    fn an_entry_cached_before_a_clear_is_not_served_in_its_gap() {
        let (scheme, token) = hs256_scheme([7u8; 32], crate::clock::SystemClock);
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
        // A clock that stays in one second: this thread's entries are used
        // only within the second they were taken in.
        let clock = crate::clock::ManualClock::at_unix(1_700_000_000);
        let (scheme, token) = hs256_scheme([9u8; 32], clock);
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
        // Now that the valid token holds its slot, a forgery for the same
        // slot does not push it out (regression: replayed forgeries used to
        // send the thread's valid tokens back to the shared cache).
        let other = Arc::new(Zeroizing::new(forged.clone().into_bytes()));
        keep_hot(inner.id, generation, key, now, HotToken::Forged(other));
        let held = HOT_TOKENS.with(|table| {
            matches!(
                table.borrow().get(inner.id, generation, key, now),
                Some(HotToken::Valid(..))
            )
        });
        assert!(held, "the valid token keeps its slot");
    }
}
