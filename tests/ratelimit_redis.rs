//! The Redis rate-limit backend against a real Redis: two instances share
//! one budget; a Redis stopped mid-run makes the limiter fall back to the
//! in-process one, and a restarted Redis is used again without restarting
//! the layer.
//!
//! The shared server is read from `AUTHGATE_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379/`); each run writes under its own key
//! namespace. The stop/restart case runs its own throwaway `redis-server`
//! on a free port, never touching the shared one. Without a reachable
//! server (or `redis-server` binary) the cases print a notice and pass,
//! unless `CI` is set, where that is a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::ratelimit::{
    Charge, FailedAuthLayer, OnRedisError, Quota, RateLimitLayer, RateLimiter, RedisLimiter,
};
use authgate::{AuthLayer, Scopes};
use axum::routing::get;
use axum::Router;

fn redis_url() -> String {
    std::env::var("AUTHGATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

/// Whether `url` answers PING; without one, a notice (or, under CI, a
/// failure).
async fn reachable(url: &str) -> bool {
    let ok = async {
        let client = redis::Client::open(url).ok()?;
        let mut connection = tokio::time::timeout(
            Duration::from_secs(2),
            client.get_multiplexed_async_connection(),
        )
        .await
        .ok()?
        .ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .ok()
    }
    .await
    .is_some();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but no Redis answers at {url}"
        );
        eprintln!("notice: no Redis at {url}; skipping");
    }
    ok
}

fn namespace() -> String {
    let mut bytes = [0u8; 6];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("authgate_test_{hex}:")
}

fn key_and_store() -> (InMemoryKeyStore, String) {
    let store = InMemoryKeyStore::new();
    let key = ApiKeyGenerator::new("sk_live")
        .unwrap()
        .generate("acct_1", Scopes::empty())
        .unwrap();
    store.insert(key.record().clone());
    (store, key.plaintext().expose().to_owned())
}

/// One "instance": its own layer, scheme and limiter, sharing only Redis.
async fn instance(store: InMemoryKeyStore, limiter: RedisLimiter, quota: Quota) -> SocketAddr {
    let auth = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_live").unwrap())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/orders", get(|| async { "ok" }))
        .layer(RateLimitLayer::new(limiter.clone(), quota))
        .layer(auth)
        .layer(FailedAuthLayer::new(limiter, Quota::per_minute(2)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

async fn status(client: &reqwest::Client, addr: SocketAddr, key: &str) -> u16 {
    client
        .get(format!("http://{addr}/orders"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn delete_namespace(url: &str, namespace: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{namespace}*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    for key in keys {
        let _: () = redis::cmd("DEL")
            .arg(key)
            .query_async(&mut connection)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn two_instances_share_one_budget() {
    let url = redis_url();
    if !reachable(&url).await {
        return;
    }
    let namespace = namespace();
    let (store, key) = key_and_store();
    let limiter = |ns: &str| {
        RedisLimiter::builder(redis::Client::open(url.as_str()).unwrap())
            .namespace(ns)
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap()
    };
    let quota = Quota::per_minute(4);
    let a = instance(store.clone(), limiter(&namespace), quota).await;
    let b = instance(store, limiter(&namespace), quota).await;
    let client = reqwest::Client::new();

    let statuses = [
        status(&client, a, &key).await,
        status(&client, b, &key).await,
        status(&client, a, &key).await,
        status(&client, b, &key).await,
        status(&client, a, &key).await,
        status(&client, b, &key).await,
    ];
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);

    // Failed authentications from one source count across both, too.
    // The last character changed (to another one: a key ending in `x`
    // stayed valid, one run in 62, and the test failed).
    let mut wrong = key.clone();
    let last = wrong.pop();
    wrong.push(if last == Some('x') { 'y' } else { 'x' });
    assert_ne!(wrong, key);
    assert_eq!(status(&client, a, &wrong).await, 401);
    assert_eq!(status(&client, b, &wrong).await, 401);
    // Charged off the response path: give the script a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(status(&client, a, &key).await, 429);
    let walled = client
        .get(format!("http://{b}/orders"))
        .header("x-api-key", &wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(walled.status(), 429);
    assert!(walled.headers()["ratelimit-policy"]
        .to_str()
        .unwrap()
        .starts_with("\"failed_auth\""));
    delete_namespace(&url, &namespace).await;
}

/// A throwaway `redis-server` on `port`, or `None` when there is no binary.
fn start_redis(port: u16) -> Option<Child> {
    Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

async fn wait_for_ping(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(client) = redis::Client::open(url) {
            if let Ok(mut connection) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING")
                    .query_async::<String>(&mut connection)
                    .await
                    .is_ok()
                {
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("redis-server at {url} did not start");
}

async fn keys_in(url: &str, namespace: &str) -> usize {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{namespace}*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    keys.len()
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn redis_stopped_mid_run_falls_back_then_recovers_without_a_restart() {
    let port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let Some(child) = start_redis(port) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but redis-server cannot be started"
        );
        eprintln!("notice: no redis-server binary; skipping");
        return;
    };
    let mut server = KillOnDrop(child);
    let url = format!("redis://127.0.0.1:{port}/");
    wait_for_ping(&url).await;

    let namespace = namespace();
    let (store, key) = key_and_store();
    let limiter = RedisLimiter::builder(redis::Client::open(url.as_str()).unwrap())
        .namespace(&namespace)
        .timeout(Duration::from_millis(200))
        .retry_interval(Duration::from_millis(300))
        .build()
        .unwrap();
    let addr = instance(store, limiter.clone(), Quota::per_minute(3)).await;
    let client = reqwest::Client::new();

    // Counted in Redis.
    assert_eq!(status(&client, addr, &key).await, 200);
    assert_eq!(keys_in(&url, &namespace).await, 1);

    // Redis goes away: requests are still answered, promptly, and limited
    // by the instance's own limiter (a fresh budget of 3).
    let _ = server.0.kill();
    let _ = server.0.wait();
    let started = Instant::now();
    let fallen_back = [
        status(&client, addr, &key).await,
        status(&client, addr, &key).await,
        status(&client, addr, &key).await,
        status(&client, addr, &key).await,
    ];
    assert_eq!(fallen_back, [200, 200, 200, 429]);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(limiter.is_degraded());

    // Redis comes back on the same port, empty: the same layer uses it
    // again (a fresh Redis budget lets the key through once more).
    server = KillOnDrop(start_redis(port).unwrap());
    wait_for_ping(&url).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answered = status(&client, addr, &key).await;
        if keys_in(&url, &namespace).await == 1 {
            assert_eq!(answered, 200);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the limiter never went back to Redis"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!limiter.is_degraded());
    drop(server);
}

#[tokio::test]
async fn unavailable_mode_answers_503_when_redis_is_away() {
    // A port nothing listens on.
    let port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let limiter =
        RedisLimiter::builder(redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap())
            .timeout(Duration::from_millis(100))
            .on_error(OnRedisError::Unavailable)
            .build()
            .unwrap();
    let (store, key) = key_and_store();
    let addr = instance(store, limiter, Quota::per_minute(3)).await;
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/orders"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
}

/// A failure charged past the limit (`Charge::Penalize`, what the
/// failed-authentication throttle charges) is counted in Redis too: each
/// one pushes the next allowed time one interval further, where an
/// over-limit `Acquire` counts nothing.
#[tokio::test]
async fn a_penalty_past_the_limit_is_counted_in_redis() {
    let url = redis_url();
    if !reachable(&url).await {
        return;
    }
    let namespace = namespace();
    let limiter = RedisLimiter::builder(redis::Client::open(url.as_str()).unwrap())
        .namespace(&namespace)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let quota = Quota::per_hour(2);
    for _ in 0..2 {
        let decision = limiter
            .check("src", &quota, Charge::Penalize)
            .await
            .unwrap();
        assert!(decision.is_allowed());
    }
    // An over-limit Acquire counts nothing: the wait stays one interval.
    let acquire = limiter.check("src", &quota, Charge::Acquire).await.unwrap();
    assert!(!acquire.is_allowed());
    let before = limiter.check("src", &quota, Charge::Peek).await.unwrap();
    assert!(before.retry_after() <= Duration::from_secs(1800));
    // Ten penalties past the limit: five more hours to wait.
    for _ in 0..10 {
        let decision = limiter
            .check("src", &quota, Charge::Penalize)
            .await
            .unwrap();
        assert!(!decision.is_allowed());
    }
    let after = limiter.check("src", &quota, Charge::Peek).await.unwrap();
    assert!(
        after.retry_after() >= before.retry_after() + Duration::from_secs(10 * 1800 - 60),
        "{:?} then {:?}",
        before.retry_after(),
        after.retry_after()
    );
    delete_namespace(&url, &namespace).await;
}
