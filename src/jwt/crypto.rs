//! A ring-backed [`CryptoProvider`] for jsonwebtoken, so that the crate runs
//! on one crypto stack (ring already does our digests, HMAC and randomness).
//!
//! The scheme never relies on jsonwebtoken's process-wide default: it calls
//! [`RING_PROVIDER`] directly, so a missing or different default provider
//! can never panic or change behaviour on a request.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{new_error, ErrorKind, Result};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature::{self as sig, KeyPair};

/// jsonwebtoken's crypto, implemented with ring: every algorithm of
/// RFC 7518 that jsonwebtoken knows, plus EdDSA (Ed25519).
///
/// authgate verifies through this provider directly. Install it as the
/// process default if you also call `jsonwebtoken::encode` or `decode`
/// yourself; [`install_default`] does so and ignores an already installed
/// provider.
///
/// ```
/// use authgate::jwt::{install_default, RING_PROVIDER};
/// use jsonwebtoken::{encode, EncodingKey, Header};
///
/// install_default();
/// let token = encode(&Header::default(), &serde_json::json!({"sub": "a"}),
///                    &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef")).unwrap();
/// assert_eq!(token.split('.').count(), 3);
/// # let _ = &RING_PROVIDER;
/// ```
pub static RING_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: rsa_components_from_private_key,
        rsa_pub_components_from_public_key: |_| Err(new_error(ErrorKind::InvalidKeyFormat)),
        ec_pub_components_from_private_key: ec_components_from_private_key,
        ed_pub_components_from_private_key: ed_components_from_private_key,
        compute_digest,
    },
};

/// Installs [`RING_PROVIDER`] as jsonwebtoken's process-wide default, unless
/// another provider was installed first (which is then kept).
///
/// Building a [`JwtScheme`](super::JwtScheme) calls this, so that
/// `jsonwebtoken::encode` in the same process cannot panic for want of a
/// provider.
///
/// ```
/// authgate::jwt::install_default();
/// authgate::jwt::install_default(); // idempotent
/// ```
pub fn install_default() {
    // An Err means a provider is already installed: that one stays.
    let _ = RING_PROVIDER.install_default();
}

/// Verifies `signature` over `message` with `key` for `alg`, through
/// [`RING_PROVIDER`] and never the process default.
pub(crate) fn verify(alg: Algorithm, key: &DecodingKey, message: &[u8], signature: &[u8]) -> bool {
    match verify_raw(alg, key, message, signature) {
        Ok(()) => true,
        Err(()) => false,
    }
}

fn verify_raw(
    alg: Algorithm,
    key: &DecodingKey,
    message: &[u8],
    signature: &[u8],
) -> std::result::Result<(), ()> {
    if key.family() != alg.family() {
        return Err(());
    }
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            let secret = key.try_get_as_bytes().map_err(|_| ())?;
            let hmac_alg = match alg {
                Algorithm::HS384 => ring::hmac::HMAC_SHA384,
                Algorithm::HS512 => ring::hmac::HMAC_SHA512,
                _ => ring::hmac::HMAC_SHA256,
            };
            // ring compares the tags in constant time.
            ring::hmac::verify(&ring::hmac::Key::new(hmac_alg, secret), message, signature)
                .map_err(|_| ())
        }
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => {
            let params: &'static sig::RsaParameters = match alg {
                Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
                Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
                _ => &sig::RSA_PSS_2048_8192_SHA512,
            };
            match key.kind() {
                DecodingKeyKind::SecretOrDer(der) => sig::UnparsedPublicKey::new(params, der)
                    .verify(message, signature)
                    .map_err(|_| ()),
                DecodingKeyKind::RsaModulusExponent { n, e } => {
                    sig::RsaPublicKeyComponents { n, e }
                        .verify(params, message, signature)
                        .map_err(|_| ())
                }
            }
        }
        Algorithm::ES256 | Algorithm::ES384 => {
            let params: &'static sig::EcdsaVerificationAlgorithm = if alg == Algorithm::ES256 {
                &sig::ECDSA_P256_SHA256_FIXED
            } else {
                &sig::ECDSA_P384_SHA384_FIXED
            };
            let point = key.try_get_as_bytes().map_err(|_| ())?;
            sig::UnparsedPublicKey::new(params, point)
                .verify(message, signature)
                .map_err(|_| ())
        }
        Algorithm::EdDSA => {
            let point = key.try_get_as_bytes().map_err(|_| ())?;
            sig::UnparsedPublicKey::new(&sig::ED25519, point)
                .verify(message, signature)
                .map_err(|_| ())
        }
        // An algorithm a later jsonwebtoken adds is not verified until we
        // implement it.
        _ => Err(()),
    }
}

struct RingVerifier {
    alg: Algorithm,
    key: DecodingKey,
}

impl signature::Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        verify_raw(self.alg, &self.key, msg, signature).map_err(|()| signature::Error::new())
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    if key.family() != alg.family() {
        return Err(new_error(ErrorKind::InvalidKeyFormat));
    }
    Ok(Box::new(RingVerifier {
        alg: *alg,
        key: key.clone(),
    }))
}

struct RingSigner {
    alg: Algorithm,
    key: EncodingKey,
}

impl signature::Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        sign(self.alg, &self.key, msg).map_err(signature::Error::from_source)
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    if key.family() != alg.family() {
        return Err(new_error(ErrorKind::InvalidKeyFormat));
    }
    Ok(Box::new(RingSigner {
        alg: *alg,
        key: key.clone(),
    }))
}

fn sign(alg: Algorithm, key: &EncodingKey, msg: &[u8]) -> Result<Vec<u8>> {
    let rng = ring::rand::SystemRandom::new();
    let bytes = key.as_bytes();
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            let hmac_alg = match alg {
                Algorithm::HS384 => ring::hmac::HMAC_SHA384,
                Algorithm::HS512 => ring::hmac::HMAC_SHA512,
                _ => ring::hmac::HMAC_SHA256,
            };
            let tag = ring::hmac::sign(&ring::hmac::Key::new(hmac_alg, bytes), msg);
            Ok(tag.as_ref().to_vec())
        }
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => {
            let encoding: &'static dyn sig::RsaEncoding = match alg {
                Algorithm::RS256 => &sig::RSA_PKCS1_SHA256,
                Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
                Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
                Algorithm::PS256 => &sig::RSA_PSS_SHA256,
                Algorithm::PS384 => &sig::RSA_PSS_SHA384,
                _ => &sig::RSA_PSS_SHA512,
            };
            let pair = rsa_key_pair(bytes)?;
            let mut out = vec![0; pair.public().modulus_len()];
            pair.sign(encoding, &rng, msg, &mut out)
                .map_err(|_| new_error(ErrorKind::InvalidRsaKey("signing failed".into())))?;
            Ok(out)
        }
        Algorithm::ES256 | Algorithm::ES384 => {
            let signing = if alg == Algorithm::ES256 {
                &sig::ECDSA_P256_SHA256_FIXED_SIGNING
            } else {
                &sig::ECDSA_P384_SHA384_FIXED_SIGNING
            };
            let pair = sig::EcdsaKeyPair::from_pkcs8(signing, bytes, &rng)
                .map_err(|_| new_error(ErrorKind::InvalidEcdsaKey))?;
            let signature = pair
                .sign(&rng, msg)
                .map_err(|_| new_error(ErrorKind::InvalidEcdsaKey))?;
            Ok(signature.as_ref().to_vec())
        }
        Algorithm::EdDSA => {
            let pair = sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes)
                .map_err(|_| new_error(ErrorKind::InvalidEddsaKey))?;
            Ok(pair.sign(msg).as_ref().to_vec())
        }
        _ => Err(new_error(ErrorKind::InvalidAlgorithm)),
    }
}

fn rsa_key_pair(der: &[u8]) -> Result<sig::RsaKeyPair> {
    sig::RsaKeyPair::from_der(der)
        .or_else(|_| sig::RsaKeyPair::from_pkcs8(der))
        .map_err(|e| new_error(ErrorKind::InvalidRsaKey(e.to_string())))
}

fn rsa_components_from_private_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let pair = rsa_key_pair(der)?;
    let components = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
    Ok((components.n, components.e))
}

fn ec_components_from_private_key(
    der: &[u8],
    alg: Algorithm,
) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    let (signing, curve, len) = match alg {
        Algorithm::ES256 => (
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            EllipticCurve::P256,
            32,
        ),
        Algorithm::ES384 => (
            &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            EllipticCurve::P384,
            48,
        ),
        _ => return Err(new_error(ErrorKind::InvalidEcdsaKey)),
    };
    let rng = ring::rand::SystemRandom::new();
    let pair = sig::EcdsaKeyPair::from_pkcs8(signing, der, &rng)
        .map_err(|_| new_error(ErrorKind::InvalidEcdsaKey))?;
    match pair.public_key().as_ref().split_first() {
        Some((4, rest)) if rest.len() == 2 * len => {
            let (x, y) = rest.split_at(len);
            Ok((curve, x.to_vec(), y.to_vec()))
        }
        _ => Err(new_error(ErrorKind::InvalidEcdsaKey)),
    }
}

fn ed_components_from_private_key(der: &[u8], curve: &EllipticCurve) -> Result<Vec<u8>> {
    if *curve != EllipticCurve::Ed25519 {
        return Err(new_error(ErrorKind::InvalidAlgorithm));
    }
    sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
        .map(|pair| pair.public_key().as_ref().to_vec())
        .map_err(|_| new_error(ErrorKind::InvalidEddsaKey))
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>> {
    let alg = match hash {
        ThumbprintHash::SHA256 => &ring::digest::SHA256,
        ThumbprintHash::SHA384 => &ring::digest::SHA384,
        ThumbprintHash::SHA512 => &ring::digest::SHA512,
        _ => return Err(new_error(ErrorKind::InvalidAlgorithm)),
    };
    Ok(ring::digest::digest(alg, data).as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_round_trip_and_family_mismatch() {
        let key = EncodingKey::from_secret(b"k");
        let tag = sign(Algorithm::HS256, &key, b"msg").unwrap();
        assert!(verify(
            Algorithm::HS256,
            &DecodingKey::from_secret(b"k"),
            b"msg",
            &tag
        ));
        assert!(!verify(
            Algorithm::HS256,
            &DecodingKey::from_secret(b"x"),
            b"msg",
            &tag
        ));
        let ed = DecodingKey::from_ed_der(&[0; 32]);
        assert!(!verify(Algorithm::HS256, &ed, b"msg", &tag));
        assert!(new_verifier(&Algorithm::RS256, &DecodingKey::from_secret(b"k")).is_err());
    }
}
