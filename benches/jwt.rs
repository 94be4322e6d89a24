//! JWT verification cost through the real layer: a cached token against a
//! baseline scheme that accepts on the spot (the difference is the JWT
//! cache-hit overhead), and uncached RS256 / ES256 / EdDSA verification.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::convert::Infallible;

use authgate::jwt::{Issuer, JwtKey, JwtScheme};
use authgate::{
    AuthLayer, Challenge, Credential, CredentialLocation, Principal, Scheme, Verification,
    VerifyContext,
};
use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;
use tower::{service_fn, ServiceBuilder, ServiceExt};

/// Accepts any bearer token at once: the layer's own cost.
struct Accept;

impl Scheme for Accept {
    fn name(&self) -> &'static str {
        "accept"
    }
    fn locations(&self) -> Vec<CredentialLocation> {
        vec![CredentialLocation::authorization("Bearer")]
    }
    fn challenge(&self) -> Challenge {
        Challenge::new("Bearer")
    }
    fn verify(&self, _: &Credential, _: &VerifyContext<'_>) -> Verification {
        Verification::ready(Ok(Principal::new("alice", "accept")))
    }
}

fn claims() -> serde_json::Value {
    json!({"iss": "https://issuer.bench", "aud": "api", "sub": "alice", "exp": 4_000_000_000u64,
           "iat": 1_700_000_000u64, "jti": "bench", "scope": "orders:read orders:write"})
}

fn sign(alg: Algorithm, key: &EncodingKey) -> String {
    authgate::jwt::install_default();
    let mut header = Header::new(alg);
    header.kid = Some("k".into());
    jsonwebtoken::encode(&header, &claims(), key).expect("sign")
}

fn layer_for(key: JwtKey, cache: u64) -> AuthLayer {
    let scheme = JwtScheme::builder()
        .issuer(
            Issuer::new("https://issuer.bench")
                .audience("api")
                .key(key.with_kid("k")),
        )
        .token_cache_capacity(cache)
        .build()
        .expect("scheme");
    AuthLayer::builder().scheme(scheme).build().expect("layer")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let run = |layer: AuthLayer, token: String| {
        let svc = ServiceBuilder::new().layer(layer).service(service_fn(
            |_req: http::Request<()>| async { Ok::<_, Infallible>(http::Response::new(())) },
        ));
        move || {
            let svc = svc.clone();
            let request = http::Request::get("/")
                .header("authorization", format!("Bearer {token}"))
                .body(())
                .expect("request");
            async move {
                let response = svc.oneshot(request).await.expect("infallible");
                assert_eq!(response.status(), 200);
            }
        }
    };

    let rng = ring::rand::SystemRandom::new();
    let ed_pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("ed key");
    let ed_pub = Ed25519KeyPair::from_pkcs8(ed_pkcs8.as_ref())
        .expect("ed")
        .public_key()
        .as_ref()
        .to_vec();
    let ed_jwk = json!({"kty": "OKP", "crv": "Ed25519",
        "x": base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &ed_pub)});
    let ed_key = JwtKey::from_jwk(&ed_jwk).expect("ed jwk");
    let ed_token = sign(
        Algorithm::EdDSA,
        &EncodingKey::from_ed_der(ed_pkcs8.as_ref()),
    );

    let rsa = EncodingKey::from_rsa_pem(include_str!("../tests/support/rsa1.pem").as_bytes())
        .expect("rsa");
    let rsa_jwk = serde_json::to_value(
        jsonwebtoken::jwk::Jwk::from_encoding_key(&rsa, Algorithm::RS256).expect("jwk"),
    )
    .expect("json");
    let rsa_key = JwtKey::from_jwk(&rsa_jwk).expect("rsa jwk");
    let rsa_token = sign(Algorithm::RS256, &rsa);

    let ec_pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("ec");
    let ec = EncodingKey::from_ec_der(ec_pkcs8.as_ref());
    let ec_jwk = serde_json::to_value(
        jsonwebtoken::jwk::Jwk::from_encoding_key(&ec, Algorithm::ES256).expect("jwk"),
    )
    .expect("json");
    let ec_key = JwtKey::from_jwk(&ec_jwk).expect("ec jwk");
    let ec_token = sign(Algorithm::ES256, &ec);

    let baseline = AuthLayer::builder().scheme(Accept).build().expect("layer");
    c.bench_function("layer/baseline_accept", |b| {
        b.to_async(&rt)
            .iter(run(baseline.clone(), rsa_token.clone()))
    });
    c.bench_function("layer/jwt_cached_rs256", |b| {
        b.to_async(&rt)
            .iter(run(layer_for(rsa_key.clone(), 1000), rsa_token.clone()))
    });
    c.bench_function("layer/jwt_uncached_rs256", |b| {
        b.to_async(&rt)
            .iter(run(layer_for(rsa_key.clone(), 0), rsa_token.clone()))
    });
    c.bench_function("layer/jwt_uncached_es256", |b| {
        b.to_async(&rt)
            .iter(run(layer_for(ec_key.clone(), 0), ec_token.clone()))
    });
    c.bench_function("layer/jwt_uncached_eddsa", |b| {
        b.to_async(&rt)
            .iter(run(layer_for(ed_key.clone(), 0), ed_token.clone()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
