//! # authgate
//!
//! Authentication and authorization middleware for tower services (axum,
//! tonic, plain hyper): one [`AuthLayer`] that extracts exactly one
//! credential, verifies it with the scheme that owns it, authorizes the
//! resulting [`Principal`], and answers every rejection with the status code
//! and challenge the RFCs call for.
//!
//! This page is the guide; each module holds the reference.
//!
//! - [The model](#the-model-extract--verify--authorize--respond)
//! - [Quick example](#quick-example)
//! - [Schemes](#schemes)
//! - [Authorization](#authorization)
//! - [Responses](#responses)
//! - [Tracing](#tracing)
//! - [Recipes](#recipes)
//! - [Security notes](#security-notes)
//! - [Feature flags](#feature-flags)
//!
//! ## The model: extract → verify → authorize → respond
//!
//! 1. **Extract** ([`credentials`]): each scheme declares where its
//!    credentials live ([`CredentialLocation`]): an `Authorization` scheme
//!    name, a header such as `X-Api-Key`, a query parameter only when
//!    explicitly enabled. The layer looks there and nowhere else. No
//!    credential → 401; two → 400 `invalid_request`, never a guess; a broken
//!    `Authorization` header → 400.
//! 2. **Verify** ([`Scheme`]): the one scheme that owns the credential's
//!    location turns it into a [`Principal`] — or an [`AuthError`] whose
//!    [`ErrorKind`] says why. Schemes answer synchronously when they can (a
//!    cache hit), so the hot path does not allocate a future. Signature
//!    schemes that cover the body ask for it first; a layer built
//!    [`with_request_bodies`](AuthLayerBuilder::with_request_bodies) reads
//!    it up to a limit (413 beyond) and passes the same bytes on
//!    ([`request_body`]).
//! 3. **Authorize** ([`authorize`]): optional, per layer or per route:
//!    scopes, claims, policies.
//! 4. **Respond** ([`response`]): one mapping from error kind to HTTP
//!    status, `WWW-Authenticate` challenge and `grpc-status`, replaceable
//!    with your own [`RejectionResponse`].
//!
//! The verified [`Principal`] reaches handlers in the request extensions
//! (`Extension<Principal>` in axum, or `Principal` itself with the `axum`
//! feature; `request.extensions()` in tonic).
//!
//! ## Quick example
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
//! let response = service.clone().oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//!
//! let response = service.oneshot(http::Request::get("/orders").body(())?).await?;
//! assert_eq!(response.status(), 401);
//! assert_eq!(response.headers()["www-authenticate"], "ApiKey");
//! # Ok(())
//! # }
//! ```
//!
//! ## Schemes
//!
//! ### API keys ([`api_key`])
//!
//! `sk_live_<id>_<secret><checksum>`: the prefix is the environment, the id
//! selects a [`KeyRecord`](api_key::KeyRecord) in your
//! [`KeyStore`](api_key::KeyStore), the secret is stored only as its SHA-256
//! and compared in constant time, and a CRC-32 checksum rejects mistyped keys
//! before any look-up. Look-ups are cached (bounded, with TTL and a short
//! negative cache, single-flight misses); a store that fails or times out
//! gives 503, never 401. Keys expire, get revoked, and rotate with a grace
//! deadline.
//!
//! ### JWT bearer tokens ([`jwt`])
//!
//! `Authorization: Bearer <jwt>` from one or more issuers, each with its own
//! keys (JWKS URL, OIDC discovery, or static JWK / PEM / shared secret),
//! audiences and algorithm allow-list. The header is checked first (`alg`
//! allowed and fitting the key, never `none`, no `crit`), then the
//! signature, then `exp` / `nbf` / `iat` with leeway, `iss`, `aud`, required
//! claims and `typ`, then revocation. JWKS are cached per `Cache-Control`,
//! refreshed in the background and survive a key-server outage; when no key
//! can be had the answer is 503. A token seen again skips the signature
//! check (validated-token cache, bounded, never past `exp`).
//!
//! ### Signed requests and webhooks ([`hmac`])
//!
//! The native `HMAC-SHA256` scheme (timestamp window, nonce replay cache,
//! a documented canonical string and a [`Signer`](hmac::Signer) for
//! clients), RFC 9421 HTTP Message Signatures with `hmac-sha256`, and the
//! GitHub, Stripe and Slack webhook formats. Schemes that sign the body need
//! a layer built [`with_request_bodies`](AuthLayerBuilder::with_request_bodies):
//! the body is read up to a limit (413 beyond), verified, and handed on
//! byte for byte ([`request_body`]).
//!
//! ### Your own
//!
//! Implement [`Scheme`]: declare [`locations`](Scheme::locations), a
//! [`challenge`](Scheme::challenge), and [`verify`](Scheme::verify).
//!
//! ## Authorization
//!
//! After authentication, an [`Authorizer`] decides: [`RequireScopes`]
//! (all-of, any-of, exact or hierarchical `orders:*` matching), closures over
//! `(&Principal, &Parts)`, the combinators [`authorize::all`],
//! [`authorize::any`], [`authorize::not`], per-method rules
//! ([`authorize::ByMethod`]) and per-gRPC-method rules
//! ([`authorize::GrpcMethods`]). Attach one to the layer
//! ([`AuthLayerBuilder::authorize`]) or per route, behind the layer, with
//! [`AuthorizeLayer`] or [`RequireScopes`] itself — they read the principal
//! the outer layer stored and never authenticate twice.
//!
//! ```
//! # use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
//! use authgate::{AuthLayer, RequireScopes};
//! use axum::{routing::get, Router};
//!
//! # let auth = AuthLayer::builder()
//! #     .scheme(ApiKeyScheme::new(InMemoryKeyStore::new(), "sk_live").unwrap())
//! #     .build().unwrap();
//! let app: Router = Router::new()
//!     .route("/admin", get(|| async { "admin" }))
//!     .route_layer(RequireScopes::all(["admin"])) // only the routes above
//!     .route("/orders", get(|| async { "orders" }))
//!     .layer(auth);                               // every route
//! ```
//!
//! ## Responses
//!
//! | situation | HTTP | `WWW-Authenticate` | gRPC |
//! |---|---|---|---|
//! | no credential, unsupported scheme | 401 | one bare challenge per scheme | 16 `UNAUTHENTICATED` |
//! | malformed `Authorization`, two credentials | 400 | `error="invalid_request"` | 16 |
//! | invalid, unknown, expired, rotated, revoked credential | 401 | `error="invalid_token"`, `error_description` | 16 |
//! | valid credential lacking a scope | 403 | `error="insufficient_scope"`, `scope` | 7 `PERMISSION_DENIED` |
//! | denied by a policy | 403 | — | 7 |
//! | the server cannot verify (store down, no key) | 503 + `Retry-After` | — | 14 `UNAVAILABLE` |
//!
//! HTTP bodies are RFC 9457 problem details. A rejected response carries the
//! [`AuthError`] in its extensions, so outer layers can see why. Clients are
//! never told whether a key id exists.
//!
//! ## Tracing
//!
//! One event per decision at target `authgate` ([`trace`]):
//!
//! | field | meaning |
//! |---|---|
//! | `scheme` | the scheme that owned the credential |
//! | `outcome` | `granted`, `anonymous` or `denied` |
//! | `reason` | [`ErrorKind::reason`]: `missing`, `malformed`, `ambiguous`, `unknown_key`, `expired`, `revoked`, `bad_signature`, `insufficient_scope`, `unavailable`, … |
//! | `status` | the HTTP status answered |
//! | `subject`, `key_id` | who, with which key or token id, when known |
//! | `fingerprint` | first 8 bytes of the credential's SHA-256, hex — never the credential |
//! | `latency_us` | time spent deciding |
//!
//! Grants are `debug`, denials `info`, `unavailable` is `warn`.
//!
//! ## Recipes
//!
//! ### API keys for partners
//!
//! One [`ApiKeyGenerator`](api_key::ApiKeyGenerator) per environment
//! (`sk_live`, `sk_test`); store the [`KeyRecord`](api_key::KeyRecord), hand
//! out the plaintext once. Implement [`KeyStore`](api_key::KeyStore) over
//! your database; after revoking, call
//! [`ApiKeyScheme::invalidate`](api_key::ApiKeyScheme::invalidate) to skip
//! the cache TTL. Rotate by issuing a replacement and setting the old
//! record's `retires_at`. See `examples/axum_api_keys.rs`.
//!
//! ### gRPC with tonic
//!
//! `Server::builder().layer(auth)`: gRPC calls (`content-type:
//! application/grpc*`) are answered with `grpc-status` and `grpc-message`,
//! which tonic clients read as `tonic::Code`s. Per-method scopes:
//!
//! ```
//! use authgate::authorize::GrpcMethods;
//! use authgate::RequireScopes;
//!
//! let rules = GrpcMethods::new()
//!     .method("/shop.Orders/Get", RequireScopes::all(["orders:read"]))
//!     .method("/shop.Orders/Create", RequireScopes::all(["orders:write"]));
//! // AuthLayer::builder().scheme(..).authorize(rules).build()
//! # let _ = rules;
//! ```
//!
//! See `examples/tonic_grpc.rs`.
//!
//! ### JWT from an OIDC provider
//!
//! ```no_run
//! use authgate::jwt::{Issuer, JwtScheme};
//! use authgate::AuthLayer;
//!
//! # fn main() -> Result<(), authgate::ConfigError> {
//! let scheme = JwtScheme::builder()
//!     .issuer(
//!         Issuer::new("https://tenant.eu.auth0.com/")
//!             .audience("https://api.example.com")
//!             .oidc_discovery(), // keys from <issuer>/.well-known/openid-configuration
//!     )
//!     .token_type("at+jwt") // RFC 9068 access tokens only
//!     .build()?;
//! let auth = AuthLayer::builder().scheme(scheme).build()?;
//! let admins = auth.require_scopes(["admin"]);
//! # let _ = admins;
//! # Ok(())
//! # }
//! ```
//!
//! Fetching over HTTPS needs the `jwks-http` feature, or your own
//! [`JwksFetcher`](jwt::JwksFetcher). See `examples/axum_jwt.rs`, which can
//! also run against your identity provider.
//!
//! ### Webhooks
//!
//! One layer per endpoint, each with its provider's secret; several secrets
//! may be valid at once while you rotate:
//!
//! ```
//! use authgate::hmac::{GithubWebhook, WebhookSecrets};
//! use authgate::AuthLayer;
//!
//! let github = AuthLayer::builder()
//!     .scheme(GithubWebhook::new(WebhookSecrets::single("It's a Secret to Everybody")))
//!     .with_request_bodies()          // GitHub signs the raw body
//!     .max_body_size(256 * 1024)      // larger deliveries get 413
//!     .build()
//!     .unwrap();
//! // axum: .route("/webhooks/github", post(handler).layer(github))
//! # let _ = github;
//! ```
//!
//! See `examples/webhooks.rs`, which can also serve real provider endpoints.
//!
//! ### Mixing schemes on one router
//!
//! Add several schemes to one layer: each owns its locations (building
//! fails if two claim the same one), a request's one credential goes to its
//! owner, and a request carrying two credentials is a 400. A 401 lists one
//! challenge per scheme.
//!
//! ```
//! use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
//! use authgate::jwt::{Issuer, JwtKey, JwtScheme};
//! use authgate::AuthLayer;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let jwt = JwtScheme::builder()
//!     .issuer(Issuer::new("https://login.example.com").audience("orders")
//!         .key(JwtKey::shared_secret(&[7u8; 32])?))
//!     .build()?;
//! let auth = AuthLayer::builder()
//!     .scheme(ApiKeyScheme::new(InMemoryKeyStore::new(), "sk_live")?) // ApiKey, X-Api-Key
//!     .scheme(jwt)                                                    // Bearer
//!     .build()?;
//! let service = ServiceBuilder::new().layer(auth).service(service_fn(|_: http::Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(()))
//! }));
//!
//! let response = service.oneshot(http::Request::get("/").body(())?).await?;
//! assert_eq!(response.status(), 401);
//! let challenges: Vec<_> = response.headers().get_all("www-authenticate").iter().collect();
//! assert_eq!(challenges, ["ApiKey", "Bearer"]);
//! # Ok(())
//! # }
//! ```
//!
//! ## Security notes
//!
//! What authgate protects against: credential confusion (exactly one
//! credential, routed by location, never tried against every verifier);
//! algorithm confusion and `alg: none` (JWT algorithms are allow-listed per
//! issuer and must fit the key; HMAC only with a configured secret, never a
//! JWKS key); replays (timestamp windows and nonce caches for signed
//! requests); unbounded bodies (read only when signed, up to a limit);
//! timing attacks on secrets (constant-time comparison of hashes); key-id
//! enumeration (unknown ids and wrong secrets look the same, and take the
//! same work); mistyped and cross-environment keys (checksum and prefix
//! checked before any look-up); store floods (negative cache, single-flight
//! misses, bounded caches); fail-open on outages (503, never 401 or 200);
//! secrets in logs (fingerprints only; secret types redact `Debug` and are
//! zeroized on drop); header injection (challenge parameters are
//! validated at build time and sanitized per request).
//!
//! What you still must do: serve over TLS (bearer credentials are replayable
//! by anyone who sees them); keep key stores and signing secrets out of
//! source control and logs; rotate keys and revoke leaked ones; keep the
//! cache TTLs short enough for your revocation needs; run under a Tokio
//! runtime with timers enabled (store timeouts use them); and put
//! authorization layers *inside* the `AuthLayer`.
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `api-key` | yes | [`api_key`]: key format, generator, stores, verifier |
//! | `hmac` | yes | [`hmac`]: signed requests (native `HMAC-SHA256`, RFC 9421 `hmac-sha256`) and GitHub, Stripe, Slack webhooks |
//! | `jwt` | yes | [`jwt`]: JWT bearer tokens, issuers, static keys, JWKS cache |
//! | `jwks-http` | no | `jwt::HttpFetcher`: JWKS over HTTPS (hyper, rustls with ring) |
//! | `axum` | no | `Principal` and `Option<Principal>` as axum extractors |
//! | `full` | no | all of the above |
//!
//! tonic needs no feature.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "api-key")]
pub mod api_key;
pub mod audit;
pub mod authorize;
mod body;
pub mod clock;
pub mod credentials;
mod error;
mod future;
#[cfg(feature = "hmac")]
pub mod hmac;
#[cfg(any(feature = "jwt", feature = "api-key"))]
mod hot;
mod integration;
#[cfg(any(feature = "api-key", feature = "hmac"))]
mod invalidation;
#[cfg(feature = "jwt")]
pub mod jwt;
mod layer;
mod principal;
pub mod request_body;
pub mod response;
mod scheme;
mod secret;
mod service;
mod telemetry;
pub mod trace;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
#[path = "fuzzing.rs"]
pub mod __fuzz;

pub use authorize::{AuthorizeLayer, Authorizer, RequireScopes};
pub use body::ResponseBody;
pub use credentials::{AuthorizationSyntax, Credential, CredentialLocation};
pub use error::{AuthError, ConfigError, ErrorKind, StoreError};
pub use future::ResponseFuture;
#[cfg(feature = "axum")]
pub use integration::MissingPrincipal;
pub use layer::{AuthLayer, AuthLayerBuilder};
pub use principal::{Principal, Scopes};
pub use response::{ProblemDetails, Rejection, RejectionResponse};
pub use scheme::{Challenge, PrecheckFuture, Scheme, Verification, VerifyContext, VerifyFuture};
pub use secret::{fingerprint, SecretString};
pub use service::Auth;
