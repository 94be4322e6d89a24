//! The native `HMAC-SHA256` scheme through the real layer, and a Rust
//! client signing requests to a real loopback server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use authgate::clock::ManualClock;
use authgate::hmac::{HmacKey, HmacScheme, InMemorySecretStore, SecretRecord, Signer};
use authgate::{AuthError, AuthLayer, ErrorKind, Principal};
use axum::body::Body;
use bytes::Bytes;
use http::{Request, StatusCode};
use support::{body_bytes, body_echo};
use tower::{Layer, Service, ServiceExt};

const NOW: u64 = 1_700_000_000;
const BODY: &str = r#"{"sku":"A-1","qty":2}"#;

fn store() -> InMemorySecretStore {
    let store = InMemorySecretStore::new();
    let mut record = SecretRecord::new("partner-1", HmacKey::new("s3cr3t"), "acct_42");
    record.scopes = authgate::Scopes::parse("orders:write");
    store.insert(record);
    store
}

fn signer() -> Signer {
    Signer::new("partner-1", HmacKey::new("s3cr3t"))
        .unwrap()
        .sign_header("host")
        .unwrap()
        .sign_header("content-type")
        .unwrap()
}

fn request(body: &'static str) -> Request<Bytes> {
    Request::post("/orders?z=1&a=2")
        .header("host", "api.example.com")
        .header("content-type", "application/json")
        .body(Bytes::from_static(body.as_bytes()))
        .unwrap()
}

fn signed(ts: u64, nonce: &str) -> Request<Bytes> {
    let mut req = request(BODY);
    signer().sign_at(&mut req, ts, nonce).unwrap();
    req
}

struct Harness {
    service: authgate::Auth<
        tower::util::BoxCloneService<Request<Body>, http::Response<Body>, std::convert::Infallible>,
        authgate::request_body::Buffered,
    >,
    calls: Arc<AtomicUsize>,
    clock: ManualClock,
}

fn harness(store: InMemorySecretStore) -> Harness {
    let clock = ManualClock::at_unix(NOW);
    let scheme = HmacScheme::builder(store)
        .clock(clock.clone())
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = AuthLayer::builder()
        .scheme(scheme)
        .with_request_bodies()
        .build()
        .unwrap();
    let inner = tower::util::BoxCloneService::new(body_echo(Arc::clone(&calls)));
    Harness {
        service: layer.layer(inner),
        calls,
        clock,
    }
}

impl Harness {
    async fn send(&mut self, request: Request<Bytes>) -> (StatusCode, Option<ErrorKind>, Bytes) {
        let response = self
            .service
            .ready()
            .await
            .unwrap()
            .call(request.map(Body::from))
            .await
            .unwrap();
        let kind = response
            .extensions()
            .get::<AuthError>()
            .map(AuthError::kind);
        (response.status(), kind, body_bytes(response).await)
    }
}

#[tokio::test]
async fn a_signed_request_passes_with_its_body_unchanged() {
    let mut h = harness(store());
    let (status, kind, body) = h.send(signed(NOW, "n-1")).await;
    assert_eq!((status, kind), (StatusCode::OK, None));
    assert_eq!(body, BODY);
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_principal_carries_subject_scopes_and_key_id() {
    let clock = ManualClock::at_unix(NOW);
    let layer = AuthLayer::builder()
        .scheme(HmacScheme::builder(store()).clock(clock).build().unwrap())
        .with_request_bodies()
        .build()
        .unwrap();
    let service = layer.layer(tower::service_fn(|req: Request<Body>| async move {
        let p = req.extensions().get::<Principal>().cloned().unwrap();
        let text = format!(
            "{} {} {}",
            p.subject(),
            p.scopes(),
            p.credential_id().unwrap_or("-")
        );
        Ok::<_, std::convert::Infallible>(http::Response::new(text))
    }));
    let response = service
        .oneshot(signed(NOW, "n-1").map(Body::from))
        .await
        .unwrap();
    assert_eq!(body_bytes(response).await, "acct_42 orders:write partner-1");
}

#[tokio::test]
async fn a_replayed_request_is_rejected() {
    let mut h = harness(store());
    assert_eq!(h.send(signed(NOW, "n-1")).await.0, StatusCode::OK);
    let (status, kind, _) = h.send(signed(NOW, "n-1")).await;
    assert_eq!(
        (status, kind),
        (StatusCode::UNAUTHORIZED, Some(ErrorKind::Replayed))
    );
    assert_eq!(h.send(signed(NOW, "n-2")).await.0, StatusCode::OK);
    assert_eq!(h.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn window_edges_are_accepted_and_one_second_past_is_not() {
    let mut h = harness(store());
    let cases = [
        (NOW - 300, None),
        (NOW + 300, None),
        (NOW - 301, Some(ErrorKind::Expired)),
        (NOW + 301, Some(ErrorKind::NotYetValid)),
    ];
    for (i, (ts, expect)) in cases.into_iter().enumerate() {
        let (_, kind, _) = h.send(signed(ts, &format!("edge-{i}"))).await;
        assert_eq!(kind, expect, "ts = now {:+}", ts as i64 - NOW as i64);
    }
    // The clock moves; the same timestamp leaves the window.
    h.clock.advance(Duration::from_secs(301));
    let (_, kind, _) = h.send(signed(NOW, "late")).await;
    assert_eq!(kind, Some(ErrorKind::Expired));
}

#[tokio::test]
async fn tampering_with_body_header_query_or_timestamp_breaks_the_signature() {
    let mut h = harness(store());

    let good = signed(NOW, "t-1");
    let (parts, _) = good.into_parts();
    let tampered_body =
        Request::from_parts(parts, Bytes::from_static(br#"{"sku":"A-1","qty":200}"#));
    assert_eq!(h.send(tampered_body).await.1, Some(ErrorKind::BadSignature));

    let mut tampered_header = signed(NOW, "t-2");
    tampered_header
        .headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    assert_eq!(
        h.send(tampered_header).await.1,
        Some(ErrorKind::BadSignature)
    );

    let (mut parts, body) = signed(NOW, "t-3").into_parts();
    parts.uri = "/orders?z=1&a=3".parse().unwrap();
    assert_eq!(
        h.send(Request::from_parts(parts, body)).await.1,
        Some(ErrorKind::BadSignature)
    );

    let mut moved = signed(NOW, "t-4");
    let auth = moved.headers()["authorization"]
        .to_str()
        .unwrap()
        .replace("ts=\"1700000000\"", "ts=\"1700000001\"");
    moved
        .headers_mut()
        .insert("authorization", auth.parse().unwrap());
    assert_eq!(h.send(moved).await.1, Some(ErrorKind::BadSignature));

    let mut other_key = signed(NOW, "t-5");
    let auth = other_key.headers()["authorization"]
        .to_str()
        .unwrap()
        .replace("partner-1", "partner-2");
    other_key
        .headers_mut()
        .insert("authorization", auth.parse().unwrap());
    assert_eq!(h.send(other_key).await.1, Some(ErrorKind::UnknownKey));

    // A signed header removed from the request.
    let mut dropped = signed(NOW, "t-6");
    dropped.headers_mut().remove("content-type");
    let (status, kind, _) = h.send(dropped).await;
    assert_eq!(
        (status, kind),
        (StatusCode::UNAUTHORIZED, Some(ErrorKind::InvalidFormat))
    );

    assert_eq!(h.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_wrong_secret_for_a_known_key_id_is_a_bad_signature() {
    let mut h = harness(store());
    let mut req = request(BODY);
    Signer::new("partner-1", HmacKey::new("guess"))
        .unwrap()
        .sign_at(&mut req, NOW, "w-1")
        .unwrap();
    assert_eq!(h.send(req).await.1, Some(ErrorKind::BadSignature));
}

#[tokio::test]
async fn rotation_keeps_the_old_secret_for_its_grace_period() {
    let store = store();
    let mut h = harness(store.clone());
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    assert!(store.rotate(
        "partner-1",
        HmacKey::new("n3w"),
        Duration::from_secs(60),
        now
    ));
    let new_signer = Signer::new("partner-1", HmacKey::new("n3w")).unwrap();
    let sign_new = |nonce: &str| {
        let mut req = request(BODY);
        new_signer.sign_at(&mut req, NOW + 60, nonce).unwrap();
        req
    };
    assert_eq!(h.send(signed(NOW, "r-1")).await.0, StatusCode::OK);
    h.clock.advance(Duration::from_secs(60));
    assert_eq!(h.send(sign_new("r-2")).await.0, StatusCode::OK);
    assert_eq!(
        h.send(signed(NOW + 60, "r-3")).await.1,
        Some(ErrorKind::Rotated)
    );
}

#[tokio::test]
async fn revoked_keys_and_malformed_headers_are_rejected() {
    let store = store();
    store.revoke("partner-1");
    let mut h = harness(store);
    assert_eq!(h.send(signed(NOW, "v-1")).await.1, Some(ErrorKind::Revoked));

    let mut h = harness(InMemorySecretStore::new());
    let mut req = request(BODY);
    req.headers_mut()
        .insert("authorization", "HMAC-SHA256 keyId=x".parse().unwrap());
    let (status, kind, _) = h.send(req).await;
    assert_eq!(
        (status, kind),
        (StatusCode::UNAUTHORIZED, Some(ErrorKind::InvalidFormat))
    );
}

#[tokio::test]
async fn an_empty_body_is_signed_as_the_hash_of_nothing() {
    let mut h = harness(store());
    let mut req = Request::get("/orders")
        .header("host", "api.example.com")
        .header("content-type", "application/json")
        .body(Bytes::new())
        .unwrap();
    signer().sign_at(&mut req, NOW, "e-1").unwrap();
    assert_eq!(h.send(req).await.0, StatusCode::OK);
}

#[tokio::test]
async fn oversized_signed_body_is_413_without_calling_the_handler() {
    let clock = ManualClock::at_unix(NOW);
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = AuthLayer::builder()
        .scheme(HmacScheme::builder(store()).clock(clock).build().unwrap())
        .with_request_bodies()
        .max_body_size(8)
        .build()
        .unwrap();
    let service = layer.layer(body_echo(Arc::clone(&calls)));
    let response = service
        .oneshot(signed(NOW, "big").map(Body::from))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// A Rust client signs with `Signer` and talks to a real axum server over
/// loopback through reqwest.
#[tokio::test]
async fn a_signing_client_against_a_loopback_axum_server() {
    use axum::routing::post;

    let layer = AuthLayer::builder()
        .scheme(
            HmacScheme::builder(store())
                .require_signed_header("host")
                .build()
                .unwrap(),
        )
        .with_request_bodies()
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route(
            "/orders",
            post(
                |principal: axum::Extension<Principal>, body: Bytes| async move {
                    format!("{} {}", principal.subject(), body.len())
                },
            ),
        )
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::new();
    let body = "x".repeat(100_000);
    let mut req = Request::post(format!("http://{addr}/orders?b=2&a=1"))
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(body.clone().into_bytes())
        .unwrap();
    signer().sign(&mut req).unwrap();
    let replay = req.clone();
    let response = client
        .execute(reqwest::Request::try_from(req).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "acct_42 100000");

    // The same bytes again: a replay.
    let response = client
        .execute(reqwest::Request::try_from(replay).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("HMAC-SHA256 error=\"invalid_token\""),
        "{challenge}"
    );

    // Unsigned: 401 with the bare challenge.
    let response = client
        .post(format!("http://{addr}/orders"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    server.abort();
}

/// A store that never answers in time.
struct SlowStore;

impl authgate::hmac::SecretStore for SlowStore {
    async fn find(&self, _: &str) -> Result<Option<SecretRecord>, authgate::hmac::StoreError> {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok(None)
    }
}

#[tokio::test]
async fn a_slow_secret_store_is_503_not_401() {
    let layer = AuthLayer::builder()
        .scheme(
            HmacScheme::builder(SlowStore)
                .clock(ManualClock::at_unix(NOW))
                .store_timeout(Duration::from_millis(20))
                .build()
                .unwrap(),
        )
        .with_request_bodies()
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let response = layer
        .layer(body_echo(Arc::clone(&calls)))
        .oneshot(signed(NOW, "slow").map(Body::from))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let signer = signer();
    let text = format!("{signer:?} {:?} {:?}", store(), store().get("partner-1"));
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(text.contains("<redacted>"));
}

/// A body that never ends: reading it would take forever.
struct Endless;

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test]
async fn a_stale_or_malformed_header_is_answered_without_reading_the_body() {
    let mut h = harness(store());
    for value in [
        format!(
            "HMAC-SHA256 keyId=partner-1, ts={}, nonce=n, headers=host, signature=AAAA",
            NOW - 3600
        ),
        "HMAC-SHA256 garbage".to_owned(),
    ] {
        let request = Request::post("/orders")
            .header("host", "api.example.com")
            .header("authorization", value)
            .body(Body::new(Endless))
            .unwrap();
        let call = h.service.ready().await.unwrap().call(request);
        let response = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .expect("answered without waiting for the body")
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(h.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_signed_host_is_read_from_the_uri_authority_over_http2() {
    let mut h = harness(store());
    let mut request = Request::post("https://api.example.com/orders?z=1&a=2")
        .header("host", "api.example.com")
        .header("content-type", "application/json")
        .body(Bytes::from_static(BODY.as_bytes()))
        .unwrap();
    signer().sign_at(&mut request, NOW, "h2-nonce").unwrap();
    // As hyper hands an HTTP/2 request over: no Host header, the authority in the URI.
    request.headers_mut().remove("host");
    let (status, kind, _) = h.send(request).await;
    assert_eq!((status, kind), (StatusCode::OK, None));
}
