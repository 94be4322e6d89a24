//! The `layer` fuzz target's harness, shared with
//! `tests/fuzz_regressions.rs`: a whole request through an `AuthLayer`
//! holding every scheme, as a server would send it.
//!
//! Input: the first line is the path and query, each following line up to
//! an empty one is a `name: value` header, the rest is the body. Any input
//! must be answered with one of the statuses the layer documents, without a
//! panic.

use std::convert::Infallible;
use std::sync::LazyLock;

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::clock::ManualClock;
use authgate::hmac::{
    GithubWebhook, HmacKey, HmacScheme, HttpSignatureScheme, InMemorySecretStore, SecretRecord,
    SlackWebhook, StripeWebhook, WebhookSecrets,
};
use authgate::jwt::{Issuer, JwtKey, JwtScheme};
use authgate::request_body::Buffered;
use authgate::{AuthLayer, Scopes};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::Full;
use tower::{service_fn, ServiceBuilder, ServiceExt};

const NOW: u64 = 1_800_000_000;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
});

static LAYER: LazyLock<AuthLayer<Buffered>> = LazyLock::new(|| {
    let keys = InMemoryKeyStore::new();
    let key = ApiKeyGenerator::new("sk_live")
        .unwrap()
        .generate("acct_42", Scopes::parse("orders:read"))
        .unwrap();
    keys.insert(key.record().clone());
    let secrets = InMemorySecretStore::new();
    secrets.insert(SecretRecord::new(
        "partner-1",
        HmacKey::new("s3cr3t"),
        "acct_7",
    ));
    let clock = ManualClock::at_unix(NOW);
    let jwt = JwtScheme::builder()
        .issuer(
            Issuer::new("https://issuer.test")
                .audience("api")
                .key(JwtKey::shared_secret(&[7u8; 32]).unwrap()),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    let hmac = HmacScheme::builder(secrets.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let httpsig = HttpSignatureScheme::builder(secrets)
        .clock(clock)
        .build()
        .unwrap();
    AuthLayer::builder()
        .scheme(ApiKeyScheme::new(keys, "sk_live").unwrap())
        .scheme(jwt)
        .scheme(hmac)
        .scheme(httpsig)
        .scheme(GithubWebhook::new(WebhookSecrets::single("whsec")))
        .scheme(StripeWebhook::new(WebhookSecrets::single("whsec")))
        .scheme(SlackWebhook::new(WebhookSecrets::single("whsec")))
        .with_request_bodies()
        .max_body_size(4096)
        .build()
        .unwrap()
});

fn request(data: &[u8]) -> Option<Request<Full<Bytes>>> {
    let mut lines = data.split(|&b| b == b'\n');
    let target = std::str::from_utf8(lines.next()?).ok()?;
    let mut builder = Request::post(format!("https://api.test{target}"));
    let mut consumed = target.len() + 1;
    for line in lines.by_ref() {
        consumed += line.len() + 1;
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = (line.get(..colon)?, line.get(colon + 1..)?);
        let name = HeaderName::from_bytes(name).ok()?;
        let value = HeaderValue::from_bytes(value.trim_ascii_start()).ok()?;
        builder = builder.header(name, value);
    }
    let body = Bytes::copy_from_slice(data.get(consumed..).unwrap_or_default());
    builder.body(Full::new(body)).ok()
}

/// Sends `data`, read as a request, through the layer.
pub(crate) fn run(data: &[u8]) {
    let Some(request) = request(data) else { return };
    let service = ServiceBuilder::new()
        .layer(LAYER.clone())
        .service(service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }));
    let response = RUNTIME.block_on(service.oneshot(request)).unwrap();
    let status = response.status().as_u16();
    assert!(
        matches!(status, 200 | 400 | 401 | 403 | 413 | 503),
        "unexpected status {status}"
    );
}
