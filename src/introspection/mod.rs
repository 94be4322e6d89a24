//! OAuth 2.0 token introspection (RFC 7662, RFC 9701): opaque access
//! tokens, verified by asking the authorization server (feature
//! `introspection`).
//!
//! Many authorization servers (Keycloak, Okta, Auth0 for some audiences,
//! Ory Hydra, Authlete, Curity…) hand out opaque access tokens, or both
//! opaque and JWT ones. An [`IntrospectionScheme`] verifies the opaque ones
//! through the server's introspection endpoint; [`jwt_or_opaque`] puts a
//! [`JwtScheme`] and an `IntrospectionScheme` behind one
//! `Authorization: Bearer`.
//!
//! | situation | answer |
//! |---|---|
//! | `active: true`, in time, right `iss` / `aud`, not a refresh token | granted; scopes from `scope`, the answer as claims |
//! | `active: false` | 401 `invalid_token` (reason `unknown_key`, "the token is not active") |
//! | active, but expired, another audience or issuer, a refresh token | 401 `invalid_token` |
//! | endpoint down, 5xx, 3xx, timeout, malformed or oversized answer, bad signed answer | 503 + `Retry-After` (gRPC 14), never 401 |
//!
//! Endpoint failures are logged at `warn` under the target
//! `authgate::introspection` (with the endpoint and the cause); inactive
//! tokens at `debug`, with the token's fingerprint only. Metrics: the
//! `introspection` and `introspection_negative` caches in
//! `authgate_cache_{hits,misses}_total`, endpoint failures in
//! `authgate_store_errors_total{store="introspection"}`.
//!
//! # Example
//!
//! JWTs from the issuer verified locally, every other bearer token
//! introspected:
//!
//! ```no_run
//! use authgate::introspection::{jwt_or_opaque, IntrospectionScheme};
//! use authgate::jwt::{Issuer, JwtScheme};
//! use authgate::AuthLayer;
//!
//! # fn main() -> Result<(), authgate::ConfigError> {
//! let issuer = "https://login.example.com/realms/shop";
//! let jwt = JwtScheme::builder()
//!     .issuer(Issuer::new(issuer).audience("orders-api").oidc_discovery())
//!     .build()?;
//! let opaque = IntrospectionScheme::builder()
//!     .issuer(issuer)
//!     .discover_endpoint()
//!     .client("orders-api", "s3cr3t")
//!     .build()?;
//! let auth = AuthLayer::builder().scheme(jwt_or_opaque(jwt, opaque)?).build()?;
//! # let _ = auth;
//! # Ok(())
//! # }
//! ```
//!
//! [`JwtScheme`]: crate::jwt::JwtScheme

mod answer;
mod builder;
mod cache;
mod client;
mod scheme;
mod signed;

pub use answer::SCHEME_NAME;
pub use builder::{IntrospectionSchemeBuilder, DEFAULT_MAX_RESPONSE_BYTES};
pub use client::ClientAuth;
pub use scheme::IntrospectionScheme;

use crate::credentials::Credential;
use crate::error::ConfigError;
use crate::jwt::JwtScheme;
use crate::router::SchemeRouter;

/// A [`JwtScheme`] and an [`IntrospectionScheme`] on one
/// `Authorization: Bearer`: a token that is a well-formed JWS whose
/// unverified `iss` is one of the JWT scheme's issuers goes to the JWT
/// scheme ([`JwtScheme::names_trusted_issuer`]); everything else is
/// introspected. The router is named `bearer` in logs and metrics; the
/// principal's [`scheme`](crate::Principal::scheme) says which verified it
/// (`jwt` or `introspection`).
///
/// To introspect every token instead (an authorization server whose JWTs
/// you do not want to verify locally), use the `IntrospectionScheme` alone.
/// For other rules, build a [`SchemeRouter`] yourself.
///
/// # Errors
///
/// Never in practice: both schemes own `Authorization: Bearer`.
///
/// ```
/// use authgate::introspection::{jwt_or_opaque, IntrospectionScheme};
/// use authgate::jwt::{Issuer, JwtKey, JwtScheme};
///
/// let jwt = JwtScheme::builder()
///     .issuer(Issuer::new("https://as.example").audience("api")
///         .key(JwtKey::shared_secret(&[7u8; 32]).unwrap()))
///     .build()
///     .unwrap();
/// let opaque = IntrospectionScheme::builder()
///     .endpoint("https://as.example/introspect")
///     .client("api", "secret")
///     .build()
///     .unwrap();
/// let bearer = jwt_or_opaque(jwt, opaque).unwrap();
/// let layer = authgate::AuthLayer::builder().scheme(bearer).build().unwrap();
/// # let _ = layer;
/// ```
pub fn jwt_or_opaque(
    jwt: JwtScheme,
    introspection: IntrospectionScheme,
) -> Result<SchemeRouter, ConfigError> {
    let probe = jwt.clone();
    SchemeRouter::builder("bearer")
        .route(jwt, move |credential: &Credential| {
            probe.names_trusted_issuer(credential.value())
        })
        .fallback(introspection)
        .build()
}
