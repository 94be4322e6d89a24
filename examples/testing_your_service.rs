//! Testing your own service with authentication on, using
//! `authgate::testing` (`testing` feature, in `[dev-dependencies]`).
//!
//! The service: an orders API behind JWTs from an OIDC provider and API
//! keys, with per-route scopes, and a GitHub webhook. Its tests (`cargo
//! test --example testing_your_service --features testing`) use:
//!
//! - `MockIssuer` for the identity provider: real discovery and JWKS on
//!   127.0.0.1, tokens minted with the claims each test needs, an outage;
//! - `TestApiKeys` for keys in every state;
//! - `WebhookSigner` for GitHub deliveries;
//! - `TestOnlyPrincipalLayer` for handler tests that skip authentication.
//!
//! `cargo run --example testing_your_service --features testing` runs the
//! same checks against a served instance and exits 0.
//!
//! ```toml
//! [dependencies]
//! authgate = { version = "0.1", features = ["jwks-http"] }
//! [dev-dependencies]
//! authgate = { version = "0.1", features = ["testing"] }
//! ```

use std::error::Error;

use authgate::api_key::{ApiKeyScheme, KeyStore};
use authgate::hmac::{GithubWebhook, WebhookSecrets};
use authgate::jwt::{Issuer, JwtScheme};
use authgate::request_body::Buffered;
use authgate::{AuthLayer, Principal, RequireScopes};
use axum::routing::{get, post};
use axum::Router;

// ------------------------------------------------------------ the service

async fn list_orders(principal: Principal) -> String {
    format!("orders of {}", principal.subject())
}

async fn create_order(principal: Principal) -> String {
    format!("order created by {}", principal.subject())
}

async fn github_event() -> &'static str {
    "thanks"
}

/// The authentication layers: the OIDC issuer and the API-key store come
/// from configuration in production, from the test kit in tests.
fn layers<S: KeyStore>(
    issuer: Issuer,
    keys: ApiKeyScheme<S>,
    github_secret: &str,
) -> Result<(AuthLayer, AuthLayer<Buffered>), Box<dyn Error>> {
    let api = AuthLayer::builder()
        .scheme(JwtScheme::builder().issuer(issuer).build()?)
        .scheme(keys)
        .anonymous_path("/health")
        .build()?;
    let github = AuthLayer::builder()
        .scheme(GithubWebhook::new(WebhookSecrets::single(github_secret)))
        .with_request_bodies()
        .build()?;
    Ok((api, github))
}

/// The routes, without authentication: tests can put the real layer or
/// the test-only principal layer around them.
fn routes() -> Router {
    Router::new()
        .route(
            "/orders",
            get(list_orders).route_layer(RequireScopes::all(["orders:read"])),
        )
        .route(
            "/orders/new",
            post(create_order).route_layer(RequireScopes::all(["orders:write"])),
        )
        .route("/health", get(|| async { "ok" }))
}

fn app(api: AuthLayer, github: AuthLayer<Buffered>) -> Router {
    routes()
        .layer(api)
        .merge(Router::new().route("/webhooks/github", post(github_event).layer(github)))
}

// ------------------------------------------- a run against a live instance

const GITHUB_SECRET: &str = "whsec_example";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    use authgate::testing::{MockIssuer, TestApiKeys, WebhookSigner};

    let issuer = MockIssuer::start().await?;
    let keys = TestApiKeys::new("sk_test")?;
    let (api, github) = layers(issuer.discovery_issuer(), keys.scheme(), GITHUB_SECRET)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app(api, github)).await });
    let client = reqwest::Client::new();

    let token = issuer.token().subject("alice").scopes("orders:read").mint();
    let checks = [
        (
            "GET /orders with a token",
            client.get(format!("{base}/orders")).bearer_auth(&token),
            200,
        ),
        (
            "GET /orders without",
            client.get(format!("{base}/orders")),
            401,
        ),
        (
            "POST /orders/new without orders:write",
            client
                .post(format!("{base}/orders/new"))
                .bearer_auth(&token),
            403,
        ),
        (
            "GET /orders with an API key",
            client
                .get(format!("{base}/orders"))
                .header("x-api-key", keys.issue("robot", "orders:read")),
            200,
        ),
        (
            "GET /orders with a revoked API key",
            client
                .get(format!("{base}/orders"))
                .header("x-api-key", keys.issue_revoked("robot", "orders:read")),
            401,
        ),
    ];
    let mut failures = 0;
    for (what, request, expected) in checks {
        let status = request.send().await?.status().as_u16();
        println!("{what}: {status}");
        failures += usize::from(status != expected);
    }
    let mut delivery = http::Request::post("/").body(b"{\"zen\":\"hi\"}".to_vec())?;
    WebhookSigner::github(GITHUB_SECRET).sign(&mut delivery);
    let signature = delivery.headers()["x-hub-signature-256"].clone();
    let status = client
        .post(format!("{base}/webhooks/github"))
        .header("x-hub-signature-256", signature)
        .body(delivery.into_body())
        .send()
        .await?
        .status()
        .as_u16();
    println!("POST /webhooks/github signed: {status}");
    failures += usize::from(status != 200);
    if failures > 0 {
        return Err(format!("{failures} checks failed").into());
    }
    Ok(())
}

// ------------------------------------------------------ the service's tests

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a panic is a failed test

    use super::*;
    use authgate::testing::{
        test_principal, MockIssuer, Outage, TestApiKeys, TestOnlyPrincipalLayer, WebhookSigner,
    };
    use axum::body::{to_bytes, Body};
    use http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn service() -> (Router, MockIssuer, TestApiKeys) {
        let issuer = MockIssuer::start().await.unwrap();
        let keys = TestApiKeys::new("sk_test").unwrap();
        let (api, github) = layers(issuer.jwks_issuer(), keys.scheme(), GITHUB_SECRET).unwrap();
        (app(api, github), issuer, keys)
    }

    async fn send(app: &Router, request: Request<Body>) -> (StatusCode, String) {
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    fn get_with_token(path: &str, token: &str) -> Request<Body> {
        Request::get(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn a_reader_token_lists_orders_but_cannot_create_one() {
        let (app, issuer, _) = service().await;
        let token = issuer.token().subject("alice").scopes("orders:read").mint();
        let (status, body) = send(&app, get_with_token("/orders", &token)).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "orders of alice"));
        let create = Request::post("/orders/new")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, create).await.0, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn expired_tokens_and_revoked_keys_are_refused() {
        let (app, issuer, keys) = service().await;
        let expired = issuer.token().scopes("orders:read").expired().mint();
        assert_eq!(
            send(&app, get_with_token("/orders", &expired)).await.0,
            StatusCode::UNAUTHORIZED
        );
        let revoked = Request::get("/orders")
            .header("x-api-key", keys.issue_revoked("robot", "orders:read"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, revoked).await.0, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn an_identity_provider_outage_is_a_503_not_a_401() {
        let (app, issuer, _) = service().await;
        issuer.fail_with(Outage::Status(500));
        let token = issuer.token().scopes("orders:read").mint();
        let (status, _) = send(&app, get_with_token("/orders", &token)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn signed_github_deliveries_are_accepted() {
        let (app, _, _) = service().await;
        let mut delivery = Request::post("/webhooks/github")
            .body(b"{\"zen\":\"hi\"}".to_vec())
            .unwrap();
        WebhookSigner::github(GITHUB_SECRET).sign(&mut delivery);
        assert_eq!(send(&app, delivery.map(Body::from)).await.0, StatusCode::OK);
    }

    /// A handler test with no tokens at all: the routes behind the
    /// test-only principal layer.
    #[tokio::test]
    async fn handlers_with_a_test_principal() {
        let writer = routes().layer(TestOnlyPrincipalLayer::new(test_principal(
            "bob",
            "orders:write",
        )));
        let create = Request::post("/orders/new").body(Body::empty()).unwrap();
        let (status, body) = send(&writer, create).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "order created by bob")
        );
        let list = Request::get("/orders").body(Body::empty()).unwrap();
        assert_eq!(send(&writer, list).await.0, StatusCode::FORBIDDEN);
    }
}
