//! DPoP (RFC 9449) through a real axum server on 127.0.0.1 and a real HTTP
//! client, one rule at a time. Proofs are made in the test with ring
//! (tests/support/dpop.rs), never by the code under test; access tokens
//! with jsonwebtoken.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/dpop.rs"]
mod support;

use std::time::Duration;

use authgate::clock::ManualClock;
use authgate::dpop::{jwk_thumbprint, normalize_htu, Dpop, DpopMode, DpopProver, DpopVerifier};
use authgate::jwt::{Issuer, JwtKey, JwtScheme};
use authgate::{
    AuthError, AuthLayer, Challenge, Credential, CredentialLocation, Principal, Scheme,
    Verification, VerifyContext,
};
use axum::{routing::any, Router};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use support::*;

const SECRET: [u8; 32] = [7u8; 32];
const ISS: &str = "https://login.test";
const LEGACY_ISS: &str = "https://legacy.test";
const AUD: &str = "api";
const NOW: u64 = 1_800_000_000;
const ALGS: &str = r#"DPoP algs="ES256 ES384 RS256 PS256 EdDSA Ed25519""#;

fn token_from(iss: &str, jkt: Option<&str>) -> String {
    authgate::jwt::install_default();
    let mut claims = json!({"iss": iss, "aud": AUD, "sub": "alice", "exp": NOW + 3600});
    if let Some(jkt) = jkt {
        claims["cnf"] = json!({ "jkt": jkt });
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&SECRET),
    )
    .unwrap()
}

fn token(jkt: Option<&str>) -> String {
    token_from(ISS, jkt)
}

struct Server {
    base: String,
    clock: ManualClock,
}

impl Server {
    /// `dpop` gets the origin the server listens on.
    async fn start(dpop: impl FnOnce(&str) -> Dpop) -> Self {
        Self::start_with(|origin, clock| {
            let issuer = |iss: &str| {
                Issuer::new(iss)
                    .audience(AUD)
                    .key(JwtKey::shared_secret(&SECRET).unwrap())
            };
            let scheme = JwtScheme::builder()
                .issuer(issuer(ISS))
                .issuer(issuer(LEGACY_ISS))
                .clock(clock.clone())
                .dpop(dpop(origin))
                .build()
                .unwrap();
            AuthLayer::builder().scheme(scheme).build().unwrap()
        })
        .await
    }

    async fn start_with(layer: impl FnOnce(&str, &ManualClock) -> AuthLayer) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let clock = ManualClock::at_unix(NOW);
        let auth = layer(&base, &clock);
        let app = Router::new()
            .route("/{*path}", any(echo))
            .route("/", any(echo))
            .layer(auth);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, clock }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, method: &str, path: &str, auth: Option<&str>, proofs: &[&str]) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = reqwest::Client::new().request(method, self.url(path));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        for proof in proofs {
            request = request.header("dpop", *proof);
        }
        Answer::read(request.send().await.unwrap()).await
    }

    /// `GET path` with `Authorization: DPoP token` and one proof.
    async fn get(&self, path: &str, token: &str, proof: &str) -> Answer {
        self.send("GET", path, Some(&format!("DPoP {token}")), &[proof])
            .await
    }
}

async fn echo(principal: Principal) -> String {
    principal.subject().to_owned()
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

    /// A 401 whose DPoP challenge carries `error`.
    fn dpop_error(&self, error: &str) {
        assert_eq!(self.status, 401, "{self:?}");
        let wanted = format!(r#"error="{error}""#);
        assert!(
            self.challenges
                .iter()
                .any(|c| c.starts_with("DPoP ") && c.contains(&wanted)),
            "{error}: {self:?}"
        );
    }

    fn invalid_proof(&self) {
        self.dpop_error("invalid_dpop_proof");
    }
}

fn allowed(origin: &str) -> Dpop {
    Dpop::new(DpopMode::Allowed).public_origin(origin)
}

#[test]
fn rfc9449_examples_thumbprint_and_ath() {
    // RFC 9449 §4.1 (the proof's jwk) and §6.1 (the token's cnf.jkt).
    let jwk = json!({"kty":"EC","crv":"P-256",
        "x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        "y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"});
    assert_eq!(
        jwk_thumbprint(&jwk).unwrap(),
        "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    );
    // RFC 9449 §7.1: the access token and the proof's ath.
    assert_eq!(
        sha256_b64(b"Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
    // The hand-written thumbprints of the test agree with the library's,
    // for every key type.
    for key in [
        ProofKey::es256(),
        ProofKey::es384(),
        ProofKey::ed25519("EdDSA"),
        ProofKey::rsa("RS256"),
    ] {
        assert_eq!(jwk_thumbprint(&key.jwk).unwrap(), key.thumbprint());
    }
}

#[tokio::test]
async fn a_valid_proof_passes_for_every_default_algorithm() {
    let server = Server::start(allowed).await;
    for key in [
        ProofKey::es256(),
        ProofKey::es384(),
        ProofKey::ed25519("EdDSA"),
        ProofKey::ed25519("Ed25519"),
        ProofKey::rsa("RS256"),
        ProofKey::rsa("PS256"),
    ] {
        let token = token(Some(&key.thumbprint()));
        let proof = key.proof("GET", &server.url("/me"), NOW, &token);
        server.get("/me", &token, &proof).await.ok();
        let proof = key.proof("POST", &server.url("/orders"), NOW, &token);
        let auth = format!("DPoP {token}");
        let answer = server.send("POST", "/orders", Some(&auth), &[&proof]).await;
        answer.ok();
        assert_eq!(answer.nonce, None, "no nonces configured");
    }
}

#[test]
fn htu_normalisation_table() {
    let n = |s: &str| normalize_htu(s);
    assert_eq!(n("HTTP://Example.COM:80/a"), n("http://example.com/a"));
    assert_eq!(n("https://example.com:443/a"), n("https://example.com/a"));
    assert_eq!(n("https://example.com/%7Ea"), n("https://example.com/~a"));
    assert_eq!(n("https://example.com/%2f"), n("https://example.com/%2F"));
    assert_eq!(n("https://example.com/a?q=1#f"), n("https://example.com/a"));
    assert_eq!(n("https://example.com"), n("https://example.com/"));
    assert_ne!(n("https://example.com/a/"), n("https://example.com/a"));
    assert_ne!(n("https://example.com:8443/a"), n("https://example.com/a"));
    assert_ne!(n("http://example.com/a"), n("https://example.com/a"));
    assert_ne!(n("https://example.com/A"), n("https://example.com/a"));
}

#[tokio::test]
async fn htu_is_compared_with_the_configured_origin_after_normalisation() {
    // The server is reached through a proxy at http://example.com.
    let server = Server::start(|_| allowed("http://Example.COM:80")).await;
    let key = ProofKey::es256();
    let token = token(Some(&key.thumbprint()));
    let accepted = [
        ("/a", "HTTP://Example.COM:80/a"),
        ("/a", "http://example.com/a"),
        ("/a", "http://example.com/%61"),
        ("/a", "http://example.com/a?x=1#frag"),
        ("/a/", "http://example.com/a/"),
        ("/a%2fb", "http://example.com/a%2Fb"),
        ("/a?q=1", "http://example.com/a"),
    ];
    for (path, htu) in accepted {
        let proof = key.proof("GET", htu, NOW, &token);
        server.get(path, &token, &proof).await.ok();
    }
    let refused = [
        ("/a", "http://example.com/a/"),
        ("/a/", "http://example.com/a"),
        ("/a", "https://example.com/a"),
        ("/a", "http://example.com:8080/a"),
        ("/a", "http://other.example/a"),
        ("/a", "/a"),
        // The address the server really listens on is not the origin.
        ("/a", &server.url("/a")),
    ];
    for (path, htu) in refused {
        let proof = key.proof("GET", htu, NOW, &token);
        server.get(path, &token, &proof).await.invalid_proof();
    }
    // A Host header naming the proof's origin changes nothing.
    let proof = key.proof("GET", "http://evil.example/a", NOW, &token);
    let response = reqwest::Client::new()
        .get(server.url("/a"))
        .header("host", "evil.example")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    Answer::read(response).await.invalid_proof();
}

#[tokio::test]
async fn htm_must_be_the_request_method() {
    let server = Server::start(allowed).await;
    let key = ProofKey::es256();
    let token = token(Some(&key.thumbprint()));
    let proof = key.proof("POST", &server.url("/me"), NOW, &token);
    server.get("/me", &token, &proof).await.invalid_proof();
    let proof = key.proof("get", &server.url("/me"), NOW, &token);
    server.get("/me", &token, &proof).await.invalid_proof();
}

#[tokio::test]
async fn a_replayed_proof_is_refused_within_and_after_the_window() {
    let server = Server::start(allowed).await;
    let key = ProofKey::es256();
    let token = token(Some(&key.thumbprint()));
    let proof = key.proof("GET", &server.url("/me"), NOW, &token);
    server.get("/me", &token, &proof).await.ok();
    let again = server.get("/me", &token, &proof).await;
    again.invalid_proof();
    assert!(again.body.contains("already used"), "{again:?}");
    // The same jti for another URI is another proof (§11.1: per htu).
    let mut claims = key.claims("GET", &server.url("/other"), NOW, &token);
    let first = key.claims("GET", &server.url("/me"), NOW, &token);
    claims["jti"] = first["jti"].clone();
    let me_again = key.proof_with(&key.header(), &first);
    server.get("/me", &token, &me_again).await.ok();
    server.get("/me", &token, &me_again).await.invalid_proof();
    let other = key.proof_with(&key.header(), &claims);
    server.get("/other", &token, &other).await.ok();
    // After the window (60 s + 60 s leeway) the proof is too old.
    server.clock.set_unix(NOW + 121);
    let late = server.get("/me", &token, &proof).await;
    late.invalid_proof();
    assert!(late.body.contains("too old"), "{late:?}");
}

#[tokio::test]
async fn iat_must_be_within_the_window_plus_leeway_to_the_second() {
    let server =
        Server::start(|origin| allowed(origin).proof_window(Duration::from_secs(30))).await;
    let key = ProofKey::es256();
    let token = token(Some(&key.thumbprint()));
    let url = server.url("/me");
    for (iat, passes) in [
        (NOW - 90, true),
        (NOW - 91, false),
        (NOW + 90, true),
        (NOW + 91, false),
    ] {
        let answer = server
            .get("/me", &token, &key.proof("GET", &url, iat, &token))
            .await;
        if passes {
            answer.ok();
        } else {
            answer.invalid_proof();
        }
    }
    let mut claims = key.claims("GET", &url, NOW, &token);
    claims.as_object_mut().unwrap().remove("iat");
    let proof = key.proof_with(&key.header(), &claims);
    server.get("/me", &token, &proof).await.invalid_proof();
}

#[tokio::test]
async fn nonces_round_trip_expire_and_work_across_instances() {
    let secret = [42u8; 32];
    let nonced = move |origin: &str| {
        allowed(origin)
            .nonce_secret(&secret)
            .nonce_lifetime(Duration::from_secs(120))
    };
    let server = Server::start(nonced).await;
    let key = ProofKey::es256();
    let token = token(Some(&key.thumbprint()));
    let url = server.url("/me");

    // No nonce: 401 use_dpop_nonce with a fresh one.
    let first = server
        .get("/me", &token, &key.proof("GET", &url, NOW, &token))
        .await;
    first.dpop_error("use_dpop_nonce");
    let nonce = first.nonce.clone().expect("a DPoP-Nonce header");
    assert!(first.challenges.iter().any(|c| c.contains("algs=")));

    // With it: 200, and the next nonce.
    let mut claims = key.claims("GET", &url, NOW, &token);
    claims["nonce"] = json!(nonce);
    let answer = server
        .get("/me", &token, &key.proof_with(&key.header(), &claims))
        .await;
    answer.ok();
    assert!(answer.nonce.is_some(), "the next nonce on a success");

    // Another instance with the same secret accepts it: no shared state.
    let twin = Server::start(nonced).await;
    let mut claims = key.claims("GET", &twin.url("/me"), NOW, &token);
    claims["nonce"] = json!(nonce);
    twin.get("/me", &token, &key.proof_with(&key.header(), &claims))
        .await
        .ok();

    // An instance with another secret does not.
    let stranger = Server::start(|origin| allowed(origin).nonce_secret(&[43u8; 32])).await;
    let mut claims = key.claims("GET", &stranger.url("/me"), NOW, &token);
    claims["nonce"] = json!(nonce);
    let answer = stranger
        .get("/me", &token, &key.proof_with(&key.header(), &claims))
        .await;
    answer.dpop_error("use_dpop_nonce");

    // Past its lifetime the nonce is stale: a fresh one is handed out.
    server.clock.set_unix(NOW + 121);
    let mut claims = key.claims("GET", &url, NOW + 121, &token);
    claims["nonce"] = json!(nonce);
    let stale = server
        .get("/me", &token, &key.proof_with(&key.header(), &claims))
        .await;
    stale.dpop_error("use_dpop_nonce");
    assert_ne!(stale.nonce.as_deref(), Some(nonce.as_str()));
}

#[tokio::test]
async fn the_prover_retries_once_on_use_dpop_nonce() {
    let server = Server::start(|origin| allowed(origin).require_nonce()).await;
    let prover = DpopProver::es256()
        .unwrap()
        .with_clock(server.clock.clone());
    let token = token(Some(prover.jkt()));
    let url = server.url("/me");
    let mut calls = 0;
    let response = prover
        .send(&http::Method::GET, &url, Some(&token), |proof| {
            calls += 1;
            let request = reqwest::Client::new()
                .get(&url)
                .header("authorization", format!("DPoP {token}"))
                .header("dpop", proof);
            async move {
                let response = request.send().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(http::Response::from(response))
            }
        })
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(calls, 2, "one 401 use_dpop_nonce, one retry");
    assert!(prover.nonce().is_some());
    // The nonce the success handed out serves the next request at once.
    let proof = prover
        .proof(&http::Method::GET, &url, Some(&token))
        .unwrap();
    server.get("/me", &token, &proof).await.ok();
}

#[tokio::test]
async fn a_bound_token_never_downgrades_to_bearer() {
    let key = ProofKey::es256();
    let bound = token(Some(&key.thumbprint()));
    for mode in [DpopMode::Off, DpopMode::Allowed] {
        let server = Server::start(|origin| Dpop::new(mode).public_origin(origin)).await;
        let answer = server
            .send("GET", "/me", Some(&format!("Bearer {bound}")), &[])
            .await;
        assert_eq!(answer.status, 401, "{mode:?}");
        assert!(
            answer.challenges[0].starts_with(r#"Bearer error="invalid_token""#),
            "{answer:?}"
        );
        // Even with a valid proof alongside.
        let proof = key.proof("GET", &server.url("/me"), NOW, &bound);
        let answer = server
            .send("GET", "/me", Some(&format!("Bearer {bound}")), &[&proof])
            .await;
        assert_eq!(answer.status, 401, "{mode:?}");
    }
    // Without any DPoP configuration too.
    let server = Server::start_with(|_, clock| {
        let scheme = JwtScheme::builder()
            .issuer(
                Issuer::new(ISS)
                    .audience(AUD)
                    .key(JwtKey::shared_secret(&SECRET).unwrap()),
            )
            .clock(clock.clone())
            .build()
            .unwrap();
        AuthLayer::builder().scheme(scheme).build().unwrap()
    })
    .await;
    let answer = server
        .send("GET", "/me", Some(&format!("Bearer {bound}")), &[])
        .await;
    assert_eq!(answer.status, 401);
    let plain = token(None);
    let answer = server
        .send("GET", "/me", Some(&format!("Bearer {plain}")), &[])
        .await;
    answer.ok();
}

#[tokio::test]
async fn modes_decide_between_bearer_and_dpop() {
    let key = ProofKey::es256();
    let bound = token(Some(&key.thumbprint()));
    let plain = token(None);
    let bearer = format!("Bearer {plain}");

    // Off: bare Bearer challenge; DPoP is not a scheme the layer knows.
    let server = Server::start(|origin| Dpop::new(DpopMode::Off).public_origin(origin)).await;
    let answer = server.send("GET", "/me", None, &[]).await;
    assert_eq!(answer.challenges, ["Bearer"]);
    let proof = key.proof("GET", &server.url("/me"), NOW, &bound);
    let answer = server.get("/me", &bound, &proof).await;
    assert_eq!(
        (answer.status, answer.challenges),
        (401, vec!["Bearer".to_owned()])
    );
    server.send("GET", "/me", Some(&bearer), &[]).await.ok();

    // Allowed: both challenges; both schemes.
    let server = Server::start(allowed).await;
    let answer = server.send("GET", "/me", None, &[]).await;
    assert_eq!(answer.challenges, ["Bearer".to_owned(), ALGS.to_owned()]);
    server.send("GET", "/me", Some(&bearer), &[]).await.ok();
    let proof = key.proof("GET", &server.url("/me"), NOW, &bound);
    server.get("/me", &bound, &proof).await.ok();
    // An unbound token presented as DPoP is refused on the DPoP challenge.
    let proof = key.proof("GET", &server.url("/me"), NOW, &plain);
    let answer = server.get("/me", &plain, &proof).await;
    answer.dpop_error("invalid_token");
    assert_eq!(answer.challenges[0], "Bearer", "the error is on DPoP only");

    // Required: only the DPoP challenge; bearer tokens are refused.
    let server = Server::start(|origin| Dpop::new(DpopMode::Required).public_origin(origin)).await;
    let answer = server.send("GET", "/me", None, &[]).await;
    assert_eq!(answer.challenges, [ALGS]);
    let answer = server.send("GET", "/me", Some(&bearer), &[]).await;
    assert_eq!(
        (answer.status, answer.challenges),
        (401, vec![ALGS.to_owned()])
    );
    let proof = key.proof("GET", &server.url("/me"), NOW, &bound);
    server.get("/me", &bound, &proof).await.ok();
}

#[tokio::test]
async fn modes_per_issuer() {
    let server = Server::start(|origin| {
        Dpop::new(DpopMode::Required)
            .public_origin(origin)
            .issuer_mode(LEGACY_ISS, DpopMode::Allowed)
    })
    .await;
    let legacy = token_from(LEGACY_ISS, None);
    let modern = token_from(ISS, None);
    let answer = server.send("GET", "/me", None, &[]).await;
    assert_eq!(answer.challenges, ["Bearer".to_owned(), ALGS.to_owned()]);
    server
        .send("GET", "/me", Some(&format!("Bearer {legacy}")), &[])
        .await
        .ok();
    let answer = server
        .send("GET", "/me", Some(&format!("Bearer {modern}")), &[])
        .await;
    assert_eq!(answer.status, 401);
    assert!(answer.body.contains("need DPoP"), "{answer:?}");
}

#[tokio::test]
async fn proofs_for_other_tokens_keys_or_with_broken_parts_are_refused() {
    let server = Server::start(allowed).await;
    let key = ProofKey::es256();
    let token = token(Some(&key.thumbprint()));
    let url = server.url("/me");
    let get = |proof: String| {
        let token = token.clone();
        let server = &server;
        async move { server.get("/me", &token, &proof).await }
    };

    // A proof for another access token (ath).
    let other_token = token_from(LEGACY_ISS, Some(&key.thumbprint()));
    let mut claims = key.claims("GET", &url, NOW, &token);
    claims["ath"] = json!(sha256_b64(other_token.as_bytes()));
    get(key.proof_with(&key.header(), &claims))
        .await
        .invalid_proof();
    let mut claims = key.claims("GET", &url, NOW, &token);
    claims.as_object_mut().unwrap().remove("ath");
    get(key.proof_with(&key.header(), &claims))
        .await
        .invalid_proof();

    // A proof with its own key, for a token bound to another key.
    let stranger = ProofKey::es256();
    let answer = get(stranger.proof("GET", &url, NOW, &token)).await;
    answer.dpop_error("invalid_token");

    // Signed by a key other than the jwk it names.
    let header = key.header();
    let claims = key.claims("GET", &url, NOW, &token);
    let forged = {
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        format!("{input}.{}", b64(stranger.sign(input.as_bytes())))
    };
    let answer = get(forged).await;
    answer.invalid_proof();
    assert!(answer.body.contains("signature"), "{answer:?}");

    // A jwk with a private part.
    let mut header = key.header();
    header["jwk"]["d"] = json!(b64([1u8; 32]));
    get(key.proof_with(&header, &key.claims("GET", &url, NOW, &token)))
        .await
        .invalid_proof();

    // An alg that does not fit the jwk, none, HS256.
    for alg in ["ES384", "RS256", "EdDSA", "none", "HS256", "ES256K"] {
        let mut header = key.header();
        header["alg"] = json!(alg);
        get(key.proof_with(&header, &key.claims("GET", &url, NOW, &token)))
            .await
            .invalid_proof();
    }

    // typ, crit, jwk missing, not a JWS, jti missing.
    let mut header = key.header();
    header["typ"] = json!("JWT");
    get(key.proof_with(&header, &key.claims("GET", &url, NOW, &token)))
        .await
        .invalid_proof();
    let mut header = key.header();
    header["crit"] = json!(["exp"]);
    get(key.proof_with(&header, &key.claims("GET", &url, NOW, &token)))
        .await
        .invalid_proof();
    let mut header = key.header();
    header.as_object_mut().unwrap().remove("jwk");
    get(key.proof_with(&header, &key.claims("GET", &url, NOW, &token)))
        .await
        .invalid_proof();
    get("not.a-proof".to_owned()).await.invalid_proof();
    let mut claims = key.claims("GET", &url, NOW, &token);
    claims.as_object_mut().unwrap().remove("jti");
    get(key.proof_with(&key.header(), &claims))
        .await
        .invalid_proof();
}

#[tokio::test]
async fn exactly_one_dpop_header() {
    let server = Server::start(allowed).await;
    let key = ProofKey::es256();
    let token = token(Some(&key.thumbprint()));
    let auth = format!("DPoP {token}");
    let url = server.url("/me");
    let (a, b) = (
        key.proof("GET", &url, NOW, &token),
        key.proof("GET", &url, NOW, &token),
    );
    let answer = server.send("GET", "/me", Some(&auth), &[&a, &b]).await;
    answer.invalid_proof();
    assert!(answer.body.contains("more than one"), "{answer:?}");
    let answer = server.send("GET", "/me", Some(&auth), &[]).await;
    answer.invalid_proof();
    // Neither proof was remembered: each still works alone.
    server.get("/me", &token, &a).await.ok();
}

#[tokio::test]
async fn the_token_cache_never_lets_a_bound_token_skip_its_proof() {
    let server = Server::start(allowed).await;
    let key = ProofKey::es256();
    let token = token(Some(&key.thumbprint()));
    let url = server.url("/me");
    server
        .get("/me", &token, &key.proof("GET", &url, NOW, &token))
        .await
        .ok();
    let auth = format!("DPoP {token}");
    // The token is cached now; without a proof, or with a stale one, no.
    server
        .send("GET", "/me", Some(&auth), &[])
        .await
        .invalid_proof();
    server
        .get("/me", &token, &key.proof("GET", &url, NOW - 500, &token))
        .await
        .invalid_proof();
    server
        .get("/me", &token, &key.proof("GET", &url, NOW, &token))
        .await
        .ok();
}

#[tokio::test]
async fn grpc_calls_get_grpc_status_16() {
    let server = Server::start(allowed).await;
    let key = ProofKey::es256();
    let token = token(Some(&key.thumbprint()));
    let response = reqwest::Client::new()
        .post(server.url("/shop.Orders/Get"))
        .header("content-type", "application/grpc")
        .header("authorization", format!("DPoP {token}"))
        .header(
            "dpop",
            key.proof("POST", &server.url("/other"), NOW, &token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["grpc-status"], "16");
    let challenges: Vec<_> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .collect();
    assert!(challenges
        .iter()
        .any(|c| c.to_str().unwrap().contains("invalid_dpop_proof")));
}

/// A scheme of opaque tokens, as an introspecting scheme would be: its
/// answer carries `cnf.jkt`, and the same verifier binds it.
struct OpaqueTokens {
    dpop: DpopVerifier,
    jkt: String,
}

impl Scheme for OpaqueTokens {
    fn name(&self) -> &'static str {
        "opaque"
    }

    fn locations(&self) -> Vec<CredentialLocation> {
        self.dpop.locations()
    }

    fn challenge(&self) -> Challenge {
        self.dpop.challenges(Challenge::new("Bearer"))
    }

    fn verify(&self, credential: &Credential, ctx: &VerifyContext<'_>) -> Verification {
        let result = if credential.value() == "opaque-1" {
            let mut claims = serde_json::Map::new();
            claims.insert("cnf".into(), json!({ "jkt": self.jkt }));
            Ok(Principal::new("alice", "opaque").with_claims(claims))
        } else {
            Err(AuthError::new(authgate::ErrorKind::UnknownKey))
        };
        // As an introspection answer would arrive: later.
        let pending = Verification::pending(async move { result });
        self.dpop.enforce(pending, credential, ctx.parts())
    }
}

#[tokio::test]
async fn any_token_scheme_can_bind_its_tokens_with_the_verifier() {
    let key = ProofKey::ed25519("EdDSA");
    let jkt = key.thumbprint();
    let server = Server::start_with(|origin, clock| {
        let dpop = allowed(origin).clock(clock.clone()).build().unwrap();
        AuthLayer::builder()
            .scheme(OpaqueTokens { dpop, jkt })
            .build()
            .unwrap()
    })
    .await;
    let url = server.url("/me");
    let proof = key.proof("GET", &url, NOW, "opaque-1");
    server.get("/me", "opaque-1", &proof).await.ok();
    server.get("/me", "opaque-1", &proof).await.invalid_proof();
    let answer = server
        .send("GET", "/me", Some("Bearer opaque-1"), &[])
        .await;
    assert_eq!(answer.status, 401, "bound: never as Bearer");
}

#[test]
fn configuration_mistakes_are_reported_at_build() {
    let build = |dpop: Dpop| {
        JwtScheme::builder()
            .issuer(
                Issuer::new(ISS)
                    .audience(AUD)
                    .key(JwtKey::shared_secret(&SECRET).unwrap()),
            )
            .dpop(dpop)
            .build()
            .map(|_| ())
    };
    assert!(build(Dpop::new(DpopMode::Allowed)).is_err(), "no origin");
    assert!(build(Dpop::new(DpopMode::Off)).is_ok());
    assert!(build(allowed("https://api.example/v1")).is_err(), "a path");
    assert!(build(allowed("api.example")).is_err(), "no scheme");
    assert!(build(allowed("https://api.example").algorithms([Algorithm::HS256])).is_err());
    assert!(build(allowed("https://api.example").algorithms([])).is_err());
    assert!(build(allowed("https://api.example").nonce_secret(&[1u8; 16])).is_err());
    assert!(build(allowed("https://api.example").nonce_secret(&[0u8; 32])).is_err());
    assert!(build(allowed("https://api.example").proof_window(Duration::ZERO)).is_err());
    assert!(build(allowed("https://api.example").replay_capacity(0)).is_err());
    assert!(build(allowed("https://api.example/")).is_ok());
}

#[test]
fn the_prover_makes_proofs_the_verifier_and_ring_agree_on() {
    let prover = DpopProver::es256().unwrap();
    assert_eq!(jwk_thumbprint(prover.public_jwk()).unwrap(), prover.jkt());
    let proof = prover
        .proof_with_nonce(
            &http::Method::PUT,
            "https://api.example/x?q#f",
            Some("tok"),
            Some("n1"),
        )
        .unwrap();
    let parts: Vec<&str> = proof.split('.').collect();
    let decode = |s: &str| -> Value {
        use base64::Engine as _;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap(),
        )
        .unwrap()
    };
    let (header, claims) = (decode(parts[0]), decode(parts[1]));
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["htm"], "PUT");
    assert_eq!(claims["htu"], "https://api.example/x");
    assert_eq!(claims["ath"], sha256_b64(b"tok"));
    assert_eq!(claims["nonce"], "n1");
    // The signature verifies with ring, over the public key in the header.
    use base64::Engine as _;
    let b = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap()
    };
    let mut point = vec![4u8];
    point.extend(b(header["jwk"]["x"].as_str().unwrap()));
    point.extend(b(header["jwk"]["y"].as_str().unwrap()));
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &b(parts[2]),
        )
        .unwrap();
}

#[tokio::test]
async fn rsa_provers_make_proofs_the_verifier_accepts() {
    use base64::Engine as _;
    let body: String = include_str!("support/rsa1.pem")
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    // The test's own key, written out by hand: same thumbprint.
    let expected = ProofKey::rsa("RS256").thumbprint();
    let server = Server::start(allowed).await;
    for (alg, prover) in [
        ("RS256", DpopProver::rs256_from_der(&der).unwrap()),
        ("PS256", DpopProver::ps256_from_der(&der).unwrap()),
    ] {
        assert_eq!(prover.jkt(), expected);
        let token = token(Some(prover.jkt()));
        let proof = prover
            .proof(&http::Method::GET, &server.url("/me"), Some(&token))
            .unwrap();
        let header: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(proof.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], alg);
        // The clock of the test server is fixed; the prover's follows it.
        let prover = prover.with_clock(server.clock.clone());
        let proof = prover
            .proof(&http::Method::GET, &server.url("/me"), Some(&token))
            .unwrap();
        server.get("/me", &token, &proof).await.ok();
    }
    assert!(DpopProver::rs256_from_der(b"not a key").is_err());
}

/// `authgate_dpop_proofs_total{outcome}` moves once per proof, by outcome
/// (docs/observability.md).
#[cfg(feature = "metrics")]
#[tokio::test]
async fn proofs_are_counted_by_outcome() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use tower::{service_fn, ServiceExt};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let clock = ManualClock::at_unix(NOW);
    let layer = metrics::with_local_recorder(&recorder, || {
        let scheme = JwtScheme::builder()
            .issuer(
                Issuer::new(ISS)
                    .audience(AUD)
                    .key(JwtKey::shared_secret(&SECRET).unwrap()),
            )
            .clock(clock.clone())
            .dpop(allowed("https://api.test").nonce_secret(&[5u8; 32]))
            .build()
            .unwrap();
        AuthLayer::builder().scheme(scheme).build().unwrap()
    });
    let service = tower::ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|_: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(()))
        }));
    let key = ProofKey::es256();
    let bound = token(Some(&key.thumbprint()));
    let call = |auth: String, proof: Option<String>| {
        let service = service.clone();
        async move {
            let mut request = http::Request::get("/me").header("authorization", auth);
            if let Some(proof) = proof {
                request = request.header("dpop", proof);
            }
            service.oneshot(request.body(()).unwrap()).await.unwrap()
        }
    };
    let url = "https://api.test/me";
    let first = call(
        format!("DPoP {bound}"),
        Some(key.proof("GET", url, NOW, &bound)),
    )
    .await;
    let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let mut claims = key.claims("GET", url, NOW, &bound);
    claims["nonce"] = json!(nonce);
    let proof = key.proof_with(&key.header(), &claims);
    assert_eq!(
        call(format!("DPoP {bound}"), Some(proof.clone()))
            .await
            .status(),
        200
    );
    assert_eq!(
        call(format!("DPoP {bound}"), Some(proof)).await.status(),
        401
    );
    assert_eq!(call(format!("DPoP {bound}"), None).await.status(), 401);
    assert_eq!(call(format!("Bearer {bound}"), None).await.status(), 401);

    let mut counts = std::collections::BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        if key.key().name() == "authgate_dpop_proofs_total" {
            let outcome = key.key().labels().next().unwrap().value().to_owned();
            if let DebugValue::Counter(n) = value {
                counts.insert(outcome, n);
            }
        }
    }
    let want: std::collections::BTreeMap<String, u64> = [
        ("accepted", 1),
        ("invalid", 1),
        ("replayed", 1),
        ("nonce_required", 1),
        ("downgrade", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(counts, want);
}

/// Regression: the failed-authentication throttle charged every
/// `use_dpop_nonce` answer to the client's address, although it is the
/// normal first step of the nonce protocol (RFC 9449 §8) for a valid token
/// and proof: clients behind one address were walled off by handshakes.
#[tokio::test]
async fn a_use_dpop_nonce_answer_costs_nothing_under_the_failed_auth_throttle() {
    use authgate::ratelimit::{FailedAuthLayer, InProcessLimiter, Quota};
    use std::net::SocketAddr;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let clock = ManualClock::at_unix(NOW);
    let scheme = JwtScheme::builder()
        .issuer(
            Issuer::new(ISS)
                .audience(AUD)
                .key(JwtKey::shared_secret(&SECRET).unwrap()),
        )
        .clock(clock.clone())
        .dpop(allowed(&base).require_nonce())
        .build()
        .unwrap();
    let auth = AuthLayer::builder().scheme(scheme).build().unwrap();
    // Two failed authentications per hour and address.
    let throttle = FailedAuthLayer::new(InProcessLimiter::new(), Quota::per_hour(2));
    let app = Router::new()
        .route("/{*path}", any(echo))
        .layer(auth)
        .layer(throttle);
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    let server = Server {
        base: base.clone(),
        clock,
    };
    let url = server.url("/me");
    // Three clients on one address, each doing the nonce handshake.
    for _ in 0..3 {
        let key = ProofKey::es256();
        let token = token(Some(&key.thumbprint()));
        let first = server
            .get("/me", &token, &key.proof("GET", &url, NOW, &token))
            .await;
        first.dpop_error("use_dpop_nonce");
        let mut claims = key.claims("GET", &url, NOW, &token);
        claims["nonce"] = json!(first.nonce.clone().unwrap());
        server
            .get("/me", &token, &key.proof_with(&key.header(), &claims))
            .await
            .ok();
    }
    // A wrong proof still counts: two of them spend the quota.
    let key = ProofKey::es256();
    let token = token(Some(&key.thumbprint()));
    let other = ProofKey::es256();
    for _ in 0..2 {
        let answer = server
            .get("/me", &token, &other.proof("GET", &url, NOW, &token))
            .await;
        assert_eq!(answer.status, 401);
    }
    let walled = server
        .get("/me", &token, &key.proof("GET", &url, NOW, &token))
        .await;
    assert_eq!(walled.status, 429, "{walled:?}");
}
