//! State shared by every instance of a service through Redis (feature
//! `redis`): replay protection, JWT revocation and cache invalidation.
//!
//! A fleet of instances behind a load balancer shares one Redis (or one
//! primary): [`RedisConnection`] is the connection they all go through,
//! built once from a [`RedisConfig`] and cloned into each part.
//!
//! - [`RedisReplayStore`]: a nonce recorded on one instance is refused on
//!   every other; one `SET key NX PX ttl` per check.
//! - [`RedisRevocation`]: a JWT [`Revocation`](crate::jwt::Revocation)
//!   list kept in Redis and mirrored in every instance's memory, kept fresh
//!   by pub/sub.
//! - [`InvalidationBroadcast`]: `invalidate` on one instance (an API key, an
//!   HMAC secret, the JWT token cache) runs on every instance.
//!
//! # Failure behaviour
//!
//! Redis unreachable, or slower than the connection's
//! [`timeout`](RedisConfig::timeout), fails closed: a replay check answers
//! 503 (the request's replay status is unknown), never an admission. The
//! first failure logs a warning on the `authgate` target, counts in
//! `authgate_store_errors_total{store="redis"}`, and the connection
//! reconnects by itself: the first command after Redis is back succeeds,
//! with no restart of the layer. Subscriptions (revocation, invalidation)
//! reconnect too, and on reconnecting they resynchronise: the revocation
//! mirror reloads every entry, the broadcast invalidates every target
//! wholesale, since messages sent meanwhile were lost.
//!
//! # Example
//!
//! ```no_run
//! use authgate::hmac::{HmacScheme, InMemorySecretStore};
//! use authgate::redis::{RedisConfig, RedisReplayStore};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), authgate::ConfigError> {
//! let redis = RedisConfig::new("redis://127.0.0.1:6379").prefix("orders-api").connect()?;
//! let scheme = HmacScheme::builder(InMemorySecretStore::new())
//!     .replay_store(RedisReplayStore::new(redis))
//!     .build()?;
//! # let _ = scheme;
//! # Ok(())
//! # }
//! ```

mod broadcast;
mod connection;
mod replay;
#[cfg(feature = "jwt")]
mod revocation;
mod subscriber;

pub use broadcast::{InvalidationBroadcast, InvalidationTarget};
pub use connection::{RedisConfig, RedisConnection};
pub use replay::RedisReplayStore;
#[cfg(feature = "jwt")]
pub use revocation::RedisRevocation;
