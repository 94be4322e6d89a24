//! Authorize: decide whether a verified [`Principal`] may make this request.
//!
//! An [`Authorizer`] looks at the principal and the request (method, path,
//! headers) and allows or denies with a reason. Use one
//!
//! - inside the authentication layer, for every request it lets through:
//!   [`AuthLayerBuilder::authorize`](crate::AuthLayerBuilder::authorize), or
//!   [`AuthLayer::with_authorizer`](crate::AuthLayer::with_authorizer) for a
//!   derived layer;
//! - or as its own layer behind an [`AuthLayer`](crate::AuthLayer), per
//!   route: [`RequireScopes`] is a tower [`Layer`](tower_layer::Layer), and
//!   [`AuthorizeLayer`] turns any authorizer into one. These read the
//!   principal the outer layer stored, and never authenticate twice.
//!
//! Building blocks:
//!
//! - [`RequireScopes`]: all-of or any-of scope sets, exact or hierarchical
//!   (`orders:*` covers `orders:read`) matching;
//! - closures `Fn(&Principal, &Parts) -> Result<(), AuthError>`;
//! - combinators [`all`], [`any`], [`not`];
//! - [`ByMethod`]: a rule per HTTP method;
//! - [`GrpcMethods`]: a rule per gRPC method (`/package.Service/Method`).

mod layer;
mod policy;
mod scopes;

use http::request::Parts;

use crate::error::AuthError;
use crate::principal::Principal;

pub use layer::{Authorize, AuthorizeLayer};
pub use policy::{all, any, not, All, Any, AuthorizerList, ByMethod, GrpcMethods, Not};
pub use scopes::{RequireScopes, ScopeMatching};

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
/// let err = only_get.authorize(&Principal::new("u", authgate::api_key::SCHEME_NAME), &req).unwrap_err();
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

impl Authorizer for Box<dyn Authorizer> {
    fn authorize(&self, principal: &Principal, request: &Parts) -> Result<(), AuthError> {
        (**self).authorize(principal, request)
    }
}
