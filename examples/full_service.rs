//! One whole service, the recipe to copy: API keys and JWTs on one layer, a
//! nested admin router, a GitHub webhook outside the main layer, a tonic
//! service sharing the layer's schemes and caches through
//! `with_authorizer`, a custom JSON error body, and the service's own
//! tests (`cargo test --example full_service`).
//!
//! `cargo run --example full_service` serves the HTTP API and the gRPC
//! service on 127.0.0.1, calls both as a client would, prints each answer
//! and exits 0 when every one is as expected.
//!
//! Features: the defaults (`api-key`, `hmac`, `jwt`, `axum`):
//!
//! ```toml
//! authgate = "0.1"
//! ```

#[path = "support/greeter.rs"]
mod greeter;

use std::error::Error;

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::authorize::GrpcMethods;
use authgate::hmac::{GithubWebhook, WebhookSecrets};
use authgate::jwt::{Issuer, JwtKey, JwtScheme};
use authgate::request_body::Buffered;
use authgate::response::RejectionBody;
use authgate::{AuthLayer, Claims, Principal, Rejection, RequireScopes, Scopes};
use axum::routing::{get, post};
use axum::{Json, Router};
use greeter::GreeterServer;
use serde_json::{json, Value};
use tonic::server::NamedService;

/// Shared with GitHub; from your secret store in a real service.
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
/// The identity provider's HS256 secret, to keep the example offline; a
/// real service names the issuer's JWKS URL or OIDC discovery instead.
const JWT_SECRET: &[u8; 32] = b"an example HS256 secret 32 bytes";
const ISSUER: &str = "https://login.example.com";
const AUDIENCE: &str = "shop";

/// The service's own error shape. Only the body changes: the status, the
/// `WWW-Authenticate` challenges and `Retry-After` stay, and gRPC calls keep
/// their `grpc-status` answer.
fn error_body(rejection: &Rejection<'_>) -> RejectionBody {
    RejectionBody::json(json!({
        "error": {
            "code": rejection.error().kind().reason(),
            "message": rejection.error().description(),
        }
    }))
}

/// Every layer of the service, built once at start-up.
struct Layers {
    /// API keys and JWTs, for the HTTP API.
    api: AuthLayer,
    /// The same schemes and caches with per-method rules, for gRPC.
    grpc: AuthLayer,
    /// GitHub's signature over the raw body, for the webhook only.
    github: AuthLayer<Buffered>,
}

fn layers(keys: InMemoryKeyStore) -> Result<Layers, Box<dyn Error>> {
    let jwt = JwtScheme::builder()
        .issuer(
            Issuer::new(ISSUER)
                .audience(AUDIENCE)
                .key(JwtKey::shared_secret(JWT_SECRET)?),
        )
        .build()?;
    let api = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(keys, "sk_live")?) // `ApiKey …` or `X-Api-Key`
        .scheme(jwt) // `Bearer <jwt>`
        .realm("shop")
        .anonymous_path("/health")
        .rejection_body(error_body)
        .build()?;
    // Tie the rules to the generated service name: a renamed service is a
    // compile error, not a silent denial.
    let grpc = api.with_authorizer(
        GrpcMethods::new()
            .method_in(
                GreeterServer::NAME,
                "SayHello",
                RequireScopes::all(["greet"]),
            )
            .method_in(
                GreeterServer::NAME,
                "SayGoodbye",
                RequireScopes::all(["admin"]),
            ),
    );
    let github = AuthLayer::builder()
        .scheme(GithubWebhook::new(WebhookSecrets::single(GITHUB_SECRET)))
        .with_request_bodies() // GitHub signs the raw body
        .max_body_size(256 * 1024)
        .rejection_body(error_body)
        .build()?;
    Ok(Layers { api, grpc, github })
}

async fn me(principal: Principal) -> Json<Principal> {
    Json(principal)
}

/// The claims this service needs from a JWT; a token without them gets the
/// layer's 401, and the handler never runs.
#[derive(serde::Deserialize)]
struct Profile {
    tenant: String,
}

async fn tenant(Claims(profile): Claims<Profile>) -> String {
    profile.tenant
}

async fn users(principal: Principal) -> Json<Value> {
    Json(json!({ "users": ["alice", "bob"], "asked_by": principal.subject() }))
}

async fn github_event(body: String) -> String {
    format!("received {} bytes", body.len())
}

/// The HTTP API. `Router::layer` covers the routes added before it, so the
/// webhook, merged afterwards, is outside the main layer and has its own.
fn router(layers: &Layers) -> Router {
    let admin = Router::new()
        .route("/users", get(users))
        .route_layer(RequireScopes::all(["admin"]));
    let api = Router::new()
        .route("/me", get(me))
        .route("/tenant", get(tenant))
        .route("/health", get(|| async { "ok" }))
        .nest("/admin", admin)
        .layer(layers.api.clone());
    let webhooks = Router::new().route(
        "/webhooks/github",
        post(github_event).layer(layers.github.clone()),
    );
    api.merge(webhooks)
}

/// Keys for the example: a shop front-end and an operator.
struct Keys {
    store: InMemoryKeyStore,
    shop: String,
    operator: String,
}

fn keys() -> Result<Keys, Box<dyn Error>> {
    let live = ApiKeyGenerator::new("sk_live")?;
    let store = InMemoryKeyStore::new();
    let shop = live.generate("acct_shop", Scopes::parse("greet"))?;
    let operator = live.generate("acct_operator", Scopes::parse("greet admin"))?;
    store.insert(shop.record().clone());
    store.insert(operator.record().clone());
    Ok(Keys {
        store,
        shop: shop.plaintext().expose().to_owned(),
        operator: operator.plaintext().expose().to_owned(),
    })
}

/// A token as the identity provider would issue it.
fn token(subject: &str, scope: &str, tenant: &str) -> Result<String, Box<dyn Error>> {
    authgate::jwt::install_default();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": subject, "scope": scope,
        "tenant": tenant, "exp": now.as_secs() + 600,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET);
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &key,
    )?)
}

/// `X-Hub-Signature-256` as GitHub computes it.
fn github_signature(body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, GITHUB_SECRET.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// A label, a path, a credential header and the expected HTTP status.
type HttpCase<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>, u16);
/// A label, a method path, a credential and the expected gRPC code.
type GrpcCase<'a> = (
    &'a str,
    &'static str,
    Option<(&'static str, &'a str)>,
    tonic::Code,
);

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    use tonic::transport::server::TcpIncoming;
    use tonic::transport::{Channel, Server};
    use tonic::Code;

    let keys = keys()?;
    let layers = layers(keys.store.clone())?;

    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", http.local_addr()?);
    let app = router(&layers);
    tokio::spawn(async move { axum::serve(http, app).await });
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let grpc_url = format!("http://{}", grpc.local_addr()?);
    let grpc_server = Server::builder()
        .layer(layers.grpc.clone())
        .add_service(GreeterServer)
        .serve_with_incoming(TcpIncoming::from(grpc));
    tokio::spawn(grpc_server);
    println!("HTTP on {base}, gRPC on {grpc_url}\n");

    let alice = format!("Bearer {}", token("alice", "greet", "acme")?);
    let event = br#"{"action":"opened"}"#;
    let client = reqwest::Client::new();
    let mut failures = 0;
    let mut report = |label: &str, got: String, expected: &str| {
        let verdict = if got == expected { "ok" } else { "UNEXPECTED" };
        if got != expected {
            failures += 1;
        }
        println!("{label:<40} {got:<6} {verdict}");
    };

    let http_cases: [HttpCase<'_>; 7] = [
        ("GET /health, no credential", "/health", None, 200),
        ("GET /me, no credential", "/me", None, 401),
        (
            "GET /me, API key",
            "/me",
            Some(("x-api-key", keys.shop.as_str())),
            200,
        ),
        (
            "GET /me, JWT",
            "/me",
            Some(("authorization", alice.as_str())),
            200,
        ),
        (
            "GET /tenant, JWT",
            "/tenant",
            Some(("authorization", alice.as_str())),
            200,
        ),
        (
            "GET /admin/users, shop key",
            "/admin/users",
            Some(("x-api-key", keys.shop.as_str())),
            403,
        ),
        (
            "GET /admin/users, operator key",
            "/admin/users",
            Some(("x-api-key", keys.operator.as_str())),
            200,
        ),
    ];
    for (label, path, credential, expected) in http_cases {
        let mut request = client.get(format!("{base}{path}"));
        if let Some((name, value)) = credential {
            request = request.header(name, value);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        report(label, status.to_string(), &expected.to_string());
        println!("    {body}");
    }
    for (label, signature, expected) in [
        (
            "POST /webhooks/github, signed",
            Some(github_signature(event)),
            200,
        ),
        ("POST /webhooks/github, unsigned", None, 401),
    ] {
        let mut request = client
            .post(format!("{base}/webhooks/github"))
            .body(event.as_slice());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        let response = request.send().await?;
        report(
            label,
            response.status().as_u16().to_string(),
            &expected.to_string(),
        );
    }

    let channel = Channel::from_shared(grpc_url)?.connect().await?;
    let grpc_cases: [GrpcCase<'_>; 3] = [
        (
            "gRPC SayHello, JWT",
            greeter::SAY_HELLO,
            Some(("authorization", alice.as_str())),
            Code::Ok,
        ),
        (
            "gRPC SayHello, no credential",
            greeter::SAY_HELLO,
            None,
            Code::Unauthenticated,
        ),
        (
            "gRPC SayGoodbye, shop key",
            greeter::SAY_GOODBYE,
            Some(("x-api-key", keys.shop.as_str())),
            Code::PermissionDenied,
        ),
    ];
    for (label, method, credential, expected) in grpc_cases {
        let metadata: Vec<_> = credential.into_iter().collect();
        let code = match greeter::call_method(&channel, method, &metadata).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        };
        report(label, format!("{code:?}"), &format!("{expected:?}"));
    }

    if failures > 0 {
        return Err(format!("{failures} unexpected answer(s)").into());
    }
    println!("\nall answers as expected");
    Ok(())
}

/// The service's own tests: the router in-process, no network.
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a panic is a failed test

    use super::*;
    use axum::body::{to_bytes, Body};
    use http::{Request, StatusCode};
    use tower::ServiceExt;

    fn app() -> (Router, Keys) {
        let keys = keys().unwrap();
        let layers = layers(keys.store.clone()).unwrap();
        (router(&layers), keys)
    }

    async fn send(app: &Router, request: Request<Body>) -> (StatusCode, http::HeaderMap, Value) {
        let response = app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, 64 * 1024).await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (parts.status, parts.headers, json)
    }

    #[tokio::test]
    async fn no_credential_is_401_in_our_json_with_both_challenges() {
        let (app, _) = app();
        let request = Request::get("/me").body(Body::empty()).unwrap();
        let (status, headers, body) = send(&app, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let challenges: Vec<_> = headers.get_all("www-authenticate").iter().collect();
        assert_eq!(
            challenges,
            [r#"ApiKey realm="shop""#, r#"Bearer realm="shop""#]
        );
        assert_eq!(body["error"]["code"], "missing");
    }

    #[tokio::test]
    async fn api_keys_and_jwts_reach_the_same_handler() {
        let (app, keys) = app();
        let request = Request::get("/me")
            .header("x-api-key", &keys.shop)
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = send(&app, request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["scheme"], authgate::api_key::SCHEME_NAME);

        let bearer = format!("Bearer {}", token("alice", "greet", "acme").unwrap());
        let request = Request::get("/me")
            .header("authorization", &bearer)
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = send(&app, request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["scheme"], authgate::jwt::SCHEME_NAME);
        assert_eq!(body["subject"], "alice");
    }

    #[tokio::test]
    async fn the_admin_router_needs_scope_admin() {
        let (app, keys) = app();
        for (key, expected) in [
            (&keys.shop, StatusCode::FORBIDDEN),
            (&keys.operator, StatusCode::OK),
        ] {
            let request = Request::get("/admin/users")
                .header("x-api-key", key)
                .body(Body::empty())
                .unwrap();
            assert_eq!(send(&app, request).await.0, expected);
        }
    }

    #[tokio::test]
    async fn the_webhook_needs_githubs_signature_not_our_credentials() {
        let (app, keys) = app();
        let body = br#"{"action":"opened"}"#;
        let signed = Request::post("/webhooks/github")
            .header("x-hub-signature-256", github_signature(body))
            .body(Body::from(body.as_slice()))
            .unwrap();
        assert_eq!(send(&app, signed).await.0, StatusCode::OK);
        let with_api_key = Request::post("/webhooks/github")
            .header("x-api-key", &keys.operator)
            .body(Body::from(body.as_slice()))
            .unwrap();
        assert_eq!(send(&app, with_api_key).await.0, StatusCode::UNAUTHORIZED);
    }
}
