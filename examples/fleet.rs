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
//!    included).
//!
//! Exits 0 when every step behaved. Without a reachable Redis it prints
//! how to start one (and exits 1 when `CI` is set).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::hmac::{HmacKey, HmacScheme, InMemorySecretStore, SecretRecord, Signer};
use authgate::redis::{InvalidationBroadcast, RedisConfig, RedisConnection, RedisReplayStore};
use authgate::{AuthLayer, Principal, Scopes};
use axum::routing::{get, post};
use axum::Router;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// What the instances share besides Redis: the key and secret stores (a
/// database in production).
#[derive(Clone)]
struct Stores {
    keys: InMemoryKeyStore,
    secrets: InMemorySecretStore,
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
    let broadcast = InvalidationBroadcast::new(redis.clone());
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
    let app = Router::new()
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

fn stores() -> Stores {
    let secrets = InMemorySecretStore::new();
    secrets.insert(SecretRecord::new(
        "partner-1",
        HmacKey::new("s3cr3t"),
        "acct_42",
    ));
    Stores {
        keys: InMemoryKeyStore::new(),
        secrets,
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
    let stores = stores();
    let a = start("A", &stores, &redis).await?;
    let b = start("B", &stores, &redis).await?;
    let replay = cross_instance_replay(&a, &b).await?;
    let revocation = cross_instance_revocation(&stores, &a, &b).await?;
    Ok(replay && revocation)
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
