//! [`IntrospectionScheme`]: opaque (or any) bearer tokens, verified by
//! asking the authorization server (RFC 7662).

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use zeroize::Zeroizing;

use super::answer::{self, Active, Rules, Verdict, SCHEME_NAME};
use super::builder::IntrospectionSchemeBuilder;
use super::cache::{self, Entry, Flights, Inactive, Outcome};
use super::client::{CallError, IntrospectionClient, Reply};
use super::signed::SignedAnswers;
use crate::clock::SharedClock;
use crate::credentials::{Credential, CredentialLocation};
use crate::dpop::DpopVerifier;
use crate::error::{AuthError, ErrorKind};
use crate::hot::HotTable;
use crate::jwt::Revocation;
use crate::principal::Principal;
use crate::scheme::{Challenge, Scheme, Verification, VerifyContext};
use crate::telemetry::{CacheMetrics, Failure, StoreMetrics};

/// Opaque bearer tokens, verified by the authorization server's
/// introspection endpoint (RFC 7662): `Authorization: Bearer <token>`.
///
/// For each token not in the cache, the scheme POSTs
/// `token=…&token_type_hint=access_token` to the endpoint, authenticated as
/// its client (`client_secret_basic` or `client_secret_post`). An answer of
/// `active: false` is a 401 `invalid_token`; an active token must still
/// pass `exp` and `nbf` (with leeway), `iss` and `aud` when configured, and
/// must not be a refresh token. Scopes come from `scope`; the whole answer
/// (`sub`, `client_id`, `username`, `cnf`, …) is the principal's claims.
///
/// The endpoint being down, slow, answering an error, or answering
/// something malformed or too large is a 503 (gRPC 14), never a 401.
///
/// Answers are cached: see
/// [`cache_ttl`](IntrospectionSchemeBuilder::cache_ttl). Authorization runs
/// on every request, cached or not, and so does the
/// [revocation list](IntrospectionSchemeBuilder::revocation).
///
/// # Example
///
/// ```no_run
/// use authgate::introspection::IntrospectionScheme;
/// use authgate::AuthLayer;
///
/// # fn main() -> Result<(), authgate::ConfigError> {
/// let scheme = IntrospectionScheme::builder()
///     .endpoint("https://login.example.com/oauth2/introspect")
///     .client("resource-server", "s3cr3t")
///     .audience("https://api.example.com")
///     .build()?;
/// let auth = AuthLayer::builder().scheme(scheme).require_scopes(["orders:read"]).build()?;
/// # let _ = auth;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct IntrospectionScheme {
    inner: Arc<Inner>,
}

/// This thread's table of cached answers, each with its own copy of the
/// principal: see [`crate::hot`].
type HotAnswers = HotTable<(Arc<Entry>, Principal)>;

thread_local! {
    static HOT_ANSWERS: RefCell<HotAnswers> = const { RefCell::new(HotTable::new()) };
}

pub(crate) struct Inner {
    pub(crate) id: u64,
    pub(crate) generation: AtomicU64,
    pub(crate) client: IntrospectionClient,
    pub(crate) rules: Rules,
    pub(crate) signed: Option<SignedAnswers>,
    pub(crate) cache: Option<Cache<u64, Arc<Entry>>>,
    pub(crate) negative: Option<Cache<u64, Arc<Inactive>>>,
    pub(crate) cache_ttl: Duration,
    pub(crate) flights: Flights,
    pub(crate) hasher: std::collections::hash_map::RandomState,
    /// The endpoint and client id, hashed into every cache key.
    pub(crate) scope: u64,
    pub(crate) clock: SharedClock,
    pub(crate) revocation: Option<Arc<dyn Revocation>>,
    pub(crate) calls: AtomicU64,
    pub(crate) metrics: CacheMetrics,
    pub(crate) negative_metrics: CacheMetrics,
    pub(crate) errors: StoreMetrics,
    /// DPoP-bound tokens (RFC 9449): answers with `cnf.jkt` need a proof
    /// on every request, cached or not.
    pub(crate) dpop: DpopVerifier,
}

impl IntrospectionScheme {
    /// Starts configuring a scheme.
    ///
    /// ```
    /// let builder = authgate::introspection::IntrospectionScheme::builder();
    /// # let _ = builder;
    /// ```
    pub fn builder() -> IntrospectionSchemeBuilder {
        IntrospectionSchemeBuilder::new()
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Calls made to the introspection endpoint so far.
    ///
    /// ```
    /// # let scheme = authgate::introspection::IntrospectionScheme::builder()
    /// #     .endpoint("https://as.example/introspect").client("rs", "secret").build().unwrap();
    /// assert_eq!(scheme.endpoint_calls(), 0);
    /// ```
    #[must_use]
    pub fn endpoint_calls(&self) -> u64 {
        self.inner.calls.load(Ordering::SeqCst)
    }

    /// Forgets every cached answer, active and inactive: each token is
    /// introspected again on its next use. Once this returns, no request
    /// is answered from an entry cached before, even one in flight.
    ///
    /// ```
    /// # let scheme = authgate::introspection::IntrospectionScheme::builder()
    /// #     .endpoint("https://as.example/introspect").client("rs", "secret").build().unwrap();
    /// scheme.clear_cache();
    /// ```
    pub fn clear_cache(&self) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(cache) = &self.inner.cache {
            cache.invalidate_all();
        }
        if let Some(negative) = &self.inner.negative {
            negative.invalidate_all();
        }
    }
}

impl Inner {
    /// A cached answer for `token`, from this thread's table or the shared
    /// cache, judged now.
    fn cached(
        &self,
        key: u64,
        token: &str,
        generation: u64,
    ) -> Option<Result<Principal, AuthError>> {
        let cache = self.cache.as_ref()?;
        let now = self.clock.unix_now();
        let hit = HOT_ANSWERS
            .try_with(|table| {
                let table = table.try_borrow().ok()?;
                let (entry, principal) = table.get(self.id, generation, key, now)?;
                cache::same_token(&entry.token, token).then(|| self.judge(now, entry, principal))
            })
            .ok()
            .flatten();
        if hit.is_some() {
            return hit;
        }
        let entry = cache.get(&key)?;
        if entry.generation != generation || !cache::same_token(&entry.token, token) {
            return None;
        }
        if let Verdict::Active(active) = &entry.verdict {
            let principal = active.principal.unshared();
            let _ = HOT_ANSWERS.try_with(|table| {
                if let Ok(mut table) = table.try_borrow_mut() {
                    table.put(
                        self.id,
                        generation,
                        key,
                        now,
                        (Arc::clone(&entry), principal),
                    );
                }
            });
        }
        Some(self.judge(now, &entry, &principal_of(&entry)))
    }

    /// Whether a cached inactive answer covers `token`.
    fn known_inactive(&self, key: u64, token: &str, generation: u64) -> bool {
        let Some(negative) = &self.negative else {
            return false;
        };
        let hit = negative
            .get(&key)
            .is_some_and(|e| e.generation == generation && cache::same_token(&e.token, token));
        self.negative_metrics.lookup(hit);
        hit
    }

    /// An answer's verdict at `now`: time members and revocation, on every
    /// request.
    fn judge(
        &self,
        now: u64,
        entry: &Entry,
        principal: &Principal,
    ) -> Result<Principal, AuthError> {
        match &entry.verdict {
            Verdict::Active(active) => {
                answer::check_times(active, now, self.rules.leeway)?;
                self.check_revocation(active)?;
                Ok(principal.clone())
            }
            Verdict::Refused(error, _) => Err(error.clone()),
            Verdict::Inactive => Err(answer::inactive()),
        }
    }

    fn check_revocation(&self, active: &Active) -> Result<(), AuthError> {
        let Some(revocation) = &self.revocation else {
            return Ok(());
        };
        let iss = active
            .iss
            .as_deref()
            .or(self.rules.issuer.as_deref())
            .unwrap_or_default();
        let revoked = active
            .jti
            .as_deref()
            .is_some_and(|jti| revocation.is_jti_revoked(iss, jti))
            || revocation
                .revoked_before(iss, active.principal.subject())
                .is_some_and(|cutoff| {
                    #[allow(clippy::cast_precision_loss)]
                    let cutoff = cutoff as f64;
                    active.iat.is_none_or(|iat| iat < cutoff)
                });
        if revoked {
            return Err(AuthError::new(ErrorKind::Revoked));
        }
        Ok(())
    }

    /// Introspects `token`, sharing the call with concurrent requests for
    /// the same token, and judges the answer.
    async fn introspect_shared(
        self: Arc<Self>,
        key: u64,
        token: Zeroizing<String>,
        generation: u64,
    ) -> Result<Principal, AuthError> {
        let outcome = match self.flights.join(key, &token, generation) {
            Some(joined) => joined
                .flight
                .cell
                .get_or_init(|| self.introspect(key, &token, generation))
                .await
                .clone(),
            None => self.introspect(key, &token, generation).await,
        };
        let entry = outcome?;
        self.judge(self.clock.unix_now(), &entry, &principal_of(&entry))
    }

    /// One call to the endpoint; the answer is cached before it is shared.
    async fn introspect(&self, key: u64, token: &str, generation: u64) -> Outcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let verdict = match self.call(token).await {
            Ok(verdict) => verdict,
            Err(error) => {
                self.errors.failed(if error.is_timeout() {
                    Failure::Timeout
                } else {
                    Failure::Error
                });
                tracing::warn!(
                    target: "authgate::introspection",
                    endpoint = %self.client.endpoint_name(),
                    error = %error,
                    "introspection endpoint failed: answering 503",
                );
                return Err(AuthError::unavailable(error)
                    .with_description("the token cannot be verified right now"));
            }
        };
        let entry = |ttl| {
            Arc::new(Entry {
                generation,
                token: Zeroizing::new(token.to_owned()),
                verdict: verdict.clone(),
                ttl,
            })
        };
        match &verdict {
            Verdict::Inactive => {
                tracing::debug!(
                    target: "authgate::introspection",
                    fingerprint = %crate::fingerprint(token.as_bytes()),
                    "the authorization server says the token is not active",
                );
                if let Some(negative) = &self.negative {
                    negative.insert(
                        key,
                        Arc::new(Inactive {
                            generation,
                            token: Zeroizing::new(token.to_owned()),
                        }),
                    );
                }
                Ok(entry(Duration::ZERO))
            }
            Verdict::Active(Active { exp, .. }) | Verdict::Refused(_, exp) => {
                let ttl = self.ttl(*exp);
                let entry = entry(ttl);
                if let Some(cache) = &self.cache {
                    if !ttl.is_zero() {
                        cache.insert(key, Arc::clone(&entry));
                        self.metrics.entries(cache.entry_count());
                    }
                }
                Ok(entry)
            }
        }
    }

    /// min(configured TTL, `exp` − now): never past `exp` (RFC 7662 §4).
    fn ttl(&self, exp: Option<f64>) -> Duration {
        let Some(exp) = exp else {
            return self.cache_ttl;
        };
        let now = self
            .clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let left = exp - now;
        if left <= 0.0 {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(left).map_or(self.cache_ttl, |d| d.min(self.cache_ttl))
    }

    /// The HTTP call and the answer's verdict.
    async fn call(&self, token: &str) -> Result<Verdict, CallError> {
        let answer = match self.client.introspect(token).await? {
            Reply::Json(body) => answer::parse(&body)?,
            Reply::Jwt(body) => match &self.signed {
                Some(signed) => signed.open(&body).await?,
                None => return Err(CallError::Malformed("an unrequested signed answer")),
            },
        };
        answer::judge(answer, &self.rules)
    }

    fn verify_now(self: &Arc<Self>, token: &str) -> Verification {
        let generation = self.generation.load(Ordering::SeqCst);
        let key = cache::cache_key(&self.hasher, self.scope, token);
        if let Some(result) = self.cached(key, token, generation) {
            self.metrics.lookup(true);
            return Verification::ready(result);
        }
        if self.cache.is_some() {
            self.metrics.lookup(false);
        }
        if self.known_inactive(key, token, generation) {
            return Verification::ready(Err(answer::inactive()));
        }
        let owned = Zeroizing::new(token.to_owned());
        Verification::pending(Arc::clone(self).introspect_shared(key, owned, generation))
    }
}

/// The principal an entry grants (a placeholder for refusals, which grant
/// nothing).
fn principal_of(entry: &Entry) -> Principal {
    match &entry.verdict {
        Verdict::Active(active) => active.principal.clone(),
        _ => Principal::new("", SCHEME_NAME),
    }
}

impl Scheme for IntrospectionScheme {
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
        // RFC 8705 §3.2: an answer with `cnf.x5t#S256`, cached or not,
        // only over a connection with its certificate. RFC 9449: one with
        // `cnf.jkt` only with a proof for its key, never as a bearer token.
        let verification =
            crate::jwt::binding::enforce(self.inner.verify_now(credential.value()), ctx.parts());
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

impl fmt::Debug for IntrospectionScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionScheme")
            .field("client", &self.inner.client)
            .field("issuer", &self.inner.rules.issuer)
            .field("audiences", &self.inner.rules.audiences)
            .field("cache_ttl", &self.inner.cache_ttl)
            .field("in_flight", &self.inner.flights.len())
            .finish_non_exhaustive()
    }
}
