//! The JWT access-token profile (RFC 9068) and the maximum token lifetime.
//!
//! Checked once per token, after the signature and the claims of
//! [`ClaimRules`](super::claims::ClaimRules) and before the token is
//! cached: both rules depend only on the token itself, so a cached token
//! passed them.

use super::claims::{TokenClaims, Validated};
use super::token::{invalid, Header};
use crate::error::AuthError;

/// The claims RFC 9068 §2.2 makes mandatory in a JWT access token.
const REQUIRED: [&str; 7] = ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"];

/// The profile rules of one scheme.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Profile {
    /// RFC 9068 strict mode: `typ` `at+jwt` and every claim of §2.2.
    pub(crate) strict: bool,
    /// The longest `exp − iat` accepted, in seconds (Envoy's `max_lifetime`).
    pub(crate) max_lifetime: Option<u64>,
}

impl Profile {
    /// Whether a validated token meets the profile.
    pub(crate) fn check(
        &self,
        header: &Header<'_>,
        claims: &TokenClaims<'_>,
        token: &Validated,
    ) -> Result<(), AuthError> {
        if self.strict {
            // RFC 9068 §2.1: `at+jwt`, or its full media type; §4 makes
            // resource servers reject anything else.
            let typ_ok = header.typ.as_deref().is_some_and(|t| {
                t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
            });
            if !typ_ok {
                return Err(invalid("the token is not an RFC 9068 access token (typ)"));
            }
            if !REQUIRED.iter().all(|name| claims.has(name)) {
                return Err(invalid("the access token lacks a claim RFC 9068 requires"));
            }
            if claims.client_id().is_none_or(str::is_empty) {
                return Err(invalid("the access token's client_id is not a string"));
            }
        }
        if let Some(max) = self.max_lifetime {
            let Some(iat) = token.iat else {
                return Err(invalid("the token has no iat to bound its lifetime"));
            };
            // Seconds fit in an f64 exactly far beyond any real date.
            #[allow(clippy::cast_precision_loss)]
            let max = max as f64;
            if token.exp - iat > max {
                return Err(invalid("the token's lifetime is longer than allowed"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::jwt::claims::ClaimRules;
    use crate::principal::Principal;
    use serde_json::{json, Value};

    fn token(iat: Option<f64>) -> Validated {
        Validated {
            principal: Principal::new("alice", "jwt"),
            exp: 1_000.0,
            nbf: None,
            iat,
        }
    }

    fn rules() -> ClaimRules {
        ClaimRules {
            leeway: 0,
            required: Vec::new(),
            typ: None,
            scope_claim: None,
        }
    }

    /// Checks `claims` (JSON) with `profile`.
    fn check(profile: Profile, typ: Option<&str>, claims: &Value, iat: Option<f64>) -> bool {
        let json = serde_json::to_vec(claims).unwrap();
        let parsed = TokenClaims::parse(&json, &rules()).unwrap();
        profile.check(&header(typ), &parsed, &token(iat)).is_ok()
    }

    fn header(typ: Option<&str>) -> Header<'_> {
        Header {
            alg: Some(jsonwebtoken::Algorithm::RS256),
            kid: None,
            typ: typ.map(Into::into),
            crit: None,
        }
    }

    #[test]
    fn strict_mode_wants_at_jwt_and_every_claim() {
        let strict = Profile {
            strict: true,
            max_lifetime: None,
        };
        let full = json!({"iss": "i", "exp": 1000, "aud": "a", "sub": "s",
                          "client_id": "c", "iat": 900, "jti": "j"});
        let ok = |typ| check(strict, typ, &full, Some(900.0));
        assert!(ok(Some("at+jwt")));
        assert!(ok(Some("application/AT+JWT")));
        assert!(!ok(Some("JWT")));
        assert!(!ok(None));
        for missing in REQUIRED {
            let mut claims = full.clone();
            claims.as_object_mut().map(|c| c.remove(missing));
            assert!(
                !check(strict, Some("at+jwt"), &claims, Some(900.0)),
                "{missing}"
            );
        }
        for client_id in [json!(""), json!(7), json!(["c"]), json!(null)] {
            let mut claims = full.clone();
            claims["client_id"] = client_id;
            assert!(!check(strict, Some("at+jwt"), &claims, Some(900.0)));
        }
        assert!(check(Profile::default(), None, &full, Some(900.0)));
    }

    #[test]
    fn maximum_lifetime() {
        let p = Profile {
            strict: false,
            max_lifetime: Some(100),
        };
        assert!(check(p, None, &json!({}), Some(900.0)));
        assert!(!check(p, None, &json!({}), Some(899.0)));
        assert!(!check(p, None, &json!({}), None));
    }
}
