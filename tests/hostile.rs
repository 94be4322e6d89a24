//! Hostile input through the real `AuthLayer` (issue 8): oversized and
//! repeated headers, non-UTF-8 bytes, pathological JWTs, bodies that never
//! end or never start, and floods of invalid credentials against the
//! caches. Every request must be answered with the right status, in bounded
//! time, without a panic.

#![cfg(all(feature = "api-key", feature = "jwt", feature = "hmac"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::clock::ManualClock;
use authgate::hmac::{GithubWebhook, WebhookSecrets};
use authgate::jwt::{Issuer, JwtKey, JwtScheme};
use authgate::request_body::Buffered;
use authgate::testing::TestApiKeys;
use authgate::{AuthError, AuthLayer, ErrorKind, Scopes};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use tower::{service_fn, ServiceBuilder, ServiceExt};

const ISS: &str = "https://issuer.test";
const AUD: &str = "api://orders";
const NOW: u64 = 1_800_000_000;
const JWT_SECRET: [u8; 32] = [7u8; 32];
const KID: &str = "k1";
const WEBHOOK_SECRET: &str = "hostile-webhook-secret";
const BODY_LIMIT: usize = 64 * 1024;
/// Generous for a debug build on a loaded 2-core machine; a hang or an
/// unbounded read is orders of magnitude slower.
const BOUND: Duration = Duration::from_secs(10);

/// A request body an attacker controls.
enum Hostile {
    /// An ordinary body: what `From<Bytes>` builds for the inner service.
    Full(Option<Bytes>),
    /// Yields 1 KiB chunks forever; counts the bytes handed out.
    Endless(Arc<AtomicUsize>),
    /// Never yields a frame; counts how often it was polled.
    Stalled(Arc<AtomicUsize>),
    /// Yields empty data frames forever: never grows, never waits.
    EmptyFrames,
}

impl From<Bytes> for Hostile {
    fn from(bytes: Bytes) -> Self {
        Self::Full(Some(bytes))
    }
}

impl Body for Hostile {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Endless(sent) => {
                sent.fetch_add(1024, Ordering::SeqCst);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; 1024])))))
            }
            Self::Stalled(polls) => {
                polls.fetch_add(1, Ordering::SeqCst);
                Poll::Pending
            }
            Self::EmptyFrames => Poll::Ready(Some(Ok(Frame::data(Bytes::new())))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
            // Streams announce nothing: the limit must hold while reading.
            Self::Endless(_) | Self::Stalled(_) | Self::EmptyFrames => SizeHint::default(),
        }
    }
}

fn empty() -> Hostile {
    Hostile::Full(None)
}

/// One layer with the three kinds of scheme: API keys, JWTs with a static
/// shared secret, and GitHub webhooks (which read the body).
struct Fixture {
    layer: AuthLayer<Buffered>,
    api_key: String,
}

fn fixture() -> Fixture {
    let keys = TestApiKeys::new("sk_live").unwrap();
    let api_key = keys.issue("acct_42", "orders:read");
    let jwt = JwtScheme::builder()
        .issuer(
            Issuer::new(ISS)
                .audience(AUD)
                .key(JwtKey::shared_secret(&JWT_SECRET).unwrap().with_kid(KID)),
        )
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    let layer = AuthLayer::builder()
        .scheme(keys.scheme())
        .scheme(jwt)
        .scheme(GithubWebhook::new(WebhookSecrets::single(WEBHOOK_SECRET)))
        .with_request_bodies()
        .max_body_size(BODY_LIMIT)
        .build()
        .unwrap();
    Fixture { layer, api_key }
}

struct Answer {
    status: u16,
    kind: Option<ErrorKind>,
}

/// Sends one request through the layer, within [`BOUND`].
async fn send(layer: &AuthLayer<Buffered>, request: Request<Hostile>) -> Answer {
    let service = ServiceBuilder::new()
        .layer(layer.clone())
        .service(service_fn(|_: Request<Hostile>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }));
    let response = tokio::time::timeout(BOUND, service.oneshot(request))
        .await
        .expect("answered in bounded time")
        .unwrap();
    Answer {
        status: response.status().as_u16(),
        kind: response
            .extensions()
            .get::<AuthError>()
            .map(AuthError::kind),
    }
}

fn get() -> http::request::Builder {
    Request::get("/orders")
}

async fn status_of(f: &Fixture, request: Request<Hostile>) -> u16 {
    send(&f.layer, request).await.status
}

async fn bearer(f: &Fixture, token: &str) -> Answer {
    let request = get()
        .header("authorization", format!("Bearer {token}"))
        .body(empty())
        .unwrap();
    send(&f.layer, request).await
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An HS256 token over raw header and claims JSON, so tests can send what
/// no JWT library would produce (duplicate keys, odd numbers).
fn mint(header: &str, claims: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &JWT_SECRET);
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

const HEADER: &str = r#"{"alg":"HS256","kid":"k1"}"#;

/// Valid claims with `extra` spliced in (a JSON fragment starting with a
/// comma) and the time claims given as raw JSON.
fn claims_with(exp: &str, nbf: &str, iat: &str, extra: &str) -> String {
    format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"alice","exp":{exp},"nbf":{nbf},"iat":{iat}{extra}}}"#
    )
}

fn valid_claims() -> String {
    claims_with(
        &(NOW + 3600).to_string(),
        &(NOW - 10).to_string(),
        &(NOW - 10).to_string(),
        "",
    )
}

fn github_signature(body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, WEBHOOK_SECRET.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[tokio::test]
async fn the_fixture_accepts_each_kind_of_valid_credential() {
    let f = fixture();
    let request = get().header("x-api-key", &f.api_key).body(empty()).unwrap();
    assert_eq!(status_of(&f, request).await, 200);
    assert_eq!(bearer(&f, &mint(HEADER, &valid_claims())).await.status, 200);
    let body = Bytes::from_static(b"{\"action\":\"opened\"}");
    let request = Request::post("/hook")
        .header("x-hub-signature-256", github_signature(&body))
        .body(Hostile::from(body))
        .unwrap();
    assert_eq!(status_of(&f, request).await, 200);
}

#[tokio::test]
async fn a_64_kib_header_value_is_rejected_without_a_panic() {
    let f = fixture();
    let big = "A".repeat(64 * 1024);
    // As an API key: neither the format nor the checksum holds.
    let request = get().header("x-api-key", &big).body(empty()).unwrap();
    assert_eq!(status_of(&f, request).await, 401);
    let request = get()
        .header("authorization", format!("ApiKey {big}"))
        .body(empty())
        .unwrap();
    assert_eq!(status_of(&f, request).await, 401);
    // As a bearer token: over the token length limit, refused before decoding.
    assert_eq!(bearer(&f, &big).await.status, 401);
    // As a webhook signature: malformed, so the body is never read.
    let polls = Arc::new(AtomicUsize::new(0));
    let request = Request::post("/hook")
        .header("x-hub-signature-256", format!("sha256={big}"))
        .body(Hostile::Stalled(Arc::clone(&polls)))
        .unwrap();
    assert_eq!(status_of(&f, request).await, 401);
    assert_eq!(polls.load(Ordering::SeqCst), 0);
    // In a header no scheme reads, next to a good key: ignored.
    let request = get()
        .header("x-junk", &big)
        .header("x-api-key", &f.api_key)
        .body(empty())
        .unwrap();
    assert_eq!(status_of(&f, request).await, 200);
}

#[tokio::test]
async fn a_thousand_authorization_headers_are_ambiguous() {
    let f = fixture();
    let token = mint(HEADER, &valid_claims());
    for value in [format!("Bearer {token}"), format!("ApiKey {}", f.api_key)] {
        let mut request = get().body(empty()).unwrap();
        for _ in 0..1_000 {
            request
                .headers_mut()
                .append("authorization", value.parse().unwrap());
        }
        let answer = send(&f.layer, request).await;
        assert_eq!(answer.status, 400, "{value:.20}");
        assert_eq!(answer.kind, Some(ErrorKind::Ambiguous));
    }
    // A thousand different, broken ones.
    let mut request = get().body(empty()).unwrap();
    for i in 0..1_000 {
        request
            .headers_mut()
            .append("authorization", format!("Bearer x{i}").parse().unwrap());
    }
    assert_eq!(status_of(&f, request).await, 400);
}

#[tokio::test]
async fn non_utf8_bytes_in_credential_headers_are_rejected() {
    let f = fixture();
    let raw: &[&[u8]] = &[
        b"\xff\xfe\xfd",
        b"\x80",
        b"sk_live_\xc3\x28",
        b"caf\xe9",
        b"\xf0\x9f\x92",
    ];
    for bytes in raw {
        let value = HeaderValue::from_bytes(bytes).unwrap();
        let mut prefixed = b"Bearer ".to_vec();
        prefixed.extend_from_slice(bytes);
        let mut api_key = b"ApiKey ".to_vec();
        api_key.extend_from_slice(bytes);
        let mut github = b"sha256=".to_vec();
        github.extend_from_slice(bytes);
        let cases: [(&str, HeaderValue, &[u16]); 5] = [
            ("authorization", value.clone(), &[400, 401]),
            (
                "authorization",
                HeaderValue::from_bytes(&prefixed).unwrap(),
                &[400],
            ),
            (
                "authorization",
                HeaderValue::from_bytes(&api_key).unwrap(),
                &[400],
            ),
            ("x-api-key", value.clone(), &[400]),
            (
                "x-hub-signature-256",
                HeaderValue::from_bytes(&github).unwrap(),
                &[400, 401],
            ),
        ];
        for (name, value, expected) in cases {
            let polls = Arc::new(AtomicUsize::new(0));
            let request = Request::post("/hook")
                .header(name, value.clone())
                .body(Hostile::Stalled(Arc::clone(&polls)))
                .unwrap();
            let status = status_of(&f, request).await;
            assert!(expected.contains(&status), "{name}: {value:?} -> {status}");
            assert_eq!(polls.load(Ordering::SeqCst), 0, "{name}: body polled");
        }
    }
}

#[tokio::test]
async fn a_token_of_ten_thousand_segments_is_refused() {
    let f = fixture();
    // 20,000 bytes: over the token length limit.
    let answer = bearer(&f, &"a.".repeat(10_000)).await;
    assert_eq!(
        (answer.status, answer.kind),
        (401, Some(ErrorKind::InvalidFormat))
    );
    // Just under the limit, so the splitter sees every segment.
    let answer = bearer(&f, &"a.".repeat(8_000)).await;
    assert_eq!(
        (answer.status, answer.kind),
        (401, Some(ErrorKind::InvalidFormat))
    );
    // Empty segments only.
    let answer = bearer(&f, &".".repeat(10_000)).await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn deeply_nested_json_is_refused_without_overflowing_the_stack() {
    let f = fixture();
    // 10,000 deep does not fit the token length limit; 6,000 just does, so
    // the JSON parser meets it and must stop at its recursion limit.
    for depth in [10_000, 6_000] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let answer = bearer(&f, &mint(HEADER, &arrays)).await;
        assert_eq!(
            (answer.status, answer.kind),
            (401, Some(ErrorKind::InvalidFormat)),
            "arrays {depth} deep"
        );
    }
    for depth in [10_000, 2_000] {
        let objects = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
        let answer = bearer(&f, &mint(HEADER, &objects)).await;
        assert_eq!(answer.status, 401, "objects {depth} deep");
        // Nested inside an otherwise valid claim set.
        let extra = format!(r#","deep":{}1{}"#, "[".repeat(depth), "]".repeat(depth));
        let claims = claims_with(&(NOW + 60).to_string(), "1", "1", &extra);
        let answer = bearer(&f, &mint(HEADER, &claims)).await;
        assert_eq!(answer.status, 401, "claim {depth} deep");
        // And in a header member authgate does not read: the check for
        // repeated names walks it and stops at the same recursion limit.
        let header = format!(
            r#"{{"alg":"HS256","kid":"k1","x":{}1{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let answer = bearer(&f, &mint(&header, &valid_claims())).await;
        assert_eq!(answer.status, 401, "header {depth} deep");
    }
}

#[tokio::test]
async fn numeric_claims_of_the_wrong_type_or_range_are_handled() {
    let f = fixture();
    let ok_exp = (NOW + 3600).to_string();
    let past = (NOW - 10).to_string();
    let two_64 = "18446744073709551616";
    // (exp, nbf, iat, expected status)
    let cases: &[(&str, &str, &str, u16)] = &[
        // Strings are not NumericDates (RFC 7519 §2).
        (&format!("\"{}\"", NOW + 3600), &past, &past, 401),
        (&ok_exp, &format!("\"{past}\""), &past, 401),
        (&ok_exp, &past, &format!("\"{past}\""), 401),
        (&ok_exp, &past, "\"\"", 401),
        // Fractional seconds are allowed.
        (
            &format!("{}.5", NOW + 3600),
            &format!("{past}.25"),
            &format!("{past}.75"),
            200,
        ),
        (&format!("{}.5", NOW - 3600), &past, &past, 401),
        // Negative: an expiry long past; nbf and iat long past are fine.
        ("-1", &past, &past, 401),
        ("-1e300", &past, &past, 401),
        (&ok_exp, "-1", "-9223372036854775809", 200),
        // 2^64 and beyond u64: far future.
        (two_64, &past, &past, 200),
        ("1e300", &past, &past, 200),
        (&ok_exp, two_64, &past, 401),
        (&ok_exp, &past, two_64, 401),
        // Beyond f64: serde_json refuses the number, so the claims.
        ("1e400", &past, &past, 401),
        (&ok_exp, "-1e400", &past, 401),
        // Other JSON types.
        ("null", &past, &past, 401),
        ("true", &past, &past, 401),
        ("[1]", &past, &past, 401),
        (r#"{"$numberLong":"1"}"#, &past, &past, 401),
        (&ok_exp, "null", &past, 401),
    ];
    for (exp, nbf, iat, expected) in cases {
        let claims = claims_with(exp, nbf, iat, "");
        let answer = bearer(&f, &mint(HEADER, &claims)).await;
        assert_eq!(answer.status, *expected, "{claims}");
        // Again, now possibly from the token cache: the same verdict.
        let answer = bearer(&f, &mint(HEADER, &claims)).await;
        assert_eq!(answer.status, *expected, "cached: {claims}");
    }
}

#[tokio::test]
async fn an_expiry_in_the_year_9999_is_accepted_and_cached_safely() {
    let f = fixture();
    // 9999-12-31T23:59:59Z.
    let claims = claims_with("253402300799", "1", "1", "");
    let token = mint(HEADER, &claims);
    for _ in 0..3 {
        assert_eq!(bearer(&f, &token).await.status, 200);
    }
}

#[tokio::test]
async fn duplicate_json_keys_are_rejected() {
    // Verdict: a JSON object with a repeated member name is refused, in the
    // header and in the claims. RFC 7515 §5.2 and RFC 7519 §7.2 require
    // rejecting or keeping the last; parsers disagree on which one wins, so
    // a token whose meaning depends on the parser is not accepted at all.
    let f = fixture();
    let ok = valid_claims();
    let headers = [
        r#"{"alg":"HS256","alg":"none","kid":"k1"}"#,
        r#"{"alg":"none","alg":"HS256","kid":"k1"}"#,
        r#"{"alg":"HS256","kid":"other","kid":"k1"}"#,
        r#"{"alg":"HS256","kid":"k1","typ":"JWT","typ":"at+jwt"}"#,
        // Parameters authgate does not read, too: another parser might.
        r#"{"alg":"HS256","kid":"k1","x5u":"a","x5u":"b"}"#,
        r#"{"alg":"HS256","kid":"k1","ext":{"a":1,"a":2}}"#,
    ];
    for header in headers {
        let answer = bearer(&f, &mint(header, &ok)).await;
        assert_eq!(
            (answer.status, answer.kind),
            (401, Some(ErrorKind::InvalidFormat)),
            "{header}"
        );
    }
    let exp = (NOW + 3600).to_string();
    let past = (NOW - 10).to_string();
    let claims = [
        claims_with(&exp, &past, &past, r#","sub":"admin""#),
        // The same name, escaped differently.
        claims_with(&exp, &past, &past, r#","s\u0075b":"admin""#),
        // In a nested claim a handler might read.
        claims_with(
            &exp,
            &past,
            &past,
            r#","org":{"role":"user","role":"admin"}"#,
        ),
        claims_with(&exp, &past, &past, r#","exp":1"#),
        claims_with("1", &past, &past, &format!(r#","exp":{exp}"#)),
        claims_with(&exp, &past, &past, r#","iss":"https://evil.test""#),
        claims_with(&exp, &past, &past, r#","aud":"api://orders""#),
        claims_with(&exp, &past, &past, r#","scope":"a","scope":"admin""#),
    ];
    for claims in claims {
        let answer = bearer(&f, &mint(HEADER, &claims)).await;
        assert_eq!(
            (answer.status, answer.kind),
            (401, Some(ErrorKind::InvalidFormat)),
            "{claims}"
        );
    }
}

#[tokio::test]
async fn a_hostile_kid_selects_no_key() {
    let f = fixture();
    // A 1 MiB kid: over the token length limit.
    let header = format!(r#"{{"alg":"HS256","kid":"{}"}}"#, "k".repeat(1 << 20));
    let answer = bearer(&f, &mint(&header, &valid_claims())).await;
    assert_eq!(
        (answer.status, answer.kind),
        (401, Some(ErrorKind::InvalidFormat))
    );
    // Path characters are just an unknown kid: never a file name.
    let kids = [
        "../../etc/passwd",
        "..\\..\\windows\\win.ini",
        "/dev/zero",
        "k1/../k1",
        "k1\u{0000}",
        "%2e%2e%2fk1",
        "file:///etc/passwd",
        "k1' OR '1'='1",
    ];
    for kid in kids {
        let header = serde_json::json!({"alg": "HS256", "kid": kid}).to_string();
        let answer = bearer(&f, &mint(&header, &valid_claims())).await;
        assert_eq!(answer.status, 401, "{kid:?}");
        assert_eq!(answer.kind, Some(ErrorKind::UnknownKey), "{kid:?}");
    }
    // A kid just under the length limit.
    let header = format!(r#"{{"alg":"HS256","kid":"{}"}}"#, "k".repeat(10_000));
    assert_eq!(
        bearer(&f, &mint(&header, &valid_claims())).await.status,
        401
    );
}

#[tokio::test]
async fn a_body_that_never_ends_is_cut_off_at_the_limit() {
    let f = fixture();
    let sent = Arc::new(AtomicUsize::new(0));
    let request = Request::post("/hook")
        .header("x-hub-signature-256", github_signature(b"anything"))
        .body(Hostile::Endless(Arc::clone(&sent)))
        .unwrap();
    let answer = send(&f.layer, request).await;
    assert_eq!(
        (answer.status, answer.kind),
        (413, Some(ErrorKind::PayloadTooLarge))
    );
    // Read no further than one chunk past the limit.
    assert!(sent.load(Ordering::SeqCst) <= BODY_LIMIT + 1024);
}

#[tokio::test]
async fn a_body_of_endless_empty_frames_is_cut_off_too() {
    // It never grows and never returns Pending: before the fix the layer
    // spun on it forever, and not even this timeout could fire.
    let f = fixture();
    let request = Request::post("/hook")
        .header("x-hub-signature-256", github_signature(b"anything"))
        .body(Hostile::EmptyFrames)
        .unwrap();
    let answer = send(&f.layer, request).await;
    assert_eq!(
        (answer.status, answer.kind),
        (413, Some(ErrorKind::PayloadTooLarge))
    );
}

#[tokio::test]
async fn a_lying_or_overflowing_content_length_does_not_lift_the_limit() {
    let f = fixture();
    for length in ["1", "0", "18446744073709551616", "-1", "1, 1", "abc"] {
        let sent = Arc::new(AtomicUsize::new(0));
        let request = Request::post("/hook")
            .header("x-hub-signature-256", github_signature(b"anything"))
            .header("content-length", length)
            .body(Hostile::Endless(Arc::clone(&sent)))
            .unwrap();
        let answer = send(&f.layer, request).await;
        assert_eq!(answer.status, 413, "content-length: {length}");
        assert!(sent.load(Ordering::SeqCst) <= BODY_LIMIT + 1024);
    }
    // An honest announcement over the limit: 413 before a byte is read.
    let polls = Arc::new(AtomicUsize::new(0));
    let request = Request::post("/hook")
        .header("x-hub-signature-256", github_signature(b"anything"))
        .header("content-length", (BODY_LIMIT + 1).to_string())
        .body(Hostile::Stalled(Arc::clone(&polls)))
        .unwrap();
    assert_eq!(status_of(&f, request).await, 413);
    assert_eq!(polls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_body_that_never_starts_is_not_read_when_the_header_is_malformed() {
    let f = fixture();
    let malformed = [
        "sha256=".to_owned(),
        "sha256=zz".to_owned(),
        "sha1=0123456789abcdef0123456789abcdef01234567".to_owned(),
        format!("sha256={}", "0".repeat(63)),
        format!("sha256={}", "0".repeat(65)),
        format!("{}x", github_signature(b"")),
    ];
    for value in malformed {
        let polls = Arc::new(AtomicUsize::new(0));
        let request = Request::post("/hook")
            .header("x-hub-signature-256", &value)
            .body(Hostile::Stalled(Arc::clone(&polls)))
            .unwrap();
        let answer = send(&f.layer, request).await;
        assert_eq!(answer.status, 401, "{value}");
        assert_eq!(polls.load(Ordering::SeqCst), 0, "{value}: body polled");
    }
}

/// 20,000 here, 200x the capacity, next to the other hostile inputs;
/// `tests/flood.rs` sends a million distinct invalid credentials to each
/// bounded cache.
const FLOOD: usize = 20_000;
const CAPACITY: u64 = 100;

#[tokio::test]
async fn a_flood_of_unknown_api_keys_leaves_the_cache_bounded() {
    let scheme = ApiKeyScheme::builder(InMemoryKeyStore::new())
        .prefix("sk_live")
        .cache_capacity(CAPACITY)
        .build()
        .unwrap();
    let layer = AuthLayer::builder()
        .scheme(scheme.clone())
        .with_request_bodies()
        .build()
        .unwrap();
    // Well-formed keys with valid checksums, never stored: each one is a
    // distinct store miss the negative cache would remember.
    let generator = ApiKeyGenerator::new("sk_live").unwrap();
    for i in 0..FLOOD {
        let key = generator.generate("nobody", Scopes::empty()).unwrap();
        let request = get()
            .header("x-api-key", key.plaintext().expose())
            .body(empty())
            .unwrap();
        let answer = send(&layer, request).await;
        assert_eq!(answer.status, 401);
        if i % 5_000 == 0 {
            assert!(scheme.cached_entries().await <= CAPACITY);
        }
    }
    let cached = scheme.cached_entries().await;
    assert!(cached <= CAPACITY, "{cached} entries cached");
}

#[tokio::test]
async fn a_flood_of_distinct_tokens_leaves_the_token_cache_bounded() {
    let scheme = JwtScheme::builder()
        .issuer(
            Issuer::new(ISS)
                .audience(AUD)
                .key(JwtKey::shared_secret(&JWT_SECRET).unwrap().with_kid(KID)),
        )
        .clock(ManualClock::at_unix(NOW))
        .token_cache_capacity(CAPACITY)
        .build()
        .unwrap();
    let layer = AuthLayer::builder()
        .scheme(scheme.clone())
        .with_request_bodies()
        .build()
        .unwrap();
    // Only validated tokens are cached, so the flood is of valid tokens,
    // each distinct (its own jti), plus invalid ones that must not count.
    for i in 0..FLOOD {
        let extra = format!(r#","jti":"t-{i}""#);
        let exp = (NOW + 3600).to_string();
        let claims = claims_with(&exp, "1", "1", &extra);
        let token = mint(HEADER, &claims);
        let request = get()
            .header("authorization", format!("Bearer {token}"))
            .body(empty())
            .unwrap();
        assert_eq!(send(&layer, request).await.status, 200);
        let last = if token.ends_with('A') { "Q" } else { "A" };
        let forged = format!("{}{last}", &token[..token.len() - 1]);
        let request = get()
            .header("authorization", format!("Bearer {forged}"))
            .body(empty())
            .unwrap();
        assert_eq!(send(&layer, request).await.status, 401);
    }
    let cached = scheme.cached_tokens();
    assert!(cached <= CAPACITY, "{cached} tokens cached");
}
