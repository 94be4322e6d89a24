//! [`WebhookSecrets`]: the shared secrets a webhook preset accepts, several
//! at once while one is being rotated out.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

/// One HMAC key: redacted in `Debug`, wiped on drop.
///
/// ```
/// use authgate::hmac::HmacKey;
///
/// let key = HmacKey::new("whsec_abc");
/// assert_eq!(format!("{key:?}"), "HmacKey(<redacted>)");
/// ```
#[derive(Clone)]
pub struct HmacKey {
    bytes: Zeroizing<Vec<u8>>,
    /// The key's HMAC state, derived once: deriving it costs two SHA-256
    /// blocks, which is a tenth of verifying a 1 KiB request. (The state is
    /// as secret as the key; ring does not wipe it, just as it does not wipe
    /// one made on the stack for each request.)
    prepared: ring::hmac::Key,
}

impl HmacKey {
    /// A key from its raw bytes (or the text of a provider's secret).
    #[must_use]
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self::from_bytes(Zeroizing::new(secret.as_ref().to_vec()))
    }

    fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> Self {
        let prepared = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes);
        Self { bytes, prepared }
    }

    /// A key given in standard base64, as RFC 9421 keys usually are.
    ///
    /// ```
    /// let key = authgate::hmac::HmacKey::from_base64("c2VjcmV0").unwrap();
    /// # let _ = key;
    /// ```
    ///
    /// # Errors
    ///
    /// When `encoded` is not standard, padded base64.
    pub fn from_base64(encoded: &str) -> Result<Self, crate::ConfigError> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map(|bytes| Self::from_bytes(Zeroizing::new(bytes)))
            .map_err(|_| crate::ConfigError::InvalidSetting {
                setting: "hmac key",
                why: "not standard base64",
            })
    }

    /// Whether the key has no bytes: such a key never verifies anything, so
    /// that an unset secret (`env::var(..).unwrap_or_default()`) fails
    /// closed instead of letting anyone sign with the empty key.
    ///
    /// ```
    /// assert!(authgate::hmac::HmacKey::new("").is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(crate) fn ring_key(&self) -> &ring::hmac::Key {
        &self.prepared
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey(<redacted>)")
    }
}

/// A key and the end of its grace period, if it is being rotated out.
#[derive(Clone, Debug)]
pub(crate) struct RotatingKey {
    pub(crate) key: HmacKey,
    pub(crate) retires_at: Option<SystemTime>,
}

/// Which of several keys produced a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyMatch {
    /// A key still in service.
    Current,
    /// A key whose grace period is over: the request is answered `rotated`.
    Retired,
    /// No key.
    None,
}

/// Checks `check` against every key, without stopping at the first match,
/// so timing does not tell which key (or whether a retired one) matched.
pub(crate) fn match_keys(
    keys: &[RotatingKey],
    now: SystemTime,
    mut check: impl FnMut(&HmacKey) -> bool,
) -> KeyMatch {
    let mut current = false;
    let mut retired = false;
    for key in keys {
        // An empty key never matches: see `HmacKey::is_empty`.
        let matched = check(&key.key) && !key.key.is_empty();
        if key.retires_at.is_some_and(|t| t <= now) {
            retired |= matched;
        } else {
            current |= matched;
        }
    }
    if current {
        KeyMatch::Current
    } else if retired {
        KeyMatch::Retired
    } else {
        KeyMatch::None
    }
}

/// The secrets a webhook preset ([`GithubWebhook`](super::GithubWebhook),
/// [`StripeWebhook`](super::StripeWebhook), [`SlackWebhook`](super::SlackWebhook))
/// accepts. Several may be valid at once: [`rotate`](Self::rotate) adds the
/// new secret and keeps the old ones until the end of a grace period.
///
/// Clones share the same secrets, so a rotation through one clone is seen
/// by the scheme at once.
///
/// # Example
///
/// ```
/// use authgate::hmac::WebhookSecrets;
/// use std::time::{Duration, SystemTime};
///
/// let secrets = WebhookSecrets::single("whsec_old");
/// // The provider now signs with the new secret; deliveries already in
/// // flight were signed with the old one.
/// secrets.rotate("whsec_new", Duration::from_secs(3600), SystemTime::now());
/// assert_eq!(secrets.len(), 2);
/// ```
#[derive(Clone, Default)]
pub struct WebhookSecrets {
    keys: Arc<RwLock<Vec<RotatingKey>>>,
}

impl WebhookSecrets {
    /// No secrets yet: every signature fails until one is added.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Exactly one secret.
    #[must_use]
    pub fn single(secret: impl AsRef<[u8]>) -> Self {
        let secrets = Self::new();
        secrets.add(secret);
        secrets
    }

    /// Adds a secret that stays valid until rotated out.
    pub fn add(&self, secret: impl AsRef<[u8]>) {
        self.write().push(RotatingKey {
            key: HmacKey::new(secret),
            retires_at: None,
        });
    }

    /// Adds `secret`; every secret already there keeps working until
    /// `now + grace`, then stops (and is dropped at the next rotation).
    pub fn rotate(&self, secret: impl AsRef<[u8]>, grace: Duration, now: SystemTime) {
        let deadline = now + grace;
        let mut keys = self.write();
        keys.retain(|k| k.retires_at.is_none_or(|t| t > now));
        for key in keys.iter_mut() {
            key.retires_at = Some(key.retires_at.map_or(deadline, |t| t.min(deadline)));
        }
        keys.push(RotatingKey {
            key: HmacKey::new(secret),
            retires_at: None,
        });
    }

    /// The number of secrets held, retired ones included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no secret is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    pub(crate) fn snapshot(&self) -> Vec<RotatingKey> {
        self.read().clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<RotatingKey>> {
        // A panic while holding the lock cannot leave a Vec of whole keys
        // half-written, so a poisoned lock is still usable.
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<RotatingKey>> {
        self.keys.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSecrets")
            .field("keys", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_old_secrets_for_the_grace_period() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let secrets = WebhookSecrets::single("old");
        secrets.rotate("new", Duration::from_secs(60), now);
        let keys = secrets.snapshot();
        let is = |k: &HmacKey, s: &[u8]| *k.bytes == s;
        assert_eq!(match_keys(&keys, now, |k| is(k, b"old")), KeyMatch::Current);
        let later = now + Duration::from_secs(60);
        assert_eq!(
            match_keys(&keys, later, |k| is(k, b"old")),
            KeyMatch::Retired
        );
        assert_eq!(
            match_keys(&keys, later, |k| is(k, b"new")),
            KeyMatch::Current
        );
        assert_eq!(match_keys(&keys, later, |k| is(k, b"x")), KeyMatch::None);
        let empty = [RotatingKey {
            key: HmacKey::new(""),
            retires_at: None,
        }];
        assert_eq!(match_keys(&empty, now, |_| true), KeyMatch::None);
        // The next rotation drops the retired secret.
        secrets.rotate("newer", Duration::from_secs(60), later);
        assert_eq!(secrets.len(), 2);
    }
}
