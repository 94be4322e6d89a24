#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    unreachable_pub
)] // benchmark set-up: a panic is a broken bench; criterion macros generate undocumented items

//! HTTP Basic against API keys, in one run:
//!
//! - `basic/api_key_valid`: the API-key path of `per_request/api_key_valid`
//!   in benches/authgate.rs (the same set-up, repeated here so both figures
//!   come from one run);
//! - `basic/basic_cached`: a correct Basic login served from the cache of
//!   successful verifications, through the layer (target: within 1.2× of
//!   `api_key_valid`);
//! - `basic/argon2id_verify_default`: one uncached Argon2id verification at
//!   the default parameters (m = 19 MiB, t = 2, p = 1), the hasher alone:
//!   what a first login, a wrong password or an unknown user costs.
//!
//! `cargo bench --bench basic --features basic`

use std::convert::Infallible;
use std::hint::black_box;

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::basic::{
    Argon2Hasher, BasicScheme, InMemoryPasswordStore, PasswordHasher, PasswordRecord,
};
use authgate::{AuthLayer, Scopes};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::Full;
use tower::{service_fn, Layer, Service, ServiceExt};

type Body = Full<Bytes>;

async fn echo(_: Request<Body>) -> Result<Response<()>, Infallible> {
    Ok(Response::new(()))
}

/// As in benches/authgate.rs: the header value is a shared `Bytes`.
fn request(uri: &Uri, header: (&HeaderName, &HeaderValue), body: &Bytes) -> Request<Body> {
    let mut request = Request::new(Full::new(body.clone()));
    *request.uri_mut() = uri.clone();
    request
        .headers_mut()
        .insert(header.0.clone(), header.1.clone());
    request
}

fn shared_value(text: &str) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from(text.to_owned())).unwrap()
}

async fn call_once<S, ResBody>(mut service: S, request: Request<Body>, expected: StatusCode)
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    S::Error: std::fmt::Debug,
{
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(response.status(), expected);
    black_box(response);
}

fn basic(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let uri = Uri::from_static("/orders");
    let empty = Bytes::new();

    // API keys, as in benches/authgate.rs.
    let x_api_key = HeaderName::from_static("x-api-key");
    let generator = ApiKeyGenerator::new("sk_live").unwrap();
    let store = InMemoryKeyStore::new();
    let good = generator
        .generate("acct", Scopes::parse("orders:read"))
        .unwrap();
    store.insert(good.record().clone());
    let api_key_layer = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_live").unwrap())
        .build()
        .unwrap();
    let good_key = shared_value(good.plaintext().expose());
    let api_keys = api_key_layer.layer(service_fn(echo));

    // Basic, with the default hasher.
    let hasher = Argon2Hasher::new();
    let passwords = InMemoryPasswordStore::new();
    let record = PasswordRecord::hashing("acct", b"correct horse battery staple", &hasher)
        .unwrap()
        .with_scopes(Scopes::parse("orders:read"));
    let stored_hash = record.hash.clone();
    passwords.insert(record);
    let basic_layer = AuthLayer::builder()
        .scheme(BasicScheme::builder(passwords).build().unwrap())
        .build()
        .unwrap();
    let basic = basic_layer.layer(service_fn(echo));
    let login = shared_value(&format!(
        "Basic {}",
        STANDARD.encode("acct:correct horse battery staple")
    ));
    // The first login hashes; every later one is a cache hit.
    rt.block_on(call_once(
        basic.clone(),
        request(&uri, (&AUTHORIZATION, &login), &empty),
        StatusCode::OK,
    ));

    let mut group = c.benchmark_group("basic");
    group.bench_function("api_key_valid", |b| {
        b.to_async(&rt).iter(|| {
            call_once(
                api_keys.clone(),
                request(&uri, (&x_api_key, &good_key), &empty),
                StatusCode::OK,
            )
        })
    });
    group.bench_function("basic_cached", |b| {
        b.to_async(&rt).iter(|| {
            call_once(
                basic.clone(),
                request(&uri, (&AUTHORIZATION, &login), &empty),
                StatusCode::OK,
            )
        })
    });
    group.sample_size(10);
    group.bench_function("argon2id_verify_default", |b| {
        b.iter(|| {
            assert!(hasher
                .verify(&stored_hash, b"correct horse battery staple")
                .unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, basic);
criterion_main!(benches);
