//! [`InvalidationBroadcast`]: an invalidation on one instance runs on
//! every instance, through a Redis pub/sub channel.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::error::{ConfigError, StoreError};

use super::connection::RedisConnection;
use super::subscriber::{Listener, Subscription};

/// A boxed invalidation.
type Invalidation<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Something with a cache to invalidate: [`ApiKeyScheme`](crate::api_key::ApiKeyScheme),
/// [`HmacScheme`](crate::hmac::HmacScheme),
/// [`HttpSignatureScheme`](crate::hmac::HttpSignatureScheme) (one key id at
/// a time), [`JwtScheme`](crate::jwt::JwtScheme) (its token cache,
/// wholesale), or a closure taking the id.
///
/// ```
/// use authgate::redis::InvalidationTarget;
///
/// fn register(_: impl InvalidationTarget) {}
/// register(|id: &str| println!("drop {id} from my own cache"));
/// ```
pub trait InvalidationTarget: Send + Sync + 'static {
    /// Drops what is cached for `id`, including every thread's copy.
    fn invalidate<'a>(&'a self, id: &'a str) -> Invalidation<'a>;

    /// Drops everything cached, when it cannot know what it missed (after
    /// the broadcast lost its connection). Defaults to nothing: the caches'
    /// TTLs bound what a missed message leaves stale.
    fn invalidate_all(&self) -> Invalidation<'_> {
        Box::pin(async {})
    }
}

impl<F: Fn(&str) + Send + Sync + 'static> InvalidationTarget for F {
    fn invalidate<'a>(&'a self, id: &'a str) -> Invalidation<'a> {
        self(id);
        Box::pin(async {})
    }
}

#[cfg(feature = "api-key")]
impl<S: crate::api_key::KeyStore> InvalidationTarget for crate::api_key::ApiKeyScheme<S> {
    fn invalidate<'a>(&'a self, id: &'a str) -> Invalidation<'a> {
        Box::pin(crate::api_key::ApiKeyScheme::invalidate(self, id))
    }
}

#[cfg(feature = "hmac")]
impl<S: crate::hmac::SecretStore> InvalidationTarget for crate::hmac::HmacScheme<S> {
    fn invalidate<'a>(&'a self, id: &'a str) -> Invalidation<'a> {
        Box::pin(crate::hmac::HmacScheme::invalidate(self, id))
    }
}

#[cfg(feature = "hmac")]
impl<S: crate::hmac::SecretStore> InvalidationTarget for crate::hmac::HttpSignatureScheme<S> {
    fn invalidate<'a>(&'a self, id: &'a str) -> Invalidation<'a> {
        Box::pin(crate::hmac::HttpSignatureScheme::invalidate(self, id))
    }
}

#[cfg(feature = "jwt")]
impl InvalidationTarget for crate::jwt::JwtScheme {
    /// Clears the whole token cache: revocation and key rotation are what
    /// make a cached token stale, and neither is per id.
    fn invalidate<'a>(&'a self, _: &'a str) -> Invalidation<'a> {
        self.clear_token_cache();
        Box::pin(async {})
    }

    fn invalidate_all(&self) -> Invalidation<'_> {
        self.clear_token_cache();
        Box::pin(async {})
    }
}

/// Runs `invalidate` on every instance of a fleet: each instance registers
/// its caches under names, and [`invalidate`](Self::invalidate) on any of
/// them reaches the target of that name everywhere, within milliseconds on
/// a local network (`tests/fleet.rs` holds it under one second).
///
/// The calling instance invalidates first, then publishes on the channel
/// `<prefix>:invalidate`; every subscribed instance (itself included, which
/// is harmless) runs the target's invalidation, per-thread hot tables
/// included. When the subscription is lost, messages sent meanwhile are
/// lost too: on resubscribing every target's
/// [`invalidate_all`](InvalidationTarget::invalidate_all) runs.
///
/// A key store that revokes keys elsewhere (a database) calls
/// `invalidate("api-keys", id)` after its write commits.
///
/// # Example
///
/// ```no_run
/// use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
/// use authgate::redis::{InvalidationBroadcast, RedisConfig};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let redis = RedisConfig::new("redis://127.0.0.1:6379").connect()?;
/// let keys = ApiKeyScheme::new(InMemoryKeyStore::new(), "sk_live")?;
/// let broadcast = InvalidationBroadcast::new(redis)?;
/// broadcast.register("api-keys", keys.clone());
///
/// // On any instance, after revoking key `k-1` in the shared store:
/// broadcast.invalidate("api-keys", "k-1").await?;
/// # Ok(())
/// # }
/// ```
pub struct InvalidationBroadcast {
    shared: Arc<Shared>,
    subscription: Arc<Subscription>,
}

impl Clone for InvalidationBroadcast {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            subscription: Arc::clone(&self.subscription),
        }
    }
}

struct Shared {
    redis: RedisConnection,
    channel: String,
    targets: RwLock<HashMap<String, Arc<dyn InvalidationTarget>>>,
}

/// Messages: `<target>\n<id>` for one id, `<target>` alone for all.
fn encode(target: &str, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("{target}\n{id}"),
        None => target.to_owned(),
    }
}

impl InvalidationBroadcast {
    /// Subscribes to `<prefix>:invalidate` on `redis`, in a task of the
    /// current Tokio runtime; the subscription ends when the last clone is
    /// dropped.
    ///
    /// ```
    /// # let runtime = tokio::runtime::Runtime::new().unwrap();
    /// # let redis = {
    /// #     let _inside = runtime.enter();
    /// #     authgate::redis::RedisConfig::new("redis://127.0.0.1:6379").connect().unwrap()
    /// # };
    /// // Outside a Tokio runtime: an error, not a panic.
    /// assert!(authgate::redis::InvalidationBroadcast::new(redis).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidSetting`] when called outside a Tokio runtime.
    pub fn new(redis: RedisConnection) -> Result<Self, ConfigError> {
        let channel = redis.key("invalidate");
        let shared = Arc::new(Shared {
            redis: redis.clone(),
            channel: channel.clone(),
            targets: RwLock::new(HashMap::new()),
        });
        let listener: Arc<dyn Listener> = Arc::new(Relay(Arc::clone(&shared)));
        let subscription = Arc::new(Subscription::spawn(
            redis,
            channel,
            listener,
            "InvalidationBroadcast::new",
        )?);
        Ok(Self {
            shared,
            subscription,
        })
    }

    /// Registers `target` under `name` on this instance (replacing any
    /// earlier one). Every instance registers the same names.
    pub fn register(&self, name: impl Into<String>, target: impl InvalidationTarget) {
        self.shared
            .targets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.into(), Arc::new(target));
    }

    /// Waits until subscribed, for at most `limit`: `true` when it is.
    /// Invalidations sent by other instances before that are not seen.
    ///
    /// ```no_run
    /// # #[tokio::main]
    /// # async fn main() {
    /// # let redis = authgate::redis::RedisConfig::new("redis://127.0.0.1:6379").connect().unwrap();
    /// let broadcast = authgate::redis::InvalidationBroadcast::new(redis).unwrap();
    /// assert!(broadcast.ready(std::time::Duration::from_secs(2)).await);
    /// # }
    /// ```
    pub async fn ready(&self, limit: Duration) -> bool {
        self.subscription.ready(limit).await
    }

    /// Invalidates `id` in the target registered as `name`, here at once
    /// and then on every instance.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached: this instance is invalidated anyway,
    /// the others only when their caches' TTLs run out.
    pub async fn invalidate(&self, name: &str, id: &str) -> Result<(), StoreError> {
        if let Some(target) = self.shared.target(name) {
            target.invalidate(id).await;
        }
        self.publish(encode(name, Some(id))).await
    }

    /// Invalidates everything in the target registered as `name`, here and
    /// on every instance (for a JWT scheme: its token cache).
    ///
    /// # Errors
    ///
    /// As [`invalidate`](Self::invalidate).
    pub async fn invalidate_all(&self, name: &str) -> Result<(), StoreError> {
        if let Some(target) = self.shared.target(name) {
            target.invalidate_all().await;
        }
        self.publish(encode(name, None)).await
    }

    async fn publish(&self, message: String) -> Result<(), StoreError> {
        let mut publish = ::redis::cmd("PUBLISH");
        publish.arg(&self.shared.channel).arg(message);
        self.shared
            .redis
            .query::<i64>(&publish)
            .await
            .map(|_| ())
            .map_err(StoreError::new)
    }
}

impl Shared {
    fn target(&self, name: &str) -> Option<Arc<dyn InvalidationTarget>> {
        self.targets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }
}

/// The subscription's listener.
struct Relay(Arc<Shared>);

impl Listener for Relay {
    fn connected(&self) -> Invalidation<'_> {
        Box::pin(async {
            let targets: Vec<_> = self
                .0
                .targets
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .cloned()
                .collect();
            for target in targets {
                target.invalidate_all().await;
            }
        })
    }

    fn message<'a>(&'a self, payload: &'a [u8]) -> Invalidation<'a> {
        Box::pin(async move {
            let Ok(message) = std::str::from_utf8(payload) else {
                return;
            };
            let (name, id) = match message.split_once('\n') {
                Some((name, id)) => (name, Some(id)),
                None => (message, None),
            };
            if let Some(target) = self.0.target(name) {
                match id {
                    Some(id) => target.invalidate(id).await,
                    None => target.invalidate_all().await,
                }
            }
        })
    }
}

impl fmt::Debug for InvalidationBroadcast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let targets: Vec<String> = self
            .shared
            .targets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        f.debug_struct("InvalidationBroadcast")
            .field("channel", &self.shared.channel)
            .field("targets", &targets)
            .finish_non_exhaustive()
    }
}
