//! Audit records through an `AuditSink`: one per decision, with the
//! request's context (method, route, client, request id) and no secret.
//!
//! Kept apart from tests/tracing.rs: tests there capture the log with a
//! thread-local subscriber, and tracing caches per-callsite interest
//! process-wide, so tests hitting the same callsites without a subscriber
//! in the same binary could race with the capture.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use authgate::api_key::ApiKeyScheme;
use authgate::audit::{AuditRecord, ClientAddr};
use authgate::{fingerprint, AuthLayer};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use support::{echo, fixture, key_id, key_secret};
use tower::{service_fn, ServiceBuilder, ServiceExt};

async fn status(layer: &AuthLayer, request: Request<Full<Bytes>>) -> u16 {
    ServiceBuilder::new()
        .layer(layer.clone())
        .service(service_fn(echo))
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn audit_records_reach_the_sink_with_the_request_context() {
    let (store, keys) = fixture();
    let records = Arc::new(Mutex::new(Vec::<AuditRecord>::new()));
    let sink = Arc::clone(&records);
    let layer = AuthLayer::builder()
        .scheme(
            ApiKeyScheme::builder(store)
                .prefix("sk_live")
                .query_param("api_key")
                .build()
                .unwrap(),
        )
        .anonymous_path("/health")
        .audit_sink(move |record: &AuditRecord| sink.lock().unwrap().push(record.clone()))
        .build()
        .unwrap();
    let client: SocketAddr = "192.0.2.7:4711".parse().unwrap();
    let mut request = Request::post(format!("/orders/7?api_key={}", keys.admin))
        .header("x-request-id", "req-42")
        .body(Full::default())
        .unwrap();
    request.extensions_mut().insert(ClientAddr(client));
    assert_eq!(status(&layer, request).await, 200);
    let forged = Request::get("/orders")
        .header("x-api-key", &keys.revoked)
        .header("x-request-id", "a b\tforged=1")
        .body(Full::default())
        .unwrap();
    assert_eq!(status(&layer, forged).await, 401);
    let health = Request::get("/health").body(Full::default()).unwrap();
    assert_eq!(status(&layer, health).await, 200);

    let records = records.lock().unwrap().clone();
    assert_eq!(records.len(), 3);
    let granted = &records[0];
    assert_eq!(granted.outcome, "granted");
    assert_eq!(granted.scheme, Some("api_key"));
    assert_eq!(granted.reason, None);
    assert_eq!(granted.subject.as_deref(), Some("acct_admin"));
    assert_eq!(granted.credential_id.as_deref(), Some(key_id(&keys.admin)));
    assert_eq!(
        granted.fingerprint.as_deref(),
        Some(fingerprint(keys.admin.as_bytes()).as_str())
    );
    assert_eq!(granted.method, http::Method::POST);
    // The path only: the query (which holds the key here) is never kept.
    assert_eq!(granted.route, "/orders/7");
    assert_eq!(granted.client, Some(client));
    assert_eq!(granted.request_id.as_deref(), Some("req-42"));

    let denied = &records[1];
    assert_eq!(denied.outcome, "denied");
    assert_eq!(denied.reason, Some("revoked"));
    assert_eq!(denied.status, Some(401));
    assert_eq!(denied.credential_id.as_deref(), Some(key_id(&keys.revoked)));
    assert_eq!(denied.client, None);
    // A request id that could forge a log line is dropped.
    assert_eq!(denied.request_id, None);

    let anonymous = &records[2];
    assert_eq!(anonymous.outcome, "anonymous");
    assert_eq!(anonymous.scheme, None);
    assert_eq!(anonymous.fingerprint, None);

    for record in &records {
        let line = record.to_json().to_string();
        for key in keys.all() {
            assert!(!line.contains(key), "a whole key leaked: {line}");
            assert!(!line.contains(key_secret(key)), "a secret leaked: {line}");
        }
    }
    let json = records[0].to_json();
    assert_eq!(json["outcome"], "granted");
    assert_eq!(json["client"], "192.0.2.7:4711");
    assert_eq!(json["route"], "/orders/7");
}

/// Inside an axum router (`route_layer`), records name the matched route,
/// not the path with its ids, and the client from `ConnectInfo`.
#[cfg(feature = "axum")]
#[tokio::test]
async fn audit_records_name_the_axum_route_and_the_client() {
    let (store, keys) = fixture();
    let records = Arc::new(Mutex::new(Vec::<AuditRecord>::new()));
    let sink = Arc::clone(&records);
    let auth = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_live").unwrap())
        .audit_sink(move |record: &AuditRecord| sink.lock().unwrap().push(record.clone()))
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route("/orders/{id}", axum::routing::get(|| async { "ok" }))
        .route_layer(auth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/orders/7"))
        .header("x-api-key", &keys.admin)
        .header("x-request-id", "req-7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let records = records.lock().unwrap().clone();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].route, "/orders/{id}");
    let client = records[0].client.unwrap();
    assert!(client.ip().is_loopback(), "{client}");
    assert_ne!(client.port(), addr.port());
    assert_eq!(records[0].request_id.as_deref(), Some("req-7"));
}
