//! Certificate-bound access tokens (RFC 8705 §3): a token whose `cnf`
//! claim carries `x5t#S256` is accepted only over a connection whose client
//! certificate has that thumbprint.
//!
//! The check runs on every request, after the token is validated or taken
//! from the token cache: a cached token never skips it. Without the `mtls`
//! feature no certificate can be seen, so a bound token is refused (fail
//! closed).

use http::request::Parts;

use crate::error::{AuthError, ErrorKind};
use crate::principal::Principal;
use crate::scheme::{Verification, VerificationState};

/// The confirmation member RFC 8705 §3.1 defines.
pub(crate) const X5T_S256: &str = "x5t#S256";

/// The thumbprint of the request's client certificate, if the connection
/// presented one.
fn presented_thumbprint(parts: &Parts) -> Option<String> {
    #[cfg(feature = "mtls")]
    {
        let peer = crate::mtls::peer_certificates(parts)?;
        peer.identity().ok().map(|id| id.thumbprint().to_owned())
    }
    #[cfg(not(feature = "mtls"))]
    {
        let _ = parts;
        None
    }
}

/// The token's `cnf.x5t#S256`, if it is certificate-bound.
pub(crate) fn bound_thumbprint(principal: &Principal) -> Option<&str> {
    principal.claim("cnf")?.as_object()?.get(X5T_S256)?.as_str()
}

fn unbound(description: &'static str) -> AuthError {
    AuthError::new(ErrorKind::InvalidFormat).with_description(description)
}

/// Refuses a certificate-bound token that did not come over a connection
/// with its certificate.
fn check(principal: Principal, presented: Option<&str>) -> Result<Principal, AuthError> {
    let Some(bound) = bound_thumbprint(&principal) else {
        if principal.claim("cnf").is_some_and(|cnf| {
            cnf.as_object()
                .is_none_or(|cnf| cnf.get(X5T_S256).is_some())
        }) {
            return Err(unbound("the token's cnf claim is malformed"));
        }
        return Ok(principal);
    };
    match presented {
        None => Err(unbound(
            "the token is bound to a client certificate the connection did not present",
        )),
        // Thumbprints are public: no secret is compared here.
        Some(presented) if presented == bound => Ok(principal),
        Some(_) => Err(unbound("the token is bound to another client certificate")),
    }
}

/// Applies the binding check to a verification, now or when it finishes.
pub(crate) fn enforce(verification: Verification, parts: &Parts) -> Verification {
    match verification.0 {
        VerificationState::Ready(Err(error)) => Verification::ready(Err(error)),
        VerificationState::Ready(Ok(principal)) => {
            if principal.claim("cnf").is_none() {
                return Verification::ready(Ok(principal));
            }
            let presented = presented_thumbprint(parts);
            Verification::ready(check(principal, presented.as_deref()))
        }
        VerificationState::Pending(future) => {
            let presented = presented_thumbprint(parts);
            Verification::pending(async move {
                future
                    .await
                    .and_then(|principal| check(principal, presented.as_deref()))
            })
        }
    }
}

/// Allows only certificate-bound tokens (RFC 8705 §3): a JWT principal
/// whose `cnf` carries `x5t#S256` (which the [`JwtScheme`](super::JwtScheme)
/// has already matched against the connection's client certificate).
/// Everything else gets a 401 `invalid_token`. Use it per route, so that a
/// stolen token is useless without the client's key.
///
/// ```
/// use authgate::jwt::CertificateBound;
/// use authgate::{Authorizer, Principal};
///
/// let req = http::Request::get("/").body(()).unwrap().into_parts().0;
/// let mut claims = serde_json::Map::new();
/// claims.insert("cnf".into(), serde_json::json!({ "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" }));
/// let bound = Principal::new("alice", "jwt").with_claims(claims);
/// assert!(CertificateBound.authorize(&bound, &req).is_ok());
/// assert!(CertificateBound.authorize(&Principal::new("bob", "jwt"), &req).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CertificateBound;

impl crate::authorize::Authorizer for CertificateBound {
    fn authorize(&self, principal: &Principal, _: &Parts) -> Result<(), AuthError> {
        if principal.scheme() == super::SCHEME_NAME && bound_thumbprint(principal).is_some() {
            Ok(())
        } else {
            Err(unbound("this resource needs a certificate-bound token"))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn principal(cnf: serde_json::Value) -> Principal {
        let mut claims = serde_json::Map::new();
        claims.insert("cnf".into(), cnf);
        Principal::new("alice", "jwt").with_claims(claims)
    }

    #[test]
    fn binding_rules() {
        let bound = || principal(serde_json::json!({ "x5t#S256": "abc" }));
        assert!(check(bound(), Some("abc")).is_ok());
        assert!(check(bound(), Some("abd")).is_err());
        assert!(check(bound(), None).is_err());
        assert!(check(principal(serde_json::json!({ "x5t#S256": 1 })), Some("abc")).is_err());
        assert!(check(principal(serde_json::json!("abc")), Some("abc")).is_err());
        // A `cnf` of another kind (e.g. `jkt`) is not this check's business.
        assert!(check(principal(serde_json::json!({ "jkt": "x" })), None).is_ok());
        assert!(check(Principal::new("bob", "jwt"), None).is_ok());
    }
}
