//! axum extractors: [`Principal`], `Option<Principal>` and [`Claims<T>`].
//!
//! Needs the `axum` feature (on by default). Without it, `principal:
//! Principal` in a handler fails to compile with the unhelpful ``the trait
//! `Handler<_, _>` is not implemented``; put `#[axum::debug_handler]` on the
//! handler to get an error that names the argument.

use std::fmt;
use std::ops::Deref;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{AuthError, ErrorKind};
use crate::principal::Principal;
use crate::response::not_configured;
use crate::service::{context_of, is_grpc, reject};
use crate::trace;

/// Rejection of the [`Principal`] and [`Claims`] extractors.
///
/// - On an anonymous path of an [`AuthLayer`](crate::AuthLayer) (the layer
///   ran and found no credential): a 401 with the layer's challenges, as if
///   the path were protected, built by the layer's rejection hook
///   ([`rejection_body`](crate::AuthLayerBuilder::rejection_body) /
///   [`rejection_response`](crate::AuthLayerBuilder::rejection_response)).
/// - [`Claims<T>`] whose claims do not fit `T`: a 401 `invalid_token`,
///   through the same hook.
/// - On a route no `AuthLayer` protects: a server bug, so a 500 problem
///   details (gRPC 13 `INTERNAL`) and one error-level event, never a 401.
///   No layer ran, so no layer's hook applies.
#[derive(Debug)]
pub struct MissingPrincipal {
    // Boxed: rejections are rare, and a small `Err` keeps every extraction cheap.
    response: Box<http::Response<Bytes>>,
    configured: bool,
}

impl MissingPrincipal {
    /// The rejection for `error`, answered like the layer that ran would;
    /// the 500 when none did.
    fn new(parts: &Parts, error: &AuthError) -> Self {
        match context_of(&parts.extensions) {
            Some(context) => {
                let error = match context.scheme {
                    Some(index) => error.clone().for_scheme(index),
                    None => error.clone(),
                };
                Self {
                    response: Box::new(reject(&context.config, parts, error)),
                    configured: true,
                }
            }
            None => Self {
                response: Box::new(not_configured(is_grpc(parts))),
                configured: false,
            },
        }
    }
}

impl IntoResponse for MissingPrincipal {
    fn into_response(self) -> Response {
        if !self.configured {
            tracing::error!(
                target: crate::trace::TARGET,
                "a handler extracted Principal on a route without AuthLayer"
            );
        }
        (*self.response)
            .map(axum_core::body::Body::from)
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = MissingPrincipal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        Err(MissingPrincipal::new(
            parts,
            &AuthError::new(ErrorKind::Missing),
        ))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Principal>().cloned())
    }
}

/// The verified principal's claims as your own type: an axum extractor
/// (feature `axum`).
///
/// `Claims<T>` is [`Principal::deserialize_claims`] done by the framework.
/// When the claims do not fit `T` (a required claim is missing or has the
/// wrong type), the handler is not called and the client gets 401
/// `invalid_token` from the layer's rejection hook, with the layer's
/// challenges. Without a principal it rejects like [`Principal`].
/// `Option<Claims<T>>` is `None` on an anonymous request and still rejects
/// claims that do not fit. Claims come from token schemes such as
/// [`jwt`](crate::jwt); other schemes' principals have none, so `T` must
/// then accept an empty object.
///
/// ```toml
/// authgate = { version = "0.1", features = ["axum"] } # on by default
/// ```
///
/// ```
/// use authgate::Claims;
/// use axum::{routing::get, Router};
///
/// #[derive(serde::Deserialize)]
/// struct OrgClaims {
///     org: String,
///     #[serde(default)]
///     roles: Vec<String>,
/// }
///
/// async fn me(Claims(claims): Claims<OrgClaims>) -> String {
///     format!("{} ({})", claims.org, claims.roles.join(","))
/// }
///
/// let app: Router = Router::new().route("/me", get(me));
/// // .layer(auth) — the claims come from the principal the layer verified.
/// # let _ = app;
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Claims<T>(pub T);

impl<T> Deref for Claims<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for Claims<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Claims").field(&self.0).finish()
    }
}

fn claims_of<T: DeserializeOwned>(
    parts: &Parts,
    principal: &Principal,
) -> Result<Claims<T>, MissingPrincipal> {
    let start = trace::Stopwatch::start();
    principal.deserialize_claims().map(Claims).map_err(|_| {
        let error = AuthError::new(ErrorKind::InvalidFormat)
            .with_description("the token's claims do not fit this endpoint");
        trace::denied_after_layer(parts, Some(principal.scheme()), &error, principal, start);
        MissingPrincipal::new(parts, &error)
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Claims<T> {
    type Rejection = MissingPrincipal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Principal>() {
            Some(principal) => claims_of(parts, principal),
            None => Err(MissingPrincipal::new(
                parts,
                &AuthError::new(ErrorKind::Missing),
            )),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned> OptionalFromRequestParts<S> for Claims<T> {
    type Rejection = MissingPrincipal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        match parts.extensions.get::<Principal>() {
            Some(principal) => claims_of(parts, principal).map(Some),
            None => Ok(None),
        }
    }
}
