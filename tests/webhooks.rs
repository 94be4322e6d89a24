//! GitHub, Stripe and Slack webhook signatures through the real layer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use authgate::clock::ManualClock;
use authgate::hmac::{GithubWebhook, SlackWebhook, StripeWebhook, WebhookSecrets};
use authgate::testing::WebhookSigner;
use authgate::{AuthError, AuthLayer, ErrorKind, Scheme};
use axum::body::Body;
use http::{Request, StatusCode};
use support::{body_bytes, body_echo};
use tower::{Layer, ServiceExt};

/// GitHub docs, "Validating webhook deliveries".
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const GITHUB_PAYLOAD: &str = "Hello, World!";
const GITHUB_SIGNATURE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

/// Slack docs, "Verifying requests from Slack".
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const SLACK_TS: u64 = 1_531_420_618;
const SLACK_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

struct Outcome {
    status: StatusCode,
    kind: Option<ErrorKind>,
    body: bytes::Bytes,
    calls: usize,
}

async fn send(scheme: impl Scheme, limit: Option<usize>, request: Request<Body>) -> Outcome {
    let mut builder = AuthLayer::builder().scheme(scheme).with_request_bodies();
    if let Some(limit) = limit {
        builder = builder.max_body_size(limit);
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let service = builder
        .build()
        .unwrap()
        .layer(body_echo(Arc::clone(&calls)));
    let response = service.oneshot(request).await.unwrap();
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

fn github(signature: &str, body: &'static str) -> Request<Body> {
    Request::post("/webhooks/github")
        .header("x-hub-signature-256", signature)
        .body(Body::from(body))
        .unwrap()
}

fn github_scheme() -> GithubWebhook {
    GithubWebhook::new(WebhookSecrets::single(GITHUB_SECRET))
}

#[tokio::test]
async fn github_published_vector_verifies_and_the_body_arrives_unchanged() {
    let out = send(
        github_scheme(),
        None,
        github(GITHUB_SIGNATURE, GITHUB_PAYLOAD),
    )
    .await;
    assert_eq!(out.status, 200);
    assert_eq!(out.body, GITHUB_PAYLOAD);
    assert_eq!(out.calls, 1);
}

#[tokio::test]
async fn github_tampered_body_or_signature_is_rejected() {
    let out = send(
        github_scheme(),
        None,
        github(GITHUB_SIGNATURE, "Hello, World?"),
    )
    .await;
    assert_eq!(
        (out.status, out.kind),
        (StatusCode::UNAUTHORIZED, Some(ErrorKind::BadSignature))
    );
    assert_eq!(out.calls, 0);
    let flipped = GITHUB_SIGNATURE.replace("757107", "757108");
    let out = send(github_scheme(), None, github(&flipped, GITHUB_PAYLOAD)).await;
    assert_eq!(out.kind, Some(ErrorKind::BadSignature));
    let out = send(github_scheme(), None, github("sha1=abc", GITHUB_PAYLOAD)).await;
    assert_eq!(out.kind, Some(ErrorKind::InvalidFormat));
}

#[tokio::test]
async fn github_wrong_secret_fails_and_rotation_keeps_both_valid() {
    let other = GithubWebhook::new(WebhookSecrets::single("another secret"));
    let out = send(other, None, github(GITHUB_SIGNATURE, GITHUB_PAYLOAD)).await;
    assert_eq!(out.kind, Some(ErrorKind::BadSignature));

    let clock = ManualClock::at_unix(1_000_000);
    let secrets = WebhookSecrets::single(GITHUB_SECRET);
    secrets.rotate(
        "the new secret",
        Duration::from_secs(60),
        std::time::UNIX_EPOCH + Duration::from_secs(1_000_000),
    );
    let scheme = || GithubWebhook::new(secrets.clone()).clock(clock.clone());
    let out = send(scheme(), None, github(GITHUB_SIGNATURE, GITHUB_PAYLOAD)).await;
    assert_eq!(out.status, 200, "old secret inside its grace period");
    let new_sig = signed(
        &WebhookSigner::github("the new secret"),
        0,
        GITHUB_PAYLOAD,
        "x-hub-signature-256",
    );
    let out = send(scheme(), None, github(&new_sig, GITHUB_PAYLOAD)).await;
    assert_eq!(out.status, 200, "new secret");
    clock.advance(Duration::from_secs(60));
    let out = send(scheme(), None, github(GITHUB_SIGNATURE, GITHUB_PAYLOAD)).await;
    assert_eq!(
        out.kind,
        Some(ErrorKind::Rotated),
        "old secret after its grace period"
    );
    let out = send(scheme(), None, github(&new_sig, GITHUB_PAYLOAD)).await;
    assert_eq!(out.status, 200);
}

#[tokio::test]
async fn oversized_body_is_413_and_the_inner_service_is_never_called() {
    // Announced by Content-Length: refused before reading.
    let out = send(
        github_scheme(),
        Some(12),
        github(GITHUB_SIGNATURE, GITHUB_PAYLOAD),
    )
    .await;
    assert_eq!(
        (out.status, out.kind),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            Some(ErrorKind::PayloadTooLarge)
        )
    );
    assert_eq!(out.calls, 0);

    // Streamed without a length: refused as soon as it grows past the limit.
    let request = Request::post("/")
        .header("x-hub-signature-256", GITHUB_SIGNATURE)
        .body(chunked(vec!["Hello, ", "World!"]))
        .unwrap();
    let out = send(github_scheme(), Some(12), request).await;
    assert_eq!(out.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(out.calls, 0);

    // Exactly at the limit is fine.
    let out = send(
        github_scheme(),
        Some(13),
        github(GITHUB_SIGNATURE, GITHUB_PAYLOAD),
    )
    .await;
    assert_eq!(out.status, 200);
}

/// A body of chunks without a known length.
fn chunked(chunks: Vec<&'static str>) -> Body {
    struct Chunks(std::vec::IntoIter<&'static str>);
    impl http_body::Body for Chunks {
        type Data = bytes::Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
            let next = self.0.next().map(|c| {
                Ok(http_body::Frame::data(bytes::Bytes::from_static(
                    c.as_bytes(),
                )))
            });
            std::task::Poll::Ready(next)
        }
    }
    Body::new(Chunks(chunks.into_iter()))
}

#[tokio::test]
async fn a_body_scheme_needs_a_buffered_layer() {
    let err = AuthLayer::builder()
        .scheme(github_scheme())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("with_request_bodies"), "{err}");
}

fn slack(ts: &str, signature: &str, body: &'static str) -> Request<Body> {
    Request::post("/webhooks/slack")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", signature)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

fn slack_scheme(now: u64) -> SlackWebhook {
    SlackWebhook::new(WebhookSecrets::single(SLACK_SECRET)).clock(ManualClock::at_unix(now))
}

#[tokio::test]
async fn slack_published_vector_verifies() {
    let out = send(
        slack_scheme(SLACK_TS),
        None,
        slack("1531420618", SLACK_SIGNATURE, SLACK_BODY),
    )
    .await;
    assert_eq!(out.status, 200);
    assert_eq!(out.body, SLACK_BODY);
}

#[tokio::test]
async fn slack_window_edges() {
    let req = || slack("1531420618", SLACK_SIGNATURE, SLACK_BODY);
    for (now, expect) in [
        (SLACK_TS + 300, None),
        (SLACK_TS + 301, Some(ErrorKind::Expired)),
        (SLACK_TS - 300, None),
        (SLACK_TS - 301, Some(ErrorKind::NotYetValid)),
    ] {
        let out = send(slack_scheme(now), None, req()).await;
        assert_eq!(
            out.kind,
            expect,
            "now = ts {:+}",
            now as i64 - SLACK_TS as i64
        );
    }
}

#[tokio::test]
async fn slack_tampered_timestamp_body_or_header_is_rejected() {
    let out = send(
        slack_scheme(SLACK_TS),
        None,
        slack("1531420619", SLACK_SIGNATURE, SLACK_BODY),
    )
    .await;
    assert_eq!(out.kind, Some(ErrorKind::BadSignature));
    let out = send(
        slack_scheme(SLACK_TS),
        None,
        slack("1531420618", SLACK_SIGNATURE, "token=x"),
    )
    .await;
    assert_eq!(out.kind, Some(ErrorKind::BadSignature));
    let no_ts = Request::post("/")
        .header("x-slack-signature", SLACK_SIGNATURE)
        .body(Body::from(SLACK_BODY))
        .unwrap();
    let out = send(slack_scheme(SLACK_TS), None, no_ts).await;
    assert_eq!(out.kind, Some(ErrorKind::InvalidFormat));
}

const STRIPE_SECRET: &str = "whsec_test_secret";
const STRIPE_BODY: &str = r#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded"}"#;

/// The header `signer` (the test kit's) sets on `body` at time `t`.
fn signed(signer: &WebhookSigner, t: u64, body: &str, header: &str) -> String {
    let mut request = Request::post("/").body(body.as_bytes().to_vec()).unwrap();
    signer.sign_at(&mut request, t);
    request.headers()[header].to_str().unwrap().to_owned()
}

fn stripe_header(secrets: &[&str], t: u64, body: &str) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        let one = signed(&WebhookSigner::stripe(secret), t, body, "stripe-signature");
        let (_, sig) = one.split_once(",v1=").unwrap();
        header.push_str(&format!(",v1={sig}"));
    }
    header.push_str(",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39");
    header
}

fn stripe(header: &str, body: &'static str) -> Request<Body> {
    Request::post("/webhooks/stripe")
        .header("stripe-signature", header)
        .body(Body::from(body))
        .unwrap()
}

fn stripe_scheme(now: u64, secrets: WebhookSecrets) -> StripeWebhook {
    StripeWebhook::new(secrets).clock(ManualClock::at_unix(now))
}

#[tokio::test]
async fn stripe_scheme_verifies_with_any_v1() {
    let t = 1_700_000_000;
    let header = stripe_header(&["whsec_other", STRIPE_SECRET], t, STRIPE_BODY);
    let out = send(
        stripe_scheme(t, WebhookSecrets::single(STRIPE_SECRET)),
        None,
        stripe(&header, STRIPE_BODY),
    )
    .await;
    assert_eq!(out.status, 200);
    assert_eq!(out.body, STRIPE_BODY);

    // Two secrets valid at once on our side.
    let secrets = WebhookSecrets::single("whsec_unrelated");
    secrets.add(STRIPE_SECRET);
    let header = stripe_header(&[STRIPE_SECRET], t, STRIPE_BODY);
    let out = send(
        stripe_scheme(t, secrets),
        None,
        stripe(&header, STRIPE_BODY),
    )
    .await;
    assert_eq!(out.status, 200);
}

#[tokio::test]
async fn stripe_tolerance_edges_and_tampering() {
    let t = 1_700_000_000;
    let header = stripe_header(&[STRIPE_SECRET], t, STRIPE_BODY);
    let secrets = || WebhookSecrets::single(STRIPE_SECRET);
    for (now, expect) in [
        (t + 300, None),
        (t + 301, Some(ErrorKind::Expired)),
        (t - 300, None),
        (t - 301, Some(ErrorKind::NotYetValid)),
    ] {
        let out = send(
            stripe_scheme(now, secrets()),
            None,
            stripe(&header, STRIPE_BODY),
        )
        .await;
        assert_eq!(out.kind, expect);
    }
    // The timestamp is signed: changing it breaks the signature.
    let moved = header.replacen(&format!("t={t}"), &format!("t={}", t + 1), 1);
    let out = send(
        stripe_scheme(t, secrets()),
        None,
        stripe(&moved, STRIPE_BODY),
    )
    .await;
    assert_eq!(out.kind, Some(ErrorKind::BadSignature));
    let out = send(
        stripe_scheme(t, secrets()),
        None,
        stripe(&header, r#"{"id":"evt_2"}"#),
    )
    .await;
    assert_eq!(out.kind, Some(ErrorKind::BadSignature));
    // Only v0: no v1 signature at all.
    let out = send(
        stripe_scheme(t, secrets()),
        None,
        stripe(&format!("t={t},v0=00"), STRIPE_BODY),
    )
    .await;
    assert_eq!(out.kind, Some(ErrorKind::InvalidFormat));
}

#[tokio::test]
async fn payload_too_large_maps_to_413_problem_and_grpc_8() {
    let layer = AuthLayer::builder()
        .scheme(github_scheme())
        .with_request_bodies()
        .max_body_size(4)
        .build()
        .unwrap();
    let service = layer.layer(body_echo(Arc::new(AtomicUsize::new(0))));

    let response = service
        .clone()
        .oneshot(github(GITHUB_SIGNATURE, GITHUB_PAYLOAD))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(response.headers().get("www-authenticate").is_none());
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = serde_json::from_slice(&body_bytes(response).await).unwrap();
    assert_eq!(problem["status"], 413);

    let mut grpc = github(GITHUB_SIGNATURE, GITHUB_PAYLOAD);
    grpc.headers_mut()
        .insert("content-type", "application/grpc".parse().unwrap());
    let response = service.oneshot(grpc).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "8");
}

#[tokio::test]
async fn an_opt_in_replay_cache_rejects_a_second_identical_delivery() {
    let cache = authgate::hmac::ReplayCache::new(1_000, Duration::from_secs(600));
    let scheme = || slack_scheme(SLACK_TS).replay_cache(cache.clone());
    let req = || slack("1531420618", SLACK_SIGNATURE, SLACK_BODY);
    assert_eq!(send(scheme(), None, req()).await.status, StatusCode::OK);
    let out = send(scheme(), None, req()).await;
    assert_eq!(
        (out.status, out.kind, out.calls),
        (StatusCode::UNAUTHORIZED, Some(ErrorKind::Replayed), 0)
    );
}
