//! Interop: DPoP proofs made by panva's `dpop` npm package (pinned in
//! tests/interop/dpop/package-lock.json, installed with `npm ci` there)
//! are accepted by authgate through a real server, for every key type the
//! package makes, with server nonces too; tampered ones are refused.
//!
//! Without node or the package the tests print a notice and pass, unless
//! the `CI` environment variable is set: then they fail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use authgate::dpop::{Dpop, DpopMode};
use authgate::jwt::{Issuer, JwtKey, JwtScheme};
use authgate::{AuthLayer, Principal};
use axum::{routing::get, Router};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: [u8; 32] = [9u8; 32];
const ISS: &str = "https://login.test";

fn package_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/dpop")
}

/// Whether node and the package are there; panics under CI when not.
fn node_available() -> bool {
    let node = Command::new("node").arg("--version").output();
    let package = package_dir().join("node_modules/dpop/package.json");
    let missing = match node {
        Ok(out) if out.status.success() && package.exists() => return true,
        Ok(out) if out.status.success() => format!(
            "the dpop package (run `npm ci --no-audit --no-fund` in {})",
            package_dir().display()
        ),
        _ => "node".to_owned(),
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {missing} is missing"
    );
    eprintln!("notice: skipping the DPoP interop test: {missing} is not available");
    false
}

fn node(args: &[&str]) -> String {
    let out = Command::new("node")
        .arg("proof.mjs")
        .args(args)
        .current_dir(package_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn serve(dpop: impl FnOnce(&str) -> Dpop) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let scheme = JwtScheme::builder()
        .issuer(
            Issuer::new(ISS)
                .audience("api")
                .key(JwtKey::shared_secret(&SECRET).unwrap()),
        )
        .dpop(dpop(&base))
        .build()
        .unwrap();
    let auth = AuthLayer::builder().scheme(scheme).build().unwrap();
    let app = Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { p.subject().to_owned() }).post(|| async { "posted" }),
        )
        .layer(auth);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn token(jkt: &str) -> String {
    authgate::jwt::install_default();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": ISS, "aud": "api", "sub": "alice", "exp": now() + 600,
                "cnf": {"jkt": jkt}}),
        &EncodingKey::from_secret(&SECRET),
    )
    .unwrap()
}

async fn call(method: reqwest::Method, url: &str, token: &str, proof: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(method, url)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn proofs_from_panvas_dpop_package_are_accepted() {
    if !node_available() {
        return;
    }
    let base = serve(|origin| Dpop::new(DpopMode::Required).public_origin(origin)).await;
    let url = format!("{base}/me");
    for alg in ["ES256", "Ed25519", "RS256", "PS256"] {
        let key = node(&["keygen", alg]);
        let jkt = serde_json::from_str::<Value>(&key).unwrap()["jkt"]
            .as_str()
            .unwrap()
            .to_owned();
        let token = token(&jkt);
        let proof = node(&["proof", &key, "GET", &url, &token]);
        let response = call(reqwest::Method::GET, &url, &token, &proof).await;
        assert_eq!(response.status(), 200, "{alg}");
        assert_eq!(response.text().await.unwrap(), "alice");
        // The same proof again is a replay.
        let response = call(reqwest::Method::GET, &url, &token, &proof).await;
        assert_eq!(response.status(), 401, "{alg} replay");
        // A proof for POST, a query in the URI the package strips itself.
        let proof = node(&["proof", &key, "POST", &format!("{url}?x=1"), &token]);
        let response = call(reqwest::Method::POST, &format!("{url}?x=1"), &token, &proof).await;
        assert_eq!(response.status(), 200, "{alg} POST");
        // A proof for another token.
        let proof = node(&["proof", &key, "GET", &url, "another-token"]);
        let response = call(reqwest::Method::GET, &url, &token, &proof).await;
        assert_eq!(response.status(), 401, "{alg} other token");
    }
}

#[tokio::test]
async fn the_package_follows_the_nonce_challenge() {
    if !node_available() {
        return;
    }
    let base = serve(|origin| {
        Dpop::new(DpopMode::Allowed)
            .public_origin(origin)
            .require_nonce()
    })
    .await;
    let url = format!("{base}/me");
    let key = node(&["keygen", "ES256"]);
    let jkt = serde_json::from_str::<Value>(&key).unwrap()["jkt"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = token(&jkt);
    let proof = node(&["proof", &key, "GET", &url, &token]);
    let response = call(reqwest::Method::GET, &url, &token, &proof).await;
    assert_eq!(response.status(), 401);
    let challenges: Vec<_> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    assert!(
        challenges
            .iter()
            .any(|c| c.starts_with("DPoP ") && c.contains(r#"error="use_dpop_nonce""#)),
        "{challenges:?}"
    );
    let nonce = response.headers()["dpop-nonce"]
        .to_str()
        .unwrap()
        .to_owned();
    let proof = node(&["proof", &key, "GET", &url, &token, &nonce]);
    let response = call(reqwest::Method::GET, &url, &token, &proof).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("dpop-nonce"));
}
