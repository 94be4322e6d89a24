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
//! serves `GET /me` (the principal as JSON, with `"bound": "dpop"` and the
//! key's `"jkt"` for a DPoP-bound token, `null` otherwise) and `GET /admin`
//! (needs scope `admin`) until killed:
//!
//! ```text
//! AUTHGATE_JWKS_URL=https://idp.example/.well-known/jwks.json \
//! AUTHGATE_ISSUER=https://idp.example/ \
//! AUTHGATE_AUDIENCE=https://api.example \
//! AUTHGATE_BIND=127.0.0.1:8080 \
//! cargo run --example axum_jwt --features jwks-http,axum
//! ```
//!
//! DPoP (RFC 9449), in both runs: `AUTHGATE_DPOP=off|allowed|required`
//! (default `allowed`), `AUTHGATE_DPOP_NONCE=1` to require server nonces,
//! and `AUTHGATE_PUBLIC_ORIGIN` (e.g. `http://127.0.0.1:8080`, the
//! default being `http://` and the bind address) as the origin the
//! proofs' `htu` must name. The demo also calls `/me` with a DPoP-bound
//! token and proofs from `authgate::dpop::DpopProver`.

#[path = "support/dpop.rs"]
mod dpop_env;

use std::error::Error;
use std::net::SocketAddr;

use authgate::dpop::{DpopMode, DpopProver};
use authgate::jwt::{Issuer, JwtScheme};
use authgate::{AuthLayer, Principal};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::json;

type BoxError = Box<dyn Error + Send + Sync>;

/// The principal, and whether its token is DPoP-bound.
async fn me(principal: Principal) -> Json<serde_json::Value> {
    let mut body = serde_json::to_value(&principal).unwrap_or_default();
    if let Some(fields) = body.as_object_mut() {
        for (name, value) in dpop_env::binding(&principal) {
            fields.insert(name.into(), value);
        }
    }
    Json(body)
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
        .dpop(dpop_env::DpopEnv::from_env(&format!("http://{bind}"))?.settings())
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_addr = listener.local_addr()?;
    let dpop = dpop_env::DpopEnv::from_env(&format!("http://{api_addr}"))?;
    let scheme = JwtScheme::builder()
        .issuer(
            Issuer::new(issuer.clone())
                .audience("demo-api")
                .jwks_url(format!("{issuer}/jwks.json")),
        )
        .dpop(dpop.settings())
        .build()?;
    tokio::spawn(serve(listener, api(scheme)?));

    // A client with two tokens.
    authgate::jwt::install_default();
    let key = EncodingKey::from_ed_der(pkcs8.as_ref());
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("demo-1".into());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let mint = |scope: &str, jkt: Option<&str>| {
        let mut claims = json!({"iss": issuer, "aud": "demo-api", "sub": "alice", "iat": now,
                                "exp": now + 300, "scope": scope, "tenant": "acme"});
        if let (Some(jkt), Some(fields)) = (jkt, claims.as_object_mut()) {
            fields.insert("cnf".into(), json!({ "jkt": jkt }));
        }
        jsonwebtoken::encode(&header, &claims, &key)
    };
    let reader = mint("profile", None)?;
    let admin_token = mint("profile admin", None)?;
    let client = reqwest::Client::new();
    let base = format!("http://{api_addr}");
    // Bearer tokens pass unless DPoP is required.
    let bearer_ok = if dpop.accepts_bearer() { 200 } else { 401 };
    let checks = [
        ("/me", None, 401),
        ("/me", Some(&reader), bearer_ok),
        (
            "/admin",
            Some(&reader),
            if bearer_ok == 200 { 403 } else { 401 },
        ),
        ("/admin", Some(&admin_token), bearer_ok),
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

    // A DPoP-bound token: useless without a proof from the client's key.
    let prover = DpopProver::es256()?;
    let bound = mint("profile", Some(prover.jkt()))?;
    let url = format!("{base}/me");
    let response = client.get(&url).bearer_auth(&bound).send().await?;
    println!(
        "GET /me (bound token as bearer) -> {}",
        response.status().as_u16()
    );
    if response.status() != 401 {
        return Err("a DPoP-bound token passed as a bearer token".into());
    }
    let authorization = DpopProver::authorization(&bound)?;
    let response = prover
        .send(&http::Method::GET, &url, Some(&bound), |proof| {
            let request = client
                .get(&url)
                .header("authorization", authorization.clone())
                .header("dpop", proof);
            async move { Ok::<_, BoxError>(http::Response::from(request.send().await?)) }
        })
        .await?;
    let status = response.status().as_u16();
    let body = String::from_utf8(
        http_body_util::BodyExt::collect(response.into_body())
            .await?
            .to_bytes()
            .to_vec(),
    )?;
    println!("GET /me (dpop) -> {status} {}", body.trim());
    let expected = if dpop.mode() == DpopMode::Off {
        401
    } else {
        200
    };
    if status != expected {
        return Err(format!("GET /me with DPoP: expected {expected}, got {status}").into());
    }
    if status == 200 && !body.contains(r#""bound":"dpop""#) {
        return Err("GET /me with DPoP: not reported as bound".into());
    }
    println!("all good");
    Ok(())
}
