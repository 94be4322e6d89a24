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
        // Checked without allocating: this runs on every request.
        let Ok(path_start) = super::spiffe::validate(id) else {
            return false;
        };
        let trust_domain = id.get("spiffe://".len()..path_start).unwrap_or_default();
        let path = id.get(path_start..).unwrap_or_default();
        self.rules.iter().any(|rule| match rule {
            Rule::Exact(exact) => exact == id,
            Rule::TrustDomain(domain) => domain == trust_domain,
            Rule::Pattern {
                trust_domain: domain,
                prefix,
                deep,
            } => {
                if domain != trust_domain {
                    return false;
                }
                let mut segments = path.split('/').skip(1).filter(|s| !s.is_empty());
                let prefix_matches = prefix
                    .iter()
                    .all(|p| segments.next().is_some_and(|s| s == p));
                let rest = segments.count();
                prefix_matches && (rest == 1 || (*deep && rest >= 1))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn patterns_match_whole_segments() {
        let one = Workloads::new().pattern("spiffe://td/ns/pay/*").unwrap();
        let deep = Workloads::new().pattern("spiffe://td/ns/pay/**").unwrap();
        for (id, one_level, any_depth) in [
            ("spiffe://td/ns/pay/api", true, true),
            ("spiffe://td/ns/pay/api/v2", false, true),
            ("spiffe://td/ns/pay", false, false),
            ("spiffe://td/ns/payments/api", false, false),
            ("spiffe://td/ns/pa/api", false, false),
            ("spiffe://td2/ns/pay/api", false, false),
            ("spiffe://td/ns/pay/..", false, false),
            ("spiffe://td/ns/pay//api", false, false),
            ("not a spiffe id", false, false),
        ] {
            assert_eq!(one.allows(id), one_level, "{id} /*");
            assert_eq!(deep.allows(id), any_depth, "{id} /**");
        }
        let exact = Workloads::new().id("spiffe://td/a").unwrap();
        assert!(exact.allows("spiffe://td/a"));
        assert!(!exact.allows("spiffe://td/a/b"));
    }
}
