//! API keys for partners on an axum API: keys per partner and environment,
//! scopes per route and per method, rotation with a grace period.
//!
//! The example issues keys, serves the API on 127.0.0.1, calls it with each
//! key and prints the answers. Exits 0 when every answer is the expected
//! one.
//!
//! `cargo run --example axum_api_keys`

use std::time::{Duration, SystemTime};

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::authorize::{AuthorizeLayer, ByMethod, RequireScopes};
use authgate::{AuthLayer, Principal, Scopes};
use axum::routing::get;
use axum::{Extension, Json, Router};
use http::Method;

async fn orders(Extension(principal): Extension<Principal>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "orders": [], "partner": principal.subject() }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One generator per environment; keys carry the environment prefix.
    let live = ApiKeyGenerator::new("sk_live")?;
    let test = ApiKeyGenerator::new("sk_test")?;
    let store = InMemoryKeyStore::new();
    let reader = live.generate("partner_acme", Scopes::parse("orders:read"))?;
    let writer = live.generate("partner_globex", Scopes::parse("orders:read orders:write"))?;
    let sandbox = test.generate("partner_acme", Scopes::parse("orders:read orders:write"))?;
    for key in [&reader, &writer, &sandbox] {
        store.insert(key.record().clone());
    }
    // Rotate Globex's key: the old one keeps working for a day.
    let rotated = store
        .rotate(
            &writer.record().id,
            Duration::from_secs(86_400),
            SystemTime::now(),
        )?
        .ok_or("no such key")?;

    let auth = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_live")?)
        .realm("partners")
        .anonymous_path("/health")
        .build()?;
    let app = Router::new()
        .route("/orders", get(orders).post(orders))
        .route_layer(AuthorizeLayer::new(
            ByMethod::new()
                .on(Method::GET, RequireScopes::all(["orders:read"]))
                .on(Method::POST, RequireScopes::all(["orders:write"])),
        ))
        .route("/health", get(|| async { "ok" }))
        .layer(auth);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("partner API on {base}\n");

    let cases = [
        (
            "GET  /orders  acme (read)",
            "GET",
            reader.plaintext().expose(),
            200,
        ),
        (
            "POST /orders  acme (read)",
            "POST",
            reader.plaintext().expose(),
            403,
        ),
        (
            "POST /orders  globex, old key in grace",
            "POST",
            writer.plaintext().expose(),
            200,
        ),
        (
            "POST /orders  globex, new key",
            "POST",
            rotated.plaintext().expose(),
            200,
        ),
        (
            "GET  /orders  sandbox key on live",
            "GET",
            sandbox.plaintext().expose(),
            401,
        ),
    ];
    let client = reqwest::Client::new();
    let mut failures = 0;
    for (label, method, key, expected) in cases {
        let method = Method::from_bytes(method.as_bytes())?;
        let response = client
            .request(method, format!("{base}/orders"))
            .header("x-api-key", key)
            .send()
            .await?;
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
        println!("{label:<40} {status} {verdict:<10} {challenge}");
    }
    println!();
    if failures > 0 {
        return Err(format!("{failures} unexpected answers").into());
    }
    println!("all answers as expected");
    Ok(())
}
