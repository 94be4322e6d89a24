//! Introspected tokens seen again (cache hits) through the layer, next to
//! the cached-JWT path measured the same way in the same run (the setup of
//! `per_request/jwt_cached_*` in benches/authgate.rs): the target is within
//! 1.2× of the cached-JWT figure.
//!
//! - `introspection/jwt_cached`: a JWT seen again, `JwtScheme` alone;
//! - `introspection/opaque_cached`: an opaque token seen again,
//!   `IntrospectionScheme` alone (the endpoint is a local axum server,
//!   called once before the measurement);
//! - `introspection/router_{jwt,opaque}_cached`: the same tokens through
//!   `jwt_or_opaque`, both schemes on one `Bearer`.
//!
//! ```text
//! cargo bench --bench introspection --features jwt,introspection
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::hint::black_box;

use authgate::introspection::{jwt_or_opaque, IntrospectionScheme};
use authgate::jwt::{Issuer, JwtKey, JwtScheme};
use authgate::AuthLayer;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::header::{HeaderValue, AUTHORIZATION};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::Full;
use serde_json::json;
use tower::{service_fn, Layer, Service, ServiceExt};

type Body = Full<Bytes>;

const ISS: &str = "https://issuer.bench";
const AUD: &str = "api";
const SECRET: [u8; 32] = [7; 32];
/// An opaque token of a common shape (Okta, Auth0 and Keycloak tokens are
/// 40 to 90 characters).
const OPAQUE: &str = "0BXnR3mRq4F_sc0bT7vG2r9uX4h1kKx8yYyZzq1wP3s.9fJk2mQ7tR5vX1zB3nD6";

async fn echo(_: Request<Body>) -> Result<Response<()>, Infallible> {
    Ok(Response::new(()))
}

fn request(uri: &Uri, bearer: &HeaderValue) -> Request<Body> {
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.uri_mut() = uri.clone();
    request.headers_mut().insert(AUTHORIZATION, bearer.clone());
    request
}

async fn call_once<S, ResBody>(mut service: S, request: Request<Body>)
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    S::Error: std::fmt::Debug,
{
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    black_box(response);
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from(format!("Bearer {token}"))).unwrap()
}

/// A local introspection endpoint that knows one active token.
async fn endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = json!({
        "active": true, "sub": "alice", "client_id": "app", "scope": "orders:read orders:write",
        "aud": AUD, "iss": ISS, "exp": 4_000_000_000u64, "iat": 1_700_000_000u64, "jti": "t-1",
    });
    let app = axum::Router::new().route(
        "/introspect",
        axum::routing::post(move || async move { axum::Json(answer) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/introspect")
}

fn jwt_scheme() -> JwtScheme {
    JwtScheme::builder()
        .issuer(
            Issuer::new(ISS)
                .audience(AUD)
                .key(JwtKey::shared_secret(&SECRET).unwrap()),
        )
        .build()
        .unwrap()
}

fn cached(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let uri = Uri::from_static("/orders");
    authgate::jwt::install_default();
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": ISS, "aud": AUD, "sub": "alice", "exp": 4_000_000_000u64,
                "iat": 1_700_000_000u64, "jti": "t-1", "scope": "orders:read orders:write"}),
        &jsonwebtoken::EncodingKey::from_secret(&SECRET),
    )
    .unwrap();
    let url = rt.block_on(endpoint());
    let introspection = || {
        IntrospectionScheme::builder()
            .endpoint(url.clone())
            .client("rs", "secret")
            .issuer(ISS)
            .audience(AUD)
            .build()
            .unwrap()
    };
    let layer = |scheme| AuthLayer::builder().scheme(scheme).build().unwrap();
    let jwt_only = layer(jwt_scheme()).layer(service_fn(echo));
    let opaque_only = AuthLayer::builder()
        .scheme(introspection())
        .build()
        .unwrap()
        .layer(service_fn(echo));
    let router = AuthLayer::builder()
        .scheme(jwt_or_opaque(jwt_scheme(), introspection()).unwrap())
        .build()
        .unwrap()
        .layer(service_fn(echo));
    let (jwt_bearer, opaque_bearer) = (bearer(&jwt), bearer(OPAQUE));
    // Seen once before the measurement: every measured call is a hit.
    rt.block_on(async {
        call_once(opaque_only.clone(), request(&uri, &opaque_bearer)).await;
        call_once(router.clone(), request(&uri, &opaque_bearer)).await;
    });

    let mut group = c.benchmark_group("introspection");
    group.bench_function("jwt_cached", |b| {
        b.to_async(&rt)
            .iter(|| call_once(jwt_only.clone(), request(&uri, &jwt_bearer)))
    });
    group.bench_function("opaque_cached", |b| {
        b.to_async(&rt)
            .iter(|| call_once(opaque_only.clone(), request(&uri, &opaque_bearer)))
    });
    group.bench_function("router_jwt_cached", |b| {
        b.to_async(&rt)
            .iter(|| call_once(router.clone(), request(&uri, &jwt_bearer)))
    });
    group.bench_function("router_opaque_cached", |b| {
        b.to_async(&rt)
            .iter(|| call_once(router.clone(), request(&uri, &opaque_bearer)))
    });
    group.finish();
}

criterion_group!(benches, cached);
criterion_main!(benches);
