//! [`Auth`]: the service that runs extract → verify → authorize → respond.

use std::fmt;
use std::marker::PhantomData;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::credentials::Credential;
use crate::error::{AuthError, ErrorKind};
use crate::future::{BodyContinuation, Continuation, ResponseFuture};
use crate::layer::Config;
use crate::principal::Principal;
use crate::request_body::{
    announced_too_large, read_limited, read_within, too_large, within, BodyMode, Buffered,
    ModeName, ReadFuture, Untouched,
};
use crate::response::Rejection;
use crate::scheme::{poll_once, Scheme, VerificationState, VerifyContext};
use crate::shared::SharedConfig;
use crate::trace;

/// The middleware service built by [`AuthLayer`](crate::AuthLayer).
///
/// Rejections are responses, not errors: the error type is the inner
/// service's, and a 401 is an `Ok` response carrying the [`AuthError`] in its
/// extensions.
///
/// `M` is the layer's [body mode](crate::request_body): with the default,
/// [`Untouched`], the inner service gets the request exactly as received;
/// with [`Buffered`], bodies a scheme signs are read first.
///
/// ```
/// use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
/// use authgate::{Auth, AuthLayer};
/// use tower::{service_fn, Layer};
///
/// let layer = AuthLayer::builder()
///     .scheme(ApiKeyScheme::new(InMemoryKeyStore::new(), "sk_live").unwrap())
///     .build()
///     .unwrap();
/// let inner = service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
/// });
/// let service: Auth<_> = layer.layer(inner);
/// let _inner = service.into_inner();
/// ```
pub struct Auth<S, M = Untouched> {
    inner: S,
    config: SharedConfig,
    mode: PhantomData<fn() -> M>,
}

impl<S, M> Auth<S, M> {
    pub(crate) fn new(inner: S, config: SharedConfig) -> Self {
        Self {
            inner,
            config,
            mode: PhantomData,
        }
    }

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

impl<S: Clone, M> Clone for Auth<S, M> {
    fn clone(&self) -> Self {
        // The calling thread's share of the configuration (see `shared`).
        Self::new(self.inner.clone(), self.config.clone())
    }
}

impl<S: fmt::Debug, M: BodyMode> fmt::Debug for Auth<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("bodies", &ModeName::<M>::new())
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Auth<S, Untouched>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        match extract(&self.config, &parts) {
            Extracted::Anonymous => {
                mark_anonymous(&self.config, &mut parts);
                ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)))
            }
            Extracted::Authenticated => {
                ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)))
            }
            Extracted::Rejected(response) => ResponseFuture::rejected(response),
            Extracted::Found(decision) => {
                verify(&mut self.inner, &self.config, decision, parts, body, None)
            }
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Auth<S, Buffered>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    ReqBody: Body + From<Bytes> + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let decision = match extract(&self.config, &parts) {
            Extracted::Anonymous => {
                mark_anonymous(&self.config, &mut parts);
                return ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)));
            }
            Extracted::Authenticated => {
                return ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)));
            }
            Extracted::Rejected(response) => return ResponseFuture::rejected(response),
            Extracted::Found(decision) => decision,
        };
        let needs_body = decision.scheme(&self.config).is_some_and(|scheme| {
            scheme.reads_body() && scheme.needs_body(&decision.credential, &parts)
        });
        if !needs_body {
            return verify(&mut self.inner, &self.config, decision, parts, body, None);
        }
        let precheck = decision
            .scheme(&self.config)
            .and_then(|scheme| scheme.check_before_body(&decision.credential, &parts));
        if body.is_end_stream() && precheck.is_none() {
            // Nothing to read: the scheme signs an empty body.
            let empty = Some(Bytes::new());
            return verify(&mut self.inner, &self.config, decision, parts, body, empty);
        }
        if announced_too_large(&parts, &body, self.config.body_limit) {
            let config = &self.config;
            return ResponseFuture::rejected(decision.deny(config, &parts, too_large(), None));
        }
        let limit = self.config.body_limit;
        let deadline = self.config.body_timeout;
        let read: ReadFuture = match precheck {
            Some(precheck) => Box::pin(read_within(body, limit, deadline, Some(precheck))),
            None => {
                // A body that is already all there (`Full`, a small request
                // whose bytes came with its head) is read on the spot: no
                // timer to arm, no continuation to box.
                let mut read = Box::pin(read_limited(body, limit));
                match poll_once(read.as_mut()) {
                    Some(Ok(bytes)) => {
                        let body = ReqBody::from(bytes.clone());
                        let config = &self.config;
                        let bytes = Some(bytes);
                        return verify(&mut self.inner, config, decision, parts, body, bytes);
                    }
                    Some(Err(error)) => {
                        let config = &self.config;
                        return ResponseFuture::rejected(
                            decision.deny(config, &parts, error, None),
                        );
                    }
                    None => Box::pin(within(deadline, read)),
                }
            }
        };
        // Take the service that was polled ready; leave a clone behind.
        let clone = self.inner.clone();
        let mut inner = mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        let then: BodyContinuation<S::Future> = Box::new(move |read| match read {
            Ok(bytes) => {
                let body = ReqBody::from(bytes.clone());
                verify(&mut inner, &config, decision, parts, body, Some(bytes))
            }
            Err(error) => ResponseFuture::rejected(decision.deny(&config, &parts, error, None)),
        });
        ResponseFuture::reading(read, then)
    }
}

/// Lets authorization layers further in know that authentication ran and
/// found no credential on an anonymous path.
fn mark_anonymous(config: &SharedConfig, parts: &mut Parts) {
    parts.extensions.insert(AuthContext {
        config: config.clone(),
        scheme: None,
    });
}

/// Where a request goes after extraction.
enum Extracted {
    /// No credential on an anonymous path: straight to the inner service.
    Anonymous,
    /// An outer layer over the same schemes already authenticated the
    /// request, and this layer's authorizer (if any) allowed it; or it
    /// passed the request anonymously.
    Authenticated,
    Rejected(Response<Bytes>),
    Found(Decision),
}

fn extract(config: &SharedConfig, parts: &Parts) -> Extracted {
    let start = trace::Stopwatch::start();
    // RFC 9728: the protected-resource metadata needs no credential.
    if let Some(document) = (config.schemes.metadata.as_ref()).and_then(|m| m.answer(parts)) {
        return Extracted::Rejected(document);
    }
    if let Some(outcome) = authorize_again(config, parts, start) {
        return outcome;
    }
    let anonymous = is_anonymous(config, parts);
    let (index, credential) = match config.schemes.extractor.extract(parts) {
        Ok(Some(found)) => found,
        Ok(None) if anonymous => {
            config.schemes.observer.anonymous(parts, start);
            return Extracted::Anonymous;
        }
        // A health checker or browser sending credentials of a scheme we do
        // not handle (`Basic`) is still anonymous on an anonymous path.
        Err(error) if anonymous && error.kind() == ErrorKind::UnsupportedScheme => {
            config.schemes.observer.anonymous(parts, start);
            return Extracted::Anonymous;
        }
        Ok(None) => {
            let error = AuthError::new(ErrorKind::Missing);
            config
                .schemes
                .observer
                .denied(parts, None, &error, None, None, start);
            return Extracted::Rejected(reject(config, parts, error));
        }
        Err(error) => {
            let scheme = error
                .scheme_index()
                .and_then(|i| config.schemes.list.get(i))
                .map(|s| s.name());
            config
                .schemes
                .observer
                .denied(parts, scheme, &error, None, None, start);
            return Extracted::Rejected(reject(config, parts, error));
        }
    };
    Extracted::Found(Decision {
        index,
        credential,
        anonymous,
        start,
    })
}

/// Whether the request needs no credential here, decided on the path the
/// client asked for. Inside a nested axum router (`Router::nest`,
/// `nest_service`) the request's URI has lost its prefix, so `/admin/health`
/// would look like `/health`; axum keeps the original in
/// [`OriginalUri`](axum::extract::OriginalUri). When the current path is not what a prefix strip leaves of
/// the original (a suffix of it, or `/`), the URI was rewritten some other
/// way between the routers, and both paths must be anonymous.
fn is_anonymous(config: &Config, parts: &Parts) -> bool {
    let current = parts.uri.path();
    #[cfg(feature = "axum")]
    if let Some(original) = parts.extensions.get::<axum::extract::OriginalUri>() {
        let original = original.0.path();
        let stripped = current == "/" || original.ends_with(current);
        return config.anonymous.matches(original)
            && (stripped || config.anonymous.matches(current));
    }
    config.anonymous.matches(current)
}

/// A layer derived with [`AuthLayer::with_authorizer`](crate::AuthLayer::with_authorizer)
/// inside one built from the same schemes: authenticating again would
/// verify twice (and trip replay caches), so only the authorizer runs.
///
/// Anonymity was decided once, by the layer that authenticated, on the
/// original path: a request it passed anonymously passes here too, and the
/// authorizer of a derived layer always runs on an authenticated request,
/// whatever path this layer sees (a nested router strips its prefix).
fn authorize_again(
    config: &SharedConfig,
    parts: &Parts,
    start: trace::Stopwatch,
) -> Option<Extracted> {
    if parts.extensions.is_empty() {
        return None;
    }
    if let Some(context) = parts.extensions.get::<AuthContext>() {
        // The latest layer over these schemes found no credential on an
        // anonymous path (a grant removes this mark).
        if !Arc::ptr_eq(&context.config.schemes, &config.schemes) {
            return None;
        }
        config.schemes.observer.anonymous(parts, start);
        return Some(Extracted::Authenticated);
    }
    let principal = parts.extensions.get::<Principal>()?;
    let context = principal.context()?;
    if !Arc::ptr_eq(&context.config.schemes, &config.schemes) {
        return None;
    }
    let index = context.scheme?;
    let verdict = match &config.authorizer {
        Some(authorizer) => authorizer.authorize(principal, parts),
        None => Ok(()),
    };
    Some(match verdict {
        Ok(()) => Extracted::Authenticated,
        Err(error) => {
            let error = error.for_scheme(index);
            let scheme = config.schemes.list.get(index).map(|s| s.name());
            let observer = &config.schemes.observer;
            observer.denied(parts, scheme, &error, Some(principal), None, start);
            Extracted::Rejected(reject(config, parts, error))
        }
    })
}

/// Runs the credential's scheme, then either calls `inner` or rejects.
///
/// `parts` and `body` are moved once, into the inner request; everything
/// before works on them in place. Inlined into `call`, so that the
/// decision and the parts are not copied into its frame either.
#[inline(always)]
fn verify<S, B, ResBody>(
    inner: &mut S,
    config: &SharedConfig,
    decision: Decision,
    mut parts: Parts,
    body: B,
    bytes: Option<Bytes>,
) -> ResponseFuture<S::Future>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    B: Send + 'static,
{
    let Some(scheme) = decision.scheme(config) else {
        // The extractor only returns indexes of registered schemes.
        let error = AuthError::new(ErrorKind::Unavailable);
        return ResponseFuture::rejected(reject(config, &parts, error));
    };
    let verification = scheme.verify(
        &decision.credential,
        &VerifyContext::new(&parts, bytes.as_ref()),
    );
    match verification.0 {
        VerificationState::Ready(result) => match decision.decide(config, &mut parts, result) {
            Ok(headers) => {
                ResponseFuture::call(inner.call(Request::from_parts(parts, body)), headers)
            }
            Err(response) => ResponseFuture::rejected(response),
        },
        VerificationState::Pending(future) => {
            // Take the service that was polled ready; leave a clone behind.
            let clone = inner.clone();
            let mut inner = mem::replace(inner, clone);
            let config = config.clone();
            let then: Continuation<S::Future> =
                Box::new(
                    move |result| match decision.decide(&config, &mut parts, result) {
                        Ok(headers) => ResponseFuture::call(
                            inner.call(Request::from_parts(parts, body)),
                            headers,
                        ),
                        Err(response) => ResponseFuture::rejected(response),
                    },
                );
            ResponseFuture::verifying(future, then)
        }
    }
}

/// The layer that decided, for authorization layers further in, so that
/// they answer with the same challenges and response builder: carried by
/// the [`Principal`] of a granted request
/// ([`Principal::context`]), and stored on its own in the extensions of a
/// request passed anonymously.
#[derive(Clone)]
pub(crate) struct AuthContext {
    pub(crate) config: SharedConfig,
    /// The scheme that verified the principal; `None` on an anonymous pass.
    pub(crate) scheme: Option<usize>,
}

/// The context of the latest layer that decided on this request: an
/// anonymous pass's mark, else the granted principal's.
pub(crate) fn context_of(extensions: &http::Extensions) -> Option<&AuthContext> {
    if extensions.is_empty() {
        return None;
    }
    (extensions.get::<AuthContext>())
        .or_else(|| extensions.get::<Principal>().and_then(Principal::context))
}

/// What is needed to finish a request once its scheme has answered, besides
/// the layer's configuration (borrowed, not cloned, on the synchronous path).
struct Decision {
    index: usize,
    credential: Credential,
    anonymous: bool,
    start: trace::Stopwatch,
}

impl Decision {
    /// The scheme that owns the credential.
    fn scheme<'c>(&self, config: &'c Config) -> Option<&'c dyn Scheme> {
        config.schemes.list.get(self.index).map(|s| &**s)
    }

    /// Authorizes a verified principal and puts it in the request, with
    /// the headers the scheme adds to the response; or builds the rejection.
    // The rejection is large and moved once; boxing would only add an
    // allocation to every rejection.
    #[allow(clippy::result_large_err)]
    fn decide(
        &self,
        config: &SharedConfig,
        parts: &mut Parts,
        result: Result<Principal, AuthError>,
    ) -> Result<Option<Box<http::HeaderMap>>, Response<Bytes>> {
        let scheme = self.scheme(config);
        let authorized = match result {
            Err(error) => {
                // The extractor left the token68 check to the scheme, which
                // refused the credential for it: answer what extraction
                // would have.
                if error.kind() == ErrorKind::Malformed {
                    if let Err(syntax) = self.credential.deferred_syntax() {
                        return Err(self.reject_malformed(config, parts, syntax));
                    }
                }
                Err((error, None))
            }
            Ok(principal) => match (&config.authorizer, self.anonymous) {
                (Some(authorizer), false) => match authorizer.authorize(&principal, parts) {
                    Ok(()) => Ok(principal),
                    Err(error) => Err((error, Some(principal))),
                },
                _ => Ok(principal),
            },
        };
        match authorized {
            Ok(principal) => {
                let Some(scheme) = scheme else {
                    // `verify` only decides for a registered scheme.
                    let error = AuthError::new(ErrorKind::Unavailable);
                    return Err(reject(config, parts, error));
                };
                let observer = &config.schemes.observer;
                observer.granted(
                    parts,
                    scheme.name(),
                    &principal,
                    &self.credential,
                    self.start,
                );
                let headers = scheme
                    .response_headers(&self.credential, parts)
                    .map(Box::new);
                // This thread's share of the configuration: no count that
                // other cores write (see `shared`).
                let principal = principal.granted_by(AuthContext {
                    config: config.clone(),
                    scheme: Some(self.index),
                });
                // One insert: the principal carries its layer. An anonymous
                // mark left by a layer further out is no longer the latest
                // decision (with no extensions yet, there is none to find).
                if !parts.extensions.is_empty() {
                    parts.extensions.remove::<AuthContext>();
                }
                parts.extensions.insert(principal);
                Ok(headers)
            }
            Err((error, principal)) => Err(self.deny(config, parts, error, principal.as_ref())),
        }
    }

    /// What [`extract`] answers for a malformed credential.
    fn reject_malformed(
        &self,
        config: &Config,
        parts: &Parts,
        error: AuthError,
    ) -> Response<Bytes> {
        let scheme = error
            .scheme_index()
            .and_then(|i| config.schemes.list.get(i))
            .map(|s| s.name());
        let observer = &config.schemes.observer;
        observer.denied(parts, scheme, &error, None, None, self.start);
        reject(config, parts, error)
    }

    /// Logs the denial and builds the rejection.
    fn deny(
        &self,
        config: &Config,
        parts: &Parts,
        error: AuthError,
        principal: Option<&Principal>,
    ) -> Response<Bytes> {
        let error = error.for_scheme(self.index);
        let scheme_name = self.scheme(config).map(|s| s.name());
        config.schemes.observer.denied(
            parts,
            scheme_name,
            &error,
            principal,
            Some(&self.credential),
            self.start,
        );
        reject(config, parts, error)
    }
}

/// The rejection of `error`, which it carries in its extensions.
pub(crate) fn reject(config: &Config, parts: &Parts, error: AuthError) -> Response<Bytes> {
    let rejection = Rejection::new(
        &error,
        &config.schemes.challenges,
        is_grpc(parts),
        config.retry_after,
    );
    let mut response = config.rejection.respond(&rejection);
    response.extensions_mut().insert(error);
    response
}

/// Whether the request is a gRPC call.
pub(crate) fn is_grpc(parts: &Parts) -> bool {
    parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every request builds and moves: past 128 bytes, a move is a
    /// `memcpy` call rather than a few register moves.
    #[test]
    fn a_decision_is_moved_without_memcpy() {
        assert!(mem::size_of::<Credential>() <= 96);
        assert!(mem::size_of::<Decision>() <= 128);
    }
}
