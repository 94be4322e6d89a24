//! [`RedisRevocation`]: a JWT revocation list in Redis, mirrored in every
//! instance's memory and kept fresh by pub/sub.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, StoreError};
use crate::jwt::Revocation;
use crate::trace::TARGET;

use super::connection::RedisConnection;
use super::subscriber::{Listener, Subscription};

/// How many entries a mirror holds unless told otherwise.
const DEFAULT_CAPACITY: usize = 1_000_000;

/// Keys scanned per `SCAN` round trip when the mirror reloads.
const SCAN_BATCH: usize = 1_000;

/// A [`Revocation`] list shared by a fleet: revoke on one instance, and
/// every instance refuses the token within milliseconds (`tests/fleet.rs`
/// holds it under one second and prints the time it measured).
///
/// Each revocation is a Redis key `<prefix>:revoked:<digest>` expiring when
/// it no longer matters (a `jti` when its token expires, a subject cutoff
/// after the longest token lifetime you give it), and a message on the
/// channel `<prefix>:revocations`. Every instance answers
/// [`Revocation`]'s questions from its own mirror of the list (a hash map
/// read, as the trait requires), filled on start and after every
/// reconnection by a `SCAN` of the keys, and kept fresh by the channel.
///
/// While the subscription is down, revocations made elsewhere reach this
/// instance when it resubscribes (it reloads the list). The mirror holds
/// at most [`capacity`](Self::with_capacity) live entries: beyond that a
/// revocation is refused at [`revoke_jti`](Self::revoke_jti) time, and
/// logged as an error when it arrives from elsewhere.
///
/// # Example
///
/// ```no_run
/// use authgate::jwt::{Issuer, JwtScheme, Revocation};
/// use authgate::redis::{RedisConfig, RedisRevocation};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let redis = RedisConfig::new("redis://127.0.0.1:6379").connect()?;
/// let revocation = RedisRevocation::new(redis)?;
/// # let issuer: Issuer = todo!();
/// let scheme = JwtScheme::builder().issuer(issuer).revocation(revocation.clone()).build()?;
///
/// // On any instance: a token, until it expires at `exp`.
/// # let exp = 1_700_000_000;
/// revocation.revoke_jti("https://idp.example.com", "token-id", exp).await?;
/// # let _ = scheme;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisRevocation {
    shared: Arc<Shared>,
    subscription: Arc<Subscription>,
}

struct Shared {
    redis: RedisConnection,
    channel: String,
    capacity: usize,
    mirror: RwLock<Mirror>,
}

#[derive(Default)]
struct Mirror {
    /// `(issuer, jti)` → when the entry expires (Unix seconds).
    jtis: HashMap<(String, String), u64>,
    /// `(issuer, subject)` → (cutoff, when the entry expires).
    subjects: HashMap<(String, String), (u64, u64)>,
}

/// One revocation, as stored and as sent on the channel.
#[derive(Serialize, Deserialize)]
struct Entry {
    /// `jti` or `sub`.
    kind: String,
    iss: String,
    id: String,
    /// The cutoff, for a subject.
    #[serde(default)]
    before: u64,
    /// When the entry stops mattering (Unix seconds).
    until: u64,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl RedisRevocation {
    /// A revocation list on `redis`, mirrored here: subscribes and loads
    /// the list in a task of the current Tokio runtime. Holds at most
    /// 1 000 000 entries.
    ///
    /// ```
    /// # let runtime = tokio::runtime::Runtime::new().unwrap();
    /// # let redis = {
    /// #     let _inside = runtime.enter();
    /// #     authgate::redis::RedisConfig::new("redis://127.0.0.1:6379").connect().unwrap()
    /// # };
    /// // Outside a Tokio runtime: an error, not a panic.
    /// assert!(authgate::redis::RedisRevocation::new(redis).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidSetting`] when called outside a Tokio runtime.
    pub fn new(redis: RedisConnection) -> Result<Self, ConfigError> {
        Self::with_capacity(redis, DEFAULT_CAPACITY)
    }

    /// As [`new`](Self::new), holding at most `capacity` live entries.
    ///
    /// ```no_run
    /// # #[tokio::main]
    /// # async fn main() {
    /// let redis = authgate::redis::RedisConfig::new("redis://127.0.0.1:6379").connect().unwrap();
    /// let revocation = authgate::redis::RedisRevocation::with_capacity(redis, 10_000).unwrap();
    /// # let _ = revocation;
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidSetting`] when called outside a Tokio runtime.
    pub fn with_capacity(redis: RedisConnection, capacity: usize) -> Result<Self, ConfigError> {
        let channel = redis.key("revocations");
        let shared = Arc::new(Shared {
            redis: redis.clone(),
            channel: channel.clone(),
            capacity,
            mirror: RwLock::new(Mirror::default()),
        });
        let listener: Arc<dyn Listener> = Arc::new(Relay(Arc::clone(&shared)));
        let subscription = Arc::new(Subscription::spawn(
            redis,
            channel,
            listener,
            "RedisRevocation::new",
        )?);
        Ok(Self {
            shared,
            subscription,
        })
    }

    /// Waits until the list is loaded and subscribed, for at most `limit`:
    /// `true` when it is.
    ///
    /// ```no_run
    /// # #[tokio::main]
    /// # async fn main() {
    /// # let redis = authgate::redis::RedisConfig::new("redis://127.0.0.1:6379").connect().unwrap();
    /// let revocation = authgate::redis::RedisRevocation::new(redis).unwrap();
    /// assert!(revocation.ready(std::time::Duration::from_secs(2)).await);
    /// # }
    /// ```
    pub async fn ready(&self, limit: Duration) -> bool {
        self.subscription.ready(limit).await
    }

    /// Revokes the token `jti` of `issuer` on every instance, until
    /// `expires_at` (its `exp`, Unix seconds), when it would be refused
    /// anyway.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached, or the mirror is full: the token is
    /// then revoked on this instance only (or not at all when full).
    pub async fn revoke_jti(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        self.revoke(Entry {
            kind: "jti".into(),
            iss: issuer.into(),
            id: jti.into(),
            before: 0,
            until: expires_at,
        })
        .await
    }

    /// Revokes every token of `subject` issued before `before_unix`, on
    /// every instance, for `keep_for` (the longest lifetime of a token of
    /// `issuer`: after that, every token issued before the cutoff has
    /// expired anyway).
    ///
    /// # Errors
    ///
    /// As [`revoke_jti`](Self::revoke_jti).
    pub async fn revoke_subject(
        &self,
        issuer: &str,
        subject: &str,
        before_unix: u64,
        keep_for: Duration,
    ) -> Result<(), StoreError> {
        self.revoke(Entry {
            kind: "sub".into(),
            iss: issuer.into(),
            id: subject.into(),
            before: before_unix,
            until: unix_now().saturating_add(keep_for.as_secs()),
        })
        .await
    }

    async fn revoke(&self, entry: Entry) -> Result<(), StoreError> {
        let now = unix_now();
        if entry.until <= now {
            return Ok(());
        }
        if !self.shared.apply(&entry, now) {
            return Err(StoreError::new("the revocation mirror is full"));
        }
        let json = serde_json::to_string(&entry).map_err(StoreError::new)?;
        let mut set = ::redis::cmd("SET");
        set.arg(self.shared.key(&entry))
            .arg(&json)
            .arg("EXAT")
            .arg(entry.until);
        self.shared
            .redis
            .query::<()>(&set)
            .await
            .map_err(StoreError::new)?;
        let mut publish = ::redis::cmd("PUBLISH");
        publish.arg(&self.shared.channel).arg(json);
        self.shared
            .redis
            .query::<i64>(&publish)
            .await
            .map(|_| ())
            .map_err(StoreError::new)
    }

    /// The number of live entries in this instance's mirror.
    ///
    /// ```no_run
    /// # #[tokio::main]
    /// # async fn main() {
    /// # let redis = authgate::redis::RedisConfig::new("redis://127.0.0.1:6379").connect().unwrap();
    /// let revocation = authgate::redis::RedisRevocation::new(redis).unwrap();
    /// println!("{} revocations mirrored", revocation.len());
    /// # }
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        let mirror = self.shared.read();
        mirror.jtis.len() + mirror.subjects.len()
    }

    /// Whether the mirror holds no entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Mirror> {
        self.mirror.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn key(&self, entry: &Entry) -> String {
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [&entry.kind, &entry.iss, &entry.id] {
            digest.update(&(part.len() as u64).to_be_bytes());
            digest.update(part.as_bytes());
        }
        let mut hex = String::with_capacity(64);
        for byte in digest.finish().as_ref() {
            hex.push_str(&format!("{byte:02x}"));
        }
        self.redis.key(&format!("revoked:{hex}"))
    }

    /// Records `entry` in the mirror: `false` when it is full of live
    /// entries.
    fn apply(&self, entry: &Entry, now: u64) -> bool {
        let mut mirror = self.mirror.write().unwrap_or_else(PoisonError::into_inner);
        let key = (entry.iss.clone(), entry.id.clone());
        let known = match entry.kind.as_str() {
            "jti" => mirror.jtis.contains_key(&key),
            "sub" => mirror.subjects.contains_key(&key),
            _ => return true,
        };
        if !known && mirror.jtis.len() + mirror.subjects.len() >= self.capacity {
            mirror.jtis.retain(|_, until| *until > now);
            mirror.subjects.retain(|_, (_, until)| *until > now);
            if mirror.jtis.len() + mirror.subjects.len() >= self.capacity {
                return false;
            }
        }
        match entry.kind.as_str() {
            "jti" => {
                let until = mirror.jtis.entry(key).or_insert(0);
                *until = (*until).max(entry.until);
            }
            _ => {
                let slot = mirror.subjects.entry(key).or_insert((0, 0));
                *slot = (slot.0.max(entry.before), slot.1.max(entry.until));
            }
        }
        true
    }

    fn receive(&self, json: &[u8]) {
        let Ok(entry) = serde_json::from_slice::<Entry>(json) else {
            return;
        };
        if !self.apply(&entry, unix_now()) {
            tracing::error!(
                target: TARGET,
                capacity = self.capacity,
                "the revocation mirror is full: a revocation was not applied on this instance"
            );
        }
    }

    /// Reloads every entry from Redis into a fresh mirror.
    async fn reload(&self) {
        let pattern = self.redis.key("revoked:*");
        let mut cursor: u64 = 0;
        let mut fresh = Vec::new();
        loop {
            let mut scan = ::redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_BATCH);
            let Ok((next, keys)) = self.redis.query::<(u64, Vec<String>)>(&scan).await else {
                // Keep what the mirror holds; the next reconnection retries.
                return;
            };
            if !keys.is_empty() {
                let mut get = ::redis::cmd("MGET");
                get.arg(&keys);
                let Ok(values) = self.redis.query::<Vec<Option<Vec<u8>>>>(&get).await else {
                    return;
                };
                fresh.extend(values.into_iter().flatten());
            }
            if next == 0 || fresh.len() > self.capacity {
                break;
            }
            cursor = next;
        }
        // Merged, never replaced: a revocation is never taken back, and
        // entries received while scanning may be newer than the scan.
        for json in fresh {
            self.receive(&json);
        }
    }
}

impl Revocation for RedisRevocation {
    fn is_jti_revoked(&self, issuer: &str, jti: &str) -> bool {
        let now = unix_now();
        self.shared
            .read()
            .jtis
            .get(&(issuer.to_owned(), jti.to_owned()))
            .is_some_and(|until| *until > now)
    }

    fn revoked_before(&self, issuer: &str, subject: &str) -> Option<u64> {
        let now = unix_now();
        self.shared
            .read()
            .subjects
            .get(&(issuer.to_owned(), subject.to_owned()))
            .filter(|(_, until)| *until > now)
            .map(|(before, _)| *before)
    }
}

/// The subscription's listener.
struct Relay(Arc<Shared>);

impl Listener for Relay {
    fn connected(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.0.reload())
    }

    fn message<'a>(&'a self, payload: &'a [u8]) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        self.0.receive(payload);
        Box::pin(async {})
    }
}

impl fmt::Debug for RedisRevocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocation")
            .field("channel", &self.shared.channel)
            .field("entries", &self.len())
            .field("capacity", &self.shared.capacity)
            .finish_non_exhaustive()
    }
}
