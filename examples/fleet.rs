//! Two instances of one API sharing a Redis: what a fleet behind a load
//! balancer gets from the `redis` feature.
//!
//! ```text
//! cargo run --example fleet --features redis
//! ```
//!
//! Starts instances A and B on loopback, both over the Redis at
//! `AUTHGATE_REDIS_URL` (default `redis://127.0.0.1:6379`), then shows:
//!
//! 1. a signed request accepted by A and replayed to B: refused (401);
//! 2. an API key revoked through A and refused by B within one second
//!    (the invalidation broadcast reaches B's caches, per-thread tables
//!    included);
//! 3. a rate limit shared by A and B (`RateLimitLayer` over a
//!    `RedisLimiter`, 4 requests a minute per key): four requests spread
//!    over both pass, the fifth, sent to the other instance, gets 429;
//! 4. with `AUTHGATE_DATABASE_URL` set (e.g.
//!    `postgres://postgres@127.0.0.1:5432/test`; feature `postgres`): a key
//!    issued in PostgreSQL, used on both instances, revoked through A's
//!    `PgKeyStore` and refused by B within one second (`LISTEN`/`NOTIFY`
//!    through `invalidate_on_change`), in schema `authgate_fleet_example`.
//!
//! ```text
//! AUTHGATE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo run --example fleet --features redis,postgres
//! ```
//!
//! Exits 0 when every step behaved. Without a reachable Redis it prints
//! how to start one (and exits 1 when `CI` is set).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::hmac::{HmacKey, HmacScheme, InMemorySecretStore, SecretRecord, Signer};
use authgate::ratelimit::{Quota, RateLimitLayer, RedisLimiter};
use authgate::redis::{InvalidationBroadcast, RedisConfig, RedisConnection, RedisReplayStore};
use authgate::{AuthLayer, Principal, Scopes};
use axum::routing::{get, post};
use axum::Router;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// What the instances share besides Redis: the key and secret stores (a
/// database in production), and where the shared rate limit counts.
#[derive(Clone)]
struct Stores {
    keys: InMemoryKeyStore,
    secrets: InMemorySecretStore,
    redis_url: String,
    /// The rate limiter's key namespace in Redis, the same for A and B.
    limits: String,
}

/// One running instance.
struct Instance {
    name: &'static str,
    base: String,
    broadcast: InvalidationBroadcast,
}

/// The layer of one instance: API keys and signed requests, each cache
/// its own, replays and invalidations shared through `redis`.
async fn layer(
    stores: &Stores,
    redis: &RedisConnection,
) -> Result<
    (
        AuthLayer<authgate::request_body::Buffered>,
        InvalidationBroadcast,
    ),
    Error,
> {
    let keys = ApiKeyScheme::builder(stores.keys.clone())
        .prefix("sk_live")
        .cache_ttl(Duration::from_secs(300))
        .build()?;
    let signed = HmacScheme::builder(stores.secrets.clone())
        .replay_store(RedisReplayStore::new(redis.clone()))
        .build()?;
    let broadcast = InvalidationBroadcast::new(redis.clone())?;
    broadcast.register("api-keys", keys.clone());
    broadcast.register("hmac-secrets", signed.clone());
    if !broadcast.ready(Duration::from_secs(2)).await {
        return Err("could not subscribe to the invalidation channel".into());
    }
    let layer = AuthLayer::builder()
        .scheme(keys.clone())
        .scheme(signed)
        .with_request_bodies()
        .build()?;
    Ok((layer, broadcast))
}

async fn start(
    name: &'static str,
    stores: &Stores,
    redis: &RedisConnection,
) -> Result<Instance, Error> {
    let (layer, broadcast) = layer(stores, redis).await?;
    // Each instance its own limiter (its own connection), one namespace:
    // a budget shared by the fleet.
    let limiter = RedisLimiter::builder(redis::Client::open(stores.redis_url.as_str())?)
        .namespace(stores.limits.as_str())
        .build()?;
    let limited = RateLimitLayer::new(limiter, Quota::per_minute(4)).policy_name("demo")?;
    let app = Router::new()
        .route(
            "/limited",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .route_layer(limited)
        .route(
            "/me",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .route(
            "/orders",
            post(|p: Principal| async move { p.subject().to_owned() }),
        )
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("instance {name} on http://{addr}");
    Ok(Instance {
        name,
        base: format!("http://{addr}"),
        broadcast,
    })
}

/// Step 1: a signed request accepted by `a`, replayed to `b`.
async fn cross_instance_replay(a: &Instance, b: &Instance) -> Result<bool, Error> {
    let signer = Signer::new("partner-1", HmacKey::new("s3cr3t"))?;
    let body = r#"{"sku":"A-1"}"#;
    let mut request = http::Request::post("/orders").body(body)?;
    signer.sign(&mut request)?;
    let auth = request
        .headers()
        .get("authorization")
        .ok_or("the signer set no authorization header")?
        .to_str()?
        .to_owned();
    let send = async |to: &Instance| -> Result<u16, Error> {
        let response = reqwest::Client::new()
            .post(format!("{}/orders", to.base))
            .header("authorization", &auth)
            .body(body)
            .send()
            .await?;
        Ok(response.status().as_u16())
    };
    let first = send(a).await?;
    let replay = send(b).await?;
    println!(
        "signed request: {} -> {first}, replayed to {} -> {replay}",
        a.name, b.name
    );
    Ok(first == 200 && replay == 401)
}

/// Step 2: a key revoked through `a`, refused by `b`.
async fn cross_instance_revocation(
    stores: &Stores,
    a: &Instance,
    b: &Instance,
) -> Result<bool, Error> {
    let key = ApiKeyGenerator::new("sk_live")?.generate("acct_demo", Scopes::empty())?;
    stores.keys.insert(key.record().clone());
    let plaintext = key.plaintext().expose().to_owned();
    let status = async |at: &Instance| -> Result<u16, Error> {
        let response = reqwest::Client::new()
            .get(format!("{}/me", at.base))
            .header("x-api-key", &plaintext)
            .send()
            .await?;
        Ok(response.status().as_u16())
    };
    // Both instances have the key cached.
    if status(a).await? != 200 || status(b).await? != 200 {
        return Ok(false);
    }
    // Revoke in the shared store, then tell every instance (A at once).
    stores.keys.revoke(&key.record().id);
    a.broadcast.invalidate("api-keys", &key.record().id).await?;
    let start = Instant::now();
    while status(b).await? != 401 {
        if start.elapsed() > Duration::from_secs(1) {
            println!(
                "key revoked through {}: still accepted by {} after 1 s",
                a.name, b.name
            );
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "key revoked through {}: refused by {} after {:?}",
        a.name,
        b.name,
        start.elapsed()
    );
    Ok(true)
}

/// Step 3: four requests of one key, alternating between `a` and `b`,
/// then a fifth to the other instance.
async fn shared_rate_limit(stores: &Stores, a: &Instance, b: &Instance) -> Result<bool, Error> {
    let key = ApiKeyGenerator::new("sk_live")?.generate("acct_limited", Scopes::empty())?;
    stores.keys.insert(key.record().clone());
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for to in [a, b, a, b, a] {
        let response = client
            .get(format!("{}/limited", to.base))
            .header("x-api-key", key.plaintext().expose())
            .send()
            .await?;
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        statuses.push((to.name, response.status().as_u16(), retry_after));
    }
    for (name, status, retry_after) in &statuses {
        match retry_after {
            Some(seconds) => {
                println!("rate limit 4/min: {name} -> {status} (Retry-After: {seconds})")
            }
            None => println!("rate limit 4/min: {name} -> {status}"),
        }
    }
    let codes: Vec<u16> = statuses.iter().map(|(_, status, _)| *status).collect();
    Ok(codes == [200, 200, 200, 200, 429])
}

/// Step 4: keys in PostgreSQL, revoked through one instance's store.
#[cfg(feature = "postgres")]
async fn postgres_revocation(database_url: &str) -> Result<bool, Error> {
    use authgate::postgres::{ChangeListener, PgDatabase, PgKeyStore};

    const SCHEMA: &str = "authgate_fleet_example";

    async fn pg_instance(
        name: &'static str,
        store: PgKeyStore,
    ) -> Result<(String, ChangeListener), Error> {
        let scheme = ApiKeyScheme::builder(store.clone())
            .prefix("sk_live")
            .cache_ttl(Duration::from_secs(3600))
            .build()?;
        // Every change to the keys table is announced (NOTIFY); the
        // listener drops the changed key from this instance's caches.
        let listener = store.invalidate_on_change(&scheme);
        listener.listening().await;
        let app = Router::new()
            .route(
                "/me",
                get(|p: Principal| async move { p.subject().to_owned() }),
            )
            .layer(AuthLayer::builder().scheme(scheme).build()?);
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = tcp.local_addr()?;
        tokio::spawn(async move { axum::serve(tcp, app).await });
        println!("instance {name} (keys in PostgreSQL) on http://{addr}");
        Ok((format!("http://{addr}"), listener))
    }

    // Each instance its own connection to one schema.
    let database = || PgDatabase::builder(database_url).schema(SCHEMA).build();
    let store_a = PgKeyStore::new(database()?);
    let store_b = PgKeyStore::new(database()?);
    store_a.database().migrate().await?;
    let (a, _listening_a) = pg_instance("A", store_a.clone()).await?;
    let (b, _listening_b) = pg_instance("B", store_b).await?;

    let key = store_a
        .issue(
            &ApiKeyGenerator::new("sk_live")?,
            "acct_pg",
            Scopes::empty(),
            None,
        )
        .await?;
    let client = reqwest::Client::new();
    let status = async |base: &str| -> Result<u16, Error> {
        let response = client
            .get(format!("{base}/me"))
            .header("x-api-key", key.plaintext().expose())
            .send()
            .await?;
        Ok(response.status().as_u16())
    };
    // Both instances have the key cached (for an hour).
    if status(&a).await? != 200 || status(&b).await? != 200 {
        return Ok(false);
    }
    store_a.revoke(&key.record().id).await?;
    let start = Instant::now();
    while status(&b).await? != 401 {
        if start.elapsed() > Duration::from_secs(1) {
            println!("key revoked in PostgreSQL through A: still accepted by B after 1 s");
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "key revoked in PostgreSQL through A: refused by B after {:?}",
        start.elapsed()
    );
    Ok(true)
}

#[cfg(not(feature = "postgres"))]
async fn postgres_revocation(_: &str) -> Result<bool, Error> {
    println!(
        "AUTHGATE_DATABASE_URL is set but the `postgres` feature is off: --features redis,postgres"
    );
    Ok(true)
}

fn stores(redis_url: &str, nanos: u128) -> Stores {
    let secrets = InMemorySecretStore::new();
    secrets.insert(SecretRecord::new(
        "partner-1",
        HmacKey::new("s3cr3t"),
        "acct_42",
    ));
    Stores {
        keys: InMemoryKeyStore::new(),
        secrets,
        redis_url: redis_url.to_owned(),
        limits: format!("authgate-fleet-example-{nanos}:limits:"),
    }
}

async fn run() -> Result<bool, Error> {
    let url =
        std::env::var("AUTHGATE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let redis = RedisConfig::new(url.as_str())
        .prefix(format!("authgate-fleet-example-{nanos}"))
        .connect()?;
    if !redis.ping().await {
        println!("no Redis answers at {url}: start one with");
        println!("    redis-server --port 6379 --save '' --appendonly no");
        println!("or point AUTHGATE_REDIS_URL at yours.");
        return Ok(std::env::var_os("CI").is_none());
    }
    let stores = stores(&url, nanos);
    let a = start("A", &stores, &redis).await?;
    let b = start("B", &stores, &redis).await?;
    let replay = cross_instance_replay(&a, &b).await?;
    let revocation = cross_instance_revocation(&stores, &a, &b).await?;
    let limit = shared_rate_limit(&stores, &a, &b).await?;
    let postgres = match std::env::var("AUTHGATE_DATABASE_URL") {
        Ok(database_url) => postgres_revocation(&database_url).await?,
        Err(_) => {
            println!("AUTHGATE_DATABASE_URL unset: the PostgreSQL step is skipped");
            true
        }
    };
    Ok(replay && revocation && limit && postgres)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
