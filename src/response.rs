//! Respond: the one mapping from an [`AuthError`] to what the client sees.
//!
//! | kind | HTTP | `WWW-Authenticate` | gRPC |
//! |---|---|---|---|
//! | missing, unsupported scheme | 401 | every scheme, bare | 16 `UNAUTHENTICATED` |
//! | malformed, ambiguous | 400 | every scheme, `error="invalid_request"` on the one concerned | 16 |
//! | invalid format, unknown key, wrong environment, bad signature, expired, not yet valid, rotated, revoked, replayed | 401 | every scheme, `error="invalid_token"` on the one concerned | 16 |
//! | insufficient scope | 403 | the principal's scheme, `error="insufficient_scope"`, `scope="…"` | 7 `PERMISSION_DENIED` |
//! | forbidden (policy) | 403 | none | 7 |
//! | unavailable | 503 + `Retry-After` | none | 14 `UNAVAILABLE` |
//! | payload too large | 413 | none | 8 `RESOURCE_EXHAUSTED` |
//! | body timeout | 408 | none | 4 `DEADLINE_EXCEEDED` |
//!
//! HTTP bodies are RFC 9457 problem details (`application/problem+json`).
//! Requests whose `content-type` starts with `application/grpc` are answered
//! HTTP 200 with `grpc-status` and `grpc-message` headers and no body (a
//! "trailers-only" response), as tonic clients expect.
//!
//! # Custom error bodies
//!
//! Most services only want their own JSON shape. Give the layer a body, and
//! keep everything else:
//!
//! ```
//! use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
//! use authgate::response::RejectionBody;
//! use authgate::{AuthLayer, Rejection};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = AuthLayer::builder()
//!     .scheme(ApiKeyScheme::new(InMemoryKeyStore::new(), "sk_live")?)
//!     .realm("orders")
//!     .rejection_body(|rejection: &Rejection<'_>| {
//!         RejectionBody::json(serde_json::json!({
//!             "error": { "code": rejection.error().kind().reason(), "message": rejection.error().description() }
//!         }))
//!     })
//!     .build()?;
//! let service = ServiceBuilder::new().layer(auth).service(service_fn(|_: http::Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(()))
//! }));
//!
//! // HTTP: your body, with the status and challenges the RFCs call for.
//! let response = service.clone().oneshot(http::Request::get("/orders").body(())?).await?;
//! assert_eq!(response.status(), 401);
//! assert_eq!(response.headers()["www-authenticate"], r#"ApiKey realm="orders""#);
//! assert_eq!(response.headers()["content-type"], "application/json");
//!
//! // gRPC: still the trailers-only answer tonic clients read as a code.
//! let grpc = http::Request::post("/shop.Orders/Get").header("content-type", "application/grpc").body(())?;
//! let response = service.oneshot(grpc).await?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["grpc-status"], "16");
//! # Ok(())
//! # }
//! ```
//!
//! [`AuthLayerBuilder::rejection_body`](crate::AuthLayerBuilder::rejection_body)
//! keeps the status, every `WWW-Authenticate` challenge and `Retry-After`,
//! and only replaces the body and its `content-type`. Every rejection goes
//! through it: the layer's own, those of per-route authorizers derived from
//! it or placed behind it ([`AuthorizeLayer`](crate::AuthorizeLayer),
//! [`RequireScopes`](crate::RequireScopes)), and those of the axum
//! extractors on its routes.
//!
//! For full control, [`rejection_response`](crate::AuthLayerBuilder::rejection_response)
//! takes any [`RejectionResponse`]; start from [`Rejection::respond_with`] or
//! [`ProblemDetails`] so the challenges and `Retry-After` stay.
//!
//! **gRPC is answered separately.** A JSON body on a gRPC call is read by
//! tonic as a message frame and surfaces as `Internal: protocol error:
//! received message with invalid compression flag`, not as
//! `UNAUTHENTICATED`. So gRPC requests never reach the hooks above; they get
//! the trailers-only `grpc-status` answer unless you opt in with
//! [`grpc_rejection_response`](crate::AuthLayerBuilder::grpc_rejection_response)
//! (and then must answer in gRPC's terms yourself).

use std::fmt::{self, Write as _};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

use crate::error::{AuthError, ErrorKind};
use crate::scheme::{is_quotable, Challenge};

mod grpc;
mod rendered;

use grpc::grpc_response;
pub use grpc::grpc_status;
#[cfg(feature = "axum")]
pub(crate) use grpc::not_configured;
pub(crate) use rendered::Responders;

/// Everything a [`RejectionResponse`] needs to answer one rejected request.
#[derive(Debug)]
pub struct Rejection<'a> {
    error: &'a AuthError,
    challenges: &'a [Challenge],
    grpc: bool,
    retry_after: Duration,
}

impl<'a> Rejection<'a> {
    pub(crate) fn new(
        error: &'a AuthError,
        challenges: &'a [Challenge],
        grpc: bool,
        retry_after: Duration,
    ) -> Self {
        Self {
            error,
            challenges,
            grpc,
            retry_after,
        }
    }

    /// Why the request is rejected.
    #[must_use]
    pub fn error(&self) -> &'a AuthError {
        self.error
    }

    /// Whether the request is a gRPC call (`content-type: application/grpc*`).
    #[must_use]
    pub fn is_grpc(&self) -> bool {
        self.grpc
    }

    /// How long a client should wait before retrying a 503.
    #[must_use]
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// The HTTP status this rejection is answered with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.error.status()
    }

    /// The default answer with `body` in place of the problem details: the
    /// status, every `WWW-Authenticate` challenge, `Retry-After` on a 503,
    /// and `body`'s `content-type`.
    ///
    /// On a gRPC request the body is ignored and the answer is the
    /// trailers-only `grpc-status` one, since tonic would read a body as a
    /// broken message frame.
    ///
    /// ```
    /// use authgate::response::RejectionBody;
    /// use authgate::{Rejection, RejectionResponse};
    ///
    /// // A full `RejectionResponse` that keeps the protocol parts and adds a header.
    /// let custom = |rejection: &Rejection<'_>| {
    ///     let body = RejectionBody::json(serde_json::json!({ "reason": rejection.error().kind().reason() }));
    ///     let mut response = rejection.respond_with(body);
    ///     response.headers_mut().insert("x-auth-docs", http::HeaderValue::from_static("https://example.com/auth"));
    ///     response
    /// };
    /// # fn check(_: impl RejectionResponse) {}
    /// # check(custom);
    /// ```
    #[must_use]
    pub fn respond_with(&self, body: RejectionBody) -> Response<Bytes> {
        let mut response = if self.grpc {
            grpc_response(self.error)
        } else {
            let mut response = Response::new(body.bytes);
            *response.status_mut() = self.status();
            response
                .headers_mut()
                .insert(CONTENT_TYPE, body.content_type);
            response
        };
        self.add_protocol_headers(&mut response);
        response
    }

    /// Adds the challenges and, on a 503 or 429, `Retry-After`.
    fn add_protocol_headers(&self, response: &mut Response<Bytes>) {
        let headers = response.headers_mut();
        for value in self.www_authenticate() {
            headers.append(WWW_AUTHENTICATE, value);
        }
        if let Some((name, value)) = self
            .error
            .challenge_detail()
            .and_then(|d| d.header.as_ref())
        {
            headers.insert(name.clone(), value.clone());
        }
        let status = self.status();
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            let secs = self.retry_after.as_secs().max(1);
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
    }

    /// The `WWW-Authenticate` values this rejection should carry, one per
    /// challenge, following the table in the [module docs](self).
    #[must_use]
    pub fn www_authenticate(&self) -> Vec<HeaderValue> {
        let kind = self.error.kind();
        let concerned = self.error.scheme_index();
        let mut values = Vec::new();
        // A scheme may answer with several challenges (`Bearer` and
        // `DPoP`); the error goes on the one it names, or on all of them.
        let named = self.error.challenge_detail().and_then(|d| d.auth_scheme);
        let all = self.challenges.iter().enumerate().flat_map(|(index, c)| {
            std::iter::once(c)
                .chain(c.alternatives())
                .map(move |c| (index, c))
        });
        for (index, challenge) in all {
            let is_concerned = concerned.is_none_or(|c| c == index)
                && named.is_none_or(|n| n.eq_ignore_ascii_case(challenge.scheme()));
            let with_error = match kind {
                ErrorKind::InsufficientScope if is_concerned => true,
                ErrorKind::InsufficientScope
                | ErrorKind::Forbidden
                | ErrorKind::Unavailable
                | ErrorKind::PayloadTooLarge
                | ErrorKind::BodyTimeout
                | ErrorKind::RateLimited => continue,
                _ => self.error.challenge_error().is_some() && is_concerned,
            };
            let mut text = challenge.to_string();
            if with_error {
                self.append_error(&mut text, challenge);
            }
            if let Ok(value) = HeaderValue::from_str(&text) {
                values.push(value);
            }
        }
        values
    }

    fn append_error(&self, text: &mut String, challenge: &Challenge) {
        let Some(code) = self.error.challenge_error() else {
            return;
        };
        let mut sep = if challenge.params().next().is_some() {
            ", "
        } else {
            " "
        };
        let mut push = |name: &str, value: &dyn fmt::Display| {
            let value = sanitize(&value.to_string());
            // Writing to a String cannot fail.
            let _ = write!(text, "{sep}{name}=\"{value}\"");
            sep = ", ";
        };
        push("error", &code);
        push("error_description", &self.error.description());
        if let Some(scopes) = self.error.required_scopes() {
            push("scope", scopes);
        }
    }
}

/// Keeps a value safe inside a quoted-string.
fn sanitize(value: &str) -> String {
    if is_quotable(value) {
        return value.to_owned();
    }
    value
        .chars()
        .map(|c| {
            if is_quotable(c.encode_utf8(&mut [0; 4])) {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Builds the response for a rejected request.
///
/// Closures `Fn(&Rejection<'_>) -> Response<Bytes>` implement it.
///
/// A `RejectionResponse` owns the whole answer: status, headers and body.
/// To change only the body, use
/// [`AuthLayerBuilder::rejection_body`](crate::AuthLayerBuilder::rejection_body)
/// instead; to build a full answer without losing the `WWW-Authenticate`
/// challenges and `Retry-After`, start from [`Rejection::respond_with`] or
/// [`ProblemDetails`]. Given to
/// [`AuthLayerBuilder::rejection_response`](crate::AuthLayerBuilder::rejection_response)
/// it answers HTTP requests only; gRPC calls keep the `grpc-status` answer
/// unless you also set
/// [`grpc_rejection_response`](crate::AuthLayerBuilder::grpc_rejection_response)
/// (see [the module docs](self#custom-error-bodies)).
///
/// # Example
///
/// Keep the default mapping but add a header:
///
/// ```
/// use authgate::{ProblemDetails, Rejection, RejectionResponse};
///
/// let custom = |rejection: &Rejection<'_>| {
///     let mut response = ProblemDetails.respond(rejection);
///     response.headers_mut().insert("x-auth-docs", "https://example.com/auth".parse().unwrap());
///     response
/// };
/// # fn check(_: impl RejectionResponse) {}
/// # check(custom);
/// ```
pub trait RejectionResponse: Send + Sync + 'static {
    /// The response for `rejection`.
    fn respond(&self, rejection: &Rejection<'_>) -> Response<Bytes>;

    /// Whether [`respond`](Self::respond) is a pure function of the
    /// rejection's kind, description, scheme, challenges, gRPC flag and
    /// `Retry-After`: then the layer renders each distinct rejection once
    /// and answers later ones with a copy, so that a flood of bad
    /// credentials costs no more to answer than a grant. Answer `true` only
    /// for a responder that reads nothing else (no clock, no counter).
    /// Defaults to `false`; [`ProblemDetails`] says `true`.
    ///
    /// ```
    /// use authgate::{ProblemDetails, RejectionResponse};
    /// assert!(ProblemDetails.cacheable());
    /// ```
    fn cacheable(&self) -> bool {
        false
    }
}

impl<F> RejectionResponse for F
where
    F: Fn(&Rejection<'_>) -> Response<Bytes> + Send + Sync + 'static,
{
    fn respond(&self, rejection: &Rejection<'_>) -> Response<Bytes> {
        self(rejection)
    }
}

/// The default [`RejectionResponse`]: RFC 9457 problem details for HTTP,
/// `grpc-status` for gRPC, challenges per RFC 7235 and RFC 6750.
///
/// ```
/// use authgate::{ProblemDetails, RejectionResponse};
/// # let _ = ProblemDetails;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ProblemDetails;

impl RejectionResponse for ProblemDetails {
    fn respond(&self, rejection: &Rejection<'_>) -> Response<Bytes> {
        rejection.respond_with(problem_body(rejection.error()))
    }

    fn cacheable(&self) -> bool {
        true
    }
}

fn problem_body(error: &AuthError) -> RejectionBody {
    let status = error.status();
    let mut body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": error.description(),
    });
    if let (Some(code), Some(map)) = (error.challenge_error(), body.as_object_mut()) {
        map.insert("error".into(), code.into());
    }
    RejectionBody::new(
        HeaderValue::from_static("application/problem+json"),
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

/// The body of a rejection, for
/// [`AuthLayerBuilder::rejection_body`](crate::AuthLayerBuilder::rejection_body)
/// and [`Rejection::respond_with`]: bytes and their `content-type`.
///
/// ```
/// use authgate::response::RejectionBody;
///
/// let json = RejectionBody::json(serde_json::json!({ "error": "unauthorized" }));
/// assert_eq!(json.content_type(), "application/json");
/// assert_eq!(json.bytes(), &br#"{"error":"unauthorized"}"#[..]);
///
/// let text = RejectionBody::text("go away");
/// assert_eq!(text.content_type(), "text/plain; charset=utf-8");
/// ```
#[derive(Debug, Clone)]
pub struct RejectionBody {
    content_type: HeaderValue,
    bytes: Bytes,
}

impl RejectionBody {
    /// `bytes` sent as `content_type`.
    #[must_use]
    pub fn new(content_type: HeaderValue, bytes: impl Into<Bytes>) -> Self {
        Self {
            content_type,
            bytes: bytes.into(),
        }
    }

    /// A JSON body, `application/json`.
    #[must_use]
    pub fn json(value: serde_json::Value) -> Self {
        // Serializing a `Value` cannot fail: its map keys are strings.
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        Self::new(HeaderValue::from_static("application/json"), bytes)
    }

    /// A plain-text body, `text/plain; charset=utf-8`.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        Self::new(
            HeaderValue::from_static("text/plain; charset=utf-8"),
            text.into(),
        )
    }

    /// The `content-type` it is sent with.
    #[must_use]
    pub fn content_type(&self) -> &HeaderValue {
        &self.content_type
    }

    /// The bytes.
    #[must_use]
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

impl From<serde_json::Value> for RejectionBody {
    fn from(value: serde_json::Value) -> Self {
        Self::json(value)
    }
}

/// A body-only hook as a [`RejectionResponse`]: see
/// [`AuthLayerBuilder::rejection_body`](crate::AuthLayerBuilder::rejection_body).
pub(crate) struct BodyOnly<F>(pub(crate) F);

impl<F> RejectionResponse for BodyOnly<F>
where
    F: Fn(&Rejection<'_>) -> RejectionBody + Send + Sync + 'static,
{
    fn respond(&self, rejection: &Rejection<'_>) -> Response<Bytes> {
        rejection.respond_with((self.0)(rejection))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::Scopes;

    fn challenges() -> Vec<Challenge> {
        vec![
            Challenge::new("Bearer").param("realm", "api").unwrap(),
            Challenge::new("ApiKey"),
        ]
    }

    fn render(error: &AuthError) -> Vec<String> {
        let challenges = challenges();
        Rejection::new(error, &challenges, false, Duration::from_secs(5))
            .www_authenticate()
            .into_iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn missing_gets_bare_challenges() {
        assert_eq!(
            render(&AuthError::new(ErrorKind::Missing)),
            [r#"Bearer realm="api""#, "ApiKey"]
        );
    }

    #[test]
    fn invalid_token_goes_on_the_concerned_scheme() {
        let err = AuthError::new(ErrorKind::Expired).for_scheme(1);
        assert_eq!(
            render(&err),
            [
                r#"Bearer realm="api""#,
                r#"ApiKey error="invalid_token", error_description="the credential has expired""#
            ]
        );
    }

    #[test]
    fn insufficient_scope_names_the_scopes_on_one_challenge() {
        let err = AuthError::insufficient_scope(Scopes::parse("a b")).for_scheme(0);
        assert_eq!(
            render(&err),
            [
                r#"Bearer realm="api", error="insufficient_scope", error_description="the credential lacks a required scope", scope="a b""#
            ]
        );
    }

    #[test]
    fn unsafe_descriptions_are_sanitized() {
        let err = AuthError::forbidden("say \"hi\"\n").for_scheme(0);
        let err = AuthError::new(ErrorKind::BadSignature)
            .with_description(err.description().to_owned())
            .for_scheme(0);
        assert!(render(&err)[0].contains(r#"error_description="say ?hi??""#));
    }
}
