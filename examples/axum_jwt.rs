//! JWT bearer tokens with axum and a JWKS endpoint.
//!
//! Without configuration it runs a self-contained demo: a local JWKS
//! endpoint (axum on 127.0.0.1:0), an API protected by authgate that reads
//! its keys from there, and a client that mints tokens and calls the API.
//! It exits 0 when every answer is the expected one.
//!
//! ```text
//! cargo run --example axum_jwt --features jwks-http,axum
//! ```
//!
//! Against a real identity provider, set all four variables; the API then
//! serves `GET /me` (the principal as JSON) and `GET /admin` (needs scope
//! `admin`) until killed:
//!
//! ```text
//! AUTHGATE_JWKS_URL=https://idp.example/.well-known/jwks.json \
//! AUTHGATE_ISSUER=https://idp.example/ \
//! AUTHGATE_AUDIENCE=https://api.example \
//! AUTHGATE_BIND=127.0.0.1:8080 \
//! cargo run --example axum_jwt --features jwks-http,axum
//! ```

use std::error::Error;
use std::net::SocketAddr;

use authgate::jwt::{Issuer, JwtScheme};
use authgate::{AuthLayer, Principal};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::json;

type BoxError = Box<dyn Error + Send + Sync>;

async fn me(principal: Principal) -> Json<Principal> {
    Json(principal)
}

async fn admin(principal: Principal) -> String {
    format!("hello, admin {}\n", principal.subject())
}

fn api(scheme: JwtScheme) -> Result<Router, BoxError> {
    let auth = AuthLayer::builder().scheme(scheme).build()?;
    Ok(Router::new()
        .route("/me", get(me).route_layer(auth.clone()))
        .route(
            "/admin",
            get(admin).route_layer(auth.require_scopes(["admin"])),
        ))
}

async fn serve(listener: tokio::net::TcpListener, app: Router) {
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("server stopped: {e}");
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let vars = [
        "AUTHGATE_JWKS_URL",
        "AUTHGATE_ISSUER",
        "AUTHGATE_AUDIENCE",
        "AUTHGATE_BIND",
    ]
    .map(|name| std::env::var(name).ok());
    match vars {
        [Some(jwks), Some(issuer), Some(audience), Some(bind)] => {
            serve_configured(&jwks, &issuer, &audience, &bind).await
        }
        [None, None, None, None] => demo().await,
        _ => Err("set all of AUTHGATE_JWKS_URL, AUTHGATE_ISSUER, AUTHGATE_AUDIENCE and AUTHGATE_BIND, or none".into()),
    }
}

async fn serve_configured(
    jwks: &str,
    issuer: &str,
    audience: &str,
    bind: &str,
) -> Result<(), BoxError> {
    let scheme = JwtScheme::builder()
        .issuer(Issuer::new(issuer).audience(audience).jwks_url(jwks))
        .build()?;
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!(
        "serving GET /me and GET /admin on http://{}",
        listener.local_addr()?
    );
    serve(listener, api(scheme)?).await;
    Ok(())
}

async fn demo() -> Result<(), BoxError> {
    // The identity provider's signing key and its JWKS endpoint.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| "key generation failed")?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| "bad key")?;
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key());
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "demo-1", "alg": "EdDSA", "use": "sig", "x": x}]});
    let idp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let idp_addr: SocketAddr = idp.local_addr()?;
    tokio::spawn(serve(
        idp,
        Router::new().route("/jwks.json", get(move || async move { Json(jwks) })),
    ));
    let issuer = format!("http://{idp_addr}");

    // The API, protected by authgate.
    let scheme = JwtScheme::builder()
        .issuer(
            Issuer::new(issuer.clone())
                .audience("demo-api")
                .jwks_url(format!("{issuer}/jwks.json")),
        )
        .build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_addr = listener.local_addr()?;
    tokio::spawn(serve(listener, api(scheme)?));

    // A client with two tokens.
    authgate::jwt::install_default();
    let key = EncodingKey::from_ed_der(pkcs8.as_ref());
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("demo-1".into());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let mint = |scope: &str| {
        jsonwebtoken::encode(
            &header,
            &json!({"iss": issuer, "aud": "demo-api", "sub": "alice", "iat": now, "exp": now + 300,
                    "scope": scope, "tenant": "acme"}),
            &key,
        )
    };
    let reader = mint("profile")?;
    let admin_token = mint("profile admin")?;
    let client = reqwest::Client::new();
    let base = format!("http://{api_addr}");
    let checks = [
        ("/me", None, 401),
        ("/me", Some(&reader), 200),
        ("/admin", Some(&reader), 403),
        ("/admin", Some(&admin_token), 200),
    ];
    for (path, token, expected) in checks {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        println!(
            "GET {path} ({}) -> {status} {}",
            if token.is_some() {
                "bearer"
            } else {
                "no token"
            },
            body.trim()
        );
        if status != expected {
            return Err(format!("GET {path}: expected {expected}, got {status}").into());
        }
    }
    println!("all good");
    Ok(())
}
