//! [`RateLimitLayer`]: the stage after authentication that counts each
//! principal's requests.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use http::request::Parts;
use tower_layer::Layer;

use super::answer::PolicyHeaders;
use super::backend::{CheckState, RateLimiter};
use super::local::InProcessLimiter;
use super::metrics::LimitMetrics;
use super::plans::Plans;
use super::quota::{Charge, Quota};
use crate::error::ConfigError;
use crate::principal::Principal;

use super::service::RateLimit;

/// Schemes whose credential id names one long-lived key (an API key id, an
/// HMAC key id): counted per key. Others (a JWT's `jti` changes with every
/// token, a certificate's thumbprint with every renewal) per subject.
const KEYED_SCHEMES: [&str; 3] = ["api_key", "hmac", "http_signature"];

type QuotaFor = dyn Fn(&Principal) -> Option<Quota> + Send + Sync;
type KeyFn = dyn Fn(&Principal, &Parts) -> Option<String> + Send + Sync;

/// Limits how often each authenticated caller may call, with GCRA (smooth,
/// burst-aware), keyed by who the caller is.
///
/// Place it inside an [`AuthLayer`](crate::AuthLayer) (axum: `.layer(limits)`
/// before `.layer(auth)`, or `.route_layer(limits)` for some routes): it
/// reads the [`Principal`] the auth layer stored. Requests without one
/// (anonymous paths) pass uncounted: an unauthenticated request is never
/// charged to a principal.
///
/// - **Key**: the scheme plus the key id for API keys and HMAC keys (one
///   budget per key), plus the subject for everything else (JWTs, whose
///   `jti` changes with every token; certificates) together with its
///   issuer when the principal has an `iss` claim (a subject is unique
///   only within its issuer), prefixed with the
///   [policy name](Self::policy_name) so that two layers count apart.
///   [`key_by_subject`](Self::key_by_subject) counts all keys of one
///   subject together; [`key_by`](Self::key_by) takes your own.
/// - **Quota**: the layer's, or the principal's own: its
///   [plan](Self::plan)'s (an API key record's plan, a token's plan claim),
///   or [`quota_for`](Self::quota_for)'s (a tier looked up by subject).
/// - **Over the limit**: 429 with `Retry-After` and the IETF `RateLimit` /
///   `RateLimit-Policy` headers (gRPC 8 `RESOURCE_EXHAUSTED`), through the
///   auth layer's [rejection hook](crate::AuthLayerBuilder::rejection_body).
///   Passed requests carry the two headers too.
/// - **Backend down** (Redis): see the backend's failure mode; a backend
///   that reports an error gives 503, never 401 or a pass.
///
/// # Example
///
/// ```
/// use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
/// use authgate::ratelimit::{InProcessLimiter, Quota, RateLimitLayer};
/// use authgate::{AuthLayer, Scopes};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = InMemoryKeyStore::new();
/// let key = ApiKeyGenerator::new("sk_live")?.generate("acct_42", Scopes::empty())?;
/// store.insert(key.record().clone());
///
/// let auth = AuthLayer::builder().scheme(ApiKeyScheme::new(store, "sk_live")?).build()?;
/// let limits = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(2));
/// let service = ServiceBuilder::new().layer(auth).layer(limits).service(service_fn(|_| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// }));
///
/// let call = || http::Request::get("/").header("x-api-key", key.plaintext().expose()).body(()).unwrap();
/// assert_eq!(service.clone().oneshot(call()).await?.status(), 200);
/// assert_eq!(service.clone().oneshot(call()).await?.status(), 200);
/// let limited = service.oneshot(call()).await?;
/// assert_eq!(limited.status(), 429);
/// assert_eq!(limited.headers()["ratelimit-policy"], "\"default\";q=2;w=60");
/// assert_eq!(limited.headers()["retry-after"], "30");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RateLimitLayer {
    config: Arc<LimitConfig>,
}

pub(super) struct LimitConfig {
    pub(super) limiter: Backend,
    pub(super) quota: Quota,
    pub(super) quota_for: Option<Arc<QuotaFor>>,
    pub(super) plans: Plans,
    pub(super) key_by: KeyBy,
    pub(super) policy: String,
    /// The policy's header values, made when it is named.
    pub(super) headers: PolicyHeaders,
    pub(super) headers_on_success: bool,
    pub(super) metrics: LimitMetrics,
}

/// The in-process limiter is called directly (no key written out, no
/// boxed answer); any other through the trait.
#[derive(Clone)]
pub(super) enum Backend {
    Local(InProcessLimiter),
    Shared(Arc<dyn RateLimiter>),
}

impl Backend {
    fn new(limiter: impl RateLimiter) -> Self {
        match (&limiter as &dyn Any).downcast_ref::<InProcessLimiter>() {
            Some(local) => Self::Local(local.clone()),
            None => Self::Shared(Arc::new(limiter)),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Local(local) => local.backend(),
            Self::Shared(shared) => shared.backend(),
        }
    }

    /// The decision for the caller whose key is the concatenation of
    /// `parts`.
    #[inline]
    pub(super) fn check(&self, parts: &[&str], quota: &Quota) -> CheckState {
        match self {
            Self::Local(local) => {
                CheckState::Ready(Ok(local.decide_parts(parts, quota, Charge::Acquire)))
            }
            Self::Shared(shared) => shared.check(&parts.concat(), quota, Charge::Acquire).0,
        }
    }
}

#[derive(Clone)]
pub(super) enum KeyBy {
    Credential,
    Subject,
    Custom(Arc<KeyFn>),
}

impl RateLimitLayer {
    /// Every principal gets `quota`, counted in `limiter`.
    pub fn new(limiter: impl RateLimiter, quota: Quota) -> Self {
        let limiter = Backend::new(limiter);
        let metrics = LimitMetrics::new("default", limiter.name());
        Self {
            config: Arc::new(LimitConfig {
                limiter,
                quota,
                quota_for: None,
                plans: Plans::default(),
                key_by: KeyBy::Credential,
                policy: String::from("default"),
                headers: PolicyHeaders::new("default", quota),
                headers_on_success: true,
                metrics,
            }),
        }
    }

    fn edit(mut self, change: impl FnOnce(&mut LimitConfig)) -> Self {
        match Arc::get_mut(&mut self.config) {
            Some(config) => change(config),
            None => {
                let old = &self.config;
                let mut config = LimitConfig {
                    limiter: old.limiter.clone(),
                    quota: old.quota,
                    quota_for: old.quota_for.clone(),
                    plans: old.plans.clone(),
                    key_by: old.key_by.clone(),
                    policy: old.policy.clone(),
                    headers: old.headers.clone(),
                    headers_on_success: old.headers_on_success,
                    metrics: old.metrics.clone(),
                };
                change(&mut config);
                self.config = Arc::new(config);
            }
        }
        self
    }

    /// Names this limit: the `RateLimit-Policy` name, the prefix of its
    /// keys (two layers with different names count apart, one name shared
    /// by several routes counts them together) and the `policy` metrics
    /// label. Letters, digits, `-` and `_`, at most 64. Defaults to
    /// `default`.
    ///
    /// ```
    /// # use authgate::ratelimit::{InProcessLimiter, Quota, RateLimitLayer};
    /// let uploads = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_hour(100))
    ///     .policy_name("uploads")
    ///     .unwrap();
    /// # let _ = uploads;
    /// ```
    ///
    /// # Errors
    ///
    /// When `name` is empty, too long, or holds other characters.
    pub fn policy_name(self, name: &str) -> Result<Self, ConfigError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(ConfigError::InvalidName {
                name: name.to_owned(),
                why: "a rate-limit policy name is 1 to 64 letters, digits, '-' or '_'",
            });
        }
        let name = name.to_owned();
        Ok(self.edit(|config| {
            config.metrics = LimitMetrics::new(&name, config.limiter.name());
            config.headers = PolicyHeaders::new(&name, config.quota);
            config.plans.rename(&name);
            config.policy = name;
        }))
    }

    /// The principal's own quota, when `quota_for` gives one (a plan claim,
    /// a tier looked up by subject); others get the layer's. Defaults to
    /// the layer's quota for everyone.
    ///
    /// ```
    /// use authgate::ratelimit::{InProcessLimiter, Quota, RateLimitLayer};
    ///
    /// let limits = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(60))
    ///     .quota_for(|principal| match principal.claim("plan")?.as_str()? {
    ///         "pro" => Some(Quota::per_minute(6_000)),
    ///         _ => None,
    ///     });
    /// # let _ = limits;
    /// ```
    #[must_use]
    pub fn quota_for(
        self,
        quota_for: impl Fn(&Principal) -> Option<Quota> + Send + Sync + 'static,
    ) -> Self {
        self.edit(|config| config.quota_for = Some(Arc::new(quota_for)))
    }

    /// Plan `name`'s quota: principals on that plan get `quota` (and a
    /// `RateLimit-Policy` header saying so, rendered once); principals on
    /// no plan, or on one not configured, get the layer's.
    ///
    /// A principal's plan is its own ([`Principal::plan`]: an API key's
    /// [`KeyRecord::plan`](crate::api_key::KeyRecord::plan), set with
    /// [`KeyRecord::with_plan`](crate::api_key::KeyRecord::with_plan) or
    /// the `plan` column of the PostgreSQL key store), else its
    /// [plan claim](Self::plan_claim) (a JWT's `plan`). A
    /// [`quota_for`](Self::quota_for) that gives a quota comes first.
    ///
    /// ```
    /// use authgate::ratelimit::{InProcessLimiter, Quota, RateLimitLayer};
    ///
    /// let limits = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(60))
    ///     .plan("pro", Quota::per_minute(6_000))
    ///     .plan("enterprise", Quota::per_minute(60_000).burst(5_000));
    /// # let _ = limits;
    /// ```
    #[must_use]
    pub fn plan(self, name: &str, quota: Quota) -> Self {
        self.edit(|config| config.plans.set(name, quota, &config.policy))
    }

    /// The claim a token's plan is read from when the principal carries no
    /// plan of its own (see [`plan`](Self::plan)). Defaults to `plan`; the
    /// claim must be a string.
    ///
    /// ```
    /// # use authgate::ratelimit::{InProcessLimiter, Quota, RateLimitLayer};
    /// let limits = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(60))
    ///     .plan("pro", Quota::per_minute(6_000))
    ///     .plan_claim("https://example.com/tier");
    /// # let _ = limits;
    /// ```
    #[must_use]
    pub fn plan_claim(self, claim: &str) -> Self {
        self.edit(|config| config.plans.set_claim(claim))
    }

    /// Counts all credentials of one subject together (a customer with
    /// several keys shares one budget). Defaults to one budget per
    /// credential id.
    ///
    /// ```
    /// # use authgate::ratelimit::{InProcessLimiter, Quota, RateLimitLayer};
    /// let limits = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(60)).key_by_subject();
    /// # let _ = limits;
    /// ```
    #[must_use]
    pub fn key_by_subject(self) -> Self {
        self.edit(|config| config.key_by = KeyBy::Subject)
    }

    /// Your own key, from the principal and the request (a tenant claim, a
    /// header an outer layer set); `None` lets the request pass uncounted.
    /// The layer prefixes it with its policy name.
    ///
    /// ```
    /// # use authgate::ratelimit::{InProcessLimiter, Quota, RateLimitLayer};
    /// let per_tenant = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(600))
    ///     .key_by(|principal, _parts| Some(principal.claim("tenant")?.as_str()?.to_owned()));
    /// # let _ = per_tenant;
    /// ```
    #[must_use]
    pub fn key_by(
        self,
        key: impl Fn(&Principal, &Parts) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.edit(|config| config.key_by = KeyBy::Custom(Arc::new(key)))
    }

    /// Whether passed requests also get the `RateLimit` and
    /// `RateLimit-Policy` headers. Defaults to `true`.
    ///
    /// ```
    /// # use authgate::ratelimit::{InProcessLimiter, Quota, RateLimitLayer};
    /// let quiet = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(60)).headers_on_success(false);
    /// # let _ = quiet;
    /// ```
    #[must_use]
    pub fn headers_on_success(self, on: bool) -> Self {
        self.edit(|config| config.headers_on_success = on)
    }
}

impl LimitConfig {
    /// The principal's quota and the headers rendered for it:
    /// [`quota_for`](RateLimitLayer::quota_for)'s, else its
    /// [plan](RateLimitLayer::plan)'s, else the layer's.
    #[inline]
    pub(super) fn select(&self, principal: &Principal) -> (Quota, &PolicyHeaders) {
        if let Some(quota) = self.quota_for.as_ref().and_then(|f| f(principal)) {
            return (quota, &self.headers);
        }
        match self.plans.find(principal) {
            Some(plan) => (plan.quota, &plan.headers),
            None => (self.quota, &self.headers),
        }
    }

    /// Checks the principal's key: `policy:scheme:id`, or
    /// `policy:scheme:subject`, or, for a principal with an `iss` claim
    /// (a subject is unique only within its issuer),
    /// `policy:scheme:<length of iss>:iss:subject`; never written out for
    /// the in-process limiter.
    #[inline]
    pub(super) fn check(&self, principal: &Principal, quota: &Quota) -> CheckState {
        let scheme = principal.scheme();
        let id = match (&self.key_by, principal.credential_id()) {
            (KeyBy::Credential, Some(id)) if KEYED_SCHEMES.contains(&scheme) => id,
            _ => {
                let subject = principal.subject();
                if let Some(issuer) = principal.claim("iss").and_then(|v| v.as_str()) {
                    let mut digits = [0u8; 20];
                    let length = decimal(issuer.len(), &mut digits);
                    return self.limiter.check(
                        &[
                            &self.policy,
                            ":",
                            scheme,
                            ":",
                            length,
                            ":",
                            issuer,
                            ":",
                            subject,
                        ],
                        quota,
                    );
                }
                subject
            }
        };
        self.limiter
            .check(&[&self.policy, ":", scheme, ":", id], quota)
    }
}

/// `n` in decimal, written into `digits` (no allocation).
fn decimal(mut n: usize, digits: &mut [u8; 20]) -> &str {
    let mut at = digits.len();
    loop {
        at -= 1;
        if let Some(slot) = digits.get_mut(at) {
            // `n % 10` is below 10.
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    // ASCII digits: never fails.
    digits
        .get(at..)
        .and_then(|d| std::str::from_utf8(d).ok())
        .unwrap_or_default()
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("policy", &self.config.policy)
            .field("quota", &self.config.quota)
            .field("plans", &self.config.plans.len())
            .field("backend", &self.config.limiter.name())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Request, Response};

    #[test]
    fn decimal_writes_any_length_without_allocating() {
        for n in [0usize, 7, 10, 19, 255, 1_000_000, usize::MAX] {
            let mut digits = [0u8; 20];
            assert_eq!(decimal(n, &mut digits), n.to_string());
        }
    }
    use crate::ratelimit::InProcessLimiter;
    use tower::{service_fn, ServiceExt};

    async fn status(layer: &RateLimitLayer, principal: Principal) -> u16 {
        let inner = service_fn(|_: Request<()>| async {
            Ok::<_, std::convert::Infallible>(Response::new(()))
        });
        let mut request = Request::new(());
        request.extensions_mut().insert(principal);
        let response = layer.layer(inner).oneshot(request).await.unwrap();
        response.status().as_u16()
    }

    #[tokio::test]
    async fn tokens_of_one_subject_share_a_budget_keys_do_not() {
        let layer = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(1));
        let token = |jti: &str| Principal::new("user_1", "jwt").with_credential_id(jti);
        assert_eq!(status(&layer, token("jti-1")).await, 200);
        assert_eq!(status(&layer, token("jti-2")).await, 429);

        let key = |id: &str| Principal::new("acct_1", "api_key").with_credential_id(id);
        assert_eq!(status(&layer, key("k1")).await, 200);
        assert_eq!(status(&layer, key("k2")).await, 200);
        assert_eq!(status(&layer, key("k1")).await, 429);
    }

    #[tokio::test]
    async fn a_plan_claim_picks_the_quota_and_its_policy_header() {
        let layer = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(1)).quota_for(
            |p| match p.claim("plan")?.as_str()? {
                "pro" => Some(Quota::per_minute(3)),
                _ => None,
            },
        );
        let token = |subject: &str, plan: &str| {
            let mut claims = serde_json::Map::new();
            claims.insert("plan".into(), plan.into());
            Principal::new(subject, "jwt").with_claims(claims)
        };
        let call = |principal: Principal| {
            let inner = service_fn(|_: Request<()>| async {
                Ok::<_, std::convert::Infallible>(Response::new(()))
            });
            let mut request = Request::new(());
            request.extensions_mut().insert(principal);
            layer.layer(inner).oneshot(request)
        };
        let first = call(token("pro_user", "pro")).await.unwrap();
        assert_eq!(first.headers()["ratelimit-policy"], "\"default\";q=3;w=60");
        assert_eq!(first.headers()["ratelimit"], "\"default\";r=2;t=20");
        assert_eq!(status(&layer, token("pro_user", "pro")).await, 200);
        assert_eq!(status(&layer, token("pro_user", "pro")).await, 200);
        assert_eq!(status(&layer, token("pro_user", "pro")).await, 429);

        let free = call(token("free_user", "free")).await.unwrap();
        assert_eq!(free.headers()["ratelimit-policy"], "\"default\";q=1;w=60");
        assert_eq!(status(&layer, token("free_user", "free")).await, 429);
    }

    #[test]
    fn policy_names_are_checked() {
        let layer = || RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(1));
        assert!(layer().policy_name("uploads-v2").is_ok());
        assert!(layer().policy_name("").is_err());
        assert!(layer().policy_name("a\"b").is_err());
    }
}
