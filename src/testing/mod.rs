//! A test kit for your service's own tests: authentication on, one line
//! each (`testing` feature; put it in `[dev-dependencies]` only).
//!
//! ```toml
//! [dev-dependencies]
//! authgate = { version = "0.1", features = ["testing"] }
//! ```
//!
//! | you need | use |
//! |---|---|
//! | an OIDC provider: discovery, JWKS, tokens with chosen claims, scopes, lifetimes, algorithms, `kid`s; key rotation; outages | [`MockIssuer`] |
//! | opaque tokens and an RFC 7662 introspection endpoint (signed RFC 9701 answers too) | [`TokenBuilder::mint_opaque`], [`MockIssuer::introspection_url`] |
//! | DPoP-bound tokens and their proofs | [`TokenBuilder::bound_to`], [`DpopProver`] (the real prover) |
//! | a signing key of your own, its JWK | [`TestSigningKey`] |
//! | API keys valid, expired, revoked, unknown, and the scheme | [`TestApiKeys`] |
//! | GitHub, Stripe, Slack webhook deliveries | [`WebhookSigner`] |
//! | signed requests (native HMAC, RFC 9421) | [`HmacSigner`], [`HttpSigner`] (the real signers) |
//! | client certificates (SPIFFE, DNS names) and a CA | [`TestPki`] |
//! | a handler unit test with a principal and no crypto | [`TestOnlyPrincipalLayer`], [`insert_principal_for_tests_only`] |
//!
//! Everything here is real: the issuer is an axum server on 127.0.0.1 with
//! real keys, the tokens and signatures are what production clients send,
//! and they go through the same schemes your service runs. Only the
//! principal shortcut skips authentication, and its names say so.
//!
//! # Example
//!
//! ```
//! use authgate::jwt::JwtScheme;
//! use authgate::testing::{MockIssuer, TestApiKeys};
//! use authgate::{AuthLayer, Principal};
//! use axum::{routing::get, Router};
//!
//! async fn me(principal: Principal) -> String {
//!     principal.subject().to_owned()
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let issuer = MockIssuer::start().await?;
//! let keys = TestApiKeys::new("sk_test")?;
//! let auth = AuthLayer::builder()
//!     .scheme(JwtScheme::builder().issuer(issuer.jwks_issuer()).build()?)
//!     .scheme(keys.scheme())
//!     .build()?;
//! let app: Router = Router::new().route("/me", get(me)).layer(auth);
//!
//! let token = issuer.token().subject("alice").mint();
//! let key = keys.issue("robot", "");
//! // Serve `app` and send `Authorization: Bearer {token}` or `X-Api-Key: {key}`.
//! # let _ = (app, token, key);
//! # Ok(())
//! # }
//! ```

mod api_keys;
mod introspect;
mod issuer;
mod pki;
mod principal;
mod signing_key;
mod token;
mod webhooks;

pub use crate::dpop::DpopProver;
pub use crate::hmac::{HttpSigner, Signer as HmacSigner};
pub use api_keys::TestApiKeys;
pub use issuer::{MockIssuer, Outage, DEFAULT_AUDIENCE};
pub use pki::{TestClientCert, TestPki};
pub use principal::{
    insert_principal_for_tests_only, test_principal, TestOnlyPrincipal, TestOnlyPrincipalLayer,
    TEST_SCHEME,
};
/// The certificate generator behind [`TestPki::client_with`].
pub use rcgen;
pub use signing_key::{TestAlgorithm, TestSigningKey};
pub use token::TokenBuilder;
pub use webhooks::WebhookSigner;

/// Why the test kit could not make something.
///
/// ```
/// let err = authgate::testing::TestApiKeys::new("Not A Prefix").unwrap_err();
/// assert!(err.to_string().contains("configuration"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestKitError {
    /// A socket could not be bound.
    #[error("test kit I/O: {0}")]
    Io(#[source] std::io::Error),
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// A key could not be made or read.
    #[error("test kit key: {0}")]
    Key(&'static str),
    /// A token could not be signed.
    #[error("the token could not be signed")]
    Sign,
    /// A certificate could not be made.
    #[error("test kit certificate: {0}")]
    Pki(String),
    /// A setting was refused.
    #[error("test kit configuration: {0}")]
    Config(#[source] crate::ConfigError),
}
