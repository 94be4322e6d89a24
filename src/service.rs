//! [`Auth`]: the service that runs extract → verify → authorize → respond.

use std::fmt;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use tower_service::Service;

use crate::body::ResponseBody;
use crate::credentials::Credential;
use crate::error::{AuthError, ErrorKind};
use crate::future::{Continuation, Next, ResponseFuture};
use crate::layer::Config;
use crate::principal::Principal;
use crate::response::Rejection;
use crate::scheme::{VerificationState, VerifyContext};
use crate::trace;

/// The middleware service built by [`AuthLayer`](crate::AuthLayer).
///
/// Rejections are responses, not errors: the error type is the inner
/// service's, and a 401 is an `Ok` response carrying the [`AuthError`] in its
/// extensions.
pub struct Auth<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> Auth<S> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
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

impl<S: Clone> Clone for Auth<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Auth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Auth<S>
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
        let start = Instant::now();
        let config = &self.config;
        let (parts, body) = request.into_parts();
        let anonymous = config.anonymous.matches(parts.uri.path());

        let (index, credential) = match config.schemes.extractor.extract(&parts) {
            Ok(Some(found)) => found,
            Ok(None) if anonymous => {
                trace::anonymous(start);
                return ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)));
            }
            Ok(None) => {
                let error = AuthError::new(ErrorKind::Missing);
                trace::denied(None, &error, None, None, start);
                return ResponseFuture::rejected(reject(config, &parts, &error));
            }
            Err(error) => {
                let scheme = error
                    .scheme_index()
                    .and_then(|i| config.schemes.list.get(i))
                    .map(|s| s.name());
                trace::denied(scheme, &error, None, None, start);
                return ResponseFuture::rejected(reject(config, &parts, &error));
            }
        };

        let Some(scheme) = config.schemes.list.get(index) else {
            // The extractor only returns indexes of registered schemes.
            let error = AuthError::new(ErrorKind::Unavailable);
            return ResponseFuture::rejected(reject(config, &parts, &error));
        };
        let decision = Decision {
            config: Arc::clone(config),
            index,
            credential,
            anonymous,
            start,
        };
        match scheme
            .verify(&decision.credential, &VerifyContext::new(&parts))
            .0
        {
            VerificationState::Ready(result) => match decision.decide(parts, result) {
                Ok(parts) => {
                    ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)))
                }
                Err(response) => ResponseFuture::rejected(response),
            },
            VerificationState::Pending(verify) => {
                // Take the service that was polled ready; leave a clone behind.
                let clone = self.inner.clone();
                let mut inner = mem::replace(&mut self.inner, clone);
                let then: Continuation<S::Future> =
                    Box::new(move |result| match decision.decide(parts, result) {
                        Ok(parts) => Next::Call(inner.call(Request::from_parts(parts, body))),
                        Err(response) => Next::Reject(response),
                    });
                ResponseFuture::verifying(verify, then)
            }
        }
    }
}

/// What is needed to finish a request once its scheme has answered.
struct Decision {
    config: Arc<Config>,
    index: usize,
    credential: Credential,
    anonymous: bool,
    start: Instant,
}

impl Decision {
    /// Authorizes a verified principal and puts it in the request, or builds
    /// the rejection.
    fn decide(
        self,
        mut parts: Parts,
        result: Result<Principal, AuthError>,
    ) -> Result<Parts, Response<Bytes>> {
        let scheme_name = self.config.schemes.list.get(self.index).map(|s| s.name());
        let authorized = match result {
            Err(error) => Err((error, None)),
            Ok(principal) => match (&self.config.authorizer, self.anonymous) {
                (Some(authorizer), false) => match authorizer.authorize(&principal, &parts) {
                    Ok(()) => Ok(principal),
                    Err(error) => Err((error, Some(principal))),
                },
                _ => Ok(principal),
            },
        };
        match authorized {
            Ok(principal) => {
                if let Some(name) = scheme_name {
                    trace::granted(name, &principal, &self.credential, self.start);
                }
                parts.extensions.insert(principal);
                Ok(parts)
            }
            Err((error, principal)) => {
                let error = error.for_scheme(self.index);
                trace::denied(
                    scheme_name,
                    &error,
                    principal.as_ref(),
                    Some(&self.credential),
                    self.start,
                );
                Err(reject(&self.config, &parts, &error))
            }
        }
    }
}

fn reject(config: &Config, parts: &Parts, error: &AuthError) -> Response<Bytes> {
    let rejection = Rejection::new(
        error,
        &config.schemes.challenges,
        is_grpc(parts),
        config.retry_after,
    );
    let mut response = config.rejection.respond(&rejection);
    response.extensions_mut().insert(error.clone());
    response
}

/// Whether the request is a gRPC call.
fn is_grpc(parts: &Parts) -> bool {
    parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}
