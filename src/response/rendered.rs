//! [`Responders`]: the layer's rejection hooks, with the answers of
//! cacheable ones rendered once per distinct rejection and copied after.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};

use super::{Rejection, RejectionResponse};
use crate::error::{AuthError, ErrorKind};
use crate::scheme::Challenge;

/// The layer's two hooks: one for HTTP requests, one for gRPC calls, so
/// that a custom HTTP body never reaches a gRPC client by accident.
///
/// The answers of [cacheable](RejectionResponse::cacheable) hooks are
/// rendered once per distinct rejection and copied afterwards.
pub(crate) struct Responders {
    http: Arc<dyn RejectionResponse>,
    grpc: Arc<dyn RejectionResponse>,
    rendered: RwLock<Vec<Rendered>>,
}

/// At most this many distinct rejections are kept rendered per layer: the
/// kinds times the schemes times a few descriptions, with room to spare.
/// Policies may word their 403s per request; past the bound, rejections
/// are rendered each time.
const RENDERED: usize = 64;

/// One rendered rejection and what it was rendered from.
struct Rendered {
    kind: ErrorKind,
    scheme: Option<usize>,
    grpc: bool,
    retry_after: Duration,
    description: Box<str>,
    challenges: Box<[Challenge]>,
    /// The scheme's challenge additions (`error` code, the challenge it
    /// aims at); never a response header, which may change per request.
    detail: Option<(Option<&'static str>, Option<&'static str>)>,
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Rendered {
    fn renders(&self, rejection: &Rejection<'_>) -> bool {
        let error = rejection.error;
        self.kind == error.kind()
            && self.scheme == error.scheme_index()
            && self.grpc == rejection.grpc
            && self.retry_after == rejection.retry_after
            && *self.description == *error.description()
            && *self.challenges == *rejection.challenges
            && self.detail == detail_key(error)
    }

    fn response(&self) -> Response<Bytes> {
        let mut response = Response::new(self.body.clone());
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response
    }
}

/// What of an error's challenge detail a rendered rejection depends on,
/// for details without a response header.
fn detail_key(error: &AuthError) -> Option<(Option<&'static str>, Option<&'static str>)> {
    error.challenge_detail().map(|d| (d.code, d.auth_scheme))
}

impl Responders {
    pub(crate) fn new(http: Arc<dyn RejectionResponse>, grpc: Arc<dyn RejectionResponse>) -> Self {
        Self {
            http,
            grpc,
            rendered: RwLock::new(Vec::new()),
        }
    }

    /// The copy of an earlier answer to the same rejection, if one is kept.
    fn copy(&self, rejection: &Rejection<'_>) -> Option<Response<Bytes>> {
        let rendered = self.rendered.read().ok()?;
        let found = rendered.iter().find(|r| r.renders(rejection))?;
        Some(found.response())
    }

    /// Keeps `response` as the answer to `rejection`, within the bound.
    fn keep(&self, rejection: &Rejection<'_>, response: &Response<Bytes>) {
        let Ok(mut rendered) = self.rendered.write() else {
            return;
        };
        if rendered.len() >= RENDERED || rendered.iter().any(|r| r.renders(rejection)) {
            return;
        }
        let error = rejection.error;
        rendered.push(Rendered {
            kind: error.kind(),
            scheme: error.scheme_index(),
            grpc: rejection.grpc,
            retry_after: rejection.retry_after,
            description: error.description().into(),
            challenges: rejection.challenges.into(),
            detail: detail_key(error),
            status: response.status(),
            headers: response.headers().clone(),
            body: response.body().clone(),
        });
    }
}

impl RejectionResponse for Responders {
    fn respond(&self, rejection: &Rejection<'_>) -> Response<Bytes> {
        let hook = if rejection.is_grpc() {
            &self.grpc
        } else {
            &self.http
        };
        // The scopes of a 403 vary per route, and a scheme's own response
        // header (a fresh `DPoP-Nonce`) per request: rendered each time.
        // The challenge a scheme aims its error at (every JWT rejection
        // names `Bearer` or `DPoP`) and its error code do not vary.
        let cacheable = hook.cacheable()
            && rejection.error.required_scopes().is_none()
            && rejection
                .error
                .challenge_detail()
                .is_none_or(|d| d.header.is_none());
        if !cacheable {
            return hook.respond(rejection);
        }
        if let Some(response) = self.copy(rejection) {
            return response;
        }
        let response = hook.respond(rejection);
        // A hook that added extensions is not copied: they cannot be.
        if response.extensions().is_empty() {
            self.keep(rejection, &response);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::ProblemDetails;
    use http::HeaderValue;

    fn challenges() -> Vec<Challenge> {
        vec![
            Challenge::new("Bearer").param("realm", "api").unwrap(),
            Challenge::new("ApiKey"),
        ]
    }

    /// A copied rejection is byte for byte the one the hook renders, and
    /// only cacheable hooks are copied.
    #[test]
    fn pure_rejections_are_rendered_once_and_copied_exactly() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let challenges = challenges();
        let error = AuthError::new(ErrorKind::UnknownKey).for_scheme(1);
        let rejection = Rejection::new(&error, &challenges, false, Duration::from_secs(5));
        let responders = Responders::new(Arc::new(ProblemDetails), Arc::new(ProblemDetails));
        let fresh = ProblemDetails.respond(&rejection);
        for _ in 0..3 {
            let copy = responders.respond(&rejection);
            assert_eq!(copy.status(), fresh.status());
            assert_eq!(copy.headers(), fresh.headers());
            assert_eq!(copy.body(), fresh.body());
        }
        assert_eq!(responders.rendered.read().map(|r| r.len()).ok(), Some(1));

        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let hook = move |r: &Rejection<'_>| {
            counted.fetch_add(1, Ordering::SeqCst);
            ProblemDetails.respond(r)
        };
        let responders = Responders::new(Arc::new(hook), Arc::new(ProblemDetails));
        for _ in 0..3 {
            let _ = responders.respond(&rejection);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    /// Regression: a rejection aimed at one challenge (every JWT rejection
    /// names `Bearer` or `DPoP`) used to be rendered for every request. It
    /// is copied now, kept apart from the same error aimed elsewhere; one
    /// carrying a response header (a fresh `DPoP-Nonce`) never is.
    #[test]
    fn aimed_rejections_are_copied_per_challenge_and_headers_never() {
        let challenges = challenges();
        let responders = Responders::new(Arc::new(ProblemDetails), Arc::new(ProblemDetails));
        let aimed = |scheme: &'static str| {
            AuthError::new(ErrorKind::Expired)
                .with_challenge_detail(|d| d.auth_scheme = Some(scheme))
                .for_scheme(0)
        };
        for scheme in ["Bearer", "DPoP", "Bearer", "DPoP"] {
            let error = aimed(scheme);
            let rejection = Rejection::new(&error, &challenges, false, Duration::from_secs(5));
            let fresh = ProblemDetails.respond(&rejection);
            let copy = responders.respond(&rejection);
            assert_eq!(copy.headers(), fresh.headers(), "{scheme}");
            assert_eq!(copy.body(), fresh.body(), "{scheme}");
        }
        assert_eq!(responders.rendered.read().map(|r| r.len()).ok(), Some(2));

        let with_header = AuthError::new(ErrorKind::Expired)
            .with_challenge_detail(|d| {
                d.header = Some((
                    http::HeaderName::from_static("dpop-nonce"),
                    HeaderValue::from_static("n-1"),
                ));
            })
            .for_scheme(0);
        let rejection = Rejection::new(&with_header, &challenges, false, Duration::from_secs(5));
        let _ = responders.respond(&rejection);
        assert_eq!(responders.rendered.read().map(|r| r.len()).ok(), Some(2));
    }
}
