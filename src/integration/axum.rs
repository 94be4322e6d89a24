//! `Principal` as an axum extractor.

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use crate::principal::Principal;

/// Rejection of the [`Principal`] extractor: the handler asked for a
/// principal on a route no [`AuthLayer`](crate::AuthLayer) protects. A
/// server bug, so a 500, never a 401.
#[derive(Debug, Clone, Copy, Default)]
pub struct MissingPrincipal;

impl IntoResponse for MissingPrincipal {
    fn into_response(self) -> Response {
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
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(MissingPrincipal)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Principal>().cloned())
    }
}
