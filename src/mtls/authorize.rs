//! [`Workloads`]: authorization by SPIFFE ID, trust domain or path pattern.

use http::request::Parts;

use crate::authorize::Authorizer;
use crate::error::AuthError;
use crate::principal::Principal;

use super::spiffe::SpiffeId;

/// Allows principals whose SPIFFE ID matches one of its rules: an exact ID,
/// a whole trust domain, or a pattern whose last segment is `*` (any one
/// segment) or `**` (anything below). Everyone else gets a 403. Principals
/// not authenticated by a SPIFFE certificate (API keys, JWTs, even with a
/// `spiffe_id` claim, classic certificates) never match.
///
/// Use it per route (`auth.with_authorizer(..)`) or per gRPC method
/// ([`GrpcMethods`](crate::authorize::GrpcMethods)), and combine it with the
/// other authorizers.
///
/// ```
/// use authgate::mtls::Workloads;
/// use authgate::{Authorizer, Principal};
///
/// let payments = Workloads::new()
///     .pattern("spiffe://prod.example/ns/payments/sa/*")
///     .unwrap()
///     .id("spiffe://prod.example/ns/ops/sa/admin")
///     .unwrap();
/// let caller = |id: &str| {
///     let mut claims = serde_json::Map::new();
///     claims.insert("spiffe_id".into(), id.into());
///     Principal::new(id, "mtls").with_claims(claims)
/// };
/// let req = http::Request::get("/").body(()).unwrap().into_parts().0;
/// assert!(payments.authorize(&caller("spiffe://prod.example/ns/payments/sa/api"), &req).is_ok());
/// assert!(payments.authorize(&caller("spiffe://prod.example/ns/payments/sa/api/x"), &req).is_err());
/// assert!(payments.authorize(&caller("spiffe://prod.example/ns/ops/sa/admin"), &req).is_ok());
/// assert!(payments.authorize(&caller("spiffe://other.example/ns/payments/sa/api"), &req).is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Workloads {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
enum Rule {
    Exact(String),
    TrustDomain(String),
    /// Segments of the path before the wildcard, and whether the wildcard
    /// is `**`.
    Pattern {
        trust_domain: String,
        prefix: Vec<String>,
        deep: bool,
    },
}

/// A rule that is not a SPIFFE ID or pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SPIFFE ID, trust domain or pattern: {0}")]
pub struct InvalidWorkloadRule(String);

impl Workloads {
    /// No rule: allows nobody.
    ///
    /// ```
    /// # use authgate::{Authorizer, Principal};
    /// let nobody = authgate::mtls::Workloads::new();
    /// let req = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// assert!(nobody.authorize(&Principal::new("x", "mtls"), &req).is_err());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows exactly this SPIFFE ID.
    ///
    /// # Errors
    ///
    /// When `id` is not a valid SPIFFE ID.
    ///
    /// ```
    /// let rule = authgate::mtls::Workloads::new().id("spiffe://td/api");
    /// assert!(rule.is_ok());
    /// ```
    pub fn id(mut self, id: &str) -> Result<Self, InvalidWorkloadRule> {
        let id = SpiffeId::parse(id).map_err(|_| InvalidWorkloadRule(id.to_owned()))?;
        self.rules.push(Rule::Exact(id.as_str().to_owned()));
        Ok(self)
    }

    /// Allows every SPIFFE ID of this trust domain.
    ///
    /// # Errors
    ///
    /// When `domain` is not a valid trust domain.
    ///
    /// ```
    /// let rule = authgate::mtls::Workloads::new().trust_domain("prod.example");
    /// assert!(rule.is_ok());
    /// ```
    pub fn trust_domain(mut self, domain: &str) -> Result<Self, InvalidWorkloadRule> {
        SpiffeId::parse(&format!("spiffe://{domain}"))
            .map_err(|_| InvalidWorkloadRule(domain.to_owned()))?;
        self.rules.push(Rule::TrustDomain(domain.to_owned()));
        Ok(self)
    }

    /// Allows IDs matching `pattern`: a SPIFFE ID whose last segment is `*`
    /// (exactly one more segment) or `**` (one or more).
    ///
    /// # Errors
    ///
    /// When the pattern is not a SPIFFE ID ending in `/*` or `/**`.
    ///
    /// ```
    /// let rule = authgate::mtls::Workloads::new().pattern("spiffe://td/ns/payments/**");
    /// assert!(rule.is_ok());
    /// assert!(authgate::mtls::Workloads::new().pattern("spiffe://td/a*").is_err());
    /// ```
    pub fn pattern(mut self, pattern: &str) -> Result<Self, InvalidWorkloadRule> {
        let invalid = || InvalidWorkloadRule(pattern.to_owned());
        let (base, deep) = if let Some(base) = pattern.strip_suffix("/**") {
            (base, true)
        } else if let Some(base) = pattern.strip_suffix("/*") {
            (base, false)
        } else {
            return Err(invalid());
        };
        let id = SpiffeId::parse(base).map_err(|_| invalid())?;
        let prefix = id.path().split('/').skip(1).map(str::to_owned).collect();
        self.rules.push(Rule::Pattern {
            trust_domain: id.trust_domain().to_owned(),
            prefix,
            deep,
        });
        Ok(self)
    }

    /// Whether a SPIFFE ID matches one of the rules.
    ///
    /// ```
    /// let rules = authgate::mtls::Workloads::new().trust_domain("td").unwrap();
    /// assert!(rules.allows("spiffe://td/anything"));
    /// assert!(!rules.allows("spiffe://td.evil/anything"));
    /// ```
    #[must_use]
    pub fn allows(&self, id: &str) -> bool {
        let Ok(id) = SpiffeId::parse(id) else {
            return false;
        };
        self.rules.iter().any(|rule| match rule {
            Rule::Exact(exact) => exact == id.as_str(),
            Rule::TrustDomain(domain) => domain == id.trust_domain(),
            Rule::Pattern {
                trust_domain,
                prefix,
                deep,
            } => {
                if trust_domain != id.trust_domain() {
                    return false;
                }
                let segments: Vec<&str> = id.path().split('/').skip(1).collect();
                let rest = segments.len().checked_sub(prefix.len());
                segments.iter().zip(prefix).all(|(s, p)| s == p)
                    && match rest {
                        Some(1) => true,
                        Some(n) => *deep && n >= 1,
                        None => false,
                    }
            }
        })
    }
}

impl Authorizer for Workloads {
    fn authorize(&self, principal: &Principal, _: &Parts) -> Result<(), AuthError> {
        // Only a certificate's SPIFFE ID counts: a token's claims are the
        // issuer's words, not a verified workload identity.
        let id = (principal.scheme() == super::SCHEME_NAME)
            .then(|| principal.claim("spiffe_id").and_then(|v| v.as_str()))
            .flatten();
        if id.is_some_and(|id| self.allows(id)) {
            Ok(())
        } else {
            Err(AuthError::forbidden("this workload is not allowed here"))
        }
    }
}
