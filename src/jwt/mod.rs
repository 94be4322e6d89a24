//! JWT bearer tokens (RFC 6750, RFC 7519, RFC 9068) with JWKS, following
//! the JWT best current practices of RFC 8725.
//!
//! In the flow extract → verify → authorize → respond, this module is the
//! *verify* step for `Authorization: Bearer <jwt>`:
//!
//! 1. [`JwtScheme`] parses the header: `alg` must be on the issuer's
//!    allow-list (`none` never is), and any `crit` parameter is refused.
//!    A header or claim set that repeats a member name (two `alg`, two
//!    `sub`, at any depth) is refused too: parsers disagree on which one
//!    wins.
//! 2. The unverified `iss` picks one configured [`Issuer`]; an unknown one
//!    is a 401 without network traffic.
//! 3. The issuer's keys — static [`JwtKey`]s, or a JWKS cache fed by a
//!    [`JwksFetcher`] — yield the one key that the token's `kid` names and
//!    whose type fits its `alg`. `HS*` only ever verifies with a configured
//!    shared secret, never with a JWKS key.
//! 4. Signature, then `exp`, `nbf`, `iat` (leeway to the second, default
//!    60 s), `iss`, `aud`, required claims, `typ`; then [`Revocation`].
//! 5. The [`Principal`](crate::Principal) has `sub` as subject, scopes from
//!    `scope` or `scp`, the `jti` as credential id and every claim.
//!
//! Cryptography runs on ring through [`RING_PROVIDER`]; jsonwebtoken's
//! process-wide provider is never relied upon for verification.
//!
//! # Example
//!
//! ```
//! use authgate::jwt::{Issuer, JwtScheme, JwksSettings};
//! use authgate::AuthLayer;
//! use std::time::Duration;
//!
//! let scheme = JwtScheme::builder()
//!     .issuer(Issuer::new("https://idp.example").audience("api").oidc_discovery())
//!     .leeway(Duration::from_secs(30))
//!     .jwks_settings(JwksSettings::default().unknown_kid_cooldown(Duration::from_secs(60)))
//! #   .fetcher(|_: &http::Uri| async { Err::<http::Response<bytes::Bytes>, _>(authgate::jwt::FetchError::new("offline")) })
//!     .build()?;
//! let layer = AuthLayer::builder().scheme(scheme).require_scopes(["orders:read"]).build()?;
//! # let _ = layer;
//! # Ok::<(), authgate::ConfigError>(())
//! ```

mod b64;
pub(crate) mod binding;
pub(crate) mod claims;
mod crypto;
mod der;
mod ed25519;
mod flat;
mod header;
#[cfg(feature = "jwks-http")]
pub(crate) mod http;
mod issuer;
pub(crate) mod jwks;
pub(crate) mod key;
mod profile;
mod revocation;
mod route;
mod scheme;
pub(crate) mod token;

pub use binding::CertificateBound;
pub use crypto::{install_default, RING_PROVIDER};
#[cfg(feature = "jwks-http")]
pub use http::HttpFetcher;
pub use issuer::{Issuer, DEFAULT_ALGORITHMS};
pub use jsonwebtoken::Algorithm;
pub use jwks::{FetchError, FetchFuture, JwksFetcher, JwksSettings, MAX_DOCUMENT_BYTES, MAX_KEYS};
pub use key::{JwtKey, KeyError};
pub use revocation::{InMemoryRevocation, Revocation};
pub use scheme::{JwtScheme, JwtSchemeBuilder, SCHEME_NAME};
pub use token::verify_compact;
