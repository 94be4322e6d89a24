//! A principal for handler unit tests, inserted without any verification.

use std::task::{Context, Poll};

use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use crate::principal::Principal;

/// The [`Principal::scheme`] of principals made by [`test_principal`].
pub const TEST_SCHEME: &str = "test-only";

/// A principal for `subject` with space-separated `scopes`, whose scheme is
/// [`TEST_SCHEME`].
///
/// ```
/// let alice = authgate::testing::test_principal("alice", "orders:read");
/// assert!(alice.scopes().contains("orders:read"));
/// assert_eq!(alice.scheme(), "test-only");
/// ```
#[must_use]
pub fn test_principal(subject: &str, scopes: &str) -> Principal {
    Principal::new(subject, TEST_SCHEME).with_scopes(crate::Scopes::parse(scopes))
}

/// Puts `principal` in the request's extensions, where handlers, the axum
/// extractors and per-route rules ([`RequireScopes`](crate::RequireScopes))
/// find it, with no credential and no crypto: for unit tests of handlers,
/// like Spring Security's `jwt()` request post-processor.
///
/// Never use it outside tests: a request passed through it is
/// authenticated as whoever you say.
///
/// ```
/// use authgate::testing::{insert_principal_for_tests_only, test_principal};
///
/// let mut request = http::Request::get("/orders").body(()).unwrap();
/// insert_principal_for_tests_only(&mut request, test_principal("alice", "orders:read"));
/// assert!(request.extensions().get::<authgate::Principal>().is_some());
/// ```
pub fn insert_principal_for_tests_only<B>(request: &mut Request<B>, principal: Principal) {
    request.extensions_mut().insert(principal);
}

/// A layer that authenticates every request as one principal, without any
/// credential: put it where the `AuthLayer` would be to test a router's
/// handlers and per-route rules. See [`insert_principal_for_tests_only`].
///
/// Never use it outside tests: every request passes as that principal.
///
/// ```
/// use authgate::testing::{test_principal, TestOnlyPrincipalLayer};
/// use authgate::{Principal, RequireScopes};
/// use axum::{routing::get, Router};
///
/// async fn me(principal: Principal) -> String {
///     principal.subject().to_owned()
/// }
///
/// let app: Router = Router::new()
///     .route("/me", get(me))
///     .route_layer(RequireScopes::all(["orders:read"]))
///     .layer(TestOnlyPrincipalLayer::new(test_principal("alice", "orders:read")));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct TestOnlyPrincipalLayer {
    principal: Principal,
}

impl TestOnlyPrincipalLayer {
    /// Authenticates every request as `principal`.
    #[must_use]
    pub fn new(principal: Principal) -> Self {
        Self { principal }
    }
}

impl<S> Layer<S> for TestOnlyPrincipalLayer {
    type Service = TestOnlyPrincipal<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TestOnlyPrincipal {
            inner,
            principal: self.principal.clone(),
        }
    }
}

/// The service of [`TestOnlyPrincipalLayer`].
#[derive(Debug, Clone)]
pub struct TestOnlyPrincipal<S> {
    inner: S,
    principal: Principal,
}

impl<S, B> Service<Request<B>> for TestOnlyPrincipal<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        insert_principal_for_tests_only(&mut request, self.principal.clone());
        self.inner.call(request)
    }
}
