//! An OAuth resource server: JWT and opaque access tokens on one
//! `Authorization: Bearer`, protected-resource metadata (RFC 9728).
//!
//! Without configuration it runs a self-contained demo: a local
//! authorization-server stand-in (discovery, JWKS and an introspection
//! endpoint on 127.0.0.1:0), the API guarded by authgate, and a client
//! that calls the API with a JWT, an opaque token, an inactive token, a
//! token lacking scope `admin` on `/admin`, and DPoP-bound JWT and opaque
//! tokens with proofs from `authgate::dpop::DpopProver`. It exits 0 when
//! every answer is the expected one.
//!
//! ```text
//! cargo run --example resource_server --features introspection,axum
//! ```
//!
//! Against a real authorization server (Keycloak, Okta, Auth0, Ory,
//! oidc-provider…), set the variables below; the API then serves until
//! killed:
//!
//! - `GET /me`: `{"sub", "scopes", "client_id", "token": "jwt" | "opaque",
//!   "bound": "dpop" | null, "jkt"}`;
//! - `GET /admin`: needs scope `admin`;
//! - `GET /.well-known/oauth-protected-resource`: RFC 9728 metadata.
//!
//! ```text
//! AUTHGATE_BIND=127.0.0.1:8080 \
//! AUTHGATE_ISSUER=https://login.example.com/realms/shop \
//! AUTHGATE_AUDIENCE=orders-api \
//! AUTHGATE_CLIENT_ID=orders-api AUTHGATE_CLIENT_SECRET=… \
//! AUTHGATE_RESOURCE=https://api.example.com \
//! AUTHGATE_STRICT=1 \
//! cargo run --example resource_server --features introspection,axum
//! ```
//!
//! The issuer's discovery document (`<issuer>/.well-known/openid-configuration`)
//! gives `jwks_uri` and `introspection_endpoint`. `AUTHGATE_RESOURCE`
//! defaults to `http://<bind>`; `AUTHGATE_STRICT=1` turns on RFC 9068
//! strict mode for JWTs. `http://` issuers are accepted on loopback only.
//!
//! DPoP (RFC 9449), in both runs, for JWTs and introspected tokens alike
//! (a token is bound by `cnf.jkt` in its claims or its introspection
//! answer): `AUTHGATE_DPOP=off|allowed|required` (default `allowed`),
//! `AUTHGATE_DPOP_NONCE=1` to require server nonces, and
//! `AUTHGATE_PUBLIC_ORIGIN` (default `http://<bind>`) as the origin the
//! proofs' `htu` must name.

#[path = "support/dpop.rs"]
mod dpop_env;

use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;

use authgate::dpop::{DpopMode, DpopProver};
use authgate::introspection::{jwt_or_opaque, IntrospectionScheme};
use authgate::jwt::{Issuer, JwtScheme};
use authgate::metadata::ProtectedResource;
use authgate::{AuthLayer, Principal};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};

type BoxError = Box<dyn Error + Send + Sync>;

/// What the API needs to know about the authorization server.
struct Settings {
    issuer: String,
    audience: String,
    client_id: String,
    client_secret: String,
    resource: String,
    strict: bool,
    dpop: dpop_env::DpopEnv,
}

async fn me(principal: Principal) -> Json<Value> {
    let scopes: Vec<&str> = principal.scopes().iter().collect();
    let mut body = json!({
        "sub": principal.subject(),
        "scopes": scopes,
        "client_id": principal.claim("client_id"),
        "token": if principal.scheme() == authgate::jwt::SCHEME_NAME { "jwt" } else { "opaque" },
    });
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

/// The API: JWTs of the issuer verified locally, every other token
/// introspected, both under the same DPoP settings; metadata published.
fn api(settings: &Settings) -> Result<Router, BoxError> {
    let mut jwt = JwtScheme::builder()
        .issuer(
            Issuer::new(settings.issuer.clone())
                .audience(settings.audience.clone())
                .oidc_discovery(),
        )
        .dpop(settings.dpop.settings());
    if settings.strict {
        jwt = jwt.rfc9068_strict();
    }
    let opaque = IntrospectionScheme::builder()
        .issuer(settings.issuer.clone())
        .discover_endpoint()
        .client(settings.client_id.clone(), settings.client_secret.clone())
        .audience(settings.audience.clone())
        .dpop(settings.dpop.settings())
        .build()?;
    let mut metadata = ProtectedResource::new(settings.resource.clone())?
        .authorization_server(settings.issuer.clone())
        .scopes_supported(["admin"])
        .resource_name("authgate resource server example");
    if settings.dpop.mode() != DpopMode::Off {
        metadata = metadata
            .dpop_signing_algs(["ES256", "ES384", "RS256", "PS256", "EdDSA"])
            .dpop_bound_tokens_required(!settings.dpop.accepts_bearer());
    }
    let auth = AuthLayer::builder()
        .scheme(jwt_or_opaque(jwt.build()?, opaque)?)
        .protected_resource(metadata)
        .build()?;
    Ok(Router::new()
        .route("/me", get(me))
        .route(
            "/admin",
            get(admin).route_layer(authgate::RequireScopes::all(["admin"])),
        )
        .layer(auth))
}

async fn serve(listener: tokio::net::TcpListener, app: Router) {
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("server stopped: {e}");
    }
}

/// Whether `issuer` may be fetched: `https`, or `http` on loopback.
fn check_issuer(issuer: &str) -> Result<(), BoxError> {
    let uri: http::Uri = issuer.parse()?;
    let loopback = uri.host().is_some_and(|h| {
        h == "localhost"
            || h.trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if loopback => Ok(()),
        _ => Err("AUTHGATE_ISSUER must be https (http only on loopback)".into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let vars = [
        "AUTHGATE_BIND",
        "AUTHGATE_ISSUER",
        "AUTHGATE_AUDIENCE",
        "AUTHGATE_CLIENT_ID",
        "AUTHGATE_CLIENT_SECRET",
    ]
    .map(|name| std::env::var(name).ok());
    let strict = std::env::var("AUTHGATE_STRICT").is_ok_and(|v| v == "1");
    match vars {
        [Some(bind), Some(issuer), Some(audience), Some(client_id), Some(client_secret)] => {
            check_issuer(&issuer)?;
            let resource =
                std::env::var("AUTHGATE_RESOURCE").unwrap_or_else(|_| format!("http://{bind}"));
            let dpop = dpop_env::DpopEnv::from_env(&format!("http://{bind}"))?;
            let settings = Settings {
                issuer,
                audience,
                client_id,
                client_secret,
                resource,
                strict,
                dpop,
            };
            let listener = tokio::net::TcpListener::bind(&bind).await?;
            println!(
                "serving GET /me, GET /admin and GET /.well-known/oauth-protected-resource on http://{}",
                listener.local_addr()?
            );
            serve(listener, api(&settings)?).await;
            Ok(())
        }
        [None, None, None, None, None] => demo(strict).await,
        _ => Err("set all of AUTHGATE_BIND, AUTHGATE_ISSUER, AUTHGATE_AUDIENCE, AUTHGATE_CLIENT_ID and AUTHGATE_CLIENT_SECRET, or none".into()),
    }
}

/// The stand-in's introspection endpoint: Basic client authentication,
/// then the answer for the token (inactive when unknown).
async fn introspect(
    tokens: Arc<HashMap<String, Value>>,
    expected_basic: String,
    headers: HeaderMap,
    body: String,
) -> (axum::http::StatusCode, Json<Value>) {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected_basic);
    if !authorized {
        let error = json!({"error": "invalid_client"});
        return (axum::http::StatusCode::UNAUTHORIZED, Json(error));
    }
    let token = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .unwrap_or_default();
    let answer = tokens
        .get(token)
        .cloned()
        .unwrap_or_else(|| json!({"active": false}));
    (axum::http::StatusCode::OK, Json(answer))
}

async fn demo(strict: bool) -> Result<(), BoxError> {
    // The authorization server's signing key.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| "key generation failed")?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| "bad key")?;
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key());
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "demo-1", "alg": "EdDSA", "use": "sig", "x": x}]});

    let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", as_listener.local_addr()?);
    let (client_id, client_secret) = ("demo-api", "demo-secret");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    // The client's DPoP key.
    let prover = DpopProver::es256()?;
    // The opaque tokens the stand-in knows about; one bound to the key.
    let answer = |scope: &str, token_type: &str, cnf: Value| {
        json!({"active": true, "sub": "bob", "client_id": "demo-app", "scope": scope,
               "aud": client_id, "iss": issuer, "exp": now + 300, "iat": now,
               "token_type": token_type, "cnf": cnf})
    };
    let opaque = |scope: &str| answer(scope, "Bearer", json!({}));
    let bound_answer = answer("profile", "DPoP", json!({ "jkt": prover.jkt() }));
    let tokens = Arc::new(HashMap::from([
        ("opaque-reader".to_owned(), opaque("profile")),
        ("opaque-admin".to_owned(), opaque("profile admin")),
        ("opaque-bound".to_owned(), bound_answer),
    ]));
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{client_secret}"))
    );
    let discovery = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "introspection_endpoint": format!("{issuer}/introspect"),
    });
    let stand_in = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { Json(discovery) }),
        )
        .route("/jwks", get(move || async move { Json(jwks) }))
        .route(
            "/introspect",
            post(move |headers: HeaderMap, body: String| {
                introspect(Arc::clone(&tokens), basic.clone(), headers, body)
            }),
        );
    tokio::spawn(serve(as_listener, stand_in));

    // The API, guarded by authgate.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let settings = Settings {
        issuer: issuer.clone(),
        audience: client_id.to_owned(),
        client_id: client_id.to_owned(),
        client_secret: client_secret.to_owned(),
        resource: base.clone(),
        strict,
        dpop: dpop_env::DpopEnv::from_env(&base)?,
    };
    let (dpop_mode, bearer_ok) = (settings.dpop.mode(), settings.dpop.accepts_bearer());
    tokio::spawn(serve(listener, api(&settings)?));

    // A JWT access token (RFC 9068).
    authgate::jwt::install_default();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("demo-1".into());
    header.typ = Some("at+jwt".into());
    let mint = |jti: &str, cnf: Value| {
        let claims = json!({"iss": issuer, "aud": client_id, "sub": "alice",
                "client_id": "demo-app", "iat": now, "exp": now + 300, "jti": jti,
                "scope": "profile", "cnf": cnf});
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(pkcs8.as_ref()))
    };
    let jwt = mint("demo-jwt-1", json!({}))?;
    let bound_jwt = mint("demo-jwt-2", json!({ "jkt": prover.jkt() }))?;

    // Bearer tokens pass unless DPoP is required; bound ones never do.
    let (granted, forbidden) = if bearer_ok { (200, 403) } else { (401, 401) };
    let client = reqwest::Client::new();
    let checks = [
        ("/me", "a JWT", Some(jwt.as_str()), granted),
        ("/me", "an opaque token", Some("opaque-reader"), granted),
        ("/me", "an inactive token", Some("opaque-revoked"), 401),
        (
            "/admin",
            "a token without admin",
            Some("opaque-reader"),
            forbidden,
        ),
        ("/admin", "an admin token", Some("opaque-admin"), granted),
        (
            "/me",
            "a DPoP-bound JWT as bearer",
            Some(bound_jwt.as_str()),
            401,
        ),
        (
            "/me",
            "a DPoP-bound opaque token as bearer",
            Some("opaque-bound"),
            401,
        ),
        (
            "/.well-known/oauth-protected-resource",
            "no token",
            None,
            200,
        ),
    ];
    for (path, what, token, expected) in checks {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(|c| format!(" [WWW-Authenticate: {c}]"))
            .unwrap_or_default();
        let body = response.text().await?;
        println!(
            "GET {path} with {what} -> {status} {}{challenge}",
            body.trim()
        );
        if status != expected {
            return Err(
                format!("GET {path} with {what}: expected {expected}, got {status}").into(),
            );
        }
    }

    // The bound tokens, with a fresh proof from the client's key each time.
    let url = format!("{base}/me");
    for (what, token) in [
        ("JWT", bound_jwt.as_str()),
        ("opaque token", "opaque-bound"),
    ] {
        let authorization = DpopProver::authorization(token)?;
        let response = prover
            .send(&http::Method::GET, &url, Some(token), |proof| {
                let request = client
                    .get(&url)
                    .header("authorization", authorization.clone())
                    .header("dpop", proof);
                async move { Ok::<_, BoxError>(http::Response::from(request.send().await?)) }
            })
            .await?;
        let status = response.status().as_u16();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await?
            .to_bytes();
        let body = String::from_utf8(body.to_vec())?;
        println!(
            "GET /me with a DPoP-bound {what} and a proof -> {status} {}",
            body.trim()
        );
        let expected = if dpop_mode == DpopMode::Off { 401 } else { 200 };
        if status != expected {
            return Err(format!(
                "GET /me with a DPoP-bound {what}: expected {expected}, got {status}"
            )
            .into());
        }
        if status == 200 && !body.contains(r#""bound":"dpop""#) {
            return Err(format!("GET /me with a DPoP-bound {what}: not reported as bound").into());
        }
    }
    println!("all good");
    Ok(())
}
