//! [`WebhookSigner`]: signs deliveries the way GitHub, Stripe and Slack do.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderValue, Request};
use ring::hmac;

use crate::hmac::encoding::hex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provider {
    Github,
    Stripe,
    Slack,
}

/// Signs a request's body as a webhook provider does, for the matching
/// [`GithubWebhook`](crate::hmac::GithubWebhook),
/// [`StripeWebhook`](crate::hmac::StripeWebhook) and
/// [`SlackWebhook`](crate::hmac::SlackWebhook) schemes. Signed requests and
/// RFC 9421 signatures have real signers already, re-exported here as
/// [`HmacSigner`](super::HmacSigner) and [`HttpSigner`](super::HttpSigner).
///
/// ```
/// use authgate::testing::WebhookSigner;
///
/// let mut request = http::Request::post("/webhooks/github").body(b"{}".to_vec()).unwrap();
/// WebhookSigner::github("It's a Secret to Everybody").sign(&mut request);
/// assert!(request.headers()["x-hub-signature-256"].to_str().unwrap().starts_with("sha256="));
/// ```
#[derive(Clone)]
pub struct WebhookSigner {
    provider: Provider,
    key: hmac::Key,
}

impl WebhookSigner {
    /// `X-Hub-Signature-256: sha256=<hex HMAC of the body>`.
    #[must_use]
    pub fn github(secret: impl AsRef<[u8]>) -> Self {
        Self::new(Provider::Github, secret.as_ref())
    }

    /// `Stripe-Signature: t=<time>,v1=<hex HMAC of "<time>.<body>">`.
    #[must_use]
    pub fn stripe(secret: impl AsRef<[u8]>) -> Self {
        Self::new(Provider::Stripe, secret.as_ref())
    }

    /// `X-Slack-Request-Timestamp: <time>` and `X-Slack-Signature:
    /// v0=<hex HMAC of "v0:<time>:<body>">`.
    #[must_use]
    pub fn slack(secret: impl AsRef<[u8]>) -> Self {
        Self::new(Provider::Slack, secret.as_ref())
    }

    fn new(provider: Provider, secret: &[u8]) -> Self {
        Self {
            provider,
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// Signs `request` now.
    pub fn sign<B: AsRef<[u8]>>(&self, request: &mut Request<B>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.sign_at(request, now);
    }

    /// Signs `request` as if at `unix_secs` (GitHub's signature has no
    /// time): for replay-window tests and manual clocks.
    ///
    /// ```
    /// use authgate::testing::WebhookSigner;
    ///
    /// let mut request = http::Request::post("/").body("payload").unwrap();
    /// WebhookSigner::stripe("whsec_test").sign_at(&mut request, 1_700_000_000);
    /// assert!(request.headers()["stripe-signature"].to_str().unwrap().starts_with("t=1700000000,v1="));
    /// ```
    pub fn sign_at<B: AsRef<[u8]>>(&self, request: &mut Request<B>, unix_secs: u64) {
        let body = request.body().as_ref();
        let time = unix_secs.to_string();
        let tag = |parts: &[&[u8]]| {
            let mut context = hmac::Context::with_key(&self.key);
            for part in parts {
                context.update(part);
            }
            hex(context.sign().as_ref())
        };
        let headers: Vec<(&'static str, String)> = match self.provider {
            Provider::Github => vec![("x-hub-signature-256", format!("sha256={}", tag(&[body])))],
            Provider::Stripe => vec![(
                "stripe-signature",
                format!("t={time},v1={}", tag(&[time.as_bytes(), b".", body])),
            )],
            Provider::Slack => vec![
                ("x-slack-request-timestamp", time.clone()),
                (
                    "x-slack-signature",
                    format!("v0={}", tag(&[b"v0:", time.as_bytes(), b":", body])),
                ),
            ],
        };
        for (name, value) in headers {
            // Hex digits, digits and ASCII punctuation: always a valid value.
            if let Ok(value) = HeaderValue::from_str(&value) {
                request.headers_mut().insert(name, value);
            }
        }
    }
}

impl fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSigner")
            .field("provider", &self.provider)
            .field("secret", &"<redacted>")
            .finish()
    }
}
