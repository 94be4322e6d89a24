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

/// Signs a signature base written out by hand (independently of the
/// signer under test) with the RFC key: `Signature-Input` for `params`
/// and `Signature`, labelled `sig1`.
fn sign_by_hand(components: &[(&str, &str)], params: &str) -> (String, String) {
    use base64::Engine as _;
    let mut base = String::new();
    for (name, value) in components {
        base.push_str(&format!("\"{name}\": {value}\n"));
    }
    base.push_str(&format!("\"@signature-params\": {params}"));
    let raw = base64::engine::general_purpose::STANDARD
        .decode(KEY_B64)
        .unwrap();
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &raw),
        base.as_bytes(),
    );
    let signature = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
    (format!("sig1={params}"), format!("sig1=:{signature}:"))
}

const MAP: &str =
    r#"("@method" "@authority" "@path");created=1618884473;keyid="test-shared-secret""#;

fn with_signature(
    mut request: Request<Vec<u8>>,
    (input, signature): (String, String),
) -> Request<Vec<u8>> {
    request
        .headers_mut()
        .insert("signature-input", input.parse().unwrap());
    request
        .headers_mut()
        .insert("signature", signature.parse().unwrap());
    request
}

async fn verdict(request: Request<Vec<u8>>) -> (StatusCode, Option<ErrorKind>) {
    let strict = HttpSignatureScheme::builder(store()).clock(ManualClock::at_unix(CREATED));
    let out = send_with(strict, 1 << 20, request).await;
    (out.status, out.kind)
}

/// RFC 9112 §3.2.2 / RFC 9421 §2.2.3: with an absolute-form target, the
/// target's authority is `@authority`, never `Host`. A signature made for
/// `a.example` used to verify on a request whose target is `b.example`,
/// with `Host: a.example`. A `Host` that contradicts the target is refused.
#[tokio::test]
async fn authority_comes_from_an_absolute_target_and_a_conflicting_host_is_refused() {
    let for_a = || {
        sign_by_hand(
            &[
                ("@method", "GET"),
                ("@authority", "a.example"),
                ("@path", "/p"),
            ],
            MAP,
        )
    };
    let for_b = || {
        sign_by_hand(
            &[
                ("@method", "GET"),
                ("@authority", "b.example"),
                ("@path", "/p"),
            ],
            MAP,
        )
    };
    let request = |uri: &str, host: Option<&str>, version: http::Version| {
        let mut builder = Request::get(uri).version(version);
        if let Some(host) = host {
            builder = builder.header("host", host);
        }
        builder.body(Vec::new()).unwrap()
    };
    let refused = (StatusCode::UNAUTHORIZED, Some(ErrorKind::InvalidFormat));
    let ok = (StatusCode::OK, None);
    for version in [http::Version::HTTP_11, http::Version::HTTP_2] {
        // The attack: a.example's signature, target b.example, Host a.example.
        let forged = request("http://b.example/p", Some("a.example"), version);
        assert_eq!(
            verdict(with_signature(forged, for_a())).await,
            refused,
            "{version:?}"
        );
        // Without Host, a.example's signature does not fit b.example.
        let no_host = request("http://b.example/p", None, version);
        assert_eq!(
            verdict(with_signature(no_host, for_a())).await,
            (StatusCode::UNAUTHORIZED, Some(ErrorKind::BadSignature))
        );
        // b.example's own signature, with or without a Host that agrees
        // (case and default port aside).
        let no_host = request("http://b.example/p", None, version);
        assert_eq!(verdict(with_signature(no_host, for_b())).await, ok);
        let agreeing = request("http://b.example/p", Some("B.Example:80"), version);
        assert_eq!(verdict(with_signature(agreeing, for_b())).await, ok);
    }
    // Origin form: Host is the authority, as before.
    let origin = request("/p", Some("a.example"), http::Version::HTTP_11);
    assert_eq!(verdict(with_signature(origin, for_a())).await, ok);
    // Two Host headers are refused.
    let mut two = request("/p", Some("a.example"), http::Version::HTTP_11);
    two.headers_mut()
        .append("host", "a.example".parse().unwrap());
    assert_eq!(verdict(with_signature(two, for_a())).await, refused);
}

/// `@scheme` and `@target-uri` come from the target URI too, and
/// `@request-target` of an absolute-form request is the absolute URI
/// (RFC 9421 §2.2.5's own example), not its path and query; an HTTP/2
/// request's target is its `:path`.
#[tokio::test]
async fn request_target_of_an_absolute_form_request_is_the_absolute_uri() {
    let params = r#"("@method" "@authority" "@path" "@request-target" "@scheme" "@target-uri");created=1618884473;keyid="test-shared-secret""#;
    let signed = |target: &str| {
        sign_by_hand(
            &[
                ("@method", "GET"),
                ("@authority", "b.example"),
                ("@path", "/p"),
                ("@request-target", target),
                ("@scheme", "http"),
                ("@target-uri", "http://b.example/p?q=1"),
            ],
            params,
        )
    };
    let request = |version| {
        Request::get("http://b.example/p?q=1")
            .version(version)
            .body(Vec::new())
            .unwrap()
    };
    let ok = (StatusCode::OK, None);
    let bad = (StatusCode::UNAUTHORIZED, Some(ErrorKind::BadSignature));
    let h1 = http::Version::HTTP_11;
    let h2 = http::Version::HTTP_2;
    assert_eq!(
        verdict(with_signature(
            request(h1),
            signed("http://b.example/p?q=1")
        ))
        .await,
        ok
    );
    assert_eq!(
        verdict(with_signature(request(h1), signed("/p?q=1"))).await,
        bad
    );
    assert_eq!(
        verdict(with_signature(request(h2), signed("/p?q=1"))).await,
        ok
    );
    assert_eq!(
        verdict(with_signature(
            request(h2),
            signed("http://b.example/p?q=1")
        ))
        .await,
        bad
    );
}

/// RFC 8941 §4.2.2 / §4.2.3.2: a repeated key or parameter keeps its first
/// position. `@signature-params` is rebuilt in the order signed, and "the
/// first signature" is the label that came first.
#[tokio::test]
async fn repeated_structured_field_keys_keep_their_first_position() {
    let components = [
        ("@method", "GET"),
        ("@authority", "a.example"),
        ("@path", "/p"),
    ];
    let request = || {
        Request::get("/p")
            .header("host", "a.example")
            .body(Vec::new())
            .unwrap()
    };
    // A repeated parameter: the canonical serialization keeps keyid first.
    let canonical =
        r#"("@method" "@authority" "@path");keyid="test-shared-secret";created=1618884473"#;
    let (_, signature) = sign_by_hand(&components, canonical);
    let input = format!(r#"sig1={canonical};keyid="test-shared-secret""#);
    assert_eq!(
        verdict(with_signature(request(), (input, signature))).await,
        (StatusCode::OK, None)
    );
    // A repeated label: sig1 comes first, with its last value.
    let (input, signature) = sign_by_hand(&components, MAP);
    let input = format!(
        r#"sig1=("@method");created=1;keyid="x", sig2=("@method");created=1;keyid="x", {input}"#
    );
    let signature = format!("sig2=:AAAA:, {signature}");
    assert_eq!(
        verdict(with_signature(request(), (input, signature))).await,
        (StatusCode::OK, None)
    );
    // RFC 8941 §4.2.7: a byte sequence without `=` padding parses.
    let (input, signature) = sign_by_hand(&components, MAP);
    let unpadded = signature.replace('=', "");
    let unpadded = unpadded.replacen("sig1", "sig1=", 1);
    assert_eq!(
        verdict(with_signature(request(), (input, unpadded))).await,
        (StatusCode::OK, None)
    );
}

/// `strict(true)`: a signature over the default components cannot be
/// replayed with another query or body, and must carry a nonce.
#[tokio::test]
async fn strict_mode_requires_query_body_and_nonce_coverage() {
    let signer = |components: &[&str]| {
        let mut s = HttpSigner::new("sig1", KEY_ID, key()).unwrap();
        for c in components {
            s = s.cover(c).unwrap();
        }
        s
    };
    let base = ["@method", "@authority", "@path"];
    let with_query = [&base[..], &["@query"]].concat();
    let with_digest = [&base[..], &["content-digest"]].concat();
    let strict = || {
        HttpSignatureScheme::builder(store())
            .clock(ManualClock::at_unix(CREATED))
            .strict(true)
    };
    let lax = || HttpSignatureScheme::builder(store()).clock(ManualClock::at_unix(CREATED));
    let get = |uri: &str| {
        Request::get(uri)
            .header("host", "a.example")
            .body(Vec::new())
            .unwrap()
    };
    let post = |body: &str| {
        Request::post("/p")
            .header("host", "a.example")
            .header("content-length", body.len().to_string())
            .body(body.as_bytes().to_vec())
            .unwrap()
    };
    let sign = |components: &[&str], mut request: Request<Vec<u8>>, nonce: Option<&str>| {
        signer(components)
            .sign_at(&mut request, CREATED, nonce)
            .unwrap();
        request
    };
    let check = |builder, request| async move {
        let out = send_with(builder, 1 << 20, request).await;
        (out.status, out.kind)
    };
    let ok = (StatusCode::OK, None);
    let refused = (StatusCode::UNAUTHORIZED, Some(ErrorKind::InvalidFormat));

    // The query: left out by default, required in strict mode.
    assert_eq!(
        check(lax(), sign(&base, get("/p?amount=1"), None)).await,
        ok
    );
    assert_eq!(
        check(strict(), sign(&base, get("/p?amount=1"), Some("n1"))).await,
        refused
    );
    assert_eq!(
        check(strict(), sign(&with_query, get("/p?amount=1"), Some("n2"))).await,
        ok
    );
    assert_eq!(
        check(strict(), sign(&base, get("/p"), Some("n3"))).await,
        ok
    );
    // The body: likewise.
    assert_eq!(check(lax(), sign(&base, post("{}"), None)).await, ok);
    assert_eq!(
        check(strict(), sign(&base, post("{}"), Some("n4"))).await,
        refused
    );
    assert_eq!(
        check(strict(), sign(&with_digest, post("{}"), Some("n5"))).await,
        ok
    );
    assert_eq!(check(strict(), sign(&base, post(""), Some("n6"))).await, ok);
    // The nonce.
    assert_eq!(check(strict(), sign(&base, get("/p"), None)).await, refused);
}

/// A body that never arrives: reading it would hang.
struct NeverArrives;

impl http_body::Body for NeverArrives {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

/// Issue 13.2: a signature that covers the body is checked for everything
/// the headers tell (window, parameters, a known `keyid`) before the body
/// is read: these requests are answered at once although their body never
/// arrives.
#[tokio::test]
async fn unknown_key_ids_and_stale_signatures_are_refused_before_the_body_is_read() {
    async fn verdict_without_body(now: u64, request: Request<Vec<u8>>) -> (StatusCode, ErrorKind) {
        let layer = AuthLayer::builder()
            .scheme(scheme_at(now).build().unwrap())
            .with_request_bodies()
            .body_read_timeout(Duration::from_secs(3600))
            .build()
            .unwrap();
        let request = request.map(|_| Body::new(NeverArrives));
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            layer
                .layer(body_echo(Arc::new(AtomicUsize::new(0))))
                .oneshot(request),
        )
        .await
        .expect("answered without reading the body")
        .unwrap();
        let kind = response.extensions().get::<AuthError>().unwrap().kind();
        (response.status(), kind)
    }

    let mut unknown = b25_request();
    HttpSigner::new("sig1", "nobody", key())
        .unwrap()
        .cover("content-digest")
        .unwrap()
        .sign_at(&mut unknown, CREATED, None)
        .unwrap();
    assert_eq!(
        verdict_without_body(CREATED, unknown).await,
        (StatusCode::UNAUTHORIZED, ErrorKind::UnknownKey)
    );

    let mut stale = b25_request();
    full_signer().sign_at(&mut stale, CREATED, None).unwrap();
    let (status, _) = verdict_without_body(CREATED + 3600, stale).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
