//! [`SchemeRouter`]: several schemes behind one credential location.
//!
//! A layer routes each credential by where it was found, and two schemes
//! may not claim the same location: a token is never tried against every
//! verifier in turn. Some credentials still share a location by nature: a
//! JWT and an opaque token both arrive as `Authorization: Bearer`. A
//! `SchemeRouter` is the one scheme that owns such a location; it picks,
//! per credential and from the credential alone, the one scheme that
//! verifies it.
//!
//! The routing order is documented and fixed: the routes in the order they
//! were added, the first whose predicate accepts the credential wins, and
//! the fallback takes everything else. The chosen scheme's answer is final:
//! a JWT rejected by the JWT scheme is never retried elsewhere.

use std::fmt;

use http::request::Parts;

use crate::credentials::{Credential, CredentialLocation};
use crate::error::ConfigError;
use crate::scheme::{Challenge, PrecheckFuture, Scheme, Verification, VerifyContext};

/// Decides from the credential alone whether a route's scheme takes it.
type Predicate = Box<dyn Fn(&Credential) -> bool + Send + Sync>;

/// One scheme that owns a credential location and hands each credential to
/// one of several schemes sharing it: the first route whose predicate
/// accepts it, else the fallback.
///
/// Every scheme behind a router must declare the same locations; the
/// router declares them, answers with the first scheme's challenge, and
/// appears in logs and metrics under its own name. The [`Principal`]
/// keeps the name of the scheme that verified it.
///
/// [`Principal`]: crate::Principal
///
/// # Example
///
/// Two schemes on `Authorization: Token`: tokens starting with `svc_` go
/// to one, everything else to the other.
///
/// ```
/// use authgate::{AuthError, Challenge, Credential, CredentialLocation, ErrorKind,
///                Principal, Scheme, SchemeRouter, Verification, VerifyContext};
///
/// struct Named(&'static str);
/// impl Scheme for Named {
///     fn name(&self) -> &'static str { self.0 }
///     fn locations(&self) -> Vec<CredentialLocation> {
///         vec![CredentialLocation::authorization("Token")]
///     }
///     fn challenge(&self) -> Challenge { Challenge::new("Token") }
///     fn verify(&self, _: &Credential, _: &VerifyContext<'_>) -> Verification {
///         Verification::ready(Ok(Principal::new("someone", self.0)))
///     }
/// }
///
/// let router = SchemeRouter::builder("token")
///     .route(Named("service"), |c: &Credential| c.value().starts_with("svc_"))
///     .fallback(Named("user"))
///     .build()
///     .unwrap();
/// let layer = authgate::AuthLayer::builder().scheme(router).build().unwrap();
/// # let _ = layer;
/// ```
pub struct SchemeRouter {
    name: &'static str,
    routes: Vec<(Box<dyn Scheme>, Predicate)>,
    fallback: Box<dyn Scheme>,
    locations: Vec<CredentialLocation>,
}

/// Builds a [`SchemeRouter`]; see there.
#[must_use]
pub struct SchemeRouterBuilder {
    name: &'static str,
    routes: Vec<(Box<dyn Scheme>, Predicate)>,
    fallback: Option<Box<dyn Scheme>>,
}

impl SchemeRouter {
    /// Starts a router with the name it has in logs and metrics (e.g.
    /// `"bearer"`).
    ///
    /// ```
    /// let builder = authgate::SchemeRouter::builder("bearer");
    /// # let _ = builder;
    /// ```
    pub fn builder(name: &'static str) -> SchemeRouterBuilder {
        SchemeRouterBuilder {
            name,
            routes: Vec::new(),
            fallback: None,
        }
    }

    /// The scheme that verifies `credential`.
    fn pick(&self, credential: &Credential) -> &dyn Scheme {
        self.routes
            .iter()
            .find(|(_, accepts)| accepts(credential))
            .map_or(&*self.fallback, |(scheme, _)| &**scheme)
    }
}

impl SchemeRouterBuilder {
    /// Adds a route, tried after those added before: credentials `accepts`
    /// says yes to go to `scheme`. The predicate must be cheap and must not
    /// verify anything.
    pub fn route<P>(mut self, scheme: impl Scheme, accepts: P) -> Self
    where
        P: Fn(&Credential) -> bool + Send + Sync + 'static,
    {
        self.routes.push((Box::new(scheme), Box::new(accepts)));
        self
    }

    /// The scheme for every credential no route accepted. Required.
    pub fn fallback(mut self, scheme: impl Scheme) -> Self {
        self.fallback = Some(Box::new(scheme));
        self
    }

    /// Checks that every scheme declares the same locations.
    ///
    /// # Errors
    ///
    /// With no fallback, or when the schemes declare different locations.
    pub fn build(self) -> Result<SchemeRouter, ConfigError> {
        let fallback = self.fallback.ok_or(ConfigError::InvalidSetting {
            setting: "fallback",
            why: "a scheme router needs a fallback scheme",
        })?;
        let locations = fallback.locations();
        if self.routes.iter().any(|(s, _)| s.locations() != locations) {
            return Err(ConfigError::InvalidSetting {
                setting: "route",
                why: "every scheme behind a router must declare the same credential locations",
            });
        }
        Ok(SchemeRouter {
            name: self.name,
            routes: self.routes,
            fallback,
            locations,
        })
    }
}

impl Scheme for SchemeRouter {
    fn name(&self) -> &'static str {
        self.name
    }

    fn locations(&self) -> Vec<CredentialLocation> {
        self.locations.clone()
    }

    fn challenge(&self) -> Challenge {
        self.routes
            .first()
            .map_or_else(|| self.fallback.challenge(), |(s, _)| s.challenge())
    }

    fn reads_body(&self) -> bool {
        self.fallback.reads_body() || self.routes.iter().any(|(s, _)| s.reads_body())
    }

    fn needs_body(&self, credential: &Credential, parts: &Parts) -> bool {
        let scheme = self.pick(credential);
        scheme.reads_body() && scheme.needs_body(credential, parts)
    }

    fn check_before_body(&self, credential: &Credential, parts: &Parts) -> Option<PrecheckFuture> {
        self.pick(credential).check_before_body(credential, parts)
    }

    fn verify(&self, credential: &Credential, ctx: &VerifyContext<'_>) -> Verification {
        self.pick(credential).verify(credential, ctx)
    }

    fn response_headers(&self, credential: &Credential, parts: &Parts) -> Option<http::HeaderMap> {
        // The scheme that verified the request: a DPoP nonce comes from it.
        self.pick(credential).response_headers(credential, parts)
    }
}

impl fmt::Debug for SchemeRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes: Vec<_> = self.routes.iter().map(|(s, _)| s.name()).collect();
        f.debug_struct("SchemeRouter")
            .field("name", &self.name)
            .field("routes", &routes)
            .field("fallback", &self.fallback.name())
            .finish()
    }
}

impl fmt::Debug for SchemeRouterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes: Vec<_> = self.routes.iter().map(|(s, _)| s.name()).collect();
        f.debug_struct("SchemeRouterBuilder")
            .field("name", &self.name)
            .field("routes", &routes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::Principal;

    struct Named(&'static str, &'static str);

    impl Scheme for Named {
        fn name(&self) -> &'static str {
            self.0
        }
        fn locations(&self) -> Vec<CredentialLocation> {
            vec![CredentialLocation::authorization(self.1)]
        }
        fn challenge(&self) -> Challenge {
            Challenge::new(self.1)
        }
        fn verify(&self, _: &Credential, _: &VerifyContext<'_>) -> Verification {
            Verification::ready(Ok(Principal::new("x", self.0)))
        }
    }

    #[test]
    fn first_matching_route_then_the_fallback() {
        let router = SchemeRouter::builder("token")
            .route(Named("a", "Token"), |c: &Credential| {
                c.value().starts_with('a')
            })
            .route(Named("ab", "Token"), |c: &Credential| {
                c.value().starts_with("ab")
            })
            .fallback(Named("other", "Token"))
            .build()
            .unwrap_or_else(|e| unreachable!("{e}"));
        let location = CredentialLocation::authorization("Token");
        let pick = |v: &str| router.pick(&Credential::new(location.clone(), v)).name();
        assert_eq!(pick("abc"), "a", "routes in the order they were added");
        assert_eq!(pick("zzz"), "other");
        assert_eq!(router.locations(), vec![location]);
        assert_eq!(router.challenge().scheme(), "Token");
    }

    #[test]
    fn schemes_behind_a_router_share_their_locations() {
        let mixed = SchemeRouter::builder("mixed")
            .route(Named("a", "Token"), |_: &Credential| true)
            .fallback(Named("b", "Bearer"))
            .build();
        assert!(mixed.is_err());
        assert!(SchemeRouter::builder("none")
            .route(Named("a", "Token"), |_: &Credential| true)
            .build()
            .is_err());
    }
}
