//! `invalidate` is immediate for the HMAC secret stores too (issue 13.3a):
//! a store read that began before the revocation and ends after
//! `invalidate()` returned is never used for a request that starts later.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use authgate::clock::ManualClock;
use authgate::hmac::{HmacKey, HmacScheme, InMemorySecretStore, SecretRecord, SecretStore, Signer};
use authgate::{AuthError, AuthLayer, ErrorKind, StoreError};
use axum::body::Body;
use bytes::Bytes;
use http::Request;
use support::body_echo;
use tower::{Layer, ServiceExt};

const NOW: u64 = 1_700_000_000;

/// Reads the record at once, answers later.
#[derive(Clone)]
struct SnapshotThenSlow {
    inner: InMemorySecretStore,
    delay: Duration,
}

impl SecretStore for SnapshotThenSlow {
    async fn find(&self, key_id: &str) -> Result<Option<SecretRecord>, StoreError> {
        let snapshot = self.inner.get(key_id);
        tokio::time::sleep(self.delay).await;
        Ok(snapshot)
    }
}

fn signed(nonce: &str) -> Request<Body> {
    let mut request = Request::post("/orders")
        .header("host", "api.example.com")
        .body(Bytes::from_static(b"{}"))
        .unwrap();
    Signer::new("partner-1", HmacKey::new("s3cr3t"))
        .unwrap()
        .sign_at(&mut request, NOW, nonce)
        .unwrap();
    request.map(Body::from)
}

#[tokio::test]
async fn a_secret_read_in_flight_across_invalidate_is_never_served_afterwards() {
    let store = InMemorySecretStore::new();
    store.insert(SecretRecord::new(
        "partner-1",
        HmacKey::new("s3cr3t"),
        "acct_42",
    ));
    let scheme = HmacScheme::builder(SnapshotThenSlow {
        inner: store.clone(),
        delay: Duration::from_millis(300),
    })
    .clock(ManualClock::at_unix(NOW))
    .build()
    .unwrap();
    let layer = AuthLayer::builder()
        .scheme(scheme.clone())
        .with_request_bodies()
        .build()
        .unwrap();
    let service = layer.layer(body_echo(Arc::new(AtomicUsize::new(0))));

    let in_flight = tokio::spawn(service.clone().oneshot(signed("n-1")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(store.revoke("partner-1"));
    scheme.invalidate("partner-1").await;
    let _ = in_flight.await.unwrap().unwrap();

    for nonce in ["n-2", "n-3"] {
        let response = service.clone().oneshot(signed(nonce)).await.unwrap();
        assert_eq!(response.status(), 401, "{nonce}");
        assert_eq!(
            response.extensions().get::<AuthError>().unwrap().kind(),
            ErrorKind::Revoked
        );
    }
}

/// A body that never arrives.
struct NeverArrives;

impl http_body::Body for NeverArrives {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

/// Review of issue 13.2: the native scheme answers an unknown `keyId`
/// before reading the body (it used to buffer it for the whole deadline).
#[tokio::test]
async fn an_unknown_native_key_id_is_refused_before_the_body_is_read() {
    let store = InMemorySecretStore::new();
    let scheme = HmacScheme::builder(store)
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    let layer = AuthLayer::builder()
        .scheme(scheme)
        .with_request_bodies()
        .body_read_timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let request = signed("n-1").map(|_| Body::new(NeverArrives));
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        layer
            .layer(body_echo(Arc::new(AtomicUsize::new(0))))
            .oneshot(request),
    )
    .await
    .expect("answered without reading the body")
    .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.extensions().get::<AuthError>().unwrap().kind(),
        ErrorKind::UnknownKey
    );
}
