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
//! - [Install](#install)
//! - [The model](#the-model-extract--verify--authorize--respond)
//! - [Quick example](#quick-example)
//! - [axum handlers](#axum-handlers)
//! - [Schemes](#schemes)
//! - [Authorization](#authorization)
//! - [Responses](#responses)
//! - [Tracing](#tracing)
//! - [Recipes](#recipes)
//! - [Security notes](#security-notes)
//! - [Feature flags](#feature-flags)
//!
//! ## Install
//!
//! ```toml
//! [dependencies]
//! # default features: api-key, hmac, jwt, axum
//! authgate = "0.1"
//! # JWKS and OIDC discovery over HTTPS need one more:
//! # authgate = { version = "0.1", features = ["jwks-http"] }
//! ```
//!
//! Every example below says which features it needs when it needs more
//! than the defaults; on docs.rs each item shows its feature. Turning the
//! default features off (`default-features = false`) also turns off the
//! `axum` extractors: `principal: Principal` in a handler then fails with
//! ``the trait `Handler<_, _>` is not implemented``.
//! Put `#[axum::debug_handler]` on the handler and the compiler names the
//! argument that is not an extractor.
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
//!    scopes, claims, policies. Then, optionally, [rate limits](ratelimit)
//!    per principal (429 over the limit).
//! 4. **Respond** ([`response`]): one mapping from error kind to HTTP
//!    status, `WWW-Authenticate` challenge and `grpc-status`. Bring your own
//!    error body with [`rejection_body`](AuthLayerBuilder::rejection_body)
//!    (status, challenges and gRPC answers stay), or the whole response
//!    with a [`RejectionResponse`].
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
//! ## axum handlers
//!
//! With the `axum` feature (on by default) handlers take the identity as an
//! argument: [`Principal`], `Option<Principal>` (on
//! [anonymous paths](AuthLayerBuilder::anonymous_path)), or the token's
//! claims as your own type with [`Claims<T>`](Claims). A request the layer
//! let through always has its principal; if a handler still cannot get one
//! (an anonymous request, claims that do not fit `T`) it answers with the
//! layer's own rejection (401 and challenges, through your
//! [rejection hook](response#custom-error-bodies)).
//!
//! ```toml
//! authgate = { version = "0.1", features = ["axum", "jwt"] } # both on by default
//! ```
//!
//! ```
//! use authgate::jwt::{Issuer, JwtKey, JwtScheme};
//! use authgate::{AuthLayer, Claims, Principal};
//! use axum::{routing::get, Router};
//!
//! #[derive(serde::Deserialize)]
//! struct Tenant {
//!     tenant: String,
//! }
//!
//! // #[axum::debug_handler] // turns "Handler is not implemented" into a readable error
//! async fn me(principal: Principal) -> String {
//!     format!("{} via {}", principal.subject(), principal.scheme())
//! }
//!
//! async fn tenant(Claims(claims): Claims<Tenant>) -> String {
//!     claims.tenant
//! }
//!
//! async fn home(principal: Option<Principal>) -> &'static str {
//!     if principal.is_some() { "welcome back" } else { "hello, stranger" }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let jwt = JwtScheme::builder()
//!     .issuer(Issuer::new("https://login.example.com").audience("api")
//!         .key(JwtKey::shared_secret(&[7u8; 32])?))
//!     .build()?;
//! let auth = AuthLayer::builder().scheme(jwt).anonymous_path("/").build()?;
//! let app: Router = Router::new()
//!     .route("/", get(home))
//!     .route("/me", get(me))
//!     .route("/tenant", get(tenant))
//!     .layer(auth);
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! Without the `axum` feature, use `Extension<Principal>` (a 500 when
//! missing) or `request.extensions().get::<Principal>()`.
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
//! ### Which per-route form to use
//!
//! | form | use it when |
//! |---|---|
//! | `route_layer(RequireScopes::all([..]))` (or `any`) | the rule is scopes only, and the routes sit behind an `AuthLayer` |
//! | `route_layer(AuthorizeLayer::new(rule))` | any other [`Authorizer`]: closures, [`ByMethod`](authorize::ByMethod), [`GrpcMethods`](authorize::GrpcMethods), combinators |
//! | `auth.require_scopes([..])` / `auth.with_authorizer(rule)` | the routes may also be served without the outer layer (a router reused on its own, a tonic server, a test): the derived layer is a full `AuthLayer` sharing the schemes and caches |
//!
//! None of them authenticates twice. `RequireScopes` and `AuthorizeLayer`
//! never authenticate: they read the [`Principal`] the outer layer stored
//! (and answer 401 if there is none). A derived layer behind an
//! `AuthLayer` built from the same schemes finds the principal that layer
//! verified and only runs its authorizer, always, on every authenticated
//! request; only when nothing outside authenticated does it verify the
//! credential itself. All three answer denials with the outer layer's
//! challenges and rejection hook.
//!
//! ### Nested routers and anonymous paths
//!
//! Whether a path is anonymous is decided once, by the layer that
//! authenticates, on the path the client sent: axum's
//! `OriginalUri` when present (with the `axum` feature), not the shortened
//! path a router nested with `Router::nest` sees. Per-route rules further in
//! never decide it again. So for a layer on a router nested at `/admin`,
//! write the full path:
//!
//! ```
//! # use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
//! use authgate::AuthLayer;
//! use axum::{routing::get, Router};
//!
//! # let scheme = ApiKeyScheme::new(InMemoryKeyStore::new(), "sk_live").unwrap();
//! let admin_auth = AuthLayer::builder()
//!     .scheme(scheme)
//!     .anonymous_path("/admin/health") // not "/health": the client's path
//!     .build()
//!     .unwrap();
//! let admin = Router::new()
//!     .route("/health", get(|| async { "ok" }))
//!     .route("/users", get(|| async { "users" }))
//!     .layer(admin_auth);
//! let app: Router = Router::new().nest("/admin", admin);
//! # let _ = app;
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
//! | over a [rate limit](ratelimit), or too many failed authentications from one address | 429 + `Retry-After`, `RateLimit`, `RateLimit-Policy` | — | 8 `RESOURCE_EXHAUSTED` |
//!
//! HTTP bodies are RFC 9457 problem details. A rejected response carries the
//! [`AuthError`] in its extensions, so outer layers can see why. Clients are
//! never told whether a key id exists.
//!
//! Your own error format:
//! [`rejection_body`](AuthLayerBuilder::rejection_body) replaces only the
//! body and keeps the status, challenges and `Retry-After`; every rejection
//! goes through it (the layer's, per-route rules', the axum extractors').
//! gRPC calls keep the `grpc-status` answer: a JSON body would reach a
//! tonic client as `Internal: protocol error: received message with invalid
//! compression flag`, not `UNAUTHENTICATED`. See
//! [Custom error bodies](response#custom-error-bodies).
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
//! which tonic clients read as `tonic::Code`s. Per-method scopes, keyed by
//! the service name tonic generates (`NamedService::NAME`, or the
//! `SERVICE_NAME` constant in the generated `*_server` module) so that a
//! renamed service fails to compile instead of silently denying:
//!
//! ```
//! use authgate::authorize::GrpcMethods;
//! use authgate::RequireScopes;
//! # mod orders_server { pub const SERVICE_NAME: &str = "shop.Orders"; }
//!
//! let rules = GrpcMethods::new()
//!     .method_in(orders_server::SERVICE_NAME, "Get", RequireScopes::all(["orders:read"]))
//!     .method_in(orders_server::SERVICE_NAME, "Create", RequireScopes::all(["orders:write"]));
//! // AuthLayer::builder().scheme(..).authorize(rules).build()
//! # let _ = rules;
//! ```
//!
//! To serve an axum API and tonic services with the same schemes and
//! caches, give tonic a derived layer: `auth.with_authorizer(rules)`. See
//! `examples/tonic_grpc.rs` and `examples/full_service.rs`.
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
//! ### An OAuth resource server: opaque tokens, JWT and opaque together
//!
//! With the `introspection` feature, `introspection::IntrospectionScheme`
//! verifies opaque tokens at the authorization server's introspection
//! endpoint (RFC 7662, cached, 503 when the endpoint fails), and
//! `introspection::jwt_or_opaque` puts it next to a [`jwt::JwtScheme`] on
//! one `Authorization: Bearer`: JWTs of the JWT scheme's issuers are
//! verified locally, everything else is introspected. The general rule
//! behind it is [`SchemeRouter`]: one scheme owns a location and routes
//! each credential to one of several schemes, first matching route first.
//! [`AuthLayerBuilder::protected_resource`] publishes RFC 9728 metadata
//! ([`metadata`]) and adds `resource_metadata` to every Bearer challenge.
//! See `examples/resource_server.rs`.
//!
//! ### Sender-constrained tokens (DPoP)
//!
//! Tokens bound to a client key (`cnf.jkt`, RFC 9449) need a fresh proof
//! from that key on every request; bound tokens sent as `Bearer` are
//! always refused:
//!
//! ```
//! use authgate::dpop::{Dpop, DpopMode};
//! use authgate::jwt::{Issuer, JwtKey, JwtScheme};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let scheme = JwtScheme::builder()
//!     .issuer(Issuer::new("https://login.example").audience("api")
//!         .key(JwtKey::shared_secret(&[7u8; 32])?))
//!     .dpop(Dpop::new(DpopMode::Required).public_origin("https://api.example.com").require_nonce())
//!     .build()?;
//! # let _ = scheme;
//! # Ok(())
//! # }
//! ```
//!
//! Opaque tokens whose introspection answer carries `cnf.jkt` are bound the
//! same way with `IntrospectionSchemeBuilder::dpop` (feature
//! `introspection`). A fleet shares the proofs' `jti`s through a
//! [`replay::ReplayStore`] in Redis ([`dpop::Dpop::replay_store`]).
//! Clients sign proofs with [`dpop::DpopProver`]. See [`dpop`],
//! `examples/axum_jwt.rs` and `examples/resource_server.rs`
//! (`AUTHGATE_DPOP=required`).
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
//! ### Service mesh: mTLS with SPIFFE IDs (`mtls` feature)
//!
//! - **Mesh workloads:** a `mtls::ClientCertScheme` with your trust domains
//!   makes each X.509-SVID a principal named by its SPIFFE ID;
//!   `mtls::Workloads` authorizes by ID, trust domain or
//!   `spiffe://td/ns/payments/sa/*` pattern, per route
//!   ([`with_authorizer`](AuthLayer::with_authorizer)) or per gRPC method
//!   ([`GrpcMethods`](authorize::GrpcMethods)).
//! - **Classic mTLS:** `subject_from(SubjectFrom::DnsName)` (or `Email`,
//!   `CommonName`) for certificates that are not SVIDs.
//! - **axum / hyper:** `mtls::server_config(cert, key, client_ca,
//!   ClientAuth::Optional)` and `mtls::serve(listener, config, router)`.
//! - **tonic** (`tonic` feature): `Server::builder().tls_config(..)` with a
//!   `client_ca_root`; nothing else.
//! - **Behind a proxy:** `mtls::ForwardedClientCerts::rfc9440()` or
//!   `::xfcc()` outside the layer, trusting only the proxy's address.
//! - **Bound tokens (RFC 8705):** JWTs with `cnf.x5t#S256` work only over
//!   their certificate; `jwt::CertificateBound` requires them on a route.
//!
//! See `examples/mtls.rs` and the README's mTLS section.
//!
//! ### Legacy clients: HTTP Basic (`basic` feature)
//!
//! `basic::BasicScheme` over a `basic::PasswordStore` (or an htpasswd file
//! loaded with `InMemoryPasswordStore::from_htpasswd`): Argon2id and bcrypt
//! hashes verified on the blocking pool under a concurrency cap (503
//! beyond), unknown users verified against a dummy hash, repeated logins
//! served from a cache of successful verifications. TLS only; API keys are
//! usually the better choice for machine clients. See the README's Basic
//! section.
//!
//! ### Testing your service (`testing` feature)
//!
//! In `[dev-dependencies]`: `testing::MockIssuer` (discovery, JWKS and
//! token introspection on 127.0.0.1, JWTs and opaque tokens minted with any
//! claims, DPoP-bound tokens, rotation, outages), `testing::TestApiKeys`,
//! `testing::WebhookSigner`, `testing::TestPki`, `testing::DpopProver`, and
//! `testing::TestOnlyPrincipalLayer` for handler tests without any crypto.
//! See `examples/testing_your_service.rs`.
//!
//! ### One service, everything
//!
//! `examples/full_service.rs` is the one to copy: API keys and JWTs on one
//! layer, a nested admin router, webhooks outside the main layer, a tonic
//! service sharing the layer through
//! [`with_authorizer`](AuthLayer::with_authorizer), a custom JSON error
//! body, and the service's own tests. `cargo run --example full_service`.
//!
//! ### Observability
//!
//! Every decision is one `tracing` event at target `authgate` (scheme,
//! outcome, reason, status, subject, key id, credential fingerprint,
//! latency; never a secret) and one audit record at target
//! `authgate::audit` (grants included; subject, key id or `jti`, method,
//! route, client address, `x-request-id`), which an
//! [`AuditSink`](audit::AuditSink) can also receive. With the `metrics`
//! feature the same decisions, the caches, the stores and each JWKS source
//! feed `authgate_*` series with bounded labels; the application installs
//! the exporter. `docs/observability.md` lists every series and maps each
//! SLI to PromQL; `cargo run --all-features --example metrics` shows the
//! scraped text.
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
//! | `jwt` | yes | [`jwt`]: JWT bearer tokens, issuers, static keys, JWKS cache; [`dpop`]: DPoP-bound tokens and proofs |
//! | `jwks-http` | no | `jwt::HttpFetcher`: JWKS over HTTPS (hyper, rustls with ring) |
//! | `introspection` | no | `introspection`: opaque access tokens by RFC 7662 introspection, RFC 9701 signed answers, JWT and opaque on one Bearer; implies `jwks-http` |
//! | `axum` | yes | [`Principal`], `Option<Principal>` and [`Claims<T>`](Claims) as axum extractors (axum-core) |
//! | `mtls` | no | `mtls`: client certificates (SPIFFE X.509-SVIDs, mapped names), workload rules, `mtls::serve` for axum and hyper over rustls |
//! | `tonic` | no | with `mtls`: the client chain of tonic's own TLS reaches `mtls::ClientCertScheme` |
//! | `metrics` | no | counters and histograms for every decision, cache, store and JWKS source through the [`metrics`](https://docs.rs/metrics) facade |
//! | `postgres` | no | `postgres`: API keys and HMAC secrets in PostgreSQL (migration, issue / rotate / revoke, revocations pushed over `LISTEN`/`NOTIFY`) |
//! | `basic` | no | `basic`: HTTP Basic (RFC 7617) over Argon2id and bcrypt password hashes, htpasswd files |
//! | `testing` | no | `testing`: a mock OIDC issuer (with token introspection), test keys, webhook signers, client certificates and a test-only principal, for your own tests |
//! | `redis` | no | `redis`: state shared by a fleet through Redis (`RedisReplayStore` behind [`replay::ReplayStore`], `RedisRevocation`, `InvalidationBroadcast`) and [rate limits](ratelimit) (`ratelimit::RedisLimiter`) |
//! | `full` | no | all of the above |
//!
//! `axum` is on by default because axum is the common user and forgetting
//! it gives an unreadable compiler error; axum-core is small and already in
//! the tree of every axum and tonic 0.14 server. tonic needs no feature.

// docs.rs (nightly, `--cfg docsrs`): mark each item with the features it
// needs. `doc_auto_cfg` was merged into `doc_cfg` in Rust 1.92, which now
// derives the badges from `#[cfg]` by itself; naming the removed feature
// stops rustdoc with E0557. `.ci/run` builds the docs this way.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "api-key")]
pub mod api_key;
pub mod audit;
pub mod authorize;
#[cfg(feature = "basic")]
pub mod basic;
mod body;
pub mod clock;
pub mod credentials;
#[cfg(feature = "jwt")]
pub mod dpop;
mod error;
mod future;
#[cfg(feature = "hmac")]
pub mod hmac;
#[cfg(any(feature = "jwt", feature = "api-key", feature = "hmac"))]
mod hot;
mod integration;
#[cfg(feature = "introspection")]
pub mod introspection;
#[cfg(any(feature = "api-key", feature = "hmac", feature = "basic"))]
mod invalidation;
#[cfg(feature = "jwt")]
pub mod jwt;
mod layer;
pub mod metadata;
#[cfg(feature = "mtls")]
pub mod mtls;
#[cfg(feature = "postgres")]
pub mod postgres;
mod principal;
pub mod ratelimit;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "hmac", feature = "jwt", feature = "redis"))]
pub mod replay;
pub mod request_body;
pub mod response;
mod router;
mod scheme;
mod secret;
mod service;
mod shared;
mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
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
pub use integration::{Claims, MissingPrincipal};
pub use layer::{AuthLayer, AuthLayerBuilder};
pub use principal::{Principal, Scopes};
pub use response::{ProblemDetails, Rejection, RejectionResponse};
pub use router::{SchemeRouter, SchemeRouterBuilder};
pub use scheme::{Challenge, PrecheckFuture, Scheme, Verification, VerifyContext, VerifyFuture};
pub use secret::{fingerprint, SecretString};
pub use service::Auth;
