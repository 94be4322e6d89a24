//! `Principal` as an axum extractor.

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::StatusCode;

use crate::error::{AuthError, ErrorKind};
use crate::principal::Principal;
use crate::service::{reject, AuthContext};

/// Rejection of the [`Principal`] extractor.
///
/// - On an anonymous path of an [`AuthLayer`](crate::AuthLayer) (the layer
///   ran and found no credential): a 401 with the layer's challenges, as if
///   the path were protected.
/// - On a route no `AuthLayer` protects: a server bug, so a 500 and one
///   error-level event, never a 401.
#[derive(Debug)]
pub struct MissingPrincipal {
    challenge: Option<http::Response<Bytes>>,
}

impl IntoResponse for MissingPrincipal {
    fn into_response(self) -> Response {
        if let Some(response) = self.challenge {
            return response.map(axum_core::body::Body::from).into_response();
        }
        tracing::error!(
            target: crate::trace::TARGET,
            "a handler extracted Principal on a route without AuthLayer"
        );
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "authentication is not configured for this route",
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = MissingPrincipal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let challenge = parts
            .extensions
            .get::<AuthContext>()
            .map(|context| reject(&context.config, parts, &AuthError::new(ErrorKind::Missing)));
        Err(MissingPrincipal { challenge })
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Principal>().cloned())
    }
}
