//! Shared fixtures: a key store with one key in every state, echo services
//! that report the principal or the body they received, and log capture.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authgate::api_key::{InMemoryKeyStore, KeyRecord, KeyStore, StoreError};
use authgate::Principal;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, BoxError, Service};

/// Plaintext keys, one per state.
pub struct Keys {
    /// Scopes `read admin`.
    pub admin: String,
    /// Scope `read`.
    pub reader: String,
    pub expired: String,
    pub revoked: String,
    /// Right id, wrong secret.
    pub wrong_secret: String,
    /// Never stored.
    pub unknown: String,
    /// An `sk_test` key, stored.
    pub test_env: String,
}

impl Keys {
    /// Every plaintext, for leak checks.
    pub fn all(&self) -> [&str; 7] {
        [
            &self.admin,
            &self.reader,
            &self.expired,
            &self.revoked,
            &self.wrong_secret,
            &self.unknown,
            &self.test_env,
        ]
    }
}

/// Keys in every state, made with the kit's `TestApiKeys`.
#[cfg(feature = "testing")]
pub fn fixture() -> (InMemoryKeyStore, Keys) {
    let live = authgate::testing::TestApiKeys::new("sk_live").unwrap();
    let keys = Keys {
        admin: live.issue("acct_admin", "read admin"),
        reader: live.issue("acct_reader", "read"),
        expired: live.issue_expired("acct_expired", "read"),
        revoked: live.issue_revoked("acct_revoked", "read"),
        wrong_secret: live.issue_wrong_secret("acct_wrong", "read"),
        unknown: live.unknown(),
        test_env: live
            .with_prefix("sk_test")
            .unwrap()
            .issue("acct_test", "read"),
    };
    (live.store(), keys)
}

/// The id part of a key.
pub fn key_id(key: &str) -> &str {
    let (head, _) = key.rsplit_once('_').unwrap();
    head.rsplit_once('_').unwrap().1
}

/// The secret part of a key.
pub fn key_secret(key: &str) -> &str {
    key.rsplit_once('_').unwrap().1
}

/// An inner service answering 200 with `subject scopes` of the principal, or
/// `anonymous`.
pub async fn echo(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = match request.extensions().get::<Principal>() {
        Some(p) => format!("{} {}", p.subject(), p.scopes()),
        None => "anonymous".to_owned(),
    };
    Ok(Response::new(Full::new(Bytes::from(text))))
}

pub async fn body_text<B>(body: B) -> String
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let bytes = body.collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A store that counts look-ups, optionally fails or stalls.
#[derive(Clone)]
pub struct TestStore {
    pub inner: InMemoryKeyStore,
    pub lookups: Arc<AtomicUsize>,
    pub mode: StoreMode,
}

#[derive(Clone, Copy)]
pub enum StoreMode {
    Normal,
    Fail,
    Stall(Duration),
    Slow(Duration),
}

impl TestStore {
    pub fn new(inner: InMemoryKeyStore, mode: StoreMode) -> Self {
        Self {
            inner,
            lookups: Arc::new(AtomicUsize::new(0)),
            mode,
        }
    }

    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
}

impl KeyStore for TestStore {
    async fn find(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        match self.mode {
            StoreMode::Normal => {}
            StoreMode::Fail => return Err(StoreError::new("connection refused")),
            StoreMode::Stall(d) | StoreMode::Slow(d) => tokio::time::sleep(d).await,
        }
        self.inner.find(id).await
    }
}

/// Log output captured from a thread-local subscriber.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Captures every event on this thread at `level` and above until the guard
/// drops. Use a current-thread runtime so every event lands here.
pub fn capture_logs(level: tracing::Level) -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (capture, tracing::subscriber::set_default(subscriber))
}

/// Counts calls and answers with the received body, unchanged.
pub fn body_echo(
    calls: Arc<AtomicUsize>,
) -> impl Service<
    Request<axum::body::Body>,
    Response = Response<axum::body::Body>,
    Error = Infallible,
    Future: Send,
> + Clone
       + Send
       + 'static {
    service_fn(move |req: Request<axum::body::Body>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            let bytes = req
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            Ok::<_, Infallible>(Response::new(axum::body::Body::from(bytes)))
        }
    })
}

/// The whole body of a response.
pub async fn body_bytes<B>(response: Response<B>) -> bytes::Bytes
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    match response.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => bytes::Bytes::new(),
    }
}
