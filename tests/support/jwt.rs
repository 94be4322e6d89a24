//! Shared fixtures for the JWT tests: signing keys, token minting, a real
//! JWKS endpoint (axum on 127.0.0.1:0) whose behaviour tests can change,
//! and a helper that drives requests through the real `AuthLayer`.
//!
//! The RSA PEMs are test-only keys generated once with `openssl genrsa`.

#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authgate::{AuthLayer, Principal};
use axum::response::IntoResponse;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use tower::{service_fn, ServiceBuilder, ServiceExt};

pub const RSA1: &str = include_str!("rsa1.pem");
pub const RSA2: &str = include_str!("rsa2.pem");

/// A signing key with its kid and public JWK.
#[derive(Clone)]
pub struct Signer {
    pub kid: String,
    pub alg: Algorithm,
    pub key: EncodingKey,
    pub jwk: Value,
}

impl Signer {
    fn new(kid: &str, alg: Algorithm, key: EncodingKey) -> Self {
        authgate::jwt::install_default();
        let jwk = Jwk::from_encoding_key(&key, alg).expect("jwk");
        let jwk = serde_json::to_value(jwk).expect("jwk json");
        Self::with_jwk(kid, alg, key, jwk)
    }

    fn with_jwk(kid: &str, alg: Algorithm, key: EncodingKey, mut jwk: Value) -> Self {
        let obj = jwk.as_object_mut().unwrap();
        obj.insert("kid".into(), json!(kid));
        obj.insert("use".into(), json!("sig"));
        obj.insert("alg".into(), json!(format!("{alg:?}")));
        Self {
            kid: kid.into(),
            alg,
            key,
            jwk,
        }
    }

    pub fn rsa(kid: &str, pem: &str) -> Self {
        Self::new(
            kid,
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        )
    }

    pub fn ec(kid: &str) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Self::new(
            kid,
            Algorithm::ES256,
            EncodingKey::from_ec_der(pkcs8.as_ref()),
        )
    }

    pub fn ed(kid: &str) -> Self {
        use base64::Engine as _;
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        // ring writes PKCS#8 v2, which jsonwebtoken's JWK export does not read.
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(ring::signature::KeyPair::public_key(&pair));
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": x});
        Self::with_jwk(
            kid,
            Algorithm::EdDSA,
            EncodingKey::from_ed_der(pkcs8.as_ref()),
            jwk,
        )
    }

    pub fn header(&self) -> Header {
        let mut h = Header::new(self.alg);
        h.kid = Some(self.kid.clone());
        h
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with(&self.header(), claims)
    }

    pub fn sign_with(&self, header: &Header, claims: &Value) -> String {
        authgate::jwt::install_default();
        jsonwebtoken::encode(header, claims, &self.key).unwrap()
    }

    pub fn public_key(&self) -> authgate::jwt::JwtKey {
        authgate::jwt::JwtKey::from_jwk(&self.jwk).unwrap()
    }
}

/// Signs `header_json.payload_json` by hand, for headers jsonwebtoken
/// cannot express (`crit`, `alg: none`).
pub fn sign_raw(signer: &Signer, header: &Value, claims: &Value) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    authgate::jwt::install_default();
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &signer.key, signer.alg).unwrap();
    format!("{input}.{sig}")
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

/// What the JWKS endpoint answers.
#[derive(Clone)]
pub enum Mode {
    Keys {
        keys: Vec<Value>,
        cache_control: Option<String>,
    },
    Status(u16),
    Delay(Duration),
    Malformed,
    Oversized,
}

pub struct JwksServer {
    pub addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    hits: Arc<AtomicU64>,
    discovery_hits: Arc<AtomicU64>,
}

impl JwksServer {
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.base())
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn serve_keys(&self, signers: &[&Signer]) {
        self.set(Mode::Keys {
            keys: signers.iter().map(|s| s.jwk.clone()).collect(),
            cache_control: None,
        });
    }

    /// JWKS requests served so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn discovery_hits(&self) -> u64 {
        self.discovery_hits.load(Ordering::SeqCst)
    }
}

pub async fn jwks_server(initial: Mode) -> JwksServer {
    let mode = Arc::new(Mutex::new(initial));
    let hits = Arc::new(AtomicU64::new(0));
    let discovery_hits = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let jwks = {
        let (mode, hits) = (Arc::clone(&mode), Arc::clone(&hits));
        move || {
            let (mode, hits) = (Arc::clone(&mode), Arc::clone(&hits));
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                let current = mode.lock().unwrap().clone();
                match current {
                    Mode::Keys {
                        keys,
                        cache_control,
                    } => {
                        let mut res = axum::Json(json!({ "keys": keys })).into_response();
                        if let Some(cc) = cache_control {
                            res.headers_mut()
                                .insert("cache-control", cc.parse().unwrap());
                        }
                        res
                    }
                    Mode::Status(code) => http::StatusCode::from_u16(code).unwrap().into_response(),
                    Mode::Delay(d) => {
                        tokio::time::sleep(d).await;
                        axum::Json(json!({"keys": []})).into_response()
                    }
                    Mode::Malformed => "{\"keys\": [ not json".into_response(),
                    Mode::Oversized => {
                        let big = "x".repeat(10 * 1024 * 1024);
                        format!("{{\"keys\": [], \"pad\": \"{big}\"}}").into_response()
                    }
                }
            }
        }
    };
    let discovery = {
        let discovery_hits = Arc::clone(&discovery_hits);
        move || {
            let discovery_hits = Arc::clone(&discovery_hits);
            let base = base.clone();
            async move {
                discovery_hits.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({
                    "issuer": base,
                    "jwks_uri": format!("{base}/jwks.json"),
                }))
            }
        }
    };
    let app = axum::Router::new()
        .route("/jwks.json", axum::routing::get(jwks))
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(discovery),
        );
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    JwksServer {
        addr,
        mode,
        hits,
        discovery_hits,
    }
}
