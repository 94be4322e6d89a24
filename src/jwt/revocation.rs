//! Revocation: checked on every request, whether the token was verified
//! just now or came from the token cache.

use std::collections::HashMap;
use std::fmt;
use std::sync::{PoisonError, RwLock};

/// Tells whether a validated token was revoked: by its `jti`, or by its
/// subject with an issued-before cutoff ("log out everywhere").
///
/// Called on every request, cached or not, so it must answer from memory;
/// keep a remote revocation list in sync in the background.
///
/// # Example
///
/// ```
/// use authgate::jwt::Revocation;
///
/// struct NoOneEverLogsOut;
/// impl Revocation for NoOneEverLogsOut {}
/// assert!(!NoOneEverLogsOut.is_jti_revoked("https://idp", "abc"));
/// ```
pub trait Revocation: Send + Sync + 'static {
    /// Whether the token with this `jti` from `issuer` was revoked.
    fn is_jti_revoked(&self, issuer: &str, jti: &str) -> bool {
        let _ = (issuer, jti);
        false
    }

    /// The cutoff for `subject` of `issuer`, in seconds since the epoch:
    /// tokens issued (`iat`) before it, or without `iat`, are revoked.
    fn revoked_before(&self, issuer: &str, subject: &str) -> Option<u64> {
        let _ = (issuer, subject);
        None
    }
}

/// An in-memory [`Revocation`] list.
///
/// ```
/// use authgate::jwt::{InMemoryRevocation, Revocation};
///
/// let list = InMemoryRevocation::new();
/// list.revoke_jti("https://idp", "t-1");
/// list.revoke_subject("https://idp", "alice", 1_700_000_000);
/// assert!(list.is_jti_revoked("https://idp", "t-1"));
/// assert_eq!(list.revoked_before("https://idp", "alice"), Some(1_700_000_000));
/// ```
#[derive(Default)]
pub struct InMemoryRevocation {
    jtis: RwLock<HashMap<(String, String), ()>>,
    subjects: RwLock<HashMap<(String, String), u64>>,
}

impl InMemoryRevocation {
    /// An empty list.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Revokes one token.
    pub fn revoke_jti(&self, issuer: &str, jti: &str) {
        self.jtis
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((issuer.to_owned(), jti.to_owned()), ());
    }

    /// Revokes every token of `subject` issued before `before_unix`.
    pub fn revoke_subject(&self, issuer: &str, subject: &str, before_unix: u64) {
        self.subjects
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((issuer.to_owned(), subject.to_owned()), before_unix);
    }
}

impl Revocation for InMemoryRevocation {
    fn is_jti_revoked(&self, issuer: &str, jti: &str) -> bool {
        self.jtis
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&(issuer.to_owned(), jti.to_owned()))
    }

    fn revoked_before(&self, issuer: &str, subject: &str) -> Option<u64> {
        self.subjects
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(issuer.to_owned(), subject.to_owned()))
            .copied()
    }
}

impl<R: Revocation> Revocation for std::sync::Arc<R> {
    fn is_jti_revoked(&self, issuer: &str, jti: &str) -> bool {
        (**self).is_jti_revoked(issuer, jti)
    }

    fn revoked_before(&self, issuer: &str, subject: &str) -> Option<u64> {
        (**self).revoked_before(issuer, subject)
    }
}

impl fmt::Debug for InMemoryRevocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryRevocation").finish_non_exhaustive()
    }
}
