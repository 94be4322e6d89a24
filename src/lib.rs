//! # authgate
//!
//! Authentication and authorization middleware for tower services (axum,
//! tonic, plain hyper): one [`AuthLayer`] that extracts exactly one
//! credential, verifies it with the scheme that owns it, authorizes the
//! resulting [`Principal`], and answers every rejection with the status code
//! and challenge the RFCs call for.
//!
//! ## The model: extract → verify → authorize → respond
//!
//! 1. **Extract** ([`credentials`]): each scheme declares where its
//!    credentials live. No credential → 401; two → 400 `invalid_request`;
//!    a broken `Authorization` header → 400.
//! 2. **Verify** ([`Scheme`]): the owning scheme, and only it, turns the
//!    credential into a [`Principal`] — or an [`AuthError`] whose
//!    [`ErrorKind`] says why.
//! 3. **Authorize** ([`Authorizer`]): optional, per layer or per route.
//! 4. **Respond** ([`response`]): one mapping from error kind to status,
//!    `WWW-Authenticate` and `grpc-status`.
//!
//! Every decision is one [tracing](trace) event at target `authgate`.
//!
//! ## Example
//!
//! ```
//! use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
//! use authgate::{AuthLayer, Principal, Scopes};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = InMemoryKeyStore::new();
//! let key = ApiKeyGenerator::new("sk_live")?.generate("acct_42", Scopes::parse("orders:read"))?;
//! store.insert(key.record().clone());
//!
//! let auth = AuthLayer::builder()
//!     .scheme(ApiKeyScheme::new(store, "sk_live")?)
//!     .require_scopes(["orders:read"])
//!     .build()?;
//!
//! let service = ServiceBuilder::new().layer(auth).service(service_fn(|req: http::Request<()>| async move {
//!     let principal = req.extensions().get::<Principal>().cloned();
//!     Ok::<_, std::convert::Infallible>(http::Response::new(principal.map(|p| p.subject().to_owned())))
//! }));
//!
//! let request = http::Request::get("/orders")
//!     .header("x-api-key", key.plaintext().expose())
//!     .body(())?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! # Ok(())
//! # }
//! ```
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `api-key` | yes | [`api_key`]: key format, generator, stores, verifier |
//! | `jwt` | yes | [`jwt`]: JWT bearer tokens, issuers, static keys, JWKS cache |
//! | `jwks-http` | no | `jwt::HttpFetcher`: JWKS over HTTPS (hyper, rustls with ring) |
//! | `axum` | no | `Principal` and `Option<Principal>` as axum extractors |
//! | `tonic` | no | reserved for tonic helpers; gRPC responses work without it |
//! | `full` | no | all of the above |

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "api-key")]
pub mod api_key;
mod authorize;
mod body;
pub mod clock;
pub mod credentials;
mod error;
mod future;
mod integration;
#[cfg(feature = "jwt")]
pub mod jwt;
mod layer;
mod principal;
pub mod response;
mod scheme;
mod secret;
mod service;
pub mod trace;

pub use authorize::{Authorizer, RequireScopes};
pub use body::ResponseBody;
pub use credentials::{AuthorizationSyntax, Credential, CredentialLocation};
pub use error::{AuthError, ConfigError, ErrorKind};
pub use future::ResponseFuture;
#[cfg(feature = "axum")]
pub use integration::MissingPrincipal;
pub use layer::{AuthLayer, AuthLayerBuilder};
pub use principal::{Principal, Scopes};
pub use response::{ProblemDetails, Rejection, RejectionResponse};
pub use scheme::{Challenge, Scheme, Verification, VerifyContext, VerifyFuture};
pub use secret::{fingerprint, SecretString};
pub use service::Auth;
