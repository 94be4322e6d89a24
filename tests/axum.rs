//! authgate on a real axum 0.8 server on 127.0.0.1, called by a real HTTP
//! client: `Router::layer`, `route_layer`, nested routers, and the
//! `Principal` extractors.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod support;

use std::net::SocketAddr;

use authgate::api_key::ApiKeyScheme;
use authgate::{AuthLayer, Principal};
use axum::routing::get;
use axum::{Extension, Json, Router};
use reqwest::StatusCode;
use support::fixture;

async fn me(principal: Principal) -> Json<Principal> {
    Json(principal)
}

async fn health(principal: Option<Principal>) -> String {
    principal.map_or_else(|| "anonymous".to_owned(), |p| p.subject().to_owned())
}

async fn via_extension(Extension(principal): Extension<Principal>) -> String {
    principal.subject().to_owned()
}

async fn unprotected(principal: Principal) -> String {
    principal.subject().to_owned()
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

struct Server {
    base: String,
    client: reqwest::Client,
    keys: support::Keys,
}

impl Server {
    async fn start() -> Self {
        let (store, keys) = fixture();
        let auth = AuthLayer::builder()
            .scheme(ApiKeyScheme::new(store, "sk_live").unwrap())
            .realm("orders")
            .anonymous_path("/health")
            .anonymous_path("/public-me")
            .build()
            .unwrap();
        let admin = Router::new()
            .route("/stats", get(via_extension))
            .route_layer(auth.require_scopes(["admin"]));
        let protected = Router::new()
            .route("/me", get(me))
            .route("/extension", get(via_extension))
            .route("/health", get(health))
            .route("/public-me", get(me))
            .nest("/admin", admin)
            .layer(auth);
        let router = Router::new()
            .route("/open", get(unprotected))
            .merge(protected);
        let addr = serve(router).await;
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            keys,
        }
    }

    async fn get(&self, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        request.send().await.unwrap()
    }
}

fn www_authenticate(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_good_key_reaches_the_principal_extractor() {
    let server = Server::start().await;
    let response = server.get("/me", Some(&server.keys.reader)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["subject"], "acct_reader");
    assert_eq!(body["scheme"], "api_key");
    assert_eq!(body["scopes"], serde_json::json!(["read"]));
    assert_eq!(body["credential_id"], support::key_id(&server.keys.reader));

    let response = server.get("/extension", Some(&server.keys.admin)).await;
    assert_eq!(response.text().await.unwrap(), "acct_admin");
}

#[tokio::test]
async fn every_rejection_crosses_the_wire_with_its_status_and_challenge() {
    let server = Server::start().await;
    let response = server.get("/me", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www_authenticate(&response), [r#"ApiKey realm="orders""#]);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    let response = server.get("/me", Some(&server.keys.expired)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        www_authenticate(&response),
        [
            r#"ApiKey realm="orders", error="invalid_token", error_description="the credential has expired""#
        ]
    );

    let response = server
        .client
        .get(format!("{}/me", server.base))
        .header("authorization", "ApiKey a,b")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(www_authenticate(&response)[0].contains(r#"error="invalid_request""#));
}

#[tokio::test]
async fn route_layer_scopes_apply_inside_nested_routers() {
    let server = Server::start().await;
    let response = server.get("/admin/stats", Some(&server.keys.reader)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        www_authenticate(&response),
        [
            r#"ApiKey realm="orders", error="insufficient_scope", error_description="the credential lacks a required scope", scope="admin""#
        ]
    );
    let response = server.get("/admin/stats", Some(&server.keys.admin)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "acct_admin");
    let response = server.get("/admin/stats", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn anonymous_paths_get_an_optional_principal() {
    let server = Server::start().await;
    let response = server.get("/health", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "anonymous");
    let response = server.get("/health", Some(&server.keys.admin)).await;
    assert_eq!(response.text().await.unwrap(), "acct_admin");
}

#[tokio::test]
async fn extracting_a_principal_on_an_unprotected_route_is_a_server_error() {
    let server = Server::start().await;
    let response = server.get("/open", Some(&server.keys.admin)).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn a_required_principal_on_an_anonymous_path_is_401_with_the_challenge() {
    let server = Server::start().await;
    let response = server.get("/public-me", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www_authenticate(&response), [r#"ApiKey realm="orders""#]);
    let response = server.get("/public-me", Some(&server.keys.reader)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Regression (issue 13.1): a derived layer inside `Router::nest` used to
/// decide anonymity on the path the nested router sees, with its prefix
/// stripped: `GET /admin/health` matched `anonymous_path("/health")` and the
/// `admin` scope check never ran.
mod nested_scopes {
    use super::*;
    use authgate::RequireScopes;

    async fn start() -> Server {
        let (store, keys) = fixture();
        let auth = AuthLayer::builder()
            .scheme(ApiKeyScheme::new(store, "sk_live").unwrap())
            .realm("orders")
            .anonymous_path("/health")
            .anonymous_prefix("/pub/")
            .build()
            .unwrap();
        let admin_routes = || {
            Router::new()
                .route("/health", get(health))
                .route("/pub/x", get(health))
                .route("/stats", get(health))
        };
        // A derived layer alone in a nested router: it authenticates, on the
        // original path.
        let solo = admin_routes().layer(auth.require_scopes(["admin"]));
        let protected = Router::new()
            .route("/health", get(health))
            .route("/pub/x", get(health))
            .nest(
                "/admin",
                admin_routes().route_layer(auth.require_scopes(["admin"])),
            )
            .nest_service(
                "/service",
                admin_routes().route_layer(auth.with_authorizer(RequireScopes::all(["admin"]))),
            )
            .merge(
                Router::new()
                    .route("/merged/health", get(health))
                    .route_layer(auth.require_scopes(["admin"])),
            )
            .layer(auth);
        let router = Router::new().merge(protected).nest("/solo", solo);
        let addr = serve(router).await;
        Server {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            keys,
        }
    }

    #[tokio::test]
    async fn an_anonymous_path_inside_a_nested_router_keeps_its_scope_check() {
        let server = start().await;
        for path in [
            "/admin/health",
            "/admin/pub/x",
            "/admin/stats",
            "/service/health",
            "/service/pub/x",
            "/merged/health",
            "/solo/health",
            "/solo/pub/x",
        ] {
            let response = server.get(path, Some(&server.keys.reader)).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
            assert!(
                www_authenticate(&response)[0].contains(r#"error="insufficient_scope""#),
                "{path}"
            );
            let response = server.get(path, None).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
            let response = server.get(path, Some(&server.keys.admin)).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(response.text().await.unwrap(), "acct_admin", "{path}");
        }
    }

    #[tokio::test]
    async fn the_outer_layers_anonymous_paths_still_pass() {
        let server = start().await;
        for path in ["/health", "/pub/x"] {
            let response = server.get(path, None).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(response.text().await.unwrap(), "anonymous", "{path}");
            let response = server.get(path, Some(&server.keys.reader)).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(response.text().await.unwrap(), "acct_reader", "{path}");
        }
    }
}

/// Hardening from the review of issue 13.1: `OriginalUri` is believed only
/// when the current path is what a prefix strip leaves of it. A URI that a
/// middleware rewrote some other way must be anonymous under both paths.
#[tokio::test]
async fn a_rewritten_uri_must_be_anonymous_under_both_paths() {
    let (store, keys) = fixture();
    let auth = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_live").unwrap())
        .anonymous_prefix("/pub/")
        .build()
        .unwrap();
    let rewrite = |mut request: axum::extract::Request| async move {
        if request.uri().path() == "/x" {
            *request.uri_mut() = "/secret".parse().unwrap();
        }
        request
    };
    let inner = tower::ServiceBuilder::new()
        .layer(axum::middleware::map_request(rewrite))
        .service(
            Router::new()
                .route("/secret", get(health))
                .route("/open", get(health))
                .layer(auth),
        );
    let addr = serve(Router::new().nest_service("/pub", inner)).await;
    let server = Server {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        keys,
    };
    let response = server.get("/pub/x", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = server.get("/pub/x", Some(&server.keys.reader)).await;
    assert_eq!(response.status(), StatusCode::OK);
    // A plain prefix strip keeps the original path's answer.
    let response = server.get("/pub/open", None).await;
    assert_eq!(response.status(), StatusCode::OK);
}
