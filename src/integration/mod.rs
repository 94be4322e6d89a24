//! Framework integrations, each behind its feature.

#[cfg(feature = "axum")]
mod axum;
#[cfg(feature = "axum")]
pub use self::axum::{Claims, MissingPrincipal};
