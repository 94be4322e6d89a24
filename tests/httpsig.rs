//! RFC 9421 HTTP Message Signatures (hmac-sha256) through the real layer.
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
use authgate::hmac::{
    HmacKey, HttpSignatureScheme, HttpSignatureSchemeBuilder, HttpSigner, InMemorySecretStore,
    SecretRecord,
};
use authgate::{AuthError, AuthLayer, ErrorKind};
use axum::body::Body;
use http::{Request, StatusCode};
use support::{body_bytes, body_echo};
use tower::{Layer, ServiceExt};

// RFC 9421 Appendix B.2.5.
const KEY_ID: &str = "test-shared-secret";
const KEY_B64: &str =
    "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==";
const CREATED: u64 = 1_618_884_473;
const BODY: &str = r#"{"hello": "world"}"#;
const CONTENT_DIGEST: &str =
    "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";
const SIGNATURE_INPUT: &str =
    r#"sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret""#;
const SIGNATURE: &str = "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:";

fn key() -> HmacKey {
    HmacKey::from_base64(KEY_B64).unwrap()
}

fn store() -> InMemorySecretStore {
    let store = InMemorySecretStore::new();
    store.insert(SecretRecord::new(KEY_ID, key(), "rfc-example"));
    store
}

/// The B.2.5 request, unsigned.
fn b25_request() -> Request<Vec<u8>> {
    Request::post("/foo?param=Value&Pet=dog")
        .header("host", "example.com")
        .header("date", "Tue, 20 Apr 2021 02:07:55 GMT")
        .header("content-type", "application/json")
        .header("content-digest", CONTENT_DIGEST)
        .header("content-length", "18")
        .body(BODY.as_bytes().to_vec())
        .unwrap()
}

fn b25_signed() -> Request<Vec<u8>> {
    let mut req = b25_request();
    req.headers_mut()
        .insert("signature-input", SIGNATURE_INPUT.parse().unwrap());
    req.headers_mut()
        .insert("signature", SIGNATURE.parse().unwrap());
    req
}

struct Outcome {
    status: StatusCode,
    kind: Option<ErrorKind>,
    body: bytes::Bytes,
    calls: usize,
}

async fn send_with(
    builder: HttpSignatureSchemeBuilder<InMemorySecretStore>,
    limit: usize,
    request: Request<Vec<u8>>,
) -> Outcome {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = AuthLayer::builder()
        .scheme(builder.build().unwrap())
        .with_request_bodies()
        .max_body_size(limit)
        .build()
        .unwrap();
    let response = layer
        .layer(body_echo(Arc::clone(&calls)))
        .oneshot(request.map(Body::from))
        .await
        .unwrap();
    let kind = response
        .extensions()
        .get::<AuthError>()
        .map(AuthError::kind);
    Outcome {
        status: response.status(),
        kind,
        body: body_bytes(response).await,
        calls: calls.load(Ordering::SeqCst),
    }
}

/// The Appendix B.2.5 signature covers `date`, `@authority` and
/// `content-type` only, so these tests relax the default requirement of
/// `@method`, `@authority` and `@path`.
fn scheme_at(now: u64) -> HttpSignatureSchemeBuilder<InMemorySecretStore> {
    HttpSignatureScheme::builder(store())
        .clock(ManualClock::at_unix(now))
        .require_components(NONE_REQUIRED)
}

const NONE_REQUIRED: [&str; 0] = [];

async fn send(now: u64, request: Request<Vec<u8>>) -> Outcome {
    send_with(scheme_at(now), 1 << 20, request).await
}

#[tokio::test]
async fn rfc9421_b25_verifies_byte_for_byte() {
    let out = send(CREATED, b25_signed()).await;
    assert_eq!((out.status, out.kind), (StatusCode::OK, None));
    assert_eq!(out.body, BODY);
    assert_eq!(out.calls, 1);
}

#[tokio::test]
async fn rfc9421_b25_is_produced_by_the_signer() {
    let signer = HttpSigner::new("sig-b25", KEY_ID, key())
        .unwrap()
        .cover("date")
        .unwrap()
        .cover("@authority")
        .unwrap()
        .cover("content-type")
        .unwrap();
    let mut req = b25_request();
    signer.sign_at(&mut req, CREATED, None).unwrap();
    assert_eq!(req.headers()["signature-input"], SIGNATURE_INPUT);
    assert_eq!(req.headers()["signature"], SIGNATURE);
}

#[tokio::test]
async fn tampered_covered_header_or_key_id_fails() {
    let mut req = b25_signed();
    req.headers_mut()
        .insert("date", "Tue, 20 Apr 2021 02:07:56 GMT".parse().unwrap());
    assert_eq!(send(CREATED, req).await.kind, Some(ErrorKind::BadSignature));

    let mut req = b25_signed();
    req.headers_mut()
        .insert("host", "example.org".parse().unwrap());
    assert_eq!(send(CREATED, req).await.kind, Some(ErrorKind::BadSignature));

    let mut req = b25_signed();
    let input = SIGNATURE_INPUT.replace("test-shared-secret", "other-secret");
    req.headers_mut()
        .insert("signature-input", input.parse().unwrap());
    assert_eq!(send(CREATED, req).await.kind, Some(ErrorKind::UnknownKey));

    // Signature parameters are signed too.
    let mut req = b25_signed();
    let input = SIGNATURE_INPUT.replace("1618884473", "1618884474");
    req.headers_mut()
        .insert("signature-input", input.parse().unwrap());
    assert_eq!(send(CREATED, req).await.kind, Some(ErrorKind::BadSignature));

    // A covered header that is gone.
    let mut req = b25_signed();
    req.headers_mut().remove("content-type");
    assert_eq!(
        send(CREATED, req).await.kind,
        Some(ErrorKind::InvalidFormat)
    );
}

#[tokio::test]
async fn created_window_edges() {
    for (now, expect) in [
        (CREATED + 300, None),
        (CREATED + 301, Some(ErrorKind::Expired)),
        (CREATED - 300, None),
        (CREATED - 301, Some(ErrorKind::NotYetValid)),
    ] {
        assert_eq!(
            send(now, b25_signed()).await.kind,
            expect,
            "now = created {:+}",
            now as i64 - CREATED as i64
        );
    }
}

fn full_signer() -> HttpSigner {
    let mut signer = HttpSigner::new("sig1", KEY_ID, key()).unwrap().with_alg();
    for c in [
        "@method",
        "@authority",
        "@path",
        "@query",
        "@target-uri",
        "@scheme",
        "@request-target",
        "content-type",
        "content-digest",
    ] {
        signer = signer.cover(c).unwrap();
    }
    signer.expires_after(Duration::from_secs(60))
}

#[tokio::test]
async fn content_digest_is_checked_against_the_body() {
    // The RFC's own Content-Digest (sha-512) for the example body.
    let mut req = b25_request();
    full_signer()
        .sign_at(&mut req, CREATED, Some("n-1"))
        .unwrap();
    let out = send(CREATED, req).await;
    assert_eq!(
        (out.status, out.body.as_ref()),
        (StatusCode::OK, BODY.as_bytes())
    );

    // The signer adds a sha-256 Content-Digest when the request has none.
    let mut req = b25_request();
    req.headers_mut().remove("content-digest");
    full_signer()
        .sign_at(&mut req, CREATED, Some("n-2"))
        .unwrap();
    assert!(req.headers()["content-digest"]
        .to_str()
        .unwrap()
        .starts_with("sha-256=:"));
    assert_eq!(send(CREATED, req).await.status, StatusCode::OK);

    // A different body with the same headers.
    let mut req = b25_request();
    full_signer()
        .sign_at(&mut req, CREATED, Some("n-3"))
        .unwrap();
    *req.body_mut() = br#"{"hello": "World"}"#.to_vec();
    let out = send(CREATED, req).await;
    assert_eq!((out.kind, out.calls), (Some(ErrorKind::BadSignature), 0));
}

#[tokio::test]
async fn expires_and_nonce_replay() {
    let mut req = b25_request();
    full_signer()
        .sign_at(&mut req, CREATED, Some("once"))
        .unwrap();
    assert_eq!(
        send(CREATED + 60, req.clone()).await.kind,
        None,
        "at expires"
    );
    assert_eq!(
        send(CREATED + 61, req.clone()).await.kind,
        Some(ErrorKind::Expired)
    );

    let calls = Arc::new(AtomicUsize::new(0));
    let layer = AuthLayer::builder()
        .scheme(scheme_at(CREATED).build().unwrap())
        .with_request_bodies()
        .build()
        .unwrap();
    let service = layer.layer(body_echo(Arc::clone(&calls)));
    let first = service
        .clone()
        .oneshot(req.clone().map(Body::from))
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let second = service.oneshot(req.map(Body::from)).await.unwrap();
    assert_eq!(
        second.extensions().get::<AuthError>().map(AuthError::kind),
        Some(ErrorKind::Replayed)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn required_components_nonce_and_alg_are_enforced() {
    let out = send_with(
        scheme_at(CREATED).require_components(["@method"]),
        1 << 20,
        b25_signed(),
    )
    .await;
    assert_eq!(out.kind, Some(ErrorKind::InvalidFormat));
    let out = send_with(
        scheme_at(CREATED).require_nonce(true),
        1 << 20,
        b25_signed(),
    )
    .await;
    assert_eq!(out.kind, Some(ErrorKind::InvalidFormat));
    let mut req = b25_signed();
    let input = format!("{SIGNATURE_INPUT};alg=\"rsa-pss-sha512\"");
    req.headers_mut()
        .insert("signature-input", input.parse().unwrap());
    assert_eq!(
        send(CREATED, req).await.kind,
        Some(ErrorKind::InvalidFormat)
    );
}

#[tokio::test]
async fn several_secrets_are_valid_during_a_rotation() {
    let store = store();
    let created = UNIX_EPOCH + Duration::from_secs(CREATED);
    store.rotate(
        KEY_ID,
        HmacKey::new("the next secret"),
        Duration::from_secs(100),
        created,
    );
    let clock = ManualClock::at_unix(CREATED);
    let builder = || {
        HttpSignatureScheme::builder(store.clone())
            .clock(clock.clone())
            .require_components(NONE_REQUIRED)
    };
    assert_eq!(send_with(builder(), 1 << 20, b25_signed()).await.kind, None);

    let next = HttpSigner::new("sig1", KEY_ID, HmacKey::new("the next secret"))
        .unwrap()
        .cover("@method")
        .unwrap();
    let mut req = b25_request();
    next.sign_at(&mut req, CREATED + 100, None).unwrap();
    clock.set_unix(CREATED + 100);
    assert_eq!(send_with(builder(), 1 << 20, req).await.kind, None);
    let mut old = b25_request();
    HttpSigner::new("sig1", KEY_ID, key())
        .unwrap()
        .cover("@method")
        .unwrap()
        .sign_at(&mut old, CREATED + 100, None)
        .unwrap();
    assert_eq!(
        send_with(builder(), 1 << 20, old).await.kind,
        Some(ErrorKind::Rotated)
    );
}

#[tokio::test]
async fn bodies_are_read_only_when_content_digest_is_covered() {
    // B.2.5 does not cover content-digest: a tiny limit does not matter.
    let out = send_with(scheme_at(CREATED), 4, b25_signed()).await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(out.body, BODY);

    // Covered: the body is read, and too large is 413.
    let mut req = b25_request();
    full_signer().sign_at(&mut req, CREATED, None).unwrap();
    let out = send_with(scheme_at(CREATED), 4, req).await;
    assert_eq!((out.status, out.calls), (StatusCode::PAYLOAD_TOO_LARGE, 0));
}

#[tokio::test]
async fn a_signature_over_no_component_is_refused() {
    use authgate::hmac::{HmacKey, HttpSignatureScheme, InMemorySecretStore, SecretRecord};
    use authgate::{AuthError, AuthLayer, ErrorKind};
    use tower::{Layer, ServiceExt};

    let key = HmacKey::new(b"0123456789abcdef0123456789abcdef");
    let store = InMemorySecretStore::new();
    store.insert(SecretRecord::new("k", key.clone(), "acct"));
    let layer = AuthLayer::builder()
        .scheme(HttpSignatureScheme::builder(store).build().unwrap())
        .with_request_bodies()
        .build()
        .unwrap();
    let service = layer.layer(body_echo(Arc::new(std::sync::atomic::AtomicUsize::new(0))));
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let params = format!("();created={created};keyid=\"k\"");
    let base = format!("\"@signature-params\": {params}");
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"0123456789abcdef0123456789abcdef"),
        base.as_bytes(),
    );
    use base64::Engine;
    let signature = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
    let request = http::Request::post("/anything")
        .header("signature-input", format!("sig1={params}"))
        .header("signature", format!("sig1=:{signature}:"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 401);
    let error = response.extensions().get::<AuthError>().unwrap();
    assert_eq!(error.kind(), ErrorKind::InvalidFormat);
    assert_eq!(error.description(), "the signature covers no component");
}

#[tokio::test]
async fn by_default_a_signature_must_cover_method_authority_and_path() {
    // B.2.5 is valid, but covers neither @method nor @path.
    let strict = HttpSignatureScheme::builder(store()).clock(ManualClock::at_unix(CREATED));
    let outcome = send_with(strict, 1 << 20, b25_signed()).await;
    assert_eq!(outcome.status, 401);
    assert_eq!(outcome.kind, Some(ErrorKind::InvalidFormat));
}
