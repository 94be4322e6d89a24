//! [`AuthorizeLayer`]: an authorizer as a layer of its own, behind an
//! [`AuthLayer`](crate::AuthLayer).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::{Authorizer, RequireScopes};
use crate::body::ResponseBody;
use crate::error::{AuthError, ErrorKind};
use crate::future::ResponseFuture;
use crate::principal::Principal;
use crate::response::{ProblemDetails, Rejection, RejectionResponse};
use crate::service::{context_of, reject, AuthContext};
use crate::trace;

/// Runs an [`Authorizer`] on the [`Principal`] an outer
/// [`AuthLayer`](crate::AuthLayer) verified: per route, without
/// authenticating twice.
///
/// Denials are answered like the outer layer's (same challenges, same
/// response builder). Used where no `AuthLayer` ran, it answers 401 and logs
/// one error-level event: the routes are misconfigured.
///
/// # Example
///
/// ```
/// use authgate::authorize::{AuthorizeLayer, ByMethod, RequireScopes};
/// use http::Method;
///
/// let orders_rules = AuthorizeLayer::new(
///     ByMethod::new()
///         .on(Method::GET, RequireScopes::all(["orders:read"]))
///         .on(Method::POST, RequireScopes::all(["orders:write"])),
/// );
/// // axum: Router::new().route("/orders", ..).route_layer(orders_rules).layer(auth)
/// # let _ = orders_rules;
/// ```
pub struct AuthorizeLayer<A> {
    authorizer: Arc<A>,
    warned: Arc<AtomicBool>,
}

impl<A: Authorizer> AuthorizeLayer<A> {
    /// A layer running `authorizer`.
    #[must_use]
    pub fn new(authorizer: A) -> Self {
        Self {
            authorizer: Arc::new(authorizer),
            warned: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl<A> Clone for AuthorizeLayer<A> {
    fn clone(&self) -> Self {
        Self {
            authorizer: Arc::clone(&self.authorizer),
            warned: Arc::clone(&self.warned),
        }
    }
}

impl<A: fmt::Debug> fmt::Debug for AuthorizeLayer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeLayer")
            .field("authorizer", &self.authorizer)
            .finish()
    }
}

impl<S, A> Layer<S> for AuthorizeLayer<A> {
    type Service = Authorize<S, A>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorize {
            inner,
            layer: self.clone(),
        }
    }
}

/// `RequireScopes` is a layer too: `route_layer(RequireScopes::all(["admin"]))`.
impl<S> Layer<S> for RequireScopes {
    type Service = Authorize<S, RequireScopes>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthorizeLayer::new(self.clone()).layer(inner)
    }
}

/// The service of [`AuthorizeLayer`].
pub struct Authorize<S, A> {
    inner: S,
    layer: AuthorizeLayer<A>,
}

impl<S, A> Authorize<S, A> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the middleware, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, A> Clone for Authorize<S, A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: fmt::Debug, A: fmt::Debug> fmt::Debug for Authorize<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorize")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, A, ReqBody, ResBody> Service<Request<ReqBody>> for Authorize<S, A>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    A: Authorizer,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let start = trace::Stopwatch::start();
        let (parts, body) = request.into_parts();
        let context = context_of(&parts.extensions);
        let result = match parts.extensions.get::<Principal>() {
            Some(principal) => self
                .layer
                .authorizer
                .authorize(principal, &parts)
                .map_err(|e| (e, Some(principal))),
            None => {
                if context.is_none() && !self.layer.warned.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        target: trace::TARGET,
                        "an authorization layer runs where no AuthLayer authenticated the request; \
                         put AuthLayer outside it (axum: `.route_layer(authorize).layer(auth)`)"
                    );
                }
                Err((AuthError::new(ErrorKind::Missing), None))
            }
        };
        let (error, principal) = match result {
            Ok(()) => {
                return ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)))
            }
            Err(denied) => denied,
        };
        let scheme = principal.map(Principal::scheme);
        match context {
            Some(context) => {
                let observer = &context.config.schemes.observer;
                observer.denied(&parts, scheme, &error, principal, None, start);
            }
            None => trace::denied_outside_layer(&parts, scheme, &error, principal, start),
        }
        let response = match context {
            Some(AuthContext { config, scheme }) => {
                let error = match scheme {
                    Some(index) => error.for_scheme(*index),
                    None => error,
                };
                reject(config, &parts, error)
            }
            None => {
                let grpc = crate::service::is_grpc(&parts);
                let rejection =
                    Rejection::new(&error, &[], grpc, std::time::Duration::from_secs(5));
                let mut response = ProblemDetails.respond(&rejection);
                response.extensions_mut().insert(error.clone());
                response
            }
        };
        ResponseFuture::rejected(response)
    }
}
