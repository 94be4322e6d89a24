#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs,
    unreachable_pub
)] // benchmark set-up: a panic is a broken bench; criterion macros generate undocumented items

//! A request whose connection presented an already-verified client
//! certificate, through the layer (`ClientCertScheme`, SPIFFE rules and a
//! `Workloads` rule), against the inner service alone. The certificate's
//! parse is shared by every request of a connection, as `mtls::serve` and
//! the tonic integration share it.
//!
//! `cargo bench --bench mtls --features mtls`

use std::convert::Infallible;
use std::hint::black_box;

use authgate::mtls::{ClientCertScheme, PeerCertificates, Workloads};
use authgate::AuthLayer;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, Response, StatusCode};
use tower::{service_fn, Layer, ServiceExt};

async fn echo(_: Request<()>) -> Result<Response<()>, Infallible> {
    Ok(Response::new(()))
}

const ID: &str = "spiffe://prod.example/ns/payments/sa/api";

fn leaf() -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![rcgen::SanType::URI(ID.try_into().unwrap())];
    params.self_signed(&key).unwrap().der().to_vec()
}

fn request(peer: &PeerCertificates) -> Request<()> {
    let mut request = Request::get("/orders").body(()).unwrap();
    request.extensions_mut().insert(peer.clone());
    request
}

fn per_request(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let peer = PeerCertificates::new(vec![leaf()]);
    let layer = AuthLayer::builder()
        .scheme(
            ClientCertScheme::builder()
                .trust_domain("prod.example")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let workloads = layer.with_authorizer(
        Workloads::new()
            .pattern("spiffe://prod.example/ns/payments/sa/*")
            .unwrap(),
    );
    let bare = service_fn(echo);
    let authenticated = layer.layer(service_fn(echo));
    let authorized = workloads.layer(service_fn(echo));

    let mut group = c.benchmark_group("mtls");
    group.bench_function("bare", |b| {
        b.to_async(&rt).iter(|| async {
            let response = bare.oneshot(request(&peer)).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            black_box(response)
        })
    });
    group.bench_function("client_certificate", |b| {
        b.to_async(&rt).iter(|| async {
            let response = authenticated.clone().oneshot(request(&peer)).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            black_box(response)
        })
    });
    group.bench_function("client_certificate_with_workload_rule", |b| {
        b.to_async(&rt).iter(|| async {
            let response = authorized.clone().oneshot(request(&peer)).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            black_box(response)
        })
    });
    group.finish();
}

criterion_group!(benches, per_request);
criterion_main!(benches);
