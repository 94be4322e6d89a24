//! Authorize: decide whether a verified [`Principal`] may make this request.
//!
//! An [`Authorizer`] runs after a scheme has verified the credential. Attach
//! one to a layer with [`AuthLayerBuilder::authorize`](crate::AuthLayerBuilder::authorize)
//! or per route with [`AuthLayer::with_authorizer`](crate::AuthLayer::with_authorizer).

use std::fmt;

use http::request::Parts;

use crate::error::AuthError;
use crate::principal::{Principal, Scopes};

/// Decides whether a verified principal may make a request.
///
/// Closures `Fn(&Principal, &Parts) -> Result<(), AuthError>` implement it.
///
/// # Example
///
/// ```
/// use authgate::{AuthError, Authorizer, Principal};
///
/// let only_get = |_: &Principal, parts: &http::request::Parts| {
///     if parts.method == http::Method::GET {
///         Ok(())
///     } else {
///         Err(AuthError::forbidden("read-only credential"))
///     }
/// };
/// let req = http::Request::post("/").body(()).unwrap().into_parts().0;
/// let err = only_get.authorize(&Principal::new("u", "api_key"), &req).unwrap_err();
/// assert_eq!(err.description(), "read-only credential");
/// ```
pub trait Authorizer: Send + Sync + 'static {
    /// `Ok(())` to let the request through; an error (usually
    /// [`AuthError::insufficient_scope`] or [`AuthError::forbidden`]) to deny.
    ///
    /// # Errors
    ///
    /// The reason for denying.
    fn authorize(&self, principal: &Principal, request: &Parts) -> Result<(), AuthError>;
}

impl<F> Authorizer for F
where
    F: Fn(&Principal, &Parts) -> Result<(), AuthError> + Send + Sync + 'static,
{
    fn authorize(&self, principal: &Principal, request: &Parts) -> Result<(), AuthError> {
        self(principal, request)
    }
}

/// Requires every one of a set of scopes; answers 403 `insufficient_scope`
/// naming them otherwise.
///
/// ```
/// use authgate::{Authorizer, Principal, RequireScopes, Scopes, ErrorKind};
///
/// let need = RequireScopes::all(["orders:write"]);
/// let reader = Principal::new("u", "api_key").with_scopes(Scopes::parse("orders:read"));
/// let req = http::Request::get("/").body(()).unwrap().into_parts().0;
/// let err = need.authorize(&reader, &req).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InsufficientScope);
/// ```
#[derive(Clone)]
pub struct RequireScopes {
    required: Scopes,
}

impl RequireScopes {
    /// Requires all of `scopes`.
    #[must_use]
    pub fn all<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            required: scopes.into_iter().collect(),
        }
    }
}

impl Authorizer for RequireScopes {
    fn authorize(&self, principal: &Principal, _: &Parts) -> Result<(), AuthError> {
        if principal.scopes().contains_all(&self.required) {
            Ok(())
        } else {
            Err(AuthError::insufficient_scope(self.required.clone()))
        }
    }
}

impl fmt::Debug for RequireScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopes")
            .field("all", &self.required)
            .finish()
    }
}
