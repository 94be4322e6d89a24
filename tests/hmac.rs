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

// ------------------------------------------------ issue 13: what is signed

/// A service that reports who it served, over a store of two key ids that
/// share one secret (two tenants provisioned from one secret, or one
/// partner's two accounts).
fn two_tenants() -> (Harness, Arc<std::sync::Mutex<Vec<String>>>) {
    let store = store();
    store.insert(SecretRecord::new(
        "partner-2",
        HmacKey::new("s3cr3t"),
        "acct_99",
    ));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let clock = ManualClock::at_unix(NOW);
    let layer = AuthLayer::builder()
        .scheme(
            HmacScheme::builder(store)
                .clock(clock.clone())
                .build()
                .unwrap(),
        )
        .with_request_bodies()
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let (log, counter) = (Arc::clone(&seen), Arc::clone(&calls));
    let inner = tower::service_fn(move |req: Request<Body>| {
        let (log, counter) = (Arc::clone(&log), Arc::clone(&counter));
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let subject = req
                .extensions()
                .get::<Principal>()
                .map(|p| p.subject().to_owned())
                .unwrap_or_default();
            log.lock().unwrap().push(subject);
            Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
        }
    });
    let harness = Harness {
        service: layer.layer(tower::util::BoxCloneService::new(inner)),
        calls,
        clock,
    };
    (harness, seen)
}

/// Re-targets a signed request at another URI, keeping its headers.
fn with_uri(request: Request<Bytes>, uri: &str) -> Request<Bytes> {
    let (mut parts, body) = request.into_parts();
    parts.uri = uri.parse().unwrap();
    Request::from_parts(parts, body)
}

#[tokio::test]
async fn the_order_of_repeated_query_parameters_is_signed() {
    let mut h = harness(store());
    // Handlers usually read the first `to`: these are different transfers.
    for (signed_uri, sent_uri) in [
        (
            "/transfer?to=alice&to=mallory",
            "/transfer?to=mallory&to=alice",
        ),
        // The same name, percent-encoded: a handler decodes `%61` to `a`.
        ("/transfer?a=1&%61=2", "/transfer?%61=2&a=1"),
        // Different names, reordered.
        ("/orders?z=1&a=2", "/orders?a=2&z=1"),
    ] {
        let mut request = request(BODY);
        *request.uri_mut() = signed_uri.parse().unwrap();
        signer().sign_at(&mut request, NOW, "q-1").unwrap();
        let (status, kind, _) = h.send(with_uri(request, sent_uri)).await;
        assert_eq!(
            (status, kind),
            (StatusCode::UNAUTHORIZED, Some(ErrorKind::BadSignature)),
            "signed {signed_uri}, sent {sent_uri}"
        );
    }
    assert_eq!(h.calls.load(Ordering::SeqCst), 0);
    // As signed, each verifies.
    let mut request = request(BODY);
    *request.uri_mut() = "/transfer?to=alice&to=mallory".parse().unwrap();
    signer().sign_at(&mut request, NOW, "q-2").unwrap();
    assert_eq!(h.send(request).await.0, StatusCode::OK);
}

#[tokio::test]
async fn each_header_field_is_signed_on_its_own() {
    let mut h = harness(store());
    let signer = signer().sign_header("x-role").unwrap();
    let fields = |values: &[&str]| {
        let mut request = request(BODY);
        for value in values {
            request
                .headers_mut()
                .append("x-role", value.parse().unwrap());
        }
        request
    };
    for (i, (signed, sent)) in [
        (&["user,admin"][..], &["user", "admin"][..]),
        (&["user", "admin"][..], &["user,admin"][..]),
        (&["user", "admin"][..], &["admin", "user"][..]),
        (&["user"][..], &["user", "user"][..]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut original = fields(signed);
        signer
            .sign_at(&mut original, NOW, &format!("f-{i}"))
            .unwrap();
        let mut forged = fields(sent);
        forged
            .headers_mut()
            .insert("authorization", original.headers()["authorization"].clone());
        let (status, kind, _) = h.send(forged).await;
        assert_eq!(
            (status, kind),
            (StatusCode::UNAUTHORIZED, Some(ErrorKind::BadSignature)),
            "signed {signed:?}, sent {sent:?}"
        );
        assert_eq!(h.send(original).await.0, StatusCode::OK, "{signed:?}");
    }
    assert_eq!(h.calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn the_key_id_is_signed() {
    let (mut h, seen) = two_tenants();
    let original = signed(NOW, "k-1");
    let auth = original.headers()["authorization"].to_str().unwrap();
    assert!(auth.contains(r#"keyId="partner-1""#));
    // Captured, and sent again as the other tenant (a fresh nonce would do
    // as well: the nonce is not what binds the key id).
    let mut moved = request(BODY);
    moved.headers_mut().insert(
        "authorization",
        auth.replace(r#"keyId="partner-1""#, r#"keyId="partner-2""#)
            .parse()
            .unwrap(),
    );
    let (status, kind, _) = h.send(moved).await;
    assert_eq!(
        (status, kind),
        (StatusCode::UNAUTHORIZED, Some(ErrorKind::BadSignature))
    );
    assert!(seen.lock().unwrap().is_empty());
    // Each tenant signing for itself is served as itself.
    assert_eq!(h.send(original).await.0, StatusCode::OK);
    let mut own = request(BODY);
    Signer::new("partner-2", HmacKey::new("s3cr3t"))
        .unwrap()
        .sign_at(&mut own, NOW, "k-2")
        .unwrap();
    assert_eq!(h.send(own).await.0, StatusCode::OK);
    assert_eq!(*seen.lock().unwrap(), ["acct_42", "acct_99"]);
}

// ------------------------------------- issue 13: independent implementations

/// The canonical string as the module docs specify it, written out here
/// without any of the crate's code, and signed with ring directly.
#[allow(clippy::too_many_arguments)]
fn independent_authorization(
    secret: &[u8],
    key_id: &str,
    method: &str,
    target: &str,
    fields: &[(&str, &str)],
    signed: &[&str],
    ts: u64,
    nonce: &str,
    body: &[u8],
) -> String {
    use base64::Engine as _;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut lines = vec![
        "HMAC-SHA256".to_owned(),
        key_id.to_owned(),
        method.to_owned(),
        path.to_owned(),
        query.to_owned(),
    ];
    for name in signed {
        for (field, value) in fields {
            if field == name {
                lines.push(format!("{name}:{}", value.trim_matches([' ', '\t'])));
            }
        }
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    lines.extend([signed.join(";"), ts.to_string(), nonce.to_owned(), hex]);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, lines.join("\n").as_bytes());
    format!(
        r#"HMAC-SHA256 keyId="{key_id}", ts="{ts}", nonce="{nonce}", headers="{}", signature="{}""#,
        signed.join(";"),
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    )
}

/// The worked example of the module docs, and its published signature.
const DOC_SIGNATURE: &str = "/QeyhY9X8m0QyYRQrQK6kXRz6nN+OtPtHc2IUhc5xcE=";

fn doc_example() -> Request<Bytes> {
    Request::post("/orders?b=2&a=1")
        .header("host", "api.example.com")
        .body(Bytes::from_static(b"hello"))
        .unwrap()
}

#[tokio::test]
async fn a_request_signed_by_an_independent_implementation_verifies() {
    // The docs' example: the published signature, from both sides.
    let independent = independent_authorization(
        b"s3cr3t",
        "partner-1",
        "POST",
        "/orders?b=2&a=1",
        &[("host", "api.example.com")],
        &["host"],
        NOW,
        "n1",
        b"hello",
    );
    assert!(independent.ends_with(&format!(r#"signature="{DOC_SIGNATURE}""#)));
    let mut ours = doc_example();
    Signer::new("partner-1", HmacKey::new("s3cr3t"))
        .unwrap()
        .sign_header("host")
        .unwrap()
        .sign_at(&mut ours, NOW, "n1")
        .unwrap();
    assert_eq!(ours.headers()["authorization"], independent.as_str());

    // A request using everything the string covers: a raw query with a
    // repeated parameter, a header sent as two fields with spaces around a
    // value, one sent once, a binary body.
    let mut h = harness(store());
    let body: &'static [u8] = b"\x00\x01binary\xff";
    let target = "/v1/transfer%2Fx?to=alice&to=mallory&&note=a%20b";
    let fields = [
        ("host", "api.example.com"),
        ("x-role", " user\t"),
        ("content-type", "application/octet-stream"),
        ("x-role", "admin"),
    ];
    let mut request = Request::put(target).body(Bytes::from_static(body)).unwrap();
    for (name, value) in fields {
        request.headers_mut().append(name, value.parse().unwrap());
    }
    let authorization = independent_authorization(
        b"s3cr3t",
        "partner-1",
        "PUT",
        target,
        &fields,
        &["x-role", "host", "content-type"],
        NOW - 42,
        "indep-1",
        body,
    );
    request
        .headers_mut()
        .insert("authorization", authorization.parse().unwrap());
    let (status, kind, echoed) = h.send(request).await;
    assert_eq!((status, kind), (StatusCode::OK, None));
    assert_eq!(&echoed[..], body);
}

/// The lines of the first fenced block of `language` in a Rust source's
/// `//!` docs.
fn doc_block(source: &str, language: &str) -> String {
    let fence = format!("```{language}");
    let mut lines = source
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .skip_while(|line| line.trim() != fence)
        .skip(1);
    let mut block = String::new();
    for line in lines.by_ref() {
        if line.trim() == "```" {
            return block;
        }
        block.push_str(line);
        block.push('\n');
    }
    panic!("no closed {fence} block");
}

#[tokio::test]
async fn the_python_snippet_of_the_docs_signs_requests_that_verify() {
    let snippet = doc_block(include_str!("../src/hmac/mod.rs"), "python");
    let output = match std::process::Command::new("python3")
        .arg("-c")
        .arg(&snippet)
        .output()
    {
        Ok(output) => output,
        Err(e) => {
            eprintln!("NOTICE: python3 is not available ({e}); the Python snippet was not run");
            return;
        }
    };
    assert!(
        output.status.success(),
        "the snippet failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let authorization = String::from_utf8(output.stdout).unwrap();
    let authorization = authorization.trim();
    assert!(
        authorization.ends_with(&format!(r#"signature="{DOC_SIGNATURE}""#)),
        "{authorization}"
    );
    let mut request = doc_example();
    request
        .headers_mut()
        .insert("authorization", authorization.parse().unwrap());
    let mut h = harness(store());
    let (status, kind, _) = h.send(request).await;
    assert_eq!((status, kind), (StatusCode::OK, None));
}

#[tokio::test]
async fn invalidate_takes_effect_at_once_on_a_thread_that_served_the_key() {
    let store = store();
    let scheme = HmacScheme::builder(store.clone())
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    let layer = AuthLayer::builder()
        .scheme(scheme.clone())
        .with_request_bodies()
        .build()
        .unwrap();
    let service = layer.layer(body_echo(Arc::new(AtomicUsize::new(0))));
    let send = |request: Request<Bytes>| {
        let service = service.clone();
        async move {
            let response = service.oneshot(request.map(Body::from)).await.unwrap();
            response
                .extensions()
                .get::<AuthError>()
                .map(AuthError::kind)
        }
    };
    // Served twice on this thread: its copy of the record is in use.
    assert_eq!(send(signed(NOW, "i-1")).await, None);
    assert_eq!(send(signed(NOW, "i-2")).await, None);
    store.revoke("partner-1");
    scheme.invalidate("partner-1").await;
    assert_eq!(send(signed(NOW, "i-3")).await, Some(ErrorKind::Revoked));
}
