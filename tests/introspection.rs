//! Token introspection (RFC 7662, RFC 9701) against a real endpoint (axum
//! on 127.0.0.1:0) that counts its calls; JWT and opaque tokens on one
//! Bearer; the RFC 9068 profile; RFC 9728 metadata.
#![cfg(feature = "introspection")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/introspection.rs"]
mod endpoint;
#[path = "support/jwt.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use authgate::introspection::{jwt_or_opaque, ClientAuth, IntrospectionScheme};
use authgate::jwt::{InMemoryRevocation, Issuer, JwtKey, JwtScheme};
use authgate::metadata::ProtectedResource;
use authgate::{AuthLayer, Principal};
use base64::Engine as _;
use endpoint::{auth_server, AuthServer, Mode};
use serde_json::{json, Value};
use support::*;

const CLIENT: &str = "resource-server";
const SECRET: &str = "p@ss wörd:+/";

fn active(sub: &str, scope: &str) -> Value {
    json!({
        "active": true, "sub": sub, "client_id": "app-1", "username": "alice@example.com",
        "scope": scope, "aud": "api", "exp": now_unix() + 3600, "iat": now_unix() - 5,
        "jti": format!("jti-{sub}"), "token_type": "Bearer",
    })
}

fn builder(server: &AuthServer) -> authgate::introspection::IntrospectionSchemeBuilder {
    IntrospectionScheme::builder()
        .endpoint(server.endpoint())
        .client(CLIENT, SECRET)
        .audience("api")
        .timeout(Duration::from_millis(500))
}

fn layer(scheme: IntrospectionScheme) -> AuthLayer {
    AuthLayer::builder().scheme(scheme).build().unwrap()
}

/// Regression: an answer whose `cnf` carries `x5t#S256` (RFC 8705 §3.2) was
/// granted without the client certificate; like a certificate-bound JWT, it
/// needs a connection presenting that certificate, cached or not.
#[tokio::test]
async fn a_certificate_bound_answer_needs_its_certificate() {
    let server = auth_server().await;
    let mut answer = active("alice", "orders:read");
    answer["cnf"] = json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"});
    server.token("opaque-bound", answer);
    let layer = layer(builder(&server).build().unwrap());
    for _ in 0..2 {
        assert_eq!(call(&layer, "opaque-bound").await.status, 401);
    }
    assert_eq!(server.calls(), 1, "the second answer came from the cache");
}

/// Regression: a request that began after `clear_cache` joined an endpoint
/// call made before it and was granted from that call's answer, although
/// the authorization server had revoked the token in between; each token
/// is introspected again on its next use after `clear_cache`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_after_clear_cache_never_joins_a_call_made_before() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    // An endpoint that decides its answer when a call arrives and sends it
    // 400 ms later (a slow network, a busy server).
    let is_active = Arc::new(AtomicBool::new(true));
    let calls = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new().route(
        "/introspect",
        axum::routing::post({
            let (is_active, calls) = (Arc::clone(&is_active), Arc::clone(&calls));
            move || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let answer = if is_active.load(Ordering::SeqCst) {
                    active("alice", "")
                } else {
                    json!({"active": false})
                };
                tokio::time::sleep(Duration::from_millis(400)).await;
                axum::Json(answer)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let scheme = IntrospectionScheme::builder()
        .endpoint(format!("http://{addr}/introspect"))
        .client(CLIENT, SECRET)
        .audience("api")
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let layer = layer(scheme.clone());
    let first = tokio::spawn({
        let layer = layer.clone();
        async move { call(&layer, "opaque").await.status }
    });
    while calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The token is revoked at the authorization server, then here.
    is_active.store(false, Ordering::SeqCst);
    scheme.clear_cache();
    assert_eq!(call(&layer, "opaque").await.status, 401);
    assert_eq!(first.await.unwrap(), 200, "it began before clear_cache");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_active_token_is_granted_with_its_answer_and_then_cached() {
    let server = auth_server().await;
    server.token("opaque-1", active("alice", "orders:read"));
    let scheme = builder(&server).build().unwrap();
    let layer = layer(scheme.clone());
    for _ in 0..3 {
        let answer = call(&layer, "opaque-1").await;
        assert_eq!(answer.status, 200);
        let p: Principal = answer.principal.unwrap();
        assert_eq!(p.subject(), "alice");
        assert_eq!(p.scheme(), "introspection");
        assert!(p.scopes().contains("orders:read"));
        assert_eq!(p.claim("client_id"), Some(&json!("app-1")));
        assert_eq!(p.claim("username"), Some(&json!("alice@example.com")));
        // An answer with `cnf.jkt` binds the token to a DPoP key: it is
        // refused as Bearer (tests/dpop_introspection.rs).
        assert_eq!(p.claim("token_type"), Some(&json!("Bearer")));
    }
    assert_eq!(server.calls(), 1, "one call, then cache hits");
    assert_eq!(scheme.endpoint_calls(), 1);
    // Another token is another call; clearing the cache forgets both.
    server.token("opaque-2", active("bob", ""));
    assert_eq!(call(&layer, "opaque-2").await.status, 200);
    assert_eq!(server.calls(), 2);
    scheme.clear_cache();
    assert_eq!(call(&layer, "opaque-1").await.status, 200);
    assert_eq!(server.calls(), 3);
}

#[tokio::test]
async fn the_cache_never_outlives_exp_nor_its_ttl() {
    let server = auth_server().await;
    server.token("long-lived", active("bob", ""));
    let scheme = builder(&server)
        .leeway(Duration::ZERO)
        .cache_ttl(Duration::from_secs(1))
        .build()
        .unwrap();
    let layer = layer(scheme);
    assert_eq!(call(&layer, "long-lived").await.status, 200);
    assert_eq!(call(&layer, "long-lived").await.status, 200);
    assert_eq!(server.calls(), 1);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(call(&layer, "long-lived").await.status, 200);
    assert_eq!(server.calls(), 2, "the TTL ended");

    let mut soon = active("alice", "");
    soon["exp"] = json!(now_unix() + 3);
    server.token("short-lived", soon);
    let scheme = builder(&server).leeway(Duration::ZERO).build().unwrap();
    let layer2 = AuthLayer::builder().scheme(scheme).build().unwrap();
    assert_eq!(call(&layer2, "short-lived").await.status, 200);
    assert_eq!(call(&layer2, "short-lived").await.status, 200);
    let calls = server.calls();
    tokio::time::sleep(Duration::from_millis(3200)).await;
    // Past exp: the entry is gone (a new call), and the token is expired.
    let answer = call(&layer2, "short-lived").await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        server.calls(),
        calls + 1,
        "the entry ended at exp, not after 60 s"
    );
}

#[tokio::test]
async fn inactive_tokens_are_401_and_only_briefly_remembered() {
    let server = auth_server().await;
    let scheme = builder(&server)
        .negative_cache_ttl(Duration::from_millis(400))
        .build()
        .unwrap();
    let layer = layer(scheme);
    for _ in 0..3 {
        let answer = call(&layer, "revoked-or-unknown").await;
        assert_eq!(answer.status, 401);
        let challenge = answer.www_authenticate.unwrap();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
        assert!(challenge.contains("not active"), "{challenge}");
    }
    assert_eq!(server.calls(), 1, "the negative cache answered");
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Became active meanwhile (or was always): asked again.
    server.token("revoked-or-unknown", active("carol", ""));
    assert_eq!(call(&layer, "revoked-or-unknown").await.status, 200);
    assert_eq!(server.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_requests_for_one_token_make_one_call() {
    let server = auth_server().await;
    server.token("popular", active("alice", ""));
    server.delay(Duration::from_millis(300));
    let layer = layer(
        builder(&server)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let layer = layer.clone();
            tokio::spawn(async move { call(&layer, "popular").await.status })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn an_outage_is_503_never_401_and_recovers() {
    let server = auth_server().await;
    server.token("opaque", active("alice", ""));
    let layer = layer(builder(&server).build().unwrap());
    for code in [500, 502, 503, 401, 404] {
        server.set(Mode::Status(code));
        let answer = call(&layer, "opaque").await;
        assert_eq!(answer.status, 503, "endpoint answered {code}");
        let grpc = call_with(&layer, "opaque", true).await;
        assert_eq!(grpc.grpc_status.as_deref(), Some("14"));
    }
    server.set(Mode::Normal);
    assert_eq!(call(&layer, "opaque").await.status, 200, "recovered");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_503() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let scheme = IntrospectionScheme::builder()
        .endpoint(format!("http://{addr}/introspect"))
        .client(CLIENT, SECRET)
        .build()
        .unwrap();
    assert_eq!(call(&layer(scheme), "opaque").await.status, 503);
}

#[tokio::test]
async fn a_slow_endpoint_is_503_within_the_timeout() {
    let server = auth_server().await;
    server.token("opaque", active("alice", ""));
    server.delay(Duration::from_secs(5));
    let layer = layer(
        builder(&server)
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
    );
    let started = Instant::now();
    assert_eq!(call(&layer, "opaque").await.status, 503);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn oversized_malformed_and_redirected_answers_are_503() {
    let server = auth_server().await;
    server.token("opaque", active("alice", ""));
    let layer = layer(builder(&server).build().unwrap());
    for mode in [Mode::Oversized, Mode::Malformed, Mode::Redirect] {
        server.set(mode);
        assert_eq!(call(&layer, "opaque").await.status, 503);
    }
    server.set(Mode::Normal);
    server.token("broken", json!({"sub": "alice"}));
    assert_eq!(call(&layer, "broken").await.status, 503, "no active member");
    server.token(
        "broken2",
        json!({"active": true, "sub": "a", "aud": "api", "exp": "never"}),
    );
    assert_eq!(call(&layer, "broken2").await.status, 503);
}

#[tokio::test]
async fn client_secret_basic_form_urlencodes_the_credentials() {
    let server = auth_server().await;
    server.token("tok+en/=", active("alice", ""));
    let layer = layer(builder(&server).build().unwrap());
    assert_eq!(call(&layer, "tok+en/=").await.status, 200);
    let received = server.received();
    let r = &received[0];
    // RFC 6749 §2.3.1: id and secret form-urlencoded, then Basic.
    let expected = base64::engine::general_purpose::STANDARD
        .encode("resource-server:p%40ss+w%C3%B6rd%3A%2B%2F");
    assert_eq!(
        r.authorization.as_deref(),
        Some(&*format!("Basic {expected}"))
    );
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(r.accept.as_deref(), Some("application/json"));
    assert_eq!(r.body, "token=tok%2Ben%2F%3D&token_type_hint=access_token");
}

#[tokio::test]
async fn client_secret_post_sends_the_credentials_in_the_form() {
    let server = auth_server().await;
    server.token("opaque", active("alice", ""));
    let scheme = builder(&server)
        .client_auth(ClientAuth::SecretPost)
        .build()
        .unwrap();
    assert_eq!(call(&layer(scheme), "opaque").await.status, 200);
    let r = &server.received()[0];
    assert_eq!(r.authorization, None);
    assert_eq!(
        r.body,
        "token=opaque&token_type_hint=access_token&client_id=resource-server&client_secret=p%40ss+w%C3%B6rd%3A%2B%2F"
    );
    let debug = format!("{scheme:?}", scheme = builder(&server).build().unwrap());
    assert!(!debug.contains("wörd"), "{debug}");
}

#[tokio::test]
async fn active_tokens_must_still_fit_this_resource_server() {
    let server = auth_server().await;
    let scheme = builder(&server)
        .issuer(server.base())
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let layer = layer(scheme);
    let mut refresh = active("a", "");
    refresh["token_type"] = json!("refresh_token");
    let mut other_aud = active("a", "");
    other_aud["aud"] = json!(["other", "another"]);
    let mut other_iss = active("a", "");
    other_iss["iss"] = json!("https://someone-else.example");
    let mut expired = active("a", "");
    expired["exp"] = json!(now_unix() - 1);
    let mut early = active("a", "");
    early["nbf"] = json!(now_unix() + 600);
    let mut array_aud = active("a", "");
    array_aud["aud"] = json!(["other", "api"]);
    array_aud["iss"] = json!(server.base());
    for (token, answer, status) in [
        ("refresh", refresh, 401),
        ("other-aud", other_aud, 401),
        ("other-iss", other_iss, 401),
        ("expired", expired, 401),
        ("early", early, 401),
        ("array-aud", array_aud, 200),
    ] {
        server.token(token, answer);
        assert_eq!(call(&layer, token).await.status, status, "{token}");
    }
}

#[tokio::test]
async fn scopes_and_revocation_are_checked_on_every_cached_hit() {
    let server = auth_server().await;
    server.token("reader", active("alice", "orders:read"));
    let revocation = Arc::new(InMemoryRevocation::new());
    struct Shared(Arc<InMemoryRevocation>);
    impl authgate::jwt::Revocation for Shared {
        fn is_jti_revoked(&self, iss: &str, jti: &str) -> bool {
            self.0.is_jti_revoked(iss, jti)
        }
    }
    let scheme = builder(&server)
        .issuer(server.base())
        .revocation(Shared(Arc::clone(&revocation)))
        .build()
        .unwrap();
    let auth = AuthLayer::builder().scheme(scheme).build().unwrap();
    let admin = auth.require_scopes(["admin"]);
    for _ in 0..2 {
        assert_eq!(call(&auth, "reader").await.status, 200);
        let denied = call(&admin, "reader").await;
        assert_eq!(denied.status, 403);
        assert!(denied
            .www_authenticate
            .unwrap()
            .contains("insufficient_scope"));
    }
    assert_eq!(server.calls(), 1);
    revocation.revoke_jti(&server.base(), "jti-alice");
    assert_eq!(
        call(&auth, "reader").await.status,
        401,
        "revoked while cached"
    );
}

#[tokio::test]
async fn the_endpoint_can_come_from_discovery() {
    let server = auth_server().await;
    server.token("opaque", active("alice", ""));
    let scheme = IntrospectionScheme::builder()
        .issuer(server.base())
        .discover_endpoint()
        .client(CLIENT, SECRET)
        .build()
        .unwrap();
    assert_eq!(call(&layer(scheme), "opaque").await.status, 200);
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn rfc_9701_signed_answers_are_verified() {
    let server = auth_server().await;
    server.token("opaque", active("alice", "orders:read"));
    let signed = || {
        builder(&server)
            .issuer(server.base())
            .signed_answers()
            .cache_ttl(Duration::ZERO)
            .build()
            .unwrap()
    };
    server.set(Mode::Signed);
    let answer = call(&layer(signed()), "opaque").await;
    assert_eq!(answer.status, 200);
    assert!(answer.principal.unwrap().scopes().contains("orders:read"));
    let accept = server.received().last().unwrap().accept.clone();
    assert_eq!(
        accept.as_deref(),
        Some("application/token-introspection+jwt")
    );
    for mode in [
        Mode::SignedWrongAud,
        Mode::SignedWrongTyp,
        Mode::SignedBadSignature,
        // A plain answer when a signed one was asked for.
        Mode::Normal,
    ] {
        server.set(mode);
        assert_eq!(call(&layer(signed()), "opaque").await.status, 503);
    }
}

fn hs_jwt_scheme(secret: &[u8], strict: bool) -> JwtScheme {
    let mut b = JwtScheme::builder().issuer(
        Issuer::new("https://jwt-issuer.example")
            .audience("api")
            .key(JwtKey::shared_secret(secret).unwrap()),
    );
    if strict {
        b = b.rfc9068_strict();
    }
    b.build().unwrap()
}

fn hs_token(secret: &[u8], typ: Option<&str>, claims: Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn at_claims() -> Value {
    json!({
        "iss": "https://jwt-issuer.example", "aud": "api", "sub": "alice",
        "client_id": "app-1", "iat": now_unix() - 5, "exp": now_unix() + 600,
        "jti": "at-1", "scope": "orders:read",
    })
}

#[tokio::test]
async fn one_bearer_routes_jwts_and_opaque_tokens() {
    authgate::jwt::install_default();
    let secret = [9u8; 32];
    let server = auth_server().await;
    server.token("opaque", active("bob", ""));
    let introspection = builder(&server).build().unwrap();
    let bearer = jwt_or_opaque(hs_jwt_scheme(&secret, false), introspection).unwrap();
    let layer = AuthLayer::builder().scheme(bearer).build().unwrap();

    let jwt = hs_token(&secret, None, at_claims());
    let answer = call(&layer, &jwt).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.principal.unwrap().scheme(), "jwt");
    assert_eq!(
        server.calls(),
        0,
        "a trusted JWT never reaches the endpoint"
    );

    let answer = call(&layer, "opaque").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.principal.unwrap().scheme(), "introspection");
    assert_eq!(server.calls(), 1);

    // A JWS from an issuer the JWT scheme does not know: introspected.
    let mut foreign = at_claims();
    foreign["iss"] = json!("https://elsewhere.example");
    let foreign = hs_token(&secret, None, foreign);
    assert_eq!(call(&layer, &foreign).await.status, 401);
    assert_eq!(server.calls(), 2);

    // A trusted JWT with a bad signature is the JWT scheme's 401, final.
    let forged = hs_token(&[1u8; 32], None, at_claims());
    assert_eq!(call(&layer, &forged).await.status, 401);
    assert_eq!(server.calls(), 2);

    // The layer still rejects two schemes on one location without a router.
    let clash = AuthLayer::builder()
        .scheme(hs_jwt_scheme(&secret, false))
        .scheme(builder(&server).build().unwrap())
        .build();
    assert!(clash.is_err());
}

#[tokio::test]
async fn rfc_9068_strict_mode_and_maximum_lifetime() {
    authgate::jwt::install_default();
    let secret = [9u8; 32];
    let strict = AuthLayer::builder()
        .scheme(hs_jwt_scheme(&secret, true))
        .build()
        .unwrap();
    let good = hs_token(&secret, Some("at+jwt"), at_claims());
    assert_eq!(call(&strict, &good).await.status, 200);
    let full_type = hs_token(&secret, Some("application/at+jwt"), at_claims());
    assert_eq!(call(&strict, &full_type).await.status, 200);
    for typ in [None, Some("JWT")] {
        let t = hs_token(&secret, typ, at_claims());
        assert_eq!(call(&strict, &t).await.status, 401, "{typ:?}");
    }
    for missing in ["client_id", "iat", "jti"] {
        let mut c = at_claims();
        c.as_object_mut().unwrap().remove(missing);
        let t = hs_token(&secret, Some("at+jwt"), c);
        assert_eq!(call(&strict, &t).await.status, 401, "{missing}");
    }
    // Not strict: the same tokens pass.
    let lax = AuthLayer::builder()
        .scheme(hs_jwt_scheme(&secret, false))
        .build()
        .unwrap();
    let plain = hs_token(&secret, None, at_claims());
    assert_eq!(call(&lax, &plain).await.status, 200);

    // Maximum lifetime, without strict mode.
    let bounded = JwtScheme::builder()
        .issuer(
            Issuer::new("https://jwt-issuer.example")
                .audience("api")
                .key(JwtKey::shared_secret(&secret).unwrap()),
        )
        .max_token_lifetime(Duration::from_secs(3600))
        .build()
        .unwrap();
    let bounded = AuthLayer::builder().scheme(bounded).build().unwrap();
    assert_eq!(call(&bounded, &plain).await.status, 200);
    let mut long = at_claims();
    long["exp"] = json!(now_unix() + 7200);
    let long = hs_token(&secret, None, long);
    assert_eq!(call(&bounded, &long).await.status, 401);
}

#[tokio::test]
async fn rfc_9728_document_and_challenge_parameter() {
    let server = auth_server().await;
    server.token("reader", active("alice", "orders:read"));
    let metadata = ProtectedResource::new("https://api.example/v1")
        .unwrap()
        .authorization_server(server.base())
        .scopes_supported(["orders:read", "admin"])
        .resource_name("Orders");
    let auth = AuthLayer::builder()
        .scheme(builder(&server).build().unwrap())
        .realm("orders")
        .protected_resource(metadata)
        .build()
        .unwrap();
    let url = "https://api.example/.well-known/oauth-protected-resource/v1";

    // Served over real HTTP, with no credential.
    let app = axum::Router::new()
        .route("/admin", axum::routing::get(|| async { "admin" }))
        .route_layer(authgate::RequireScopes::all(["admin"]))
        .layer(auth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::new();
    let doc = client
        .get(format!(
            "http://{addr}/.well-known/oauth-protected-resource/v1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(doc.status(), 200);
    assert_eq!(doc.headers()["content-type"], "application/json");
    let doc: Value = serde_json::from_slice(&doc.bytes().await.unwrap()).unwrap();
    assert_eq!(doc["resource"], "https://api.example/v1");
    assert_eq!(doc["authorization_servers"], json!([server.base()]));
    assert_eq!(doc["scopes_supported"], json!(["orders:read", "admin"]));
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    assert_eq!(doc["resource_name"], "Orders");

    let missing = client
        .get(format!("http://{addr}/admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.headers()["www-authenticate"],
        format!(r#"Bearer realm="orders", resource_metadata="{url}""#).as_str()
    );
    let lacking = client
        .get(format!("http://{addr}/admin"))
        .bearer_auth("reader")
        .send()
        .await
        .unwrap();
    assert_eq!(lacking.status(), 403);
    let challenge = lacking.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert!(
        challenge.contains(&format!(r#"resource_metadata="{url}""#)),
        "{challenge}"
    );
}

#[test]
fn configuration_mistakes_are_build_errors() {
    let base = || IntrospectionScheme::builder().client(CLIENT, SECRET);
    assert!(IntrospectionScheme::builder()
        .endpoint("https://as/i")
        .build()
        .is_err());
    assert!(base().build().is_err(), "no endpoint");
    assert!(
        base().endpoint("http://as.example/i").build().is_err(),
        "plain http"
    );
    assert!(base().discover_endpoint().build().is_err(), "no issuer");
    assert!(base()
        .endpoint("https://as/i")
        .signed_answers()
        .build()
        .is_err());
    assert!(base()
        .endpoint("https://as/i")
        .timeout(Duration::ZERO)
        .build()
        .is_err());
    assert!(ProtectedResource::new("https://api.example/?q=1").is_err());
    assert!(ProtectedResource::new("not a url").is_err());
}

#[cfg(feature = "metrics")]
#[tokio::test]
async fn metrics_count_cache_hits_misses_and_endpoint_errors() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let server = auth_server().await;
    server.token("opaque", active("alice", ""));
    let layer =
        metrics::with_local_recorder(&recorder, || layer(builder(&server).build().unwrap()));
    assert_eq!(call(&layer, "opaque").await.status, 200); // miss, negative miss
    assert_eq!(call(&layer, "opaque").await.status, 200); // hit
    assert_eq!(call(&layer, "dead").await.status, 401); // miss, negative miss
    assert_eq!(call(&layer, "dead").await.status, 401); // miss, negative hit
    server.set(Mode::Status(500));
    assert_eq!(call(&layer, "other").await.status, 503); // miss, negative miss, error
    let mut counters = std::collections::BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        if let DebugValue::Counter(n) = value {
            let mut labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            counters.insert(format!("{}{{{}}}", key.key().name(), labels.join(",")), n);
        }
    }
    let counter = |name: &str| counters.get(name).copied().unwrap_or(0);
    assert_eq!(
        counter("authgate_cache_hits_total{cache=introspection}"),
        1,
        "{counters:?}"
    );
    assert_eq!(
        counter("authgate_cache_misses_total{cache=introspection}"),
        4
    );
    assert_eq!(
        counter("authgate_cache_hits_total{cache=introspection_negative}"),
        1
    );
    assert_eq!(
        counter("authgate_cache_misses_total{cache=introspection_negative}"),
        3
    );
    assert_eq!(
        counter("authgate_store_errors_total{error=error,store=introspection}"),
        1
    );
}

#[tokio::test]
async fn tracing_tells_endpoint_errors_from_inactive_tokens() {
    let server = auth_server().await;
    let layer = layer(builder(&server).build().unwrap());
    let (logs, _guard) = capture();
    assert_eq!(call(&layer, "dead").await.status, 401);
    server.set(Mode::Status(502));
    assert_eq!(call(&layer, "other").await.status, 503);
    let text = logs.text();
    assert!(text.contains("the token is not active"), "{text}");
    assert!(text.contains("introspection endpoint failed"), "{text}");
    assert!(text.contains("502"), "{text}");
    assert!(
        !text.contains("\"dead\"") && !text.contains(" dead "),
        "tokens never logged: {text}"
    );
}

/// Collects every event at `debug` and above as text.
fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
