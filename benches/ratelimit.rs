#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    unreachable_pub
)] // benchmark set-up: a panic is a broken bench; criterion macros generate undocumented items

//! The rate-limit stage's cost per request:
//!
//! - `ratelimit/local_decide`: one GCRA step in the in-process limiter
//!   (bounded cache look-up and a compare-and-swap), hot key;
//! - `ratelimit/layer_local` against `ratelimit/bare`: a `RateLimit`
//!   service (principal in the request, in-process limiter, headers on the
//!   response) against the inner service alone; the difference is the
//!   stage's overhead; `ratelimit/layer_local_quiet` the same with
//!   `headers_on_success(false)` (the check alone);
//! - `ratelimit/layer_redis`: the same with the Redis limiter on loopback
//!   (`AUTHGATE_TEST_REDIS_URL`, default `redis://127.0.0.1:6379/`),
//!   skipped when no Redis answers;
//! - a printed latency table: p50 / p99 of single checks, in-process and
//!   Redis side by side (10 000 sequential checks each).
//!
//! `cargo bench --all-features --bench ratelimit`.
//!
//! `AUTHGATE_CALLGRIND=<case>:<n>` (`bare`, `layer_local`,
//! `layer_local_quiet` with `headers_on_success(false)`,
//! `layer_local_changing` with a `RateLimit` value that changes with every
//! request, `layer_local_plan` with the quota from the key's plan,
//! `layer_anonymous`: requests without a principal, the cost of being a
//! layer at all) runs that
//! service `<n>` times and exits, for instruction counts that do not depend
//! on the machine's load; only `callgrind_measured` is counted:
//!
//! ```sh
//! AUTHGATE_CALLGRIND=layer_local:11000 valgrind --tool=callgrind \
//!     --collect-atstart=no --toggle-collect='*callgrind_measured*' \
//!     target/release/deps/ratelimit-<hash> --bench
//! ```
//!
//! (layer_local − bare) at n = 11 000 minus the same at n = 1 000, over
//! 10 000, is the stage's cost per request without start-up effects.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use authgate::ratelimit::{
    Charge, InProcessLimiter, Quota, RateLimitLayer, RateLimiter, RedisLimiter,
};
use authgate::Principal;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use tower::{service_fn, Layer, Service, ServiceExt};

fn redis_url() -> String {
    std::env::var("AUTHGATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

/// A quota nobody reaches in a bench run.
fn quota() -> Quota {
    Quota::per_second(1_000_000_000)
}

/// A quota whose `RateLimit` value changes with every request (each takes
/// one of a huge burst that refills slowly): the header is rendered every
/// time, never the thread's last value.
fn changing_quota() -> Quota {
    Quota::new(u32::MAX, Duration::from_secs(10 * 365 * 86_400))
}

fn request(principal: &Principal) -> Request<()> {
    let mut request = Request::get("/orders").body(()).unwrap();
    request.extensions_mut().insert(principal.clone());
    request
}

async fn redis_limiter(runtime_ok: bool) -> Option<RedisLimiter> {
    if !runtime_ok {
        return None;
    }
    let limiter = RedisLimiter::builder(redis::Client::open(redis_url()).ok()?)
        .namespace("authgate_bench:")
        .timeout(Duration::from_secs(1))
        .build()
        .ok()?;
    // Only a Redis that answers counts: a fallback would measure the local path.
    let probe = limiter
        .check("probe", &quota(), Charge::Acquire)
        .await
        .ok()?;
    (probe.is_allowed() && !limiter.is_degraded()).then_some(limiter)
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    (at(0.50), at(0.99))
}

fn latency_table(runtime: &tokio::runtime::Runtime) {
    const N: usize = 10_000;
    let local = InProcessLimiter::new();
    let mut samples = Vec::with_capacity(N);
    for _ in 0..N {
        let started = Instant::now();
        black_box(local.decide("bench:api_key:k1", &quota(), Charge::Acquire));
        samples.push(started.elapsed());
    }
    let (p50, p99) = percentiles(samples);
    println!("rate-limit check latency (sequential, {N} checks)");
    println!("  in-process: p50 {p50:?}  p99 {p99:?}");
    runtime.block_on(async {
        let Some(redis) = redis_limiter(true).await else {
            println!("  redis:      skipped (no Redis at {})", redis_url());
            return;
        };
        let mut samples = Vec::with_capacity(N);
        for _ in 0..N {
            let started = Instant::now();
            black_box(
                redis
                    .check("bench:api_key:k1", &quota(), Charge::Acquire)
                    .await
                    .unwrap(),
            );
            samples.push(started.elapsed());
        }
        let (p50, p99) = percentiles(samples);
        println!("  redis:      p50 {p50:?}  p99 {p99:?}  (loopback, one EVALSHA per check)");
    });
}

/// The inner service: a response as a handler makes one, with a
/// `content-type` (so the header map is already allocated, as in a real
/// application, and the stage pays only for its own two headers).
async fn handler(_: Request<()>) -> Result<Response<()>, Infallible> {
    let mut response = Response::new(());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

/// The `AUTHGATE_CALLGRIND=<case>:<n>` driver (see the module docs).
fn callgrind(runtime: &tokio::runtime::Runtime, principal: &Principal) {
    let Some(spec) = std::env::var("AUTHGATE_CALLGRIND").ok() else {
        return;
    };
    let (case, n) = spec.split_once(':').expect("AUTHGATE_CALLGRIND=<case>:<n>");
    let n: usize = n.parse().expect("a number of requests");
    let inner = service_fn(handler);
    let inputs: Vec<Request<()>> = (0..n).map(|_| request(principal)).collect();
    match case {
        "bare" => callgrind_measured(runtime, inner, inputs),
        "layer_local" => {
            let layer = RateLimitLayer::new(InProcessLimiter::new(), quota());
            callgrind_measured(runtime, layer.layer(inner), inputs);
        }
        "layer_local_quiet" => {
            let layer =
                RateLimitLayer::new(InProcessLimiter::new(), quota()).headers_on_success(false);
            callgrind_measured(runtime, layer.layer(inner), inputs);
        }
        "layer_local_changing" => {
            let layer = RateLimitLayer::new(InProcessLimiter::new(), changing_quota());
            callgrind_measured(runtime, layer.layer(inner), inputs);
        }
        "layer_anonymous" => {
            // The wrapper alone: no principal, nothing counted.
            let inputs: Vec<Request<()>> = (0..n)
                .map(|_| Request::get("/orders").body(()).unwrap())
                .collect();
            let layer = RateLimitLayer::new(InProcessLimiter::new(), quota());
            callgrind_measured(runtime, layer.layer(inner), inputs);
        }
        "layer_local_plan" => {
            let planned = principal.clone().with_plan("pro");
            let inputs: Vec<Request<()>> = (0..n).map(|_| request(&planned)).collect();
            let layer = RateLimitLayer::new(InProcessLimiter::new(), quota())
                .plan("free", Quota::per_second(1))
                .plan("pro", quota());
            callgrind_measured(runtime, layer.layer(inner), inputs);
        }
        other => panic!(
            "unknown case {other}: bare, layer_local, layer_local_quiet, \
             layer_local_changing, layer_local_plan or layer_anonymous"
        ),
    }
    std::process::exit(0);
}

#[inline(never)]
fn callgrind_measured<S, B>(
    runtime: &tokio::runtime::Runtime,
    mut service: S,
    inputs: Vec<Request<()>>,
) where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    runtime.block_on(async {
        for request in inputs {
            black_box(service.call(request).await.unwrap());
        }
    });
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let principal = Principal::new("acct_42", "api_key").with_credential_id("k1");
    callgrind(&runtime, &principal);
    latency_table(&runtime);

    let inner = service_fn(handler);
    let mut group = c.benchmark_group("ratelimit");

    let local = InProcessLimiter::new();
    group.bench_function("local_decide", |b| {
        b.iter(|| black_box(local.decide("bench:api_key:k1", &quota(), Charge::Acquire)));
    });

    group.bench_function("bare", |b| {
        let mut service = inner;
        b.to_async(&runtime).iter(|| {
            let request = request(&principal);
            let future = service.call(request);
            async move { black_box(future.await.unwrap()) }
        });
    });

    let layer = RateLimitLayer::new(InProcessLimiter::new(), quota());
    group.bench_function("layer_local", |b| {
        let mut service = layer.layer(inner);
        b.to_async(&runtime).iter(|| {
            let request = request(&principal);
            let future = service.call(request);
            async move { black_box(future.await.unwrap()) }
        });
    });

    let changing = RateLimitLayer::new(InProcessLimiter::new(), changing_quota());
    group.bench_function("layer_local_changing", |b| {
        let mut service = changing.layer(inner);
        b.to_async(&runtime).iter(|| {
            let request = request(&principal);
            let future = service.call(request);
            async move { black_box(future.await.unwrap()) }
        });
    });

    let quiet = RateLimitLayer::new(InProcessLimiter::new(), quota()).headers_on_success(false);
    group.bench_function("layer_local_quiet", |b| {
        let mut service = quiet.layer(inner);
        b.to_async(&runtime).iter(|| {
            let request = request(&principal);
            let future = service.call(request);
            async move { black_box(future.await.unwrap()) }
        });
    });

    if let Some(redis) = runtime.block_on(redis_limiter(true)) {
        let layer = RateLimitLayer::new(redis, quota());
        group.bench_function("layer_redis", |b| {
            let service = layer.layer(inner);
            b.to_async(&runtime).iter(|| {
                let request = request(&principal);
                let service = service.clone();
                async move { black_box(service.oneshot(request).await.unwrap()) }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
