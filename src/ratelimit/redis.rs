//! [`RedisLimiter`]: GCRA state in Redis, shared by every instance.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::backend::{LimitCheck, LimitError, RateLimiter};
use super::local::InProcessLimiter;
use super::metrics::BackendMetrics;
use super::quota::{Charge, Decision, Quota};
use crate::error::ConfigError;

/// One GCRA step, atomic on the Redis server, on the server's clock (so
/// that instances whose clocks disagree still agree on the limit).
/// Microseconds keep every number exact in Lua's doubles.
///
/// `KEYS[1]`: the caller's key. ARGV: emission interval (µs), tolerance (µs),
/// 1 to only peek, 2 to count even over the limit (a penalty), 0 to count
/// when allowed. Returns {allowed, remaining, retry_after_us, reset_us}.
const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then
  tat = math.max(tonumber(stored), now)
end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if allow_at > now then
  if ARGV[3] == '2' then
    redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1)
  end
  return {0, 0, allow_at - now, tat - now}
end
local remaining = math.floor((now - allow_at) / interval)
if ARGV[3] == '1' then
  return {1, remaining + 1, 0, tat - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1)
return {1, remaining, 0, new_tat - now}
";

/// Keys longer than this are replaced by their SHA-256, so that a long
/// subject never makes a long Redis key.
const MAX_KEY_LEN: usize = 128;

/// What the limiter does when Redis does not answer (down, unreachable,
/// slower than the [timeout](RedisLimiterBuilder::timeout)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnRedisError {
    /// Decide with this instance's own in-process limiter, as if the
    /// instance were alone: the fleet as a whole then allows up to
    /// `instances × quota` until Redis is back. Requests keep flowing.
    FallBackToLocal,
    /// Answer 503 with `Retry-After`, as for a key store outage.
    Unavailable,
}

/// A rate limiter whose state lives in Redis: every instance of a fleet
/// counts against the same budget. One `EVALSHA` of a GCRA script per
/// request, atomic on the server and timed by the server's clock.
///
/// When Redis fails or is slower than the [timeout](RedisLimiterBuilder::timeout),
/// the request is decided by the [failure mode](OnRedisError) (by default
/// the instance's own in-process limiter) and Redis is left alone for the
/// [retry interval](RedisLimiterBuilder::retry_interval); then the next
/// request tries it again. The connection reconnects by itself: a Redis
/// restart needs no restart of the service.
///
/// # Example
///
/// ```no_run
/// use authgate::ratelimit::{Quota, RateLimitLayer, RedisLimiter};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = redis::Client::open("redis://127.0.0.1:6379/")?;
/// let limiter = RedisLimiter::builder(client).namespace("orders-api:rl:").build()?;
/// let limits = RateLimitLayer::new(limiter, Quota::per_minute(600));
/// # let _ = limits;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    connection: ConnectionManager,
    script: redis::Script,
    namespace: String,
    timeout: Duration,
    on_error: OnRedisError,
    local: InProcessLimiter,
    retry_interval: Duration,
    /// Nanoseconds since `epoch` until which Redis is not asked.
    down_until: AtomicU64,
    epoch: Instant,
    metrics: BackendMetrics,
}

impl RedisLimiter {
    /// Starts configuring a limiter over `client`. No connection is made
    /// until the first request.
    ///
    /// ```
    /// # use authgate::ratelimit::RedisLimiter;
    /// let client = redis::Client::open("redis://127.0.0.1:6379/").unwrap();
    /// let builder = RedisLimiter::builder(client);
    /// # let _ = builder;
    /// ```
    pub fn builder(client: redis::Client) -> RedisLimiterBuilder {
        RedisLimiterBuilder {
            client,
            namespace: String::from("authgate:rl:"),
            timeout: Duration::from_millis(100),
            on_error: OnRedisError::FallBackToLocal,
            local: InProcessLimiter::new(),
            retry_interval: Duration::from_secs(1),
        }
    }

    /// Whether Redis is being left alone after a failure.
    #[must_use]
    pub fn is_degraded(&self) -> bool {
        self.inner.now_nanos() < self.inner.down_until.load(Ordering::Acquire)
    }
}

impl Inner {
    fn now_nanos(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn key(&self, key: &str) -> String {
        if key.len() <= MAX_KEY_LEN {
            return format!("{}{key}", self.namespace);
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("{}sha256:{hex}", self.namespace)
    }

    fn mark_down(&self) {
        let until = self
            .now_nanos()
            .saturating_add(u64::try_from(self.retry_interval.as_nanos()).unwrap_or(u64::MAX));
        self.down_until.store(until, Ordering::Release);
    }

    fn fallback(
        &self,
        key: &str,
        quota: &Quota,
        charge: Charge,
        cause: impl fmt::Display,
    ) -> Result<Decision, LimitError> {
        match self.on_error {
            OnRedisError::FallBackToLocal => {
                self.metrics.fallback();
                Ok(self.local.decide(key, quota, charge))
            }
            OnRedisError::Unavailable => Err(LimitError::new(cause.to_string())),
        }
    }

    async fn remote(
        &self,
        key: String,
        quota: Quota,
        charge: Charge,
    ) -> Result<Decision, LimitError> {
        let interval = (quota.interval_nanos() / 1_000).max(1);
        let tolerance = interval.saturating_mul(u64::from(quota.burst_size()));
        let mode: u8 = match charge {
            Charge::Acquire => 0,
            Charge::Peek => 1,
            Charge::Penalize => 2,
        };
        let mut connection = self.connection.clone();
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(self.key(&key))
            .arg(interval)
            .arg(tolerance)
            .arg(mode);
        let call = invocation.invoke_async::<(u64, u64, u64, u64)>(&mut connection);
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok((allowed, remaining, retry_us, reset_us))) => Ok(Decision::new(
                allowed == 1,
                remaining,
                Duration::from_micros(retry_us),
                Duration::from_micros(reset_us),
            )),
            Ok(Err(error)) => {
                self.metrics.error();
                self.mark_down();
                tracing::warn!(target: "authgate", backend = "redis", error = %error, "rate limiter: redis failed");
                self.fallback(&key, &quota, charge, error)
            }
            Err(_) => {
                self.metrics.timeout();
                self.mark_down();
                tracing::warn!(target: "authgate", backend = "redis", timeout_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX), "rate limiter: redis timed out");
                self.fallback(&key, &quota, charge, "redis did not answer in time")
            }
        }
    }
}

impl RateLimiter for RedisLimiter {
    fn check(&self, key: &str, quota: &Quota, charge: Charge) -> LimitCheck {
        if self.is_degraded() {
            return LimitCheck::ready(self.inner.fallback(key, quota, charge, "redis is down"));
        }
        let inner = Arc::clone(&self.inner);
        let (key, quota) = (key.to_owned(), *quota);
        LimitCheck::pending(async move { inner.remote(key, quota, charge).await })
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

impl fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection info may hold a password: not printed.
        f.debug_struct("RedisLimiter")
            .field("namespace", &self.inner.namespace)
            .field("timeout", &self.inner.timeout)
            .field("on_error", &self.inner.on_error)
            .field("degraded", &self.is_degraded())
            .finish_non_exhaustive()
    }
}

/// Configures a [`RedisLimiter`].
///
/// ```no_run
/// use authgate::ratelimit::{InProcessLimiter, OnRedisError, RedisLimiter};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let limiter = RedisLimiter::builder(redis::Client::open("redis://127.0.0.1:6379/")?)
///     .namespace("orders-api:rl:")
///     .timeout(Duration::from_millis(50))
///     .on_error(OnRedisError::Unavailable)
///     .build()?;
/// # let _ = limiter;
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct RedisLimiterBuilder {
    client: redis::Client,
    namespace: String,
    timeout: Duration,
    on_error: OnRedisError,
    local: InProcessLimiter,
    retry_interval: Duration,
}

impl RedisLimiterBuilder {
    /// The prefix of every key this limiter writes. Defaults to
    /// `authgate:rl:`; give each service (or test run) its own.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// How long a request waits for Redis before the failure mode decides.
    /// Defaults to 100 ms.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What happens while Redis does not answer. Defaults to
    /// [`OnRedisError::FallBackToLocal`].
    pub fn on_error(mut self, on_error: OnRedisError) -> Self {
        self.on_error = on_error;
        self
    }

    /// The in-process limiter that decides while Redis is away. Defaults
    /// to [`InProcessLimiter::new`].
    pub fn fallback(mut self, local: InProcessLimiter) -> Self {
        self.local = local;
        self
    }

    /// How long Redis is left alone after a failure before a request tries
    /// it again. Defaults to 1 second.
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval;
        self
    }

    /// Builds the limiter. Must run inside a Tokio runtime; connects
    /// lazily, on the first request.
    ///
    /// # Errors
    ///
    /// When the client's settings are refused by the connection manager.
    pub fn build(self) -> Result<RedisLimiter, ConfigError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout.max(Duration::from_millis(250))))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let connection =
            ConnectionManager::new_lazy_with_config(self.client, config).map_err(|_| {
                ConfigError::InvalidSetting {
                    setting: "redis client",
                    why: "the connection manager refused the client's settings",
                }
            })?;
        Ok(RedisLimiter {
            inner: Arc::new(Inner {
                connection,
                script: redis::Script::new(GCRA_SCRIPT),
                namespace: self.namespace,
                timeout: self.timeout,
                on_error: self.on_error,
                local: self.local,
                retry_interval: self.retry_interval,
                down_until: AtomicU64::new(0),
                epoch: Instant::now(),
                metrics: BackendMetrics::new("redis"),
            }),
        })
    }
}

impl fmt::Debug for RedisLimiterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimiterBuilder")
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
