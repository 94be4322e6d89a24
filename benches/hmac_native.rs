//! Issue 13.12: the native HMAC scheme over a 1 KiB body against its floor,
//! one SHA-256 of the body plus one HMAC over a ~200-byte canonical string.
//!
//! ```sh
//! cargo bench --all-features --bench hmac_native
//! ```
//!
//! `AUTHGATE_CALLGRIND=<case>:<n>` (cases `hmac_native_1kib_body`,
//! `bare_1kib_body`, `floor`) runs one case `<n>` times before criterion
//! starts and exits, for instruction counts that do not depend on load:
//!
//! ```sh
//! AUTHGATE_CALLGRIND=hmac_native_1kib_body:1000 valgrind --tool=callgrind \
//!     --collect-atstart=no --toggle-collect='*callgrind_measured*' \
//!     target/release/deps/hmac_native-<hash> --bench
//! ```
//!
//! Run it at two `<n>` and divide the difference by their difference.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    unreachable_pub
)] // benchmark set-up: a panic is a broken bench; criterion macros generate undocumented items

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authgate::hmac::{HmacKey, HmacScheme, InMemorySecretStore, SecretRecord, Signer};
use authgate::AuthLayer;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{service_fn, Layer, Service, ServiceExt};

type Body = Full<Bytes>;

const SECRET: &str = "s3cr3t-s3cr3t-s3cr3t";

async fn echo(_: Request<Body>) -> Result<Response<()>, Infallible> {
    Ok(Response::new(()))
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

/// A canonical string of the size the native scheme signs with a few
/// headers (the floor's second primitive).
fn canonical() -> String {
    format!(
        "HMAC-SHA256\npartner\nPOST\n/orders\n\nhost:api.example.com\n\
         content-type:application/json\nhost;content-type\n1700000000\n\
         n0000000000000001\n{}",
        "0".repeat(64)
    )
}

/// Signed 1 KiB requests, each with a fresh nonce (the replay cache admits
/// each once), signed outside the measurement.
struct Requests {
    signer: Signer,
    body: Bytes,
    nonce: AtomicU64,
}

impl Requests {
    fn new() -> Self {
        Self {
            signer: Signer::new("partner", HmacKey::new(SECRET)).unwrap(),
            body: Bytes::from(vec![b'x'; 1024]),
            nonce: AtomicU64::new(0),
        }
    }

    fn next(&self) -> Request<Body> {
        let mut unsigned = Request::post("/orders").body(self.body.clone()).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let n = self.nonce.fetch_add(1, Ordering::Relaxed);
        self.signer
            .sign_at(&mut unsigned, now, &format!("n{n:016}"))
            .unwrap();
        unsigned.map(Full::new)
    }
}

/// The native HMAC layer around `echo`. (A macro: the buffered layer's
/// mode type is not nameable outside the crate.)
macro_rules! hmac_service {
    () => {
        hmac_service!(Duration::from_secs(300))
    };
    ($window:expr) => {{
        let secrets = InMemorySecretStore::new();
        secrets.insert(SecretRecord::new("partner", HmacKey::new(SECRET), "acct"));
        AuthLayer::builder()
            .scheme(
                HmacScheme::builder(secrets)
                    .window($window)
                    .replay_capacity(8_000_000)
                    .build()
                    .unwrap(),
            )
            .with_request_bodies()
            .build()
            .unwrap()
            .layer(service_fn(echo))
    }};
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The callgrind driver: runs the asked-for case and exits.
fn callgrind() {
    let Ok(spec) = std::env::var("AUTHGATE_CALLGRIND") else {
        return;
    };
    let (case, n) = spec.split_once(':').expect("AUTHGATE_CALLGRIND=<case>:<n>");
    let n: usize = n.parse().expect("a count");
    let rt = runtime();
    let requests = Requests::new();
    let inputs = || -> Vec<Request<Body>> { (0..n).map(|_| requests.next()).collect() };
    match case {
        "hmac_native_1kib_body" => {
            let service = hmac_service!();
            callgrind_measured(&rt, inputs(), |r| call_once(service.clone(), r));
        }
        "bare_1kib_body" => {
            callgrind_measured(&rt, inputs(), |r| call_once(service_fn(echo), r));
        }
        "floor" => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
            let canonical = canonical();
            let bodies: Vec<Bytes> = (0..n).map(|_| requests.body.clone()).collect();
            callgrind_measured(&rt, bodies, |body| {
                black_box(ring::digest::digest(
                    &ring::digest::SHA256,
                    black_box(&body),
                ));
                black_box(ring::hmac::sign(&key, black_box(canonical.as_bytes())));
                std::future::ready(())
            });
        }
        other => panic!("unknown case {other}"),
    }
    std::process::exit(0);
}

#[inline(never)]
fn callgrind_measured<I, Fut>(
    rt: &tokio::runtime::Runtime,
    inputs: Vec<I>,
    mut run: impl FnMut(I) -> Fut,
) where
    Fut: std::future::Future<Output = ()>,
{
    rt.block_on(async {
        for input in inputs {
            run(input).await;
        }
    });
}

fn hmac_native(c: &mut Criterion) {
    callgrind();
    let rt = runtime();
    let requests = Requests::new();
    let hmac = hmac_service!();
    let mut group = c.benchmark_group("hmac_native");
    group.bench_function("bare_1kib_body", |b| {
        b.to_async(&rt).iter_batched(
            || requests.next(),
            |request| call_once(service_fn(echo), request),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("hmac_native_1kib_body", |b| {
        b.to_async(&rt).iter_batched(
            || requests.next(),
            |request| call_once(hmac.clone(), request),
            BatchSize::SmallInput,
        )
    });
    let steady = hmac_service!(Duration::from_secs(1));
    group.bench_function("hmac_native_1kib_body_steady", |b| {
        b.to_async(&rt).iter_batched(
            || requests.next(),
            |request| call_once(steady.clone(), request),
            BatchSize::SmallInput,
        )
    });
    // The floor, in the same run: the two primitives the scheme cannot avoid.
    let body = vec![b'x'; 1024];
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let canonical = canonical();
    group.bench_function("floor_sha256_1kib_plus_hmac_200b", |b| {
        b.iter(|| {
            black_box(ring::digest::digest(
                &ring::digest::SHA256,
                black_box(&body),
            ));
            black_box(ring::hmac::sign(&key, black_box(canonical.as_bytes())))
        })
    });
    group.finish();
}

criterion_group!(benches, hmac_native);
criterion_main!(benches);
