//! Authorization per route on a real axum server: scopes on nested and
//! merged routers, method rules, combinators, hierarchical matching, custom
//! policy reasons, and the misconfiguration guard.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod support;

use std::net::SocketAddr;

use authgate::authorize::{all, any, not, AuthorizeLayer, ByMethod, RequireScopes};
use authgate::testing::TestApiKeys;
use authgate::{AuthError, AuthLayer, Authorizer, Principal};
use axum::routing::get;
use axum::Router;
use http::Method;
use reqwest::StatusCode;

struct Keys {
    reader: String,
    writer: String,
    wildcard: String,
    acme: String,
}

fn layer() -> (AuthLayer, Keys) {
    let kit = TestApiKeys::new("sk_live").unwrap();
    let keys = Keys {
        reader: kit.issue("acct_reader", "orders:read"),
        writer: kit.issue("acct_writer", "orders:read orders:write"),
        wildcard: kit.issue("acct_wild", "orders:*"),
        acme: kit.issue("acme/alice", "orders:read"),
    };
    let auth = AuthLayer::builder()
        .scheme(kit.scheme())
        .realm("shop")
        .anonymous_path("/public")
        .build()
        .unwrap();
    (auth, keys)
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

async fn call(base: &str, method: Method, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().request(method, format!("{base}{path}"));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    request.send().await.unwrap()
}

fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn who(principal: Option<axum::Extension<Principal>>) -> String {
    principal.map_or_else(|| "anonymous".into(), |p| p.subject().to_owned())
}

fn tenant_acme(principal: &Principal, _: &http::request::Parts) -> Result<(), AuthError> {
    if principal.subject().starts_with("acme/") {
        Ok(())
    } else {
        Err(AuthError::forbidden("this tenant may not see acme data"))
    }
}

#[tokio::test]
async fn scopes_apply_per_route_in_nested_and_merged_routers() {
    let (auth, keys) = layer();
    let admin = Router::new()
        .route("/orders/{id}", get(who).delete(who))
        .route_layer(RequireScopes::all(["orders:write"]));
    let reports = Router::new()
        .route("/reports", get(who))
        .route_layer(RequireScopes::any(["orders:read", "reports:read"]));
    let router = Router::new()
        .nest("/admin", admin)
        .merge(reports)
        .route("/public", get(who))
        .layer(auth);
    let base = serve(router).await;

    let response = call(&base, Method::DELETE, "/admin/orders/7", Some(&keys.reader)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&response),
        r#"ApiKey realm="shop", error="insufficient_scope", error_description="the credential lacks a required scope", scope="orders:write""#
    );
    let response = call(&base, Method::DELETE, "/admin/orders/7", Some(&keys.writer)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "acct_writer");

    assert_eq!(
        call(&base, Method::GET, "/reports", Some(&keys.reader))
            .await
            .status(),
        StatusCode::OK
    );
    let response = call(&base, Method::GET, "/reports", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&response), r#"ApiKey realm="shop""#);
    assert_eq!(
        call(&base, Method::GET, "/public", None)
            .await
            .text()
            .await
            .unwrap(),
        "anonymous"
    );
}

#[tokio::test]
async fn method_rules_pick_the_scope_by_http_method() {
    let (auth, keys) = layer();
    let rules = ByMethod::new()
        .on(Method::GET, RequireScopes::all(["orders:read"]))
        .on(Method::POST, RequireScopes::all(["orders:write"]));
    let router = Router::new()
        .route("/orders", get(who).post(who).put(who))
        .route_layer(AuthorizeLayer::new(rules))
        .layer(auth);
    let base = serve(router).await;

    assert_eq!(
        call(&base, Method::GET, "/orders", Some(&keys.reader))
            .await
            .status(),
        StatusCode::OK
    );
    let response = call(&base, Method::POST, "/orders", Some(&keys.reader)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(challenge(&response).contains(r#"scope="orders:write""#));
    assert_eq!(
        call(&base, Method::POST, "/orders", Some(&keys.writer))
            .await
            .status(),
        StatusCode::OK
    );
    let response = call(&base, Method::PUT, "/orders", Some(&keys.writer)).await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "unlisted methods are denied"
    );
    assert_eq!(
        challenge(&response),
        "",
        "a policy denial carries no challenge"
    );
}

#[tokio::test]
async fn combinators_compose_scopes_and_policies() {
    let (auth, keys) = layer();
    let acme_readers = all((RequireScopes::all(["orders:read"]), tenant_acme));
    let writers_or_acme = any((RequireScopes::all(["orders:write"]), tenant_acme));
    let not_acme = not(tenant_acme, "acme accounts use the acme endpoint");
    // `route_layer` covers the routes added before it: one router per rule.
    let guarded = |path: &str, rule| Router::new().route(path, get(who)).route_layer(rule);
    let router = Router::new()
        .merge(guarded(
            "/acme",
            AuthorizeLayer::new(Box::new(acme_readers) as Box<dyn Authorizer>),
        ))
        .merge(guarded(
            "/either",
            AuthorizeLayer::new(Box::new(writers_or_acme)),
        ))
        .merge(guarded("/others", AuthorizeLayer::new(Box::new(not_acme))))
        .layer(auth);
    let base = serve(router).await;

    let cases = [
        ("/acme", &keys.acme, StatusCode::OK),
        ("/acme", &keys.reader, StatusCode::FORBIDDEN),
        ("/either", &keys.writer, StatusCode::OK),
        ("/either", &keys.acme, StatusCode::OK),
        ("/either", &keys.reader, StatusCode::FORBIDDEN),
        ("/others", &keys.reader, StatusCode::OK),
    ];
    for (path, key, expected) in cases {
        let status = call(&base, Method::GET, path, Some(key)).await.status();
        assert_eq!(status, expected, "{path}");
    }
    let response = call(&base, Method::GET, "/others", Some(&keys.acme)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("acme accounts use the acme endpoint"));
}

#[tokio::test]
async fn hierarchical_matching_is_off_by_default_and_on_when_asked() {
    let (auth, keys) = layer();
    let router = Router::new()
        .merge(
            Router::new()
                .route("/exact", get(who))
                .route_layer(RequireScopes::all(["orders:write"])),
        )
        .merge(
            Router::new()
                .route("/tree", get(who))
                .route_layer(RequireScopes::all(["orders:write"]).hierarchical()),
        )
        .layer(auth);
    let base = serve(router).await;
    assert_eq!(
        call(&base, Method::GET, "/exact", Some(&keys.wildcard))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&base, Method::GET, "/tree", Some(&keys.wildcard))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        call(&base, Method::GET, "/tree", Some(&keys.reader))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

/// In process (current-thread runtime) so the thread-local subscriber sees
/// every event.
#[tokio::test]
async fn a_custom_policy_reason_shows_in_the_response_and_the_event() {
    use tower::{service_fn, ServiceBuilder, ServiceExt};

    let (capture, _guard) = support::capture_logs(tracing::Level::INFO);

    let (auth, keys) = layer();
    let service = ServiceBuilder::new()
        .layer(auth)
        .layer(AuthorizeLayer::new(tenant_acme))
        .service(service_fn(support::echo));
    let request = http::Request::get("/")
        .header("x-api-key", &keys.reader)
        .body(http_body_util::Full::default())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 403);
    let body = support::body_text(response.into_body()).await;
    assert!(body.contains("this tenant may not see acme data"), "{body}");

    let log = capture.text();
    let event = log.lines().find(|l| l.contains("forbidden")).unwrap();
    assert!(
        event.contains("this tenant may not see acme data"),
        "{event}"
    );
    assert!(event.contains("subject=\"acct_reader\""), "{event}");
}

#[tokio::test]
async fn an_authorization_layer_without_authentication_is_401_and_logged_once() {
    use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

    let (capture, _guard) = support::capture_logs(tracing::Level::INFO);

    let mut service = ServiceBuilder::new()
        .layer(RequireScopes::all(["admin"]))
        .service(service_fn(support::echo));
    for _ in 0..3 {
        let request = http::Request::get("/")
            .body(http_body_util::Full::default())
            .unwrap();
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        assert_eq!(response.status(), 401);
    }
    let log = capture.text();
    let errors = log
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("no AuthLayer"))
        .count();
    assert_eq!(errors, 1, "{log}");
}

#[tokio::test]
async fn a_derived_layer_inside_its_parent_authorizes_without_verifying_again() {
    use tower::{service_fn, ServiceBuilder, ServiceExt};

    let (capture, _guard) = support::capture_logs(tracing::Level::DEBUG);
    let (auth, keys) = layer();
    let service = ServiceBuilder::new()
        .layer(auth.clone())
        .layer(auth.require_scopes(["orders:write"]))
        .service(service_fn(support::echo));
    let request = |key: &str| {
        http::Request::get("/orders")
            .header("x-api-key", key)
            .body(http_body_util::Full::default())
            .unwrap()
    };
    let response = service
        .clone()
        .oneshot(request(&keys.writer))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = service.oneshot(request(&keys.reader)).await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains(r#"scope="orders:write""#));

    let log = capture.text();
    let granted = log
        .lines()
        // Decision events, not the audit records (target `authgate::audit`).
        .filter(|l| l.contains(" authgate: ") && l.contains("outcome=\"granted\""))
        .count();
    assert_eq!(granted, 2, "one verification per request, not two:\n{log}");
}

/// The principal a layer grants carries that layer privately: it compares
/// and serializes exactly like the same identity built by hand.
#[tokio::test]
async fn the_granted_principal_is_only_the_identity() {
    use tower::{service_fn, Layer, ServiceExt};

    let (auth, keys) = layer();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let inner = {
        let seen = seen.clone();
        service_fn(move |request: http::Request<String>| {
            let seen = seen.clone();
            async move {
                *seen.lock().unwrap() = request.extensions().get::<Principal>().cloned();
                Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
            }
        })
    };
    let request = http::Request::get("/orders")
        .header("x-api-key", &keys.reader)
        .body(String::new())
        .unwrap();
    let response = auth.layer(inner).oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let granted = seen.lock().unwrap().take().unwrap();
    let by_hand = Principal::new(granted.subject(), granted.scheme())
        .with_scopes(granted.scopes().clone())
        .with_credential_id(granted.credential_id().unwrap());
    assert!(granted == by_hand);
    assert_eq!(
        serde_json::to_value(&granted).unwrap(),
        serde_json::to_value(&by_hand).unwrap()
    );
    assert_eq!(format!("{granted:?}"), format!("{by_hand:?}"));
}

/// An anonymous pass by an outer layer, then a grant by an inner one over
/// other schemes: the grant is the latest decision, so an authorization
/// layer further in answers with the inner layer's challenges.
#[tokio::test]
async fn a_grant_inside_an_anonymous_pass_is_the_latest_decision() {
    use tower::{service_fn, ServiceBuilder, ServiceExt};

    let outer_kit = TestApiKeys::new("sk_live").unwrap();
    let outer = AuthLayer::builder()
        .scheme(outer_kit.scheme())
        .realm("outer")
        .anonymous_path("/orders")
        .build()
        .unwrap();
    let inner_kit = TestApiKeys::new("sk_test").unwrap();
    let key = inner_kit.issue("acct_inner", "orders:read");
    let scheme = authgate::api_key::ApiKeyScheme::builder(inner_kit.store())
        .prefix("sk_test")
        .header("x-inner-key")
        .build()
        .unwrap();
    let inner = AuthLayer::builder()
        .scheme(scheme)
        .realm("inner")
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(outer)
        .layer(inner)
        .layer(AuthorizeLayer::new(RequireScopes::all(["orders:write"])))
        .service(service_fn(|_: http::Request<String>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        }));
    let request = http::Request::get("/orders")
        .header("x-inner-key", &key)
        .body(String::new())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 403);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(challenge.contains("realm=\"inner\""), "{challenge}");
}
