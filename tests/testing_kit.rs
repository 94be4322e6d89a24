//! The `testing` kit, used as a service's test suite would: the mock
//! issuer against the real JWT scheme over HTTP (every algorithm, rotation,
//! outages, fetch counts), API keys in every state, webhook signatures
//! against the real webhook schemes, client certificates against the real
//! mTLS scheme, and the principal shortcut on a real axum router.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::convert::Infallible;
use std::time::Duration;

use authgate::hmac::{GithubWebhook, SlackWebhook, StripeWebhook, WebhookSecrets};
use authgate::jwt::{JwksSettings, JwtScheme};
use authgate::request_body::Buffered;
use authgate::testing::{
    insert_principal_for_tests_only, test_principal, MockIssuer, Outage, TestAlgorithm,
    TestApiKeys, TestOnlyPrincipalLayer, TestPki, WebhookSigner,
};
use authgate::{AuthLayer, Principal, RequireScopes};
use axum::routing::get;
use axum::Router;
use tower::{service_fn, ServiceBuilder, ServiceExt};

async fn status_with(layer: &AuthLayer, header: Option<(&str, String)>) -> u16 {
    let service = ServiceBuilder::new()
        .layer(layer.clone())
        .service(service_fn(|_: http::Request<()>| async {
            Ok::<_, Infallible>(http::Response::new(()))
        }));
    let mut request = http::Request::get("/orders");
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let response = service.oneshot(request.body(()).unwrap()).await.unwrap();
    response.status().as_u16()
}

async fn bearer(layer: &AuthLayer, token: &str) -> u16 {
    status_with(layer, Some(("authorization", format!("Bearer {token}")))).await
}

fn settings() -> JwksSettings {
    JwksSettings::default()
        .fetch_timeout(Duration::from_millis(300))
        .unknown_kid_cooldown(Duration::ZERO)
        .failure_backoff(Duration::from_millis(10))
}

fn jwt_layer(issuer: authgate::jwt::Issuer) -> AuthLayer {
    let scheme = JwtScheme::builder()
        .issuer(issuer)
        .jwks_settings(settings())
        .token_cache_capacity(0)
        .build()
        .unwrap();
    AuthLayer::builder().scheme(scheme).build().unwrap()
}

#[tokio::test]
async fn the_mock_issuer_serves_discovery_and_jwks_for_every_algorithm() {
    let issuer = MockIssuer::start().await.unwrap();
    let layer = jwt_layer(issuer.discovery_issuer());
    for alg in [
        TestAlgorithm::RS256,
        TestAlgorithm::ES256,
        TestAlgorithm::EdDSA,
    ] {
        let token = issuer.token().subject("alice").algorithm(alg).mint();
        assert_eq!(bearer(&layer, &token).await, 200, "{alg:?}");
    }
    assert_eq!(issuer.discovery_fetches(), 1);
    assert_eq!(issuer.jwks_fetches(), 1);

    // HS256 has no JWKS: the static issuer carries the shared secret.
    let hs = jwt_layer(issuer.static_issuer().unwrap());
    let token = issuer.token().algorithm(TestAlgorithm::HS256).mint();
    assert_eq!(bearer(&hs, &token).await, 200);
    assert_eq!(bearer(&layer, &token).await, 401);

    // Claims, lifetimes and kids are the tests' to choose.
    assert_eq!(bearer(&layer, &issuer.token().expired().mint()).await, 401);
    let other_audience = issuer.token().audience("api://other").mint();
    assert_eq!(bearer(&layer, &other_audience).await, 401);
    let no_exp = issuer.token().without("exp").mint();
    assert_eq!(bearer(&layer, &no_exp).await, 401);
    let unknown_kid = issuer.token().kid("nope").mint();
    assert_eq!(bearer(&layer, &unknown_kid).await, 401);
}

#[tokio::test]
async fn scopes_and_claims_reach_the_principal() {
    let issuer = MockIssuer::start().await.unwrap();
    let scheme = JwtScheme::builder()
        .issuer(issuer.jwks_issuer())
        .build()
        .unwrap();
    let auth = AuthLayer::builder().scheme(scheme).build().unwrap();
    let app: Router = Router::new()
        .route(
            "/me",
            get(|p: Principal| async move {
                format!(
                    "{} {} {}",
                    p.subject(),
                    p.scopes(),
                    p.claim("tenant").unwrap()
                )
            }),
        )
        .route_layer(RequireScopes::all(["orders:read"]))
        .layer(auth);
    let token = issuer
        .token()
        .subject("alice")
        .scopes("orders:read")
        .claim("tenant", "acme")
        .mint();
    let request = http::Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(&body[..], b"alice orders:read \"acme\"");

    let token = issuer.token().scopes("orders:write").mint();
    let request = http::Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(app.oneshot(request).await.unwrap().status(), 403);
}

#[tokio::test]
async fn rotation_and_retirement_are_seen_by_the_verifier() {
    let issuer = MockIssuer::start().await.unwrap();
    let layer = jwt_layer(issuer.jwks_issuer());
    let old = issuer.token().mint();
    assert_eq!(bearer(&layer, &old).await, 200);
    let kid = issuer.rotate(TestAlgorithm::RS256).unwrap();
    assert_eq!(kid, "rsa-5");
    let new = issuer.token().mint();
    assert_eq!(bearer(&layer, &new).await, 200, "unknown kid refetches");
    assert_eq!(issuer.jwks_fetches(), 2);
    assert!(issuer.retire("rsa-1"));
    // A token with another unknown kid refreshes the set: rsa-1 is gone.
    let ec = issuer.rotate(TestAlgorithm::ES256).unwrap();
    let ec_token = issuer.token().algorithm(TestAlgorithm::ES256).mint();
    assert_eq!(bearer(&layer, &ec_token).await, 200, "{ec}");
    assert_eq!(bearer(&layer, &old).await, 401);
    assert_eq!(bearer(&layer, &new).await, 200);
}

#[tokio::test]
async fn outages_are_503_and_counted() {
    for outage in [
        Outage::Status(500),
        Outage::Garbage,
        Outage::Hang,
        Outage::Oversized,
        Outage::Slow(Duration::from_secs(1)),
    ] {
        let issuer = MockIssuer::start().await.unwrap();
        let layer = jwt_layer(issuer.jwks_issuer());
        issuer.fail_with(outage);
        let token = issuer.token().mint();
        assert_eq!(bearer(&layer, &token).await, 503, "{outage:?}");
        assert!(issuer.jwks_fetches() >= 1);
        issuer.recover();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(bearer(&layer, &token).await, 200, "{outage:?}");
    }
}

#[tokio::test]
async fn a_slow_issuer_answers_normally_after_its_delay() {
    let issuer = MockIssuer::start().await.unwrap();
    issuer.fail_with(Outage::Slow(Duration::from_millis(100)));
    let layer = jwt_layer(issuer.jwks_issuer());
    let started = std::time::Instant::now();
    assert_eq!(bearer(&layer, &issuer.token().mint()).await, 200);
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn the_jwks_can_be_replaced_and_given_a_cache_control() {
    use authgate::testing::TestSigningKey;
    let issuer = MockIssuer::start().await.unwrap();
    let layer = jwt_layer(issuer.jwks_issuer());
    let mine = TestSigningKey::generate(TestAlgorithm::EdDSA, "mine").unwrap();
    issuer.serve_jwks(vec![mine.jwk().unwrap().clone()]);
    issuer.jwks_cache_control(Some("public, max-age=1"));
    let claims = issuer.token().claims();
    assert_eq!(bearer(&layer, &mine.sign(&claims).unwrap()).await, 200);
    // The issuer's own keys are not served meanwhile.
    assert_eq!(bearer(&layer, &issuer.token().mint()).await, 401);

    let response = reqwest::get(issuer.jwks_url()).await.unwrap();
    assert_eq!(response.headers()["cache-control"], "public, max-age=1");
    let body: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["keys"][0]["kid"], "mine");

    issuer.serve_own_jwks();
    issuer.jwks_cache_control(None);
    let response = reqwest::get(issuer.jwks_url()).await.unwrap();
    assert!(response.headers().get("cache-control").is_none());
    let body: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["keys"][0]["kid"], "rsa-1");
}

#[tokio::test]
async fn api_keys_in_every_state() {
    let keys = TestApiKeys::new("sk_test").unwrap();
    let layer = AuthLayer::builder().scheme(keys.scheme()).build().unwrap();
    let key = |k: String| Some(("x-api-key", k));
    assert_eq!(
        status_with(&layer, key(keys.issue("alice", "read"))).await,
        200
    );
    for bad in [
        keys.issue_expired("bob", ""),
        keys.issue_revoked("carol", ""),
        keys.issue_wrong_secret("dave", ""),
        keys.unknown(),
    ] {
        assert_eq!(status_with(&layer, key(bad)).await, 401);
    }
}

#[tokio::test]
async fn webhook_signatures_pass_the_real_schemes() {
    let secret = "whsec_test_secret";
    let cases: [(AuthLayer<Buffered>, WebhookSigner); 3] = [
        (
            AuthLayer::builder()
                .scheme(GithubWebhook::new(WebhookSecrets::single(secret)))
                .with_request_bodies()
                .build()
                .unwrap(),
            WebhookSigner::github(secret),
        ),
        (
            AuthLayer::builder()
                .scheme(StripeWebhook::new(WebhookSecrets::single(secret)))
                .with_request_bodies()
                .build()
                .unwrap(),
            WebhookSigner::stripe(secret),
        ),
        (
            AuthLayer::builder()
                .scheme(SlackWebhook::new(WebhookSecrets::single(secret)))
                .with_request_bodies()
                .build()
                .unwrap(),
            WebhookSigner::slack(secret),
        ),
    ];
    for (layer, signer) in cases {
        let service = ServiceBuilder::new().layer(layer).service(service_fn(
            |_: http::Request<axum::body::Body>| async {
                Ok::<_, Infallible>(http::Response::new(axum::body::Body::empty()))
            },
        ));
        let body = br#"{"event":"ping"}"#.to_vec();
        let mut signed = http::Request::post("/hook").body(body.clone()).unwrap();
        signer.sign(&mut signed);
        let signed = signed.map(axum::body::Body::from);
        assert_eq!(service.clone().oneshot(signed).await.unwrap().status(), 200);

        let mut tampered = http::Request::post("/hook").body(body).unwrap();
        signer.sign(&mut tampered);
        let tampered = tampered.map(|_| axum::body::Body::from("{}"));
        assert_eq!(service.oneshot(tampered).await.unwrap().status(), 401);
    }
}

#[cfg(feature = "mtls")]
#[tokio::test]
async fn client_certificates_pass_the_real_mtls_scheme() {
    use authgate::mtls::ClientCertScheme;
    let pki = TestPki::new().unwrap();
    let scheme = ClientCertScheme::builder()
        .trust_domain("prod.example")
        .build()
        .unwrap();
    let layer = AuthLayer::builder().scheme(scheme).build().unwrap();
    let service =
        ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(|r: http::Request<()>| async move {
                let who = r
                    .extensions()
                    .get::<Principal>()
                    .unwrap()
                    .subject()
                    .to_owned();
                Ok::<_, Infallible>(http::Response::new(who))
            }));
    let id = "spiffe://prod.example/ns/payments/sa/api";
    let mut request = http::Request::get("/").body(()).unwrap();
    request
        .extensions_mut()
        .insert(pki.client_spiffe(id).unwrap().peer_certificates());
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], id.as_bytes());

    let mut other = http::Request::get("/").body(()).unwrap();
    other.extensions_mut().insert(
        pki.client_spiffe("spiffe://elsewhere/ns/x/sa/y")
            .unwrap()
            .peer_certificates(),
    );
    assert_eq!(service.oneshot(other).await.unwrap().status(), 401);
    assert!(pki.ca_pem().contains("BEGIN CERTIFICATE"));
    assert!(pki.server_key_pem().contains("PRIVATE KEY"));
}

#[tokio::test]
async fn the_principal_shortcut_reaches_handlers_and_route_rules() {
    async fn me(principal: Principal) -> String {
        format!("{} {}", principal.subject(), principal.scheme())
    }
    let app = |scopes: &str| {
        Router::new()
            .route("/me", get(me))
            .route_layer(RequireScopes::all(["orders:read"]))
            .layer(TestOnlyPrincipalLayer::new(test_principal("alice", scopes)))
    };
    let get_me = || {
        http::Request::get("/me")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let response = app("orders:read").oneshot(get_me()).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(&body[..], b"alice test-only");
    assert_eq!(app("other").oneshot(get_me()).await.unwrap().status(), 403);

    let mut request = get_me();
    insert_principal_for_tests_only(&mut request, test_principal("bob", ""));
    let plain: Router = Router::new().route("/me", get(me));
    let response = plain.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
}

/// Serves `app` on 127.0.0.1:0; returns its origin.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    origin
}

/// `GET {origin}/me` with this `Authorization`, through a real client:
/// the status and the body.
async fn get_me(origin: &str, authorization: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(format!("{origin}/me"))
        .header("authorization", authorization)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn who(principal: Principal) -> String {
    format!(
        "{} {} {}",
        principal.subject(),
        principal.scopes(),
        principal.scheme()
    )
}

#[cfg(feature = "introspection")]
async fn serve_introspected(scheme: authgate::introspection::IntrospectionScheme) -> String {
    let auth = AuthLayer::builder().scheme(scheme).build().unwrap();
    serve(Router::new().route("/me", get(who)).layer(auth)).await
}

#[cfg(feature = "introspection")]
#[tokio::test]
async fn opaque_tokens_are_introspected_end_to_end() {
    let issuer = MockIssuer::start().await.unwrap();
    let scheme = issuer
        .introspection_scheme()
        .timeout(Duration::from_millis(500))
        .negative_cache_ttl(Duration::ZERO)
        .build()
        .unwrap();
    let origin = serve_introspected(scheme.clone()).await;
    let bearer = |token: &str| format!("Bearer {token}");

    let active = issuer
        .token()
        .subject("alice")
        .scopes("orders:read")
        .mint_opaque();
    assert!(!active.contains('.'), "opaque, not a JWT");
    let (status, body) = get_me(&origin, &bearer(&active)).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "alice orders:read introspection")
    );
    assert_eq!(
        issuer.discovery_fetches(),
        1,
        "the endpoint comes from discovery"
    );
    assert_eq!(issuer.introspection_calls(), 1);

    let expired = issuer.token().expired().mint_opaque();
    let revoked = issuer.token().mint_opaque();
    assert!(issuer.revoke(&revoked));
    assert!(!issuer.revoke("never-minted"));
    let other_audience = issuer.token().audience("api://other").mint_opaque();
    for (token, why) in [
        ("never-minted", "inactive"),
        (expired.as_str(), "expired"),
        (revoked.as_str(), "revoked"),
        (other_audience.as_str(), "another audience"),
    ] {
        assert_eq!(get_me(&origin, &bearer(token)).await.0, 401, "{why}");
    }
    assert_eq!(issuer.introspection_calls(), 5);

    // The issuer failing is an outage (503), never a 401.
    for outage in [Outage::Status(500), Outage::Garbage, Outage::Hang] {
        issuer.fail_with(outage);
        let fresh = issuer.token().mint_opaque();
        assert_eq!(get_me(&origin, &bearer(&fresh)).await.0, 503, "{outage:?}");
        issuer.recover();
        assert_eq!(get_me(&origin, &bearer(&fresh)).await.0, 200, "{outage:?}");
    }
}

#[cfg(feature = "introspection")]
#[tokio::test]
async fn the_introspection_endpoint_authenticates_its_client() {
    use authgate::introspection::{ClientAuth, IntrospectionScheme};
    let issuer = MockIssuer::start().await.unwrap();
    let token = issuer.token().subject("alice").mint_opaque();

    // client_secret_post, with the endpoint configured instead of discovered.
    let post = IntrospectionScheme::builder()
        .endpoint(issuer.introspection_url())
        .client(issuer.client_id(), issuer.client_secret())
        .client_auth(ClientAuth::SecretPost)
        .build()
        .unwrap();
    let origin = serve_introspected(post).await;
    assert_eq!(get_me(&origin, &format!("Bearer {token}")).await.0, 200);

    // A wrong secret is refused by the endpoint: the service cannot
    // introspect, which is a 503, not the client's fault.
    let wrong = IntrospectionScheme::builder()
        .endpoint(issuer.introspection_url())
        .client(issuer.client_id(), "not-the-secret")
        .build()
        .unwrap();
    let origin = serve_introspected(wrong).await;
    assert_eq!(get_me(&origin, &format!("Bearer {token}")).await.0, 503);

    // And the endpoint itself answers 401 invalid_client.
    let response = reqwest::Client::new()
        .post(issuer.introspection_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.text().await.unwrap().contains("invalid_client"));
    assert_eq!(issuer.introspection_calls(), 3);
}

#[cfg(feature = "introspection")]
#[tokio::test]
async fn signed_introspection_answers_verify() {
    let issuer = MockIssuer::start().await.unwrap();
    let scheme = issuer
        .introspection_scheme()
        .signed_answers()
        .build()
        .unwrap();
    let origin = serve_introspected(scheme).await;
    let token = issuer.token().subject("alice").scopes("a b").mint_opaque();
    let (status, body) = get_me(&origin, &format!("Bearer {token}")).await;
    assert_eq!((status, body.as_str()), (200, "alice a b introspection"));
    assert_eq!(get_me(&origin, "Bearer never-minted").await.0, 401);
    assert_eq!(issuer.jwks_fetches(), 1, "the answer's key is in the JWKS");
}

#[tokio::test]
async fn dpop_bound_tokens_pass_with_kit_proofs_only() {
    use authgate::dpop::{Dpop, DpopMode};
    use authgate::testing::DpopProver;

    let issuer = MockIssuer::start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let scheme = JwtScheme::builder()
        .issuer(issuer.jwks_issuer())
        .dpop(Dpop::new(DpopMode::Required).public_origin(&origin))
        .build()
        .unwrap();
    let auth = AuthLayer::builder().scheme(scheme).build().unwrap();
    let app = Router::new().route("/me", get(who)).layer(auth);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let prover = DpopProver::es256().unwrap();
    let token = issuer
        .token()
        .subject("alice")
        .scopes("orders:read")
        .bound_to(&prover)
        .mint();
    let url = format!("{origin}/me");
    let send = |authorization: String, proof: Option<String>| {
        let mut request = reqwest::Client::new()
            .get(&url)
            .header("authorization", authorization);
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.send()
    };
    let proof = prover
        .proof(&http::Method::GET, &url, Some(&token))
        .unwrap();
    let response = send(format!("DPoP {token}"), Some(proof)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "alice orders:read jwt");

    // The same token as a bearer token, or with another key's proof: 401.
    let bearer = send(format!("Bearer {token}"), None).await.unwrap();
    assert_eq!(bearer.status(), 401);
    let thief = DpopProver::es256().unwrap();
    let stolen = thief.proof(&http::Method::GET, &url, Some(&token)).unwrap();
    let response = send(format!("DPoP {token}"), Some(stolen)).await.unwrap();
    assert_eq!(response.status(), 401);
}
