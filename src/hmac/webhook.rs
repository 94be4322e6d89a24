//! Webhook presets: GitHub, Stripe and Slack signatures over the raw body.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::encoding::{body_of, check_window, hex, parse_timestamp, unhex};
use super::secrets::{match_keys, KeyMatch, WebhookSecrets};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::replay::{Nonce, ReplayCache, ReplayCheck, ReplayStore, SharedReplayStore};
use http::request::Parts;

use crate::credentials::{Credential, CredentialLocation};
use crate::error::{AuthError, ErrorKind};
use crate::principal::Principal;
use crate::scheme::{Challenge, PrecheckFuture, Scheme, Verification, VerifyContext};

/// The header GitHub signs deliveries in.
const GITHUB_HEADER: HeaderName = HeaderName::from_static("x-hub-signature-256");
/// The header Stripe signs events in.
const STRIPE_HEADER: HeaderName = HeaderName::from_static("stripe-signature");
/// Slack's signature and timestamp headers.
const SLACK_HEADER: HeaderName = HeaderName::from_static("x-slack-signature");
const SLACK_TIMESTAMP: HeaderName = HeaderName::from_static("x-slack-request-timestamp");

/// Stripe may list several `v1` signatures (one per active secret); more
/// than this is not a Stripe header.
const MAX_STRIPE_SIGNATURES: usize = 8;

/// What every preset holds.
#[derive(Clone)]
struct Preset {
    secrets: WebhookSecrets,
    clock: SharedClock,
    tolerance: Duration,
    subject: Arc<str>,
    replay: Option<SharedReplayStore>,
}

/// A delivery whose signature verified, and the check of its digest in the
/// replay store, if the endpoint has one.
struct Signed {
    principal: Principal,
    replay: Option<ReplayCheck>,
}

impl Preset {
    fn new(secrets: WebhookSecrets, subject: &str) -> Self {
        Self {
            secrets,
            clock: Arc::new(SystemClock),
            tolerance: Duration::from_secs(300),
            subject: subject.into(),
            replay: None,
        }
    }

    /// A pre-check refusing a timestamp outside the window before the body
    /// is read; `None` when the timestamp is fine (or unreadable: `verify`
    /// then says why).
    fn window_precheck(&self, timestamp: Option<u64>) -> Option<PrecheckFuture> {
        let error =
            check_window(timestamp?, self.clock.unix_now(), self.tolerance.as_secs()).err()?;
        Some(Box::pin(std::future::ready(Err(error))))
    }

    /// Checks the timestamp window, then `tag` = HMAC-SHA256(secret,
    /// `message`) for every secret.
    fn verify(
        &self,
        scheme: &'static str,
        timestamp: Option<u64>,
        message: &[&[u8]],
        tags: &[[u8; 32]],
    ) -> Result<Signed, AuthError> {
        let now = self.clock.now();
        if let Some(ts) = timestamp {
            let now_secs = self.clock.unix_now();
            check_window(ts, now_secs, self.tolerance.as_secs())?;
        }
        let keys = self.secrets.snapshot();
        let matched = match_keys(&keys, now, |key| {
            let mut ctx = ring::hmac::Context::with_key(key.ring_key());
            for part in message {
                ctx.update(part);
            }
            let expected = ctx.sign();
            // Compare with every presented tag, in constant time each.
            tags.iter().fold(false, |found, tag| {
                found | bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_ref(), &tag[..]))
            })
        });
        match matched {
            KeyMatch::Current => {
                let replay = self.replay.as_ref().map(|store| {
                    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
                    for part in message {
                        digest.update(part);
                    }
                    let digest = hex(digest.finish().as_ref());
                    // As long as the timestamp can pass the window.
                    let ttl = self.tolerance.saturating_mul(2) + Duration::from_secs(1);
                    store.admit_nonce(&Nonce::new(scheme, &self.subject, &digest, ttl))
                });
                Ok(Signed {
                    principal: Principal::new(&*self.subject, scheme),
                    replay,
                })
            }
            KeyMatch::Retired => Err(AuthError::new(ErrorKind::Rotated)
                .with_description("the webhook was signed with a secret that was rotated out")),
            KeyMatch::None => Err(AuthError::new(ErrorKind::BadSignature)
                .with_description("the webhook signature does not match")),
        }
    }
}

/// The answer for a delivery: at once, or once a remote replay store
/// answered.
fn decide(signed: Result<Signed, AuthError>) -> Verification {
    let Signed { principal, replay } = match signed {
        Ok(signed) => signed,
        Err(e) => return Verification::ready(Err(e)),
    };
    match replay.map(ReplayCheck::into_ready) {
        None => Verification::ready(Ok(principal)),
        Some(Ok(result)) => Verification::ready(result.map(|()| principal)),
        Some(Err(pending)) => {
            Verification::pending(async move { pending.await.map(|()| principal) })
        }
    }
}

fn malformed(what: &'static str) -> AuthError {
    AuthError::new(ErrorKind::InvalidFormat).with_description(what)
}

macro_rules! preset_setters {
    ($ty:ident, $example:literal) => {
        impl $ty {
            /// The clock timestamps are checked against. Defaults to the
            /// system clock.
            ///
            /// ```
            #[doc = $example]
            /// let scheme = scheme.clock(authgate::clock::ManualClock::at_unix(1_700_000_000));
            /// # let _ = scheme;
            /// ```
            #[must_use]
            pub fn clock(mut self, clock: impl Clock) -> Self {
                self.preset.clock = Arc::new(clock);
                self
            }

            /// The subject of the principal a verified delivery carries.
            /// Defaults to the provider's name.
            ///
            /// ```
            #[doc = $example]
            /// let scheme = scheme.subject("billing-events");
            /// # let _ = scheme;
            /// ```
            #[must_use]
            pub fn subject(mut self, subject: &str) -> Self {
                self.preset.subject = subject.into();
                self
            }

            /// Rejects a second delivery of the same signed message (same
            /// timestamp and body) with 401 `replayed` while `cache`
            /// remembers it; give the cache a TTL of at least twice the
            /// tolerance. Defaults to none: the tolerance window alone
            /// bounds replays (and GitHub, which signs no timestamp, is not
            /// bounded at all).
            ///
            /// ```
            #[doc = $example]
            /// let cache = authgate::hmac::ReplayCache::new(10_000, std::time::Duration::from_secs(600));
            /// let scheme = scheme.replay_cache(cache);
            /// # let _ = scheme;
            /// ```
            #[must_use]
            pub fn replay_cache(self, cache: ReplayCache) -> Self {
                self.replay_store(cache)
            }

            /// Rejects a second delivery of the same signed message in
            /// `store`, which every copy of the receiver may share (a
            /// `RedisReplayStore`, feature `redis`): a delivery is then
            /// accepted once behind a load balancer. Each message is kept
            /// `2 × tolerance + 1 s`. Defaults to none.
            ///
            /// ```
            #[doc = $example]
            /// let store = authgate::replay::ReplayCache::new(10_000, std::time::Duration::from_secs(601));
            /// let scheme = scheme.replay_store(store);
            /// # let _ = scheme;
            /// ```
            #[must_use]
            pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
                self.preset.replay = Some(Arc::new(store));
                self
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("secrets", &self.preset.secrets)
                    .field("tolerance", &self.preset.tolerance)
                    .field("subject", &self.preset.subject)
                    .finish_non_exhaustive()
            }
        }
    };
}

/// GitHub webhooks: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret,
/// raw body)>`.
///
/// GitHub signs no timestamp, so a captured delivery can be replayed;
/// deduplicate on the `X-GitHub-Delivery` id in the handler if that matters.
///
/// # Example
///
/// The test values from GitHub's documentation:
///
/// ```
/// use authgate::hmac::{GithubWebhook, WebhookSecrets};
/// use authgate::AuthLayer;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// use bytes::Bytes;
/// use http_body_util::Full;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let layer = AuthLayer::builder()
///     .scheme(GithubWebhook::new(WebhookSecrets::single("It's a Secret to Everybody")))
///     .with_request_bodies()
///     .build()?;
/// let service = ServiceBuilder::new().layer(layer).service(service_fn(|_req: http::Request<Full<Bytes>>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// }));
///
/// let delivery = http::Request::post("/webhooks/github")
///     .header("x-hub-signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
///     .body(Full::new(Bytes::from("Hello, World!")))?;
/// assert_eq!(service.oneshot(delivery).await?.status(), 200);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct GithubWebhook {
    preset: Preset,
}

impl GithubWebhook {
    /// Verifies deliveries signed with any of `secrets`.
    #[must_use]
    pub fn new(secrets: WebhookSecrets) -> Self {
        Self {
            preset: Preset::new(secrets, "github"),
        }
    }
}

preset_setters!(
    GithubWebhook,
    "# let scheme = authgate::hmac::GithubWebhook::new(authgate::hmac::WebhookSecrets::single(\"s\"));"
);

impl Scheme for GithubWebhook {
    fn name(&self) -> &'static str {
        "github"
    }

    fn locations(&self) -> Vec<CredentialLocation> {
        vec![CredentialLocation::Header(GITHUB_HEADER)]
    }

    fn challenge(&self) -> Challenge {
        Challenge::new("X-Hub-Signature-256")
    }

    fn reads_body(&self) -> bool {
        true
    }

    /// A malformed header is answered without reading the body.
    fn needs_body(&self, credential: &Credential, _: &Parts) -> bool {
        credential
            .value()
            .strip_prefix("sha256=")
            .and_then(unhex::<32>)
            .is_some()
    }

    fn verify(&self, credential: &Credential, ctx: &VerifyContext<'_>) -> Verification {
        let result = (|| {
            let tag = credential
                .value()
                .strip_prefix("sha256=")
                .and_then(unhex::<32>)
                .ok_or_else(|| malformed("X-Hub-Signature-256 is not sha256=<64 hex digits>"))?;
            let body = body_of(ctx)?;
            self.preset.verify("github", None, &[body], &[tag])
        })();
        decide(result)
    }
}

/// Stripe webhooks: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, each
/// `v1` an HMAC-SHA256 of `<t>.<raw body>`; other schemes (`v0`) are
/// ignored. The timestamp must be within the tolerance of now, in either
/// direction.
///
/// # Example
///
/// ```
/// use authgate::hmac::{StripeWebhook, WebhookSecrets};
/// use std::time::Duration;
///
/// let scheme = StripeWebhook::new(WebhookSecrets::single("whsec_test"))
///     .tolerance(Duration::from_secs(300));
/// let layer = authgate::AuthLayer::builder().scheme(scheme).with_request_bodies().build().unwrap();
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct StripeWebhook {
    preset: Preset,
}

impl StripeWebhook {
    /// Verifies events signed with any of `secrets` (your endpoint's
    /// `whsec_…` signing secrets, used as given).
    #[must_use]
    pub fn new(secrets: WebhookSecrets) -> Self {
        Self {
            preset: Preset::new(secrets, "stripe"),
        }
    }

    /// How far `t` may be from now, either way. Defaults to 300 seconds,
    /// like Stripe's libraries.
    ///
    /// ```
    /// # let scheme = authgate::hmac::StripeWebhook::new(authgate::hmac::WebhookSecrets::single("s"));
    /// let scheme = scheme.tolerance(std::time::Duration::from_secs(60));
    /// # let _ = scheme;
    /// ```
    #[must_use]
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.preset.tolerance = tolerance;
        self
    }
}

preset_setters!(
    StripeWebhook,
    "# let scheme = authgate::hmac::StripeWebhook::new(authgate::hmac::WebhookSecrets::single(\"s\"));"
);

/// `t` and the `v1` signatures of a `Stripe-Signature` header.
pub(crate) fn parse_stripe(value: &str) -> Result<(u64, Vec<[u8; 32]>), AuthError> {
    let bad = || malformed("Stripe-Signature is not t=<unix>,v1=<hex>[,v1=<hex>]");
    let mut timestamp = None;
    let mut tags = Vec::new();
    for item in value.split(',') {
        let (key, val) = item.trim().split_once('=').ok_or_else(bad)?;
        match key {
            "t" if timestamp.is_none() => timestamp = Some(parse_timestamp(val).ok_or_else(bad)?),
            "t" => return Err(bad()),
            "v1" => {
                if tags.len() == MAX_STRIPE_SIGNATURES {
                    return Err(bad());
                }
                tags.push(unhex::<32>(val).ok_or_else(bad)?);
            }
            _ => {}
        }
    }
    match timestamp {
        Some(t) if !tags.is_empty() => Ok((t, tags)),
        _ => Err(bad()),
    }
}

impl Scheme for StripeWebhook {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn locations(&self) -> Vec<CredentialLocation> {
        vec![CredentialLocation::Header(STRIPE_HEADER)]
    }

    fn challenge(&self) -> Challenge {
        Challenge::new("Stripe-Signature")
    }

    fn reads_body(&self) -> bool {
        true
    }

    /// A malformed header is answered without reading the body.
    fn needs_body(&self, credential: &Credential, _: &Parts) -> bool {
        parse_stripe(credential.value()).is_ok()
    }

    /// A `t=` outside the tolerance is refused before the body is read.
    fn check_before_body(&self, credential: &Credential, _: &Parts) -> Option<PrecheckFuture> {
        let timestamp = parse_stripe(credential.value()).ok().map(|(t, _)| t);
        self.preset.window_precheck(timestamp)
    }

    fn verify(&self, credential: &Credential, ctx: &VerifyContext<'_>) -> Verification {
        let result = (|| {
            let (t, tags) = parse_stripe(credential.value())?;
            let body = body_of(ctx)?;
            let t_text = t.to_string();
            self.preset
                .verify("stripe", Some(t), &[t_text.as_bytes(), b".", body], &tags)
        })();
        decide(result)
    }
}

/// Slack requests: `X-Slack-Signature: v0=<hex>` with
/// `X-Slack-Request-Timestamp: <unix>`, an HMAC-SHA256 of
/// `v0:<timestamp>:<raw body>`. The timestamp must be within the tolerance
/// of now, in either direction.
///
/// # Example
///
/// ```
/// use authgate::hmac::{SlackWebhook, WebhookSecrets};
///
/// let scheme = SlackWebhook::new(WebhookSecrets::single("8f742231b10e8888abcd99yyyzzz85a5"));
/// let layer = authgate::AuthLayer::builder().scheme(scheme).with_request_bodies().build().unwrap();
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct SlackWebhook {
    preset: Preset,
}

impl SlackWebhook {
    /// Verifies requests signed with any of `secrets` (your app's signing
    /// secret).
    #[must_use]
    pub fn new(secrets: WebhookSecrets) -> Self {
        Self {
            preset: Preset::new(secrets, "slack"),
        }
    }

    /// How far the timestamp may be from now, either way. Defaults to 300
    /// seconds, as Slack recommends.
    ///
    /// ```
    /// # let scheme = authgate::hmac::SlackWebhook::new(authgate::hmac::WebhookSecrets::single("s"));
    /// let scheme = scheme.tolerance(std::time::Duration::from_secs(60));
    /// # let _ = scheme;
    /// ```
    #[must_use]
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.preset.tolerance = tolerance;
        self
    }
}

preset_setters!(
    SlackWebhook,
    "# let scheme = authgate::hmac::SlackWebhook::new(authgate::hmac::WebhookSecrets::single(\"s\"));"
);

impl Scheme for SlackWebhook {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn locations(&self) -> Vec<CredentialLocation> {
        vec![CredentialLocation::Header(SLACK_HEADER)]
    }

    fn challenge(&self) -> Challenge {
        Challenge::new("X-Slack-Signature")
    }

    fn reads_body(&self) -> bool {
        true
    }

    /// A malformed signature header is answered without reading the body.
    fn needs_body(&self, credential: &Credential, _: &Parts) -> bool {
        credential
            .value()
            .strip_prefix("v0=")
            .and_then(unhex::<32>)
            .is_some()
    }

    /// An `X-Slack-Request-Timestamp` outside the tolerance is refused
    /// before the body is read.
    fn check_before_body(&self, _: &Credential, parts: &Parts) -> Option<PrecheckFuture> {
        let mut stamps = parts.headers.get_all(SLACK_TIMESTAMP).iter();
        let timestamp = match (stamps.next(), stamps.next()) {
            (Some(value), None) => value.to_str().ok().map(str::trim).and_then(parse_timestamp),
            _ => None,
        };
        self.preset.window_precheck(timestamp)
    }

    fn verify(&self, credential: &Credential, ctx: &VerifyContext<'_>) -> Verification {
        let result = (|| {
            let tag = credential
                .value()
                .strip_prefix("v0=")
                .and_then(unhex::<32>)
                .ok_or_else(|| malformed("X-Slack-Signature is not v0=<64 hex digits>"))?;
            let mut stamps = ctx.parts().headers.get_all(SLACK_TIMESTAMP).iter();
            let ts_text = match (stamps.next(), stamps.next()) {
                (Some(value), None) => value.to_str().ok().map(str::trim),
                _ => None,
            }
            .ok_or_else(|| malformed("X-Slack-Request-Timestamp is missing or repeated"))?;
            let ts = parse_timestamp(ts_text)
                .ok_or_else(|| malformed("X-Slack-Request-Timestamp is not a Unix timestamp"))?;
            let body = body_of(ctx)?;
            self.preset.verify(
                "slack",
                Some(ts),
                &[b"v0:", ts_text.as_bytes(), b":", body],
                &[tag],
            )
        })();
        decide(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_header_parsing() {
        let hex64 = "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd";
        let (t, tags) = parse_stripe(&format!("t=12,v1={hex64},v0=zz,v1={hex64}")).unwrap();
        assert_eq!((t, tags.len()), (12, 2));
        for bad in [
            "",
            "t=1",
            &format!("v1={hex64}"),
            &format!("t=1,t=2,v1={hex64}"),
            "t=x,v1=00",
        ] {
            assert!(parse_stripe(bad).is_err(), "{bad}");
        }
        let many = std::iter::repeat_n(format!("v1={hex64}"), 9)
            .collect::<Vec<_>>()
            .join(",");
        assert!(parse_stripe(&format!("t=1,{many}")).is_err());
    }
}
