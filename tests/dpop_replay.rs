//! Where DPoP proofs' `jti`s are remembered (RFC 9449 §11.1): the bounded
//! in-process default, and a real Redis shared by a fleet, where two
//! instances (layers) behind one public origin share one
//! `RedisReplayStore`, so a proof accepted by one is refused by the other;
//! Redis unreachable is a 503, never an admission.
//!
//! Redis is read from `AUTHGATE_REDIS_URL` (default
//! `redis://127.0.0.1:6379`); each run uses its own key prefix. Without a
//! reachable Redis the shared-store test prints a notice and passes,
//! unless `CI` is set: then it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/dpop.rs"]
mod proofs;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authgate::dpop::{Dpop, DpopMode};
use authgate::jwt::{Issuer, JwtKey, JwtScheme};
use authgate::redis::{RedisConfig, RedisConnection, RedisReplayStore};
use authgate::{AuthLayer, Principal};
use axum::routing::get;
use axum::Router;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proofs::ProofKey;
use serde_json::json;

const SECRET: [u8; 32] = [5u8; 32];
const ISS: &str = "https://login.fleet.test";
/// The load balancer's origin: what clients put in `htu`, for every
/// instance.
const ORIGIN: &str = "https://api.fleet.test";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn redis_url() -> String {
    std::env::var("AUTHGATE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The shared Redis under a prefix no other run uses, or `None` (with a
/// notice) when it is unreachable and `CI` is unset.
async fn shared_redis() -> Option<RedisConnection> {
    let url = redis_url();
    let prefix = format!("authgate-test-dpop-{}-{}", std::process::id(), now());
    let redis = RedisConfig::new(url.as_str())
        .prefix(prefix)
        .timeout(Duration::from_millis(500))
        .connect()
        .unwrap();
    if redis.ping().await {
        return Some(redis);
    }
    let why = format!("no Redis answers at {url}");
    if std::env::var_os("CI").is_some() {
        panic!("{why}, and CI is set: start one (.ci/run does)");
    }
    eprintln!("notice: {why}; skipping (start one with `redis-server --port 6379`)");
    None
}

fn token(jkt: &str) -> String {
    authgate::jwt::install_default();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": ISS, "aud": "api", "sub": "alice", "exp": now() + 3600,
                "cnf": {"jkt": jkt}}),
        &EncodingKey::from_secret(&SECRET),
    )
    .unwrap()
}

/// One instance: its own token cache and key cache, the given store.
async fn instance(store: RedisReplayStore) -> String {
    serve(
        Dpop::new(DpopMode::Required)
            .public_origin(ORIGIN)
            .replay_store(store),
    )
    .await
}

/// One instance under these DPoP settings; its base URL.
async fn serve(dpop: Dpop) -> String {
    let scheme = JwtScheme::builder()
        .issuer(
            Issuer::new(ISS)
                .audience("api")
                .key(JwtKey::shared_secret(&SECRET).unwrap()),
        )
        .dpop(dpop)
        .build()
        .unwrap();
    let layer = AuthLayer::builder().scheme(scheme).build().unwrap();
    let subject = || get(|p: Principal| async move { p.subject().to_owned() });
    let app = Router::new()
        .route("/me", subject())
        .route("/other", subject())
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// `GET url` with the token and proof: (status, WWW-Authenticate, body).
async fn call(url: &str, token: &str, proof: &str) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .get(url)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, challenge, response.text().await.unwrap())
}

#[tokio::test]
async fn a_proof_accepted_by_one_instance_is_refused_by_another() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let store = RedisReplayStore::new(redis);
    let (first_base, second_base) = (instance(store.clone()).await, instance(store).await);
    let (first, second) = (format!("{first_base}/me"), format!("{second_base}/me"));
    let key = ProofKey::es256();
    let token = token(&key.thumbprint());
    let htu = format!("{ORIGIN}/me");

    let proof = key.proof("GET", &htu, now(), &token);
    let (status, _, body) = call(&first, &token, &proof).await;
    assert_eq!((status, body.as_str()), (200, "alice"));
    // The same proof to the other instance: a replay, though that
    // instance never saw it.
    let (status, challenge, body) = call(&second, &token, &proof).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        challenge.starts_with("DPoP ") && challenge.contains(r#"error="invalid_dpop_proof""#),
        "{challenge}"
    );
    assert!(body.contains("already used"), "{body}");
    // And back to the first.
    assert_eq!(call(&first, &token, &proof).await.0, 401);
    // A fresh proof is welcome on either.
    let fresh = key.proof("GET", &htu, now(), &token);
    assert_eq!(call(&second, &token, &fresh).await.0, 200);
    let fresh = key.proof("GET", &htu, now(), &token);
    assert_eq!(call(&first, &token, &fresh).await.0, 200);
    // The same jti for another URI is another proof (RFC 9449 §11.1).
    let mut claims = key.claims("GET", &htu, now(), &token);
    let me = key.proof_with(&key.header(), &claims);
    claims["htu"] = json!(format!("{ORIGIN}/other"));
    let other = key.proof_with(&key.header(), &claims);
    assert_eq!(call(&first, &token, &me).await.0, 200);
    let other_url = format!("{second_base}/other");
    assert_eq!(call(&other_url, &token, &other).await.0, 200);
    assert_eq!(call(&second, &token, &me).await.0, 401);
    assert_eq!(call(&other_url, &token, &other).await.0, 401);
}

#[tokio::test]
async fn redis_unreachable_is_a_503_never_an_admission() {
    // Nothing listens on port 1.
    let redis = RedisConfig::new("redis://127.0.0.1:1")
        .prefix("authgate-test-dpop-down")
        .timeout(Duration::from_millis(200))
        .connect()
        .unwrap();
    let url = format!("{}/me", instance(RedisReplayStore::new(redis)).await);
    let key = ProofKey::es256();
    let token = token(&key.thumbprint());
    let proof = key.proof("GET", &format!("{ORIGIN}/me"), now(), &token);
    let (status, _, body) = call(&url, &token, &proof).await;
    assert_eq!(status, 503, "{body}");
    // A proof that fails before the store is still a 401.
    let other = ProofKey::es256();
    let wrong = other.proof("GET", &format!("{ORIGIN}/me"), now(), &token);
    assert_eq!(call(&url, &token, &wrong).await.0, 401);
}

#[tokio::test]
async fn the_in_process_default_is_bounded_and_fails_closed() {
    let base = serve(
        Dpop::new(DpopMode::Required)
            .public_origin(ORIGIN)
            .replay_capacity(1),
    )
    .await;
    let url = format!("{base}/me");
    let key = ProofKey::es256();
    let token = token(&key.thumbprint());
    let htu = format!("{ORIGIN}/me");
    let first = key.proof("GET", &htu, now(), &token);
    assert_eq!(call(&url, &token, &first).await.0, 200);
    // Full of a live proof: a new one is refused rather than the old one
    // forgotten early...
    let second = key.proof("GET", &htu, now(), &token);
    let (status, _, body) = call(&url, &token, &second).await;
    assert_eq!(status, 503, "{body}");
    // ...and a replay is still a replay.
    let (status, _, body) = call(&url, &token, &first).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("already used"), "{body}");
}
