//! Custom rejection bodies and the axum extractors, over real connections:
//! a custom body keeps the status, challenges and `Retry-After`; gRPC calls
//! keep the trailers-only answer a tonic client reads as a code, whatever
//! the HTTP hook returns; every rejection (the layer's, per-route rules',
//! the extractors') goes through the hook; `Claims<T>` answers with the
//! layer's own rejection when the claims do not fit.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a panic is a failed test

#[path = "../examples/support/greeter.rs"]
mod greeter;
mod support;

use std::net::SocketAddr;

use authgate::api_key::{ApiKeyScheme, KeyStore};
use authgate::authorize::GrpcMethods;
use authgate::jwt::{Issuer, JwtScheme};
use authgate::response::RejectionBody;
use authgate::testing::{TestAlgorithm, TestSigningKey};
use authgate::{AuthLayer, Claims, Principal, Rejection, RejectionResponse, RequireScopes};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use greeter::{call_method, GreeterServer, SAY_GOODBYE, SAY_HELLO};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{fixture, StoreMode, TestStore};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::Code;

/// The service's own error shape.
fn json_body(rejection: &Rejection<'_>) -> RejectionBody {
    RejectionBody::json(json!({
        "error": {
            "code": rejection.error().kind().reason(),
            "message": rejection.error().description(),
        }
    }))
}

/// What a newcomer writes first: a full response with a JSON body and no
/// thought for gRPC, challenges or `Retry-After`.
fn naive_json_response(rejection: &Rejection<'_>) -> http::Response<Bytes> {
    let body = json!({ "error": rejection.error().kind().reason() }).to_string();
    http::Response::builder()
        .status(rejection.status())
        .header("content-type", "application/json")
        .body(Bytes::from(body))
        .unwrap()
}

async fn serve_grpc(auth: AuthLayer) -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = Server::builder()
        .layer(auth)
        .add_service(GreeterServer)
        .serve_with_incoming(TcpIncoming::from(listener));
    tokio::spawn(async move { server.await.unwrap() });
    Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn greeter_rules() -> GrpcMethods {
    GrpcMethods::new()
        .method(SAY_HELLO, RequireScopes::all(["read"]))
        .method(SAY_GOODBYE, RequireScopes::all(["admin"]))
}

fn api_keys(store: impl KeyStore) -> authgate::AuthLayerBuilder {
    AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_live").unwrap())
        .realm("orders")
}

/// UNAUTHENTICATED without a key, PERMISSION_DENIED without the scope, OK
/// with it: the codes a tonic client must see whatever the HTTP hook does.
async fn assert_grpc_codes(channel: &Channel, keys: &support::Keys) {
    let status = call_method(channel, SAY_HELLO, &[]).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), "authentication is required");
    let reader = [("x-api-key", keys.reader.as_str())];
    let status = call_method(channel, SAY_GOODBYE, &reader)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let reply = call_method(channel, SAY_HELLO, &reader).await.unwrap();
    assert_eq!(reply.subject, "acct_reader");
}

#[tokio::test]
async fn a_json_rejection_response_leaves_grpc_codes_intact() {
    // Before the fix this answered gRPC calls with the JSON body, and tonic
    // reported `Internal: protocol error: received message with invalid
    // compression flag: 123`.
    let (store, keys) = fixture();
    let auth = api_keys(store)
        .rejection_response(naive_json_response)
        .authorize(greeter_rules())
        .build()
        .unwrap();
    assert_grpc_codes(&serve_grpc(auth).await, &keys).await;
}

#[tokio::test]
async fn a_json_rejection_body_leaves_grpc_codes_intact() {
    let (store, keys) = fixture();
    let auth = api_keys(store)
        .rejection_body(json_body)
        .authorize(greeter_rules())
        .build()
        .unwrap();
    assert_grpc_codes(&serve_grpc(auth).await, &keys).await;
}

#[tokio::test]
async fn grpc_answers_change_only_when_asked_for() {
    let (store, keys) = fixture();
    let grpc_hook = |rejection: &Rejection<'_>| {
        let mut response = rejection.respond_with(RejectionBody::text("ignored for gRPC"));
        response.headers_mut().insert(
            "grpc-message",
            http::HeaderValue::from_static("see https://example.com/auth"),
        );
        response
    };
    let auth = api_keys(store)
        .rejection_body(json_body)
        .grpc_rejection_response(grpc_hook)
        .authorize(greeter_rules())
        .build()
        .unwrap();
    let channel = serve_grpc(auth).await;
    let status = call_method(&channel, SAY_HELLO, &[]).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), "see https://example.com/auth");
    let reader = [("x-api-key", keys.reader.as_str())];
    assert!(call_method(&channel, SAY_HELLO, &reader).await.is_ok());
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

async fn fetch(addr: SocketAddr, path: &str, header: Option<(&str, &str)>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

fn www_authenticate(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// Reads the body and checks it is the hook's shape with `code`.
async fn assert_hook_body(response: reqwest::Response, code: &str) {
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
}

#[tokio::test]
async fn every_http_rejection_goes_through_the_body_hook_and_keeps_its_headers() {
    let (store, keys) = fixture();
    let auth = api_keys(store)
        .anonymous_path("/public-me")
        .rejection_body(json_body)
        .build()
        .unwrap();
    let router = Router::new()
        .route("/admin", get(|| async { "admin" }))
        .route_layer(RequireScopes::all(["admin"]))
        .route("/derived", get(|| async { "derived" }))
        .route_layer(auth.require_scopes(["admin"]))
        .route(
            "/me",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .route(
            "/public-me",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .layer(auth);
    let addr = serve(router).await;

    // The layer's own 401.
    let response = fetch(addr, "/me", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www_authenticate(&response), [r#"ApiKey realm="orders""#]);
    assert_hook_body(response, "missing").await;

    // A 401 invalid_token keeps its error parameters.
    let response = fetch(addr, "/me", Some(("x-api-key", &keys.revoked))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&response)[0].contains(r#"error="invalid_token""#));
    assert_hook_body(response, "revoked").await;

    // Per-route rules behind the layer, plain and derived.
    for path in ["/admin", "/derived"] {
        let response = fetch(addr, path, Some(("x-api-key", &keys.reader))).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(
            www_authenticate(&response)[0].contains(r#"error="insufficient_scope""#),
            "{path}"
        );
        assert_hook_body(response, "insufficient_scope").await;
    }

    // The extractor on an anonymous path.
    let response = fetch(addr, "/public-me", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www_authenticate(&response), [r#"ApiKey realm="orders""#]);
    assert_hook_body(response, "missing").await;
}

#[tokio::test]
async fn a_body_hook_keeps_retry_after_on_503() {
    let (store, keys) = fixture();
    let auth = api_keys(TestStore::new(store, StoreMode::Fail))
        .rejection_body(json_body)
        .retry_after(std::time::Duration::from_secs(7))
        .build()
        .unwrap();
    let router = Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .layer(auth);
    let addr = serve(router).await;
    let response = fetch(addr, "/me", Some(("x-api-key", &keys.reader))).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_hook_body(response, "unavailable").await;
}

#[tokio::test]
async fn a_principal_on_a_route_without_a_layer_is_a_problem_details_500() {
    let router = Router::new().route(
        "/open",
        get(|p: Principal| async move { p.subject().to_owned() }),
    );
    let addr = serve(router).await;
    let response = fetch(addr, "/open", None).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["status"], 500);
}

const ISS: &str = "https://login.test";

/// A token of `ISS` for `api`, valid for ten minutes, signed with `key`.
fn token(key: &TestSigningKey, claims: &Value) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = claims.clone();
    claims["iss"] = json!(ISS);
    claims["aud"] = json!("api");
    claims["exp"] = json!(now + 600);
    key.sign(&claims).unwrap()
}

#[derive(serde::Deserialize)]
struct Tenant {
    tenant: String,
    #[serde(default)]
    roles: Vec<String>,
}

#[tokio::test]
async fn claims_extractor_answers_with_the_layers_rejection() {
    let key = TestSigningKey::generate(TestAlgorithm::HS256, "hs-1").unwrap();
    let jwt = JwtScheme::builder()
        .issuer(
            Issuer::new(ISS)
                .audience("api")
                .key(key.verifying_key().unwrap()),
        )
        .build()
        .unwrap();
    let auth = AuthLayer::builder()
        .scheme(jwt)
        .realm("orders")
        .anonymous_path("/maybe")
        .rejection_body(json_body)
        .build()
        .unwrap();
    let router = Router::new()
        .route(
            "/tenant",
            get(|Claims(t): Claims<Tenant>| async move {
                format!("{} {}", t.tenant, t.roles.join(","))
            }),
        )
        .route(
            "/maybe",
            get(|claims: Option<Claims<Tenant>>| async move {
                claims.map_or_else(|| "anonymous".to_owned(), |c| c.tenant.clone())
            }),
        )
        .layer(auth);
    let addr = serve(router).await;

    let fits = format!(
        "Bearer {}",
        token(
            &key,
            &json!({"sub": "alice", "tenant": "acme", "roles": ["a", "b"]})
        )
    );
    let response = fetch(addr, "/tenant", Some(("authorization", &fits))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "acme a,b");

    let misfit = format!(
        "Bearer {}",
        token(&key, &json!({"sub": "alice", "tenant": 42}))
    );
    let response = fetch(addr, "/tenant", Some(("authorization", &misfit))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        www_authenticate(&response),
        [
            r#"Bearer realm="orders", error="invalid_token", error_description="the token's claims do not fit this endpoint""#
        ]
    );
    assert_hook_body(response, "invalid_format").await;

    let response = fetch(addr, "/maybe", None).await;
    assert_eq!(response.text().await.unwrap(), "anonymous");
    let response = fetch(addr, "/maybe", Some(("authorization", &fits))).await;
    assert_eq!(response.text().await.unwrap(), "acme");
    let response = fetch(addr, "/maybe", Some(("authorization", &misfit))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn problem_details_is_still_the_default_and_a_rejection_response() {
    fn takes(_: impl RejectionResponse) {}
    takes(authgate::ProblemDetails);
    takes(naive_json_response);
}

#[test]
fn a_grpc_method_rule_that_never_matches_is_logged() {
    use authgate::{Authorizer, Scopes};
    let (logs, _guard) = support::capture_logs(tracing::Level::WARN);
    // A malformed path is reported when the rule is made...
    let rules = GrpcMethods::new()
        .method("pkg.Greeter/SayHello", RequireScopes::all(["read"]))
        .method_in("pkg.Greeter", "SayHelo", RequireScopes::all(["read"]));
    assert!(
        logs.text().contains("not a gRPC method path"),
        "{}",
        logs.text()
    );
    // ...and a call to a method of a known service without a rule (a typo
    // in `SayHelo`) is denied and reported once, with the rules that exist.
    let principal =
        Principal::new("u", authgate::api_key::SCHEME_NAME).with_scopes(Scopes::parse("read"));
    let call = http::Request::post(SAY_HELLO)
        .body(())
        .unwrap()
        .into_parts()
        .0;
    for _ in 0..3 {
        assert!(rules.authorize(&principal, &call).is_err());
    }
    let text = logs.text();
    assert_eq!(text.matches("no rule for this method").count(), 1, "{text}");
    assert!(text.contains("/pkg.Greeter/SayHelo"), "{text}");
}
