//! [`TestSigningKey`]: a JWT signing key with its `kid` and public JWK.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

use super::TestKitError;
use crate::jwt::JwtKey;

/// Two fixed 2048-bit RSA keys, for tests only: ring cannot generate RSA
/// keys. Never trust a token signed with them outside a test.
const TEST_RSA_KEYS: [&str; 2] = [include_str!("rsa1.pem"), include_str!("rsa2.pem")];

/// The algorithms the kit signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TestAlgorithm {
    /// RSA PKCS#1 v1.5 with SHA-256, from one of two fixed test keys.
    RS256,
    /// ECDSA P-256 with SHA-256, a key generated at start.
    ES256,
    /// Ed25519, a key generated at start.
    EdDSA,
    /// HMAC-SHA256 with a random 32-byte shared secret (never in the JWKS).
    HS256,
}

impl TestAlgorithm {
    fn jsonwebtoken(self) -> Algorithm {
        match self {
            Self::RS256 => Algorithm::RS256,
            Self::ES256 => Algorithm::ES256,
            Self::EdDSA => Algorithm::EdDSA,
            Self::HS256 => Algorithm::HS256,
        }
    }
}

/// A signing key for test tokens: private key, `kid`, algorithm, and the
/// public JWK a verifier needs (none for HS256, whose key is the shared
/// secret).
///
/// ```
/// use authgate::testing::{TestAlgorithm, TestSigningKey};
///
/// let key = TestSigningKey::generate(TestAlgorithm::ES256, "ec-1").unwrap();
/// assert_eq!(key.jwk().unwrap()["kid"], "ec-1");
/// let token = key.sign(&serde_json::json!({"sub": "alice"})).unwrap();
/// assert_eq!(token.split('.').count(), 3);
/// ```
#[derive(Clone)]
pub struct TestSigningKey {
    kid: String,
    alg: TestAlgorithm,
    key: EncodingKey,
    jwk: Option<Value>,
    secret: Option<Vec<u8>>,
}

impl TestSigningKey {
    /// A new key for `alg` with `kid`: ES256 and EdDSA keys and HS256
    /// secrets are generated; RS256 uses the first fixed test key (see
    /// [`rsa`](Self::rsa) for the second).
    ///
    /// # Errors
    ///
    /// When the system random generator fails.
    pub fn generate(alg: TestAlgorithm, kid: &str) -> Result<Self, TestKitError> {
        crate::jwt::install_default();
        let rng = SystemRandom::new();
        match alg {
            TestAlgorithm::RS256 => Self::rsa(kid, 0),
            TestAlgorithm::ES256 => {
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| TestKitError::Random)?;
                Self::with_public_jwk(kid, alg, EncodingKey::from_ec_der(pkcs8.as_ref()))
            }
            TestAlgorithm::EdDSA => {
                let pkcs8 =
                    Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| TestKitError::Random)?;
                // ring writes PKCS#8 v2, which jsonwebtoken's JWK export does
                // not read: build the OKP JWK from the public key.
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
                    .map_err(|_| TestKitError::Key("the generated Ed25519 key"))?;
                let x = URL_SAFE_NO_PAD.encode(pair.public_key());
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": x});
                Ok(Self::finish(
                    kid,
                    alg,
                    EncodingKey::from_ed_der(pkcs8.as_ref()),
                    Some(jwk),
                    None,
                ))
            }
            TestAlgorithm::HS256 => {
                let mut secret = vec![0u8; 32];
                rng.fill(&mut secret).map_err(|_| TestKitError::Random)?;
                let key = EncodingKey::from_secret(&secret);
                Ok(Self::finish(kid, alg, key, None, Some(secret)))
            }
        }
    }

    /// An RS256 key from the fixed test keys: `index` 0 or 1 (others wrap).
    ///
    /// ```
    /// let old = authgate::testing::TestSigningKey::rsa("rsa-1", 0).unwrap();
    /// let new = authgate::testing::TestSigningKey::rsa("rsa-2", 1).unwrap();
    /// assert_ne!(old.jwk().unwrap()["n"], new.jwk().unwrap()["n"]);
    /// ```
    ///
    /// # Errors
    ///
    /// Never in practice: the embedded keys are valid.
    pub fn rsa(kid: &str, index: usize) -> Result<Self, TestKitError> {
        crate::jwt::install_default();
        let pem = TEST_RSA_KEYS
            .get(index % TEST_RSA_KEYS.len())
            .copied()
            .unwrap_or_default();
        let key = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|_| TestKitError::Key("the embedded RSA test key"))?;
        Self::with_public_jwk(kid, TestAlgorithm::RS256, key)
    }

    fn with_public_jwk(
        kid: &str,
        alg: TestAlgorithm,
        key: EncodingKey,
    ) -> Result<Self, TestKitError> {
        let jwk = Jwk::from_encoding_key(&key, alg.jsonwebtoken())
            .ok()
            .and_then(|jwk| serde_json::to_value(jwk).ok())
            .ok_or(TestKitError::Key("the public JWK"))?;
        Ok(Self::finish(kid, alg, key, Some(jwk), None))
    }

    fn finish(
        kid: &str,
        alg: TestAlgorithm,
        key: EncodingKey,
        jwk: Option<Value>,
        secret: Option<Vec<u8>>,
    ) -> Self {
        let jwk = jwk.map(|mut jwk| {
            if let Some(object) = jwk.as_object_mut() {
                object.insert("kid".into(), json!(kid));
                object.insert("use".into(), json!("sig"));
                object.insert("alg".into(), json!(format!("{:?}", alg.jsonwebtoken())));
            }
            jwk
        });
        Self {
            kid: kid.to_owned(),
            alg,
            key,
            jwk,
            secret,
        }
    }

    /// The key id, sent in each token's header.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm.
    #[must_use]
    pub fn algorithm(&self) -> TestAlgorithm {
        self.alg
    }

    /// The public JWK (with `kid`, `use` and `alg`); `None` for HS256.
    #[must_use]
    pub fn jwk(&self) -> Option<&Value> {
        self.jwk.as_ref()
    }

    /// The key a verifier uses: the public key, or for HS256 the shared
    /// secret.
    ///
    /// ```
    /// use authgate::testing::{TestAlgorithm, TestSigningKey};
    /// let hs = TestSigningKey::generate(TestAlgorithm::HS256, "hs-1").unwrap();
    /// let key = hs.verifying_key().unwrap();
    /// assert_eq!(key.kid(), Some("hs-1"));
    /// ```
    ///
    /// # Errors
    ///
    /// Never in practice: the key was made by the kit.
    pub fn verifying_key(&self) -> Result<JwtKey, TestKitError> {
        let key = match (&self.jwk, &self.secret) {
            (Some(jwk), _) => JwtKey::from_jwk(jwk),
            (None, Some(secret)) => JwtKey::shared_secret(secret),
            (None, None) => return Err(TestKitError::Key("no verifying key")),
        };
        key.map(|k| k.with_kid(self.kid.clone()))
            .map_err(|_| TestKitError::Key("the verifying key"))
    }

    /// A JWS header for this key: its algorithm and `kid`.
    #[must_use]
    pub fn header(&self) -> Header {
        let mut header = Header::new(self.alg.jsonwebtoken());
        header.kid = Some(self.kid.clone());
        header
    }

    /// Signs `claims` with this key's header.
    ///
    /// # Errors
    ///
    /// When the claims cannot be serialized or signing fails.
    pub fn sign(&self, claims: &Value) -> Result<String, TestKitError> {
        self.sign_with(&self.header(), claims)
    }

    /// Signs `claims` under your own `header` (another `typ`, a wrong
    /// `kid`, …).
    ///
    /// # Errors
    ///
    /// When the claims cannot be serialized or signing fails.
    pub fn sign_with(&self, header: &Header, claims: &Value) -> Result<String, TestKitError> {
        crate::jwt::install_default();
        jsonwebtoken::encode(header, claims, &self.key).map_err(|_| TestKitError::Sign)
    }

    /// Signs `header` and `claims` exactly as given, with this key and its
    /// algorithm: for headers no JWS library writes (`crit`, a lying
    /// `alg`, unusual members).
    ///
    /// ```
    /// use authgate::testing::{TestAlgorithm, TestSigningKey};
    /// use serde_json::json;
    ///
    /// let key = TestSigningKey::generate(TestAlgorithm::ES256, "ec-1").unwrap();
    /// let header = json!({"alg": "ES256", "kid": "ec-1", "crit": ["exp"]});
    /// let token = key.sign_raw(&header, &json!({"sub": "alice"})).unwrap();
    /// assert_eq!(token.split('.').count(), 3);
    /// ```
    ///
    /// # Errors
    ///
    /// When signing fails.
    pub fn sign_raw(&self, header: &Value, claims: &Value) -> Result<String, TestKitError> {
        crate::jwt::install_default();
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &self.key, self.alg.jsonwebtoken())
                .map_err(|_| TestKitError::Sign)?;
        Ok(format!("{input}.{signature}"))
    }
}

impl fmt::Debug for TestSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestSigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}
