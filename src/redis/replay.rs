//! [`RedisReplayStore`]: nonces recorded in Redis, so that a request
//! replayed to any instance of a fleet is refused.

use std::fmt;

use crate::error::{AuthError, ErrorKind};
use crate::replay::{Nonce, ReplayCheck, ReplayStore};
use crate::telemetry::CacheMetrics;

use super::connection::RedisConnection;

/// A [`ReplayStore`] in Redis: one atomic `SET key 1 NX PX ttl` per check.
///
/// Keys are `<prefix>:replay:<scheme>:<key id>:<nonce digest>` (the nonce
/// as 128 bits of SHA-256, so a long nonce costs no more than a short one),
/// each expiring after the TTL the scheme asks for, so Redis holds at most
/// (requests per second × TTL) keys of ~100 bytes. Of two concurrent
/// identical requests on any two instances, Redis admits exactly one.
///
/// Fails closed: an error or a timeout is a 503 `unavailable`, never an
/// admission. Redis clocks the TTLs, so the in-process store's floor
/// against the server's wall clock stepping back does not apply: keep the
/// fleet's clocks NTP-synchronised (they judge the same timestamp window).
///
/// # Example
///
/// ```no_run
/// use authgate::hmac::{HttpSignatureScheme, InMemorySecretStore};
/// use authgate::redis::{RedisConfig, RedisReplayStore};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), authgate::ConfigError> {
/// let redis = RedisConfig::new("redis://127.0.0.1:6379").connect()?;
/// let scheme = HttpSignatureScheme::builder(InMemorySecretStore::new())
///     .replay_store(RedisReplayStore::new(redis))
///     .build()?;
/// # let _ = scheme;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisReplayStore {
    redis: RedisConnection,
    /// `redis_replay` hits (replays) and misses (first uses).
    metrics: CacheMetrics,
}

impl RedisReplayStore {
    /// A store on `redis`, under its prefix.
    #[must_use]
    pub fn new(redis: RedisConnection) -> Self {
        Self {
            redis,
            metrics: CacheMetrics::new("redis_replay"),
        }
    }

    fn key(&self, nonce: &Nonce<'_>) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, nonce.value().as_bytes());
        let digest = digest.as_ref().get(..16).unwrap_or_default();
        let mut hex = String::with_capacity(32);
        for byte in digest {
            hex.push_str(&format!("{byte:02x}"));
        }
        self.redis.key(&format!(
            "replay:{}:{}:{hex}",
            nonce.scheme(),
            nonce.key_id()
        ))
    }
}

impl ReplayStore for RedisReplayStore {
    fn admit_nonce(&self, nonce: &Nonce<'_>) -> ReplayCheck {
        let key = self.key(nonce);
        // At least a millisecond: `PX 0` is an error.
        let ttl_ms = u64::try_from(nonce.ttl().as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let (redis, metrics) = (self.redis.clone(), self.metrics.clone());
        ReplayCheck::pending(async move {
            let mut set = ::redis::cmd("SET");
            set.arg(key).arg(1).arg("NX").arg("PX").arg(ttl_ms);
            match redis.query::<Option<String>>(&set).await {
                Ok(Some(_)) => {
                    metrics.lookup(false);
                    Ok(())
                }
                Ok(None) => {
                    metrics.lookup(true);
                    Err(AuthError::new(ErrorKind::Replayed))
                }
                Err(e) => Err(AuthError::unavailable(e)
                    .with_description("the replay store cannot be reached right now")),
            }
        })
    }
}

impl fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("redis", &self.redis)
            .finish()
    }
}
