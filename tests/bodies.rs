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

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::hmac::{GithubWebhook, WebhookSecrets};
use authgate::{AuthLayer, Scopes};
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
    let store = InMemoryKeyStore::new();
    let key = ApiKeyGenerator::new("sk_test")
        .unwrap()
        .generate("acct", Scopes::empty())
        .unwrap();
    store.insert(key.record().clone());
    let layer = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_test").unwrap())
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
        .header("x-api-key", key.plaintext().expose())
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
