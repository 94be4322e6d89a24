//! [`DpopProver`]: the client side. Holds a key pair and makes a proof per
//! request (RFC 9449 §4.2), and retries once when the server asks for a
//! nonce (§8).

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Map, Value};

use super::jwk::thumbprint_of;
use super::NONCE_HEADER;
use crate::clock::{Clock, SharedClock, SystemClock};

/// Why a proof could not be made: a key that does not load, or no system
/// randomness.
///
/// ```
/// let err = authgate::dpop::DpopProver::es256_from_pkcs8(b"not a key").unwrap_err();
/// assert_eq!(err.to_string(), "not a P-256 PKCS#8 private key");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProverError(&'static str);

enum Signer {
    Es256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair, &'static dyn signature::RsaEncoding),
}

/// Makes DPoP proofs for a client: one key pair, a proof per request, the
/// server's latest nonce remembered.
///
/// Cheap to clone; clones share the key and the nonce.
///
/// ```
/// use authgate::dpop::DpopProver;
///
/// let prover = DpopProver::es256().unwrap();
/// let proof = prover.proof(&http::Method::GET, "https://api.example/me?x=1", Some("token")).unwrap();
/// assert_eq!(proof.split('.').count(), 3);
/// assert_eq!(prover.jkt().len(), 43);
/// assert_eq!(DpopProver::authorization("token").unwrap(), "DPoP token");
/// ```
#[derive(Clone)]
pub struct DpopProver {
    inner: Arc<ProverInner>,
    clock: SharedClock,
}

struct ProverInner {
    signer: Signer,
    /// The protected header, base64url: the same for every proof.
    header: String,
    jkt: String,
    jwk: Value,
    nonce: Mutex<Option<String>>,
    rng: SystemRandom,
}

impl DpopProver {
    /// A prover with a new P-256 key (`ES256`).
    ///
    /// # Errors
    ///
    /// When the system has no randomness.
    pub fn es256() -> Result<Self, ProverError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| ProverError("no system randomness"))?;
        Self::es256_from_pkcs8(pkcs8.as_ref())
    }

    /// A prover with this P-256 key, PKCS#8 DER.
    ///
    /// # Errors
    ///
    /// When the DER is not a P-256 private key.
    pub fn es256_from_pkcs8(pkcs8: &[u8]) -> Result<Self, ProverError> {
        let rng = SystemRandom::new();
        let pair =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                .map_err(|_| ProverError("not a P-256 PKCS#8 private key"))?;
        let point = pair.public_key().as_ref();
        let (x, y) = (point.get(1..33), point.get(33..65));
        let (Some(x), Some(y)) = (x, y) else {
            return Err(ProverError("not a P-256 PKCS#8 private key"));
        };
        let jwk = json!({
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        });
        Ok(Self::new(Signer::Es256(pair), "ES256", jwk))
    }

    /// A prover with a new Ed25519 key (`EdDSA`).
    ///
    /// # Errors
    ///
    /// When the system has no randomness.
    pub fn ed25519() -> Result<Self, ProverError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| ProverError("no system randomness"))?;
        Self::ed25519_from_pkcs8(pkcs8.as_ref())
    }

    /// A prover with this Ed25519 key, PKCS#8 DER.
    ///
    /// # Errors
    ///
    /// When the DER is not an Ed25519 private key.
    pub fn ed25519_from_pkcs8(pkcs8: &[u8]) -> Result<Self, ProverError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|_| ProverError("not an Ed25519 PKCS#8 private key"))?;
        let jwk = json!({
            "kty": "OKP", "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        });
        Ok(Self::new(Signer::Ed25519(pair), "EdDSA", jwk))
    }

    /// A prover with this RSA key (`RS256`: RSASSA-PKCS1-v1_5 with
    /// SHA-256), PKCS#8 or PKCS#1 DER, 2048 to 8192 bits. ring makes no
    /// RSA keys: bring your own.
    ///
    /// ```
    /// use base64::Engine as _;
    /// # let pem = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/rsa1.pem"));
    /// let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    /// let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
    /// let prover = authgate::dpop::DpopProver::rs256_from_der(&der).unwrap();
    /// assert_eq!(prover.public_jwk()["kty"], "RSA");
    /// ```
    ///
    /// # Errors
    ///
    /// When the DER is not an RSA private key of a size ring accepts.
    pub fn rs256_from_der(der: &[u8]) -> Result<Self, ProverError> {
        Self::rsa(der, &signature::RSA_PKCS1_SHA256, "RS256")
    }

    /// A prover with this RSA key (`PS256`: RSASSA-PSS with SHA-256), as
    /// [`rs256_from_der`](Self::rs256_from_der).
    ///
    /// # Errors
    ///
    /// When the DER is not an RSA private key of a size ring accepts.
    pub fn ps256_from_der(der: &[u8]) -> Result<Self, ProverError> {
        Self::rsa(der, &signature::RSA_PSS_SHA256, "PS256")
    }

    fn rsa(
        der: &[u8],
        encoding: &'static dyn signature::RsaEncoding,
        alg: &str,
    ) -> Result<Self, ProverError> {
        let pair = RsaKeyPair::from_pkcs8(der)
            .or_else(|_| RsaKeyPair::from_der(der))
            .map_err(|_| ProverError("not an RSA private key (PKCS#8 or PKCS#1 DER)"))?;
        let public: ring::rsa::PublicKeyComponents<Vec<u8>> = pair.public().into();
        let jwk = json!({
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(&public.n),
            "e": URL_SAFE_NO_PAD.encode(&public.e),
        });
        Ok(Self::new(Signer::Rsa(pair, encoding), alg, jwk))
    }

    fn new(signer: Signer, alg: &str, jwk: Value) -> Self {
        let header = json!({ "typ": "dpop+jwt", "alg": alg, "jwk": jwk });
        let header = URL_SAFE_NO_PAD.encode(header.to_string());
        let jkt = match &jwk {
            Value::Object(map) => thumbprint_of(map),
            _ => thumbprint_of(&Map::new()),
        };
        Self {
            inner: Arc::new(ProverInner {
                signer,
                header,
                jkt,
                jwk,
                nonce: Mutex::new(None),
                rng: SystemRandom::new(),
            }),
            clock: Arc::new(SystemClock),
        }
    }

    /// The same key, with `iat` taken from `clock`. Defaults to the system
    /// clock.
    ///
    /// ```
    /// # use authgate::dpop::DpopProver;
    /// let prover = DpopProver::ed25519().unwrap().with_clock(authgate::clock::ManualClock::at_unix(1_000));
    /// # let _ = prover;
    /// ```
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The RFC 7638 thumbprint of the public key: the `cnf.jkt` tokens
    /// for this client carry.
    #[must_use]
    pub fn jkt(&self) -> &str {
        &self.inner.jkt
    }

    /// The public key as a JWK.
    #[must_use]
    pub fn public_jwk(&self) -> &Value {
        &self.inner.jwk
    }

    /// `DPoP <token>`, for the `Authorization` header.
    ///
    /// # Errors
    ///
    /// When the token cannot be sent in a header.
    pub fn authorization(access_token: &str) -> Result<HeaderValue, ProverError> {
        HeaderValue::from_str(&format!("DPoP {access_token}"))
            .map_err(|_| ProverError("the access token cannot be sent in a header"))
    }

    /// The nonce the prover puts in its proofs: the last one a server sent.
    #[must_use]
    pub fn nonce(&self) -> Option<String> {
        self.inner
            .nonce
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Remembers the `DPoP-Nonce` of a response, if it has one.
    pub fn observe(&self, headers: &HeaderMap) {
        if let Some(nonce) = headers.get(NONCE_HEADER).and_then(|v| v.to_str().ok()) {
            *self
                .inner
                .nonce
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(nonce.to_owned());
        }
    }

    /// A proof for `method` on `uri` (its query and fragment are left
    /// out), bound to `access_token` when given (`ath`), with the last
    /// nonce the server sent.
    ///
    /// # Errors
    ///
    /// When the system has no randomness or the key cannot sign.
    pub fn proof(
        &self,
        method: &Method,
        uri: &str,
        access_token: Option<&str>,
    ) -> Result<String, ProverError> {
        self.proof_with_nonce(method, uri, access_token, self.nonce().as_deref())
    }

    /// A proof as [`proof`](Self::proof) makes, with this nonce.
    ///
    /// # Errors
    ///
    /// As [`proof`](Self::proof).
    pub fn proof_with_nonce(
        &self,
        method: &Method,
        uri: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, ProverError> {
        let inner = &self.inner;
        let mut jti = [0u8; 16];
        inner
            .rng
            .fill(&mut jti)
            .map_err(|_| ProverError("no system randomness"))?;
        let htu = uri.split(['?', '#']).next().unwrap_or_default();
        let mut claims = Map::new();
        claims.insert("jti".into(), URL_SAFE_NO_PAD.encode(jti).into());
        claims.insert("htm".into(), method.as_str().into());
        claims.insert("htu".into(), htu.into());
        claims.insert("iat".into(), self.clock.unix_now().into());
        if let Some(token) = access_token {
            let ath = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
            claims.insert("ath".into(), URL_SAFE_NO_PAD.encode(ath).into());
        }
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), nonce.into());
        }
        let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string());
        let signing_input = format!("{}.{payload}", inner.header);
        let signature = match &inner.signer {
            Signer::Es256(pair) => pair
                .sign(&inner.rng, signing_input.as_bytes())
                .map_err(|_| ProverError("the key could not sign"))?
                .as_ref()
                .to_vec(),
            Signer::Ed25519(pair) => pair.sign(signing_input.as_bytes()).as_ref().to_vec(),
            Signer::Rsa(pair, encoding) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(
                    *encoding,
                    &inner.rng,
                    signing_input.as_bytes(),
                    &mut signature,
                )
                .map_err(|_| ProverError("the key could not sign"))?;
                signature
            }
        };
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// Sends a request through `send`, which gets the proof header value
    /// and returns the response; when the server answers 401
    /// `use_dpop_nonce` with a `DPoP-Nonce`, retries once with a new proof
    /// carrying that nonce. Every response's nonce is remembered.
    ///
    /// ```
    /// use authgate::dpop::DpopProver;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let prover = DpopProver::es256().unwrap();
    /// let response = prover
    ///     .send(&http::Method::GET, "https://api.example/me", Some("token"), |proof| async move {
    ///         let _ = proof; // a real client sends it in the `DPoP` header
    ///         Ok::<_, Box<dyn std::error::Error + Send + Sync>>(http::Response::new(()))
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(response.status(), 200);
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// `send`'s error, or a [`ProverError`] turned into `E` when a proof
    /// cannot be made (then `send` is not called).
    pub async fn send<F, Fut, B, E>(
        &self,
        method: &Method,
        uri: &str,
        access_token: Option<&str>,
        mut send: F,
    ) -> Result<Response<B>, E>
    where
        F: FnMut(HeaderValue) -> Fut,
        Fut: Future<Output = Result<Response<B>, E>>,
        E: From<ProverError>,
    {
        let mut retried = false;
        loop {
            let proof = self.proof(method, uri, access_token)?;
            let value = HeaderValue::from_str(&proof)
                .map_err(|_| ProverError("a proof is not a header value"))?;
            let response = send(value).await?;
            self.observe(response.headers());
            if retried || !asks_for_nonce(&response) {
                return Ok(response);
            }
            retried = true;
        }
    }
}

/// Whether a response is a 401 `use_dpop_nonce` with a nonce to use.
fn asks_for_nonce<B>(response: &Response<B>) -> bool {
    response.status() == StatusCode::UNAUTHORIZED
        && response.headers().contains_key(NONCE_HEADER)
        && response
            .headers()
            .get_all(http::header::WWW_AUTHENTICATE)
            .iter()
            .any(|v| {
                v.to_str()
                    .is_ok_and(|v| v.contains("error=\"use_dpop_nonce\""))
            })
}

impl fmt::Debug for DpopProver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopProver")
            .field("jkt", &self.inner.jkt)
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}
