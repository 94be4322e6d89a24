//! [`RedisConfig`] and [`RedisConnection`]: one reconnecting connection to
//! the Redis a fleet shares, with a deadline on every command.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Cmd, FromRedisValue, RedisError};

use crate::error::ConfigError;
use crate::telemetry::{Failure, StoreMetrics};
use crate::trace::TARGET;

/// How to reach Redis: its URL, the key prefix this service's entries live
/// under, and how long a command may take.
///
/// The URL may hold a password (`redis://:secret@host:6379/0`): `Debug`
/// never prints it.
///
/// ```
/// use authgate::redis::RedisConfig;
/// use std::time::Duration;
///
/// let config = RedisConfig::new("redis://:hunter2@127.0.0.1:6379/0")
///     .prefix("orders-api")
///     .timeout(Duration::from_millis(100));
/// assert!(!format!("{config:?}").contains("hunter2"));
/// ```
#[must_use]
pub struct RedisConfig {
    url: crate::SecretString,
    prefix: String,
    timeout: Duration,
}

impl RedisConfig {
    /// Redis at `url` (`redis://[:password@]host[:port][/db]`, or
    /// `redis+unix:///path`).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: crate::SecretString::new(url.into()),
            prefix: "authgate".to_owned(),
            timeout: Duration::from_millis(250),
        }
    }

    /// The prefix of every key and channel: give each service (and each
    /// test run) its own. Defaults to `authgate`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a command (or a connection attempt) may take before it
    /// counts as a failure: a replay check then answers 503. Defaults to
    /// 250 milliseconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks the settings and builds the connection. No I/O: it connects
    /// on first use, and reconnects by itself after a failure.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let redis = authgate::redis::RedisConfig::new("redis://127.0.0.1:6379").connect().unwrap();
    /// # let _ = redis;
    /// assert!(authgate::redis::RedisConfig::new("http://example.com").connect().is_err());
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// When the URL is not a Redis URL, the prefix is empty or holds a
    /// space, the timeout is zero, or it is called outside a Tokio runtime.
    pub fn connect(self) -> Result<RedisConnection, ConfigError> {
        if self.timeout.is_zero() {
            return Err(ConfigError::InvalidSetting {
                setting: "redis timeout",
                why: "must be greater than zero",
            });
        }
        if self.prefix.is_empty() || self.prefix.contains(char::is_whitespace) {
            return Err(ConfigError::InvalidSetting {
                setting: "redis prefix",
                why: "must be non-empty, without spaces",
            });
        }
        let invalid_url = ConfigError::InvalidSetting {
            setting: "redis url",
            why: "must be a redis:// or redis+unix:// URL",
        };
        let client = Client::open(self.url.expose()).map_err(|_| invalid_url)?;
        // The connection manager's task needs a runtime to live in.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ConfigError::InvalidSetting {
                setting: "RedisConfig::connect",
                why: "starts a task of the current Tokio runtime: call it inside one (in `#[tokio::main]`, or within `Runtime::enter`)",
            });
        }
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(self.timeout);
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
            .map_err(|_| ConfigError::InvalidSetting {
                setting: "redis url",
                why: "could not be used to set up a connection",
            })?;
        Ok(RedisConnection {
            inner: Arc::new(Inner {
                client,
                manager,
                address: redacted(self.url.expose()),
                prefix: self.prefix,
                timeout: self.timeout,
                metrics: StoreMetrics::new("redis"),
                healthy: AtomicBool::new(true),
            }),
        })
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redacted(self.url.expose()))
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A reconnecting connection to Redis, shared by every part built on it:
/// cheap to clone.
///
/// ```no_run
/// use authgate::redis::{RedisConfig, RedisReplayStore};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), authgate::ConfigError> {
/// let redis = RedisConfig::new("redis://127.0.0.1:6379").connect()?;
/// let replay = RedisReplayStore::new(redis.clone());
/// # let _ = replay;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisConnection {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    manager: ConnectionManager,
    /// The URL without its password, for logs.
    address: String,
    prefix: String,
    timeout: Duration,
    metrics: StoreMetrics,
    /// Whether the last command succeeded: a warning is logged when Redis
    /// stops answering, one line more when it is back.
    healthy: AtomicBool,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis: {0}")]
    Redis(#[source] RedisError),
}

impl RedisConnection {
    /// The key prefix, as configured.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let redis = authgate::redis::RedisConfig::new("redis://127.0.0.1:6379").prefix("api").connect().unwrap();
    /// assert_eq!(redis.prefix(), "api");
    /// # }
    /// ```
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Whether Redis answers a `PING` within the timeout: for readiness
    /// probes and for examples that explain how to start one.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let redis = authgate::redis::RedisConfig::new("redis://127.0.0.1:6379").connect().unwrap();
    /// if !redis.ping().await {
    ///     eprintln!("start one with: redis-server --port 6379");
    /// }
    /// # }
    /// ```
    pub async fn ping(&self) -> bool {
        self.query::<String>(&::redis::cmd("PING")).await.is_ok()
    }

    pub(crate) fn client(&self) -> &Client {
        &self.inner.client
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Runs one command with the deadline; failures are counted and the
    /// first of a run logged.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, CommandError> {
        let mut manager = self.inner.manager.clone();
        let result =
            match tokio::time::timeout(self.inner.timeout, cmd.query_async(&mut manager)).await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(e)) if e.is_timeout() => Err(CommandError::Timeout(self.inner.timeout)),
                Ok(Err(e)) => Err(CommandError::Redis(e)),
                Err(_) => Err(CommandError::Timeout(self.inner.timeout)),
            };
        match &result {
            Ok(_) => self.recovered(),
            Err(e) => self.failed(e),
        }
        result
    }

    pub(crate) fn recovered(&self) {
        if !self.inner.healthy.swap(true, Ordering::Relaxed) {
            tracing::info!(target: TARGET, redis = %self.inner.address, "redis answers again");
        }
    }

    pub(crate) fn failed(&self, error: &CommandError) {
        self.inner.metrics.failed(match error {
            CommandError::Timeout(_) => Failure::Timeout,
            CommandError::Redis(_) => Failure::Error,
        });
        if self.inner.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                target: TARGET,
                redis = %self.inner.address,
                error = %error,
                "redis is unreachable: replay checks answer 503 until it is back"
            );
        }
    }

    /// `prefix:part`.
    pub(crate) fn key(&self, part: &str) -> String {
        format!("{}:{part}", self.inner.prefix)
    }
}

impl fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConnection")
            .field("url", &self.inner.address)
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// `url` with any user and password replaced.
fn redacted(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(at)) if at > scheme.len() => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://<redacted>@{host}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redacted("redis://:pw@host:6379/0"),
            "redis://<redacted>@host:6379/0"
        );
        assert_eq!(
            redacted("redis://user:p@ss@host"),
            "redis://<redacted>@host"
        );
        assert_eq!(redacted("redis://host:6379"), "redis://host:6379");
    }
}
