//! Replay protection: the [`ReplayStore`] every replay check goes through.
//!
//! A scheme whose credentials carry a nonce (the native `HMAC-SHA256`
//! scheme, RFC 9421 signatures with a `nonce`, the webhook presets with a
//! replay store) records each nonce once its signature verified. The first
//! request with a nonce is admitted; a second one with the same nonce, within
//! the time the scheme asks the store to remember it, is refused as
//! `replayed`.
//!
//! Two stores ship with the crate:
//!
//! - [`ReplayCache`], in process, the default: bounded, fail-closed when
//!   full, and safe against a wall clock stepped back (see
//!   [`ReplayCache::admit_signed`]). Each instance of a service has its own:
//!   a request replayed to another instance is not recognised.
//! - `RedisReplayStore` (feature `redis`): one `SET key NX PX ttl` per check
//!   on a Redis shared by every instance, so a replay to any of them is
//!   refused; Redis unreachable or slow is a 503, never an admission.
//!
//! Both answer through [`ReplayCheck`], ready at once for the in-process
//! store (no allocation on the request path) or pending for a remote one.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::AuthError;

#[path = "hmac/replay.rs"]
mod cache;
#[path = "hmac/fingerprint_set.rs"]
mod fingerprint_set;
#[path = "hmac/siphash.rs"]
mod siphash;

pub use cache::ReplayCache;

/// One nonce to record: which scheme and key id it belongs to (its
/// namespace), its value, and how long it must be remembered.
///
/// ```
/// use authgate::replay::Nonce;
/// use std::time::Duration;
///
/// let nonce = Nonce::new("hmac", "partner-1", "n-1", Duration::from_secs(601)).signed_at(1_700_000_000);
/// assert_eq!(nonce.scheme(), "hmac");
/// assert_eq!(nonce.key_id(), "partner-1");
/// assert_eq!(nonce.value(), "n-1");
/// assert_eq!(nonce.ttl(), Duration::from_secs(601));
/// assert_eq!(nonce.signed_at_secs(), Some(1_700_000_000));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Nonce<'a> {
    scheme: &'static str,
    key_id: &'a str,
    value: &'a str,
    ttl: Duration,
    signed_at: Option<u64>,
}

impl<'a> Nonce<'a> {
    /// The nonce `value` presented with `key_id` to `scheme`, to be
    /// remembered for `ttl`: as long as the credential could still be
    /// accepted.
    #[must_use]
    pub fn new(scheme: &'static str, key_id: &'a str, value: &'a str, ttl: Duration) -> Self {
        Self {
            scheme,
            key_id,
            value,
            ttl,
            signed_at: None,
        }
    }

    /// The signed timestamp of the request (Unix seconds), when the scheme
    /// has one: the in-process store keeps a floor against a wall clock
    /// stepped back with it.
    #[must_use]
    pub fn signed_at(mut self, unix_secs: u64) -> Self {
        self.signed_at = Some(unix_secs);
        self
    }

    /// The scheme the nonce was presented to, e.g. `"hmac"`.
    #[must_use]
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// The key id (or, for webhooks, the endpoint's subject) it was
    /// presented with.
    #[must_use]
    pub fn key_id(&self) -> &'a str {
        self.key_id
    }

    /// The nonce itself.
    #[must_use]
    pub fn value(&self) -> &'a str {
        self.value
    }

    /// How long the nonce must be remembered.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The signed timestamp, if any.
    #[must_use]
    pub fn signed_at_secs(&self) -> Option<u64> {
        self.signed_at
    }
}

/// Where the nonces of accepted requests are recorded.
///
/// `admit_nonce` records the nonce and answers `Ok` the first time; an error of
/// kind [`Replayed`](crate::ErrorKind::Replayed) (401) for a nonce already
/// recorded, [`Unavailable`](crate::ErrorKind::Unavailable) (503) when the
/// store cannot tell: a store must fail closed, never admit a nonce whose
/// status it does not know. Of two concurrent identical nonces, exactly one
/// is admitted.
///
/// # Example
///
/// ```
/// use authgate::replay::{Nonce, ReplayCache, ReplayStore};
/// use authgate::ErrorKind;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = ReplayCache::new(10_000, Duration::from_secs(601));
/// let nonce = Nonce::new("hmac", "partner-1", "n-1", Duration::from_secs(601));
/// assert!(store.admit_nonce(&nonce).await.is_ok());
/// assert_eq!(store.admit_nonce(&nonce).await.unwrap_err().kind(), ErrorKind::Replayed);
/// # }
/// ```
pub trait ReplayStore: fmt::Debug + Send + Sync + 'static {
    /// Records `nonce`, as described on the trait.
    fn admit_nonce(&self, nonce: &Nonce<'_>) -> ReplayCheck;
}

impl<T: ReplayStore + ?Sized> ReplayStore for Arc<T> {
    fn admit_nonce(&self, nonce: &Nonce<'_>) -> ReplayCheck {
        (**self).admit_nonce(nonce)
    }
}

/// The in-process store keeps its own TTL (the one it was built with; one
/// TTL for every entry keeps it a queue), and its floor against a wall
/// clock stepped back for nonces with a signed timestamp.
impl ReplayStore for ReplayCache {
    fn admit_nonce(&self, nonce: &Nonce<'_>) -> ReplayCheck {
        ReplayCheck::ready(
            self.admit_in(nonce.scheme, nonce.key_id, nonce.value, nonce.signed_at)
                .map_err(AuthError::new),
        )
    }
}

/// A boxed [`ReplayCheck`] that waits for a remote store.
type PendingCheck = Pin<Box<dyn Future<Output = Result<(), AuthError>> + Send>>;

/// The answer of [`ReplayStore::admit_nonce`]: known at once, or after a round
/// trip to a remote store. A future either way.
///
/// ```
/// use authgate::replay::ReplayCheck;
/// use authgate::{AuthError, ErrorKind};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let now = ReplayCheck::ready(Ok(()));
/// assert!(now.await.is_ok());
/// let later = ReplayCheck::pending(async { Err(AuthError::new(ErrorKind::Replayed)) });
/// assert_eq!(later.await.unwrap_err().kind(), ErrorKind::Replayed);
/// # }
/// ```
#[must_use = "a replay check does nothing unless its answer is read"]
pub struct ReplayCheck(State);

enum State {
    Ready(Option<Result<(), AuthError>>),
    Pending(PendingCheck),
}

impl ReplayCheck {
    /// An answer known without waiting.
    pub fn ready(result: Result<(), AuthError>) -> Self {
        Self(State::Ready(Some(result)))
    }

    /// An answer that needs I/O.
    pub fn pending<F>(future: F) -> Self
    where
        F: Future<Output = Result<(), AuthError>> + Send + 'static,
    {
        Self(State::Pending(Box::pin(future)))
    }

    /// The answer if it is already known, else the check itself, to await.
    ///
    /// ```
    /// use authgate::replay::ReplayCheck;
    ///
    /// assert!(matches!(ReplayCheck::ready(Ok(())).into_ready(), Ok(Ok(()))));
    /// assert!(ReplayCheck::pending(async { Ok(()) }).into_ready().is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// The check itself when its answer needs waiting for.
    pub fn into_ready(self) -> Result<Result<(), AuthError>, Self> {
        match self.0 {
            State::Ready(Some(result)) => Ok(result),
            state => Err(Self(state)),
        }
    }
}

impl Future for ReplayCheck {
    type Output = Result<(), AuthError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            State::Ready(result) => Poll::Ready(result.take().unwrap_or_else(|| {
                // Polled again after it answered: a caller bug, answered
                // fail-closed rather than with a panic.
                Err(AuthError::new(crate::ErrorKind::Unavailable))
            })),
            State::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for ReplayCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            State::Ready(result) => f.debug_tuple("Ready").field(result).finish(),
            State::Pending(_) => f.write_str("Pending"),
        }
    }
}

/// What a scheme holds: the store it was given, or its own in-process
/// cache.
#[cfg_attr(not(feature = "hmac"), allow(dead_code))]
pub(crate) type SharedReplayStore = Arc<dyn ReplayStore>;

/// The error a scheme answers for a refused nonce: the store's, naming the
/// key id, with the reason the floor refuses a timestamped request.
#[cfg_attr(not(feature = "hmac"), allow(dead_code))]
pub(crate) fn refused(error: AuthError, key_id: &str) -> AuthError {
    let error = error.with_credential_id(key_id);
    if error.kind() == crate::ErrorKind::Expired {
        error.with_description(
            "the signature timestamp is older than nonces this server has \
             already forgotten (its clock stepped back)",
        )
    } else {
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[tokio::test]
    async fn the_in_process_store_namespaces_per_scheme_and_key_id() {
        let store = ReplayCache::new(100, Duration::from_secs(60));
        let ttl = Duration::from_secs(60);
        assert!(store
            .admit_nonce(&Nonce::new("hmac", "k", "n", ttl))
            .await
            .is_ok());
        let again = store.admit_nonce(&Nonce::new("hmac", "k", "n", ttl)).await;
        assert_eq!(again.unwrap_err().kind(), ErrorKind::Replayed);
        assert!(store
            .admit_nonce(&Nonce::new("hmac", "k2", "n", ttl))
            .await
            .is_ok());
        assert!(store
            .admit_nonce(&Nonce::new("httpsig", "k", "n", ttl))
            .await
            .is_ok());
    }

    #[test]
    fn a_ready_check_answers_without_a_runtime() {
        let store = ReplayCache::new(1, Duration::from_secs(60));
        let nonce = Nonce::new("hmac", "k", "n", Duration::from_secs(60));
        assert!(matches!(store.admit_nonce(&nonce).into_ready(), Ok(Ok(()))));
        let full = Nonce::new("hmac", "k", "other", Duration::from_secs(60));
        match store.admit_nonce(&full).into_ready() {
            Ok(Err(e)) => assert_eq!(e.kind(), ErrorKind::Unavailable),
            other => panic!("{other:?}"),
        }
    }
}
