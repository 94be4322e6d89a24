//! DPoP proofs made in the test, with ring alone: keys, JWKs, RFC 7638
//! thumbprints and signatures never come from the code under test.

#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn sha256_b64(bytes: &[u8]) -> String {
    b64(ring::digest::digest(&ring::digest::SHA256, bytes))
}

enum Pair {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair, &'static dyn signature::RsaEncoding),
}

/// A client key: its public JWK, thumbprint and a signer.
pub struct ProofKey {
    pub alg: &'static str,
    pub jwk: Value,
    pair: Pair,
}

impl ProofKey {
    pub fn es256() -> Self {
        Self::ec(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            "ES256",
            "P-256",
            32,
        )
    }

    pub fn es384() -> Self {
        Self::ec(
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            "ES384",
            "P-384",
            48,
        )
    }

    fn ec(
        alg: &'static signature::EcdsaSigningAlgorithm,
        name: &'static str,
        crv: &str,
        len: usize,
    ) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwk = json!({
            "kty": "EC", "crv": crv,
            "x": b64(&point[1..=len]), "y": b64(&point[len + 1..]),
        });
        Self {
            alg: name,
            jwk,
            pair: Pair::Ec(pair),
        }
    }

    /// Ed25519, under the JWS name `alg` (`EdDSA` or `Ed25519`).
    pub fn ed25519(alg: &'static str) -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key())});
        Self {
            alg,
            jwk,
            pair: Pair::Ed(pair),
        }
    }

    /// The test RSA key (2048 bits), `RS256` or `PS256`.
    pub fn rsa(alg: &'static str) -> Self {
        let pem = include_str!("rsa1.pem");
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        let pair = RsaKeyPair::from_der(&der).unwrap();
        let public: ring::rsa::PublicKeyComponents<Vec<u8>> = pair.public().into();
        let jwk = json!({"kty": "RSA", "n": b64(&public.n), "e": b64(&public.e)});
        let encoding: &'static dyn signature::RsaEncoding = match alg {
            "PS256" => &signature::RSA_PSS_SHA256,
            _ => &signature::RSA_PKCS1_SHA256,
        };
        Self {
            alg,
            jwk,
            pair: Pair::Rsa(pair, encoding),
        }
    }

    /// RFC 7638, written out by hand: the required members in
    /// lexicographic order, no white space.
    pub fn thumbprint(&self) -> String {
        let j = &self.jwk;
        let s = |name: &str| j[name].as_str().unwrap().to_owned();
        let canonical = match j["kty"].as_str().unwrap() {
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                s("crv"),
                s("x"),
                s("y")
            ),
            "OKP" => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, s("crv"), s("x")),
            "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n")),
            other => panic!("kty {other}"),
        };
        sha256_b64(canonical.as_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Ec(pair) => pair.sign(&rng, message).unwrap().as_ref().to_vec(),
            Pair::Ed(pair) => pair.sign(message).as_ref().to_vec(),
            Pair::Rsa(pair, encoding) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(*encoding, &rng, message, &mut sig).unwrap();
                sig
            }
        }
    }

    /// The usual header: `typ`, `alg`, `jwk`.
    pub fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk})
    }

    /// The usual claims for a request.
    pub fn claims(&self, htm: &str, htu: &str, iat: u64, token: &str) -> Value {
        json!({
            "jti": b64(rand16()),
            "htm": htm,
            "htu": htu,
            "iat": iat,
            "ath": sha256_b64(token.as_bytes()),
        })
    }

    /// A proof with the usual header and claims.
    pub fn proof(&self, htm: &str, htu: &str, iat: u64, token: &str) -> String {
        self.proof_with(&self.header(), &self.claims(htm, htu, iat, token))
    }

    /// A proof of any header and claims, signed with this key.
    pub fn proof_with(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let sig = self.sign(input.as_bytes());
        format!("{input}.{}", b64(sig))
    }
}

pub fn rand16() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut bytes).unwrap();
    bytes
}
