//! Two instances ("layers") sharing one real Redis: replays, revocations and
//! invalidations cross from one to the other; Redis stopped mid-run and
//! restarted on the same port.
//!
//! Redis is read from `AUTHGATE_REDIS_URL` (default
//! `redis://127.0.0.1:6379`); each run uses its own key prefix. Without a
//! reachable Redis the tests print a notice and pass, unless `CI` is set:
//! then they fail. The restart test starts its own `redis-server` on a free
//! port and never touches the shared one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/jwt.rs"]
mod jwt_support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::hmac::{HmacKey, HmacScheme, InMemorySecretStore, SecretRecord, Signer};
use authgate::jwt::{Issuer, JwtScheme};
use authgate::redis::{
    InvalidationBroadcast, RedisConfig, RedisConnection, RedisReplayStore, RedisRevocation,
};
use authgate::replay::{Nonce, ReplayCache, ReplayStore};
use authgate::{AuthLayer, ErrorKind, Principal, Scheme, Scopes};
use axum::routing::post;
use axum::Router;

const WAIT: Duration = Duration::from_secs(5);

fn redis_url() -> String {
    std::env::var("AUTHGATE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A prefix no other run uses.
fn unique_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("authgate-test-{}-{nanos}", std::process::id())
}

/// The shared Redis, or `None` (with a notice) when it is unreachable and
/// `CI` is unset.
async fn shared_redis() -> Option<RedisConnection> {
    let url = redis_url();
    let redis = RedisConfig::new(url.as_str())
        .prefix(unique_prefix())
        .timeout(Duration::from_millis(500))
        .connect()
        .unwrap();
    if redis.ping().await {
        return Some(redis);
    }
    unreachable_redis(&format!("no Redis answers at {url}"));
    None
}

fn unreachable_redis(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{why}, and CI is set: start one (.ci/run does)");
    }
    eprintln!("notice: {why}; skipping (start one with `redis-server --port 6379`)");
}

/// One instance of the service: native HMAC, RFC 9421 and API keys and
/// JWTs, over stores the instances share, with their own caches.
struct Instance {
    base: String,
}

async fn serve(router: Router) -> Instance {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Instance {
        base: format!("http://{addr}"),
    }
}

fn app(scheme: impl Scheme) -> Router {
    let layer = AuthLayer::builder()
        .scheme(scheme)
        .with_request_bodies()
        .build()
        .unwrap();
    Router::new()
        .route(
            "/orders",
            post(|principal: Principal| async move { principal.subject().to_owned() }),
        )
        .layer(layer)
}

fn secrets() -> InMemorySecretStore {
    let store = InMemorySecretStore::new();
    store.insert(SecretRecord::new(
        "partner-1",
        HmacKey::new("s3cr3t"),
        "acct_42",
    ));
    store
}

fn hmac_instance(redis: &RedisConnection) -> Router {
    app(HmacScheme::builder(secrets())
        .replay_store(RedisReplayStore::new(redis.clone()))
        .build()
        .unwrap())
}

/// A signed request, as (authorization header, body).
fn signed() -> (String, &'static str) {
    let signer = Signer::new("partner-1", HmacKey::new("s3cr3t")).unwrap();
    let body = r#"{"sku":"A-1"}"#;
    let mut request = http::Request::post("/orders").body(body).unwrap();
    signer.sign(&mut request).unwrap();
    let auth = request.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    (auth, body)
}

async fn send(instance: &Instance, auth: &str, body: &'static str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/orders", instance.base))
        .header("authorization", auth)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_request_replayed_to_the_second_instance_is_refused() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let (a, b) = (
        serve(hmac_instance(&redis)).await,
        serve(hmac_instance(&redis)).await,
    );
    let (auth, body) = signed();
    assert_eq!(send(&a, &auth, body).await.status(), 200);
    let replay = send(&b, &auth, body).await;
    assert_eq!(replay.status(), 401);
    let challenge = replay.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert_eq!(send(&a, &auth, body).await.status(), 401);
    // A fresh signature passes on either.
    let (fresh, body) = signed();
    assert_eq!(send(&b, &fresh, body).await.status(), 200);
}

/// The same contract, held by both stores: first use admitted, a replay
/// refused, namespaces apart, one winner of concurrent identical nonces.
#[tokio::test]
async fn both_replay_stores_keep_the_same_contract() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let ttl = Duration::from_secs(60);
    let stores: [Arc<dyn ReplayStore>; 2] = [
        Arc::new(ReplayCache::new(1_000, ttl)),
        Arc::new(RedisReplayStore::new(redis)),
    ];
    for store in stores {
        let nonce = Nonce::new("hmac", "k", "n-1", ttl);
        assert!(store.admit_nonce(&nonce).await.is_ok(), "{store:?}");
        let again = store.admit_nonce(&nonce).await.unwrap_err();
        assert_eq!(again.kind(), ErrorKind::Replayed, "{store:?}");
        assert!(store
            .admit_nonce(&Nonce::new("hmac", "k2", "n-1", ttl))
            .await
            .is_ok());
        assert!(store
            .admit_nonce(&Nonce::new("httpsig", "k", "n-1", ttl))
            .await
            .is_ok());
        let racers = (0..8).map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .admit_nonce(&Nonce::new("hmac", "k", "race", ttl))
                    .await
            })
        });
        let mut wins = 0;
        for racer in racers {
            wins += usize::from(racer.await.unwrap().is_ok());
        }
        assert_eq!(wins, 1, "{store:?}");
    }
}

#[tokio::test]
async fn redis_forgets_a_nonce_after_its_ttl() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let store = RedisReplayStore::new(redis);
    let nonce = Nonce::new("hmac", "k", "short", Duration::from_millis(200));
    assert!(store.admit_nonce(&nonce).await.is_ok());
    assert!(store.admit_nonce(&nonce).await.is_err());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(store.admit_nonce(&nonce).await.is_ok());
}

/// Polls `check` until it holds: the time it took, or a failure after
/// `limit`.
async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    start.elapsed()
}

#[tokio::test]
async fn an_api_key_invalidated_on_one_instance_is_refused_by_the_other_within_a_second() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let store = InMemoryKeyStore::new();
    let key = ApiKeyGenerator::new("sk_live")
        .unwrap()
        .generate("acct_1", Scopes::empty())
        .unwrap();
    store.insert(key.record().clone());
    let plaintext = key.plaintext().expose().to_owned();
    let mut instances = Vec::new();
    let mut broadcasts = Vec::new();
    for _ in 0..2 {
        // Long cache TTLs: only the broadcast can make the revocation seen.
        let scheme = ApiKeyScheme::builder(store.clone())
            .prefix("sk_live")
            .cache_ttl(Duration::from_secs(600))
            .build()
            .unwrap();
        let broadcast = InvalidationBroadcast::new(redis.clone()).unwrap();
        broadcast.register("api-keys", scheme.clone());
        assert!(broadcast.ready(WAIT).await);
        instances.push(serve(app(scheme)).await);
        broadcasts.push(broadcast);
    }
    let call = async |instance: &Instance| {
        reqwest::Client::new()
            .post(format!("{}/orders", instance.base))
            .header("x-api-key", &plaintext)
            .send()
            .await
            .unwrap()
            .status()
    };
    // Warm both instances' caches (shared and per-thread).
    for _ in 0..20 {
        assert_eq!(call(&instances[0]).await, 200);
        assert_eq!(call(&instances[1]).await, 200);
    }
    assert!(store.revoke(&key.record().id));
    assert_eq!(
        call(&instances[1]).await,
        200,
        "still cached: the test means something"
    );
    broadcasts[0]
        .invalidate("api-keys", &key.record().id)
        .await
        .unwrap();
    assert_eq!(
        call(&instances[0]).await,
        401,
        "the calling instance at once"
    );
    let took = within(Duration::from_secs(1), async || {
        call(&instances[1]).await == 401
    })
    .await;
    println!("api key invalidation reached the other instance in {took:?}");
}

#[tokio::test]
async fn a_jwt_revoked_on_one_instance_is_refused_by_the_other_within_a_second() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let signer = jwt_support::Signer::ec("e");
    let token = signer.sign(&jwt_support::live_claims(jwt_support::ISS));
    let mut instances = Vec::new();
    let mut lists = Vec::new();
    for _ in 0..2 {
        let revocation = RedisRevocation::new(redis.clone()).unwrap();
        assert!(revocation.ready(WAIT).await);
        let scheme = JwtScheme::builder()
            .issuer(
                Issuer::new(jwt_support::ISS)
                    .audience(jwt_support::AUD)
                    .key(signer.public_key()),
            )
            .revocation(revocation.clone())
            .build()
            .unwrap();
        instances.push(serve(app(scheme)).await);
        lists.push(revocation);
    }
    let call = async |instance: &Instance| {
        reqwest::Client::new()
            .post(format!("{}/orders", instance.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(call(&instances[0]).await, 200);
    assert_eq!(call(&instances[1]).await, 200);
    let exp = jwt_support::now_unix() + 3600;
    lists[0]
        .revoke_jti(jwt_support::ISS, "t-1", exp)
        .await
        .unwrap();
    assert_eq!(call(&instances[0]).await, 401);
    let took = within(Duration::from_secs(1), async || {
        call(&instances[1]).await == 401
    })
    .await;
    println!("jti revocation reached the other instance in {took:?}");

    // A third instance started later loads the list.
    let late = RedisRevocation::new(redis.clone()).unwrap();
    assert!(late.ready(WAIT).await);
    assert_eq!(late.len(), 1);
    lists[1]
        .revoke_subject(
            jwt_support::ISS,
            "bob",
            1_800_000_000,
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    within(Duration::from_secs(1), async || {
        authgate::jwt::Revocation::revoked_before(&late, jwt_support::ISS, "bob").is_some()
    })
    .await;
}

/// A `redis-server` of this test's own, on a fixed free port.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.restart().then_some(redis)
    }

    fn restart(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            return false;
        };
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < WAIT {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn redis_stopped_mid_run_is_a_503_and_its_return_needs_no_restart() {
    let Some(mut own) = OwnRedis::start() else {
        unreachable_redis("redis-server could not be started");
        return;
    };
    let redis = RedisConfig::new(own.url())
        .prefix(unique_prefix())
        .timeout(Duration::from_millis(200))
        .connect()
        .unwrap();
    let instance = serve(hmac_instance(&redis)).await;
    let revocation = RedisRevocation::new(redis.clone()).unwrap();
    assert!(revocation.ready(WAIT).await);
    let (auth, body) = signed();
    assert_eq!(send(&instance, &auth, body).await.status(), 200);

    own.stop();
    let (fresh, body) = signed();
    let response = send(&instance, &fresh, body).await;
    assert_eq!(response.status(), 503, "replay status unknown: fail closed");
    // Still closed a while later, and quickly so.
    let start = Instant::now();
    let (other, body) = signed();
    assert_eq!(send(&instance, &other, body).await.status(), 503);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );

    assert!(own.restart());
    // The same layer recovers once Redis answers again.
    let took = within(WAIT, async || {
        let (auth, body) = signed();
        send(&instance, &auth, body).await.status() == 200
    })
    .await;
    println!("replay checks recovered {took:?} after redis-server restarted");
    // The restarted Redis is empty: a nonce from before the restart is
    // refused by the timestamp window only after it ends (documented).

    // The revocation mirror resubscribed: a revocation made by another
    // connection reaches it.
    let writer = RedisRevocation::new(redis.clone()).unwrap();
    assert!(writer.ready(WAIT).await);
    writer
        .revoke_jti("https://idp", "after-restart", jwt_support::now_unix() + 60)
        .await
        .unwrap();
    within(WAIT, async || {
        authgate::jwt::Revocation::is_jti_revoked(&revocation, "https://idp", "after-restart")
    })
    .await;
}

/// Regression: these used to panic (`tokio::spawn` outside a runtime) when
/// called before the runtime started, e.g. in a synchronous `main`.
#[test]
fn redis_parts_made_outside_a_runtime_are_an_error_not_a_panic() {
    let config = || RedisConfig::new(redis_url());
    let error = config().connect().expect_err("no runtime: an error");
    assert!(error.to_string().contains("Tokio runtime"), "{error}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let redis = {
        let _inside = runtime.enter();
        config().connect().unwrap()
    };
    // A connection made inside, the subscriptions asked for outside.
    let broadcast = InvalidationBroadcast::new(redis.clone());
    let error = broadcast.expect_err("no runtime: an error").to_string();
    assert!(error.contains("Tokio runtime"), "{error}");
    assert!(RedisRevocation::new(redis.clone()).is_err());
    assert!(RedisRevocation::with_capacity(redis.clone(), 10).is_err());

    // Inside one (entered, not only within `block_on`), they are made.
    let _inside = runtime.enter();
    assert!(InvalidationBroadcast::new(redis.clone()).is_ok());
    assert!(RedisRevocation::new(redis).is_ok());
}
