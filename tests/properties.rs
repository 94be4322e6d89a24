//! Property tests through the real `AuthLayer` (issue 8): arbitrary bytes
//! in credential headers never panic the layer, every signer's output
//! verifies, and flipping any one byte of a credential is rejected.
//!
//! Case counts are kept small (64–256) so the suite stays fast in debug
//! builds; `PROPTEST_CASES` raises them for a longer run.

#![cfg(all(feature = "api-key", feature = "jwt", feature = "hmac"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::clock::ManualClock;
use authgate::hmac::{
    GithubWebhook, HmacKey, HmacScheme, HttpSignatureScheme, HttpSigner, InMemorySecretStore,
    SecretRecord, Signer, SlackWebhook, StripeWebhook, WebhookSecrets,
};
use authgate::jwt::{Issuer, JwtKey, JwtScheme};
use authgate::request_body::Buffered;
use authgate::{AuthLayer, Scopes};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use tower::{service_fn, ServiceBuilder, ServiceExt};

const ISS: &str = "https://issuer.test";
const AUD: &str = "api://orders";
const NOW: u64 = 1_800_000_000;
const JWT_SECRET: [u8; 32] = [7u8; 32];
const WEBHOOK_SECRET: &str = "property-webhook-secret";
const HMAC_KEY_ID: &str = "partner-1";
const HMAC_SECRET: &str = "s3cr3t-for-properties";
/// Every status the layer may answer with.
const STATUSES: [u16; 6] = [200, 400, 401, 403, 413, 503];

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
}

/// `cases` per property, unless `PROPTEST_CASES` asks for another count.
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::with_cases(cases);
    if std::env::var_os("PROPTEST_CASES").is_some() {
        config.cases = ProptestConfig::default().cases;
    }
    config
}

fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(future))
}

/// Sends `request` through `layer` to a service that echoes the body;
/// returns the status and the body the inner service saw.
fn send(layer: &AuthLayer<Buffered>, request: Request<Full<Bytes>>) -> (u16, Bytes) {
    let service = ServiceBuilder::new()
        .layer(layer.clone())
        .service(service_fn(|req: Request<Full<Bytes>>| async move {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            Ok::<_, Infallible>(Response::new(Full::new(body)))
        }));
    block_on(async {
        let response = tokio::time::timeout(Duration::from_secs(10), service.oneshot(request))
            .await
            .expect("answered in bounded time")
            .unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body)
    })
}

/// One layer with API keys, JWTs (static shared secret) and GitHub, Stripe
/// and Slack webhooks, and a valid API key, JWT and GitHub signature.
struct Mixed {
    layer: AuthLayer<Buffered>,
    api_key: String,
    token: String,
    webhook_body: Bytes,
    webhook_signature: String,
}

static MIXED: LazyLock<Mixed> = LazyLock::new(|| {
    let store = InMemoryKeyStore::new();
    let key = ApiKeyGenerator::new("sk_live")
        .unwrap()
        .generate("acct_42", Scopes::parse("orders:read"))
        .unwrap();
    store.insert(key.record().clone());
    let jwt = JwtScheme::builder()
        .issuer(
            Issuer::new(ISS)
                .audience(AUD)
                .key(JwtKey::shared_secret(&JWT_SECRET).unwrap()),
        )
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    let layer = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_live").unwrap())
        .scheme(jwt)
        .scheme(GithubWebhook::new(WebhookSecrets::single(WEBHOOK_SECRET)))
        .scheme(StripeWebhook::new(WebhookSecrets::single(WEBHOOK_SECRET)))
        .scheme(SlackWebhook::new(WebhookSecrets::single(WEBHOOK_SECRET)))
        .with_request_bodies()
        .max_body_size(4096)
        .build()
        .unwrap();
    let webhook_body = Bytes::from_static(br#"{"action":"opened"}"#);
    let webhook_signature = github_signature(&webhook_body);
    Mixed {
        layer,
        api_key: key.plaintext().expose().to_owned(),
        token: hs256(&format!(
            r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"alice","exp":{},"iat":{}}}"#,
            NOW + 3600,
            NOW - 10
        )),
        webhook_body,
        webhook_signature,
    }
});

fn hs256(claims: &str) -> String {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let input = format!("{}.{}", b64(br#"{"alg":"HS256"}"#), b64(claims.as_bytes()));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &JWT_SECRET);
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

fn github_signature(body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, WEBHOOK_SECRET.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn mixed_request(name: &str, value: HeaderValue, body: Bytes) -> Request<Full<Bytes>> {
    Request::post("/orders")
        .header(name, value)
        .body(Full::new(body))
        .unwrap()
}

/// The three valid credentials, in the headers they travel in.
fn valid_credentials() -> [(&'static str, String, Bytes); 3] {
    let m = &*MIXED;
    [
        ("x-api-key", m.api_key.clone(), Bytes::new()),
        ("authorization", format!("Bearer {}", m.token), Bytes::new()),
        (
            "x-hub-signature-256",
            m.webhook_signature.clone(),
            m.webhook_body.clone(),
        ),
    ]
}

/// Every header a scheme of [`MIXED`] reads.
const HEADERS: [&str; 6] = [
    "authorization",
    "x-api-key",
    "x-hub-signature-256",
    "stripe-signature",
    "x-slack-signature",
    "x-slack-request-timestamp",
];

/// A unique nonce per signed request, so the replay caches never see one
/// twice across cases.
fn nonce() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("n-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Bytes a header value may hold (RFC 9110 §5.5: visible ASCII, space,
/// tab and obs-text, non-UTF-8 included); anything else `http` refuses
/// before a layer could see it.
fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![Just(b'\t'), 0x20u8..=0x7e, 0x80u8..=0xff],
        0..max,
    )
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        Just("PUT".to_owned()),
        Just("PATCH".to_owned()),
        Just("DELETE".to_owned()),
        "[A-Z]{1,12}",
    ]
}

/// Paths and queries with every character a URI allows there, including
/// stray and valid percent-escapes.
fn path() -> impl Strategy<Value = String> {
    "/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,40}"
}

fn query() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,40}")
}

fn target(path: &str, query: Option<&str>) -> String {
    match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    }
}

static NATIVE: LazyLock<AuthLayer<Buffered>> = LazyLock::new(|| {
    let store = InMemorySecretStore::new();
    store.insert(SecretRecord::new(
        HMAC_KEY_ID,
        HmacKey::new(HMAC_SECRET),
        "acct_42",
    ));
    AuthLayer::builder()
        .scheme(
            HmacScheme::builder(store)
                .clock(ManualClock::at_unix(NOW))
                .require_signed_header("host")
                .build()
                .unwrap(),
        )
        .with_request_bodies()
        .build()
        .unwrap()
});

static RFC9421: LazyLock<AuthLayer<Buffered>> = LazyLock::new(|| {
    let store = InMemorySecretStore::new();
    store.insert(SecretRecord::new(
        HMAC_KEY_ID,
        HmacKey::new(HMAC_SECRET),
        "acct_42",
    ));
    AuthLayer::builder()
        .scheme(
            HttpSignatureScheme::builder(store)
                .clock(ManualClock::at_unix(NOW))
                .build()
                .unwrap(),
        )
        .with_request_bodies()
        .build()
        .unwrap()
});

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_header_bytes_never_panic(
        header in 0..HEADERS.len(),
        prefix in 0..5usize,
        bytes in header_bytes(300),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let name = HEADERS[header];
        let mut value = [&b""[..], b"Bearer ", b"ApiKey ", b"sha256=", b"t=1800000000,v1="][prefix]
            .to_vec();
        value.extend_from_slice(&bytes);
        let value = HeaderValue::from_bytes(&value).unwrap();
        let (status, _) = send(&MIXED.layer, mixed_request(name, value, Bytes::from(body)));
        prop_assert!(STATUSES.contains(&status), "{name}: {status}");
        prop_assert_ne!(status, 200);
    }

    #[test]
    fn arbitrary_bytes_next_to_a_valid_credential_never_panic(
        which in 0..3usize,
        header in 0..HEADERS.len(),
        bytes in header_bytes(300),
    ) {
        let (name, credential, body) = valid_credentials()[which].clone();
        let other = HEADERS[header];
        let junk = HeaderValue::from_bytes(&bytes).unwrap();
        let mut request = mixed_request(name, credential.parse().unwrap(), body);
        request.headers_mut().append(other, junk);
        let (status, _) = send(&MIXED.layer, request);
        prop_assert!(STATUSES.contains(&status), "{name} + {other}: {status}");
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_signature_headers_never_panic(
        rfc9421 in any::<bool>(),
        signature_input in header_bytes(300),
        signature in header_bytes(300),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let request = if rfc9421 {
            let mut input = b"sig1=(\"@method\" \"@authority\" \"@path\");".to_vec();
            input.extend_from_slice(&signature_input);
            let mut sig = b"sig1=:".to_vec();
            sig.extend_from_slice(&signature);
            Request::post("/orders")
                .header("host", "api.example.com")
                .header("signature-input", HeaderValue::from_bytes(&input).unwrap())
                .header("signature", HeaderValue::from_bytes(&sig).unwrap())
        } else {
            let mut value = b"HMAC-SHA256 keyId=\"partner-1\", ".to_vec();
            value.extend_from_slice(&signature_input);
            Request::post("/orders")
                .header("host", "api.example.com")
                .header("authorization", HeaderValue::from_bytes(&value).unwrap())
        };
        let request = request.body(Full::new(Bytes::from(body))).unwrap();
        let layer = if rfc9421 { &*RFC9421 } else { &*NATIVE };
        let (status, _) = send(layer, request);
        prop_assert!(STATUSES.contains(&status), "{status}");
        prop_assert_ne!(status, 200);
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn native_hmac_signatures_verify(
        method in method(),
        path in path(),
        query in query(),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let request = Request::builder()
            .method(method.as_str())
            .uri(target(&path, query.as_deref()))
            .header("host", "api.example.com")
            .body(Bytes::from(body.clone()));
        prop_assume!(request.is_ok(), "not a request http accepts");
        let mut request = request.unwrap();
        let signer = Signer::new(HMAC_KEY_ID, HmacKey::new(HMAC_SECRET))
            .unwrap()
            .sign_header("host")
            .unwrap();
        signer.sign_at(&mut request, NOW, &nonce()).unwrap();
        let (status, echoed) = send(&NATIVE, request.map(Full::new));
        prop_assert_eq!(status, 200, "{} {}", method, target(&path, query.as_deref()));
        prop_assert_eq!(&echoed[..], &body[..]);
    }

    #[test]
    fn rfc9421_signatures_verify(
        method in method(),
        path in path(),
        query in query(),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let request = Request::builder()
            .method(method.as_str())
            .uri(target(&path, query.as_deref()))
            .header("host", "api.example.com")
            .body(Bytes::from(body.clone()));
        prop_assume!(request.is_ok(), "not a request http accepts");
        let mut request = request.unwrap();
        let signer = HttpSigner::new("sig1", HMAC_KEY_ID, HmacKey::new(HMAC_SECRET))
            .unwrap()
            .cover("@method")
            .unwrap()
            .cover("@authority")
            .unwrap()
            .cover("@path")
            .unwrap()
            .cover("@query")
            .unwrap()
            .cover("content-digest")
            .unwrap();
        signer.sign_at(&mut request, NOW, Some(&nonce())).unwrap();
        let (status, echoed) = send(&RFC9421, request.map(Full::new));
        prop_assert_eq!(status, 200, "{} {}", method, target(&path, query.as_deref()));
        prop_assert_eq!(&echoed[..], &body[..]);
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn flipping_one_byte_of_a_credential_is_rejected(
        which in 0..3usize,
        position in any::<prop::sample::Index>(),
        replacement in any::<u8>(),
    ) {
        let (name, credential, body) = valid_credentials()[which].clone();
        let (status, _) = send(&MIXED.layer, mixed_request(name, credential.parse().unwrap(), body.clone()));
        prop_assert_eq!(status, 200, "the unflipped {} passes", name);

        let mut flipped = credential.clone().into_bytes();
        // The `Bearer ` scheme name is matched without case (RFC 9110
        // §11.1): only the token after it is the credential.
        let skip = if name == "authorization" { "Bearer ".len() } else { 0 };
        let at = skip + position.index(flipped.len() - skip);
        let original = flipped[at];
        prop_assume!(replacement != original);
        // Hex digits compare without case: `A` and `a` are the same tag.
        let same_hex_digit = name == "x-hub-signature-256"
            && at >= "sha256=".len()
            && original.is_ascii_hexdigit()
            && replacement.eq_ignore_ascii_case(&original);
        prop_assume!(!same_hex_digit);
        flipped[at] = replacement;
        // A control byte is refused by `http` before a layer could see it.
        let value = HeaderValue::from_bytes(&flipped);
        prop_assume!(value.is_ok());
        let value = value.unwrap();
        let (status, _) = send(&MIXED.layer, mixed_request(name, value, body));
        prop_assert!(
            status == 400 || status == 401,
            "{} with byte {} {:?} -> {:?}: {}",
            name,
            at,
            char::from(original),
            char::from(replacement),
            status
        );
    }
}
