//! Verification keys: parsed once (from a JWK, a PEM file or a shared
//! secret) into jsonwebtoken `DecodingKey`s, with what they may verify.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::der;

/// Why a key could not be used: unsupported, malformed or too weak.
///
/// ```
/// use authgate::jwt::JwtKey;
///
/// let err = JwtKey::from_jwk_str(r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#).unwrap_err();
/// assert_eq!(err.to_string(), "RSA modulus is shorter than 2048 bits");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub(crate) &'static str);

impl KeyError {
    /// Why the key was refused.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        self.0
    }
}

/// What a key is, as far as algorithm fit goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
    /// A shared secret of this many bytes.
    Secret(usize),
}

/// A key that verifies token signatures: from a JWK, a PEM public key or a
/// shared secret. Cheap to clone.
///
/// A key fits a token only when its type fits the token's `alg` (RSA for
/// `RS*`/`PS*`, P-256 for `ES256`, P-384 for `ES384`, Ed25519 for `EdDSA`, a
/// secret at least as long as the hash for `HS*`) and, when the key names an
/// `alg`, that `alg` is the token's.
///
/// Keys that could never verify a token, or would verify forged ones, are
/// refused when they are loaded, whatever the path (JWK, PEM, DER, static
/// or fetched): RSA moduli outside 2048 to 8192 bits, bad exponents and
/// ROCA keys; EC points that are not on the curve their key names (and
/// curves other than P-256 and P-384); Ed25519 points of small order or
/// not canonically encoded, under which a signature with `R` = identity
/// and `S` = 0 verifies for any payload.
///
/// # Example
///
/// ```
/// use authgate::jwt::JwtKey;
/// use jsonwebtoken::Algorithm;
///
/// let key = JwtKey::from_jwk_str(r#"{"kty":"OKP","crv":"Ed25519","kid":"k1",
///     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#)?;
/// assert_eq!(key.kid(), Some("k1"));
/// assert!(key.fits(Algorithm::EdDSA));
/// assert!(!key.fits(Algorithm::ES256));
/// # Ok::<(), authgate::jwt::KeyError>(())
/// ```
#[derive(Clone)]
pub struct JwtKey {
    inner: Arc<KeyInner>,
}

#[derive(Clone)]
struct KeyInner {
    kid: Option<String>,
    alg: Option<Algorithm>,
    kind: KeyType,
    decoding: DecodingKey,
}

impl JwtKey {
    fn new(kind: KeyType, decoding: DecodingKey) -> Self {
        Self {
            inner: Arc::new(KeyInner {
                kid: None,
                alg: None,
                kind,
                decoding,
            }),
        }
    }

    /// A key from one JWK (RFC 7517) given as JSON text. Symmetric (`oct`)
    /// keys are accepted here, as configured shared secrets; keys fetched
    /// from a JWKS never are.
    ///
    /// ```
    /// let key = authgate::jwt::JwtKey::from_jwk_str(
    ///     r#"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#,
    /// ).unwrap();
    /// assert!(key.fits(jsonwebtoken::Algorithm::HS256));
    /// ```
    ///
    /// # Errors
    ///
    /// When the JSON is not a usable signature-verification key.
    pub fn from_jwk_str(jwk: &str) -> Result<Self, KeyError> {
        let value: Value = serde_json::from_str(jwk).map_err(|_| KeyError("not JSON"))?;
        Self::from_jwk(&value)
    }

    /// A key from one JWK as a JSON value; see [`from_jwk_str`](Self::from_jwk_str).
    ///
    /// ```
    /// let jwk = serde_json::json!({"kty":"EC","crv":"P-256",
    ///     "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    ///     "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
    /// let key = authgate::jwt::JwtKey::from_jwk(&jwk).unwrap();
    /// assert!(key.fits(jsonwebtoken::Algorithm::ES256));
    /// ```
    ///
    /// # Errors
    ///
    /// When the value is not a usable signature-verification key.
    pub fn from_jwk(jwk: &Value) -> Result<Self, KeyError> {
        parse_jwk(jwk, true)
    }

    /// All keys of a JWK Set (`{"keys": [...]}`) given as static
    /// configuration.
    ///
    /// Stricter than a fetched JWKS: a set whose keys cannot all be used, that
    /// mixes shared secrets with public keys, or that names one `kid` twice
    /// is refused as a whole.
    ///
    /// ```
    /// let set = authgate::jwt::JwtKey::parse_set(r#"{"keys":[
    ///   {"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#).unwrap();
    /// assert_eq!(set.len(), 1);
    /// ```
    ///
    /// # Errors
    ///
    /// As above, or when a key is unusable.
    pub fn parse_set(jwks: &str) -> Result<Vec<Self>, KeyError> {
        let value: Value = serde_json::from_str(jwks).map_err(|_| KeyError("not JSON"))?;
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeyError("a JWK Set needs a \"keys\" array"))?;
        let keys = keys
            .iter()
            .map(|k| parse_jwk(k, true))
            .collect::<Result<Vec<_>, _>>()?;
        let secrets = keys
            .iter()
            .filter(|k| matches!(k.inner.kind, KeyType::Secret(_)))
            .count();
        if secrets != 0 && secrets != keys.len() {
            return Err(KeyError("a key set mixes shared secrets and public keys"));
        }
        if has_duplicate_kid(&keys) {
            return Err(KeyError("a key set names the same kid twice"));
        }
        Ok(keys)
    }

    /// An RSA public key in PEM: `RSA PUBLIC KEY` (PKCS#1), `PUBLIC KEY`
    /// (SubjectPublicKeyInfo) or the key of a `CERTIFICATE` (which is not
    /// otherwise checked). The key gets the checks a JWK gets: a modulus of
    /// 2048 to 8192 bits, a valid public exponent, no ROCA fingerprint.
    ///
    /// ```
    /// # let pem = include_str!("../../tests/support/rsa1.pub.pem");
    /// let key = authgate::jwt::JwtKey::from_rsa_pem(pem.as_bytes()).unwrap();
    /// assert!(key.fits(jsonwebtoken::Algorithm::RS256));
    /// ```
    ///
    /// # Errors
    ///
    /// When the PEM holds no RSA public key, or a weak one.
    pub fn from_rsa_pem(pem: &[u8]) -> Result<Self, KeyError> {
        const NOT_RSA: KeyError = KeyError("not an RSA public key PEM");
        let (label, der) = der::pem(pem).ok_or(NOT_RSA)?;
        match label {
            "RSA PUBLIC KEY" => {
                let (n, e) = der::rsa_public_key(&der).ok_or(NOT_RSA)?;
                Ok(Self::new(KeyType::Rsa, rsa_decoding(n, e)?))
            }
            "PUBLIC KEY" | "CERTIFICATE" => from_spki_pem(label, &der, KeyFamily::Rsa, NOT_RSA),
            _ => Err(NOT_RSA),
        }
    }

    /// An EC public key in PEM (`PUBLIC KEY`, or the key of a
    /// `CERTIFICATE`): P-256 or P-384, named as such in the key's
    /// parameters, and a point on that curve.
    ///
    /// # Errors
    ///
    /// When the PEM holds no P-256 or P-384 public key, or the point is not
    /// on the curve.
    pub fn from_ec_pem(pem: &[u8]) -> Result<Self, KeyError> {
        const NOT_EC: KeyError = KeyError("not an EC public key PEM");
        let (label, der) = der::pem(pem).ok_or(NOT_EC)?;
        from_spki_pem(label, &der, KeyFamily::Ec, NOT_EC)
    }

    /// An Ed25519 public key in PEM (`PUBLIC KEY`, or the key of a
    /// `CERTIFICATE`). Small-order and non-canonical points are refused, as
    /// for a JWK.
    ///
    /// # Errors
    ///
    /// When the PEM holds no usable Ed25519 public key.
    pub fn from_ed_pem(pem: &[u8]) -> Result<Self, KeyError> {
        const NOT_ED: KeyError = KeyError("not an Ed25519 public key PEM");
        let (label, der) = der::pem(pem).ok_or(NOT_ED)?;
        from_spki_pem(label, &der, KeyFamily::Ed, NOT_ED)
    }

    /// A public key as a DER `SubjectPublicKeyInfo` (RFC 5280): RSA, EC
    /// P-256 / P-384 or Ed25519, with the checks a JWK gets.
    ///
    /// ```
    /// use base64::Engine as _;
    /// // RFC 8410 §10.1: an Ed25519 public key.
    /// let der = base64::engine::general_purpose::STANDARD
    ///     .decode("MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=").unwrap();
    /// let key = authgate::jwt::JwtKey::from_public_key_der(&der).unwrap();
    /// assert!(key.fits(jsonwebtoken::Algorithm::EdDSA));
    /// ```
    ///
    /// # Errors
    ///
    /// When the DER is not a usable public key of those types.
    pub fn from_public_key_der(der: &[u8]) -> Result<Self, KeyError> {
        from_spki(der, KeyFamily::Any, KeyError("not a supported public key"))
    }

    /// A shared secret for `HS256`/`HS384`/`HS512`. It fits an algorithm
    /// only when at least as long as its hash (32, 48, 64 bytes; RFC 7518
    /// §3.2).
    ///
    /// ```
    /// use authgate::jwt::JwtKey;
    /// use jsonwebtoken::Algorithm;
    ///
    /// let key = JwtKey::shared_secret(&[7u8; 48]).unwrap();
    /// assert!(key.fits(Algorithm::HS384));
    /// assert!(!key.fits(Algorithm::HS512));
    /// ```
    ///
    /// # Errors
    ///
    /// When the secret is shorter than 32 bytes.
    pub fn shared_secret(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < 32 {
            return Err(KeyError("a shared secret needs at least 32 bytes"));
        }
        Ok(Self::new(
            KeyType::Secret(secret.len()),
            DecodingKey::from_secret(secret),
        ))
    }

    /// Sets the key id tokens select this key with.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner).kid = Some(kid.into());
        self
    }

    /// Restricts the key to one algorithm.
    ///
    /// ```
    /// use authgate::jwt::JwtKey;
    /// use jsonwebtoken::Algorithm;
    ///
    /// let key = JwtKey::shared_secret(&[7u8; 64]).unwrap().with_algorithm(Algorithm::HS512);
    /// assert!(!key.fits(Algorithm::HS256));
    /// ```
    #[must_use]
    pub fn with_algorithm(mut self, alg: Algorithm) -> Self {
        Arc::make_mut(&mut self.inner).alg = Some(alg);
        self
    }

    /// The key id, if any.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.inner.kid.as_deref()
    }

    /// The one algorithm the key is restricted to, if any.
    #[must_use]
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.inner.alg
    }

    /// Whether this key may verify a token signed with `alg`.
    #[must_use]
    pub fn fits(&self, alg: Algorithm) -> bool {
        if self.inner.alg.is_some_and(|a| a != alg) {
            return false;
        }
        match (self.inner.kind, alg) {
            (
                KeyType::Rsa,
                Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512,
            ) => true,
            (KeyType::EcP256, Algorithm::ES256)
            | (KeyType::EcP384, Algorithm::ES384)
            | (KeyType::Ed25519, Algorithm::EdDSA) => true,
            (KeyType::Secret(len), Algorithm::HS256) => len >= 32,
            (KeyType::Secret(len), Algorithm::HS384) => len >= 48,
            (KeyType::Secret(len), Algorithm::HS512) => len >= 64,
            _ => false,
        }
    }

    pub(crate) fn is_secret(&self) -> bool {
        matches!(self.inner.kind, KeyType::Secret(_))
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.inner.decoding
    }
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.inner.kid)
            .field("alg", &self.inner.alg)
            .field(
                "type",
                &match self.inner.kind {
                    KeyType::Rsa => "RSA",
                    KeyType::EcP256 => "EC P-256",
                    KeyType::EcP384 => "EC P-384",
                    KeyType::Ed25519 => "Ed25519",
                    KeyType::Secret(_) => "shared secret <redacted>",
                },
            )
            .finish()
    }
}

pub(crate) fn has_duplicate_kid(keys: &[JwtKey]) -> bool {
    keys.iter()
        .enumerate()
        .any(|(i, k)| k.kid().is_some() && keys.iter().skip(i + 1).any(|o| o.kid() == k.kid()))
}

/// Which public keys a constructor takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyFamily {
    Rsa,
    Ec,
    Ed,
    Any,
}

fn from_spki_pem(
    label: &str,
    der: &[u8],
    family: KeyFamily,
    wrong: KeyError,
) -> Result<JwtKey, KeyError> {
    match label {
        "PUBLIC KEY" => from_spki(der, family, wrong),
        "CERTIFICATE" => from_spki(
            der::certificate_spki(der).ok_or(wrong.clone())?,
            family,
            wrong,
        ),
        _ => Err(wrong),
    }
}

/// A key from a DER `SubjectPublicKeyInfo` of `family`; `wrong` when it is
/// malformed or of another family.
fn from_spki(der: &[u8], family: KeyFamily, wrong: KeyError) -> Result<JwtKey, KeyError> {
    let spki = der::spki(der).ok_or(wrong.clone())?;
    let wants = |f: KeyFamily| family == f || family == KeyFamily::Any;
    let (kind, decoding) = match spki.algorithm {
        der::OID_RSA if wants(KeyFamily::Rsa) && spki.no_parameters() => {
            let (n, e) = der::rsa_public_key(spki.key).ok_or(wrong)?;
            (KeyType::Rsa, rsa_decoding(n, e)?)
        }
        der::OID_EC if wants(KeyFamily::Ec) => {
            // The curve is the one the parameters name, never guessed from
            // the point's length (secp256k1 points are as long as P-256's).
            let kind = match spki.curve() {
                Some(der::OID_P256) => KeyType::EcP256,
                Some(der::OID_P384) => KeyType::EcP384,
                _ => return Err(KeyError("unsupported EC curve")),
            };
            (kind, ec_decoding(kind, spki.key)?)
        }
        der::OID_ED25519 if wants(KeyFamily::Ed) && spki.parameters.is_none() => {
            (KeyType::Ed25519, ed25519_decoding(spki.key)?)
        }
        _ => return Err(wrong),
    };
    Ok(JwtKey::new(kind, decoding))
}

/// An RSA key from its modulus and exponent (big-endian, leading zeros
/// allowed), refused when weak.
fn rsa_decoding(n: &[u8], e: &[u8]) -> Result<DecodingKey, KeyError> {
    let n = strip_leading_zeros(n);
    let e = strip_leading_zeros(e);
    if n.len() < 256 {
        return Err(KeyError("RSA modulus is shorter than 2048 bits"));
    }
    if n.len() > 1024 {
        return Err(KeyError("RSA modulus is longer than 8192 bits"));
    }
    if n.last().is_some_and(|b| b & 1 == 0) {
        return Err(KeyError("RSA modulus is even"));
    }
    if e.is_empty() || e.len() > 4 || e.last().is_some_and(|b| b & 1 == 0) || e == [1] {
        return Err(KeyError("RSA public exponent is invalid"));
    }
    if roca_fingerprint(n) {
        return Err(KeyError("RSA key is vulnerable to ROCA (CVE-2017-15361)"));
    }
    Ok(DecodingKey::from_rsa_raw_components(n, e))
}

/// An EC key from its uncompressed point (`04 || x || y`), refused unless
/// the point is on the curve.
///
/// ring checks the point only when it verifies, and then answers a bad
/// point exactly as a bad signature. Its ECDH, though, runs the same
/// validation (NIST SP 800-56A partial public-key validation: coordinates
/// below p, on the curve, not the point at infinity, shared with ECDSA
/// verification in `ring::ec::suite_b::public_key`) and has no other way to
/// fail: one agreement with a throwaway key tells a usable point from one
/// that can never verify. It costs a scalar multiplication per key loaded,
/// and keeps the curve arithmetic out of this crate.
fn ec_decoding(kind: KeyType, point: &[u8]) -> Result<DecodingKey, KeyError> {
    use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey};
    let (alg, len) = match kind {
        KeyType::EcP256 => (&ring::agreement::ECDH_P256, 32),
        KeyType::EcP384 => (&ring::agreement::ECDH_P384, 48),
        _ => return Err(KeyError("unsupported EC curve")),
    };
    if point.len() != 1 + 2 * len || point.first() != Some(&4) {
        return Err(KeyError("EC coordinates do not fit the curve"));
    }
    let rng = ring::rand::SystemRandom::new();
    let ours = EphemeralPrivateKey::generate(alg, &rng)
        .map_err(|_| KeyError("the EC point cannot be checked without system randomness"))?;
    agree_ephemeral(ours, &UnparsedPublicKey::new(alg, point), |_| ())
        .map_err(|_| KeyError("the EC point is not on the curve"))?;
    Ok(DecodingKey::from_ec_der(point))
}

/// An Ed25519 key from its 32-byte encoding, refused when the point has
/// small order, is not canonically encoded or is not on the curve (see
/// [`super::ed25519`]).
fn ed25519_decoding(x: &[u8]) -> Result<DecodingKey, KeyError> {
    let Ok(bytes) = <[u8; 32]>::try_from(x) else {
        return Err(KeyError("an Ed25519 key must be 32 bytes"));
    };
    super::ed25519::check(&bytes).map_err(KeyError)?;
    Ok(DecodingKey::from_ed_der(x))
}

fn b64(map: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, KeyError> {
    let text = map
        .get(name)
        .and_then(Value::as_str)
        .ok_or(KeyError("a key parameter is missing or not a string"))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| KeyError("a key parameter is not base64url"))
}

/// Parses one JWK. `allow_secret` is false for keys fetched from a JWKS:
/// a symmetric key there would let anyone who can read the set forge tokens.
pub(crate) fn parse_jwk(jwk: &Value, allow_secret: bool) -> Result<JwtKey, KeyError> {
    let map = jwk.as_object().ok_or(KeyError("a JWK must be an object"))?;
    let kty = map
        .get("kty")
        .and_then(Value::as_str)
        .ok_or(KeyError("a JWK needs a kty"))?;
    match map.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err(KeyError("the key is not for signatures (use)")),
    }
    if let Some(ops) = map.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|o| o.as_str() == Some("verify")));
        if !verifies {
            return Err(KeyError("the key is not for verification (key_ops)"));
        }
    }
    let alg = match map.get("alg") {
        None => None,
        Some(Value::String(a)) => Some(
            a.parse::<Algorithm>()
                .map_err(|_| KeyError("the key's alg is not a supported signature algorithm"))?,
        ),
        Some(_) => return Err(KeyError("the key's alg is not a string")),
    };
    let kid = match map.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(KeyError("the key's kid is not a string")),
    };
    let (kind, decoding) = match kty {
        "RSA" => {
            let n = b64(map, "n")?;
            let e = b64(map, "e")?;
            (KeyType::Rsa, rsa_decoding(&n, &e)?)
        }
        "EC" => {
            let crv = map.get("crv").and_then(Value::as_str);
            let (kind, len) = match crv {
                Some("P-256") => (KeyType::EcP256, 32),
                Some("P-384") => (KeyType::EcP384, 48),
                _ => return Err(KeyError("unsupported EC curve")),
            };
            let x = b64(map, "x")?;
            let y = b64(map, "y")?;
            if x.len() != len || y.len() != len {
                return Err(KeyError("EC coordinates do not fit the curve"));
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (kind, ec_decoding(kind, &point)?)
        }
        "OKP" => {
            if map.get("crv").and_then(Value::as_str) != Some("Ed25519") {
                return Err(KeyError("unsupported OKP curve"));
            }
            let x = b64(map, "x")?;
            (KeyType::Ed25519, ed25519_decoding(&x)?)
        }
        "oct" if allow_secret => {
            let k = b64(map, "k")?;
            if k.is_empty() {
                return Err(KeyError("an empty shared secret"));
            }
            (KeyType::Secret(k.len()), DecodingKey::from_secret(&k))
        }
        "oct" => return Err(KeyError("symmetric keys are never taken from a JWKS")),
        _ => return Err(KeyError("unsupported kty")),
    };
    let key = JwtKey {
        inner: Arc::new(KeyInner {
            kid,
            alg,
            kind,
            decoding,
        }),
    };
    if let Some(alg) = alg {
        if !key.fits(alg) {
            return Err(KeyError("the key's alg does not fit its type"));
        }
    }
    Ok(key)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// The ROCA fingerprint (Nemec et al., CCS 2017): a modulus made by the
/// vulnerable Infineon library is, modulo each of these small primes, a
/// power of 65537.
fn roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let residue = n
            .iter()
            .fold(0u32, |acc, &b| (acc * 256 + u32::from(b)) % p);
        let generator = 65_537 % p;
        let mut power = 1 % p;
        (0..p).any(|_| {
            let hit = power == residue;
            power = power * generator % p;
            hit
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rejects_weak_and_misused_keys() {
        let small = json!({"kty":"RSA","n":URL_SAFE_NO_PAD.encode([0xffu8; 128]),"e":"AQAB"});
        assert!(parse_jwk(&small, false).is_err());
        let enc =
            json!({"kty":"OKP","crv":"Ed25519","use":"enc","x":URL_SAFE_NO_PAD.encode([1u8; 32])});
        assert!(parse_jwk(&enc, false).is_err());
        let oct = json!({"kty":"oct","k":URL_SAFE_NO_PAD.encode([1u8; 32])});
        assert!(parse_jwk(&oct, false).is_err());
        assert!(parse_jwk(&oct, true).is_ok());
        let bad_alg = json!({"kty":"OKP","crv":"Ed25519","alg":"ES256","x":URL_SAFE_NO_PAD.encode([1u8; 32])});
        assert!(parse_jwk(&bad_alg, false).is_err());
    }

    #[test]
    fn roca_residues() {
        // 1 is 65537^0 modulo every prime.
        assert!(roca_fingerprint(&[1]));
        assert!(!roca_fingerprint(&[0xff; 256]));
    }
}
