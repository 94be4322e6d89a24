//! authgate end to end: an axum server on 127.0.0.1 protected by API keys,
//! called with no key, a malformed key, a mistyped key, a wrong key, a good
//! key, a good key lacking a scope, an expired key and a revoked key.
//!
//! Run with `cargo run --example demo`. It prints each status with its
//! `WWW-Authenticate` header and exits 0 when every answer is the expected
//! one.

use std::time::{Duration, SystemTime};

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::{AuthLayer, Principal, Scopes};
use axum::routing::get;
use axum::{Extension, Router};

async fn orders(Extension(principal): Extension<Principal>) -> String {
    format!("orders for {}", principal.subject())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Issue keys: the plaintext is shown once; the store keeps only hashes.
    let generator = ApiKeyGenerator::new("sk_live")?;
    let store = InMemoryKeyStore::new();
    let good = generator.generate("acct_reader", Scopes::parse("orders:read"))?;
    store.insert(good.record().clone());
    let (expired, mut expired_record) = generator
        .generate("acct_old", Scopes::parse("orders:read"))?
        .into_parts();
    expired_record.expires_at = Some(SystemTime::now() - Duration::from_secs(60));
    store.insert(expired_record);
    let revoked = generator.generate("acct_gone", Scopes::parse("orders:read"))?;
    store.insert(revoked.record().clone());
    store.revoke(&revoked.record().id);
    let never_stored = generator.generate("acct_nobody", Scopes::empty())?;

    let auth = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_live")?)
        .realm("demo")
        .anonymous_path("/health")
        .build()?;
    let app = Router::new()
        .route("/admin", get(orders))
        .route_layer(auth.require_scopes(["admin"]))
        .route("/orders", get(orders))
        .route("/health", get(|| async { "ok" }))
        .layer(auth);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("authgate demo: axum server on {base}\n");

    let good_key = good.plaintext().expose();
    let mut mistyped = good_key.to_owned();
    mistyped.pop();
    mistyped.push(if good_key.ends_with('x') { 'y' } else { 'x' });
    let cases: [(&str, &str, Option<&str>, u16); 8] = [
        ("no key", "/orders", None, 401),
        ("malformed key", "/orders", Some("sk_live not a key!"), 400),
        (
            "mistyped key (bad checksum)",
            "/orders",
            Some(&mistyped),
            401,
        ),
        (
            "wrong key (unknown id)",
            "/orders",
            Some(never_stored.plaintext().expose()),
            401,
        ),
        ("good key", "/orders", Some(good_key), 200),
        (
            "good key lacking scope admin",
            "/admin",
            Some(good_key),
            403,
        ),
        ("expired key", "/orders", Some(expired.expose()), 401),
        (
            "revoked key",
            "/orders",
            Some(revoked.plaintext().expose()),
            401,
        ),
    ];

    let client = reqwest::Client::new();
    let mut failures = 0;
    for (label, path, key, expected) in cases {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(key) = key {
            request = request.header("authorization", format!("ApiKey {key}"));
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        let verdict = if status == expected {
            "ok"
        } else {
            "UNEXPECTED"
        };
        if status != expected {
            failures += 1;
        }
        println!("{label:<30} {status} {verdict:<10} WWW-Authenticate: {challenge}");
    }
    println!();
    if failures > 0 {
        return Err(format!("{failures} unexpected answers").into());
    }
    println!("all answers as expected");
    Ok(())
}
