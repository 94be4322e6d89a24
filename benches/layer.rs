#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)] // benchmark set-up: a panic is a broken bench; criterion macros generate undocumented items
//! The whole layer per request, in process, against the bare inner service
//! and the raw cost of hashing a key.
//!
//! `cargo bench --bench layer`

use std::convert::Infallible;
use std::hint::black_box;

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::{AuthLayer, Scopes};
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use tower::{service_fn, Layer, Service, ServiceExt};

async fn echo(_: Request<()>) -> Result<Response<String>, Infallible> {
    Ok(Response::new(String::new()))
}

fn bench_api_keys(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let generator = ApiKeyGenerator::new("sk_live").unwrap();
    let store = InMemoryKeyStore::new();
    let good = generator.generate("acct", Scopes::parse("read")).unwrap();
    store.insert(good.record().clone());
    let unknown = generator.generate("nobody", Scopes::empty()).unwrap();

    let layer = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_live").unwrap())
        .build()
        .unwrap();
    let bare = service_fn(echo);
    let authed = layer.layer(service_fn(echo));

    let request = |key: Option<&str>| {
        let mut builder = Request::get("/orders");
        if let Some(key) = key {
            builder = builder.header("x-api-key", key);
        }
        builder.body(()).unwrap()
    };

    let mut group = c.benchmark_group("per_request");
    group.bench_function("bare_service", |b| {
        b.to_async(&runtime).iter(|| {
            let mut svc = bare;
            async move {
                black_box(
                    svc.ready()
                        .await
                        .unwrap()
                        .call(request(None))
                        .await
                        .unwrap(),
                )
            }
        })
    });
    let key = good.plaintext().expose().to_owned();
    group.bench_function("api_key_valid", |b| {
        b.to_async(&runtime).iter(|| {
            let mut svc = authed.clone();
            let req = request(Some(&key));
            async move { black_box(svc.ready().await.unwrap().call(req).await.unwrap()) }
        })
    });
    let unknown_key = unknown.plaintext().expose().to_owned();
    group.bench_function("api_key_unknown_id", |b| {
        b.to_async(&runtime).iter(|| {
            let mut svc = authed.clone();
            let req = request(Some(&unknown_key));
            async move { black_box(svc.ready().await.unwrap().call(req).await.unwrap()) }
        })
    });
    group.bench_function("api_key_missing", |b| {
        b.to_async(&runtime).iter(|| {
            let mut svc = authed.clone();
            async move {
                black_box(
                    svc.ready()
                        .await
                        .unwrap()
                        .call(request(None))
                        .await
                        .unwrap(),
                )
            }
        })
    });
    group.finish();

    let mut raw = c.benchmark_group("raw");
    raw.bench_function("sha256_of_api_key", |b| {
        b.iter(|| ring::digest::digest(&ring::digest::SHA256, black_box(key.as_bytes())))
    });
    raw.finish();
}

criterion_group!(benches, bench_api_keys);
criterion_main!(benches);
