//! [`AuthLayer`]: the configuration, built once, shared by every clone.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::authorize::{Authorizer, RequireScopes};
use crate::credentials::Extractor;
use crate::error::ConfigError;
use crate::response::{ProblemDetails, RejectionResponse};
use crate::scheme::{Challenge, Scheme};
use crate::service::Auth;

/// A tower [`Layer`] that authenticates every request with one of its
/// schemes, optionally authorizes it, and answers rejections itself.
///
/// Cloning is cheap: schemes and their caches are shared.
///
/// # Example
///
/// ```
/// use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
/// use authgate::AuthLayer;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = InMemoryKeyStore::new();
/// let layer = AuthLayer::builder()
///     .scheme(ApiKeyScheme::new(store, "sk_live")?)
///     .anonymous_path("/health")
///     .build()?;
///
/// let service = ServiceBuilder::new().layer(layer).service(service_fn(|_req| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
/// }));
///
/// let response = service.clone().oneshot(http::Request::get("/orders").body(())?).await?;
/// assert_eq!(response.status(), 401);
/// let response = service.oneshot(http::Request::get("/health").body(())?).await?;
/// assert_eq!(response.status(), 200);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AuthLayer {
    config: Arc<Config>,
}

/// What every clone of a layer and its services share.
pub(crate) struct Config {
    pub(crate) schemes: Arc<Schemes>,
    pub(crate) anonymous: AnonymousPaths,
    pub(crate) authorizer: Option<Arc<dyn Authorizer>>,
    pub(crate) rejection: Arc<dyn RejectionResponse>,
    pub(crate) retry_after: Duration,
}

/// The schemes, their challenges and the routing table to them: shared even
/// between layers derived with [`AuthLayer::with_authorizer`].
pub(crate) struct Schemes {
    pub(crate) list: Vec<Box<dyn Scheme>>,
    pub(crate) challenges: Vec<Challenge>,
    pub(crate) extractor: Extractor,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct AnonymousPaths {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl AnonymousPaths {
    /// Whether `path` needs no credential. Fails closed: a path with dot
    /// segments or percent-encoded bytes never matches a prefix, since a
    /// router further in may resolve it to a protected route.
    pub(crate) fn matches(&self, path: &str) -> bool {
        self.exact.iter().any(|p| p == path)
            || (!self.prefixes.is_empty()
                && is_plain_path(path)
                && self.prefixes.iter().any(|p| path.starts_with(&**p)))
    }
}

/// No `.`/`..` segments and no percent-encoding.
fn is_plain_path(path: &str) -> bool {
    !path.contains('%')
        && path
            .split('/')
            .all(|segment| segment != "." && segment != "..")
}

impl AuthLayer {
    /// Starts building a layer.
    pub fn builder() -> AuthLayerBuilder {
        AuthLayerBuilder::default()
    }

    /// A copy of this layer, sharing its schemes and caches, that also runs
    /// `authorizer`. Meant for per-route rules with axum's `route_layer`.
    ///
    /// ```
    /// # use authgate::{AuthLayer, RequireScopes};
    /// # use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
    /// # let auth = AuthLayer::builder()
    /// #     .scheme(ApiKeyScheme::new(InMemoryKeyStore::new(), "sk_live").unwrap())
    /// #     .build().unwrap();
    /// let admin_only = auth.with_authorizer(RequireScopes::all(["admin"]));
    /// # let _ = admin_only;
    /// ```
    #[must_use]
    pub fn with_authorizer(&self, authorizer: impl Authorizer) -> Self {
        Self {
            config: Arc::new(Config {
                schemes: Arc::clone(&self.config.schemes),
                anonymous: self.config.anonymous.clone(),
                authorizer: Some(Arc::new(authorizer)),
                rejection: Arc::clone(&self.config.rejection),
                retry_after: self.config.retry_after,
            }),
        }
    }

    /// Shorthand for `with_authorizer(RequireScopes::all(scopes))`.
    ///
    /// ```
    /// # use authgate::AuthLayer;
    /// # use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
    /// # let auth = AuthLayer::builder()
    /// #     .scheme(ApiKeyScheme::new(InMemoryKeyStore::new(), "sk_live").unwrap())
    /// #     .build().unwrap();
    /// let writers = auth.require_scopes(["orders:write"]);
    /// # let _ = writers;
    /// ```
    #[must_use]
    pub fn require_scopes<I, S>(&self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.with_authorizer(RequireScopes::all(scopes))
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth::new(inner, Arc::clone(&self.config))
    }
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.schemes.list.iter().map(|s| s.name()).collect();
        f.debug_struct("AuthLayer")
            .field("schemes", &names)
            .field("anonymous", &self.anonymous)
            .field("authorizer", &self.authorizer.is_some())
            .field("retry_after", &self.retry_after)
            .finish_non_exhaustive()
    }
}

/// Builds an [`AuthLayer`]. Settings are checked by [`build`](Self::build).
///
/// ```
/// use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
/// use authgate::AuthLayer;
/// use std::time::Duration;
///
/// let layer = AuthLayer::builder()
///     .scheme(ApiKeyScheme::new(InMemoryKeyStore::new(), "sk_live").unwrap())
///     .realm("orders-api")
///     .anonymous_path("/health")
///     .anonymous_prefix("/public/")
///     .require_scopes(["orders:read"])
///     .retry_after(Duration::from_secs(10))
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
#[must_use]
pub struct AuthLayerBuilder {
    schemes: Vec<Box<dyn Scheme>>,
    realm: Option<String>,
    anonymous: AnonymousPaths,
    authorizer: Option<Arc<dyn Authorizer>>,
    rejection: Arc<dyn RejectionResponse>,
    retry_after: Duration,
}

impl Default for AuthLayerBuilder {
    fn default() -> Self {
        Self {
            schemes: Vec::new(),
            realm: None,
            anonymous: AnonymousPaths::default(),
            authorizer: None,
            rejection: Arc::new(ProblemDetails),
            retry_after: Duration::from_secs(5),
        }
    }
}

impl AuthLayerBuilder {
    /// Adds a scheme. Each scheme owns the credential locations it declares;
    /// two schemes may not share one.
    pub fn scheme(mut self, scheme: impl Scheme) -> Self {
        self.schemes.push(Box::new(scheme));
        self
    }

    /// The `realm` added to every challenge that has none. Defaults to no
    /// realm.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// A path (exact match) that needs no credential, such as `/health`. A
    /// credential sent there anyway is still verified, and a bad one
    /// rejected; the authorizer does not run. Defaults to none.
    pub fn anonymous_path(mut self, path: impl Into<String>) -> Self {
        self.anonymous.exact.push(path.into());
        self
    }

    /// Like [`anonymous_path`](Self::anonymous_path) for every path that
    /// starts with `prefix`. Paths with `.` or `..` segments or
    /// percent-encoded bytes never match a prefix, so that no router further
    /// in can resolve an "anonymous" path to a protected route. Defaults to
    /// none.
    pub fn anonymous_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.anonymous.prefixes.push(prefix.into());
        self
    }

    /// Runs `authorizer` after every successful authentication. Defaults to
    /// none: any verified principal passes.
    pub fn authorize(mut self, authorizer: impl Authorizer) -> Self {
        self.authorizer = Some(Arc::new(authorizer));
        self
    }

    /// Shorthand for `authorize(RequireScopes::all(scopes))`.
    pub fn require_scopes<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.authorize(RequireScopes::all(scopes))
    }

    /// Replaces how rejections are answered. Defaults to [`ProblemDetails`].
    pub fn rejection_response(mut self, rejection: impl RejectionResponse) -> Self {
        self.rejection = Arc::new(rejection);
        self
    }

    /// The `Retry-After` sent with a 503. Defaults to 5 seconds.
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Checks the configuration and builds the layer.
    ///
    /// # Errors
    ///
    /// With no scheme, when two schemes claim the same credential location,
    /// or when the realm cannot be sent in a header.
    pub fn build(self) -> Result<AuthLayer, ConfigError> {
        if self.schemes.is_empty() {
            return Err(ConfigError::NoScheme);
        }
        let mut extractor = Extractor::default();
        let mut challenges = Vec::with_capacity(self.schemes.len());
        for (index, scheme) in self.schemes.iter().enumerate() {
            for location in scheme.locations() {
                extractor.add(location, index)?;
            }
            let mut challenge = scheme.challenge();
            if let Some(realm) = &self.realm {
                if !challenge.params().any(|(name, _)| name == "realm") {
                    challenge = challenge.param("realm", realm.clone())?;
                }
            }
            challenges.push(challenge);
        }
        if self.retry_after.is_zero() {
            return Err(ConfigError::InvalidSetting {
                setting: "retry_after",
                why: "must be at least one second",
            });
        }
        Ok(AuthLayer {
            config: Arc::new(Config {
                schemes: Arc::new(Schemes {
                    list: self.schemes,
                    challenges,
                    extractor,
                }),
                anonymous: self.anonymous,
                authorizer: self.authorizer,
                rejection: self.rejection,
                retry_after: self.retry_after,
            }),
        })
    }
}

impl fmt::Debug for AuthLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.schemes.iter().map(|s| s.name()).collect();
        f.debug_struct("AuthLayerBuilder")
            .field("schemes", &names)
            .field("realm", &self.realm)
            .field("anonymous", &self.anonymous)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_prefixes_fail_closed_on_tricky_paths() {
        let paths = AnonymousPaths {
            exact: vec!["/health".into()],
            prefixes: vec!["/public/".into()],
        };
        assert!(paths.matches("/health"));
        assert!(!paths.matches("/health/"));
        assert!(paths.matches("/public/docs"));
        assert!(paths.matches("/public/.well-known/x"));
        assert!(!paths.matches("/public/../admin"));
        assert!(!paths.matches("/public/./x"));
        assert!(!paths.matches("/public/%2e%2e/admin"));
        assert!(!paths.matches("/public/.."));
        assert!(!paths.matches("/publicity"));
    }
}
