//! [`AuthLayer`]: the configuration, built once, shared by every clone.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::audit::AuditSink;
use crate::authorize::{Authorizer, RequireScopes};
use crate::credentials::Extractor;
use crate::error::ConfigError;
use crate::request_body::{
    BodyMode, Buffered, ModeName, Untouched, DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT,
};
use crate::response::{
    BodyOnly, ProblemDetails, Rejection, RejectionBody, RejectionResponse, Responders,
};
use crate::scheme::{Challenge, Scheme};
use crate::service::Auth;
use crate::shared::{Shards, SharedConfig};
use crate::trace::Observer;

/// A tower [`Layer`] that authenticates every request with one of its
/// schemes, optionally authorizes it, and answers rejections itself.
///
/// Cloning is cheap: schemes and their caches are shared. `M` is the
/// [body mode](crate::request_body), chosen by the builder.
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
pub struct AuthLayer<M = Untouched> {
    shards: Arc<Shards>,
    mode: PhantomData<fn() -> M>,
}

impl<M> AuthLayer<M> {
    /// The configuration's shards, for tests.
    #[cfg(test)]
    pub(crate) fn shards(&self) -> Arc<Shards> {
        Arc::clone(&self.shards)
    }
}

impl<M> Clone for AuthLayer<M> {
    fn clone(&self) -> Self {
        Self {
            shards: Arc::clone(&self.shards),
            mode: PhantomData,
        }
    }
}

/// What every clone of a layer and its services share.
pub(crate) struct Config {
    pub(crate) schemes: Arc<Schemes>,
    pub(crate) anonymous: AnonymousPaths,
    pub(crate) authorizer: Option<Arc<dyn Authorizer>>,
    pub(crate) rejection: Arc<dyn RejectionResponse>,
    pub(crate) retry_after: Duration,
    /// The most body bytes a [`Buffered`] layer reads.
    pub(crate) body_limit: usize,
    /// How long a [`Buffered`] layer waits for a signed body.
    pub(crate) body_timeout: Duration,
}

/// The schemes, their challenges and the routing table to them: shared even
/// between layers derived with [`AuthLayer::with_authorizer`].
pub(crate) struct Schemes {
    pub(crate) list: Vec<Box<dyn Scheme>>,
    pub(crate) challenges: Vec<Challenge>,
    pub(crate) extractor: Extractor,
    /// Metrics and audit sink of every decision.
    pub(crate) observer: crate::trace::Observer,
    /// The RFC 9728 document this layer answers, if any.
    pub(crate) metadata: Option<crate::metadata::Published>,
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
}

impl<M: BodyMode> AuthLayer<M> {
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
        let config = self.shards.config();
        Self {
            shards: Shards::new(Config {
                schemes: Arc::clone(&config.schemes),
                anonymous: config.anonymous.clone(),
                authorizer: Some(Arc::new(authorizer)),
                rejection: Arc::clone(&config.rejection),
                retry_after: config.retry_after,
                body_limit: config.body_limit,
                body_timeout: config.body_timeout,
            }),
            mode: PhantomData,
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

impl<S, M: BodyMode> Layer<S> for AuthLayer<M> {
    type Service = Auth<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth::new(inner, SharedConfig::of_layer(&self.shards))
    }
}

impl<M: BodyMode> fmt::Debug for AuthLayer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("config", self.shards.config())
            .field("bodies", &ModeName::<M>::new())
            .finish()
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
            .field("body_limit", &self.body_limit)
            .field("body_timeout", &self.body_timeout)
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
pub struct AuthLayerBuilder<M = Untouched> {
    schemes: Vec<Box<dyn Scheme>>,
    /// Indexes of the schemes that check their `Authorization` token68
    /// syntax themselves, on a credential they have not seen before.
    deferred_syntax: Vec<usize>,
    realm: Option<String>,
    anonymous: AnonymousPaths,
    authorizer: Option<Arc<dyn Authorizer>>,
    rejection: Arc<dyn RejectionResponse>,
    grpc_rejection: Arc<dyn RejectionResponse>,
    retry_after: Duration,
    body_limit: usize,
    body_timeout: Duration,
    audit_sink: Option<Arc<dyn AuditSink>>,
    metadata: Option<crate::metadata::ProtectedResource>,
    mode: PhantomData<fn() -> M>,
}

impl Default for AuthLayerBuilder {
    fn default() -> Self {
        Self {
            schemes: Vec::new(),
            deferred_syntax: Vec::new(),
            realm: None,
            anonymous: AnonymousPaths::default(),
            authorizer: None,
            rejection: Arc::new(ProblemDetails),
            grpc_rejection: Arc::new(ProblemDetails),
            retry_after: Duration::from_secs(5),
            body_limit: DEFAULT_BODY_LIMIT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            audit_sink: None,
            metadata: None,
            mode: PhantomData,
        }
    }
}

impl AuthLayerBuilder<Untouched> {
    /// Lets schemes that sign request bodies (webhooks, [`hmac`](crate::hmac))
    /// read them: the body of a request whose scheme
    /// [needs it](Scheme::needs_body) is read up to
    /// [`max_body_size`](AuthLayerBuilder::max_body_size), verified, and
    /// passed on unchanged; other requests keep their body unread. The
    /// inner service's body type must implement `From<Bytes>` (axum's
    /// `Body` does). See [`request_body`](crate::request_body). Defaults to
    /// off: a layer with a body-reading scheme does not build without it.
    ///
    /// ```
    /// use authgate::hmac::{GithubWebhook, WebhookSecrets};
    /// use authgate::AuthLayer;
    ///
    /// let layer = AuthLayer::builder()
    ///     .scheme(GithubWebhook::new(WebhookSecrets::single("s")))
    ///     .with_request_bodies()
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn with_request_bodies(self) -> AuthLayerBuilder<Buffered> {
        AuthLayerBuilder {
            schemes: self.schemes,
            deferred_syntax: self.deferred_syntax,
            realm: self.realm,
            anonymous: self.anonymous,
            authorizer: self.authorizer,
            rejection: self.rejection,
            grpc_rejection: self.grpc_rejection,
            retry_after: self.retry_after,
            body_limit: self.body_limit,
            body_timeout: self.body_timeout,
            audit_sink: self.audit_sink,
            metadata: self.metadata,
            mode: PhantomData,
        }
    }
}

impl AuthLayerBuilder<Buffered> {
    /// The largest body read for a signature, in bytes. A request announcing
    /// a larger `Content-Length` is answered 413 before anything is read; a
    /// body that grows past the limit is answered 413 as soon as it does.
    /// Defaults to 1 MiB ([`DEFAULT_BODY_LIMIT`]).
    ///
    /// ```
    /// # use authgate::hmac::{GithubWebhook, WebhookSecrets};
    /// let layer = authgate::AuthLayer::builder()
    ///     .scheme(GithubWebhook::new(WebhookSecrets::single("s")))
    ///     .with_request_bodies()
    ///     .max_body_size(64 * 1024)
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How long the layer waits for the whole body of a signed request,
    /// from the moment it starts reading it. A body that has not fully
    /// arrived by then is answered 408 (gRPC 4 `DEADLINE_EXCEEDED`, tracing
    /// reason `body_timeout`) and its buffer is freed, so a client trickling
    /// bytes cannot hold a task and up to
    /// [`max_body_size`](Self::max_body_size) of memory for long. Every
    /// check a scheme can make from the headers alone (syntax, timestamp
    /// window) runs before the read starts. Defaults to 10 seconds
    /// ([`DEFAULT_BODY_TIMEOUT`]).
    ///
    /// The deadline needs a Tokio runtime with timers enabled (as the store
    /// timeouts do; a runtime built without `enable_time` panics on the
    /// first signed body). Outside a Tokio runtime it does not apply.
    ///
    /// This bounds only the layer's own read. Servers should still set
    /// their own limits on slow connections (hyper's
    /// `header_read_timeout`, a `tower_http::timeout` layer around the whole
    /// service): a request the layer never reads (no signature scheme) is
    /// not covered by this deadline.
    ///
    /// ```
    /// # use authgate::hmac::{GithubWebhook, WebhookSecrets};
    /// # use std::time::Duration;
    /// let layer = authgate::AuthLayer::builder()
    ///     .scheme(GithubWebhook::new(WebhookSecrets::single("s")))
    ///     .with_request_bodies()
    ///     .body_read_timeout(Duration::from_secs(5))
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }
}

impl<M: BodyMode> AuthLayerBuilder<M> {
    /// Adds a scheme. Each scheme owns the credential locations it declares;
    /// two schemes may not share one. Schemes that must share one (a JWT
    /// and an opaque-token scheme on `Authorization: Bearer`) go behind a
    /// [`SchemeRouter`](crate::SchemeRouter), which owns it and picks one
    /// of them per credential.
    pub fn scheme(mut self, scheme: impl Scheme) -> Self {
        if defers_syntax(&scheme) {
            self.deferred_syntax.push(self.schemes.len());
        }
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
    /// rejected; this layer's own authorizer does not run, but one of a
    /// layer derived from it ([`AuthLayer::with_authorizer`]) further in
    /// does, on every authenticated request.
    ///
    /// The path is matched against the one the client sent, also inside
    /// `Router::nest` / `nest_service`, which strip their prefix (axum's
    /// `OriginalUri`, with the `axum` feature): write `/admin/health`, not
    /// `/health`, for a route nested under `/admin`. Defaults to none.
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

    /// Replaces the body of every HTTP rejection, keeping its status, its
    /// `WWW-Authenticate` challenges and `Retry-After`: the safe way to use
    /// your own error format. gRPC calls keep the `grpc-status` answer.
    /// Replaces any earlier [`rejection_response`](Self::rejection_response).
    /// Defaults to RFC 9457 problem details.
    ///
    /// ```
    /// use authgate::response::RejectionBody;
    /// # use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
    /// let layer = authgate::AuthLayer::builder()
    ///     .scheme(ApiKeyScheme::new(InMemoryKeyStore::new(), "sk_live").unwrap())
    ///     .rejection_body(|rejection: &authgate::Rejection<'_>| {
    ///         RejectionBody::json(serde_json::json!({ "error": rejection.error().kind().reason() }))
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn rejection_body<F>(self, body: F) -> Self
    where
        F: Fn(&Rejection<'_>) -> RejectionBody + Send + Sync + 'static,
    {
        self.rejection_response(BodyOnly(body))
    }

    /// Replaces how HTTP rejections are answered, status and headers
    /// included: your response must carry the challenges and `Retry-After`
    /// itself ([`Rejection::respond_with`] does). gRPC calls are not
    /// affected (see [`grpc_rejection_response`](Self::grpc_rejection_response)).
    /// Defaults to [`ProblemDetails`].
    pub fn rejection_response(mut self, rejection: impl RejectionResponse) -> Self {
        self.rejection = Arc::new(rejection);
        self
    }

    /// Replaces how gRPC calls (`content-type: application/grpc*`) are
    /// rejected. Your response must be a valid gRPC answer (HTTP 200 with
    /// `grpc-status`, no body, as [`ProblemDetails`] sends): a tonic client
    /// reads any body as a message frame and reports `Internal: protocol
    /// error` instead of your status. Defaults to [`ProblemDetails`]'s
    /// trailers-only answer.
    pub fn grpc_rejection_response(mut self, rejection: impl RejectionResponse) -> Self {
        self.grpc_rejection = Arc::new(rejection);
        self
    }

    /// The `Retry-After` sent with a 503. Defaults to 5 seconds.
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Also hands every decision's [`AuditRecord`](crate::audit::AuditRecord)
    /// to `sink` (besides the `authgate::audit` tracing target). Defaults
    /// to none.
    ///
    /// ```
    /// use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
    /// use authgate::audit::AuditRecord;
    ///
    /// let layer = authgate::AuthLayer::builder()
    ///     .scheme(ApiKeyScheme::new(InMemoryKeyStore::new(), "sk_live").unwrap())
    ///     .audit_sink(|record: &AuditRecord| eprintln!("{}", record.to_json()))
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn audit_sink(mut self, sink: impl AuditSink) -> Self {
        self.audit_sink = Some(Arc::new(sink));
        self
    }

    /// Publishes OAuth 2.0 Protected Resource Metadata (RFC 9728): the
    /// layer answers `GET` on [`ProtectedResource::path`] with the document,
    /// no credential needed, and every `Bearer` challenge carries
    /// `resource_metadata="<its URL>"` (RFC 9728 §5.1). See
    /// [`metadata`](crate::metadata). Defaults to none.
    ///
    /// [`ProtectedResource::path`]: crate::metadata::ProtectedResource::path
    ///
    /// ```
    /// use authgate::metadata::ProtectedResource;
    /// # use authgate::jwt::{Issuer, JwtKey, JwtScheme};
    /// # let jwt = JwtScheme::builder().issuer(Issuer::new("https://as.example").audience("api")
    /// #     .key(JwtKey::shared_secret(&[7u8; 32]).unwrap())).build().unwrap();
    /// let layer = authgate::AuthLayer::builder()
    ///     .scheme(jwt)
    ///     .protected_resource(ProtectedResource::new("https://api.example").unwrap()
    ///         .authorization_server("https://as.example"))
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn protected_resource(mut self, metadata: crate::metadata::ProtectedResource) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Checks the configuration and builds the layer.
    ///
    /// # Errors
    ///
    /// With no scheme, when two schemes claim the same credential location,
    /// when the realm cannot be sent in a header, or when a scheme reads
    /// request bodies and the layer was not built
    /// [`with_request_bodies`](AuthLayerBuilder::with_request_bodies).
    pub fn build(self) -> Result<AuthLayer<M>, ConfigError> {
        if self.schemes.is_empty() {
            return Err(ConfigError::NoScheme);
        }
        if !M::READS_BODIES && self.schemes.iter().any(|s| s.reads_body()) {
            return Err(ConfigError::InvalidSetting {
                setting: "with_request_bodies",
                why: "a scheme on this layer verifies request bodies: build the layer with .with_request_bodies()",
            });
        }
        let mut extractor = Extractor::default();
        let mut challenges = Vec::with_capacity(self.schemes.len());
        for (index, scheme) in self.schemes.iter().enumerate() {
            let defer = self.deferred_syntax.contains(&index);
            for location in scheme.locations() {
                extractor.add(location, index, defer)?;
            }
            let mut challenge = scheme.challenge();
            if let Some(realm) = &self.realm {
                challenge = challenge.with_realm(realm)?;
            }
            if let Some(metadata) = &self.metadata {
                // RFC 9728 §5.1: every Bearer challenge names the metadata.
                if challenge.scheme().eq_ignore_ascii_case("bearer") {
                    challenge = challenge.param("resource_metadata", metadata.url().to_owned())?;
                }
            }
            challenges.push(challenge);
        }
        if self.body_timeout.is_zero() {
            return Err(ConfigError::InvalidSetting {
                setting: "body_read_timeout",
                why: "must be greater than zero",
            });
        }
        if self.retry_after.is_zero() {
            return Err(ConfigError::InvalidSetting {
                setting: "retry_after",
                why: "must be at least one second",
            });
        }
        // Metrics handles are registered here, with the recorder installed now.
        let observer = Observer::new(self.schemes.iter().map(|s| s.name()), self.audit_sink);
        let metadata = match &self.metadata {
            Some(m) => Some(crate::metadata::Published::new(m)?),
            None => None,
        };
        Ok(AuthLayer {
            shards: Shards::new(Config {
                schemes: Arc::new(Schemes {
                    observer,
                    metadata,
                    list: self.schemes,
                    challenges,
                    extractor,
                }),
                anonymous: self.anonymous,
                authorizer: self.authorizer,
                rejection: Arc::new(Responders::new(self.rejection, self.grpc_rejection)),
                retry_after: self.retry_after,
                body_limit: self.body_limit,
                body_timeout: self.body_timeout,
            }),
            mode: PhantomData,
        })
    }
}

impl<M: BodyMode> fmt::Debug for AuthLayerBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.schemes.iter().map(|s| s.name()).collect();
        f.debug_struct("AuthLayerBuilder")
            .field("schemes", &names)
            .field("realm", &self.realm)
            .field("anonymous", &self.anonymous)
            .field("bodies", &ModeName::<M>::new())
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

/// Whether `scheme` checks the token68 syntax of its `Authorization`
/// credentials itself, only for those it has not verified before: the JWT
/// scheme, whose cached tokens were token68 when they were first seen, so
/// that a cached token costs no scan of its kilobyte per request.
fn defers_syntax<S: Scheme>(scheme: &S) -> bool {
    #[cfg(feature = "jwt")]
    {
        (scheme as &dyn std::any::Any).is::<crate::jwt::JwtScheme>()
    }
    #[cfg(not(feature = "jwt"))]
    {
        let _ = scheme;
        false
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
