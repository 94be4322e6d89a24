//! The proof's public key: its RFC 7638 thumbprint (what `cnf.jkt`
//! names), the refusal of private members, and the verification key built
//! from the members the thumbprint covers, with the strict checks every
//! JWK gets in [`jwt`](crate::jwt) (curve points, small-order Ed25519,
//! RSA ≥ 2048 bits).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use moka::sync::Cache;
use serde_json::{Map, Value};

use crate::jwt::key::parse_jwk;
use crate::jwt::{JwtKey, KeyError};

/// Members that only a private (or symmetric) key has (RFC 7518 §6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The RFC 7638 JWK thumbprint (SHA-256, base64url): what a DPoP-bound
/// token's `cnf.jkt` holds.
///
/// ```
/// // RFC 9449 §6.1: the proof key of §4.1 and the token's cnf.jkt.
/// let jwk = serde_json::json!({"kty":"EC","crv":"P-256",
///     "x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
///     "y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"});
/// assert_eq!(authgate::dpop::jwk_thumbprint(&jwk).unwrap(),
///            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
/// ```
///
/// # Errors
///
/// When the value is not a JWK of type `EC`, `RSA` or `OKP` with its
/// required members as strings.
pub fn jwk_thumbprint(jwk: &Value) -> Result<String, KeyError> {
    let map = jwk.as_object().ok_or(KeyError("a JWK must be an object"))?;
    Ok(thumbprint_of(&required_members(map)?))
}

/// The required members of a public JWK (RFC 7638 §3.2), in the
/// lexicographic order the thumbprint hashes them in.
pub(crate) fn required_members(map: &Map<String, Value>) -> Result<Map<String, Value>, KeyError> {
    let names: &[&str] = match map.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("RSA") => &["e", "kty", "n"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => return Err(KeyError("the proof key's kty is not EC, RSA or OKP")),
    };
    let mut members = Map::new();
    for name in names {
        let value = map
            .get(*name)
            .filter(|v| v.is_string())
            .ok_or(KeyError("a key parameter is missing or not a string"))?;
        members.insert((*name).to_owned(), value.clone());
    }
    Ok(members)
}

/// SHA-256 over the members as compact JSON, base64url. `serde_json`'s
/// map keeps its keys sorted, which is the order RFC 7638 asks for.
pub(crate) fn thumbprint_of(members: &Map<String, Value>) -> String {
    let json = serde_json::to_vec(members).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &json))
}

/// Whether a JWK carries private or symmetric key material.
pub(crate) fn has_private_members(map: &Map<String, Value>) -> bool {
    PRIVATE_MEMBERS.iter().any(|m| map.contains_key(*m))
}

/// Verification keys built from proof JWKs, by thumbprint: building an EC
/// key checks its point with a scalar multiplication, as much work as the
/// signature itself, and a client proves with the same key on every
/// request. Only keys whose thumbprint matched a valid token's `cnf.jkt`
/// are built, so the cache holds the keys of real clients.
pub(crate) struct ProofKeys {
    cache: Cache<String, JwtKey>,
}

impl ProofKeys {
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
        }
    }

    /// The key for `members` (required members only, whose thumbprint is
    /// `thumbprint`).
    pub(crate) fn get(
        &self,
        thumbprint: &str,
        members: Map<String, Value>,
    ) -> Result<JwtKey, KeyError> {
        if let Some(key) = self.cache.get(thumbprint) {
            return Ok(key);
        }
        // A symmetric key is never accepted: `kty` is EC, RSA or OKP here.
        let key = parse_jwk(&Value::Object(members), false)?;
        self.cache.insert(thumbprint.to_owned(), key.clone());
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thumbprints_cover_required_members_only() {
        let jwk = json!({"kty":"EC","crv":"P-256","kid":"ignored","use":"sig",
            "x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"});
        assert_eq!(
            jwk_thumbprint(&jwk).unwrap(),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
        assert!(jwk_thumbprint(&json!({"kty":"oct","k":"AAAA"})).is_err());
        assert!(jwk_thumbprint(&json!({"kty":"EC","crv":"P-256","x":"a"})).is_err());
        assert!(has_private_members(
            json!({"kty":"EC","d":"x"}).as_object().unwrap()
        ));
    }
}
