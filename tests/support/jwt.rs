//! Shared fixtures for the JWT tests: the `testing` kit's signing keys
//! (`TestSigningKey`) with their JWKs at hand, token claims, and a helper
//! that drives requests through the real `AuthLayer`. The tests that need
//! a JWKS endpoint use the kit's `MockIssuer`.

#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::convert::Infallible;

use authgate::testing::{TestAlgorithm, TestSigningKey};
use authgate::{AuthLayer, Principal};
use jsonwebtoken::{Algorithm, Header};
use serde_json::{json, Value};
use tower::{service_fn, ServiceBuilder, ServiceExt};

/// The kit's two fixed RSA test keys, by index.
pub const RSA1: usize = 0;
pub const RSA2: usize = 1;

/// A kit signing key with its kid, algorithm and public JWK at hand.
#[derive(Clone)]
pub struct Signer {
    pub kid: String,
    pub alg: Algorithm,
    pub key: TestSigningKey,
    pub jwk: Value,
}

impl Signer {
    fn new(key: TestSigningKey, alg: Algorithm) -> Self {
        Self {
            kid: key.kid().to_owned(),
            alg,
            jwk: key.jwk().cloned().unwrap(),
            key,
        }
    }

    pub fn rsa(kid: &str, index: usize) -> Self {
        Self::new(TestSigningKey::rsa(kid, index).unwrap(), Algorithm::RS256)
    }

    pub fn ec(kid: &str) -> Self {
        let key = TestSigningKey::generate(TestAlgorithm::ES256, kid).unwrap();
        Self::new(key, Algorithm::ES256)
    }

    pub fn ed(kid: &str) -> Self {
        let key = TestSigningKey::generate(TestAlgorithm::EdDSA, kid).unwrap();
        Self::new(key, Algorithm::EdDSA)
    }

    pub fn header(&self) -> Header {
        self.key.header()
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.key.sign(claims).unwrap()
    }

    pub fn sign_with(&self, header: &Header, claims: &Value) -> String {
        self.key.sign_with(header, claims).unwrap()
    }

    pub fn public_key(&self) -> authgate::jwt::JwtKey {
        self.key.verifying_key().unwrap()
    }
}

/// Signs `header_json.payload_json` as given, for headers jsonwebtoken
/// cannot express (`crit`, `alg: none`).
pub fn sign_raw(signer: &Signer, header: &Value, claims: &Value) -> String {
    signer.key.sign_raw(header, claims).unwrap()
}

pub const ISS: &str = "https://issuer.test";
pub const AUD: &str = "api://orders";
/// The fixed "now" of the tests with a manual clock.
pub const NOW: u64 = 1_800_000_000;

pub fn claims(iss: &str) -> Value {
    json!({
        "iss": iss,
        "aud": AUD,
        "sub": "alice",
        "exp": NOW + 3600,
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "jti": "t-1",
        "scope": "orders:read orders:write",
        "tenant": "acme",
    })
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims valid against the system clock.
pub fn live_claims(iss: &str) -> Value {
    let now = now_unix();
    let mut c = claims(iss);
    c["exp"] = json!(now + 3600);
    c["iat"] = json!(now - 10);
    c["nbf"] = json!(now - 10);
    c
}

/// The answer of one request through the real layer.
pub struct Answer {
    pub status: u16,
    pub www_authenticate: Option<String>,
    pub grpc_status: Option<String>,
    pub principal: Option<Principal>,
}

pub async fn call(layer: &AuthLayer, token: &str) -> Answer {
    call_with(layer, token, false).await
}

pub async fn call_with(layer: &AuthLayer, token: &str, grpc: bool) -> Answer {
    let service = ServiceBuilder::new()
        .layer(layer.clone())
        .service(service_fn(|req: http::Request<()>| async move {
            let principal = req.extensions().get::<Principal>().cloned();
            let mut res = http::Response::new(());
            if let Some(p) = principal {
                res.extensions_mut().insert(p);
            }
            Ok::<_, Infallible>(res)
        }));
    let mut request =
        http::Request::get("/orders").header("authorization", format!("Bearer {token}"));
    if grpc {
        request = request.header("content-type", "application/grpc");
    }
    let response = service.oneshot(request.body(()).unwrap()).await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: response.status().as_u16(),
        www_authenticate: header("www-authenticate"),
        grpc_status: header("grpc-status"),
        principal: response.extensions().get::<Principal>().cloned(),
    }
}
