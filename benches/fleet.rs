#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs,
    unreachable_pub
)] // benchmark set-up: a panic is a broken bench; criterion macros generate undocumented items

//! The replay check per request: in process (`ReplayCache`) and in Redis
//! on loopback (`RedisReplayStore`, one `SET NX PX` round trip), side by
//! side. Before criterion's runs, 20 000 sequential checks of each print
//! their p50 and p99.
//!
//! The rate-limit check, in process and in Redis, is in
//! `benches/ratelimit.rs`.
//!
//! `cargo bench --bench fleet --features redis` (Redis at
//! `AUTHGATE_REDIS_URL`, default `redis://127.0.0.1:6379`; without one only
//! the in-process figures are measured).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authgate::redis::{RedisConfig, RedisReplayStore};
use authgate::replay::{Nonce, ReplayCache, ReplayStore};
use criterion::{criterion_group, criterion_main, Criterion};

const TTL: Duration = Duration::from_secs(601);

fn redis_store(rt: &tokio::runtime::Runtime) -> Option<RedisReplayStore> {
    let url =
        std::env::var("AUTHGATE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let redis = rt.block_on(async {
        RedisConfig::new(url.as_str())
            .prefix(format!("authgate-bench-{nanos}"))
            .connect()
            .unwrap()
    });
    if rt.block_on(redis.ping()) {
        Some(RedisReplayStore::new(redis))
    } else {
        eprintln!("notice: no Redis at {url}; only the in-process store is measured");
        None
    }
}

/// Each call a fresh nonce: the path of a legitimate request.
fn next_nonce(counter: &AtomicU64) -> String {
    format!("n-{}", counter.fetch_add(1, Ordering::Relaxed))
}

fn percentiles(rt: &tokio::runtime::Runtime, name: &str, store: &dyn ReplayStore) {
    let counter = AtomicU64::new(0);
    let mut samples: Vec<Duration> = Vec::with_capacity(20_000);
    rt.block_on(async {
        for _ in 0..20_000 {
            let nonce = next_nonce(&counter);
            let start = Instant::now();
            store
                .admit_nonce(&Nonce::new("hmac", "bench", &nonce, Duration::from_secs(5)))
                .await
                .unwrap();
            samples.push(start.elapsed());
        }
    });
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "replay check, {name}: p50 {:?}, p99 {:?} (20 000 sequential checks)",
        at(0.50),
        at(0.99)
    );
}

fn replay(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let memory = ReplayCache::new(10_000_000, TTL);
    let redis = redis_store(&rt);
    percentiles(&rt, "in process", &memory);
    if let Some(redis) = &redis {
        percentiles(&rt, "redis (loopback)", redis);
    }

    let mut group = c.benchmark_group("replay_check");
    // Past the nonces the percentile runs used: every check a fresh one.
    let counter = Arc::new(AtomicU64::new(1 << 32));
    group.bench_function("in_process", |b| {
        b.iter(|| {
            let nonce = next_nonce(&counter);
            let check = memory.admit_nonce(&Nonce::new("hmac", "bench", &nonce, TTL));
            assert!(matches!(check.into_ready(), Ok(Ok(()))));
        });
    });
    if let Some(redis) = redis {
        group.bench_function("redis_loopback", |b| {
            b.to_async(&rt).iter(|| {
                let nonce = next_nonce(&counter);
                let check =
                    redis.admit_nonce(&Nonce::new("hmac", "bench", &nonce, Duration::from_secs(5)));
                async move { check.await.unwrap() }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
