//! DPoP (RFC 9449) for introspected tokens: an active answer whose `cnf`
//! carries `jkt` binds the opaque token exactly as `cnf.jkt` binds a JWT.
//! A real introspection endpoint and the API run on 127.0.0.1 (axum), the
//! client is reqwest; proofs are made in the test with ring
//! (tests/support/dpop.rs), never by the code under test.
#![cfg(feature = "introspection")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/introspection.rs"]
mod endpoint;
#[path = "support/dpop.rs"]
mod proofs;
#[path = "support/jwt.rs"]
mod support;

use std::time::Duration;

use authgate::dpop::{Dpop, DpopMode};
use authgate::introspection::{jwt_or_opaque, IntrospectionScheme};
use authgate::jwt::{Issuer, JwtKey, JwtScheme};
use authgate::{AuthLayer, Principal};
use axum::routing::get;
use axum::Router;
use endpoint::{auth_server, AuthServer};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proofs::ProofKey;
use serde_json::{json, Value};
use support::{now_unix, Signer};

const SECRET: [u8; 32] = [9u8; 32];
const JWT_ISS: &str = "https://jwt.test";

fn active(jkt: Option<&str>) -> Value {
    let mut answer = json!({
        "active": true, "sub": "alice", "client_id": "app-1", "scope": "orders:read",
        "aud": "api", "exp": now_unix() + 3600, "iat": now_unix() - 5,
        "token_type": "DPoP",
    });
    if let Some(jkt) = jkt {
        answer["cnf"] = json!({ "jkt": jkt });
    }
    answer
}

fn introspection(server: &AuthServer, dpop: Option<Dpop>) -> IntrospectionScheme {
    let builder = IntrospectionScheme::builder()
        .endpoint(server.endpoint())
        .client("resource-server", "secret")
        .audience("api")
        .timeout(Duration::from_millis(500));
    match dpop {
        Some(dpop) => builder.dpop(dpop),
        None => builder,
    }
    .build()
    .unwrap()
}

/// The API: `GET /me` answers the subject.
struct Api {
    base: String,
}

impl Api {
    async fn start(layer: AuthLayer) -> Self {
        let (listener, base) = Self::bind().await;
        Self::serve(listener, base, layer)
    }

    /// The listening origin, known before the layer is built.
    async fn bind() -> (tokio::net::TcpListener, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        (listener, base)
    }

    fn serve(listener: tokio::net::TcpListener, base: String, layer: AuthLayer) -> Self {
        let app = Router::new()
            .route(
                "/me",
                get(|p: Principal| async move { p.subject().to_owned() }),
            )
            .layer(layer);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base }
    }

    fn url(&self) -> String {
        format!("{}/me", self.base)
    }

    async fn get(&self, authorization: Option<String>, proofs: &[&str]) -> Answer {
        let mut request = reqwest::Client::new().get(self.url());
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        for proof in proofs {
            request = request.header("dpop", *proof);
        }
        Answer::read(request.send().await.unwrap()).await
    }

    async fn dpop(&self, token: &str, proof: &str) -> Answer {
        self.get(Some(format!("DPoP {token}")), &[proof]).await
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    challenges: Vec<String>,
    nonce: Option<String>,
    body: String,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let challenges = headers
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let nonce = headers
            .get("dpop-nonce")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        Self {
            status,
            challenges,
            nonce,
            body,
        }
    }

    fn ok(&self) {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(self.body, "alice");
    }

    /// A 401 whose challenge on `scheme` carries `error`.
    fn refused(&self, scheme: &str, error: &str) {
        assert_eq!(self.status, 401, "{self:?}");
        let wanted = format!(r#"error="{error}""#);
        assert!(
            self.challenges
                .iter()
                .any(|c| c.starts_with(&format!("{scheme} ")) && c.contains(&wanted)),
            "{scheme} {error}: {self:?}"
        );
    }
}

#[tokio::test]
async fn a_bound_introspected_token_needs_a_proof_for_its_key_every_time() {
    let server = auth_server().await;
    let key = ProofKey::es256();
    server.token("opaque-bound", active(Some(&key.thumbprint())));
    let (listener, base) = Api::bind().await;
    let dpop = Dpop::new(DpopMode::Allowed).public_origin(base.as_str());
    let layer = AuthLayer::builder()
        .scheme(introspection(&server, Some(dpop)))
        .build()
        .unwrap();
    let api = Api::serve(listener, base, layer);
    let token = "opaque-bound";
    let url = api.url();

    // A valid proof: 200 (the first request introspects, pending).
    let proof = key.proof("GET", &url, now_unix(), token);
    api.dpop(token, &proof).await.ok();
    assert_eq!(server.calls(), 1);

    // The same proof again: a replay.
    let again = api.dpop(token, &proof).await;
    again.refused("DPoP", "invalid_dpop_proof");
    assert!(again.body.contains("already used"), "{again:?}");

    // As Bearer: no downgrade, with or without a proof alongside.
    let bearer = api.get(Some(format!("Bearer {token}")), &[]).await;
    bearer.refused("Bearer", "invalid_token");
    let fresh = key.proof("GET", &url, now_unix(), token);
    api.get(Some(format!("Bearer {token}")), &[&fresh])
        .await
        .refused("Bearer", "invalid_token");

    // The answer is cached now: it still demands a proof.
    api.get(Some(format!("DPoP {token}")), &[])
        .await
        .refused("DPoP", "invalid_dpop_proof");

    // A proof signed by another key (its own jwk): not the token's key.
    let stranger = ProofKey::es256();
    api.dpop(token, &stranger.proof("GET", &url, now_unix(), token))
        .await
        .refused("DPoP", "invalid_token");

    // The token's jwk, but a signature by another key.
    let mut forged = key.proof("GET", &url, now_unix(), token);
    let input = forged.rsplit_once('.').unwrap().0.to_owned();
    forged = format!("{input}.{}", proofs::b64(stranger.sign(input.as_bytes())));
    api.dpop(token, &forged)
        .await
        .refused("DPoP", "invalid_dpop_proof");

    // A proof for another token, and one for another URI.
    api.dpop(token, &key.proof("GET", &url, now_unix(), "opaque-other"))
        .await
        .refused("DPoP", "invalid_dpop_proof");
    let elsewhere = format!("{}/other", api.base);
    api.dpop(token, &key.proof("GET", &elsewhere, now_unix(), token))
        .await
        .refused("DPoP", "invalid_dpop_proof");

    // A stale proof.
    api.dpop(token, &key.proof("GET", &url, now_unix() - 600, token))
        .await
        .refused("DPoP", "invalid_dpop_proof");

    // A fresh valid proof passes, from the cached answer.
    api.dpop(token, &key.proof("GET", &url, now_unix(), token))
        .await
        .ok();
    assert_eq!(
        server.calls(),
        1,
        "every later request used the cached answer"
    );
}

#[tokio::test]
async fn a_bound_introspected_token_is_refused_as_bearer_even_without_dpop() {
    // Regression: without DPoP settings, an answer with `cnf.jkt` used to
    // grant the token as a bearer one.
    let server = auth_server().await;
    server.token(
        "opaque-bound",
        active(Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")),
    );
    server.token("opaque-plain", active(None));
    let layer = AuthLayer::builder()
        .scheme(introspection(&server, None))
        .build()
        .unwrap();
    let api = Api::start(layer).await;
    api.get(Some("Bearer opaque-bound".to_owned()), &[])
        .await
        .refused("Bearer", "invalid_token");
    api.get(Some("Bearer opaque-plain".to_owned()), &[])
        .await
        .ok();
    // DPoP off: `Authorization: DPoP` is not even a credential here.
    let answer = api.get(Some("DPoP opaque-plain".to_owned()), &[]).await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.challenges, ["Bearer"], "{answer:?}");
}

#[tokio::test]
async fn modes_decide_between_bearer_and_dpop_for_introspected_tokens() {
    let server = auth_server().await;
    let key = ProofKey::es256();
    server.token("opaque-plain", active(None));
    server.token("opaque-bound", active(Some(&key.thumbprint())));

    // Allowed: an unbound token as Bearer; a challenge naming both.
    let (listener, base) = Api::bind().await;
    let dpop = Dpop::new(DpopMode::Allowed).public_origin(base.as_str());
    let layer = AuthLayer::builder()
        .scheme(introspection(&server, Some(dpop)))
        .build()
        .unwrap();
    let api = Api::serve(listener, base, layer);
    api.get(Some("Bearer opaque-plain".to_owned()), &[])
        .await
        .ok();
    let none = api.get(None, &[]).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.challenges[0], "Bearer", "{none:?}");
    assert!(none.challenges[1].starts_with("DPoP algs="), "{none:?}");
    // An unbound token as DPoP, even with a good proof: not bound.
    let proof = key.proof("GET", &api.url(), now_unix(), "opaque-plain");
    let unbound = api.dpop("opaque-plain", &proof).await;
    unbound.refused("DPoP", "invalid_token");
    assert!(unbound.body.contains("not bound"), "{unbound:?}");

    // Required: Bearer is refused, the challenge is DPoP's alone.
    let (listener, base) = Api::bind().await;
    let dpop = Dpop::new(DpopMode::Required).public_origin(base.as_str());
    let layer = AuthLayer::builder()
        .scheme(introspection(&server, Some(dpop)))
        .build()
        .unwrap();
    let api = Api::serve(listener, base, layer);
    let bearer = api.get(Some("Bearer opaque-plain".to_owned()), &[]).await;
    assert_eq!(bearer.status, 401, "{bearer:?}");
    assert!(bearer.challenges[0].starts_with("DPoP algs="), "{bearer:?}");
    let proof = key.proof("GET", &api.url(), now_unix(), "opaque-bound");
    api.dpop("opaque-bound", &proof).await.ok();
}

#[tokio::test]
async fn introspected_tokens_get_server_nonces() {
    let server = auth_server().await;
    let key = ProofKey::es256();
    server.token("opaque-bound", active(Some(&key.thumbprint())));
    let (listener, base) = Api::bind().await;
    let dpop = Dpop::new(DpopMode::Required)
        .public_origin(base.as_str())
        .nonce_secret(&[42u8; 32]);
    let layer = AuthLayer::builder()
        .scheme(introspection(&server, Some(dpop)))
        .build()
        .unwrap();
    let api = Api::serve(listener, base, layer);
    let token = "opaque-bound";
    let first = api
        .dpop(token, &key.proof("GET", &api.url(), now_unix(), token))
        .await;
    first.refused("DPoP", "use_dpop_nonce");
    let nonce = first.nonce.clone().expect("a DPoP-Nonce header");
    let mut claims = key.claims("GET", &api.url(), now_unix(), token);
    claims["nonce"] = json!(nonce);
    let answer = api
        .dpop(token, &key.proof_with(&key.header(), &claims))
        .await;
    answer.ok();
    assert!(answer.nonce.is_some(), "the next nonce on a success");
}

fn jwt(jkt: &str) -> String {
    authgate::jwt::install_default();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": JWT_ISS, "aud": "api", "sub": "alice", "exp": now_unix() + 3600,
                "cnf": {"jkt": jkt}}),
        &EncodingKey::from_secret(&SECRET),
    )
    .unwrap()
}

#[tokio::test]
async fn jwt_and_opaque_on_one_router_both_bind_and_hand_out_nonces() {
    // Regression: the router did not pass its schemes' response headers
    // on, so a granted DPoP request through `jwt_or_opaque` got no next
    // nonce.
    let server = auth_server().await;
    let key = ProofKey::es256();
    server.token("opaque-bound", active(Some(&key.thumbprint())));
    let (listener, base) = Api::bind().await;
    let dpop = || {
        Dpop::new(DpopMode::Allowed)
            .public_origin(base.as_str())
            .nonce_secret(&[42u8; 32])
    };
    let jwt_scheme = JwtScheme::builder()
        .issuer(
            Issuer::new(JWT_ISS)
                .audience("api")
                .key(JwtKey::shared_secret(&SECRET).unwrap()),
        )
        .dpop(dpop())
        .build()
        .unwrap();
    let opaque = introspection(&server, Some(dpop()));
    let layer = AuthLayer::builder()
        .scheme(jwt_or_opaque(jwt_scheme, opaque).unwrap())
        .build()
        .unwrap();
    let api = Api::serve(listener, base.clone(), layer);
    let url = api.url();
    let bound_jwt = jwt(&key.thumbprint());
    for token in [bound_jwt.as_str(), "opaque-bound"] {
        let first = api
            .dpop(token, &key.proof("GET", &url, now_unix(), token))
            .await;
        first.refused("DPoP", "use_dpop_nonce");
        let mut nonce = first.nonce.clone().expect("a DPoP-Nonce header");
        for _ in 0..2 {
            let mut claims = key.claims("GET", &url, now_unix(), token);
            claims["nonce"] = json!(nonce);
            let answer = api
                .dpop(token, &key.proof_with(&key.header(), &claims))
                .await;
            answer.ok();
            nonce = answer.nonce.clone().expect("the next nonce on a success");
        }
        api.get(Some(format!("Bearer {token}")), &[])
            .await
            .refused("Bearer", "invalid_token");
    }
}
