//! Combinators and per-method rules, so that common policies need no
//! hand-written closure.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use http::request::Parts;
use http::Method;

use super::Authorizer;
use crate::error::{AuthError, ErrorKind};
use crate::principal::Principal;

/// A list of authorizers for [`all`] and [`any`]: a tuple of up to eight
/// authorizers, or a `Vec<Box<dyn Authorizer>>`.
pub trait AuthorizerList: Send + Sync + 'static {
    /// Runs each authorizer in order until `stop` says so; returns the last
    /// result, or `None` for an empty list.
    #[doc(hidden)]
    fn run_until(
        &self,
        principal: &Principal,
        request: &Parts,
        stop: fn(&Result<(), AuthError>) -> bool,
    ) -> Option<Result<(), AuthError>>;
}

impl AuthorizerList for Vec<Box<dyn Authorizer>> {
    fn run_until(
        &self,
        principal: &Principal,
        request: &Parts,
        stop: fn(&Result<(), AuthError>) -> bool,
    ) -> Option<Result<(), AuthError>> {
        let mut last = None;
        for authorizer in self {
            let result = authorizer.authorize(principal, request);
            let done = stop(&result);
            last = Some(result);
            if done {
                break;
            }
        }
        last
    }
}

macro_rules! tuple_list {
    ($($name:ident),+) => {
        impl<$($name: Authorizer),+> AuthorizerList for ($($name,)+) {
            #[allow(non_snake_case, unused_mut)]
            fn run_until(
                &self,
                principal: &Principal,
                request: &Parts,
                stop: fn(&Result<(), AuthError>) -> bool,
            ) -> Option<Result<(), AuthError>> {
                let ($($name,)+) = self;
                let mut last;
                $(
                    let result = $name.authorize(principal, request);
                    let done = stop(&result);
                    last = Some(result);
                    if done {
                        return last;
                    }
                )+
                last
            }
        }
    };
}

tuple_list!(A);
tuple_list!(A, B);
tuple_list!(A, B, C);
tuple_list!(A, B, C, D);
tuple_list!(A, B, C, D, E);
tuple_list!(A, B, C, D, E, F);
tuple_list!(A, B, C, D, E, F, G);
tuple_list!(A, B, C, D, E, F, G, H);

/// Allows when every authorizer allows; denies with the first denial.
/// An empty list allows.
///
/// ```
/// use authgate::authorize::{all, RequireScopes};
/// use authgate::{AuthError, Authorizer, Principal, Scopes};
///
/// let tenant_acme = |p: &Principal, _: &http::request::Parts| match p.subject().starts_with("acme/") {
///     true => Ok(()),
///     false => Err(AuthError::forbidden("wrong tenant")),
/// };
/// let rule = all((RequireScopes::all(["orders:read"]), tenant_acme));
///
/// let req = http::Request::get("/").body(()).unwrap().into_parts().0;
/// let bob = Principal::new("globex/bob", authgate::jwt::SCHEME_NAME).with_scopes(Scopes::parse("orders:read"));
/// assert_eq!(rule.authorize(&bob, &req).unwrap_err().description(), "wrong tenant");
/// ```
pub fn all<L: AuthorizerList>(authorizers: L) -> All<L> {
    All(authorizers)
}

/// Allows when at least one authorizer allows; otherwise denies with the
/// last denial. An empty list denies.
///
/// ```
/// use authgate::authorize::{any, RequireScopes};
/// use authgate::{Authorizer, Principal, Scopes};
///
/// let rule = any((RequireScopes::all(["admin"]), RequireScopes::all(["orders:read"])));
/// let req = http::Request::get("/").body(()).unwrap().into_parts().0;
/// let reader = Principal::new("u", authgate::api_key::SCHEME_NAME).with_scopes(Scopes::parse("orders:read"));
/// assert!(rule.authorize(&reader, &req).is_ok());
/// ```
pub fn any<L: AuthorizerList>(authorizers: L) -> Any<L> {
    Any(authorizers)
}

/// Allows exactly when `authorizer` denies (403); denies with `reason` when
/// it allows; passes any other error (such as a 503) through.
///
/// ```
/// use authgate::authorize::{not, RequireScopes};
/// use authgate::{Authorizer, Principal, Scopes};
///
/// let no_guests = not(RequireScopes::all(["guest"]), "guests may not do this");
/// let req = http::Request::get("/").body(()).unwrap().into_parts().0;
/// let guest = Principal::new("g", authgate::api_key::SCHEME_NAME).with_scopes(Scopes::parse("guest"));
/// assert_eq!(no_guests.authorize(&guest, &req).unwrap_err().description(), "guests may not do this");
/// ```
pub fn not<A: Authorizer>(authorizer: A, reason: impl Into<Cow<'static, str>>) -> Not<A> {
    Not {
        inner: authorizer,
        reason: reason.into(),
    }
}

/// See [`all`].
#[derive(Clone)]
pub struct All<L>(L);

/// See [`any`].
#[derive(Clone)]
pub struct Any<L>(L);

/// See [`not`].
#[derive(Clone)]
pub struct Not<A> {
    inner: A,
    reason: Cow<'static, str>,
}

impl<L: AuthorizerList> Authorizer for All<L> {
    fn authorize(&self, principal: &Principal, request: &Parts) -> Result<(), AuthError> {
        self.0
            .run_until(principal, request, Result::is_err)
            .unwrap_or(Ok(()))
    }
}

impl<L: AuthorizerList> Authorizer for Any<L> {
    fn authorize(&self, principal: &Principal, request: &Parts) -> Result<(), AuthError> {
        self.0
            .run_until(principal, request, Result::is_ok)
            .unwrap_or_else(|| Err(AuthError::forbidden("no rule allows this request")))
    }
}

impl<A: Authorizer> Authorizer for Not<A> {
    fn authorize(&self, principal: &Principal, request: &Parts) -> Result<(), AuthError> {
        match self.inner.authorize(principal, request) {
            Ok(()) => Err(AuthError::forbidden(self.reason.clone())),
            // Only a denial flips to allow; an error (a 503 from a policy
            // that could not decide) stays an error.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Forbidden | ErrorKind::InsufficientScope
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

impl<L> fmt::Debug for All<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("All(..)")
    }
}

impl<L> fmt::Debug for Any<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Any(..)")
    }
}

impl<A> fmt::Debug for Not<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Not").field("reason", &self.reason).finish()
    }
}

/// A rule per HTTP method; methods without a rule are denied.
///
/// ```
/// use authgate::authorize::{ByMethod, RequireScopes};
/// use authgate::{Authorizer, ErrorKind, Principal, Scopes};
/// use http::Method;
///
/// let orders = ByMethod::new()
///     .on(Method::GET, RequireScopes::all(["orders:read"]))
///     .on(Method::POST, RequireScopes::all(["orders:write"]));
///
/// let reader = Principal::new("u", authgate::api_key::SCHEME_NAME).with_scopes(Scopes::parse("orders:read"));
/// let get = http::Request::get("/orders").body(()).unwrap().into_parts().0;
/// let post = http::Request::post("/orders").body(()).unwrap().into_parts().0;
/// let delete = http::Request::delete("/orders").body(()).unwrap().into_parts().0;
/// assert!(orders.authorize(&reader, &get).is_ok());
/// assert_eq!(orders.authorize(&reader, &post).unwrap_err().kind(), ErrorKind::InsufficientScope);
/// assert_eq!(orders.authorize(&reader, &delete).unwrap_err().kind(), ErrorKind::Forbidden);
/// ```
#[derive(Default)]
pub struct ByMethod {
    rules: Vec<(Method, Box<dyn Authorizer>)>,
    otherwise: Option<Box<dyn Authorizer>>,
}

impl ByMethod {
    /// No rules: every method is denied.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The rule for `method` (`HEAD` falls back to the `GET` rule when it
    /// has none of its own).
    #[must_use]
    pub fn on(mut self, method: Method, authorizer: impl Authorizer) -> Self {
        self.rules.push((method, Box::new(authorizer)));
        self
    }

    /// The rule for methods without one. Defaults to denying them.
    #[must_use]
    pub fn otherwise(mut self, authorizer: impl Authorizer) -> Self {
        self.otherwise = Some(Box::new(authorizer));
        self
    }

    fn rule(&self, method: &Method) -> Option<&dyn Authorizer> {
        let find = |m: &Method| self.rules.iter().find(|(r, _)| r == m).map(|(_, a)| &**a);
        find(method)
            .or_else(|| {
                (method == Method::HEAD)
                    .then(|| find(&Method::GET))
                    .flatten()
            })
            .or(self.otherwise.as_deref())
    }
}

impl Authorizer for ByMethod {
    fn authorize(&self, principal: &Principal, request: &Parts) -> Result<(), AuthError> {
        match self.rule(&request.method) {
            Some(rule) => rule.authorize(principal, request),
            None => Err(AuthError::forbidden(
                "this method is not allowed for any credential",
            )),
        }
    }
}

impl fmt::Debug for ByMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let methods: Vec<_> = self.rules.iter().map(|(m, _)| m.as_str()).collect();
        f.debug_struct("ByMethod")
            .field("methods", &methods)
            .field("otherwise", &self.otherwise.is_some())
            .finish()
    }
}

/// A rule per gRPC method, keyed by its path `/package.Service/Method`;
/// methods without a rule are denied (`PERMISSION_DENIED`).
///
/// Name services by the constant tonic generates rather than by hand, so
/// that a renamed or mistyped service fails to compile instead of silently
/// denying every call: `OrdersServer::<MyOrders>::NAME` (tonic's
/// `NamedService`) or `orders_server::SERVICE_NAME`, with
/// [`method_in`](Self::method_in) and [`service`](Self::service). Method
/// names are not exported by tonic's generated code; a call to a service
/// that has rules but none for the method is denied and logged once at
/// `warn` with the rules that exist, so a typo shows up in the first test.
///
/// ```
/// use authgate::authorize::{GrpcMethods, RequireScopes};
/// use authgate::{Authorizer, Principal, Scopes};
/// # mod orders_server { pub const SERVICE_NAME: &str = "shop.Orders"; }
///
/// let rules = GrpcMethods::new()
///     .method_in(orders_server::SERVICE_NAME, "Get", RequireScopes::all(["orders:read"]))
///     .method("/shop.Orders/Create", RequireScopes::all(["orders:write"]));
///
/// let reader = Principal::new("u", authgate::api_key::SCHEME_NAME).with_scopes(Scopes::parse("orders:read"));
/// let get = http::Request::post("/shop.Orders/Get").body(()).unwrap().into_parts().0;
/// let create = http::Request::post("/shop.Orders/Create").body(()).unwrap().into_parts().0;
/// assert!(rules.authorize(&reader, &get).is_ok());
/// assert!(rules.authorize(&reader, &create).is_err());
/// ```
#[derive(Default)]
pub struct GrpcMethods {
    rules: Vec<(String, Box<dyn Authorizer>)>,
    otherwise: Option<Box<dyn Authorizer>>,
    warned: AtomicBool,
}

impl GrpcMethods {
    /// No rules: every method is denied.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The rule for the method at `path`, e.g. `/shop.Orders/Get`. A path
    /// not of that shape can never match; it is logged at `warn`.
    #[must_use]
    pub fn method(mut self, path: impl Into<String>, authorizer: impl Authorizer) -> Self {
        let path = path.into();
        if !is_method_path(&path) {
            tracing::warn!(
                target: crate::trace::TARGET,
                path = %path,
                "GrpcMethods: not a gRPC method path (/package.Service/Method); this rule never matches"
            );
        }
        self.rules.push((path, Box::new(authorizer)));
        self
    }

    /// The rule for `method` of `service`: `method_in("shop.Orders", "Get",
    /// ..)` is `method("/shop.Orders/Get", ..)`. Pass tonic's generated
    /// service name (`OrdersServer::<T>::NAME`, `orders_server::SERVICE_NAME`)
    /// as `service`.
    ///
    /// ```
    /// use authgate::authorize::{GrpcMethods, RequireScopes};
    /// # mod orders_server { pub const SERVICE_NAME: &str = "shop.Orders"; }
    /// let rules = GrpcMethods::new()
    ///     .method_in(orders_server::SERVICE_NAME, "Create", RequireScopes::all(["orders:write"]));
    /// # let _ = rules;
    /// ```
    #[must_use]
    pub fn method_in(self, service: &str, method: &str, authorizer: impl Authorizer) -> Self {
        self.method(format!("/{service}/{method}"), authorizer)
    }

    /// The rule for every method of `service` (`shop.Orders`, or tonic's
    /// `OrdersServer::<T>::NAME`) that has no rule of its own.
    #[must_use]
    pub fn service(mut self, service: &str, authorizer: impl Authorizer) -> Self {
        self.rules
            .push((format!("/{service}/"), Box::new(authorizer)));
        self
    }

    /// The rule for methods without one. Defaults to denying them.
    #[must_use]
    pub fn otherwise(mut self, authorizer: impl Authorizer) -> Self {
        self.otherwise = Some(Box::new(authorizer));
        self
    }

    fn rule(&self, path: &str) -> Option<&dyn Authorizer> {
        let exact = self.rules.iter().find(|(p, _)| p == path);
        let service = || {
            self.rules
                .iter()
                .find(|(p, _)| p.ends_with('/') && path.starts_with(p.as_str()))
        };
        exact
            .or_else(service)
            .map(|(_, a)| &**a)
            .or(self.otherwise.as_deref())
    }

    /// Once per rule set: a call to a service that has rules, but none for
    /// this method, is most likely a typo in a method name.
    fn warn_unmatched(&self, path: &str) {
        let Some(service) = path.rfind('/').and_then(|end| path.get(..=end)) else {
            return;
        };
        let known: Vec<&str> = self
            .rules
            .iter()
            .map(|(p, _)| p.as_str())
            .filter(|p| p.starts_with(service))
            .collect();
        if !known.is_empty() && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: crate::trace::TARGET,
                method = %path,
                rules = ?known,
                "GrpcMethods: no rule for this method of a service that has rules; denied (a typo in a method name?)"
            );
        }
    }
}

/// `/package.Service/Method`: two non-empty segments.
fn is_method_path(path: &str) -> bool {
    let mut segments = path.split('/');
    matches!(
        (segments.next(), segments.next(), segments.next(), segments.next()),
        (Some(""), Some(service), Some(method), None) if !service.is_empty() && !method.is_empty()
    )
}

impl Authorizer for GrpcMethods {
    fn authorize(&self, principal: &Principal, request: &Parts) -> Result<(), AuthError> {
        match self.rule(request.uri.path()) {
            Some(rule) => rule.authorize(principal, request),
            None => {
                self.warn_unmatched(request.uri.path());
                Err(AuthError::forbidden(
                    "this method is not allowed for any credential",
                ))
            }
        }
    }
}

impl fmt::Debug for GrpcMethods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let paths: Vec<_> = self.rules.iter().map(|(p, _)| p.as_str()).collect();
        f.debug_struct("GrpcMethods")
            .field("methods", &paths)
            .field("otherwise", &self.otherwise.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::RequireScopes;
    use crate::principal::Scopes;

    fn parts(method: Method, path: &str) -> Parts {
        http::Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    fn with(scopes: &str) -> Principal {
        Principal::new("u", "test").with_scopes(Scopes::parse(scopes))
    }

    #[test]
    fn combinators() {
        let get = parts(Method::GET, "/");
        let a = || RequireScopes::all(["a"]);
        let b = || RequireScopes::all(["b"]);
        assert!(all((a(), b())).authorize(&with("a b"), &get).is_ok());
        assert!(all((a(), b())).authorize(&with("a"), &get).is_err());
        assert!(any((a(), b())).authorize(&with("b"), &get).is_ok());
        assert!(any((a(), b())).authorize(&with("c"), &get).is_err());
        assert!(not(a(), "no").authorize(&with("c"), &get).is_ok());
        let unsure = |_: &Principal, _: &Parts| Err(AuthError::new(ErrorKind::Unavailable));
        assert_eq!(
            not(unsure, "no")
                .authorize(&with(""), &get)
                .unwrap_err()
                .kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(
            not(a(), "no")
                .authorize(&with("a"), &get)
                .unwrap_err()
                .kind(),
            ErrorKind::Forbidden
        );
        let empty: Vec<Box<dyn Authorizer>> = Vec::new();
        assert!(all(empty).authorize(&with(""), &get).is_ok());
        let empty: Vec<Box<dyn Authorizer>> = Vec::new();
        assert!(any(empty).authorize(&with(""), &get).is_err());
        let boxed: Vec<Box<dyn Authorizer>> = vec![Box::new(a()), Box::new(b())];
        assert!(any(boxed).authorize(&with("b"), &get).is_ok());
    }

    #[test]
    fn by_method_falls_back_for_head_and_denies_the_rest() {
        let rule = ByMethod::new().on(Method::GET, RequireScopes::all(["r"]));
        assert!(rule
            .authorize(&with("r"), &parts(Method::HEAD, "/"))
            .is_ok());
        assert!(rule
            .authorize(&with("r"), &parts(Method::PUT, "/"))
            .is_err());
        let open = ByMethod::new().otherwise(RequireScopes::all(Vec::<String>::new()));
        assert!(open.authorize(&with(""), &parts(Method::PUT, "/")).is_ok());
    }

    #[test]
    fn grpc_methods_prefer_the_exact_rule() {
        let rules = GrpcMethods::new()
            .service("shop.Orders", RequireScopes::all(["orders"]))
            .method("/shop.Orders/Delete", RequireScopes::all(["admin"]));
        let p = |path| parts(Method::POST, path);
        assert!(rules
            .authorize(&with("orders"), &p("/shop.Orders/Get"))
            .is_ok());
        assert!(rules
            .authorize(&with("orders"), &p("/shop.Orders/Delete"))
            .is_err());
        assert!(rules
            .authorize(&with("admin"), &p("/shop.Orders/Delete"))
            .is_ok());
        assert!(rules
            .authorize(&with("orders"), &p("/shop.Other/Get"))
            .is_err());
    }

    #[test]
    fn grpc_methods_by_service_name() {
        const SERVICE: &str = "shop.Orders"; // as tonic generates it
        let rules = GrpcMethods::new()
            .method_in(SERVICE, "Get", RequireScopes::all(["r"]))
            .method_in(SERVICE, "Create", RequireScopes::all(["w"]));
        let p = |path| parts(Method::POST, path);
        assert!(rules.authorize(&with("r"), &p("/shop.Orders/Get")).is_ok());
        assert!(rules
            .authorize(&with("r"), &p("/shop.Orders/Create"))
            .is_err());
        assert!(rules
            .authorize(&with("w"), &p("/shop.Orders/Create"))
            .is_ok());
        // An unknown method of a known service is denied (and warned about).
        assert!(rules
            .authorize(&with("r w"), &p("/shop.Orders/Delete"))
            .is_err());
        assert!(is_method_path("/shop.Orders/Get"));
        assert!(!is_method_path("shop.Orders/Get"));
        assert!(!is_method_path("/shop.Orders/"));
        assert!(!is_method_path("/shop.Orders/Get/x"));
    }
}
