//! How a `with_request_bodies()` layer treats bodies: read only for schemes
//! that sign them, passed on byte for byte, never read for others.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use authgate::hmac::{GithubWebhook, WebhookSecrets};
use authgate::testing::TestApiKeys;
use authgate::AuthLayer;
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame};
use tower::{service_fn, Layer, ServiceExt};

/// A body that remembers whether it was polled, and whether it is the one
/// the client sent (`original`) or one rebuilt from read bytes.
struct Tracked {
    chunks: Vec<Bytes>,
    original: bool,
    polled: Arc<AtomicBool>,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.polled.store(true, Ordering::SeqCst);
        if self.chunks.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(Ok(Frame::data(self.chunks.remove(0)))))
        }
    }
}

impl From<Bytes> for Tracked {
    fn from(bytes: Bytes) -> Self {
        Self {
            chunks: vec![bytes],
            original: false,
            polled: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// Every byte value, twice, in uneven chunks.
fn binary_chunks() -> Vec<Bytes> {
    let all: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
    all.chunks(100).map(Bytes::copy_from_slice).collect()
}

fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    let tag = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), message);
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// What the inner service saw: whether the body was the client's own, and its bytes.
type Seen = Arc<std::sync::Mutex<Option<(bool, Vec<u8>)>>>;

/// An inner service recording whether it got the client's own body.
fn recording(
    seen: Seen,
) -> impl tower::Service<
    Request<Tracked>,
    Response = Response<String>,
    Error = std::convert::Infallible,
    Future: Send,
> + Clone
       + Send
       + 'static {
    service_fn(move |req: Request<Tracked>| {
        let seen = Arc::clone(&seen);
        async move {
            let body = req.into_body();
            *seen.lock().unwrap() = Some((body.original, body.chunks.concat()));
            Ok::<_, std::convert::Infallible>(Response::new(String::new()))
        }
    })
}

#[tokio::test]
async fn bodies_of_schemes_that_do_not_sign_them_are_never_read() {
    let keys = TestApiKeys::new("sk_test").unwrap();
    let key = keys.issue("acct", "");
    let layer = AuthLayer::builder()
        .scheme(keys.scheme())
        .scheme(GithubWebhook::new(WebhookSecrets::single("s")))
        .with_request_bodies()
        .build()
        .unwrap();
    let seen = Arc::new(std::sync::Mutex::new(None));
    let service = layer.layer(recording(Arc::clone(&seen)));

    let polled = Arc::new(AtomicBool::new(false));
    let body = Tracked {
        chunks: binary_chunks(),
        original: true,
        polled: Arc::clone(&polled),
    };
    let request = Request::post("/")
        .header("x-api-key", &key)
        .body(body)
        .unwrap();
    assert_eq!(service.oneshot(request).await.unwrap().status(), 200);
    assert!(
        !polled.load(Ordering::SeqCst),
        "an API-key request's body was read"
    );
    let (original, bytes) = seen.lock().unwrap().take().unwrap();
    assert!(original, "the handler must get the client's own body");
    assert_eq!(bytes, binary_chunks().concat());
}

#[tokio::test]
async fn the_handler_receives_exactly_the_signed_bytes() {
    let layer = AuthLayer::builder()
        .scheme(GithubWebhook::new(WebhookSecrets::single("s")))
        .with_request_bodies()
        .build()
        .unwrap();
    let seen = Arc::new(std::sync::Mutex::new(None));
    let service = layer.layer(recording(Arc::clone(&seen)));
    let expected: Vec<u8> = binary_chunks().concat();
    let body = Tracked {
        chunks: binary_chunks(),
        original: true,
        polled: Arc::new(AtomicBool::new(false)),
    };
    let request = Request::post("/")
        .header(
            "x-hub-signature-256",
            format!("sha256={}", hmac_hex(b"s", &expected)),
        )
        .body(body)
        .unwrap();
    assert_eq!(service.oneshot(request).await.unwrap().status(), 200);
    let (original, bytes) = seen.lock().unwrap().take().unwrap();
    assert!(
        !original,
        "the handler gets a body rebuilt from the read bytes"
    );
    assert_eq!(bytes, expected);
}

/// A body that yields one byte, then never another (a client trickling, or
/// stalled, after the headers).
struct Stalled {
    sent: bool,
}

impl Body for Stalled {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.sent {
            Poll::Pending
        } else {
            self.sent = true;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"{")))))
        }
    }
}

impl From<Bytes> for Stalled {
    fn from(_: Bytes) -> Self {
        Self { sent: true }
    }
}

/// Regression (issue 13.2): the body of a signed request used to be read
/// with no time limit; a stalled client held the task and its buffer
/// forever. Now the read has a deadline, answered 408 (gRPC 4).
#[tokio::test(start_paused = true)]
async fn a_stalled_signed_body_is_answered_408_at_the_deadline() {
    let layer = AuthLayer::builder()
        .scheme(GithubWebhook::new(WebhookSecrets::single("s")))
        .with_request_bodies()
        .body_read_timeout(std::time::Duration::from_secs(3))
        .build()
        .unwrap();
    let service = layer.layer(service_fn(|_req: Request<Stalled>| async {
        Ok::<_, std::convert::Infallible>(Response::new(String::new()))
    }));
    let signature = format!("sha256={}", "0".repeat(64));
    let started = tokio::time::Instant::now();
    let request = Request::post("/")
        .header("x-hub-signature-256", &signature)
        .body(Stalled { sent: false })
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 408);
    assert_eq!(
        response
            .extensions()
            .get::<authgate::AuthError>()
            .unwrap()
            .kind(),
        authgate::ErrorKind::BodyTimeout
    );
    assert!(response.headers().get("www-authenticate").is_none());
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(3) && waited < std::time::Duration::from_secs(4),
        "{waited:?}"
    );

    let request = Request::post("/")
        .header("content-type", "application/grpc")
        .header("x-hub-signature-256", &signature)
        .body(Stalled { sent: false })
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["grpc-status"], "4");
}

#[test]
fn a_zero_body_deadline_is_a_configuration_error() {
    let built = AuthLayer::builder()
        .scheme(GithubWebhook::new(WebhookSecrets::single("s")))
        .with_request_bodies()
        .body_read_timeout(std::time::Duration::ZERO)
        .build();
    assert!(built.is_err());
}

/// The same over a real socket: a client that sends the headers and one
/// byte of a 100-byte body, then nothing, gets a 408 from an axum server.
#[tokio::test]
async fn a_trickling_client_on_a_real_connection_gets_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let layer = AuthLayer::builder()
        .scheme(GithubWebhook::new(WebhookSecrets::single("s")))
        .with_request_bodies()
        .body_read_timeout(std::time::Duration::from_millis(300))
        .build()
        .unwrap();
    let router = axum::Router::new()
        .route("/hook", axum::routing::post(|| async { "ok" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /hook HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 100\r\nx-hub-signature-256: sha256={}\r\n\r\n{{",
        "0".repeat(64)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("the server answered within the deadline")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..read]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

/// A body-signing scheme whose key ids are all unknown: its pre-check
/// refuses every request before the body is read.
struct UnknownIds;

impl authgate::Scheme for UnknownIds {
    fn name(&self) -> &'static str {
        "unknown_ids"
    }
    fn locations(&self) -> Vec<authgate::CredentialLocation> {
        vec![authgate::CredentialLocation::header("x-signature").unwrap()]
    }
    fn challenge(&self) -> authgate::Challenge {
        authgate::Challenge::new("Signature")
    }
    fn reads_body(&self) -> bool {
        true
    }
    fn check_before_body(
        &self,
        _: &authgate::Credential,
        _: &http::request::Parts,
    ) -> Option<authgate::PrecheckFuture> {
        Some(Box::pin(async {
            tokio::task::yield_now().await;
            Err(authgate::AuthError::new(authgate::ErrorKind::UnknownKey))
        }))
    }
    fn verify(
        &self,
        _: &authgate::Credential,
        _: &authgate::VerifyContext<'_>,
    ) -> authgate::Verification {
        panic!("verify runs only after the pre-check passed")
    }
}

/// Issue 13.2: a scheme can refuse an unknown key id before the layer
/// reads (and buffers) the body.
#[tokio::test]
async fn a_failed_pre_check_answers_before_the_body_is_read() {
    let layer = AuthLayer::builder()
        .scheme(UnknownIds)
        .with_request_bodies()
        .build()
        .unwrap();
    let seen = Arc::new(std::sync::Mutex::new(None));
    let service = layer.layer(recording(Arc::clone(&seen)));
    let polled = Arc::new(AtomicBool::new(false));
    let body = Tracked {
        chunks: binary_chunks(),
        original: true,
        polled: Arc::clone(&polled),
    };
    let request = Request::post("/")
        .header("x-signature", "k1:abc")
        .body(body)
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(!polled.load(Ordering::SeqCst), "the body was read");
    assert!(seen.lock().unwrap().is_none());
}

/// Review of issue 13.2: the pre-check used to be skipped for an empty
/// body (`is_end_stream`), so a check made only there never ran for a GET.
#[tokio::test]
async fn the_pre_check_runs_for_an_empty_body_too() {
    let layer = AuthLayer::builder()
        .scheme(UnknownIds)
        .with_request_bodies()
        .build()
        .unwrap();
    let seen = Arc::new(std::sync::Mutex::new(None));
    let service = layer.layer(recording(Arc::clone(&seen)));
    let body = Tracked {
        chunks: Vec::new(),
        original: true,
        polled: Arc::new(AtomicBool::new(false)),
    };
    let request = Request::get("/")
        .header("x-signature", "k1:abc")
        .body(body)
        .unwrap();
    assert_eq!(service.oneshot(request).await.unwrap().status(), 401);
}

/// Review of issue 13.2: Stripe and Slack checked their timestamp window
/// only after reading the body; a year-old timestamp held the body for the
/// whole deadline. Now the window is checked first.
#[tokio::test(start_paused = true)]
async fn stripe_and_slack_timestamps_out_of_window_are_refused_before_the_body() {
    use authgate::hmac::{SlackWebhook, StripeWebhook};
    let stripe = AuthLayer::builder()
        .scheme(StripeWebhook::new(WebhookSecrets::single("s")))
        .with_request_bodies()
        .build()
        .unwrap();
    let slack = AuthLayer::builder()
        .scheme(SlackWebhook::new(WebhookSecrets::single("s")))
        .with_request_bodies()
        .build()
        .unwrap();
    let inner = || {
        service_fn(|_req: Request<Stalled>| async {
            Ok::<_, std::convert::Infallible>(Response::new(String::new()))
        })
    };
    let started = tokio::time::Instant::now();
    let request = Request::post("/")
        .header("stripe-signature", format!("t=1,v1={}", "0".repeat(64)))
        .body(Stalled { sent: false })
        .unwrap();
    let response = stripe.layer(inner()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), 401);
    let request = Request::post("/")
        .header("x-slack-signature", format!("v0={}", "0".repeat(64)))
        .header("x-slack-request-timestamp", "1")
        .body(Stalled { sent: false })
        .unwrap();
    let response = slack.layer(inner()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}
