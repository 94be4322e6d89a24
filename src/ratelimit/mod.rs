//! Rate limits and quotas per principal, and a throttle on failed
//! authentication per client address.
//!
//! Two layers, on each side of the [`AuthLayer`](crate::AuthLayer):
//!
//! - [`RateLimitLayer`], *inside* it: after authentication, counts each
//!   principal's requests (by scheme and credential id, by subject, or by
//!   your own key) against a [`Quota`] from configuration or from the
//!   principal itself ([plans](RateLimitLayer::plan): an API key record's
//!   plan, a token's plan claim). Over the limit: 429 with
//!   `Retry-After` and the IETF `RateLimit` / `RateLimit-Policy` headers,
//!   gRPC 8 `RESOURCE_EXHAUSTED`. Anonymous requests are never counted
//!   against a principal.
//! - [`FailedAuthLayer`], *around* it: counts rejected credentials per
//!   client address and answers 429 before any look-up once a source has
//!   failed too often (credential stuffing).
//!
//! Both count with GCRA (smooth, burst-aware; see [`Quota`]) in a
//! [`RateLimiter`]: [`InProcessLimiter`] (bounded memory, per instance) or
//! `RedisLimiter` (feature `redis`: one atomic Lua script per request,
//! shared by every instance, falling back to the in-process limiter — or
//! 503, as configured — while Redis is away).
//!
//! | situation | HTTP | headers | gRPC |
//! |---|---|---|---|
//! | within the limit | the handler's | `RateLimit`, `RateLimit-Policy` | — |
//! | over the limit | 429 | `Retry-After`, `RateLimit`, `RateLimit-Policy` | 8 `RESOURCE_EXHAUSTED` |
//! | limiter unavailable (`OnRedisError::Unavailable`) | 503 | `Retry-After` | 14 `UNAVAILABLE` |
//!
//! # Example
//!
//! ```
//! use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
//! use authgate::ratelimit::{FailedAuthLayer, InProcessLimiter, Quota, RateLimitLayer};
//! use authgate::AuthLayer;
//! use axum::{routing::get, Router};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = AuthLayer::builder()
//!     .scheme(ApiKeyScheme::new(InMemoryKeyStore::new(), "sk_live")?)
//!     .build()?;
//! let per_key = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(600).burst(50))
//!     .plan("pro", Quota::per_minute(6_000)); // keys with `KeyRecord::with_plan("pro")`
//! let uploads = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_hour(20)).policy_name("uploads")?;
//! let stuffing_wall = FailedAuthLayer::new(InProcessLimiter::new(), Quota::per_minute(20));
//!
//! let app: Router = Router::new()
//!     .route("/uploads", get(|| async { "upload" }))
//!     .route_layer(uploads)           // only /uploads, on top of the per-key limit
//!     .route("/orders", get(|| async { "orders" }))
//!     .layer(per_key)                 // every route, after authentication
//!     .layer(auth)
//!     .layer(stuffing_wall);          // before authentication
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

mod answer;
mod backend;
mod failed_auth;
mod future;
mod layer;
mod local;
mod metrics;
mod plans;
mod quota;
#[cfg(feature = "redis")]
mod redis;
mod service;

#[cfg(feature = "redis")]
pub use self::redis::{OnRedisError, RedisLimiter, RedisLimiterBuilder};
pub use backend::{LimitCheck, LimitError, RateLimiter};
pub use failed_auth::{FailedAuthFuture, FailedAuthLayer, FailedAuthThrottle};
pub use future::RateLimitFuture;
pub use layer::RateLimitLayer;
pub use local::{InProcessLimiter, DEFAULT_CAPACITY};
pub use quota::{Charge, Decision, Quota};
pub use service::RateLimit;
