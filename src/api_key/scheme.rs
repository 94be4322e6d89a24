//! [`ApiKeyScheme`]: the verifier, with its look-up cache.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moka::future::Cache;
use subtle::ConstantTimeEq;

use super::cached_ids::CachedIds;
use super::flight::Flights;
use super::format::{self, hash_secret, ID_LEN};
use super::store::{KeyRecord, KeyStore};
use super::unknown::UnknownIds;
use super::usage::UsageTracker;
use crate::clock::SharedClock;
use crate::credentials::{Credential, CredentialLocation};
use crate::error::{AuthError, ConfigError, ErrorKind};
use crate::hot::HotTable;
use crate::invalidation::{Generations, IdHasher};
use crate::principal::Principal;
use crate::scheme::{poll_once, Challenge, Scheme, Verification, VerifyContext};
use crate::telemetry::{CacheMetrics, StoreMetrics};

mod builder;
mod lookup;

pub use builder::ApiKeySchemeBuilder;
use lookup::{LookupError, Missed};

/// The name API-key principals carry in [`Principal::scheme`].
pub const SCHEME_NAME: &str = "api_key";

/// API-key authentication: `Authorization: ApiKey <key>` or `X-Api-Key:
/// <key>` by default.
///
/// The key's checksum and environment prefix are checked before any
/// look-up; the id selects the record through a bounded cache (found
/// records and unknown ids alike for
/// [`cache_ttl`](ApiKeySchemeBuilder::cache_ttl), so that response times do
/// not tell an existing id from an unknown one; concurrent misses for one
/// id share one store query; unknown ids are kept in a bounded table of
/// their own, not in the shared cache, so that a flood of never-seen keys
/// neither costs a cache insert each nor evicts the records of real
/// clients, and those the store answers at once, through
/// [`KeyStore::find_now`], are refused without a task or timer); the
/// SHA-256 of the secret is
/// compared in constant time; then revocation, expiry and the rotation grace
/// deadline are checked.
///
/// Clones share the cache: keep one to call [`invalidate`](Self::invalidate).
///
/// # Example
///
/// ```
/// use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
/// use std::time::Duration;
///
/// let scheme = ApiKeyScheme::builder(InMemoryKeyStore::new())
///     .prefix("sk_live")
///     .header("x-api-key")
///     .store_timeout(Duration::from_secs(1))
///     .build()
///     .unwrap();
/// # let _ = scheme;
/// ```
pub struct ApiKeyScheme<S> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    /// This scheme among others, in the per-thread tables.
    id: u64,
    /// Bumped by [`ApiKeyScheme::invalidate`] for the stripe of the id it
    /// names: a cached look-up (shared or per-thread) whose store read
    /// started before the bump is not used again. Its keyed hash of an id
    /// also keys the per-thread tables.
    generations: Generations,
    store: S,
    prefixes: Vec<String>,
    authorization_scheme: Cow<'static, str>,
    locations: Vec<CredentialLocation>,
    /// Keyed by ids under [`IdHasher`], not SipHash.
    cache: Cache<Box<str>, Lookup, IdHasher>,
    /// Which ids `cache` may hold, asked first: an id it cannot hold costs
    /// no cache read.
    cached_ids: CachedIds,
    /// Ids the store does not know: kept apart from `cache`, bounded on
    /// their own.
    unknown: UnknownIds,
    /// Store reads under way, so that concurrent misses for one id share
    /// one read.
    flights: Flights<Outcome>,
    store_timeout: Duration,
    clock: SharedClock,
    metrics: (CacheMetrics, StoreMetrics),
    /// Reports granted uses to the store, when asked to.
    usage: Option<UsageTracker>,
}

impl<S> Clone for ApiKeyScheme<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: KeyStore> ApiKeyScheme<S> {
    /// A scheme accepting keys that start with `prefix_`, with default
    /// settings.
    ///
    /// # Errors
    ///
    /// When `prefix` is not a valid key prefix.
    pub fn new(store: S, prefix: &str) -> Result<Self, ConfigError> {
        Self::builder(store).prefix(prefix).build()
    }

    /// Starts configuring a scheme over `store`.
    pub fn builder(store: S) -> ApiKeySchemeBuilder<S> {
        ApiKeySchemeBuilder::new(store)
    }

    /// Drops the cached record for `id`, so that a revocation or rotation
    /// in the store takes effect at once: once this returns, no request that
    /// starts afterwards, on any thread, is decided from what the store said
    /// before, even if a store read that began earlier finishes later.
    /// Call it after every change to the record of `id`, including after
    /// issuing a key whose id may have been probed (unknown ids are cached
    /// as long as found ones).
    ///
    /// ```
    /// use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scheme = ApiKeyScheme::new(InMemoryKeyStore::new(), "sk_live").unwrap();
    /// // ... the record of key id "k1" was revoked in the store:
    /// scheme.invalidate("k1").await;
    /// # }
    /// ```
    pub async fn invalidate(&self, id: &str) {
        // Bump first: a look-up that read the store before this point is
        // stale from now on, wherever it ends up (shared cache, per-thread
        // table, or a miss still in flight).
        self.inner.generations.bump(id);
        self.inner
            .unknown
            .remove(id.as_bytes(), self.inner.generations.slot_key(id));
        self.inner.cache.invalidate(id).await;
    }

    /// The number of cached look-ups (found records and unknown ids), after
    /// pending cache maintenance has run.
    pub async fn cached_entries(&self) -> u64 {
        self.inner.cache.run_pending_tasks().await;
        self.inner
            .cache
            .entry_count()
            .saturating_add(self.inner.unknown.len(Instant::now()))
    }
}

/// A found record and the principal it grants, built once so that a cache
/// hit allocates nothing.
struct CachedKey {
    record: KeyRecord,
    principal: Principal,
}

/// A cached look-up result: `found` is `None` for an unknown id. Two
/// words: an unknown id's answer (every miss of a flood) allocates nothing,
/// and a clone is at most a reference count.
#[derive(Clone)]
struct Lookup {
    /// The id's stripe generation read before the store was asked: the
    /// result is current only while the stripe still has it.
    generation: u64,
    found: Option<Arc<CachedKey>>,
}

/// What a store read ends with, as its followers get it.
type Outcome = Result<Lookup, Arc<LookupError>>;

/// A cached look-up as this thread keeps it: see [`crate::hot`]. Unknown
/// ids are kept too, so that an unknown id and a wrong secret keep taking
/// the same path.
///
/// The table is indexed by [`quick_hash`] of the id, not by the scheme's
/// keyed hash, so that a hit computes no keyed hash: the entry keeps the
/// keyed hash (which names the id's stripe of generations) and the
/// generation it was taken under, and is used only while that generation
/// is current.
struct HotKey {
    id: [u8; ID_LEN],
    slot_key: u64,
    generation: u64,
    /// The found record's look-up, with this thread's own copy of the
    /// principal; `None` for an unknown id.
    found: Option<(Arc<CachedKey>, Principal)>,
}

/// Where an id lives in this thread's table: a multiply-xor of its bytes.
/// Not keyed: a client that makes its ids collide only evicts its own
/// entries from a table of 32 (the entry holds the whole id, and the keyed
/// hash guards the generations and the shared tables).
fn quick_hash(id: &[u8; ID_LEN]) -> u64 {
    let (mut low, mut high) = ([0u8; 8], [0u8; 8]);
    let (a, b) = id.split_at(8);
    low.copy_from_slice(a);
    high.copy_from_slice(b);
    let mixed = (u64::from_le_bytes(low) ^ u64::from_le_bytes(high).rotate_left(29))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    mixed ^ (mixed >> 32)
}

type HotKeys = HotTable<HotKey>;

thread_local! {
    static HOT_KEYS: RefCell<HotKeys> = const { RefCell::new(HotTable::new()) };
}

/// Whether two SHA-256 hashes are equal, in constant time: the XOR of
/// their four 64-bit words folded into one word (no early exit), which one
/// `subtle` comparison tells from zero.
fn same_hash(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a
        .chunks_exact(8)
        .zip(b.chunks_exact(8))
        .fold(0u64, |diff, (a, b)| {
            let (mut x, mut y) = ([0u8; 8], [0u8; 8]);
            x.copy_from_slice(a);
            y.copy_from_slice(b);
            diff | (u64::from_ne_bytes(x) ^ u64::from_ne_bytes(y))
        });
    diff.ct_eq(&0).into()
}

/// A parsed key's id as text: base62, so the check never fails (an empty
/// id if it did, which names no record).
fn id_text(id: &[u8; ID_LEN]) -> &str {
    std::str::from_utf8(id).unwrap_or_default()
}

/// The refusal of a key that is not of the format.
fn malformed_key() -> Verification {
    Verification::ready(Err(AuthError::new(ErrorKind::InvalidFormat)
        .with_description("the API key is malformed or mistyped")))
}

/// Whole seconds since the Unix epoch (0 before it).
fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl<S: KeyStore> Inner<S> {
    /// The decision for a presented key at `now`, given what the store
    /// knows of its id.
    fn judge(
        &self,
        found: Option<(&KeyRecord, &Principal)>,
        prefix: &str,
        id: &[u8; ID_LEN],
        presented_hash: &[u8; 32],
        now: SystemTime,
    ) -> Result<Principal, AuthError> {
        let Some((record, principal)) = found else {
            // Same work as a hit, so timing does not tell unknown ids apart.
            let _ = same_hash(presented_hash, &[0u8; 32]);
            return Err(AuthError::new(ErrorKind::UnknownKey).with_credential_id(id_text(id)));
        };
        let denied = |kind| Err(AuthError::new(kind).with_credential_id(id_text(id)));
        if record.prefix != prefix {
            return denied(ErrorKind::WrongEnvironment);
        }
        if !same_hash(&record.secret_hash, presented_hash) {
            return denied(ErrorKind::BadSignature);
        }
        // Only a caller holding the secret learns the state of the key.
        if record.revoked {
            return denied(ErrorKind::Revoked);
        }
        if record.expires_at.is_some_and(|t| t <= now) {
            return denied(ErrorKind::Expired);
        }
        if record.retires_at.is_some_and(|t| t <= now) {
            return denied(ErrorKind::Rotated);
        }
        if let Some(usage) = &self.usage {
            usage.touch(id_text(id), now);
        }
        Ok(principal.clone())
    }
}

impl<S: KeyStore> Scheme for ApiKeyScheme<S> {
    fn name(&self) -> &'static str {
        SCHEME_NAME
    }

    fn locations(&self) -> Vec<CredentialLocation> {
        self.inner.locations.clone()
    }

    fn challenge(&self) -> Challenge {
        Challenge::new(self.inner.authorization_scheme.clone())
    }

    fn verify(&self, credential: &Credential, _: &VerifyContext<'_>) -> Verification {
        let inner = &self.inner;
        // The configured prefixes were checked when the scheme was built.
        let known = |prefix: &[u8]| inner.prefixes.iter().position(|p| p.as_bytes() == prefix);
        // Every part of a parsed key is ASCII: only the id is made text
        // again (the prefix is the configured one it equals), and only when
        // this thread's table does not decide (the hit of a valid key
        // never needs it as text).
        let Ok(key) = format::parse_bytes(credential.value_bytes(), known) else {
            return malformed_key();
        };
        let Some((prefix_index, prefix)) = key
            .known_prefix
            .and_then(|i| Some((i, inner.prefixes.get(i)?)))
        else {
            return Verification::ready(Err(AuthError::new(ErrorKind::WrongEnvironment)
                .with_description("the API key belongs to another environment")
                .with_credential_id(id_text(key.id))));
        };
        let prefix = prefix.as_str();
        // Hash now, so that the pending future holds no secret.
        let presented_hash = hash_secret(key.secret);
        // A cached answer needs no I/O: decide on the spot, without boxing,
        // from this thread's table if it holds the key, else from the
        // shared cache.
        let now = inner.clock.now();
        let secs = unix_secs(now);
        let quick = quick_hash(key.id);
        let hit = HOT_KEYS
            .try_with(|table| {
                let table = table.try_borrow().ok()?;
                let hot = table.get(inner.id, 0, quick, secs)?;
                (hot.id == *key.id && hot.generation == inner.generations.current(hot.slot_key))
                    .then(|| {
                        let found = hot
                            .found
                            .as_ref()
                            .map(|(key, principal)| (&key.record, principal));
                        inner.judge(found, prefix, key.id, &presented_hash, now)
                    })
            })
            .ok()
            .flatten();
        if let Some(result) = hit {
            inner.metrics.0.lookup(true);
            return Verification::ready(result);
        }
        let Ok(id) = std::str::from_utf8(key.id) else {
            return malformed_key();
        };
        let slot_key = inner.generations.slot_key(id);
        let generation = inner.generations.current(slot_key);
        // Read before the caches are: see `Inner::kept`.
        let reads_ended = inner.flights.ended(slot_key);
        let keep_hot = |found: Option<(Arc<CachedKey>, Principal)>| {
            let _ = HOT_KEYS.try_with(|table| {
                if let Ok(mut table) = table.try_borrow_mut() {
                    let hot = HotKey {
                        id: *key.id,
                        slot_key,
                        generation,
                        found,
                    };
                    table.put(inner.id, 0, quick, secs, hot);
                }
            });
        };
        // Judged on the spot, without I/O: the record found, or none.
        let judged =
            |found| Verification::ready(inner.judge(found, prefix, key.id, &presented_hash, now));
        // An id known to be unknown is refused on the spot, from the table
        // of unknown ids: no shared-cache read.
        let instant = Instant::now();
        let id_bytes = id.as_bytes();
        if inner
            .unknown
            .contains(id_bytes, slot_key, generation, instant)
        {
            keep_hot(None);
            inner.metrics.0.lookup(true);
            return judged(None);
        }
        // A shared entry read from the store before the last invalidation of
        // its stripe is never used: the slow path reads it again. The cache
        // is read only if it may hold the id: a read that misses costs
        // more than a flood of unknown ids should (see `CachedIds`).
        let cached = if inner.cached_ids.may_hold(slot_key) {
            poll_once(inner.cache.get(id)).flatten()
        } else {
            None
        };
        let current = cached.filter(|lookup| lookup.generation == generation);
        if let Some(lookup) = current {
            keep_hot(
                lookup
                    .found
                    .as_ref()
                    .map(|c| (Arc::clone(c), c.principal.unshared())),
            );
            inner.metrics.0.lookup(true);
            return judged(lookup.found.as_ref().map(|c| (&c.record, &c.principal)));
        }
        // An id the store can tell at once it does not know is refused on
        // the spot too, and remembered apart: no task, no timer, no insert
        // into the shared cache. (A found record goes the way below, so
        // that it is cached with its principal.) Not counted in
        // `flights.ended`: a request that missed just before and leads a
        // read of this id may ask the store once more, never get a stale
        // answer.
        if let Some(Ok(None)) = inner.store.find_now(id) {
            inner
                .unknown
                .insert(id_bytes, slot_key, generation, instant);
            inner.metrics.0.lookup(false);
            return judged(None);
        }
        let id = *key.id;
        inner.metrics.0.lookup(false);
        // The future owns what it needs: no wrapper around it. Polled once
        // here: a store that answers on its first poll costs no
        // continuation.
        Verification::pending_polled(Arc::clone(&self.inner).check(
            prefix_index,
            id,
            slot_key,
            presented_hash,
            Missed { reads_ended },
        ))
    }
}

impl<S> fmt::Debug for ApiKeyScheme<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyScheme")
            .field("prefixes", &self.inner.prefixes)
            .field("locations", &self.inner.locations)
            .field("store_timeout", &self.inner.store_timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::api_key::{ApiKeyGenerator, InMemoryKeyStore};
    use crate::scheme::VerificationState;
    use crate::Scopes;

    fn verify_now(scheme: &ApiKeyScheme<InMemoryKeyStore>, key: &str) -> VerificationState {
        let credential = Credential::new(CredentialLocation::authorization("ApiKey"), key);
        let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
        scheme
            .verify(&credential, &VerifyContext::new(&parts, None))
            .0
    }

    /// Regression (issue 13.3b): `invalidate` bumps the generation before
    /// it removes the shared entry. A request in that gap used to copy the
    /// shared entry (read before the revocation) into its thread's table
    /// under the new generation, and be granted from it for up to two
    /// seconds. A shared entry read before the bump is never used now.
    #[test]
    fn a_request_in_the_gap_of_invalidate_is_not_granted_from_the_old_entry() {
        let store = InMemoryKeyStore::new();
        let key = ApiKeyGenerator::new("sk_live")
            .unwrap()
            .generate("acct", Scopes::empty())
            .unwrap();
        store.insert(key.record().clone());
        let scheme = ApiKeyScheme::new(store.clone(), "sk_live").unwrap();
        let plaintext = key.plaintext().expose();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let VerificationState::Pending(first) = verify_now(&scheme, plaintext) else {
            panic!("a cold cache answers later");
        };
        assert!(runtime.block_on(first).is_ok());
        assert!(matches!(
            verify_now(&scheme, plaintext),
            VerificationState::Ready(Ok(_))
        ));

        // The store revokes; `invalidate` has bumped the generation but not
        // yet removed the shared entry.
        assert!(store.revoke(&key.record().id));
        scheme.inner.generations.bump(&key.record().id);

        match verify_now(&scheme, plaintext) {
            VerificationState::Ready(result) => {
                assert!(result.is_err(), "granted from the entry read before");
            }
            VerificationState::Pending(read_again) => {
                let error = runtime.block_on(read_again).unwrap_err();
                assert_eq!(error.kind(), ErrorKind::Revoked);
            }
        }
        // And the thread's table did not keep the old entry either.
        assert!(!matches!(
            verify_now(&scheme, plaintext),
            VerificationState::Ready(Ok(_))
        ));
    }

    /// The id is made text only when a denial names it: every denial of a
    /// well-formed key still carries it, from this thread's table too.
    #[test]
    fn denials_name_the_key_id_from_every_path() {
        let store = InMemoryKeyStore::new();
        let generator = ApiKeyGenerator::new("sk_live").unwrap();
        let good = generator.generate("acct", Scopes::empty()).unwrap();
        // A record whose stored hash is not the key's: a wrong secret.
        let wrong = generator.generate("acct2", Scopes::empty()).unwrap();
        let mut wrong_record = wrong.record().clone();
        wrong_record.secret_hash = [7; 32];
        store.insert(good.record().clone());
        store.insert(wrong_record);
        let unknown = generator.generate("nobody", Scopes::empty()).unwrap();
        let scheme = ApiKeyScheme::new(store, "sk_live").unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for (key, id, kind) in [
            (
                wrong.plaintext().expose(),
                wrong.record().id.as_str(),
                ErrorKind::BadSignature,
            ),
            (
                unknown.plaintext().expose(),
                unknown.record().id.as_str(),
                ErrorKind::UnknownKey,
            ),
        ] {
            // Cold (shared cache or store), then from this thread's table.
            for _ in 0..3 {
                let error = match verify_now(&scheme, key) {
                    VerificationState::Ready(result) => result.unwrap_err(),
                    VerificationState::Pending(later) => runtime.block_on(later).unwrap_err(),
                };
                assert_eq!(error.kind(), kind);
                assert_eq!(error.credential_id(), Some(id));
            }
        }
        assert!(matches!(
            verify_now(&scheme, good.plaintext().expose()),
            VerificationState::Pending(_) | VerificationState::Ready(Ok(_))
        ));
    }
}
