//! [`HmacScheme`]: the verifier of the native `HMAC-SHA256` scheme.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::request::Parts;
use http::HeaderName;

use super::canonical::{canonical_string, write_canonical_string, Signed, SCHEME};
use super::encoding::{body_of, check_window};
use super::params::{self, FormatError, Params, ParsedParams};
use super::secrets::{match_keys, KeyMatch};
use super::store::{CachedStore, SecretRecord, SecretStore};
use crate::clock::SharedClock;
use crate::credentials::{AuthorizationSyntax, Credential, CredentialLocation};
use crate::error::{AuthError, ErrorKind};
use crate::principal::Principal;
use crate::replay::{self, Nonce, ReplayStore, SharedReplayStore};
use crate::scheme::{Challenge, PrecheckFuture, Scheme, Verification, VerifyContext};

mod builder;
mod hot_records;

pub use builder::HmacSchemeBuilder;

/// The name native HMAC principals carry in [`Principal::scheme`].
pub const SCHEME_NAME: &str = "hmac";

/// The native signed-request scheme: `Authorization: HMAC-SHA256 keyId=…,
/// ts=…, nonce=…, headers=…, signature=…`, specified in the
/// [module docs](super#the-native-hmac-sha256-scheme).
///
/// Verification order: parameters, timestamp window, signed headers present,
/// the key id's record through a bounded cache, the signature against every
/// secret of the record in constant time (rotation), then the nonce in the
/// [`ReplayCache`](crate::hmac::ReplayCache): a second request with the same key id and nonce is
/// answered 401 `replayed`, whatever the wall clock did in between (see
/// [`ReplayCache::admit_signed`](crate::hmac::ReplayCache::admit_signed)).
///
/// # Example
///
/// ```
/// use authgate::hmac::{HmacKey, HmacScheme, InMemorySecretStore, SecretRecord, Signer};
/// use authgate::AuthLayer;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use bytes::Bytes;
/// use http_body_util::Full;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = InMemorySecretStore::new();
/// store.insert(SecretRecord::new("partner-1", HmacKey::new("s3cr3t"), "acct_42"));
/// let layer = AuthLayer::builder()
///     .scheme(HmacScheme::new(store))
///     .with_request_bodies()
///     .build()?;
/// let service = ServiceBuilder::new().layer(layer).service(service_fn(|_req: http::Request<Full<Bytes>>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// }));
///
/// // The client side.
/// let signer = Signer::new("partner-1", HmacKey::new("s3cr3t"))?.sign_header("host")?;
/// let mut request = http::Request::post("https://api.example.com/orders?b=2&a=1")
///     .header("host", "api.example.com")
///     .body(Bytes::from_static(br#"{"sku":"A-1"}"#))?;
/// signer.sign(&mut request)?;
///
/// let response = service.oneshot(request.map(Full::new)).await?;
/// assert_eq!(response.status(), 200);
/// # Ok(())
/// # }
/// ```
pub struct HmacScheme<S> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    secrets: CachedStore<S>,
    /// This thread's copies of cached look-ups, in front of `secrets`.
    hot: hot_records::Hot,
    replay: SharedReplayStore,
    /// How long a nonce is remembered: as long as its timestamp can pass.
    replay_ttl: Duration,
    window: Duration,
    required_headers: Vec<HeaderName>,
    clock: SharedClock,
}

impl<S> Clone for HmacScheme<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: SecretStore> HmacScheme<S> {
    /// A scheme over `store` with default settings.
    #[must_use]
    pub fn new(store: S) -> Self {
        Self::builder(store).build_defaults()
    }

    /// Starts configuring a scheme over `store`.
    ///
    /// ```
    /// use authgate::hmac::{HmacScheme, InMemorySecretStore};
    /// use std::time::Duration;
    ///
    /// let scheme = HmacScheme::builder(InMemorySecretStore::new())
    ///     .window(Duration::from_secs(120))
    ///     .require_signed_header("host")
    ///     .build()
    ///     .unwrap();
    /// # let _ = scheme;
    /// ```
    pub fn builder(store: S) -> HmacSchemeBuilder<S> {
        HmacSchemeBuilder::new(store)
    }

    /// Drops the cached record for `key_id`, so that a rotation or
    /// revocation in the store takes effect at once.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let scheme = authgate::hmac::HmacScheme::new(authgate::hmac::InMemorySecretStore::new());
    /// scheme.invalidate("partner-1").await;
    /// # }
    /// ```
    pub async fn invalidate(&self, key_id: &str) {
        // The shared cache first: once its answer for `key_id` is stale, a
        // thread can no longer copy it into its table under the new
        // generation the second step hands out.
        self.inner.secrets.invalidate(key_id).await;
        self.inner.hot.invalidate();
    }

    /// The number of cached look-ups (records and unknown key ids), after
    /// pending cache maintenance: never more than
    /// [`cache_capacity`](HmacSchemeBuilder::cache_capacity).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scheme = authgate::hmac::HmacScheme::new(authgate::hmac::InMemorySecretStore::new());
    /// assert_eq!(scheme.cached_entries().await, 0);
    /// # }
    /// ```
    pub async fn cached_entries(&self) -> u64 {
        self.inner.secrets.entry_count().await
    }
}

/// What judging a request needs from its parameters, owned: for the
/// look-up that has to wait for the store.
struct Claim {
    key_id: String,
    nonce: String,
    ts: u64,
    signature: [u8; 32],
}

impl<S: SecretStore> Inner<S> {
    async fn check(&self, claim: Claim, canonical: String) -> Result<Principal, AuthError> {
        let record = self.secrets.find(&claim.key_id).await?;
        let params = Judged {
            key_id: &claim.key_id,
            nonce: &claim.nonce,
            ts: claim.ts,
            signature: &claim.signature,
        };
        let principal = self.judge(&record, None, &params, &canonical, self.clock.now())?;
        self.replay
            .admit_nonce(&self.nonce(&params))
            .await
            .map_err(|e| replay::refused(e, &claim.key_id))?;
        Ok(principal)
    }

    fn nonce<'a>(&self, params: &Judged<'a>) -> Nonce<'a> {
        Nonce::new(SCHEME_NAME, params.key_id, params.nonce, self.replay_ttl).signed_at(params.ts)
    }

    /// Records the nonce of a request whose signature verified: at once
    /// with the in-process store, after a round trip with a remote one.
    fn admit(&self, params: &Judged<'_>, principal: Principal) -> Verification {
        match self.replay.admit_nonce(&self.nonce(params)).into_ready() {
            Ok(result) => Verification::ready(
                result
                    .map(|()| principal)
                    .map_err(|e| replay::refused(e, params.key_id)),
            ),
            Err(pending) => {
                let key_id = params.key_id.to_owned();
                Verification::pending(async move {
                    pending
                        .await
                        .map(|()| principal)
                        .map_err(|e| replay::refused(e, &key_id))
                })
            }
        }
    }

    /// The signature, then the key's state (the nonce comes after, in
    /// `admit`). `principal` is
    /// the one `record` grants, if already built.
    fn judge(
        &self,
        record: &SecretRecord,
        principal: Option<&Principal>,
        params: &Judged<'_>,
        canonical: &str,
        now: SystemTime,
    ) -> Result<Principal, AuthError> {
        let denied = |kind| Err(AuthError::new(kind).with_credential_id(params.key_id));
        let matched = match_keys(record.keys(), now, |key| {
            ring::hmac::verify(key.ring_key(), canonical.as_bytes(), params.signature).is_ok()
        });
        match matched {
            KeyMatch::Current => {}
            KeyMatch::Retired => return denied(ErrorKind::Rotated),
            KeyMatch::None => return denied(ErrorKind::BadSignature),
        }
        // Only a caller holding the secret learns the state of the key.
        if record.revoked {
            return denied(ErrorKind::Revoked);
        }
        Ok(principal.map_or_else(|| principal_of(record), Principal::clone))
    }

    /// Judges with the record this thread or the shared cache holds for
    /// the key id, if either holds one: no I/O, no boxed future.
    fn judge_cached(
        &self,
        params: &Judged<'_>,
        slot: u64,
        canonical: &str,
        (now, secs): (SystemTime, u64),
    ) -> Option<Result<Principal, AuthError>> {
        let unknown = || AuthError::new(ErrorKind::UnknownKey).with_credential_id(params.key_id);
        let hit = self
            .hot
            .get(slot, params.key_id.as_bytes(), secs, |found| match found {
                Some((record, principal)) => {
                    self.judge(record, Some(principal), params, canonical, now)
                }
                None => Err(unknown()),
            });
        if hit.is_some() {
            // One look-up per request is counted: the pre-body check reads
            // the same copy without counting.
            self.secrets.count_hit();
            return hit;
        }
        let generation = self.hot.generation();
        let found = match self.secrets.cached(params.key_id)? {
            Ok(record) => Some(record),
            Err(e) if e.kind() == ErrorKind::UnknownKey => None,
            Err(e) => return Some(Err(e)),
        };
        self.hot
            .put(slot, params.key_id, secs, generation, found.as_ref());
        Some(match found {
            Some(record) => self.judge(&record, None, params, canonical, now),
            None => Err(unknown()),
        })
    }
}

thread_local! {
    /// The canonical string of the request this thread is verifying.
    static CANONICAL: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The largest canonical-string buffer a thread keeps between requests
/// (one with long signed headers or query is dropped after use).
const MAX_KEPT_CANONICAL: usize = 4096;

/// What the checks of one request share, made on the first of them that
/// runs (`needs_body`, `check_before_body`, `verify`) and kept with the
/// credential for the others: the parse of the header, the scheme's clock
/// read once for the checks made before the body, and the key id's place
/// in this thread's table.
struct RequestState {
    params: Result<ParsedParams, FormatError>,
    /// Unix seconds on the scheme's clock when the header was parsed:
    /// what the checks before the body read (`verify` reads the clock
    /// again, after the body).
    parsed_at: u64,
    /// `Hot::slot` of the key id (0 when the header does not parse).
    slot: u64,
}

impl<S: SecretStore> Inner<S> {
    /// This request's [`RequestState`], made on the first call.
    fn state<'c>(&self, credential: &'c Credential) -> Option<&'c RequestState> {
        credential.parsed(|value| {
            let params = ParsedParams::parse(value);
            let slot = match &params {
                Ok(parsed) => self.hot.slot(parsed.key_id_bytes(value)),
                Err(_) => 0,
            };
            RequestState {
                params,
                parsed_at: self.clock.unix_now(),
                slot,
            }
        })
    }

    /// The credential's parameters, with the key id's slot.
    fn params_of<'c>(&self, credential: &'c Credential) -> Result<(Params<'c>, u64), FormatError> {
        // One UTF-8 pass over the value (always ASCII here) costs less
        // than one per parameter.
        let value = credential.value();
        match self.state(credential) {
            Some(state) => match &state.params {
                Ok(parsed) => match parsed.params(value) {
                    Some(params) => Ok((params, state.slot)),
                    None => Err(FormatError::Params("keyId is missing or invalid")),
                },
                Err(e) => Err(*e),
            },
            // Another type was kept with the credential first (never for
            // a credential this scheme extracted): parse on the spot.
            None => {
                let params = params::parse_params(value)?;
                let slot = self.hot.slot(params.key_id.as_bytes());
                Ok((params, slot))
            }
        }
    }
}

/// The principal a record grants.
fn principal_of(record: &SecretRecord) -> Principal {
    Principal::new(record.subject.clone(), SCHEME_NAME)
        .with_scopes(record.scopes.clone())
        .with_credential_id(record.key_id.clone())
}

/// Whole seconds since the Unix epoch (0 before it).
fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl<S: SecretStore> Scheme for HmacScheme<S> {
    fn name(&self) -> &'static str {
        SCHEME_NAME
    }

    fn locations(&self) -> Vec<CredentialLocation> {
        vec![CredentialLocation::Authorization {
            scheme: SCHEME.into(),
            syntax: AuthorizationSyntax::AuthParams,
        }]
    }

    fn challenge(&self) -> Challenge {
        Challenge::new(SCHEME)
    }

    fn reads_body(&self) -> bool {
        true
    }

    /// Cheap checks first: a malformed header or a timestamp outside the
    /// window is answered without reading the body.
    fn needs_body(&self, credential: &Credential, _: &Parts) -> bool {
        let window = self.inner.window.as_secs();
        match self.inner.state(credential) {
            Some(state) => state
                .params
                .as_ref()
                .is_ok_and(|parsed| check_window(parsed.ts(), state.parsed_at, window).is_ok()),
            None => params::parse_params(credential.value())
                .is_ok_and(|p| check_window(p.ts, self.inner.clock.unix_now(), window).is_ok()),
        }
    }

    /// Before the body is read: whether the `keyId` exists (from the cache
    /// when it knows, else one store read). An unknown key id is answered
    /// without buffering a body it could never verify.
    fn check_before_body(&self, credential: &Credential, _: &Parts) -> Option<PrecheckFuture> {
        let state = self.inner.state(credential)?;
        let parsed = state.params.as_ref().ok()?;
        let key_id = parsed.key_id_bytes(credential.value_bytes());
        // This thread's copy first: no shared-cache traffic per request.
        let known = self
            .inner
            .hot
            .get(state.slot, key_id, state.parsed_at, |found| found.is_some());
        if known == Some(true) {
            return None;
        }
        // Checked ASCII by the parse: only the rarer paths below need text.
        let key_id = std::str::from_utf8(key_id).ok()?;
        if known == Some(false) {
            return Some(Box::pin(std::future::ready(Err(AuthError::new(
                ErrorKind::UnknownKey,
            )
            .with_credential_id(key_id)))));
        }
        match self.inner.secrets.cached(key_id) {
            Some(Ok(_)) => None,
            Some(Err(error)) => Some(Box::pin(std::future::ready(Err(error)))),
            None => {
                let inner = Arc::clone(&self.inner);
                let key_id = key_id.to_owned();
                Some(Box::pin(async move {
                    inner.secrets.find(&key_id).await.map(|_| ())
                }))
            }
        }
    }

    fn verify(&self, credential: &Credential, ctx: &VerifyContext<'_>) -> Verification {
        let invalid = |why: &'static str| {
            Verification::ready(Err(
                AuthError::new(ErrorKind::InvalidFormat).with_description(why)
            ))
        };
        let (params, slot) = match self.inner.params_of(credential) {
            Ok(found) => found,
            Err(e) => return invalid(e.description()),
        };
        let with_id = |e: AuthError| e.with_credential_id(params.key_id);
        // One clock reading for the window and the rotation deadlines.
        let now = self.inner.clock.now();
        let secs = unix_secs(now);
        if let Err(e) = check_window(params.ts, secs, self.inner.window.as_secs()) {
            return Verification::ready(Err(with_id(e)));
        }
        if !self
            .inner
            .required_headers
            .iter()
            .all(|h| params.headers.contains(h.as_str()))
        {
            return invalid("a header this server requires is not signed");
        }
        let body = match body_of(ctx) {
            Ok(body) => body,
            Err(e) => return Verification::ready(Err(e)),
        };
        let parts = ctx.parts();
        let signed = Signed {
            key_id: params.key_id,
            headers: params.headers,
            ts: params.ts_text,
            nonce: params.nonce,
        };
        let judged = Judged::from(&params);
        // With a cached record: the answer, with no I/O.
        let decide_cached = |canonical: &str| {
            self.inner
                .judge_cached(&judged, slot, canonical, (now, secs))
                .map(|judged_now| match judged_now {
                    Ok(principal) => self.inner.admit(&judged, principal),
                    Err(e) => Verification::ready(Err(e)),
                })
        };
        // The canonical string goes into this thread's buffer: a cached
        // record needs no I/O, so the request is decided on the spot,
        // without boxing and without allocating.
        let on_the_spot = CANONICAL.try_with(|buffer| {
            let mut buffer = buffer.try_borrow_mut().ok()?;
            let written = write_canonical_string(
                &mut buffer,
                &parts.method,
                &parts.uri,
                &parts.headers,
                signed,
                body,
            );
            let decided = match written {
                Err(e) => Ok(invalid(e.description())),
                // The store must be asked: the string goes with it.
                Ok(()) => decide_cached(&buffer).ok_or_else(|| buffer.clone()),
            };
            if buffer.capacity() > MAX_KEPT_CANONICAL {
                *buffer = String::new();
            }
            Some(decided)
        });
        let canonical = match on_the_spot {
            Ok(Some(Ok(decided))) => return decided,
            Ok(Some(Err(canonical))) => canonical,
            // No buffer on this thread (being torn down, or in use).
            _ => match canonical_string(&parts.method, &parts.uri, &parts.headers, signed, body) {
                Ok(text) => match decide_cached(&text) {
                    Some(decided) => return decided,
                    None => text,
                },
                Err(e) => return invalid(e.description()),
            },
        };
        let claim = Claim {
            key_id: params.key_id.to_owned(),
            nonce: params.nonce.to_owned(),
            ts: params.ts,
            signature: params.signature,
        };
        let inner = Arc::clone(&self.inner);
        Verification::pending(async move { inner.check(claim, canonical).await })
    }
}

/// The parameters judging reads.
struct Judged<'a> {
    key_id: &'a str,
    nonce: &'a str,
    ts: u64,
    signature: &'a [u8; 32],
}

impl<'a> From<&'a Params<'a>> for Judged<'a> {
    fn from(params: &'a Params<'a>) -> Self {
        Self {
            key_id: params.key_id,
            nonce: params.nonce,
            ts: params.ts,
            signature: &params.signature,
        }
    }
}

impl<S> fmt::Debug for HmacScheme<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacScheme")
            .field("window", &self.inner.window)
            .field("required_headers", &self.inner.required_headers)
            .field("replay", &self.inner.replay)
            .finish_non_exhaustive()
    }
}
