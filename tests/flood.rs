//! Memory bounds (issue 8): a million distinct invalid credentials against
//! each bounded cache, through the real `AuthLayer`, leave every cache at or
//! under its configured capacity. Entry counts are read through the
//! schemes' own inspection methods, during the flood and after it.
#![cfg(all(feature = "api-key", feature = "hmac", feature = "jwt"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::clock::ManualClock;
use authgate::hmac::{HmacKey, HmacScheme, InMemorySecretStore, ReplayCache, SecretRecord, Signer};
use authgate::jwt::{Issuer, JwtKey, JwtScheme};
use authgate::request_body::Buffered;
use authgate::{AuthLayer, Scopes};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower::{service_fn, ServiceBuilder, ServiceExt};

/// Distinct credentials per cache.
const FLOOD: u64 = 1_000_000;
/// Concurrent senders: the caches are hit from every worker thread.
const SENDERS: u64 = 4;
/// How often (in requests per sender) the entry count is checked mid-flood.
const CHECK_EVERY: u64 = 50_000;
const CAPACITY: u64 = 1_000;
const NOW: u64 = 1_800_000_000;

type Body = Full<Bytes>;

/// A layer of `scheme` alone, reading bodies for the schemes that sign them.
fn buffered(scheme: impl authgate::Scheme) -> AuthLayer<Buffered> {
    AuthLayer::builder()
        .scheme(scheme)
        .with_request_bodies()
        .build()
        .unwrap()
}

async fn status(layer: &AuthLayer<Buffered>, request: Request<Body>) -> u16 {
    ServiceBuilder::new()
        .layer(layer.clone())
        .service(service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::default()))
        }))
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Sends request `i` for every `i` in `0..FLOOD` from [`SENDERS`] tasks;
/// `send(i)` returns the status, which must be one of `allowed`; `count()`
/// is checked against [`CAPACITY`] along the way and at the end.
async fn flood<S, SF, C, CF>(send: S, allowed: &'static [u16], count: C)
where
    S: Fn(u64) -> SF + Send + Sync + 'static,
    SF: Future<Output = u16> + Send,
    C: Fn() -> CF + Send + Sync + 'static,
    CF: Future<Output = u64> + Send,
{
    let send = Arc::new(send);
    let count = Arc::new(count);
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let (send, count) = (Arc::clone(&send), Arc::clone(&count));
            tokio::spawn(async move {
                for n in 0..FLOOD / SENDERS {
                    let status = send(n * SENDERS + sender).await;
                    assert!(allowed.contains(&status), "request {n}: {status}");
                    if n % CHECK_EVERY == 0 {
                        let held = count().await;
                        assert!(held <= CAPACITY, "{held} entries mid-flood");
                    }
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    let held = count().await;
    assert!(held <= CAPACITY, "{held} entries after the flood");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_unknown_api_keys_stay_within_the_lookup_cache() {
    let scheme = ApiKeyScheme::builder(InMemoryKeyStore::new())
        .prefix("sk_live")
        .cache_capacity(CAPACITY)
        .build()
        .unwrap();
    let layer = buffered(scheme.clone());
    let generator = Arc::new(ApiKeyGenerator::new("sk_live").unwrap());
    // Well-formed keys with valid checksums, never stored: each is a store
    // miss the negative cache would remember.
    let send = move |_| {
        let (layer, generator) = (layer.clone(), Arc::clone(&generator));
        async move {
            let key = generator.generate("nobody", Scopes::empty()).unwrap();
            let request = Request::get("/")
                .header("x-api-key", key.plaintext().expose())
                .body(Body::default())
                .unwrap();
            status(&layer, request).await
        }
    };
    let count = move || {
        let scheme = scheme.clone();
        async move { scheme.cached_entries().await }
    };
    flood(send, &[401], count).await;
}

/// A native HMAC layer over one known key, with a shared replay cache.
fn hmac_layer(replay: &ReplayCache) -> (HmacScheme<InMemorySecretStore>, AuthLayer<Buffered>) {
    let store = InMemorySecretStore::new();
    store.insert(SecretRecord::new(
        "partner-1",
        HmacKey::new("s3cr3t"),
        "acct_7",
    ));
    let scheme = HmacScheme::builder(store)
        .clock(ManualClock::at_unix(NOW))
        .cache_capacity(CAPACITY)
        .replay_cache(replay.clone())
        .build()
        .unwrap();
    let layer = buffered(scheme.clone());
    (scheme, layer)
}

fn signed(key_id: &str, secret: &str, nonce: &str) -> Request<Body> {
    let mut request = Request::post("https://api.test/orders")
        .body(Bytes::from_static(b"{}"))
        .unwrap();
    Signer::new(key_id, HmacKey::new(secret))
        .unwrap()
        .sign_at(&mut request, NOW, nonce)
        .unwrap();
    request.map(Full::new)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_unknown_hmac_key_ids_stay_within_the_lookup_cache() {
    let replay = ReplayCache::new(CAPACITY, Duration::from_secs(601));
    let (scheme, layer) = hmac_layer(&replay);
    let send = move |i: u64| {
        let layer = layer.clone();
        async move { status(&layer, signed(&format!("ghost-{i}"), "guess", "n-1")).await }
    };
    let count = move || {
        let scheme = scheme.clone();
        async move { scheme.cached_entries().await }
    };
    flood(send, &[401], count).await;
    assert!(
        replay.is_empty(),
        "unverified requests leave no nonce behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_fresh_nonces_fill_the_replay_cache_to_its_capacity_and_no_further() {
    // Nonces outlive the flood, however slow the machine: the manual clock
    // stands still at `NOW`, so once a nonce signed at `NOW` is forgotten
    // every later request signed at `NOW` is refused as older than it (the
    // replay cache's defence against wall clocks stepped back).
    let replay = ReplayCache::new(CAPACITY, Duration::from_secs(24 * 3600));
    let (_, layer) = hmac_layer(&replay);
    let send = move |i: u64| {
        let layer = layer.clone();
        async move { status(&layer, signed("partner-1", "s3cr3t", &format!("n-{i}"))).await }
    };
    let held = replay.clone();
    let count = move || {
        let held = held.clone();
        async move { held.len() }
    };
    // The first CAPACITY are admitted; then the cache fails closed (503)
    // rather than forget a nonce still inside its window.
    flood(send, &[200, 503], count).await;
    assert_eq!(replay.len(), CAPACITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_forged_tokens_never_enter_the_token_cache() {
    let secret = [7u8; 32];
    let scheme = JwtScheme::builder()
        .issuer(
            Issuer::new("https://issuer.test")
                .audience("api")
                .key(JwtKey::shared_secret(&secret).unwrap()),
        )
        .clock(ManualClock::at_unix(NOW))
        .token_cache_capacity(CAPACITY)
        .build()
        .unwrap();
    let layer = buffered(scheme.clone());
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let signature = URL_SAFE_NO_PAD.encode([0u8; 32]);
    // Distinct, well-formed, unexpired tokens with a wrong signature.
    let send = move |i: u64| {
        let layer = layer.clone();
        let claims = format!(
            r#"{{"iss":"https://issuer.test","aud":"api","sub":"mallory","exp":{},"jti":"f-{i}"}}"#,
            NOW + 3600
        );
        let token = format!("{header}.{}.{signature}", URL_SAFE_NO_PAD.encode(claims));
        async move {
            let request = Request::get("/")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::default())
                .unwrap();
            status(&layer, request).await
        }
    };
    let count = move || {
        let scheme = scheme.clone();
        async move { scheme.cached_tokens() }
    };
    flood(send, &[401], count).await;
}
